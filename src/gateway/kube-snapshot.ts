// Pure: Kubernetes objects (exported Services, their EndpointSlices, the controller's route table, Links) → the
// gateway's routing snapshot. Malformed objects are skipped with a reason (returned for logging), never
// thrown, so one bad shadow cannot take routing down for the others.
import { canonicalIp } from './hosts.js';
import type { ExportedService, OutboundRoute, PodCaller, RemoteGateway, RouteSnapshot, Backend } from './types.js';

import {
  ALLOWED_IDENTITIES_ANNOTATION,
  DEFAULT_ALLOWED_IDENTITIES_ANNOTATION,
  EXPORT_TO_ANNOTATION,
  EXPORT_GATEWAY_VALUES,
  EXPORT_LABEL,
  LINK_SOURCE_LABEL,
  MIRRORED_LABEL,
  OUTBOUND_ROUTES_KEY,
  SLICE_SERVICE_LABEL,
  linkSpecSchema,
  parseOutboundRoutes,
  parseProxyProtocolAnnotation,
  PROXY_PROTOCOL_ANNOTATION,
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
export interface KPod {
  metadata?: Meta;
  spec?: { serviceAccountName?: string; hostNetwork?: boolean };
  status?: { phase?: string; podIP?: string; podIPs?: Array<{ ip?: string }> };
}
export interface KLink {
  metadata?: Meta;
  spec?: unknown;
}
export interface KConfigMap {
  metadata?: Meta;
  data?: Record<string, string>;
}

export interface KubeState {
  /** Services, of which those exported through the gateway (label, or a ServiceExport) are routed inbound. */
  exported: KService[];
  /** MCS: `namespace/name` of this cluster's ServiceExports (an MCS export is reachable through the gateway). */
  serviceExports?: string[];
  slices: KSlice[];
  /** Link ServiceAccounts `mesh link` made here for source clusters (label mesh.io/link-source). */
  linkAccounts: Array<{ metadata?: Meta }>;
  /** The controller's route table (ConfigMap mesh-gateway-routes in the gateway's namespace), if it exists. */
  routes: KConfigMap | undefined;
  links: KLink[];
  /** This cluster's pods (caller attestation); absent = not watched. */
  pods?: KPod[];
  /** Namespaces (for their default-allowed-identities annotation); absent = none known. */
  namespaces?: Array<{ metadata?: Meta }>;
}

export function isExportedThroughGateway(s: KService): boolean {
  return (EXPORT_GATEWAY_VALUES as readonly string[]).includes(s.metadata?.labels?.[EXPORT_LABEL] ?? '');
}

export function buildSnapshot(st: KubeState): { snapshot: RouteSnapshot; problems: string[] } {
  const problems: string[] = [];
  const remotes = remoteGateways(st.links, problems);
  const snapshot: RouteSnapshot = { exported: exportedServices(st, problems), outbound: outboundRoutes(st.routes, problems), remotes, linkedClusters: linkedClusters(remotes, st.linkAccounts) };
  if (st.pods) snapshot.callers = podCallers(st.pods);
  return { snapshot, problems };
}

/** This cluster's Services exported through the gateway, with their ready endpoints. */
function exportedServices(st: KubeState, problems: string[]): ExportedService[] {
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
  const nsDefaults = new Map((st.namespaces ?? []).map((n) => [n.metadata?.name ?? '', n.metadata?.annotations?.[DEFAULT_ALLOWED_IDENTITIES_ANNOTATION]]));
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
    const ppRaw = s.metadata?.annotations?.[PROXY_PROTOCOL_ANNOTATION];
    const proxyProtocol = parseProxyProtocolAnnotation(ppRaw);
    if (ppRaw !== undefined && !proxyProtocol) problems.push(`service ${ns}/${name}: ${PROXY_PROTOCOL_ANNOTATION} ${JSON.stringify(ppRaw.slice(0, 40))} is not one of: v2 (no PROXY header is sent)`);
    exported.push({ namespace: ns, name, ports, ...accessOf(s.metadata?.annotations, nsDefaults.get(ns)), ...(proxyProtocol ? { proxyProtocol } : {}) });
  }
  return exported;
}

const entries = (text: string | undefined): string[] => (text ?? '').split(',').map((x) => x.trim()).filter(Boolean);

/** Who may call an exported Service, as written (parsed and judged by inbound/access.ts): its own list, else
 * its Namespace's default; and its export scope. A blank list counts as none. */
function accessOf(annotations: Record<string, string> | undefined, nsDefault: string | undefined): Pick<ExportedService, 'allowedIdentities' | 'defaultAllowedIdentities' | 'exportTo'> {
  const own = entries(annotations?.[ALLOWED_IDENTITIES_ANNOTATION]);
  const dflt = entries(nsDefault);
  const exportTo = annotations?.[EXPORT_TO_ANNOTATION];
  return {
    ...(own.length ? { allowedIdentities: own } : dflt.length ? { defaultAllowedIdentities: dflt } : {}),
    ...(exportTo !== undefined ? { exportTo } : {}),
  };
}

/**
 * The controller's published route table (ConfigMap mesh-gateway-routes) → outbound listeners. Nothing else
 * routes outbound traffic: Service labels and annotations are writable by anyone who may create a Service
 * (issue 17 item 2). Absent table: no outbound routes; a malformed one routes nothing and is reported.
 */
function outboundRoutes(table: KConfigMap | undefined, problems: string[]): OutboundRoute[] {
  if (!table) return [];
  const parsed = parseOutboundRoutes(table.data?.[OUTBOUND_ROUTES_KEY]);
  if (!parsed.ok) {
    problems.push(`ConfigMap ${table.metadata?.namespace}/${table.metadata?.name}: ${parsed.message}`);
    return [];
  }
  return parsed.routes;
}

/**
 * Pods that can be attested by source address: not host-network (their address is the node's, shared),
 * not finished (a finished pod's address may be reused), with an address. An address held by two pods
 * (a reuse not yet observed as finished) attests neither: unknown beats someone else.
 */
export function podCallers(pods: KPod[]): PodCaller[] {
  const byAddress = new Map<string, PodCaller | null>();
  for (const p of pods) {
    const ns = p.metadata?.namespace;
    const phase = p.status?.phase;
    if (!ns || p.spec?.hostNetwork || phase === 'Succeeded' || phase === 'Failed') continue;
    const sa = p.spec?.serviceAccountName || 'default';
    // Canonical (hosts.ts), as a client's source address is printed: `fd00:10:1:0::a:5` and `fd00:10:1::a:5`
    // are one address of the pod, not two pods sharing one.
    const ips = new Set([p.status?.podIP, ...(p.status?.podIPs ?? []).map((x) => x.ip)].map((x) => (x ? canonicalIp(x) : undefined)).filter((x): x is string => !!x));
    for (const address of ips) {
      const prev = byAddress.get(address);
      byAddress.set(address, prev === undefined ? { address, namespace: ns, serviceAccount: sa } : null);
    }
  }
  return [...byAddress.values()].filter((c): c is PodCaller => c !== null).sort((a, b) => a.address.localeCompare(b.address));
}

/** Clusters linked with this one, either way: a Link here targets it, or its link ServiceAccount is here. */
function linkedClusters(remotes: RemoteGateway[], accounts: Array<{ metadata?: Meta }>): string[] {
  const out = new Set(remotes.map((r) => r.cluster));
  for (const a of accounts) {
    const source = a.metadata?.labels?.[LINK_SOURCE_LABEL];
    if (source) out.add(source);
  }
  return [...out].sort();
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
