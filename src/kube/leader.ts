// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection: the holder renews every
// retryPeriod; others take over once renewTime + leaseDuration has passed. Writes use the Lease's
// resourceVersion, so two candidates can never both win a round. A holder that cannot renew within
// renewDeadline steps down (calls onStoppedLeading) before anyone else may take over.
import type { Logger } from '../log/index.js';
import { silentLogger } from '../log/index.js';
import type { KubeClient, KubeObject } from './client.js';
import { resourcePath } from './client.js';
import { realClock, type Clock, type TimerHandle } from './clock.js';
import { errorMessage, isConflict, isNotFound } from './errors.js';

export interface LeaderElectorOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading?: () => void;
  onStoppedLeading?: () => void;
  onNewLeader?: (identity: string) => void;
  logger?: Logger;
  clock?: Clock;
}

interface Lease extends KubeObject {
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  private leading = false;
  private lastRenew = 0;
  private timer: TimerHandle | undefined;
  private stopped = true;
  private observedHolder = '';
  private readonly log: Logger;
  private readonly leaseMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;
  private readonly clock: Clock;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: LeaderElectorOptions,
  ) {
    this.log = opts.logger ?? silentLogger();
    this.clock = opts.clock ?? realClock;
    this.leaseMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryMs = opts.retryPeriodMs ?? 2_000;
  }

  isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.tick();
  }

  /** Stops renewing; if leading, releases the Lease (holder cleared) so a peer takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    if (this.leading) {
      this.setLeading(false);
      try {
        const lease = await this.client.get<Lease>(this.path());
        if (lease.spec?.holderIdentity === this.opts.identity) {
          await this.client.replace(this.path(), { ...lease, spec: { ...lease.spec, holderIdentity: '', renewTime: microTime(this.clock.now() - this.leaseMs) } });
        }
      } catch (err) {
        this.log.warn('could not release lease', { lease: this.opts.name, error: errorMessage(err) });
      }
    }
  }

  private path(name?: string): string {
    return resourcePath({ group: 'coordination.k8s.io', version: 'v1', plural: 'leases', namespace: this.opts.namespace, name: name ?? this.opts.name });
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.tryAcquireOrRenew();
    } catch (err) {
      this.log.warn('lease round failed', { lease: this.opts.name, error: errorMessage(err) });
    }
    if (this.leading && this.clock.now() - this.lastRenew > this.renewDeadlineMs) {
      this.log.warn('could not renew lease within the deadline, stepping down', { lease: this.opts.name });
      this.setLeading(false);
    }
    if (this.stopped) return;
    this.timer = this.clock.setTimer(() => void this.tick(), this.retryMs * (this.leading ? 1 : 0.8 + Math.random() * 0.4));
  }

  private async tryAcquireOrRenew(): Promise<void> {
    const now = this.clock.now();
    let lease: Lease | undefined;
    try {
      lease = await this.client.get<Lease>(this.path());
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const spec = {
      holderIdentity: this.opts.identity,
      leaseDurationSeconds: Math.ceil(this.leaseMs / 1000),
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    if (!lease) {
      try {
        await this.client.create(this.path(''), {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.opts.name, namespace: this.opts.namespace },
          spec,
        });
      } catch (err) {
        if (isConflict(err)) return; // someone else created it first
        throw err;
      }
      this.renewed(now);
      return;
    }
    const holder = lease.spec?.holderIdentity ?? '';
    if (holder !== this.observedHolder) {
      this.observedHolder = holder;
      if (holder) this.opts.onNewLeader?.(holder);
    }
    const renewMs = lease.spec?.renewTime ? Date.parse(lease.spec.renewTime) : 0;
    const durMs = (lease.spec?.leaseDurationSeconds ?? Math.ceil(this.leaseMs / 1000)) * 1000;
    const mine = holder === this.opts.identity;
    if (!mine && holder && renewMs + durMs > now) {
      if (this.leading) this.setLeading(false);
      return;
    }
    const next: Lease = {
      ...lease,
      spec: {
        ...spec,
        acquireTime: mine ? (lease.spec?.acquireTime ?? spec.acquireTime) : spec.acquireTime,
        leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + (mine ? 0 : 1),
      },
    };
    try {
      await this.client.replace(this.path(), next);
    } catch (err) {
      if (isConflict(err)) return;
      throw err;
    }
    this.renewed(now);
  }

  private renewed(now: number): void {
    // A round that was in flight when stop() ran must not make the stopped elector lead again.
    if (this.stopped) return;
    this.lastRenew = now;
    if (this.observedHolder !== this.opts.identity) {
      this.observedHolder = this.opts.identity;
      this.opts.onNewLeader?.(this.opts.identity);
    }
    if (!this.leading) this.setLeading(true);
  }

  private setLeading(v: boolean): void {
    if (this.leading === v) return;
    this.leading = v;
    this.log.info(v ? 'became leader' : 'lost leadership', { lease: this.opts.name, identity: this.opts.identity });
    if (v) this.opts.onStartedLeading?.();
    else this.opts.onStoppedLeading?.();
  }
}
