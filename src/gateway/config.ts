// Gateway configuration, validated at the boundary (CLI flags and tests build it through this schema).
import { z } from 'zod';
import { parseHosts } from './hosts.js';
import { DEFAULT_CLUSTER_DOMAIN, DEFAULT_OUTBOUND_PORTS, DEFAULT_TRANSPORT, DEFAULT_TRUST_DOMAIN, GATEWAY_ADMIN_PORT, GATEWAY_TUNNEL_PORT, TRANSPORTS, parseAllowList } from '../api/index.js';

export const PortRangeSchema = z
  .string()
  .regex(/^\d{1,5}-\d{1,5}$/, `expected <min>-<max>, e.g. ${DEFAULT_OUTBOUND_PORTS}`)
  .transform((s) => {
    const [min, max] = s.split('-').map(Number) as [number, number];
    return { min, max };
  })
  .refine((r) => r.min >= 1 && r.max <= 65535 && r.min <= r.max, 'range must be within 1-65535 and min <= max');

/** The outbound range both the controller (allocates) and the gateway (binds) default to. */
export const DEFAULT_OUTBOUND_RANGE = PortRangeSchema.parse(DEFAULT_OUTBOUND_PORTS);

export const GatewayConfigSchema = z.object({
  clusterName: z.string().min(1),
  clusterDomain: z.string().min(1).default(DEFAULT_CLUSTER_DOMAIN),
  trustDomain: z.string().min(1).default(DEFAULT_TRUST_DOMAIN),
  /** Addresses every listener binds (hosts.ts): a list or a comma-separated string, parsed into canonical
   * addresses; an entry that is not an IP address, a repeat or a wildcard beside others is refused, named. */
  host: z
    .union([z.string(), z.array(z.string())])
    .default('0.0.0.0')
    .transform((v, ctx) => {
      const p = parseHosts(v);
      if (p.ok) return p.hosts;
      ctx.addIssue({ code: 'custom', message: `--host ${p.message}` });
      return z.NEVER;
    }),
  tunnelPort: z.number().int().min(0).max(65535).default(GATEWAY_TUNNEL_PORT),
  adminPort: z.number().int().min(0).max(65535).default(GATEWAY_ADMIN_PORT),
  outboundPorts: z.object({ min: z.number().int(), max: z.number().int() }).default(DEFAULT_OUTBOUND_RANGE),
  /** Gateway-wide allow list of peer identities (narrows who may connect at all), in src/api's rule syntax
   * (authz.ts): one that does not parse is refused here, naming the entry. */
  allowedIdentities: z
    .array(z.string())
    .default([])
    .superRefine((l, ctx) => {
      const p = parseAllowList(l);
      if (!p.ok) ctx.addIssue({ code: 'custom', message: `--allowed-identities ${p.message}` });
    }),
  /** Let any identity of the trust domain open tunnels (a workload straight to this gateway). Off by
   * default: only the gateways of linked clusters may, so workloads go through their own gateway. */
  allowDirectWorkloads: z.boolean().default(false),
  /** Transport for Links that do not name one; the benchmark winner. */
  defaultTransport: z.enum(TRANSPORTS).default(DEFAULT_TRANSPORT),
  /** Warm HTTP/2 connections per remote gateway (streams are spread over them). */
  poolSize: z.number().int().min(1).max(64).default(2),
  /** Pre-handshaked mTLS connections kept ready per remote gateway for the tls-pipe transport. */
  pipeWarm: z.number().int().min(0).max(256).default(8),
  maxInboundConnections: z.number().int().min(1).default(4096),
  maxTunnels: z.number().int().min(1).default(20000),
  maxStreamsPerConnection: z.number().int().min(1).default(10000),
  handshakeTimeoutMs: z.number().int().min(1).default(10_000),
  connectTimeoutMs: z.number().int().min(1).default(5_000),
  idleTimeoutMs: z.number().int().min(1).default(3_600_000),
  drainTimeoutMs: z.number().int().min(0).default(30_000),
  /** On SIGTERM, keep accepting this long while /ready says 503, so the endpoints that still name this
   * replica (propagation lag) lose no connection; then stop accepting and wait up to drainTimeoutMs. */
  drainGraceMs: z.number().int().min(0).default(5_000),
  /** Outlier detection of remote gateway addresses (pool/outlier.ts): failures in a row that eject an
   * address, its first ejection (doubling with each repeat) and the cap. */
  outlierFailures: z.number().int().min(1).max(100).default(3),
  outlierEjectionMs: z.number().int().min(1).default(5_000),
  outlierMaxEjectionMs: z.number().int().min(1).default(60_000),
  /** HTTP/2 keepalive of pooled sessions (pool/keepalive.ts): a PING after this long without a byte from
   * the remote gateway (0 = none), and how long its ACK may take before the session is replaced. */
  keepaliveMs: z.number().int().min(0).default(30_000),
  keepaliveTimeoutMs: z.number().int().min(1).default(10_000),
  /** HTTP/2 flow-control windows: large so one stream can fill a fast link without waiting for WINDOW_UPDATEs. */
  streamWindow: z.number().int().min(65535).max(2 ** 31 - 1).default(4 * 1024 * 1024),
  connectionWindow: z.number().int().min(65535).max(2 ** 31 - 1).default(64 * 1024 * 1024),
});
export type GatewayConfig = z.infer<typeof GatewayConfigSchema>;
export type GatewayConfigInput = z.input<typeof GatewayConfigSchema>;
