// `mesh gateway` as a process: flags → config, credentials (Identity service or files), routes
// (Kubernetes watches or a file), then serve until SIGTERM, which drains.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { createLogger, type Logger } from '../log/index.js';
// src/identity and src/kube (gRPC, the Kubernetes client: ~90 MB of RSS) are loaded only when the
// Identity service or the Kubernetes watches are used, not for file credentials and routes. The trust core
// (src/trust) is light and always loaded.
import {
  DEFAULT_CLUSTER_DOMAIN, DEFAULT_TRANSPORT, DEFAULT_TRUST_DOMAIN, GATEWAY_ADMIN_PORT, GATEWAY_NAME, GATEWAY_TUNNEL_PORT, MESH_NAMESPACE, TRANSPORTS, dnsLabelSchema, parseAllowList,
} from '../api/index.js';
import { spiffeId } from '../trust/index.js';
import { GatewayError } from './errors.js';
import { parseHosts } from './hosts.js';
import { DEFAULT_OUTBOUND_RANGE, PortRangeSchema, type GatewayConfigInput } from './config.js';
import { startGateway } from './gateway.js';
import { GatewayMetrics } from './metrics.js';
import { governHeapGrowth, HEAP_GROWTH_DEFAULTS } from './heap-growth.js';
import { availableCpus } from './cpus.js';
import { FileCredentials, FileRouteSource } from './static-source.js';
import type { CredentialSource, RouteSource } from './types.js';

const port = z.coerce.number().int().min(0).max(65535);
const posInt = z.coerce.number().int().min(1);

const list = z
  .string()
  .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
  .optional();

/** The process's options, as commander hands them over (strings), validated here. */
export const GatewayOptionsSchema = z
  .object({
    clusterName: dnsLabelSchema,
    clusterDomain: z.string().min(1).default(DEFAULT_CLUSTER_DOMAIN),
    trustDomain: z.string().min(1).default(DEFAULT_TRUST_DOMAIN),
    namespace: z.string().min(1).default(MESH_NAMESPACE),
    /** Comma-separated addresses; unset: $POD_IPS, else $POD_IP, else 0.0.0.0 (hostsFrom). */
    host: z.string().optional().superRefine((h, ctx) => {
      const p = h === undefined ? undefined : parseHosts(h);
      if (p && !p.ok) ctx.addIssue({ code: 'custom', message: p.message });
    }),
    tunnelPort: port.default(GATEWAY_TUNNEL_PORT),
    adminPort: port.default(GATEWAY_ADMIN_PORT),
    outboundPorts: PortRangeSchema.default(DEFAULT_OUTBOUND_RANGE),
    transport: z.enum(TRANSPORTS).default(DEFAULT_TRANSPORT),
    poolSize: posInt.max(64).optional(),
    pipeWarm: z.coerce.number().int().min(0).max(256).optional(),
    maxConnections: posInt.optional(),
    maxTunnels: posInt.optional(),
    handshakeTimeoutMs: posInt.optional(),
    connectTimeoutMs: posInt.optional(),
    idleTimeoutMs: posInt.optional(),
    keepaliveMs: z.coerce.number().int().min(0).optional(),
    keepaliveTimeoutMs: posInt.optional(),
    drainTimeoutMs: z.coerce.number().int().min(0).optional(),
    drainGraceSeconds: z.coerce.number().min(0).max(3600).optional(),
    outlierFailures: posInt.max(100).optional(),
    outlierEjectionMs: posInt.optional(),
    outlierMaxEjectionMs: posInt.optional(),
    /** --heap-growing-percent while bytes flow fast (heap-growth.ts says why); 0 keeps V8's own growth. */
    heapGrowingPercent: z.coerce.number().int().min(0).max(1000).default(HEAP_GROWTH_DEFAULTS.busyPercent),
    /** Data-plane processes (node:cluster); default: the CPUs this process may use (cgroup quota). 1 = no
     * cluster, everything in this process. */
    workers: posInt.max(256).optional(),
    allowedIdentities: list.superRefine((l, ctx) => {
      const p = l === undefined ? undefined : parseAllowList(l);
      if (p && !p.ok) ctx.addIssue({ code: 'custom', message: p.message });
    }),
    allowDirectWorkloads: z.boolean().default(false),
    cert: z.string().optional(),
    key: z.string().optional(),
    bundle: z.string().optional(),
    trustBundle: z.string().optional(),
    identityAddr: z.string().optional(),
    identityToken: z.string().optional(),
    routes: z.string().optional(),
    kubeconfig: z.string().optional(),
    context: z.string().optional(),
  })
  .refine((o) => (o.cert && o.key && (o.bundle || o.trustBundle)) || o.identityAddr, {
    message: 'give credentials: --cert, --key and --bundle files, or --identity-addr (with --identity-token and --trust-bundle)',
    path: ['cert'],
  })
  .refine((o) => !o.identityAddr || (o.identityToken && (o.trustBundle || o.bundle)), {
    message: '--identity-addr needs --identity-token <file> and --trust-bundle <file>',
    path: ['identityAddr'],
  });
export type GatewayOptions = z.infer<typeof GatewayOptionsSchema>;

export interface RunningGateway {
  logger: Logger;
  /** Where the ports ended up (port 0 picks a free one). */
  tunnelPort: number;
  adminPort: number;
  /** Drain and stop (what SIGTERM does). */
  stop(): Promise<void>;
}

export async function runGateway(o: GatewayOptions, env: NodeJS.ProcessEnv = process.env): Promise<RunningGateway> {
  const logger = createLogger('gateway', { fields: { cluster: o.clusterName, ...(env.POD_NAME ? { pod: env.POD_NAME } : {}) } });
  const workers = o.workers ?? availableCpus();
  // Before anything starts: a bad $POD_IPS is a usage error like a bad flag.
  const config = configFrom(o, env);
  const credentials = await loadCredentials(o, env, logger);
  const routes = await loadRoutes(o, logger);
  let running: RunningGateway;
  if (workers > 1) {
    // Only a multi-worker gateway loads node:cluster and the primary's IPC.
    const { runPrimary } = await import('./cluster/primary.js');
    running = await runPrimary({ config, workers, credentials, routes, logger, heapGrowingPercent: o.heapGrowingPercent });
  } else {
    running = await runSingle(config, credentials, routes, logger, o.heapGrowingPercent);
  }
  // One line on stdout for whoever started us (tests, scripts): where we listen.
  process.stdout.write(`gateway listening tunnel=${running.tunnelPort} admin=${running.adminPort}${workers > 1 ? ` workers=${workers}` : ''}\n`);
  return running;
}

/** The whole gateway in this process. */
async function runSingle(config: GatewayConfigInput, credentials: CredentialSource, routes: RouteSource, logger: Logger, heapGrowingPercent: number): Promise<RunningGateway> {
  const metrics = new GatewayMetrics();
  const gateway = await startGateway(config, { credentials, routes, logger, metrics });
  const stopGovernor = governHeapGrowth(() => metrics.bytesRelayed(), { ...HEAP_GROWTH_DEFAULTS, busyPercent: heapGrowingPercent });
  let stopping: Promise<void> | undefined;
  return {
    logger,
    tunnelPort: gateway.tunnelPort,
    adminPort: gateway.adminPort,
    stop: () => (stopping ??= gateway.drain().then(() => stopGovernor())),
  };
}

/** The flags as a gateway configuration. */
export function configFrom(o: GatewayOptions, env: NodeJS.ProcessEnv): GatewayConfigInput {
  return {
    clusterName: o.clusterName,
    clusterDomain: o.clusterDomain,
    trustDomain: o.trustDomain,
    host: hostsFrom(o.host, env),
    tunnelPort: o.tunnelPort,
    adminPort: o.adminPort,
    outboundPorts: o.outboundPorts,
    defaultTransport: o.transport,
    allowedIdentities: o.allowedIdentities ?? [],
    allowDirectWorkloads: o.allowDirectWorkloads,
    ...(o.poolSize !== undefined ? { poolSize: o.poolSize } : {}),
    ...(o.pipeWarm !== undefined ? { pipeWarm: o.pipeWarm } : {}),
    ...(o.maxConnections !== undefined ? { maxInboundConnections: o.maxConnections } : {}),
    ...(o.maxTunnels !== undefined ? { maxTunnels: o.maxTunnels } : {}),
    ...(o.handshakeTimeoutMs !== undefined ? { handshakeTimeoutMs: o.handshakeTimeoutMs } : {}),
    ...(o.connectTimeoutMs !== undefined ? { connectTimeoutMs: o.connectTimeoutMs } : {}),
    ...(o.idleTimeoutMs !== undefined ? { idleTimeoutMs: o.idleTimeoutMs } : {}),
    ...(o.keepaliveMs !== undefined ? { keepaliveMs: o.keepaliveMs } : {}),
    ...(o.keepaliveTimeoutMs !== undefined ? { keepaliveTimeoutMs: o.keepaliveTimeoutMs } : {}),
    ...(o.drainTimeoutMs !== undefined ? { drainTimeoutMs: o.drainTimeoutMs } : {}),
    ...(o.drainGraceSeconds !== undefined ? { drainGraceMs: Math.round(o.drainGraceSeconds * 1000) } : {}),
    ...(o.outlierFailures !== undefined ? { outlierFailures: o.outlierFailures } : {}),
    ...(o.outlierEjectionMs !== undefined ? { outlierEjectionMs: o.outlierEjectionMs } : {}),
    ...(o.outlierMaxEjectionMs !== undefined ? { outlierMaxEjectionMs: o.outlierMaxEjectionMs } : {}),
  };
}

/** The addresses to bind: --host, else the downward API's status.podIPs ($POD_IPS: every family of a
 * dual-stack pod), else status.podIP ($POD_IP), else 0.0.0.0 (every IPv4 address, as before). An
 * invalid list is a usage error naming where it came from. */
export function hostsFrom(flag: string | undefined, env: NodeJS.ProcessEnv): string[] {
  const [source, value] = flag !== undefined ? ['--host', flag] : env.POD_IPS ? ['$POD_IPS', env.POD_IPS] : env.POD_IP ? ['$POD_IP', env.POD_IP] : ['default', '0.0.0.0'];
  const p = parseHosts(value);
  if (!p.ok) throw new GatewayError('USAGE', `${source}: ${p.message}`);
  return p.hosts;
}

async function loadCredentials(o: GatewayOptions, env: NodeJS.ProcessEnv, logger: Logger): Promise<CredentialSource> {
  if (o.cert && o.key) {
    return new FileCredentials({ cert: o.cert, key: o.key, bundle: (o.bundle ?? o.trustBundle)! }, logger);
  }
  const { CertificateManager } = await import('../identity/index.js');
  const bundleFile = (o.trustBundle ?? o.bundle)!;
  const identity = spiffeId(o.trustDomain, env.POD_NAMESPACE ?? o.namespace, GATEWAY_NAME);
  const manager = new CertificateManager({
    identity,
    address: o.identityAddr!,
    tokenFile: o.identityToken!,
    // Re-read on every renewal: the ConfigMap mount changes when roots rotate.
    bundle: () => readFileSync(bundleFile, 'utf8'),
    logger,
  });
  const toCreds = (c: { keyPem: string; chainPem: string; bundle: { pem(): string } }) => ({ key: c.keyPem, certChain: c.chainPem, bundle: c.bundle.pem() });
  // Serve /live at once; /ready waits for the first certificate.
  void manager.start().catch((err: Error) => logger.error('identity: first certificate failed; retrying', { error: err.message, identityAddr: o.identityAddr }));
  return {
    current: () => {
      const c = manager.current();
      return c ? toCreds(c) : undefined;
    },
    onChange: (l) => manager.on('credentials', (c) => l(toCreds(c))),
    stop: () => manager.stop(),
  };
}

async function loadRoutes(o: GatewayOptions, logger: Logger): Promise<RouteSource> {
  if (o.routes) return new FileRouteSource(o.routes, logger);
  const [{ KubeClient, loadKubeConfig }, { KubeRouteSource }] = await Promise.all([import('../kube/index.js'), import('./kube-source.js')]);
  let client: Awaited<ReturnType<typeof KubeClient.create>>;
  try {
    const kc = loadKubeConfig({ ...(o.kubeconfig ? { kubeconfig: o.kubeconfig } : {}) });
    if (o.context) kc.setCurrentContext(o.context);
    client = await KubeClient.create(kc);
  } catch (err) {
    throw new GatewayError('BAD_CONFIG', `cannot load a kubeconfig (use --kubeconfig, or --routes for a static setup): ${(err as Error).message}`);
  }
  return new KubeRouteSource(client, o.namespace, logger);
}
