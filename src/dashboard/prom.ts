// The gateway's /metrics (Prometheus text exposition 0.0.4) as the dashboard reads it: parsed into samples,
// then only the metrics it shows, each sample checked with zod (labels of the expected names and sizes). The
// text comes from a pod through the API server, so it is bounded and anything unexpected is dropped, not
// trusted.
import { z } from 'zod';
import { GATEWAY_METRICS } from '../api/index.js';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Beyond these the text is cut: a gateway exposes a few hundred series. */
export const MAX_METRICS_BYTES = 4 * 1024 * 1024;
export const MAX_SAMPLES = 20_000;

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?\s*$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/gy;

function unescape(v: string): string {
  return v.replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c));
}

function parseValue(s: string): number {
  if (s === '+Inf' || s === 'Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  return Number(s);
}

/** Every sample line of an exposition text; malformed lines are skipped. */
export function parsePrometheusText(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.slice(0, MAX_METRICS_BYTES).split('\n')) {
    if (out.length >= MAX_SAMPLES) break;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    const body = m[2] ?? '';
    LABEL.lastIndex = 0;
    let ok = true;
    while (LABEL.lastIndex < body.length) {
      const l = LABEL.exec(body);
      if (!l) {
        ok = false;
        break;
      }
      labels[l[1]] = unescape(l[2]);
    }
    const value = parseValue(m[3]);
    if (!ok || Number.isNaN(value)) continue;
    out.push({ name: m[1], labels, value });
  }
  return out;
}

const label = z.string().max(253);
const direction = z.enum(['inbound', 'outbound']);
const count = z.number().finite().nonnegative();

const tunnelLabels = z.object({ direction, remote_cluster: label, namespace: label, service: label });
const schemas = {
  connections: z.object({ labels: z.object({ direction, remote_cluster: label }), value: count }),
  refused: z.object({ labels: tunnelLabels.extend({ reason: z.string().min(1).max(64) }), value: count }),
  streamsOpened: z.object({ labels: tunnelLabels, value: count }),
  streamsActive: z.object({ labels: tunnelLabels, value: count }),
  bytes: z.object({ labels: tunnelLabels.extend({ flow: z.enum(['up', 'down']) }), value: count }),
  // Per target since issue 19 (service inbound, remote_cluster outbound); a gateway from before has neither.
  connectBucket: z.object({ labels: z.object({ direction, le: z.string().max(32), remote_cluster: label.default(''), namespace: label.default(''), service: label.default('') }), value: count }),
} as const;

export type ConnectionsSample = z.infer<typeof schemas.connections>;
export type RefusedSample = z.infer<typeof schemas.refused>;
export type TunnelSample = z.infer<typeof schemas.streamsOpened>;
export type BytesSample = z.infer<typeof schemas.bytes>;
export type BucketSample = z.infer<typeof schemas.connectBucket>;

/** The gateway metrics the dashboard shows, from one scrape of one pod. */
export interface GatewayScrape {
  connections: ConnectionsSample[];
  refused: RefusedSample[];
  streamsOpened: TunnelSample[];
  streamsActive: TunnelSample[];
  bytes: BytesSample[];
  /** gateway_connect_seconds histogram buckets (cumulative), per exported Service inbound and remote outbound. */
  connectBuckets: BucketSample[];
  /** Samples of these metrics that did not have the expected shape. */
  rejected: number;
}

function pick<S extends z.ZodType>(samples: Sample[], name: string, schema: S, bad: { n: number }): z.infer<S>[] {
  const out: z.infer<S>[] = [];
  for (const s of samples) {
    if (s.name !== name) continue;
    const r = schema.safeParse({ labels: s.labels, value: s.value });
    if (r.success) out.push(r.data);
    else bad.n++;
  }
  return out;
}

export function readGatewayMetrics(text: string): GatewayScrape {
  const samples = parsePrometheusText(text);
  const bad = { n: 0 };
  return {
    connections: pick(samples, GATEWAY_METRICS.connections, schemas.connections, bad),
    refused: pick(samples, GATEWAY_METRICS.refused, schemas.refused, bad),
    streamsOpened: pick(samples, GATEWAY_METRICS.streamsOpened, schemas.streamsOpened, bad),
    streamsActive: pick(samples, GATEWAY_METRICS.streamsActive, schemas.streamsActive, bad),
    bytes: pick(samples, GATEWAY_METRICS.bytes, schemas.bytes, bad),
    connectBuckets: pick(samples, `${GATEWAY_METRICS.connectSeconds}_bucket`, schemas.connectBucket, bad),
    rejected: bad.n,
  };
}

/**
 * A quantile from cumulative histogram buckets (`le` → count), by linear interpolation inside the bucket as
 * Prometheus' histogram_quantile does; null without observations.
 */
export function histogramQuantile(q: number, buckets: Array<{ le: number; count: number }>): number | null {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const total = sorted.at(-1)?.count ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of sorted) {
    if (b.count >= rank) {
      if (!Number.isFinite(b.le)) return prevLe;
      const inBucket = b.count - prevCount;
      return inBucket <= 0 ? b.le : prevLe + ((b.le - prevLe) * (rank - prevCount)) / inBucket;
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}
