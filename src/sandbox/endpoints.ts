// Pure: a Service with a selector + the Pods of its namespace -> the EndpointSlices and the Endpoints
// object a real control plane would publish. The controller manager diffs these against what exists.
import { createHash } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { KUBE_SLICE_MANAGED_BY, SLICE_MANAGED_BY_LABEL, SLICE_SERVICE_LABEL } from '../api/index.js';
import type { EndpointSlice, KObj, Pod, Service } from './types.js';
import { isPodReady, isTerminal, selectorMatches } from './types.js';

export interface EndpointsObject extends KObj {
  subsets: Array<{
    addresses?: Array<{ ip: string; hostname?: string; nodeName?: string; targetRef?: Record<string, string> }>;
    notReadyAddresses?: Array<{ ip: string; hostname?: string; nodeName?: string; targetRef?: Record<string, string> }>;
    ports: Array<{ name?: string; port: number; protocol: string }>;
  }>;
}

function shortHash(s: string, n = 5): string {
  return createHash('sha256').update(s).digest('hex').slice(0, n);
}

/** The container port a Service port targets on one pod (named ports differ per pod), or undefined. */
export function resolveTargetPort(svcPort: { port: number; targetPort?: number | string; protocol?: string }, pod: Pod): number | undefined {
  const tp = svcPort.targetPort ?? svcPort.port;
  if (typeof tp === 'number') return tp;
  if (/^\d+$/.test(tp)) return Number(tp);
  for (const c of pod.spec.containers) {
    for (const p of c.ports ?? []) if (p.name === tp && (p.protocol ?? 'TCP') === (svcPort.protocol ?? 'TCP')) return p.containerPort;
  }
  return undefined;
}

/** Pods that back `svc`: same namespace, selected, with an address, not finished. */
export function selectedPods(svc: Service, pods: Pod[]): Pod[] {
  const sel = svc.spec.selector;
  if (!sel || Object.keys(sel).length === 0) return [];
  return pods
    .filter((p) => p.metadata.namespace === svc.metadata.namespace && selectorMatches({ matchLabels: sel }, p.metadata.labels) && !!p.status?.podIP && !isTerminal(p))
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}

/** A pod's address of one family (status.podIPs; dual-stack isolated pods have both), or undefined. */
function podAddress(pod: Pod, family: string): string | undefined {
  const ips = pod.status?.podIPs?.length ? pod.status.podIPs.map((p) => p.ip) : [pod.status!.podIP!];
  return ips.find((ip) => isIPv6(ip) === (family === 'IPv6'));
}

type SliceGroup = { ports: NonNullable<EndpointSlice['ports']>; endpoints: EndpointSlice['endpoints'] };

/** One family's endpoints grouped by resolved port set. */
function groupEndpoints(svc: Service, pods: Pod[], family: string): Map<string, SliceGroup> {
  const ns = svc.metadata.namespace ?? 'default';
  const name = svc.metadata.name;
  const svcPorts = svc.spec.ports ?? [];
  const groups = new Map<string, SliceGroup>();
  for (const pod of selectedPods(svc, pods)) {
    const address = podAddress(pod, family);
    if (!address) continue;
    const ports = svcPorts
      .map((sp) => ({ name: sp.name ?? '', port: resolveTargetPort(sp, pod), protocol: sp.protocol ?? 'TCP', ...(sp.appProtocol ? { appProtocol: sp.appProtocol } : {}) }))
      .filter((p): p is { name: string; port: number; protocol: string } => p.port !== undefined);
    if (svcPorts.length > 0 && ports.length === 0) continue;
    const gk = JSON.stringify(ports);
    let g = groups.get(gk);
    if (!g) {
      g = { ports, endpoints: [] };
      groups.set(gk, g);
    }
    const terminating = !!pod.metadata.deletionTimestamp;
    const ready = isPodReady(pod);
    const hostname = pod.spec.hostname && pod.spec.subdomain === name ? pod.spec.hostname : undefined;
    g.endpoints.push({
      addresses: [address],
      conditions: { ready: (ready || !!svc.spec.publishNotReadyAddresses) && !terminating, serving: ready || !!svc.spec.publishNotReadyAddresses, terminating },
      ...(hostname ? { hostname } : {}),
      ...(pod.spec.nodeName ? { nodeName: pod.spec.nodeName } : {}),
      targetRef: { kind: 'Pod', namespace: ns, name: pod.metadata.name, ...(pod.metadata.uid ? { uid: pod.metadata.uid } : {}) },
    });
  }
  return groups;
}

/**
 * Endpoints grouped by their resolved port set (one slice per distinct set, as the real controller does
 * when named ports resolve differently per pod), per IP family of the Service (addressType IPv4 / IPv6).
 * Slice names are deterministic so a write from a stale cache fails with a conflict instead of creating a
 * duplicate; IPv4 names are what they were before dual-stack.
 */
export function desiredEndpointSlices(svc: Service, pods: Pod[]): EndpointSlice[] {
  const ns = svc.metadata.namespace ?? 'default';
  const name = svc.metadata.name;
  const svcPorts = svc.spec.ports ?? [];
  const owner = svc.metadata.uid
    ? [{ apiVersion: 'v1', kind: 'Service', name, uid: svc.metadata.uid, controller: true, blockOwnerDeletion: true }]
    : undefined;
  const make = (family: string, key: string, g: SliceGroup): EndpointSlice => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `${name.slice(0, 56)}-${shortHash(`${name}/${family === 'IPv6' ? 'IPv6/' : ''}${key}`)}`,
      namespace: ns,
      labels: { [SLICE_SERVICE_LABEL]: name, [SLICE_MANAGED_BY_LABEL]: KUBE_SLICE_MANAGED_BY },
      ...(owner ? { ownerReferences: owner } : {}),
    },
    addressType: family,
    endpoints: g.endpoints,
    ports: g.ports,
  });
  const families = svc.spec.ipFamilies?.length ? svc.spec.ipFamilies.filter((f) => f === 'IPv4' || f === 'IPv6') : ['IPv4'];
  const out: EndpointSlice[] = [];
  for (const family of families) {
    const groups = groupEndpoints(svc, pods, family);
    if (groups.size === 0) {
      // A Service with no endpoints still gets one empty slice (consumers tell "no endpoints" from "not synced").
      const ports = svcPorts.filter((sp) => typeof (sp.targetPort ?? sp.port) === 'number').map((sp) => ({ name: sp.name ?? '', port: Number(sp.targetPort ?? sp.port), protocol: sp.protocol ?? 'TCP' }));
      out.push(make(family, 'empty', { ports, endpoints: [] }));
    } else out.push(...[...groups.entries()].map(([k, g]) => make(family, k, g)));
  }
  return out;
}

export function desiredEndpoints(svc: Service, pods: Pod[]): EndpointsObject {
  const subsets = new Map<string, EndpointsObject['subsets'][number]>();
  for (const pod of selectedPods(svc, pods)) {
    if (pod.metadata.deletionTimestamp) continue;
    const ports = (svc.spec.ports ?? [])
      .map((sp) => ({ ...(sp.name ? { name: sp.name } : {}), port: resolveTargetPort(sp, pod), protocol: sp.protocol ?? 'TCP' }))
      .filter((p): p is { name?: string; port: number; protocol: string } => p.port !== undefined);
    const k = JSON.stringify(ports);
    let s = subsets.get(k);
    if (!s) {
      s = { ports };
      subsets.set(k, s);
    }
    const hostname = pod.spec.hostname && pod.spec.subdomain === svc.metadata.name ? pod.spec.hostname : undefined;
    const addr = {
      ip: pod.status!.podIP!,
      ...(hostname ? { hostname } : {}),
      ...(pod.spec.nodeName ? { nodeName: pod.spec.nodeName } : {}),
      targetRef: { kind: 'Pod', namespace: pod.metadata.namespace ?? '', name: pod.metadata.name, uid: pod.metadata.uid ?? '' },
    };
    if (isPodReady(pod) || svc.spec.publishNotReadyAddresses) (s.addresses ??= []).push(addr);
    else (s.notReadyAddresses ??= []).push(addr);
  }
  return {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: {
      name: svc.metadata.name,
      namespace: svc.metadata.namespace ?? 'default',
      ...(svc.metadata.labels ? { labels: svc.metadata.labels } : {}),
    },
    subsets: [...subsets.values()],
  };
}

/** Whether the fields the controller owns differ (ignores server-set metadata). */
export function sliceDiffers(want: EndpointSlice, have: EndpointSlice): boolean {
  return (
    JSON.stringify(want.endpoints) !== JSON.stringify(have.endpoints ?? []) ||
    JSON.stringify(want.ports ?? []) !== JSON.stringify(have.ports ?? []) ||
    JSON.stringify(want.metadata.labels) !== JSON.stringify(pickLabels(have.metadata.labels, Object.keys(want.metadata.labels ?? {}))) ||
    JSON.stringify(want.metadata.ownerReferences ?? []) !== JSON.stringify(have.metadata.ownerReferences ?? [])
  );
}

function pickLabels(l: Record<string, string> | undefined, keys: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of keys) if (l?.[k] !== undefined) out[k] = l[k]!;
  return out;
}
