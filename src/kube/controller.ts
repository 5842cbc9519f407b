// Runs N workers over a WorkQueue calling reconcile(key), with controller-runtime's outcomes:
// thrown error → rate-limited requeue; {requeueAfter} → forget + re-add later; success → forget;
// TerminalError → logged and counted, not retried. Each call gets a reconcile id, a timeout and metrics.
import { randomBytes } from 'node:crypto';
import type { Registry } from 'prom-client';
import type { Logger } from '../log/index.js';
import { silentLogger } from '../log/index.js';
import { errorMessage, isConflict } from './errors.js';
import { kubeMetrics, type KubeMetrics } from './metrics.js';
import type { Clock, TimerHandle } from './clock.js';
import { WorkQueue } from './queue.js';

/** A failure that retrying cannot fix (e.g. an invalid spec): logged and counted, never requeued. */
export class TerminalError extends Error {
  readonly name = 'TerminalError';
  readonly code = 'RECONCILE_TERMINAL';
}

export class ReconcileTimeoutError extends Error {
  readonly name = 'ReconcileTimeoutError';
  readonly code = 'RECONCILE_TIMEOUT';
}

export type ReconcileResult = void | { requeueAfter?: number };

/** What each reconcile gets: pass `signal` to every API call, log through `log` (it carries the reconcile id). */
export interface ReconcileContext {
  id: string;
  log: Logger;
  /** Fires when the reconcile times out (or the controller stops): the reconcile must stop writing. */
  signal: AbortSignal;
}

export type Reconciler = (key: string, ctx: ReconcileContext) => Promise<ReconcileResult>;

export interface ControllerOptions {
  name: string;
  reconcile: Reconciler;
  workers?: number;
  queue?: WorkQueue;
  /** Times the reconcile timeout and the queue's delays (ignored when `queue` is given: it has its own). */
  clock?: Clock;
  timeoutMs?: number;
  logger?: Logger;
  registry?: Registry;
}

export type Outcome = 'success' | 'error' | 'requeue_after' | 'terminal' | 'timeout';

export class Controller {
  readonly queue: WorkQueue;
  readonly name: string;
  private readonly log: Logger;
  private readonly metrics: KubeMetrics | undefined;
  private running: Promise<void>[] = [];
  private seq = 0;
  private readonly idPrefix = randomBytes(3).toString('hex');
  private depthTimer: NodeJS.Timeout | undefined;
  /** Signals of the reconciles in flight: stop() fires them so that a stopping controller stops writing. */
  private readonly inflight = new Set<AbortController>();
  /** Last outcome per key, for tests and status. */
  readonly counts: Record<Outcome, number> = { success: 0, error: 0, requeue_after: 0, terminal: 0, timeout: 0 };

  constructor(private readonly opts: ControllerOptions) {
    this.name = opts.name;
    this.queue = opts.queue ?? new WorkQueue({ clock: opts.clock });
    this.log = opts.logger ?? silentLogger();
    this.metrics = opts.registry ? kubeMetrics(opts.registry) : undefined;
  }

  start(): void {
    if (this.running.length) return;
    const n = this.opts.workers ?? 2;
    for (let i = 0; i < n; i++) this.running.push(this.worker());
    if (this.metrics) {
      this.depthTimer = setInterval(() => this.metrics?.queueDepth.set({ controller: this.name }, this.queue.len()), 1000);
      this.depthTimer.unref?.();
    }
  }

  /** Stops taking keys; resolves once the workers have finished their current reconcile. */
  async stop(): Promise<void> {
    this.queue.shutDown();
    if (this.depthTimer) clearInterval(this.depthTimer);
    for (const ac of this.inflight) ac.abort(new Error(`controller ${this.name} stopping`));
    await Promise.all(this.running);
    this.running = [];
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  private async worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      let still: Promise<unknown> | undefined;
      try {
        ({ still } = await this.processOne(key));
      } finally {
        // A reconcile that timed out may still be running: the key stays "processing" until it settles,
        // so it is never handed to a second worker meanwhile (this worker moves on).
        if (still) void still.then(() => this.queue.done(key), () => this.queue.done(key));
        else this.queue.done(key);
      }
    }
  }

  /** Runs one reconcile; returns the still-running reconcile if it timed out. */
  private async processOne(key: string): Promise<{ still?: Promise<unknown> }> {
    const id = `${this.idPrefix}-${(++this.seq).toString(36)}`;
    // The child logger is made only if the reconcile (or an error below) logs: most reconciles do not.
    let child: Logger | undefined;
    const logOf = () => (child ??= this.log.child({ controller: this.name, key, reconcileID: id }));
    const ac = new AbortController();
    this.inflight.add(ac);
    const timeoutMs = this.opts.timeoutMs ?? 60_000;
    let timer: TimerHandle | undefined;
    const started = process.hrtime.bigint();
    let outcome: Outcome;
    let running: Promise<ReconcileResult> | undefined;
    let timedOut = false;
    try {
      const timeout = new Promise<never>((_, rej) => {
        timer = this.queue.clock.setTimer(() => {
          timedOut = true;
          const err = new ReconcileTimeoutError(`reconcile of ${key} exceeded ${timeoutMs} ms`);
          ac.abort(err);
          rej(err);
        }, timeoutMs);
      });
      const ctx: ReconcileContext = {
        id,
        get log() {
          return logOf();
        },
        signal: ac.signal,
      };
      running = Promise.resolve().then(() => this.opts.reconcile(key, ctx));
      const res = await Promise.race([running, timeout]);
      if (res && typeof res.requeueAfter === 'number' && res.requeueAfter > 0) {
        this.queue.forget(key);
        this.queue.addAfter(key, res.requeueAfter);
        outcome = 'requeue_after';
      } else {
        this.queue.forget(key);
        outcome = 'success';
      }
    } catch (err) {
      if (err instanceof TerminalError) {
        this.queue.forget(key);
        logOf().error('reconcile failed terminally, not retrying', { error: err.message });
        outcome = 'terminal';
      } else {
        const delay = this.queue.addRateLimited(key);
        outcome = err instanceof ReconcileTimeoutError ? 'timeout' : 'error';
        // A 409 is a write against a stale cache: routine, retried once the cache catches up.
        const level = isConflict(err) ? 'info' : 'warn';
        logOf().log(level, isConflict(err) ? 'reconcile hit a conflict (stale cache), requeued' : 'reconcile failed, requeued', { error: errorMessage(err), retryInMs: delay, retries: this.queue.retries(key) });
      }
    } finally {
      timer?.cancel();
      this.inflight.delete(ac);
    }
    this.counts[outcome]++;
    if (this.metrics) {
      this.metrics.reconcileTotal.inc({ controller: this.name, result: outcome });
      this.metrics.reconcileDuration.observe({ controller: this.name }, Number(process.hrtime.bigint() - started) / 1e9);
    }
    // Wrapped: an async function would otherwise wait for the returned promise itself.
    return { still: timedOut ? running : undefined };
  }
}
