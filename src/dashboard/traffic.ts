// Traffic from the gateways' counters, sampled: per Link (the source cluster's outbound tunnels to the
// target) and per exported Service (the exporting cluster's inbound tunnels to it). Counters become rates
// from one sample to the next, per pod (a restarted pod's counters start again at zero), summed over pods.
import { histogramQuantile, type GatewayScrape } from './prom.js';
import { SeriesStore } from './series.js';
import type { LinkView, ExportView, TrafficRow, TrafficResponse } from './model.js';

export interface TrafficOptions {
  intervalMs: number;
  windowMs: number;
  maxSeries?: number;
}

export const linkRowId = (source: string, target: string): string => `link:${source}>${target}`;
export const serviceRowId = (cluster: string, ns: string, name: string): string => `svc:${cluster}/${ns}/${name}`;

interface Tick {
  requests: Map<string, number>;
  connections: Map<string, number>;
  bytes: Map<string, number>;
  refused: Map<string, Map<string, number>>;
  active: Map<string, number>;
  /** Bucket deltas of gateway_connect_seconds per row: le → count. */
  connect: Map<string, Map<number, number>>;
}

const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);

/** Previous counter values per (pod, series) are kept; beyond this a cluster's are forgotten and rebuilt. */
const MAX_PREVIOUS = 50_000;

export class TrafficBook {
  readonly store: SeriesStore;
  private readonly prev = new Map<string, Map<string, number>>();
  private readonly lastTick = new Map<string, number>();
  private readonly rows = new Map<string, Set<string>>();
  private readonly active = new Map<string, number>();
  private readonly p95 = new Map<string, number | null>();
  version = 0;

  constructor(readonly o: TrafficOptions) {
    this.store = new SeriesStore({ capacity: Math.ceil(o.windowMs / o.intervalMs) + 1, maxSeries: o.maxSeries ?? 4000 });
  }

  /**
   * One sample of one cluster: each gateway pod's scrape, the controller's latest probe latency per link
   * target (from Link status), and the rows this cluster's gateways measure (its exports through the
   * gateways). Pods missing from `scrapes` are forgotten.
   */
  record(cluster: string, now: number, scrapes: Map<string, GatewayScrape>, probeMs: Map<string, number | undefined>, rows: string[] = []): void {
    const last = this.lastTick.get(cluster);
    this.lastTick.set(cluster, now);
    const tick: Tick = { requests: new Map(), connections: new Map(), bytes: new Map(), refused: new Map(), active: new Map(), connect: new Map() };
    const prevOfCluster = this.prev.get(cluster) ?? new Map<string, number>();
    const next = new Map<string, number>();
    for (const [pod, s] of scrapes) this.tallyPod(cluster, pod, s, prevOfCluster, next, tick);
    this.prev.set(cluster, next.size > MAX_PREVIOUS ? new Map() : next);
    for (const [row, n] of tick.active) this.active.set(row, n);
    const known = this.rows.get(cluster) ?? new Set<string>();
    for (const row of [...tick.requests.keys(), ...tick.bytes.keys(), ...tick.active.keys(), ...tick.refused.keys()]) known.add(row);
    for (const target of probeMs.keys()) known.add(linkRowId(cluster, target));
    // Rows with no traffic yet (a gateway exposes a label set only once used) are zero, not unknown.
    if (scrapes.size > 0) for (const row of rows) known.add(row);
    this.rows.set(cluster, known);
    for (const row of known) if (!tick.active.has(row)) this.active.set(row, 0);
    if (last !== undefined && now > last) this.push(now, (now - last) / 1000, tick, known, probeMs);
    this.version++;
  }

  private tallyPod(cluster: string, pod: string, s: GatewayScrape, prev: Map<string, number>, next: Map<string, number>, tick: Tick): void {
    // A pod seen in the previous sample: a series new since then counts from zero. A pod seen for the first
    // time: its counters are history before the dashboard looked, not traffic in this interval.
    const podKnown = prev.has(`${pod}\0`);
    next.set(`${pod}\0`, 1);
    const delta = (metric: string, labels: Record<string, string>, value: number): number => {
      const key = `${pod}\0${metric}\0${Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',')}`;
      const before = prev.get(key);
      next.set(key, value);
      if (before === undefined) return podKnown ? value : 0;
      return value >= before ? value - before : value;
    };
    const rowOf = (l: { direction: string; remote_cluster: string; namespace: string; service: string }): string | undefined =>
      l.direction === 'outbound' ? (l.remote_cluster ? linkRowId(cluster, l.remote_cluster) : undefined) : l.service ? serviceRowId(cluster, l.namespace, l.service) : undefined;
    for (const x of s.streamsOpened) {
      const d = delta('opened', x.labels, x.value);
      const row = rowOf(x.labels);
      if (row) add(tick.requests, row, d);
    }
    for (const x of s.bytes) {
      const d = delta('bytes', x.labels, x.value);
      const row = rowOf(x.labels);
      if (row) add(tick.bytes, row, d);
    }
    for (const x of s.connections) {
      const d = delta('conns', x.labels, x.value);
      if (x.labels.direction === 'outbound' && x.labels.remote_cluster) add(tick.connections, linkRowId(cluster, x.labels.remote_cluster), d);
    }
    for (const x of s.refused) {
      const d = delta('refused', x.labels, x.value);
      const row = rowOf(x.labels);
      if (!row || d <= 0) continue;
      const m = tick.refused.get(row) ?? new Map<string, number>();
      add(m, x.labels.reason, d);
      tick.refused.set(row, m);
    }
    for (const x of s.streamsActive) {
      const row = rowOf(x.labels);
      if (row) add(tick.active, row, x.value);
    }
    for (const x of s.connectBuckets) {
      const d = delta('connect', x.labels, x.value);
      const le = x.labels.le === '+Inf' ? Infinity : Number(x.labels.le);
      const row = rowOf(x.labels);
      if (Number.isNaN(le) || !row) continue;
      const m = tick.connect.get(row) ?? new Map<number, number>();
      m.set(le, (m.get(le) ?? 0) + d);
      tick.connect.set(row, m);
    }
  }

  private push(now: number, dtSec: number, tick: Tick, rows: Set<string>, probeMs: Map<string, number | undefined>): void {
    const quantiles = (m: Map<number, number>) => {
      const buckets = [...m].map(([le, count]) => ({ le, count }));
      const ms = (x: number | null) => (x === null ? null : x * 1000);
      return { p50: ms(histogramQuantile(0.5, buckets)), p95: ms(histogramQuantile(0.95, buckets)) };
    };
    for (const row of rows) {
      this.store.push(`${row}|requests`, now, (tick.requests.get(row) ?? 0) / dtSec);
      this.store.push(`${row}|connections`, now, (tick.connections.get(row) ?? 0) / dtSec);
      this.store.push(`${row}|bytes`, now, (tick.bytes.get(row) ?? 0) / dtSec);
      for (const [reason, n] of tick.refused.get(row) ?? []) this.store.push(`${row}|refused|${reason}`, now, n);
      if (row.startsWith('link:')) {
        const probe = probeMs.get(row.slice(row.indexOf('>') + 1));
        if (probe !== undefined) this.store.push(`${row}|probe`, now, probe);
      }
      const q = quantiles(tick.connect.get(row) ?? new Map());
      if (q.p50 !== null) {
        this.store.push(`${row}|latency`, now, q.p50);
        this.p95.set(row, q.p95);
      }
    }
  }

  private row(id: string, kind: TrafficRow['kind'], title: string, measuredIn: string, now: number, windowMs: number, latencySource: string): TrafficRow {
    const since = now - windowMs;
    const latest = (k: string) => {
      const r = this.store.get(`${id}|${k}`);
      return r && r.size > 0 ? (r.last()?.v ?? null) : null;
    };
    const refusals: Record<string, number> = {};
    for (const key of this.store.keysWithPrefix(`${id}|refused|`)) {
      const n = this.store.get(key)?.sumSince(since) ?? 0;
      if (n > 0) refusals[key.slice(`${id}|refused|`.length)] = n;
    }
    const latency = this.store.since(`${id}|latency`, since);
    const sorted = [...latency.v].sort((a, b) => a - b);
    const q = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : null);
    return {
      id,
      kind,
      title,
      measuredIn,
      requestsPerSec: latest('requests'),
      connectionsPerSec: latest('connections'),
      bytesPerSec: latest('bytes'),
      activeTunnels: this.active.get(id) ?? null,
      refusals,
      latencyMs: { p50: q(0.5), p95: this.p95.get(id) ?? q(0.95), source: latencySource },
      probeMs: kind === 'link' ? latest('probe') : null,
      series: { requests: this.store.since(`${id}|requests`, since), bytes: this.store.since(`${id}|bytes`, since), latency },
    };
  }

  /** Rows for every gateway-mode Link and every Service exported through the gateways. */
  response(links: LinkView[], exports: ExportView[], problems: Record<string, string>, now = Date.now(), windowMs = this.o.windowMs): TrafficResponse {
    const w = Math.min(windowMs, this.o.windowMs);
    return {
      version: this.version,
      now,
      windowMs: w,
      intervalMs: this.o.intervalMs,
      links: links
        .filter((l) => l.mode === 'gateway')
        .map((l) => this.row(linkRowId(l.source, l.target), 'link', `${l.source} → ${l.target}`, l.source, now, w, `${l.source} gateway: tunnel open to ${l.target}'s gateway (request answered)`)),
      services: exports
        .filter((e) => e.modes.includes('gateway'))
        .map((e) => this.row(serviceRowId(e.cluster, e.namespace, e.name), 'service', `${e.namespace}/${e.name} in ${e.cluster}`, e.cluster, now, w, `${e.cluster} gateway: tunnel open to a backend of ${e.namespace}/${e.name}`)),
      problems,
    };
  }
}
