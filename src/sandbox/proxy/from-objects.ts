// Kubernetes objects → proxy input, pure. Endpoints carry their slice's ports, so a named targetPort is
// resolved exactly as kube-proxy does it: through the EndpointSlice port named like the Service port.
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { SLICE_SERVICE_LABEL } from '../../api/index.js';
import type { ProxyServiceInput } from './types.js';

type Proto = 'TCP' | 'UDP' | 'SCTP';

/** `undefined` for Services the proxy does not serve (ExternalName, headless). `slices` may hold other Services' slices. */
export function proxyServiceFromObjects(svc: V1Service, slices: Iterable<V1EndpointSlice>): ProxyServiceInput | undefined {
  const spec = svc.spec ?? {};
  if (spec.type === 'ExternalName' || spec.clusterIP === 'None') return undefined;
  const clusterIPs = (spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : []).filter((ip) => ip && ip !== 'None');
  const type = spec.type === 'NodePort' || spec.type === 'LoadBalancer' ? spec.type : 'ClusterIP';
  const ports = (spec.ports ?? []).map((p) => ({
    ...(p.name ? { name: p.name } : {}),
    port: p.port,
    protocol: (p.protocol ?? 'TCP') as Proto,
    ...(p.targetPort !== undefined ? { targetPort: p.targetPort } : {}),
    ...(p.nodePort ? { nodePort: p.nodePort } : {}),
  }));
  const endpoints: NonNullable<ProxyServiceInput['endpoints']> = [];
  for (const s of slices) {
    if (s.metadata?.namespace !== svc.metadata?.namespace || s.metadata?.labels?.[SLICE_SERVICE_LABEL] !== svc.metadata?.name) continue;
    if (s.addressType === 'FQDN') continue;
    const slicePorts = (s.ports ?? [])
      .filter((p) => typeof p.port === 'number')
      .map((p) => ({ ...(p.name ? { name: p.name } : {}), port: p.port as number, protocol: (p.protocol ?? 'TCP') as Proto }));
    for (const e of s.endpoints ?? []) {
      const ready = e.conditions?.ready !== false;
      for (const ip of e.addresses ?? []) endpoints.push({ ip, ready, ports: slicePorts });
    }
  }
  return { type, clusterIPs, ports, endpoints };
}

/** All Services and slices → entries for `ServiceProxy.replaceAll` (keys `namespace/name`). */
export function proxyServicesFromObjects(services: Iterable<V1Service>, slices: Iterable<V1EndpointSlice>): [string, ProxyServiceInput][] {
  const all = [...slices];
  const out: [string, ProxyServiceInput][] = [];
  for (const svc of services) {
    const input = proxyServiceFromObjects(svc, all);
    if (input) out.push([`${svc.metadata?.namespace ?? ''}/${svc.metadata?.name ?? ''}`, input]);
  }
  return out;
}
