// The pure core of the MCS import, part two: from the merged exports, the objects one cluster should have for
// an import: the ServiceImport, its derived Service (the VIP kube-proxy balances) and the EndpointSlices of
// the derived Service, one group per exporting cluster (local pods, the local gateway at outbound ports, or
// the remote pod addresses). Which clusters' endpoints go in is one function, servingClusters(): issue 14's
// traffic policy (traffic-decision.ts) from the exporters' readiness and health.
import {
  CLUSTER_LABEL,
  MCS_API_VERSION,
  MCS_MANAGED_BY,
  MCS_MANAGED_BY_LABEL,
  MCS_SERVICE_NAME_LABEL,
  MCS_SOURCE_CLUSTER_LABEL,
  MIRRORED_LABEL,
  MODE_ANNOTATION,
  PORT_MAP_ANNOTATION,
  REMOTE_FQ_ANNOTATION,
  SERVICE_IMPORT_KIND,
  SLICE_MANAGED_BY,
  SLICE_MANAGED_BY_LABEL,
  SLICE_SERVICE_LABEL,
  clustersetFqName,
  derivedServiceName,
  describePolicy,
  formatPortMap,
  type ImportPort,
  type PortMapEntry,
} from '../api/index.js';
import { gatewayFamilies, type GatewayEndpoint } from './desired.js';
import { headlessGatewayPart, type ImportPodService } from './import-pods.js';
import { importSpec, mergeExports, type MergedImport } from './imports-desired.js';
import type { Exporter, ImportWorld, ServiceImport } from './mcs-types.js';
import { fitName, shortHash } from './names.js';
import { decideServing, type ClusterState, type Decision } from './traffic-decision.js';
import { claimPorts, importPortSuffix, portKey, type PortClaim, type PortView } from './ports.js';
import type { Endpoint, EndpointPort, EndpointSlice, Service } from './types.js';

export interface DesiredImport {
  merged: MergedImport;
  serviceImport: ServiceImport;
  derived: Service;
  slices: EndpointSlice[];
  /** Outbound ports the derived Service holds once written (gateway mode). */
  claims: PortClaim[];
  /** Ports some exporter's endpoints cannot serve here (UDP/SCTP through a gateway): said in an Event. */
  notCarried: string[];
  /** The traffic policy's decision: serving clusters, per-cluster status, a hold-down's end, a failover. */
  decision: Decision;
  /** Headless imports, gateway-mode exporters: one Service per remote pod hostname (import-pods.ts). */
  podServices: ImportPodService[];
  /** Endpoints a gateway cannot name (no hostname), per cluster: said in an Event. */
  unnamed: string[];
}

/** The derived Service's port name for an import port: its own name, else one made from port and protocol. */
export function derivedPortName(p: ImportPort, ports: ImportPort[]): string {
  if (p.name && ports.filter((x) => x.name === p.name).length === 1) return p.name;
  return `${(p.protocol ?? 'TCP').toLowerCase()}-${p.port}`;
}

/** Ready endpoints of one exporter as observed (its own slices; the last known while its API is unreachable). */
export function readyEndpoints(e: Exporter): number {
  return e.slices.reduce((n, s) => n + (s.endpoints ?? []).filter((x) => x.conditions?.ready !== false).length, 0);
}

export function clusterState(e: Exporter): ClusterState {
  return {
    cluster: e.cluster,
    readyEndpoints: readyEndpoints(e),
    healthy: e.reachable,
    ...(e.reachable ? {} : { unhealthyMessage: e.unhealthyMessage ?? 'the data path to it is failing' }),
    apiReachable: e.apiReachable,
  };
}

/**
 * The clusters whose endpoints the import's slices carry as ready, under the merged traffic policy (the
 * oldest export's), and the decision behind it (traffic-decision.ts).
 */
export function servingClusters(m: MergedImport, w: Pick<ImportWorld, 'localCluster' | 'previous' | 'now'>): Decision {
  return decideServing({
    policy: m.props.trafficPolicy,
    localCluster: w.localCluster,
    clusters: m.exporters.map(clusterState),
    ...(w.previous ? { previous: w.previous } : {}),
    now: w.now,
  });
}

/**
 * A cluster the policy does not serve keeps its slices (its outbound ports and routes stay put, so a
 * failback is one write of conditions) with every endpoint neither ready nor serving: kube-proxy and the
 * sandbox's proxy send nothing there.
 */
function standBy(slices: EndpointSlice[]): EndpointSlice[] {
  return slices.map((s) => ({ ...s, endpoints: (s.endpoints ?? []).map((e) => ({ ...e, conditions: { ready: false, serving: false, terminating: e.conditions?.terminating ?? false } })) }));
}

const sliceLabels = (name: string, derived: string, cluster: string) => ({
  [SLICE_SERVICE_LABEL]: derived,
  [SLICE_MANAGED_BY_LABEL]: SLICE_MANAGED_BY,
  [MCS_SERVICE_NAME_LABEL]: name,
  [MCS_SOURCE_CLUSTER_LABEL]: cluster,
});

function slice(name: string, ns: string, labels: Record<string, string>, addressType: string, endpoints: Endpoint[], ports: EndpointPort[]): EndpointSlice {
  return { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name, namespace: ns, labels }, addressType, endpoints, ports };
}

/** The exporter's own endpoint port number for one import port (through its Service's port and slice port name). */
function targetPorts(e: Exporter, sl: EndpointSlice, ports: ImportPort[]): EndpointPort[] {
  const out: EndpointPort[] = [];
  for (const p of ports) {
    const sp = (e.service?.spec?.ports ?? []).find((x) => x.port === p.port && (x.protocol ?? 'TCP') === (p.protocol ?? 'TCP'));
    if (!sp) continue;
    const slp = (sl.ports ?? []).find((x) => (x.name ?? '') === (sp.name ?? '') && (x.protocol ?? 'TCP') === (p.protocol ?? 'TCP'));
    if (slp?.port === undefined) continue;
    out.push({ name: derivedPortName(p, ports), port: slp.port, protocol: p.protocol ?? 'TCP' });
  }
  return out;
}

/** Local or flat: one slice per source slice, the pod addresses with their readiness. */
function podSlices(e: Exporter, ns: string, name: string, derived: string, ports: ImportPort[]): EndpointSlice[] {
  const sorted = [...e.slices].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  return sorted.flatMap((sl) => {
    const eps = targetPorts(e, sl, ports);
    if (!eps.length) return [];
    const endpoints: Endpoint[] = (sl.endpoints ?? []).map((x) => {
      const c = x.conditions;
      const ep: Endpoint = { addresses: [...x.addresses], conditions: { ready: c?.ready ?? true, serving: c?.serving ?? c?.ready ?? true, terminating: c?.terminating ?? false } };
      if (x.hostname) ep.hostname = x.hostname;
      if (x.zone) ep.zone = x.zone;
      return ep;
    });
    return [slice(fitName(`${derived}-${e.cluster}-${shortHash(sl.metadata?.name ?? '')}`), ns, sliceLabels(name, derived, e.cluster), sl.addressType ?? 'IPv4', endpoints, eps)];
  });
}

const anyReady = (e: Exporter) => e.slices.some((s) => (s.endpoints ?? []).some((x) => x.conditions?.ready !== false));

interface GatewayPart {
  slices: EndpointSlice[];
  claims: PortClaim[];
  entries: PortMapEntry[];
  notCarried: string[];
}

/** The allocator as seen by one exporter: ports claimed for earlier clusters of this import are taken too (claimPorts is per call). */
function pendingView(w: ImportWorld, pending: Set<number>): PortView {
  return { min: w.ports.min, max: w.ports.max, cursor: w.ports.cursor, get: (k) => w.ports.get(k), isTaken: (p) => w.ports.isTaken(p) || pending.has(p) };
}

/** The import's ports this exporter's Service has: the TCP ones (the gateway carries those) and the others, said not carried. */
function exporterPorts(e: Exporter, ports: ImportPort[]): { tcp: ImportPort[]; notCarried: string[] } {
  const own = ports.filter((p) => (e.service?.spec?.ports ?? []).some((x) => x.port === p.port && (x.protocol ?? 'TCP') === (p.protocol ?? 'TCP')));
  return { tcp: own.filter((p) => (p.protocol ?? 'TCP') === 'TCP'), notCarried: own.filter((p) => (p.protocol ?? 'TCP') !== 'TCP').map((p) => `${p.port}/${p.protocol} of ${e.cluster}`) };
}

/** Gateway mode: the local gateway pods at one outbound port per (import, cluster, TCP port). */
function gatewaySlices(w: ImportWorld, e: Exporter, derived: string, ports: ImportPort[], pending: Set<number>): GatewayPart {
  const { tcp, notCarried } = exporterPorts(e, ports);
  const key = `${w.namespace}/${derived}`;
  const view = pendingView(w, pending);
  const claims = claimPorts(tcp.map((p) => portKey(key, p.port, 'TCP', importPortSuffix(e.cluster))), view);
  for (const c of claims) pending.add(c.port);
  const ready = e.reachable && anyReady(e);
  const endpoints = (gw: GatewayEndpoint[]): Endpoint[] =>
    [...gw].sort((a, b) => a.ip.localeCompare(b.ip)).map((g) => ({ addresses: [g.ip], conditions: { ready: g.ready && ready, serving: g.ready, terminating: false } }));
  const slicePorts = tcp.map((p, i) => ({ name: derivedPortName(p, ports), port: claims[i].port, protocol: 'TCP' }));
  const entries = tcp.map((p, i) => ({ port: p.port, ...(p.name ? { name: p.name } : {}), protocol: 'TCP', outboundPort: claims[i].port, cluster: e.cluster }));
  // One slice per family the gateway pods have: a dual-stack derived Service's IPv6 VIP reaches the gateway's
  // IPv6 addresses at the same outbound ports.
  const slices = tcp.length
    ? gatewayFamilies(w.gateway).map((f) => slice(fitName(`${derived}-${e.cluster}-${f.part}`), w.namespace, sliceLabels(w.name, derived, e.cluster), f.addressType, endpoints(f.gateway), slicePorts))
    : [];
  return { slices, claims, entries, notCarried };
}

function derivedService(w: ImportWorld, m: MergedImport, derived: string, entries: PortMapEntry[]): Service {
  const p = m.props;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: derived,
      namespace: w.namespace,
      // The port map's entries are what the controller's route table publishes for this import (routes.ts).
      labels: { [MIRRORED_LABEL]: 'true', [MCS_SERVICE_NAME_LABEL]: w.name },
      annotations: { [MODE_ANNOTATION]: 'gateway', [REMOTE_FQ_ANNOTATION]: clustersetFqName(w.name, w.namespace), [PORT_MAP_ANNOTATION]: formatPortMap(entries) },
    },
    spec: {
      type: 'ClusterIP',
      ...(p.type === 'Headless' ? { clusterIP: 'None' } : {}),
      ports: m.ports.map((x) => ({ name: derivedPortName(x, m.ports), port: x.port, protocol: x.protocol ?? 'TCP', targetPort: x.port, ...(x.appProtocol ? { appProtocol: x.appProtocol } : {}) })),
      sessionAffinity: p.sessionAffinity,
      ...(p.sessionAffinityConfig ? { sessionAffinityConfig: p.sessionAffinityConfig } : {}),
      // Dual-stack exports ask for the primary family and PreferDualStack: a dual-stack cluster adds the other
      // family's VIP, a single-stack one still gives the primary (two listed families would be refused there).
      ...(p.type === 'ClusterSetIP' ? { ipFamilies: p.ipFamilies.slice(0, 1), ipFamilyPolicy: p.ipFamilies.length > 1 ? 'PreferDualStack' : 'SingleStack' } : {}),
    },
  };
}

/** Everything one import should be in this cluster; undefined when no cluster validly exports the name. */
export function desiredImport(w: ImportWorld): DesiredImport | undefined {
  const merged = mergeExports(w.exporters);
  if (!merged) return undefined;
  const derived = derivedServiceName(w.name);
  const slices: EndpointSlice[] = [];
  const claims: PortClaim[] = [];
  const entries: PortMapEntry[] = [];
  const notCarried: string[] = [];
  const pending = new Set<number>();
  const decision = servingClusters(merged, w);
  const podServices: ImportPodService[] = [];
  const unnamed: string[] = [];
  for (const e of merged.exporters) {
    const on = decision.serving.includes(e.cluster);
    if (e.mode === 'gateway' && merged.props.type === 'Headless') {
      // Clients dial a Headless import's addresses at the service port: one Service per remote pod (import-pods.ts).
      const { tcp, notCarried: nc } = exporterPorts(e, merged.ports);
      const view = pendingView(w, pending);
      const h = headlessGatewayPart({ namespace: w.namespace, name: w.name, derived, exporter: e, tcp: tcp.map((port) => ({ port, name: derivedPortName(port, merged.ports) })), gateway: w.gateway, ports: view, live: w.podServices ?? new Map(), sliceLabels: sliceLabels(w.name, derived, e.cluster) });
      for (const c of h.claims) pending.add(c.port);
      if (tcp.length) slices.push(...(on ? [h.slice] : standBy([h.slice])));
      podServices.push(...h.podServices);
      claims.push(...h.claims);
      entries.push(...h.entries);
      notCarried.push(...nc);
      if (h.unnamed) unnamed.push(h.unnamed);
    } else if (e.mode === 'gateway') {
      const g = gatewaySlices(w, e, derived, merged.ports, pending);
      slices.push(...(on ? g.slices : standBy(g.slices)));
      claims.push(...g.claims);
      entries.push(...g.entries);
      notCarried.push(...g.notCarried);
    } else {
      const own = podSlices(e, w.namespace, w.name, derived, merged.ports);
      slices.push(...(on ? own : standBy(own)));
    }
  }
  const serviceImport: ServiceImport = {
    apiVersion: MCS_API_VERSION,
    kind: SERVICE_IMPORT_KIND,
    metadata: { name: w.name, namespace: w.namespace, labels: { ...merged.props.labels, [MCS_MANAGED_BY_LABEL]: MCS_MANAGED_BY }, annotations: { ...merged.props.annotations } },
    spec: importSpec(merged, w.derivedIPs),
    status: { clusters: decision.status, trafficPolicy: describePolicy(merged.props.trafficPolicy) },
  };
  return { merged, serviceImport, derived: derivedService(w, merged, derived, entries), slices, claims, notCarried, decision, podServices, unnamed };
}

/** An object is the mirror's import object: a ServiceImport with our managed-by label, or a derived Service or slice. */
export function ownedImportObject(o: { metadata?: { labels?: Record<string, string> } }): boolean {
  const l = o.metadata?.labels ?? {};
  if (l[MCS_MANAGED_BY_LABEL] === MCS_MANAGED_BY) return true;
  // Derived Services and import slices carry MCS_SERVICE_NAME_LABEL beside the mirror's own label, and no cluster label.
  return (l[MIRRORED_LABEL] === 'true' || l[SLICE_MANAGED_BY_LABEL] === SLICE_MANAGED_BY) && !!l[MCS_SERVICE_NAME_LABEL] && !l[CLUSTER_LABEL];
}
