// The pure core of a Headless import's gateway-mode part: per-pod Services. A client of a Headless import
// resolves `<svc>.<ns>.svc.clusterset.local` or `<hostname>.<cluster>.<svc>.<ns>.svc.clusterset.local` to
// addresses and dials them on the SERVICE port, so the local gateway at an outbound port cannot stand in for
// a remote pod. As for a gateway-mode headless shadow (desired.ts gatewayHeadless), each remote endpoint with
// a hostname gets a ClusterIP Service here (the import's TCP ports) whose EndpointSlice is the local gateway
// at that pod's own outbound port(s); the remote gateway resolves `<hostname>.<svc>.<ns>.svc.<domain>`.
// The import's slice for that cluster lists those ClusterIPs with the hostnames and the remote readiness.
// Endpoints without a hostname (not StatefulSet pods) cannot be named through a gateway (the remote gateway
// picks a pod by hostname only): they are left out and counted, and the reconciler says so in an Event.
import {
  IMPORT_POD_LABEL,
  MCS_SERVICE_NAME_LABEL,
  MCS_SOURCE_CLUSTER_LABEL,
  MIRRORED_LABEL,
  CLUSTER_LABEL,
  MODE_ANNOTATION,
  REMOTE_FQ_ANNOTATION,
  SHADOW_OF_ANNOTATION,
  SLICE_MANAGED_BY,
  SLICE_MANAGED_BY_LABEL,
  SLICE_SERVICE_LABEL,
  UNNAMED_ENDPOINTS_ANNOTATION,
  clustersetPodFqName,
  importPodOf,
  importPodServiceName,
  type ImportPort,
  type PortMapEntry,
} from '../api/index.js';
import type { KubeObject } from '../kube/index.js';
import { gatewayFamilies, remoteHostnames, type GatewayEndpoint } from './desired.js';
import type { Exporter } from './mcs-types.js';
import { fitName } from './names.js';
import { claimPorts, importPortSuffix, portKey, type PortClaim, type PortView } from './ports.js';
import type { Endpoint, EndpointSlice, Service } from './types.js';

/** One import TCP port as the derived Service names it. */
export interface NamedPort {
  port: ImportPort;
  name: string;
}

export interface ImportPodService {
  hostname: string;
  cluster: string;
  service: Service;
  /** The per-pod Service's slices: the local gateway pods (one slice per address family) at the pod's outbound port(s). */
  slices: EndpointSlice[];
}

export interface HeadlessGatewayPart {
  podServices: ImportPodService[];
  /** The import's slice for this cluster: the per-pod ClusterIPs with hostnames, at the service ports. */
  slice: EndpointSlice;
  claims: PortClaim[];
  entries: PortMapEntry[];
  /** Endpoints left out for want of a hostname (the Event's text), or undefined. */
  unnamed?: string;
}

export interface HeadlessGatewayInput {
  namespace: string;
  name: string;
  derived: string;
  exporter: Exporter;
  /** The import's TCP ports this exporter's Service has, named as on the derived Service. */
  tcp: NamedPort[];
  gateway: GatewayEndpoint[];
  ports: PortView;
  /** Live per-pod Services of this import, by name: their ClusterIP and the remote pod they stand for. */
  live: ReadonlyMap<string, { clusterIP: string; of: string }>;
  /** Import slice labels for this cluster. */
  sliceLabels: Record<string, string>;
}

const family = (ip: string | undefined): string => ((ip ?? '').includes(':') ? 'IPv6' : 'IPv4');

function slice(name: string, ns: string, labels: Record<string, string>, addressType: string, endpoints: Endpoint[], ports: EndpointSlice['ports']): EndpointSlice {
  return { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name, namespace: ns, labels }, addressType, endpoints, ports };
}

function unnamedCount(e: Exporter): number {
  return e.slices.reduce((n, s) => n + (s.endpoints ?? []).filter((x) => !x.hostname).length, 0);
}

/** Per-pod Services, their slices and the import slice of one gateway-mode exporter of a Headless import. */
export function headlessGatewayPart(i: HeadlessGatewayInput): HeadlessGatewayPart {
  const { exporter: e, namespace: ns, tcp } = i;
  // No TCP port: nothing a gateway carries (a Service needs a port); the import's PortNotCarried Event says so.
  const hosts = tcp.length ? remoteHostnames(e.slices) : [];
  const keyOf = `${ns}/${i.derived}`;
  const claims = claimPorts(hosts.flatMap(({ hostname }) => tcp.map((t) => portKey(keyOf, t.port.port, 'TCP', importPortSuffix(e.cluster, hostname)))), i.ports);
  const gateways = [...i.gateway].sort((a, b) => a.ip.localeCompare(b.ip));
  const families = gatewayFamilies(gateways);
  const anyGateway = gateways.some((g) => g.ready);
  const entries: PortMapEntry[] = [];
  const podServices: ImportPodService[] = [];
  const endpoints: Endpoint[] = [];
  hosts.forEach(({ hostname, ready }, h) => {
    const own = claims.slice(h * tcp.length, (h + 1) * tcp.length);
    tcp.forEach((t, k) => entries.push({ port: t.port.port, ...(t.port.name ? { name: t.port.name } : {}), protocol: 'TCP', outboundPort: own[k].port, cluster: e.cluster, hostname }));
    const svcName = importPodServiceName(i.name, e.cluster, hostname);
    const of = importPodOf(ns, i.name, e.cluster, hostname);
    const labels = { [MIRRORED_LABEL]: 'true', [MCS_SERVICE_NAME_LABEL]: i.name, [MCS_SOURCE_CLUSTER_LABEL]: e.cluster, [IMPORT_POD_LABEL]: i.name };
    const service: Service = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: svcName,
        namespace: ns,
        labels,
        annotations: { [MODE_ANNOTATION]: 'gateway', [REMOTE_FQ_ANNOTATION]: clustersetPodFqName(hostname, e.cluster, i.name, ns), [SHADOW_OF_ANNOTATION]: of },
      },
      spec: { type: 'ClusterIP', ports: tcp.map((t) => ({ name: t.name, port: t.port.port, protocol: 'TCP' })) },
    };
    const gwEndpoints = (gw: GatewayEndpoint[]): Endpoint[] => gw.map((g) => ({ addresses: [g.ip], conditions: { ready: g.ready && e.reachable && ready, serving: g.ready, terminating: false } }));
    const sliceLabels = { [SLICE_SERVICE_LABEL]: svcName, [SLICE_MANAGED_BY_LABEL]: SLICE_MANAGED_BY, [MCS_SOURCE_CLUSTER_LABEL]: e.cluster, [IMPORT_POD_LABEL]: i.name };
    const podPorts = tcp.map((t, k) => ({ name: t.name, port: own[k].port, protocol: 'TCP' }));
    const slices = families.map((f) => slice(fitName(`${svcName}-${f.part}`), ns, sliceLabels, f.addressType, gwEndpoints(f.gateway), podPorts));
    podServices.push({ hostname, cluster: e.cluster, service, slices });
    // A per-pod Service that does not exist yet (or is not ours) has no address: left out until its creation
    // triggers the next reconcile.
    const live = i.live.get(svcName);
    if (live && live.of === of && live.clusterIP && live.clusterIP !== 'None') {
      endpoints.push({ addresses: [live.clusterIP], hostname, conditions: { ready: ready && e.reachable && anyGateway, serving: ready, terminating: false } });
    }
  });
  const importSlice = slice(
    fitName(`${i.derived}-${e.cluster}-gateway`),
    ns,
    i.sliceLabels,
    family(endpoints[0]?.addresses[0]),
    endpoints,
    tcp.map((t) => ({ name: t.name, port: t.port.port, protocol: 'TCP' })),
  );
  const n = unnamedCount(e);
  // On the slice itself, so that a change of the count is a write (and the reconciler's Event follows it).
  if (n && importSlice.metadata) importSlice.metadata.annotations = { [UNNAMED_ENDPOINTS_ANNOTATION]: String(n) };
  const unnamed = n ? `${n} endpoint${n === 1 ? '' : 's'} of ${e.cluster} ha${n === 1 ? 's' : 've'} no hostname and cannot be named through the gateway` : undefined;
  return { podServices, slice: importSlice, claims, entries, ...(unnamed ? { unnamed } : {}) };
}

/** A live Service or slice is one of this import's per-pod objects (the mirror's, never a user's or a shadow's). */
export function ownedImportPod(o: KubeObject, name: string): boolean {
  const l = o.metadata?.labels ?? {};
  return l[IMPORT_POD_LABEL] === name && !l[CLUSTER_LABEL] && (l[MIRRORED_LABEL] === 'true' || l[SLICE_MANAGED_BY_LABEL] === SLICE_MANAGED_BY);
}

/** `live` is exactly the per-pod Service `desired` (same import, same remote pod). */
export function samePodService(live: KubeObject, desired: KubeObject, name: string): boolean {
  return ownedImportPod(live, name) && live.metadata?.annotations?.[SHADOW_OF_ANNOTATION] === desired.metadata?.annotations?.[SHADOW_OF_ANNOTATION];
}
