// A data-plane worker of a multi-worker gateway (node:cluster; the primary forks this file). It runs the
// tunnel port and the outbound listeners (shared with the other workers through the primary) and its own
// pools, fed routes and PEM credentials by the primary over IPC; it loads neither the Kubernetes client nor
// the Identity client. Its metrics reach the primary's /metrics through prom-client's aggregator. It exits
// after a drain the primary asks for, or when the primary goes away (the pod restarts as a whole).
import cluster from 'node:cluster';
import { createLogger, type Logger } from '../../log/index.js';
import { startGateway, type Gateway } from '../gateway.js';
import { governHeapGrowth, HEAP_GROWTH_DEFAULTS } from '../heap-growth.js';
import { GatewayMetrics } from '../metrics.js';
import { aggregatorRegistry } from '../prom.js';
import { MemoryCredentials } from '../static-source.js';
import type { RouteSnapshot, RouteSource } from '../types.js';
import { isToWorker, type FromWorker, type ToWorker } from './ipc.js';

/** How often a worker looks whether its outbound listeners are bound, until they are. */
const APPLIED_RECHECK_MS = 10;

/** Routes as the primary last sent them. */
class IpcRoutes implements RouteSource {
  private snapshot: RouteSnapshot | undefined;
  private isSynced = false;
  private listener: ((s: RouteSnapshot) => void) | undefined;

  async start(onChange: (s: RouteSnapshot) => void): Promise<void> {
    this.listener = onChange;
    if (this.snapshot) onChange(this.snapshot);
  }

  set(s: RouteSnapshot, synced: boolean): void {
    this.snapshot = s;
    this.isSynced = synced;
    this.listener?.(s);
  }

  synced(): boolean {
    return this.isSynced;
  }

  async stop(): Promise<void> {
    this.listener = undefined;
  }
}

function send(m: FromWorker): void {
  process.send?.(m);
}

class Worker {
  private readonly routes = new IpcRoutes();
  /** Credentials as the primary last sent them. */
  private readonly credentials = new MemoryCredentials(undefined);
  private gateway: Gateway | undefined;
  private logger: Logger | undefined;
  private stopGovernor: (() => void) | undefined;
  private exiting = false;
  private appliedReported = false;
  private applyTimer: NodeJS.Timeout | undefined;

  async init(m: Extract<ToWorker, { type: 'mesh:init' }>): Promise<void> {
    const logger = createLogger('gateway', { fields: { ...m.logFields, worker: String(cluster.worker?.id ?? 0) } });
    this.logger = logger;
    const metrics = new GatewayMetrics();
    // The primary asks every worker for its registry; constructing one aggregator installs the listener.
    const AggregatorRegistry = aggregatorRegistry();
    AggregatorRegistry.setRegistries([metrics.registry]);
    new AggregatorRegistry();
    this.gateway = await startGateway(m.config, { credentials: this.credentials, routes: this.routes, logger, metrics, admin: false, ticketKeys: Buffer.from(m.ticketKeys, 'base64') });
    this.stopGovernor = governHeapGrowth(() => metrics.bytesRelayed(), { ...HEAP_GROWTH_DEFAULTS, busyPercent: m.heapGrowingPercent });
    send({ type: 'mesh:listening', tunnelPort: this.gateway.tunnelPort });
    this.reportWhenApplied();
  }

  /** Tells the primary once this worker runs routes from synced watches with its listeners bound (the pod's
   * /ready waits for every worker: Ready before that let a rollout retire the old pod too early). Binds are
   * asynchronous (the primary shares each port), so it looks again shortly until they are done. */
  private reportWhenApplied(): void {
    if (this.appliedReported || !this.gateway || !this.routes.synced() || this.exiting) return;
    if (this.gateway.routesApplied()) {
      this.appliedReported = true;
      send({ type: 'mesh:routes-applied' });
      return;
    }
    this.applyTimer ??= setTimeout(() => {
      this.applyTimer = undefined;
      this.reportWhenApplied();
    }, APPLIED_RECHECK_MS);
  }

  onMessage(m: ToWorker): void {
    switch (m.type) {
      case 'mesh:init':
        this.init(m).catch((err: Error) => this.fail(err));
        return;
      case 'mesh:routes':
        this.routes.set(m.snapshot, m.synced);
        return this.reportWhenApplied();
      case 'mesh:credentials':
        return this.credentials.set(m.credentials);
      case 'mesh:drain':
        void this.drain(m.deadlineMs);
        return;
    }
  }

  private async drain(deadlineMs: number): Promise<void> {
    // No grace here (the primary kept every worker serving through it): drain() closes the listeners
    // before its first await, so the acknowledgement follows their removal from the shared handles.
    const drained = this.gateway?.drain(deadlineMs, 0);
    send({ type: 'mesh:closed' });
    const { forced } = (await drained) ?? { forced: 0 };
    this.stopGovernor?.();
    this.exiting = true;
    // Exit once the primary has the count (it logs the drain of all workers).
    if (process.send) process.send({ type: 'mesh:drained', forced } satisfies FromWorker, () => process.exit(0));
    else process.exit(0);
  }

  /** The primary is gone: nobody feeds routes or drains us any more. */
  async orphaned(): Promise<void> {
    if (this.exiting) return;
    this.logger?.error('the gateway primary went away; worker exits');
    await this.gateway?.close();
    process.exit(1);
  }

  private fail(err: Error): void {
    // EADDRINUSE and the like: the primary sees the exit and reports it.
    process.stderr.write(`gateway worker failed to start: ${err.message}\n`);
    process.exit(1);
  }
}

if (cluster.isWorker) {
  const w = new Worker();
  process.on('message', (m: unknown) => {
    if (isToWorker(m)) w.onMessage(m);
  });
  process.once('disconnect', () => void w.orphaned());
  send({ type: 'mesh:hello' });
  // The primary coordinates shutdown (a terminal's Ctrl-C reaches the whole process group).
  process.on('SIGTERM', () => {});
  process.on('SIGINT', () => {});
}
