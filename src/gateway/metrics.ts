// Prometheus metrics, one registry per gateway instance (tests run several in one process). Bytes are
// tallied on each tunnel as plain numbers and flushed into the counter when it closes or on scrape, so
// the per-chunk hot path does no label hashing.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type Direction = 'inbound' | 'outbound';

export interface TunnelLabels {
  direction: Direction;
  remote_cluster: string;
  namespace: string;
  service: string;
}

/** Per-tunnel byte tally; `up` = client→target, `down` = target→client. */
export interface ByteTally {
  labels: TunnelLabels;
  up: number;
  down: number;
  flushedUp: number;
  flushedDown: number;
}

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly connections: Counter<'direction' | 'remote_cluster'>;
  readonly refusals: Counter<'direction' | 'reason' | 'remote_cluster' | 'namespace' | 'service'>;
  readonly streams: Counter<keyof TunnelLabels>;
  readonly activeStreams: Gauge<keyof TunnelLabels>;
  readonly bytes: Counter<keyof TunnelLabels | 'flow'>;
  readonly handshake: Histogram<'direction'>;
  readonly connect: Histogram<'direction'>;
  readonly poolSize: Gauge<'remote_cluster' | 'transport'>;
  private readonly live = new Set<ByteTally>();

  constructor(defaultMetrics = false) {
    const registers = [this.registry];
    this.connections = new Counter({ name: 'gateway_connections_total', help: 'TCP/TLS connections accepted', labelNames: ['direction', 'remote_cluster'], registers });
    this.refusals = new Counter({ name: 'gateway_refused_total', help: 'Connections and streams refused, by reason', labelNames: ['direction', 'reason', 'remote_cluster', 'namespace', 'service'], registers });
    this.streams = new Counter({ name: 'gateway_streams_opened_total', help: 'Tunnels opened', labelNames: ['direction', 'remote_cluster', 'namespace', 'service'], registers });
    this.activeStreams = new Gauge({ name: 'gateway_streams_active', help: 'Tunnels open now', labelNames: ['direction', 'remote_cluster', 'namespace', 'service'], registers });
    const flush = () => this.flushAll();
    this.bytes = new Counter({
      name: 'gateway_bytes_total',
      help: 'Bytes relayed; flow=up is client to target, down is target to client',
      labelNames: ['direction', 'remote_cluster', 'namespace', 'service', 'flow'],
      registers,
      collect: flush,
    });
    const buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
    this.handshake = new Histogram({ name: 'gateway_tls_handshake_seconds', help: 'TLS handshake latency', labelNames: ['direction'], buckets, registers });
    this.connect = new Histogram({ name: 'gateway_connect_seconds', help: 'Latency to open a tunnel: target connect (inbound) or remote stream/pipe established (outbound)', labelNames: ['direction'], buckets, registers });
    this.poolSize = new Gauge({ name: 'gateway_pool_connections', help: 'Warm connections to remote gateways', labelNames: ['remote_cluster', 'transport'], registers });
    if (defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }

  refuse(direction: Direction, reason: string, l: Partial<TunnelLabels> = {}): void {
    this.refusals.inc({ direction, reason, remote_cluster: l.remote_cluster ?? '', namespace: l.namespace ?? '', service: l.service ?? '' });
  }

  openTunnel(labels: TunnelLabels): ByteTally {
    this.streams.inc(labels);
    this.activeStreams.inc(labels);
    const t: ByteTally = { labels, up: 0, down: 0, flushedUp: 0, flushedDown: 0 };
    this.live.add(t);
    return t;
  }

  closeTunnel(t: ByteTally): void {
    if (!this.live.delete(t)) return;
    this.activeStreams.dec(t.labels);
    this.flush(t);
  }

  private flush(t: ByteTally): void {
    if (t.up > t.flushedUp) this.bytes.inc({ ...t.labels, flow: 'up' }, t.up - t.flushedUp);
    if (t.down > t.flushedDown) this.bytes.inc({ ...t.labels, flow: 'down' }, t.down - t.flushedDown);
    t.flushedUp = t.up;
    t.flushedDown = t.down;
  }

  private flushAll(): void {
    for (const t of this.live) this.flush(t);
  }
}
