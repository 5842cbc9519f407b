// The service proxy's input: Services with their endpoints, in the EndpointSlice shape (an endpoint
// carries the resolved port numbers of its slice, keyed by Service port name). The caller builds these
// from informers (`proxyServiceFromObjects`) or by hand in tests.
import { z } from 'zod';

const ip = z.union([z.ipv4(), z.ipv6()]);
const port = z.number().int().min(1).max(65535);
const protocol = z.enum(['TCP', 'UDP', 'SCTP']).default('TCP');

export const ProxyServicePortSchema = z.object({
  /** Service port name; '' or absent for a single unnamed port. Matches EndpointSlice port names. */
  name: z.string().max(63).optional(),
  port,
  protocol,
  /** A number, or a container port name resolved through the endpoints' named ports. Defaults to `port`. */
  targetPort: z.union([port, z.string().min(1).max(15)]).optional(),
  nodePort: port.optional(),
});

export const ProxyEndpointSchema = z.object({
  ip,
  ready: z.boolean().default(true),
  /** The endpoint's slice ports: `name` = the Service port name, `port` = the resolved target port. */
  ports: z.array(z.object({ name: z.string().max(63).optional(), port, protocol })).optional(),
});

export const ProxyServiceSchema = z.object({
  type: z.enum(['ClusterIP', 'NodePort', 'LoadBalancer']).default('ClusterIP'),
  /** Empty for headless Services, which the proxy does not serve (DNS answers with pod IPs instead). */
  clusterIPs: z.array(ip).default([]),
  ports: z.array(ProxyServicePortSchema).default([]),
  endpoints: z.array(ProxyEndpointSchema).default([]),
});

export type ProxyServiceInput = z.input<typeof ProxyServiceSchema>;
export type ProxyService = z.output<typeof ProxyServiceSchema>;
export type ProxyServicePort = z.output<typeof ProxyServicePortSchema>;
export type ProxyEndpoint = z.output<typeof ProxyEndpointSchema>;

/** What the proxy reports per Service; the sandbox writes `loadBalancerIngress` into `status.loadBalancer.ingress[].ip`. */
export interface ProxyServiceStatus {
  key: string;
  /** `address:port` listeners open for this Service right now. */
  listening: string[];
  loadBalancerIngress?: string;
  /** Why a listener could not be opened (port taken, address not on this host, bad input…). */
  errors: string[];
}

export interface ProxyServiceStats {
  accepted: number;
  /** Connections reset because no ready endpoint was there or all refused. */
  rejected: number;
  /** Endpoint connects that failed and were retried on another endpoint. */
  failovers: number;
  active: number;
  bytesIn: number;
  bytesOut: number;
}
