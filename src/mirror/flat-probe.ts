// Issue 14, flat-mode health: a Link without a gateway has no gateway to probe, so the controller probes the
// data path itself: each round a TCP connect to a small sample of the remote cluster's ready endpoints
// (its exported Services'), through the same network path pods use (the controller runs in a pod; its
// connects take the flat routes pods take). Healthy while any connect of a round succeeds; unhealthy after
// failureThreshold rounds in a row where every one failed; nothing to probe says nothing (healthy).
import net from 'node:net';
import { hostPort } from '../api/index.js';
import { realClock, type Clock } from '../kube/index.js';
import type { Logger } from '../log/index.js';
import type { EndpointSlice } from './types.js';
import { ThresholdProber } from './threshold-prober.js';

export interface FlatTarget {
  ip: string;
  port: number;
}

/** How many endpoints one round connects to. */
export const FLAT_SAMPLE = 3;

/** Pure: every ready endpoint address of the slices with the slice's first TCP port, deduplicated, sorted. */
export function flatTargets(slices: EndpointSlice[]): FlatTarget[] {
  const seen = new Map<string, FlatTarget>();
  for (const s of slices) {
    const port = (s.ports ?? []).find((p) => (p.protocol ?? 'TCP') === 'TCP' && p.port !== undefined)?.port;
    if (port === undefined) continue;
    for (const e of s.endpoints ?? []) {
      if (e.conditions?.ready === false) continue;
      for (const ip of e.addresses.slice(0, 1)) seen.set(`${ip}|${port}`, { ip, port });
    }
  }
  return [...seen.values()].sort((a, b) => a.ip.localeCompare(b.ip) || a.port - b.port);
}

/** Pure: round r's sample, rotating through the targets so every endpoint is tried in turn. */
export function sampleTargets(targets: FlatTarget[], round: number, n = FLAT_SAMPLE): FlatTarget[] {
  if (targets.length <= n) return [...targets];
  const start = (round * n) % targets.length;
  return Array.from({ length: n }, (_, i) => targets[(start + i) % targets.length]!);
}

export interface ConnectResult {
  ok: boolean;
  latencyMs: number;
  address: string;
  message: string;
}

export function tcpConnect(t: FlatTarget, timeoutMs: number, clock: Clock = realClock): Promise<ConnectResult> {
  const started = clock.now();
  const address = hostPort(t.ip, t.port);
  return new Promise((resolve) => {
    const sock = net.connect({ host: t.ip, port: t.port });
    const done = (ok: boolean, message: string) => {
      sock.destroy();
      clearTimeout(timer);
      resolve({ ok, latencyMs: clock.now() - started, address, message });
    };
    const timer = setTimeout(() => done(false, `connect ${address}: no answer within ${timeoutMs} ms`), timeoutMs);
    sock.once('connect', () => done(true, `connected to ${address}`));
    sock.once('error', (err) => done(false, `connect ${address}: ${err.message}`));
  });
}

export interface FlatProberOptions {
  link: string;
  periodMs: number;
  timeoutMs: number;
  failureThreshold: number;
  /** The remote endpoints to sample from, read from the remote caches each round. */
  targets: () => FlatTarget[];
  logger: Logger;
  clock?: Clock;
  onChange(healthy: boolean, r: ConnectResult): void;
}

export class FlatProber extends ThresholdProber<ConnectResult> {
  private rounds = 0;

  constructor(readonly opts: FlatProberOptions) {
    super(opts);
  }

  protected async measure(): Promise<ConnectResult | undefined> {
    const sample = sampleTargets(this.opts.targets(), this.rounds++);
    const results = await Promise.all(sample.map((t) => tcpConnect(t, this.opts.timeoutMs, this.clock)));
    return results.find((r) => r.ok) ?? results[0];
  }

  protected logChange(healthy: boolean, r: ConnectResult | undefined, misses: number): void {
    if (healthy) this.opts.logger.info('remote endpoints reachable again (flat)', { link: this.opts.link, address: r?.address ?? '' });
    else this.opts.logger.warn('remote endpoints unreachable (flat): their cluster leaves the imports', { link: this.opts.link, misses, error: r?.message });
  }
}
