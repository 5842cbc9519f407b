// The gateway, composed from inbound and outbound around shared routing state, credentials and metrics.
// Drain (SIGTERM), as Kubernetes expects of a terminating pod: /ready turns 503 at once while every port
// keeps accepting for drainGraceMs (clients and peers still sent here until the endpoints drop us), then
// stop accepting, GOAWAY inbound sessions, let live tunnels finish until the deadline, close the rest.
import type tls from 'node:tls';
import { silentLogger, type Logger } from '../log/index.js';
import { GatewayConfigSchema, type GatewayConfig, type GatewayConfigInput } from './config.js';
import { listenAdmin } from './admin.js';
import { GatewayMetrics } from './metrics.js';
import { InboundServer } from './inbound/server.js';
import { Outbound } from './outbound/outbound.js';
import type { InboundPolicy } from './inbound/authorize.js';
import { gatewayAllowRules, indexExports } from './routing.js';
import { unparsablePolicies } from './inbound/access.js';
import { serverContext } from './tls.js';
import type { CredentialSource, RouteSnapshot, RouteSource } from './types.js';

export interface GatewayDeps {
  credentials: CredentialSource;
  routes: RouteSource;
  logger?: Logger;
  metrics?: GatewayMetrics;
  /** Serve the admin port (default). A worker does not: its primary serves one for all workers. */
  admin?: boolean;
  /** TLS session-ticket keys (48 bytes) shared by every worker, so a resumed session works on any of them. */
  ticketKeys?: Buffer;
}

export interface Gateway {
  readonly config: GatewayConfig;
  readonly metrics: GatewayMetrics;
  tunnelPort: number;
  /** 0 when this gateway serves no admin port (a worker). */
  adminPort: number;
  /** Outbound ports with a live listener. */
  outboundPorts(): number[];
  /** Whether the routes applied last have every outbound listener bound (or failed and retrying). */
  routesApplied(): boolean;
  /** Warm connections to a remote cluster's gateway. */
  poolReady(cluster: string): number;
  activeTunnels(): number;
  /** Report not ready and keep serving for `graceMs` (config.drainGraceMs by default), then stop accepting,
   * wait for tunnels up to `deadlineMs` (config.drainTimeoutMs by default), then close. */
  drain(deadlineMs?: number, graceMs?: number): Promise<{ forced: number }>;
  /** True from the start of a drain. */
  draining(): boolean;
  /** Close everything now. */
  close(): Promise<void>;
}

export async function startGateway(input: GatewayConfigInput, deps: GatewayDeps): Promise<Gateway> {
  const config = GatewayConfigSchema.parse(input);
  const logger = deps.logger ?? silentLogger();
  const metrics = deps.metrics ?? new GatewayMetrics();
  // Replaced whole on every routing change: a tunnel request reads one consistent snapshot.
  let policy: InboundPolicy = {
    trustDomain: config.trustDomain,
    clusterDomain: config.clusterDomain,
    allowedIdentities: gatewayAllowRules(config.allowedIdentities),
    directWorkloads: config.allowDirectWorkloads,
    linkedClusters: undefined,
    exports: new Map(),
    links: new Map(),
  };
  const inbound = new InboundServer({ config, logger, metrics, policy: () => policy, ...(deps.ticketKeys ? { ticketKeys: deps.ticketKeys } : {}) });
  const context = watchCredentials(deps.credentials, inbound, logger);
  const outbound = new Outbound({ config, logger, metrics, context });
  let lastUnparsable = '';
  const onRoutes = (s: RouteSnapshot) => {
    const linkedClusters = s.linkedClusters && new Set(s.linkedClusters);
    // Safe by default: an unparsable list admits nobody; say so once per change, not per refused tunnel only.
    const unparsable = unparsablePolicies(s.exported, s.remotes);
    if (unparsable.join('\n') !== lastUnparsable && unparsable.length) logger.warn('unparsable authorization policies: deny-all until fixed', { policies: unparsable });
    lastUnparsable = unparsable.join('\n');
    policy = { ...policy, exports: indexExports(s.exported), links: new Map(s.remotes.map((r) => [r.cluster, r])), linkedClusters };
    outbound.update(s.outbound, s.remotes, s.callers);
    metrics.backends.setCurrent(s.exported);
    metrics.connect.setCurrent(s.exported, s.remotes);
    logger.debug('routes updated', { exported: s.exported.length, outbound: s.outbound.length, remotes: s.remotes.length });
  };
  let draining = false;
  const adminDeps = deps.admin === false ? undefined : {
    registry: metrics.registry,
    notReady: () => {
      const missing: string[] = [];
      if (draining) missing.push('draining (terminating)');
      if (!context()) missing.push('no identity (certificate) loaded');
      if (!deps.routes.synced()) missing.push('watches not synced');
      else if (outbound.opening() > 0) missing.push(`${outbound.opening()} outbound listeners opening`);
      if (!inbound.listening()) missing.push('tunnel port not listening');
      return missing;
    },
  };
  const admin = adminDeps ? await listenAdmin(adminDeps, config.adminPort, config.host) : undefined;
  const adminPort = admin?.port ?? 0;
  const tunnelPort = await inbound.listen();
  await deps.routes.start(onRoutes);
  logger.info('gateway started', { cluster: config.clusterName, host: config.host, tunnelPort, adminPort, outboundRange: `${config.outboundPorts.min}-${config.outboundPorts.max}`, transport: config.defaultTransport });

  let closed = false;
  const closeAll = async () => {
    if (closed) return;
    closed = true;
    inbound.destroy();
    outbound.destroy();
    deps.credentials.stop?.();
    await deps.routes.stop();
    if (admin) await admin.close();
  };
  const active = () => inbound.active + outbound.active;
  return {
    config,
    metrics,
    tunnelPort,
    adminPort,
    outboundPorts: () => outbound.boundPorts(),
    routesApplied: () => deps.routes.synced() && outbound.opening() === 0,
    poolReady: (c) => outbound.poolReady(c),
    activeTunnels: active,
    draining: () => draining,
    async drain(deadlineMs = config.drainTimeoutMs, graceMs = config.drainGraceMs) {
      if (draining || closed) return { forced: 0 };
      draining = true;
      const forced = await drainTunnels({ inbound, outbound, active, logger }, deadlineMs, graceMs);
      await closeAll();
      return { forced };
    },
    close: closeAll,
  };
}

/** Loads the credentials now and on every change into the tunnel port and the context outbound dials
 * use; a rejected update keeps the previous ones. Returns the current client/server context. */
function watchCredentials(source: CredentialSource, inbound: InboundServer, logger: Logger): () => tls.SecureContext | undefined {
  let ctx: tls.SecureContext | undefined;
  const load = () => {
    const c = source.current();
    if (!c) return;
    try {
      ctx = serverContext(c);
      inbound.setCredentials(c);
      logger.info('credentials loaded', { certificates: c.certChain.split('BEGIN CERTIFICATE').length - 1 });
    } catch (err) {
      logger.error('credentials rejected; keeping the previous ones', { error: (err as Error).message });
    }
  };
  load();
  source.onChange(load);
  return () => ctx;
}

/** The drain after SIGTERM: keep serving for the grace period (/ready already says 503), then stop
 * accepting and wait for tunnels up to the deadline. Returns how many were still open. */
async function drainTunnels(g: { inbound: InboundServer; outbound: Outbound; active: () => number; logger: Logger }, deadlineMs: number, graceMs: number): Promise<number> {
  const { inbound, outbound, active, logger } = g;
  logger.info('draining', { activeTunnels: active(), graceMs, deadlineMs });
  if (graceMs > 0) {
    await sleep(graceMs);
    logger.info('drain grace over; no longer accepting', { activeTunnels: active() });
  }
  const sessions = inbound.startDrain();
  outbound.startDrain();
  const until = Date.now() + deadlineMs;
  // Tunnels a peer opened before it read our GOAWAY notice still arrive until its final GOAWAY is out, and
  // a session ends only once its streams have (tunnels still dialing, which active() does not count).
  await within(sessions, deadlineMs);
  while (active() > 0 && Date.now() < until) await sleep(50);
  const forced = active();
  if (forced > 0) logger.warn('drain deadline reached; closing remaining tunnels', { forced });
  else logger.info('drained');
  outbound.closePools();
  return forced;
}

/** `p`, or nothing after `ms` (the timer does not outlive it). */
async function within(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
