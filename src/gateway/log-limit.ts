// Rate-limited refusal logs. A refusal is something a peer causes, so without a limit one client decides how
// much the gateway writes: 100,000 refused CONNECTs wrote 44 MB of logs and, through the stderr pipe's
// buffer, grew the process by tens of MB (issue 17). Each kind of line has a token bucket; a line over
// the limit is counted (by reason, a bounded set) instead of written, and one summary line per kind says
// how many were left out, at most every `summaryEveryMs`. Counts stay exact in gateway_refused_total.
import type { Logger } from '../log/index.js';

export interface LogLimitOptions {
  /** Lines a kind may write at once after a quiet period. */
  burst: number;
  /** Sustained lines per second per kind. */
  perSecond: number;
  /** How often a summary of the suppressed lines is written while lines are being suppressed. */
  summaryEveryMs: number;
  now?: () => number;
}

/** 20 at once, then one a second: a person reading the log sees every kind of refusal and its rate. */
export const REFUSAL_LOG_DEFAULTS: LogLimitOptions = { burst: 20, perSecond: 1, summaryEveryMs: 10_000 };

interface Bucket {
  tokens: number;
  at: number;
  /** Suppressed lines by reason since the last summary. */
  suppressed: Map<string, number>;
  since: number;
}

export class RateLimitedLog<Kind extends string> {
  private readonly buckets = new Map<Kind, Bucket>();
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly o: LogLimitOptions = REFUSAL_LOG_DEFAULTS,
  ) {
    this.now = o.now ?? Date.now;
  }

  /** Writes `message` at warn level unless `kind` is over its rate; then counts it under `reason`. */
  warn(kind: Kind, reason: string, message: string, fields: Record<string, unknown>): void {
    const b = this.bucket(kind);
    const t = this.now();
    b.tokens = Math.min(this.o.burst, b.tokens + ((t - b.at) / 1000) * this.o.perSecond);
    b.at = t;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      this.logger.warn(message, fields);
      return;
    }
    if (b.suppressed.size === 0) b.since = t;
    b.suppressed.set(reason, (b.suppressed.get(reason) ?? 0) + 1);
    this.schedule();
  }

  /** Suppressed lines not yet reported, by kind (tests). */
  pending(kind: Kind): number {
    let n = 0;
    for (const v of this.buckets.get(kind)?.suppressed.values() ?? []) n += v;
    return n;
  }

  /** Writes one summary line per kind that suppressed lines since the last one. */
  flush(): void {
    const t = this.now();
    for (const [kind, b] of this.buckets) {
      if (b.suppressed.size === 0) continue;
      const byReason = Object.fromEntries([...b.suppressed].sort((x, y) => y[1] - x[1]));
      const suppressed = Object.values(byReason).reduce((a, n) => a + n, 0);
      this.logger.warn('log lines suppressed (rate limit); every refusal is still counted in gateway_refused_total', { kind, suppressed, byReason, seconds: Math.round((t - b.since) / 1000) });
      b.suppressed.clear();
    }
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.flush();
  }

  private bucket(kind: Kind): Bucket {
    let b = this.buckets.get(kind);
    if (!b) this.buckets.set(kind, (b = { tokens: this.o.burst, at: this.now(), suppressed: new Map(), since: 0 }));
    return b;
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.o.summaryEveryMs);
    // A summary never keeps the process alive (stop() writes the last one).
    this.timer.unref();
  }
}
