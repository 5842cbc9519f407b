// The part every prober of a Link shares: rounds every period (±10 % jitter, so links started together
// do not probe in step), `failureThreshold` failed rounds in a row before unhealthy, one good round back.
import { realClock, type Clock, type TimerHandle } from '../kube/index.js';

export interface RoundResult {
  ok: boolean;
  message?: string;
}

export interface ThresholdOptions<R extends RoundResult> {
  periodMs: number;
  failureThreshold: number;
  clock?: Clock;
  onChange(healthy: boolean, r: R): void;
}

export abstract class ThresholdProber<R extends RoundResult> {
  private timer: TimerHandle | undefined;
  protected stopped = true;
  private misses = 0;
  protected readonly clock: Clock;
  healthy = true;
  last: R | undefined;

  constructor(private readonly threshold: ThresholdOptions<R>) {
    this.clock = threshold.clock ?? realClock;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  /** One round's best result; undefined when there was nothing to probe (counts as healthy). */
  protected abstract measure(): Promise<R | undefined>;
  /** The log line of a change of health. */
  protected abstract logChange(healthy: boolean, r: R | undefined, misses: number): void;
  /** Called once `last` holds the round's result, before its health is counted. */
  protected afterRound(_r: R | undefined): void {}

  private schedule(ms: number): void {
    if (!this.stopped) this.timer = this.clock.setTimer(() => void this.round(), ms);
  }

  private async round(): Promise<void> {
    const best = await this.measure();
    if (this.stopped) return;
    this.last = best;
    this.afterRound(best);
    if (!best || best.ok) {
      this.misses = 0;
      if (!this.healthy) {
        this.healthy = true;
        this.logChange(true, best, 0);
        if (best) this.threshold.onChange(true, best);
      }
    } else if (++this.misses >= this.threshold.failureThreshold && this.healthy) {
      this.healthy = false;
      this.logChange(false, best, this.misses);
      this.threshold.onChange(false, best);
    }
    this.schedule(this.threshold.periodMs * (0.9 + Math.random() * 0.2));
  }
}
