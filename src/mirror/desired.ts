// The pure core of the mirror: from one remote Service (and its EndpointSlices), the Link and the local
// gateway endpoints, compute the shadow objects that should exist; then diff them against what does.
// No I/O here: reconcile() reads caches, calls these, and applies the plan.
import { needsUpdate, type KubeObject } from '../kube/index.js';
import type { LinkSpec } from './link.js';
import { matchesSelector } from './link.js';
import { podServiceName, remoteFqName, shadowName, shortHash, sliceName } from './names.js';
import { portKey, type PortAllocator } from './ports.js';
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
  SLICE_SERVICE_LABEL,
  type Endpoint,
  type EndpointSlice,
  type Mode,
  type PortMapEntry,
  type Service,
  type ServicePort,
} from './types.js';

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
  ports: PortAllocator;
  /** ClusterIPs of existing per-pod Services (gateway-mode headless), by name. */
  podServiceIPs?: Map<string, string>;
}

export interface DesiredPodService {
  hostname: string;
  service: Service;
  slices: EndpointSlice[];
}

export interface DesiredShadow {
  /** `ns/shadowName` */
  key: string;
  mode: Mode;
  service: Service;
  slices: EndpointSlice[];
  podServices: DesiredPodService[];
  /** Port allocations this shadow holds (the rest of its old ones may be released after the write). */
  portKeys: string[];
  /** Per-pod Services whose ClusterIP is not known yet (gateway-mode headless: apply them, then recompute). */
  pendingPodIPs: string[];
}

/** Which path a remote Service takes under this Link, or undefined if the Link does not export it. */
export function exportMode(remote: Service, spec: LinkSpec): Mode | undefined {
  const labels = remote.metadata?.labels;
  if (matchesSelector(labels, spec.selector)) return 'gateway';
  if (matchesSelector(labels, spec.flatSelector)) return 'flat';
  return undefined;
}

function excluded(key: string, patterns: string[]): boolean {
  if (RESERVED_PREFIXES.some((p) => key.startsWith(p))) return true;
  return patterns.some((p) => (p.endsWith('*') ? key.startsWith(p.slice(0, -1)) : key === p));
}

export function copyLabels(src: Record<string, string> | undefined, excludedKeys: string[]): Record<string, string> {
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

function mirrorLabels(cluster: string): Record<string, string> {
  return { [MIRRORED_LABEL]: 'true', [CLUSTER_LABEL]: cluster };
}

function sliceLabels(shadow: string, cluster: string): Record<string, string> {
  return { [SLICE_SERVICE_LABEL]: shadow, [SLICE_MANAGED_BY_LABEL]: SLICE_MANAGED_BY, ...mirrorLabels(cluster) };
}

function ipFamily(ip: string): 'IPv4' | 'IPv6' {
  return ip.includes(':') ? 'IPv6' : 'IPv4';
}

/** Remote endpoints with a hostname, one per hostname (the first ready one wins), in a stable order. */
function remoteHostnames(slices: EndpointSlice[]): Array<{ hostname: string; ready: boolean }> {
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

function gatewayEndpoints(gw: GatewayEndpoint[], healthy: boolean, extra: Partial<Endpoint> = {}): Endpoint[] {
  return [...gw]
    .sort((a, b) => a.ip.localeCompare(b.ip))
    .map((g) => ({ addresses: [g.ip], conditions: { ready: g.ready && healthy, serving: g.ready, terminating: false }, ...extra }));
}

export function desiredShadow(input: DesiredInput): DesiredShadow | undefined {
  const { remote, linkSpec: spec } = input;
  const mode = exportMode(remote, spec);
  if (!mode) return undefined;
  const rname = remote.metadata?.name ?? '';
  const ns = remote.metadata?.namespace ?? 'default';
  const cluster = spec.targetClusterName;
  const name = shadowName(rname, cluster);
  const key = `${ns}/${name}`;
  const headless = isHeadless(remote);
  const ports = servicePorts(remote);
  const labels = { ...copyLabels(remote.metadata?.labels, spec.excludedLabels), ...mirrorLabels(cluster) };
  const annotations: Record<string, string> = {
    ...copyLabels(remote.metadata?.annotations, [...spec.excludedAnnotations, ...NEVER_COPIED]),
    [REMOTE_FQ_ANNOTATION]: remoteFqName(rname, ns, spec.targetClusterDomain),
    [REMOTE_RV_ANNOTATION]: remote.metadata?.resourceVersion ?? '',
    [MODE_ANNOTATION]: mode,
  };
  const service: Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns, labels, annotations },
    spec: { type: 'ClusterIP', ports, ...(headless ? { clusterIP: 'None' } : {}) },
  };
  const out: DesiredShadow = { key, mode, service, slices: [], podServices: [], portKeys: [], pendingPodIPs: [] };
  const slicesMeta = (part: string) => ({ name: sliceName(name, part), namespace: ns, labels: sliceLabels(name, cluster) });

  if (mode === 'flat') {
    // One local slice per remote slice, so a remote split stays a split here and a change touches one slice.
    for (const rs of [...input.remoteSlices].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''))) {
      const endpoints: Endpoint[] = (rs.endpoints ?? []).map((e) => {
        const ep: Endpoint = { addresses: [...e.addresses], conditions: { ready: e.conditions?.ready ?? true, serving: e.conditions?.serving ?? e.conditions?.ready ?? true, terminating: e.conditions?.terminating ?? false } };
        if (e.hostname) ep.hostname = e.hostname;
        if (e.zone) ep.zone = e.zone;
        return ep;
      });
      out.slices.push({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: slicesMeta(shortHash(rs.metadata?.name ?? '')),
        addressType: rs.addressType ?? 'IPv4',
        endpoints,
        ports: (rs.ports ?? []).map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP', ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}) })),
      });
    }
    return out;
  }

  // Gateway mode.
  const portMap: PortMapEntry[] = [];
  const addressType = ipFamily(input.gateway[0]?.ip ?? '0.0.0.0');
  if (!headless) {
    const epPorts = ports.map((p) => {
      const k = portKey(key, p.port, p.protocol ?? 'TCP');
      const outbound = input.ports.allocate(k);
      out.portKeys.push(k);
      portMap.push({ port: p.port, ...(p.name ? { name: p.name } : {}), protocol: p.protocol ?? 'TCP', outboundPort: outbound });
      return { name: p.name ?? '', port: outbound, protocol: p.protocol ?? 'TCP' };
    });
    out.slices.push({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: slicesMeta('gateway'),
      addressType,
      endpoints: gatewayEndpoints(input.gateway, input.gatewayHealthy),
      ports: epPorts,
    });
  } else {
    // Headless: a ClusterIP Service per remote pod hostname, fronting the gateway at that pod's own outbound
    // port(s); the headless shadow's endpoints are those ClusterIPs with the pod hostnames, so that
    // <hostname>.<shadow>.<ns>.svc resolves and reaches that one pod.
    const parentEndpoints: Endpoint[] = [];
    for (const { hostname, ready } of remoteHostnames(input.remoteSlices)) {
      const podName = podServiceName(hostname, name);
      const epPorts = ports.map((p) => {
        const k = portKey(key, p.port, p.protocol ?? 'TCP', hostname);
        const outbound = input.ports.allocate(k);
        out.portKeys.push(k);
        portMap.push({ port: p.port, ...(p.name ? { name: p.name } : {}), protocol: p.protocol ?? 'TCP', outboundPort: outbound, hostname });
        return { name: p.name ?? '', port: outbound, protocol: p.protocol ?? 'TCP' };
      });
      const podSvc: Service = {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: {
          name: podName,
          namespace: ns,
          labels: { ...mirrorLabels(cluster), [HEADLESS_PARENT_LABEL]: name },
          annotations: { [REMOTE_FQ_ANNOTATION]: `${hostname}.${remoteFqName(rname, ns, spec.targetClusterDomain)}`, [MODE_ANNOTATION]: mode },
        },
        spec: { type: 'ClusterIP', ports },
      };
      out.podServices.push({
        hostname,
        service: podSvc,
        slices: [
          {
            apiVersion: 'discovery.k8s.io/v1',
            kind: 'EndpointSlice',
            metadata: { name: sliceName(podName, 'gateway'), namespace: ns, labels: { ...sliceLabels(podName, cluster), [HEADLESS_PARENT_LABEL]: name } },
            addressType,
            endpoints: gatewayEndpoints(input.gateway, input.gatewayHealthy && ready),
            ports: epPorts,
          },
        ],
      });
      const ip = input.podServiceIPs?.get(podName);
      if (ip && ip !== 'None') {
        parentEndpoints.push({ addresses: [ip], hostname, conditions: { ready: ready && input.gatewayHealthy && input.gateway.some((g) => g.ready), serving: ready, terminating: false } });
      } else {
        out.pendingPodIPs.push(podName);
      }
    }
    out.slices.push({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: slicesMeta('gateway'),
      addressType: ipFamily(parentEndpoints[0]?.addresses[0] ?? '0.0.0.0'),
      endpoints: parentEndpoints,
      ports: ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP' })),
    });
  }
  annotations[PORT_MAP_ANNOTATION] = JSON.stringify(portMap);
  return out;
}

/** desiredShadow over many remote Services (the name the design uses for the core). */
export function desiredShadows(
  remoteServices: Service[],
  remoteSlices: (svc: Service) => EndpointSlice[],
  linkSpec: LinkSpec,
  gateway: GatewayEndpoint[],
  ports: PortAllocator,
  gatewayHealthy = true,
): DesiredShadow[] {
  const out: DesiredShadow[] = [];
  for (const remote of remoteServices) {
    const d = desiredShadow({ remote, remoteSlices: remoteSlices(remote), linkSpec, gateway, gatewayHealthy, ports });
    if (d) out.push(d);
  }
  return out;
}

export interface Plan<T extends KubeObject> {
  create: T[];
  update: Array<{ live: T; desired: T }>;
  /** Live objects we own that are no longer desired. */
  delete: T[];
  unchanged: T[];
  /** Live objects with a desired name that we do not own: never touched, reported. */
  conflicts: T[];
}

/** Objects carry the mirror's labels for this cluster: the only ones the mirror may change or delete. */
export function ownedBy(obj: KubeObject, cluster: string): boolean {
  const l = obj.metadata?.labels ?? {};
  return l[MIRRORED_LABEL] === 'true' && l[CLUSTER_LABEL] === cluster;
}

export function diff<T extends KubeObject>(desired: T[], actual: T[], cluster: string): Plan<T> {
  const plan: Plan<T> = { create: [], update: [], delete: [], unchanged: [], conflicts: [] };
  const live = new Map(actual.map((o) => [o.metadata?.name ?? '', o]));
  const wanted = new Set<string>();
  for (const d of desired) {
    const n = d.metadata?.name ?? '';
    wanted.add(n);
    const l = live.get(n);
    if (!l) plan.create.push(d);
    else if (!ownedBy(l, cluster)) plan.conflicts.push(l);
    else if (needsUpdate(l, d)) plan.update.push({ live: l, desired: d });
    else plan.unchanged.push(l);
  }
  for (const [n, l] of live) if (!wanted.has(n) && ownedBy(l, cluster)) plan.delete.push(l);
  return plan;
}

/** Port-map allocations recorded on an existing shadow (for recovery at start-up). */
export function recordedPorts(shadow: Service): Array<{ key: string; port: number }> {
  const raw = shadow.metadata?.annotations?.[PORT_MAP_ANNOTATION];
  if (!raw) return [];
  const ns = shadow.metadata?.namespace ?? '';
  const key = `${ns}/${shadow.metadata?.name ?? ''}`;
  try {
    const entries = JSON.parse(raw) as unknown;
    if (!Array.isArray(entries)) return [];
    const out: Array<{ key: string; port: number }> = [];
    for (const e of entries as Array<Partial<PortMapEntry>>) {
      if (typeof e?.port !== 'number' || typeof e.outboundPort !== 'number') continue;
      out.push({ key: portKey(key, e.port, typeof e.protocol === 'string' ? e.protocol : 'TCP', typeof e.hostname === 'string' ? e.hostname : undefined), port: e.outboundPort });
    }
    return out;
  } catch {
    return [];
  }
}
