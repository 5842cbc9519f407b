// Pure: Kubernetes objects (exported Services, their EndpointSlices, shadow Services, Links) → the
// gateway's routing snapshot. Malformed objects are skipped with a reason (returned for logging), never
// thrown, so one bad shadow cannot take routing down for the others.
import type { ExportedService, OutboundRoute, RemoteGateway, RouteSnapshot, Backend } from './types.js';

import {
  ALLOWED_IDENTITIES_ANNOTATION,
  CLUSTER_LABEL,
  EXPORT_GATEWAY_VALUES,
  EXPORT_LABEL,
  MIRRORED_LABEL,
  MODE_ANNOTATION,
  PORT_MAP_ANNOTATION,
  REMOTE_FQ_ANNOTATION,
  SLICE_SERVICE_LABEL,
  linkSpecSchema,
  parsePortMap,
} from '../api/index.js';

interface Meta {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
export interface KService {
  metadata?: Meta;
  spec?: { type?: string; clusterIP?: string; ports?: Array<{ name?: string; port: number; protocol?: string }> };
}
export interface KSlice {
  metadata?: Meta;
  addressType?: string;
  endpoints?: Array<{ addresses?: string[]; conditions?: { ready?: boolean | null }; hostname?: string }>;
  ports?: Array<{ name?: string | null; port?: number | null; protocol?: string | null }> | null;
}
export interface KLink {
  metadata?: Meta;
  spec?: unknown;
}

export interface KubeState {
  /** Services, of which those exported through the gateway (label, or a ServiceExport) are routed inbound. */
  exported: KService[];
  /** MCS: `namespace/name` of this cluster's ServiceExports (an MCS export is reachable through the gateway). */
  serviceExports?: string[];
  slices: KSlice[];
  shadows: KService[];
  links: KLink[];
}

export function isExportedThroughGateway(s: KService): boolean {
  return (EXPORT_GATEWAY_VALUES as readonly string[]).includes(s.metadata?.labels?.[EXPORT_LABEL] ?? '');
}

export function buildSnapshot(st: KubeState): { snapshot: RouteSnapshot; problems: string[] } {
  const problems: string[] = [];
  const snapshot = { exported: exportedServices(st), outbound: outboundRoutes(st.shadows, problems), remotes: remoteGateways(st.links, problems) };
  return { snapshot, problems };
}

/** This cluster's Services exported through the gateway, with their ready endpoints. */
function exportedServices(st: KubeState): ExportedService[] {
  const slicesBySvc = new Map<string, KSlice[]>();
  for (const sl of st.slices) {
    const svc = sl.metadata?.labels?.[SLICE_SERVICE_LABEL];
    if (!svc || !sl.metadata?.namespace) continue;
    const k = `${sl.metadata.namespace}/${svc}`;
    const list = slicesBySvc.get(k) ?? [];
    list.push(sl);
    slicesBySvc.set(k, list);
  }
  const exported: ExportedService[] = [];
  const mcs = new Set(st.serviceExports ?? []);
  for (const s of st.exported) {
    const ns = s.metadata?.namespace;
    const name = s.metadata?.name;
    if (!ns || !name || !(isExportedThroughGateway(s) || mcs.has(`${ns}/${name}`)) || s.spec?.type === 'ExternalName') continue;
    // A shadow is never re-exported (no transit through this cluster).
    if (s.metadata?.labels?.[MIRRORED_LABEL] === 'true') continue;
    const slices = slicesBySvc.get(`${ns}/${name}`);
    const ports = (s.spec?.ports ?? [])
      .filter((p) => (p.protocol ?? 'TCP') === 'TCP')
      .map((p) => ({ port: p.port, ...(p.name ? { name: p.name } : {}), backends: backendsFor(p, slices, s.spec?.clusterIP) }));
    const allowRaw = s.metadata?.annotations?.[ALLOWED_IDENTITIES_ANNOTATION];
    const allowed = allowRaw?.split(',').map((x) => x.trim()).filter(Boolean);
    exported.push({ namespace: ns, name, ports, ...(allowed && allowed.length ? { allowedIdentities: allowed } : {}) });
  }
  return exported;
}

/** Gateway-mode shadows' port maps → outbound listeners; two shadows claiming one port: the first (by
 * name order) keeps it and the conflict is reported. */
function outboundRoutes(shadows: KService[], problems: string[]): OutboundRoute[] {
  const outbound: OutboundRoute[] = [];
  for (const sh of shadows) {
    const m = sh.metadata ?? {};
    if (m.labels?.[MIRRORED_LABEL] !== 'true') continue;
    if ((m.annotations?.[MODE_ANNOTATION] ?? 'gateway') !== 'gateway') continue;
    const raw = m.annotations?.[PORT_MAP_ANNOTATION];
    if (raw === undefined) continue;
    const where = `shadow ${m.namespace}/${m.name}`;
    const cluster = m.labels?.[CLUSTER_LABEL];
    const fq = m.annotations?.[REMOTE_FQ_ANNOTATION];
    const parts = fq?.split('.') ?? [];
    if (parts.length < 3 || parts[2] !== 'svc') {
      problems.push(`${where}: needs label ${CLUSTER_LABEL} and annotation ${REMOTE_FQ_ANNOTATION}=<svc>.<ns>.svc.<domain>`);
      continue;
    }
    const parsed = parsePortMap(raw);
    if (!parsed.ok) {
      problems.push(`${where}: bad ${PORT_MAP_ANNOTATION}: ${parsed.message}`);
      continue;
    }
    for (const e of parsed.entries) {
      if (e.protocol !== 'TCP') continue;
      // An MCS derived Service's entries name their cluster; a shadow's cluster is its label.
      const remoteCluster = e.cluster ?? cluster;
      if (!remoteCluster) {
        problems.push(`${where}: needs label ${CLUSTER_LABEL} and annotation ${REMOTE_FQ_ANNOTATION}=<svc>.<ns>.svc.<domain>`);
        break;
      }
      outbound.push({ outboundPort: e.outboundPort, remoteCluster, namespace: parts[1]!, service: parts[0]!, port: e.port, ...(e.hostname ? { hostname: e.hostname } : {}) });
    }
  }
  outbound.sort((a, b) => a.outboundPort - b.outboundPort || `${a.namespace}/${a.service}`.localeCompare(`${b.namespace}/${b.service}`));
  const dedup: OutboundRoute[] = [];
  for (const r of outbound) {
    const prev = dedup[dedup.length - 1];
    if (prev && prev.outboundPort === r.outboundPort) {
      problems.push(`outbound port ${r.outboundPort} claimed by ${prev.namespace}/${prev.service}@${prev.remoteCluster} and ${r.namespace}/${r.service}@${r.remoteCluster}; keeping the first`);
      continue;
    }
    dedup.push(r);
  }
  return dedup;
}

/** Links with a gateway → the linked clusters' gateways (flat-only Links have none on the path). */
function remoteGateways(links: KLink[], problems: string[]): RemoteGateway[] {
  const remotes: RemoteGateway[] = [];
  for (const l of links) {
    const r = linkSpecSchema.safeParse(l.spec);
    if (!r.success) {
      problems.push(`link ${l.metadata?.namespace}/${l.metadata?.name}: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      continue;
    }
    const g = r.data.gateway;
    if (!g) continue;
    remotes.push({
      cluster: r.data.targetClusterName,
      clusterDomain: r.data.targetClusterDomain,
      addresses: g.addresses,
      port: g.port,
      ...(g.identity ? { identity: g.identity } : {}),
      ...(g.transport ? { transport: g.transport } : {}),
      ...(g.allowedIdentities ? { allowedIdentities: g.allowedIdentities } : {}),
    });
  }
  return remotes;
}

/** Ready endpoints of one Service port. Slices name their ports like the Service's; an unnamed single
 * port matches the slice's only port. Without any EndpointSlice the ClusterIP is the fallback (a
 * selector-less Service managed elsewhere); with slices but no ready endpoint there is none. */
function backendsFor(p: { name?: string; port: number }, slices: KSlice[] | undefined, clusterIP: string | undefined): Backend[] {
  if (!slices || slices.length === 0) {
    return clusterIP && clusterIP !== 'None' ? [{ address: clusterIP, port: p.port }] : [];
  }
  const out: Backend[] = [];
  for (const sl of slices) {
    const sp = (sl.ports ?? []).find((x) => (x.name ?? '') === (p.name ?? '')) ?? ((sl.ports ?? []).length === 1 && !p.name ? sl.ports![0] : undefined);
    if (!sp?.port) continue;
    for (const ep of sl.endpoints ?? []) {
      if (ep.conditions?.ready === false) continue;
      for (const a of ep.addresses ?? []) out.push({ address: a, port: sp.port, ...(ep.hostname ? { hostname: ep.hostname } : {}) });
    }
  }
  return out;
}
