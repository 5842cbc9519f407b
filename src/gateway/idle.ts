// Idle tunnels, found by one coarse timer per gateway side instead of a timeout per socket: Node refreshes a
// socket's timeout on every read and write (a timer-list update per chunk, both ends of both hops, ~8 % of
// a small round trip's CPU), while a tunnel's byte counters move anyway. Each tick compares them with the
// last tick; a tunnel whose counters stood still for the timeout is closed. Precision: the timeout plus at
// most one tick (a quarter of the timeout, at most 1 s).

export interface ByteCounts {
  up: number;
  down: number;
}

interface Watched {
  counts: ByteCounts;
  seen: number;
  since: number;
  onIdle: () => void;
}

export class IdleSweep {
  private readonly watched = new Set<Watched>();
  private timer: NodeJS.Timeout | undefined;
  private readonly tickMs: number;

  constructor(private readonly timeoutMs: number) {
    this.tickMs = Math.max(10, Math.min(1_000, Math.floor(timeoutMs / 4)));
  }

  /** Calls `onIdle` once when `counts` stand still for the timeout; the returned function stops watching. */
  watch(counts: ByteCounts, onIdle: () => void): () => void {
    const w: Watched = { counts, seen: counts.up + counts.down, since: performance.now(), onIdle };
    this.watched.add(w);
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.tickMs);
      // Never what keeps a process alive.
      this.timer.unref();
    }
    return () => this.unwatch(w);
  }

  get size(): number {
    return this.watched.size;
  }

  private unwatch(w: Watched): void {
    this.watched.delete(w);
    if (this.watched.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private tick(): void {
    const now = performance.now();
    for (const w of this.watched) {
      const n = w.counts.up + w.counts.down;
      if (n !== w.seen) {
        w.seen = n;
        w.since = now;
      } else if (now - w.since >= this.timeoutMs) {
        this.unwatch(w);
        w.onIdle();
      }
    }
  }
}
