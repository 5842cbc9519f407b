// Kubernetes objects → DNS input, pure. The sandbox feeds its informer caches through these; tests feed
// literal objects. Only the fields DNS needs are read, so partial objects are fine.
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { SLICE_SERVICE_LABEL } from '../api/index.js';
import type { DnsEndpointInput, DnsPortInput, DnsServiceInput } from './types.js';

/** Slices that belong to `svc` (same namespace, `kubernetes.io/service-name` label). */
export function slicesForService(svc: V1Service, slices: Iterable<V1EndpointSlice>): V1EndpointSlice[] {
  const out: V1EndpointSlice[] = [];
  for (const s of slices) {
    if (s.metadata?.namespace !== svc.metadata?.namespace) continue;
    if (s.metadata?.labels?.[SLICE_SERVICE_LABEL] !== svc.metadata?.name) continue;
    out.push(s);
  }
  return out;
}

/** One Service plus its EndpointSlices → the DNS view of it. `slices` may include other Services' slices. */
export function dnsServiceFromObjects(svc: V1Service, slices: Iterable<V1EndpointSlice>): DnsServiceInput {
  const spec = svc.spec ?? {};
  const headless = spec.clusterIP === 'None';
  const clusterIPs = headless ? [] : (spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : []).filter((ip) => ip && ip !== 'None');
  const ports: DnsPortInput[] = (spec.ports ?? []).map((p) => ({
    ...(p.name ? { name: p.name } : {}),
    port: p.port,
    protocol: (p.protocol ?? 'TCP') as 'TCP' | 'UDP' | 'SCTP',
  }));
  const endpoints: DnsEndpointInput[] = [];
  const seen = new Set<string>();
  for (const slice of slicesForService(svc, slices)) {
    if (slice.addressType === 'FQDN') continue;
    for (const ep of slice.endpoints ?? []) {
      // EndpointSlice semantics: a nil `ready` means ready; `serving` is not what DNS publishes.
      const ready = ep.conditions?.ready !== false;
      for (const ip of ep.addresses ?? []) {
        if (seen.has(ip)) continue;
        seen.add(ip);
        endpoints.push({ ip, ready, ...(ep.hostname ? { hostname: ep.hostname } : {}) });
      }
    }
  }
  return {
    clusterIPs,
    headless,
    ports,
    endpoints,
    publishNotReadyAddresses: spec.publishNotReadyAddresses === true,
    ...(spec.type === 'ExternalName' && spec.externalName ? { externalName: spec.externalName, clusterIPs: [] } : {}),
  };
}

/**
 * All Services and slices → entries for `DnsRecordSource.replaceAll` (level-triggered: call it with the
 * whole cache after any change).
 */
export function dnsServicesFromObjects(services: Iterable<V1Service>, slices: Iterable<V1EndpointSlice>): [string, DnsServiceInput][] {
  const bySvc = new Map<string, V1EndpointSlice[]>();
  for (const s of slices) {
    const key = `${s.metadata?.namespace ?? ''}/${s.metadata?.labels?.[SLICE_SERVICE_LABEL] ?? ''}`;
    const list = bySvc.get(key);
    if (list) list.push(s);
    else bySvc.set(key, [s]);
  }
  const out: [string, DnsServiceInput][] = [];
  for (const svc of services) {
    const key = `${svc.metadata?.namespace ?? ''}/${svc.metadata?.name ?? ''}`;
    out.push([key, dnsServiceFromObjects(svc, bySvc.get(key) ?? [])]);
  }
  return out;
}
