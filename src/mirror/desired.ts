// The pure core of the mirror: from one remote Service (and its EndpointSlices), the Link, the local gateway
// endpoints and the current port allocations, compute the shadow objects that should exist and the ports
// they claim; then diff objects against what exists. No I/O and no mutation here: the shadow reconciler
// reads the caches, calls these, writes the plan and commits the port claims once the write succeeded.
import { needsUpdate, type KubeObject } from '../kube/index.js';
import {
  CLUSTER_LABEL,
  HEADLESS_PARENT_LABEL,
  MIRRORED_LABEL,
  MODE_ANNOTATION,
  NEVER_COPIED,
  PORT_MAP_ANNOTATION,
  REMOTE_FQ_ANNOTATION,
  REMOTE_RV_ANNOTATION,
  RESERVED_PREFIXES,
  SLICE_MANAGED_BY,
  SLICE_MANAGED_BY_LABEL,
  SHADOW_OF_ANNOTATION,
  SLICE_SERVICE_LABEL,
  formatPortMap,
  shadowOfPod,
  shadowOfService,
  matchesSelector,
  parsePortMap,
  type LinkSpec,
  type PortMapEntry,
  type ShadowMode,
} from '../api/index.js';
import { podServiceName, remoteFqName, shadowName, shortHash, sliceName } from './names.js';
import { claimPorts, importPortSuffix, portKey, type PortClaim, type PortView } from './ports.js';
import type { Endpoint, EndpointPort, EndpointSlice, Service, ServicePort } from './types.js';

export interface GatewayEndpoint {
  ip: string;
  ready: boolean;
}

export interface DesiredInput {
  remote: Service;
  /** The remote EndpointSlices of this Service (all of them, across splits). */
  remoteSlices: EndpointSlice[];
  linkSpec: LinkSpec;
  /** Ready/unready local mesh-gateway pod addresses (gateway mode). */
  gateway: GatewayEndpoint[];
  /** The link's gateway probe verdict: false after failureThreshold misses. */
  gatewayHealthy: boolean;
  /** The outbound port allocations as they stand (read only). */
  ports: PortView;
  /** ClusterIPs of the per-pod Services that exist (gateway-mode headless), by name. */
  podServiceIPs?: ReadonlyMap<string, string>;
}

export interface DesiredPodService {
  hostname: string;
  service: Service;
  slices: EndpointSlice[];
}

export interface DesiredShadow {
  /** `ns/shadowName` */
  key: string;
  mode: ShadowMode;
  service: Service;
  slices: EndpointSlice[];
  podServices: DesiredPodService[];
  /** The outbound ports this shadow holds once written (its other ports are freed then). */
  claims: PortClaim[];
}

/** Which path a remote Service takes under this Link, or undefined if the Link does not export it. */
export function exportMode(remote: Service, spec: LinkSpec): ShadowMode | undefined {
  const labels = remote.metadata?.labels;
  if (matchesSelector(labels, spec.selector)) return 'gateway';
  if (matchesSelector(labels, spec.flatSelector)) return 'flat';
  return undefined;
}

function excluded(key: string, patterns: readonly string[]): boolean {
  if (RESERVED_PREFIXES.some((p) => key.startsWith(p))) return true;
  return patterns.some((p) => (p.endsWith('*') ? key.startsWith(p.slice(0, -1)) : key === p));
}

export function copyLabels(src: Record<string, string> | undefined, excludedKeys: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(src ?? {})) if (!excluded(k, excludedKeys)) out[k] = v;
  return out;
}

export function isHeadless(svc: Service): boolean {
  return svc.spec?.clusterIP === 'None';
}

function servicePorts(remote: Service): ServicePort[] {
  return (remote.spec?.ports ?? []).map((p) => {
    const out: ServicePort = { port: p.port, protocol: p.protocol ?? 'TCP' };
    if (p.name) out.name = p.name;
    if (p.appProtocol) out.appProtocol = p.appProtocol;
    return out;
  });
}

export function mirrorLabels(cluster: string): Record<string, string> {
  return { [MIRRORED_LABEL]: 'true', [CLUSTER_LABEL]: cluster };
}

function sliceLabels(service: string, cluster: string, parent?: string): Record<string, string> {
  return { [SLICE_SERVICE_LABEL]: service, [SLICE_MANAGED_BY_LABEL]: SLICE_MANAGED_BY, ...mirrorLabels(cluster), ...(parent ? { [HEADLESS_PARENT_LABEL]: parent } : {}) };
}

function ipFamily(ip: string): 'IPv4' | 'IPv6' {
  return ip.includes(':') ? 'IPv6' : 'IPv4';
}

/** The local gateway pods of one address family, with the slice name part for it. */
export interface GatewayFamily {
  addressType: 'IPv4' | 'IPv6';
  /** `gateway` for IPv4 (the name from before dual-stack), `gateway-ipv6` for IPv6. */
  part: string;
  gateway: GatewayEndpoint[];
}

/**
 * The gateway pods split by address family, IPv4 first. An EndpointSlice holds one family, and in a dual-stack
 * cluster the mesh-gateway Service (PreferDualStack) has a slice per family, so every gateway-mode object gets a
 * slice per family the gateway has: kube-proxy serves each of a Service's ClusterIPs from the slices of its
 * family and ignores the others. No gateway pod yet: one empty IPv4 slice, as before dual-stack.
 */
export function gatewayFamilies(gw: GatewayEndpoint[]): GatewayFamily[] {
  const v4 = gw.filter((g) => ipFamily(g.ip) === 'IPv4');
  const v6 = gw.filter((g) => ipFamily(g.ip) === 'IPv6');
  const out: GatewayFamily[] = [];
  if (v4.length || !v6.length) out.push({ addressType: 'IPv4', part: 'gateway', gateway: v4 });
  if (v6.length) out.push({ addressType: 'IPv6', part: 'gateway-ipv6', gateway: v6 });
  return out;
}

function slice(name: string, namespace: string, labels: Record<string, string>, addressType: string, endpoints: Endpoint[], ports: EndpointPort[]): EndpointSlice {
  return { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name, namespace, labels }, addressType, endpoints, ports };
}

/** Remote endpoints with a hostname, one per hostname (the first ready one wins), in a stable order. */
export function remoteHostnames(slices: EndpointSlice[]): Array<{ hostname: string; ready: boolean }> {
  const byHost = new Map<string, boolean>();
  for (const s of slices) {
    for (const e of s.endpoints ?? []) {
      if (!e.hostname) continue;
      const ready = e.conditions?.ready !== false;
      byHost.set(e.hostname, (byHost.get(e.hostname) ?? false) || ready);
    }
  }
  return [...byHost].sort(([a], [b]) => a.localeCompare(b)).map(([hostname, ready]) => ({ hostname, ready }));
}

function gatewayEndpoints(gw: GatewayEndpoint[], healthy: boolean): Endpoint[] {
  return [...gw]
    .sort((a, b) => a.ip.localeCompare(b.ip))
    .map((g) => ({ addresses: [g.ip], conditions: { ready: g.ready && healthy, serving: g.ready, terminating: false } }));
}

export function desiredShadow(input: DesiredInput): DesiredShadow | undefined {
  const { remote, linkSpec: spec } = input;
  const mode = exportMode(remote, spec);
  if (!mode) return undefined;
  const rname = remote.metadata?.name ?? '';
  const ns = remote.metadata?.namespace ?? 'default';
  const cluster = spec.targetClusterName;
  const name = shadowName(rname, cluster);
  const annotations: Record<string, string> = {
    ...copyLabels(remote.metadata?.annotations, [...spec.excludedAnnotations, ...NEVER_COPIED]),
    [REMOTE_FQ_ANNOTATION]: remoteFqName(rname, ns, spec.targetClusterDomain),
    [REMOTE_RV_ANNOTATION]: remote.metadata?.resourceVersion ?? '',
    [MODE_ANNOTATION]: mode,
    [SHADOW_OF_ANNOTATION]: shadowOfService(ns, rname),
  };
  const service: Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns, labels: { ...copyLabels(remote.metadata?.labels, spec.excludedLabels), ...mirrorLabels(cluster) }, annotations },
    spec: { type: 'ClusterIP', ports: servicePorts(remote), ...(isHeadless(remote) ? { clusterIP: 'None' } : {}) },
  };
  const out: DesiredShadow = { key: `${ns}/${name}`, mode, service, slices: [], podServices: [], claims: [] };
  if (mode === 'flat') {
    out.slices = flatSlices(input, name, ns, cluster);
    return out;
  }
  const gw = isHeadless(remote) ? gatewayHeadless(input, out) : gatewayClusterIP(input, out);
  annotations[PORT_MAP_ANNOTATION] = formatPortMap(gw);
  return out;
}

/** One local slice per remote slice, so a remote split stays a split here and a change touches one slice. */
function flatSlices(input: DesiredInput, shadow: string, ns: string, cluster: string): EndpointSlice[] {
  const sorted = [...input.remoteSlices].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  return sorted.map((rs) => {
    const endpoints: Endpoint[] = (rs.endpoints ?? []).map((e) => {
      const c = e.conditions;
      const ep: Endpoint = { addresses: [...e.addresses], conditions: { ready: c?.ready ?? true, serving: c?.serving ?? c?.ready ?? true, terminating: c?.terminating ?? false } };
      if (e.hostname) ep.hostname = e.hostname;
      if (e.zone) ep.zone = e.zone;
      return ep;
    });
    const ports = (rs.ports ?? []).map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP', ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}) }));
    return slice(sliceName(shadow, shortHash(rs.metadata?.name ?? '')), ns, sliceLabels(shadow, cluster), rs.addressType ?? 'IPv4', endpoints, ports);
  });
}

/** The shadow's ports, each at its claimed outbound port: port-map entries and the slice's ports. */
function outboundPorts(ports: ServicePort[], claims: PortClaim[], hostname?: string): { entries: PortMapEntry[]; slicePorts: EndpointPort[] } {
  const entries: PortMapEntry[] = [];
  const slicePorts = ports.map((p, i) => {
    const protocol = p.protocol ?? 'TCP';
    entries.push({ port: p.port, ...(p.name ? { name: p.name } : {}), protocol, outboundPort: claims[i].port, ...(hostname ? { hostname } : {}) });
    return { name: p.name ?? '', port: claims[i].port, protocol };
  });
  return { entries, slicePorts };
}

/** A ClusterIP shadow: one slice at the local gateway pods, on one outbound port per service port. */
function gatewayClusterIP(input: DesiredInput, out: DesiredShadow): PortMapEntry[] {
  const svc = out.service;
  const { name = '', namespace = '' } = svc.metadata ?? {};
  const ports = svc.spec?.ports ?? [];
  out.claims = claimPorts(ports.map((p) => portKey(out.key, p.port, p.protocol ?? 'TCP')), input.ports);
  const { entries, slicePorts } = outboundPorts(ports, out.claims);
  const cluster = input.linkSpec.targetClusterName;
  out.slices = gatewayFamilies(input.gateway).map((f) => slice(sliceName(name, f.part), namespace, sliceLabels(name, cluster), f.addressType, gatewayEndpoints(f.gateway, input.gatewayHealthy), slicePorts));
  return entries;
}

/**
 * Headless: a ClusterIP Service per remote pod hostname, fronting the gateway at that pod's own outbound
 * port(s); the headless shadow's endpoints are those ClusterIPs with the pod hostnames, so that
 * <hostname>.<shadow>.<ns>.svc resolves and reaches that one pod. A per-pod Service that does not exist yet
 * has no ClusterIP: its endpoint is left out, and the reconcile its creation triggers adds it.
 */
function gatewayHeadless(input: DesiredInput, out: DesiredShadow): PortMapEntry[] {
  const svc = out.service;
  const { name = '', namespace: ns = '' } = svc.metadata ?? {};
  const ports = svc.spec?.ports ?? [];
  const spec = input.linkSpec;
  const cluster = spec.targetClusterName;
  const hosts = remoteHostnames(input.remoteSlices);
  out.claims = claimPorts(hosts.flatMap(({ hostname }) => ports.map((p) => portKey(out.key, p.port, p.protocol ?? 'TCP', hostname))), input.ports);
  const families = gatewayFamilies(input.gateway);
  const fq = remoteFqName(input.remote.metadata?.name ?? '', ns, spec.targetClusterDomain);
  const anyGatewayReady = input.gateway.some((g) => g.ready);
  const entries: PortMapEntry[] = [];
  const parentEndpoints: Endpoint[] = [];
  hosts.forEach(({ hostname, ready }, h) => {
    const podName = podServiceName(hostname, name);
    const own = outboundPorts(ports, out.claims.slice(h * ports.length, (h + 1) * ports.length), hostname);
    entries.push(...own.entries);
    const service: Service = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: podName, namespace: ns, labels: { ...mirrorLabels(cluster), [HEADLESS_PARENT_LABEL]: name }, annotations: { [REMOTE_FQ_ANNOTATION]: `${hostname}.${fq}`, [MODE_ANNOTATION]: 'gateway', [SHADOW_OF_ANNOTATION]: shadowOfPod(ns, input.remote.metadata?.name ?? '', hostname) } },
      spec: { type: 'ClusterIP', ports },
    };
    const slices = families.map((f) => slice(sliceName(podName, f.part), ns, sliceLabels(podName, cluster, name), f.addressType, gatewayEndpoints(f.gateway, input.gatewayHealthy && ready), own.slicePorts));
    out.podServices.push({ hostname, service, slices });
    const ip = input.podServiceIPs?.get(podName);
    if (ip && ip !== 'None') {
      parentEndpoints.push({ addresses: [ip], hostname, conditions: { ready: ready && input.gatewayHealthy && anyGatewayReady, serving: ready, terminating: false } });
    }
  });
  const parentPorts = ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP' }));
  out.slices = [slice(sliceName(name, 'gateway'), ns, sliceLabels(name, cluster), ipFamily(parentEndpoints[0]?.addresses[0] ?? '0.0.0.0'), parentEndpoints, parentPorts)];
  return entries;
}

export interface Plan<T extends KubeObject> {
  create: T[];
  update: Array<{ live: T; desired: T }>;
  /** Live objects we own that are no longer desired. */
  delete: T[];
  unchanged: T[];
  /** Live objects with a desired name that we do not own: never touched, reported. */
  conflicts: Array<{ live: T; desired: T }>;
}

/** Objects carry the mirror's labels for this cluster: the only ones the mirror may change or delete. */
export function ownedBy(obj: KubeObject, cluster: string): boolean {
  const l = obj.metadata?.labels ?? {};
  return l[MIRRORED_LABEL] === 'true' && l[CLUSTER_LABEL] === cluster;
}

/**
 * `live` is the object `desired` stands for, exactly: the mirror's labels for this cluster, the same parent
 * (a per-pod Service or its slice names its headless shadow; a shadow and its slices name none), the same
 * Service for a slice, and the same remote object (SHADOW_OF_ANNOTATION). An object written before that
 * annotation existed is told by its labels alone, and gains the annotation on its next update (upgrade).
 */
export function sameOwner(live: KubeObject, desired: KubeObject, cluster: string): boolean {
  if (!ownedBy(live, cluster)) return false;
  const ll = live.metadata?.labels ?? {};
  const dl = desired.metadata?.labels ?? {};
  if (ll[HEADLESS_PARENT_LABEL] !== dl[HEADLESS_PARENT_LABEL] || ll[SLICE_SERVICE_LABEL] !== dl[SLICE_SERVICE_LABEL]) return false;
  const of = live.metadata?.annotations?.[SHADOW_OF_ANNOTATION];
  return of === undefined || of === desired.metadata?.annotations?.[SHADOW_OF_ANNOTATION];
}

/** A live Service of ours that is a shadow itself (not a per-pod Service), whatever remote object it mirrors. */
export function isShadow(live: KubeObject, cluster: string): boolean {
  const of = live.metadata?.annotations?.[SHADOW_OF_ANNOTATION];
  return ownedBy(live, cluster) && !live.metadata?.labels?.[HEADLESS_PARENT_LABEL] && (of === undefined || of.startsWith('service/'));
}

/** `live` is the shadow of the remote Service `namespace/name` (see sameOwner). */
export function isShadowOf(live: KubeObject, cluster: string, namespace: string, name: string): boolean {
  const of = live.metadata?.annotations?.[SHADOW_OF_ANNOTATION];
  return isShadow(live, cluster) && (of === undefined || of === shadowOfService(namespace, name));
}

/** An object of ours that belongs to the headless shadow `parent` (its per-pod Services and their slices), or to none. */
export function ownedUnder(obj: KubeObject, cluster: string, parent: string | undefined): boolean {
  return ownedBy(obj, cluster) && obj.metadata?.labels?.[HEADLESS_PARENT_LABEL] === parent;
}

/** What to create, update, delete and leave alone; `differs` says whether a live object needs an update. */
export function diff<T extends KubeObject>(desired: T[], actual: T[], cluster: string, differs: (live: T, desired: T) => boolean = needsUpdate): Plan<T> {
  const plan: Plan<T> = { create: [], update: [], delete: [], unchanged: [], conflicts: [] };
  const live = new Map(actual.map((o) => [o.metadata?.name ?? '', o]));
  const wanted = new Set<string>();
  for (const d of desired) {
    const n = d.metadata?.name ?? '';
    wanted.add(n);
    const l = live.get(n);
    if (!l) plan.create.push(d);
    else if (!sameOwner(l, d, cluster)) plan.conflicts.push({ live: l, desired: d });
    else if (differs(l, d)) plan.update.push({ live: l, desired: d });
    else plan.unchanged.push(l);
  }
  for (const [n, l] of live) if (!wanted.has(n) && ownedBy(l, cluster)) plan.delete.push(l);
  return plan;
}

/** A Service update: clusterIP is immutable, so a switch to or from headless needs a new object. */
export function serviceDiffers(live: Service, desired: Service): boolean {
  return isHeadless(live) !== isHeadless(desired) || needsUpdate(live, desired);
}

/** Port-map allocations recorded on an existing shadow (for recovery at start-up); a bad map gives none. */
export function recordedPorts(shadow: Service): Array<{ key: string; port: number }> {
  const raw = shadow.metadata?.annotations?.[PORT_MAP_ANNOTATION];
  if (!raw) return [];
  const parsed = parsePortMap(raw);
  if (!parsed.ok) return [];
  const key = `${shadow.metadata?.namespace ?? ''}/${shadow.metadata?.name ?? ''}`;
  // A derived Service's (MCS import) entries name their cluster: `@<cluster>` in the key's last part, and
  // `@<cluster>/<hostname>` for a Headless import's per-pod entry (import-pods.ts).
  const suffix = (e: PortMapEntry) => (e.cluster ? importPortSuffix(e.cluster, e.hostname) : e.hostname);
  return parsed.entries.map((e) => ({ key: portKey(key, e.port, e.protocol, suffix(e)), port: e.outboundPort }));
}
