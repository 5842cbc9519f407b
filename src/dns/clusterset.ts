// The clusterset zone (`clusterset.local`) of the Multi-Cluster Services API: ServiceImports and their
// MCS-labelled EndpointSlices → names, per the KEP-1645 DNS specification
// (keps/sig-multicluster/1645-multi-cluster-services-api/specification.md, schema 1.0.0). Pure mapping plus
// a record source; the watch that feeds it lives in watch.ts.
import { isIPv6 } from 'node:net';
import { z } from 'zod';
import { DnsError } from './errors.js';
import { emptyRecords, endpointLabel, normalizeName, DnsRecordSource } from './records.js';
import { DnsNameSchema, DnsPortSchema, type NameRecords, type SrvRecord } from './types.js';
import { CLUSTERSET_DOMAIN, MCS_DNS_SCHEMA_VERSION, MCS_SERVICE_NAME_LABEL, MCS_SOURCE_CLUSTER_LABEL, SERVICE_IMPORT_TYPES, serviceImportSpecSchema } from '../api/index.js';

const ip = z.union([z.ipv4(), z.ipv6()]);

export const ClustersetEndpointSchema = z.object({
  ip,
  /** The endpoint's `hostname` (StatefulSet pods); without one, the IP with dashes names it (as CoreDNS does). */
  hostname: DnsNameSchema.optional(),
  /** The `multicluster.kubernetes.io/source-cluster` label of its slice; without one it gets no per-pod name. */
  clusterId: DnsNameSchema.optional(),
  ready: z.boolean().default(true),
});

export const ClustersetImportSchema = z.object({
  type: z.enum(SERVICE_IMPORT_TYPES),
  /** The clusterset VIPs (ServiceImport `spec.ips`), one per family; none for Headless. */
  ips: z.array(ip).max(2).default([]),
  ports: z.array(DnsPortSchema).default([]),
  /** From the import's EndpointSlices; only Headless imports publish them. */
  endpoints: z.array(ClustersetEndpointSchema).default([]),
});
export type ClustersetImportInput = z.input<typeof ClustersetImportSchema>;
export type ClustersetImport = z.output<typeof ClustersetImportSchema>;

/**
 * All names one ServiceImport contributes under `domain`. Pure. ClusterSetIP: the VIPs, SRV per named port
 * (target: the service name) and no per-cluster names (the spec forbids them). Headless: every ready
 * endpoint address, `<hostname>.<clusterid>.<svc>…` per ready endpoint, SRV per endpoint and named port;
 * no ready endpoint → no names at all (NXDOMAIN, as the spec asks). A bare SRV query on the service name
 * answers one record per distinct port number and target, as CoreDNS does (the conformance suite asks it).
 */
export function namesForImport(namespace: string, name: string, imp: ClustersetImport, domain: string): Map<string, NameRecords> {
  const out = new Map<string, NameRecords>();
  const get = (n: string): NameRecords => {
    let r = out.get(n);
    if (!r) out.set(n, (r = emptyRecords()));
    return r;
  };
  const add = (r: NameRecords, addr: string) => {
    const list = isIPv6(addr) ? r.aaaa : r.a;
    if (!list.includes(addr)) list.push(addr);
  };
  const base = normalizeName(`${name}.${namespace}.svc.${domain}`);
  const portNumbers = [...new Set(imp.ports.map((p) => p.port))];
  const srvFor = (targets: string[], port: number): SrvRecord[] =>
    targets.map((target) => ({ priority: 0, weight: Math.floor(100 / Math.max(1, targets.length)), port, target }));

  let targets: string[];
  if (imp.type === 'ClusterSetIP') {
    const r = get(base);
    for (const a of imp.ips) add(r, a);
    targets = [base];
  } else {
    const ready = imp.endpoints.filter((e) => e.ready);
    if (ready.length === 0) return out;
    const r = get(base);
    targets = [];
    for (const e of ready) {
      add(r, e.ip);
      if (!e.clusterId) continue;
      const target = `${endpointLabel(e.ip, e.hostname)}.${e.clusterId.toLowerCase()}.${base}`;
      add(get(target), e.ip);
      if (!targets.includes(target)) targets.push(target);
    }
  }
  for (const p of imp.ports) {
    if (!p.name) continue;
    get(`_${p.name.toLowerCase()}._${p.protocol.toLowerCase()}.${base}`).srv.push(...srvFor(targets, p.port));
  }
  for (const port of portNumbers) get(base).srv.push(...srvFor(targets, port));
  return out;
}

const ZONE_KEY = ' zone';

/** The record source of the clusterset zone: ServiceImports in, names out; `dns-version` TXT always there. */
export class ClustersetRecordSource extends DnsRecordSource {
  constructor(domain = CLUSTERSET_DOMAIN) {
    super(domain);
    this.podNames = false;
    const zone = new Map<string, NameRecords>([[`dns-version.${this.domain}`, { ...emptyRecords(), txt: [MCS_DNS_SCHEMA_VERSION] }]]);
    this.setNames(ZONE_KEY, zone);
  }

  /** Adds or replaces one import. Throws DnsError DNS_INVALID_SERVICE on bad input (nothing changes then). */
  setImport(namespace: string, name: string, input: ClustersetImportInput): void {
    this.setNames(ownerKey(namespace, name), namesForImport(namespace, name, parseImport(namespace, name, input), this.domain));
  }

  deleteImport(namespace: string, name: string): boolean {
    return this.deleteService(namespace, name);
  }

  /** Replaces every import with exactly these (keys `ns/name`); invalid ones are skipped and returned. */
  replaceImports(imports: Iterable<[key: string, imp: ClustersetImportInput]>): { key: string; error: string }[] {
    const next = new Map<string, Map<string, NameRecords>>();
    const errors: { key: string; error: string }[] = [];
    for (const [key, input] of imports) {
      const [ns = '', name = ''] = key.split('/');
      try {
        next.set(ownerKey(ns, name), namesForImport(ns, name, parseImport(ns, name, input), this.domain));
      } catch (err) {
        errors.push({ key, error: err instanceof Error ? err.message : String(err) });
      }
    }
    this.replaceNames(next, (k) => k === ZONE_KEY);
    return errors;
  }

  importCount(): number {
    return this.serviceCount() - 1;
  }
}

function ownerKey(namespace: string, name: string): string {
  return `${namespace.toLowerCase()}/${name.toLowerCase()}`;
}

function parseImport(namespace: string, name: string, input: ClustersetImportInput): ClustersetImport {
  if (!DnsNameSchema.safeParse(namespace).success || !DnsNameSchema.safeParse(name).success) {
    throw new DnsError('DNS_INVALID_SERVICE', `service import ${namespace}/${name}: namespace and name must be DNS labels`);
  }
  const parsed = ClustersetImportSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new DnsError('DNS_INVALID_SERVICE', `service import ${namespace}/${name}: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

// --- Kubernetes objects → input (only the fields DNS reads; partial objects are fine) ---------------------
export interface ServiceImportLike {
  metadata?: { namespace?: string; name?: string };
  /** Read through the MCS contract's schema (serviceImportSpecSchema). */
  spec?: unknown;
}
/** Nulls as the API server may send them (client types allow them), so any slice object fits. */
export interface EndpointSliceLike {
  metadata?: { namespace?: string; name?: string; labels?: Record<string, string> | null };
  addressType?: string;
  endpoints?: { addresses?: string[] | null; hostname?: string | null; conditions?: { ready?: boolean | null } | null }[] | null;
}

/**
 * One ServiceImport and the slices labelled for it (other imports' slices are ignored) → DNS input. The
 * spec is checked against the MCS contract's schema (src/api/mcs.ts); a spec it refuses is a DnsError
 * (the import is left out of the zone and the reason logged), never a half-published name.
 */
export function clustersetImportFromObjects(imp: ServiceImportLike, slices: Iterable<EndpointSliceLike>): ClustersetImportInput {
  const checked = serviceImportSpecSchema.safeParse(imp.spec ?? {});
  if (!checked.success) {
    const issue = checked.error.issues[0];
    throw new DnsError('DNS_INVALID_SERVICE', `service import ${imp.metadata?.namespace ?? ''}/${imp.metadata?.name ?? ''}: spec.${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
  }
  const spec = checked.data;
  const ports = (spec.ports ?? []).map((p) => ({ ...(p.name ? { name: p.name } : {}), port: p.port, protocol: p.protocol ?? 'TCP' }));
  const type = spec.type;
  const endpoints: z.input<typeof ClustersetEndpointSchema>[] = [];
  if (type === 'Headless') {
    const seen = new Set<string>();
    for (const s of slices) {
      const labels = s.metadata?.labels ?? {};
      if (s.metadata?.namespace !== imp.metadata?.namespace || labels[MCS_SERVICE_NAME_LABEL] !== imp.metadata?.name) continue;
      if (s.addressType === 'FQDN') continue;
      const clusterId = labels[MCS_SOURCE_CLUSTER_LABEL];
      for (const ep of s.endpoints ?? []) {
        for (const a of ep.addresses ?? []) {
          // The same address from two clusters (gateway mode: one gateway port) is one address record but
          // two per-cluster names.
          const k = `${clusterId ?? ''}/${a}`;
          if (seen.has(k)) continue;
          seen.add(k);
          endpoints.push({ ip: a, ready: ep.conditions?.ready !== false, ...(ep.hostname ? { hostname: ep.hostname } : {}), ...(clusterId ? { clusterId } : {}) });
        }
      }
    }
  }
  return { type, ips: type === 'ClusterSetIP' ? (spec.ips ?? []) : [], ports, endpoints };
}

/**
 * All imports and MCS slices → entries for `ClustersetRecordSource.replaceImports` (level-triggered), and
 * the imports refused at the boundary with their reason.
 */
export function clustersetImportsFromObjects(imports: Iterable<ServiceImportLike>, slices: Iterable<EndpointSliceLike>): { entries: [string, ClustersetImportInput][]; errors: { key: string; error: string }[] } {
  const byImport = new Map<string, EndpointSliceLike[]>();
  for (const s of slices) {
    const n = s.metadata?.labels?.[MCS_SERVICE_NAME_LABEL];
    if (!n) continue;
    const key = `${s.metadata?.namespace ?? ''}/${n}`;
    const list = byImport.get(key);
    if (list) list.push(s);
    else byImport.set(key, [s]);
  }
  const entries: [string, ClustersetImportInput][] = [];
  const errors: { key: string; error: string }[] = [];
  for (const imp of imports) {
    const key = `${imp.metadata?.namespace ?? ''}/${imp.metadata?.name ?? ''}`;
    try {
      entries.push([key, clustersetImportFromObjects(imp, byImport.get(key) ?? [])]);
    } catch (err) {
      errors.push({ key, error: err instanceof Error ? err.message : String(err) });
    }
  }
  return { entries, errors };
}
