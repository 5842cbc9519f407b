// The primary of a multi-worker gateway (`mesh gateway --workers N`, node:cluster): the control plane.
// It holds the Kubernetes watches (or the route file) and the credentials (Identity client or files), serves
// the admin port with every worker's metrics aggregated, and forks N data-plane workers (worker.ts), each fed
// the route snapshot and PEM credentials over IPC. The workers share the tunnel port and the outbound
// listeners (the cluster's listening handles). Invariants:
// - every live worker has the latest snapshot and credentials (sent at fork and on every change);
// - a worker that exits outside a drain is replaced, its siblings and their tunnels untouched; repeated
//   crashes are spaced out (RESTART_DELAY_MS after RESTART_BURST within RESTART_WINDOW_MS);
// - /ready is 200 only with credentials, synced routes, every worker listening and every worker running
//   routes from synced watches with its outbound listeners bound;
// - SIGTERM: /ready 503 at once and every port served through the grace; then all workers stop accepting
//   (the primary logs it once each has confirmed), their tunnels finish up to the deadline, they exit;
//   workers still there after the deadline plus KILL_MARGIN_MS are killed.
import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../log/index.js';
import { listenAdmin } from '../admin.js';
import { GatewayConfigSchema, type GatewayConfig, type GatewayConfigInput } from '../config.js';
import { GatewayError } from '../errors.js';
import type { RunningGateway } from '../main.js';
import type { CredentialSource, RouteSnapshot, RouteSource } from '../types.js';
import { aggregatorRegistry } from '../prom.js';
import { isFromWorker, type FromWorker, type ToWorker } from './ipc.js';

const RESTART_BURST = 5;
const RESTART_WINDOW_MS = 10_000;
const RESTART_DELAY_MS = 1_000;
const KILL_MARGIN_MS = 5_000;

export interface PrimaryOptions {
  config: GatewayConfigInput;
  workers: number;
  credentials: CredentialSource;
  routes: RouteSource;
  logger: Logger;
  heapGrowingPercent: number;
}

/** Each worker's share of the process-wide limits. */
export function workerConfig(c: GatewayConfig, workers: number): GatewayConfig {
  return { ...c, maxInboundConnections: Math.max(1, Math.ceil(c.maxInboundConnections / workers)), maxTunnels: Math.max(1, Math.ceil(c.maxTunnels / workers)) };
}

class Primary {
  private snapshot: RouteSnapshot | undefined;
  private readonly listening = new Map<number, number>();
  /** Workers that run routes from synced watches with their listeners bound. */
  private readonly routed = new Set<number>();
  private readonly ticketKeys = randomBytes(48).toString('base64');
  private readonly restarts: number[] = [];
  private readonly config: GatewayConfig;
  private readonly perWorker: GatewayConfig;
  private draining = false;
  private started = false;
  private onStarted: ((err?: Error) => void) | undefined;
  /** Workers asked to stop accepting that have not confirmed it yet. */
  private closing: Set<number> | undefined;

  constructor(private readonly o: PrimaryOptions) {
    this.config = GatewayConfigSchema.parse(o.config);
    this.perWorker = workerConfig(this.config, o.workers);
  }

  async start(): Promise<{ tunnelPort: number }> {
    // The workers accept their own connections. Node's default on Linux (SCHED_RR: the primary accepts and
    // hands each connection over IPC) cost 2-4x the CPU per new connection and halved their rate in the
    // bench (bench/RESULTS.md); NODE_CLUSTER_SCHED_POLICY=rr still selects it.
    if (process.env.NODE_CLUSTER_SCHED_POLICY === undefined) cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({ exec: fileURLToPath(new URL('./worker.js', import.meta.url)), args: [] });
    cluster.on('exit', (w, code, signal) => this.onExit(w, code, signal));
    const up = new Promise<void>((resolve, reject) => {
      this.onStarted = (err) => (err ? reject(err) : resolve());
    });
    // Credentials before the first fork: the first certificate may arrive while workers start, after a
    // worker was welcomed without one; each worker gets every change from here on, and the latest at hello.
    this.o.credentials.onChange((c) => this.broadcast({ type: 'mesh:credentials', credentials: c }));
    for (let i = 0; i < this.o.workers; i++) this.fork();
    await up;
    this.started = true;
    // Routes after the workers: each gets every snapshot from here on, and the latest at fork.
    await this.o.routes.start((s) => {
      this.snapshot = s;
      this.broadcast({ type: 'mesh:routes', snapshot: s, synced: this.o.routes.synced() });
    });
    return { tunnelPort: [...this.listening.values()][0] ?? this.config.tunnelPort };
  }

  private fork(): void {
    const w = cluster.fork({ MESH_GATEWAY_WORKER: '1' });
    w.on('message', (m: unknown) => {
      if (isFromWorker(m)) this.onMessage(w, m);
    });
  }

  /** The worker listens: its configuration, then the latest credentials and routes. */
  private welcome(w: Worker): void {
    const send = (m: ToWorker) => w.send(m);
    send({ type: 'mesh:init', config: this.perWorker, ticketKeys: this.ticketKeys, heapGrowingPercent: this.o.heapGrowingPercent, logFields: { cluster: this.config.clusterName, ...(process.env.POD_NAME ? { pod: process.env.POD_NAME } : {}) } });
    const c = this.o.credentials.current();
    if (c) send({ type: 'mesh:credentials', credentials: c });
    if (this.snapshot) send({ type: 'mesh:routes', snapshot: this.snapshot, synced: this.o.routes.synced() });
  }

  private onMessage(w: Worker, m: FromWorker): void {
    if (m.type === 'mesh:hello') {
      this.welcome(w);
    } else if (m.type === 'mesh:listening') {
      this.listening.set(w.id, m.tunnelPort);
      if (!this.started && this.listening.size >= this.o.workers) this.onStarted?.();
    } else if (m.type === 'mesh:routes-applied') {
      this.routed.add(w.id);
    } else if (m.type === 'mesh:closed') {
      this.closing?.delete(w.id);
    } else if (m.forced > 0) {
      this.o.logger.warn('worker drain deadline reached; tunnels closed', { worker: w.id, forced: m.forced });
    }
  }

  private onExit(w: Worker, code: number | null, signal: string | null): void {
    this.listening.delete(w.id);
    this.routed.delete(w.id);
    if (this.draining) return;
    if (!this.started) {
      this.onStarted?.(new GatewayError('BAD_CONFIG', `gateway worker ${w.id} exited while starting (code ${String(code)}${signal ? `, ${signal}` : ''}); its stderr says why`));
      this.draining = true;
      for (const x of Object.values(cluster.workers ?? {})) x?.process.kill('SIGKILL');
      return;
    }
    const now = Date.now();
    while (this.restarts.length && this.restarts[0]! < now - RESTART_WINDOW_MS) this.restarts.shift();
    this.restarts.push(now);
    const delay = this.restarts.length > RESTART_BURST ? RESTART_DELAY_MS : 0;
    this.o.logger.error('gateway worker exited; starting a replacement (the other workers keep their tunnels)', { worker: w.id, code, signal, delayMs: delay });
    setTimeout(() => {
      if (!this.draining) this.fork();
    }, delay);
  }

  private broadcast(m: ToWorker): void {
    for (const w of Object.values(cluster.workers ?? {})) if (w?.isConnected()) w.send(m);
  }

  notReady(): string[] {
    const missing: string[] = [];
    if (this.draining) missing.push('draining (terminating)');
    if (!this.o.credentials.current()) missing.push('no identity (certificate) loaded');
    if (!this.o.routes.synced()) missing.push('watches not synced');
    if (this.listening.size < this.o.workers) missing.push(`${this.listening.size} of ${this.o.workers} workers listening`);
    else if (this.routed.size < this.o.workers) missing.push(`${this.routed.size} of ${this.o.workers} workers have applied the synced routes`);
    return missing;
  }

  /** /ready 503 and every port still served through the grace; then every worker stops accepting and
   * drains; stragglers are killed after the deadline. */
  async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    const { drainTimeoutMs: deadlineMs, drainGraceMs: graceMs } = this.config;
    const live = () => Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    this.o.logger.info('draining', { workers: live().length, graceMs, deadlineMs });
    if (graceMs > 0) await sleep(graceMs);
    const closing = new Set(live().map((w) => w.id));
    this.closing = closing;
    this.broadcast({ type: 'mesh:drain', deadlineMs });
    const until = Date.now() + deadlineMs + KILL_MARGIN_MS;
    while (live().some((w) => closing.has(w.id)) && Date.now() < until) await sleep(20);
    this.o.logger.info('drain grace over; no longer accepting', { workers: live().length });
    while (live().length > 0 && Date.now() < until) await sleep(50);
    for (const w of live()) {
      this.o.logger.warn('worker did not exit after its drain; killing it', { worker: w.id });
      w.process.kill('SIGKILL');
    }
    this.o.logger.info('drained');
  }
}

export async function runPrimary(o: PrimaryOptions): Promise<RunningGateway> {
  const primary = new Primary(o);
  const c = GatewayConfigSchema.parse(o.config);
  // Every worker's registry on request: one AggregatorRegistry in the primary collects them over IPC.
  const aggregator = new (aggregatorRegistry())();
  const admin = await listenAdmin({
    registry: { metrics: () => aggregator.clusterMetrics(), contentType: aggregator.contentType },
    notReady: () => primary.notReady(),
  }, c.adminPort, c.host);
  const adminPort = admin.port;
  let tunnelPort: number;
  try {
    ({ tunnelPort } = await primary.start());
  } catch (err) {
    void admin.close();
    throw err;
  }
  o.logger.info('gateway started', { cluster: c.clusterName, host: c.host, tunnelPort, adminPort, workers: o.workers, outboundRange: `${c.outboundPorts.min}-${c.outboundPorts.max}`, transport: c.defaultTransport });
  let stopping: Promise<void> | undefined;
  return {
    logger: o.logger,
    tunnelPort,
    adminPort,
    stop: () =>
      (stopping ??= (async () => {
        await primary.drain();
        o.credentials.stop?.();
        await o.routes.stop();
        await admin.close();
      })()),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
