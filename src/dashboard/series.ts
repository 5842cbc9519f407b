// Time series in bounded memory: each series is a fixed-size ring of (time, value) pairs sized for the
// window, and the store keeps at most `maxSeries` of them, dropping the one updated longest ago first. So
// the dashboard's memory does not grow with how long it runs or with what a gateway reports.
import type { Series } from './model.js';

export class Ring {
  private readonly t: Float64Array;
  private readonly v: Float64Array;
  private start = 0;
  private len = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ring capacity must be a positive integer, got ${capacity}`);
    this.t = new Float64Array(capacity);
    this.v = new Float64Array(capacity);
  }

  push(time: number, value: number): void {
    const i = (this.start + this.len) % this.capacity;
    this.t[i] = time;
    this.v[i] = value;
    if (this.len < this.capacity) this.len++;
    else this.start = (this.start + 1) % this.capacity;
  }

  get size(): number {
    return this.len;
  }

  last(): { t: number; v: number } | undefined {
    if (this.len === 0) return undefined;
    const i = (this.start + this.len - 1) % this.capacity;
    return { t: this.t[i], v: this.v[i] };
  }

  /** Points at or after `since`, oldest first. */
  since(since: number): Series {
    const out: Series = { t: [], v: [] };
    for (let k = 0; k < this.len; k++) {
      const i = (this.start + k) % this.capacity;
      if (this.t[i] < since) continue;
      out.t.push(this.t[i]);
      out.v.push(this.v[i]);
    }
    return out;
  }

  /** Sum of the values at or after `since`. */
  sumSince(since: number): number {
    let s = 0;
    for (let k = 0; k < this.len; k++) {
      const i = (this.start + k) % this.capacity;
      if (this.t[i] >= since) s += this.v[i];
    }
    return s;
  }
}

export interface SeriesStoreOptions {
  /** Points kept per series (window / sample interval, plus one). */
  capacity: number;
  /** Series kept at most; beyond it the one updated longest ago is dropped. */
  maxSeries: number;
}

export class SeriesStore {
  // A Map iterates in insertion order; re-inserting on every push keeps the least recently updated first.
  private readonly rings = new Map<string, Ring>();

  constructor(private readonly o: SeriesStoreOptions) {}

  push(key: string, time: number, value: number): void {
    let r = this.rings.get(key);
    if (r) this.rings.delete(key);
    else r = new Ring(this.o.capacity);
    r.push(time, value);
    this.rings.set(key, r);
    while (this.rings.size > this.o.maxSeries) {
      const oldest = this.rings.keys().next().value;
      if (oldest === undefined) break;
      this.rings.delete(oldest);
    }
  }

  get(key: string): Ring | undefined {
    return this.rings.get(key);
  }

  since(key: string, since: number): Series {
    return this.rings.get(key)?.since(since) ?? { t: [], v: [] };
  }

  /** Keys under a prefix (e.g. every refusal reason of one row). */
  keysWithPrefix(prefix: string): string[] {
    return [...this.rings.keys()].filter((k) => k.startsWith(prefix));
  }

  get size(): number {
    return this.rings.size;
  }

  /** Points held in all series together (for the memory bound's test). */
  points(): number {
    let n = 0;
    for (const r of this.rings.values()) n += r.size;
    return n;
  }
}
