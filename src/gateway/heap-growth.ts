// V8's old-generation growth for the gateway process, following the byte rate. Every relayed chunk is a new
// Buffer. With V8's default growth for a heap this small (~15 MB live), bulk traffic started a full
// mark-compact about every 30 MB relayed (20-60 a second, a quarter of both hops' CPU in the bulk bench; GC
// flags say allocation limit, not external-memory pressure). A bare relay with a 5 MB heap had none, the
// same relay holding 14 MB of ballast had them too. Letting the old generation grow 5x before the next one
// ended that (CPU per MB about -30 %) but also keeps the setup garbage of idle tunnels longer (a few KB of
// RSS each), so the wide growth applies only while bytes flow fast, and V8's own heuristics otherwise.
// It switches on within one short sample (100 ms) of a burst and off only after 10 s of quiet. Sampled every
// 250 ms, the first bulk transfer after idle ran 2-6 full GCs across both hops before the switch (--trace-gc,
// 0 at 100 ms); the hold keeps bursts a moment apart from switching it on and off each time.
import v8 from 'node:v8';

export interface HeapGrowthOptions {
  /** Growth while busy, as V8's --heap-growing-percent (400 = the limit is 5x the live size); 0 = never. */
  busyPercent: number;
  /** Bytes per second (both directions, all tunnels) from which the process counts as busy. */
  busyBytesPerSecond: number;
  /** Back to V8's own growth below this rate (hysteresis, so a rate near the threshold does not flap)… */
  quietBytesPerSecond: number;
  /** …once it has stayed below it this long. */
  quietHoldMs: number;
}

export const HEAP_GROWTH_DEFAULTS: HeapGrowthOptions = { busyPercent: 400, busyBytesPerSecond: 32 * 1024 * 1024, quietBytesPerSecond: 4 * 1024 * 1024, quietHoldMs: 10_000 };

/** How often the byte rate is sampled: the delay before a burst gets the wide growth. */
export const HEAP_GROWTH_SAMPLE_MS = 100;

/** The growth percent for the next interval (0 = V8's own), given the current one, the byte rate and how
 * long the rate has been below the quiet one. */
export function nextHeapGrowth(current: number, bytesPerSecond: number, quietForMs: number, o: HeapGrowthOptions): number {
  if (o.busyPercent <= 0) return 0;
  if (bytesPerSecond >= o.busyBytesPerSecond) return o.busyPercent;
  if (bytesPerSecond < o.quietBytesPerSecond && quietForMs >= o.quietHoldMs) return 0;
  return current;
}

/** Sets V8's flag when the decision changes (V8 reads it at each limit computation, so a change applies
 * from the next GC on). */
export class HeapGrowthGovernor {
  private last: number;
  private current = 0;
  private quietForMs = 0;

  constructor(
    private readonly bytesRelayed: () => number,
    private readonly o: HeapGrowthOptions,
    private readonly apply: (percent: number) => void = setHeapGrowing,
  ) {
    this.last = bytesRelayed();
  }

  /** One sample: the bytes relayed since the previous one, over `elapsedMs`. */
  sample(elapsedMs: number): void {
    const now = this.bytesRelayed();
    const rate = ((now - this.last) * 1000) / elapsedMs;
    this.quietForMs = rate < this.o.quietBytesPerSecond ? this.quietForMs + elapsedMs : 0;
    const next = nextHeapGrowth(this.current, rate, this.quietForMs, this.o);
    this.last = now;
    if (next !== this.current) this.apply((this.current = next));
  }

  /** Back to V8's own growth. */
  stop(): void {
    if (this.current !== 0) this.apply((this.current = 0));
  }
}

/** Samples every `intervalMs` until the returned function is called. */
export function governHeapGrowth(bytesRelayed: () => number, o: HeapGrowthOptions, intervalMs = HEAP_GROWTH_SAMPLE_MS): () => void {
  const governor = new HeapGrowthGovernor(bytesRelayed, o);
  const timer = setInterval(() => governor.sample(intervalMs), intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    governor.stop();
  };
}

function setHeapGrowing(percent: number): void {
  v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
}
