// V8's old-generation growth for the gateway process, following the byte rate. Every relayed chunk is a new
// Buffer. With V8's default growth for a heap this small (~15 MB live), bulk traffic started a full
// mark-compact about every 30 MB relayed (20-60 a second, a quarter of both hops' CPU in the bulk bench; GC
// flags say allocation limit, not external-memory pressure). A bare relay with a 5 MB heap had none, the
// same relay holding 14 MB of ballast had them too. Letting the old generation grow 5x before the next one
// ended that (CPU per MB about -30 %) but also keeps the setup garbage of idle tunnels longer (a few KB of
// RSS each), so the wide growth applies only while bytes flow fast, and V8's own heuristics otherwise.
import v8 from 'node:v8';

export interface HeapGrowthOptions {
  /** Growth while busy, as V8's --heap-growing-percent (400 = the limit is 5x the live size); 0 = never. */
  busyPercent: number;
  /** Bytes per second (both directions, all tunnels) from which the process counts as busy. */
  busyBytesPerSecond: number;
  /** Back to V8's own growth below this rate (hysteresis, so a rate near the threshold does not flap). */
  quietBytesPerSecond: number;
}

export const HEAP_GROWTH_DEFAULTS: HeapGrowthOptions = { busyPercent: 400, busyBytesPerSecond: 32 * 1024 * 1024, quietBytesPerSecond: 4 * 1024 * 1024 };

/** The growth percent for the next interval (0 = V8's own), given the current one and the byte rate. */
export function nextHeapGrowth(current: number, bytesPerSecond: number, o: HeapGrowthOptions): number {
  if (o.busyPercent <= 0) return 0;
  if (bytesPerSecond >= o.busyBytesPerSecond) return o.busyPercent;
  if (bytesPerSecond < o.quietBytesPerSecond) return 0;
  return current;
}

/** Sets V8's flag when the decision changes (V8 reads it at each limit computation, so a change applies
 * from the next GC on). */
export class HeapGrowthGovernor {
  private last: number;
  private current = 0;

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
    const next = nextHeapGrowth(this.current, ((now - this.last) * 1000) / elapsedMs, this.o);
    this.last = now;
    if (next !== this.current) this.apply((this.current = next));
  }

  /** Back to V8's own growth. */
  stop(): void {
    if (this.current !== 0) this.apply((this.current = 0));
  }
}

/** Samples every `intervalMs` until the returned function is called. */
export function governHeapGrowth(bytesRelayed: () => number, o: HeapGrowthOptions, intervalMs = 250): () => void {
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
