// Prometheus metrics, one registry per gateway instance (tests run several in one process). Per-tunnel
// figures (connections, tunnels opened, active tunnels, bytes) are tallied as plain numbers on a record
// per label set and written into prom-client on scrape (`collect`), so neither the per-chunk nor the
// per-connection hot path hashes labels (prom-client hashes the label object on every inc/dec).
import { GATEWAY_METRICS } from '../api/index.js';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from './prom.js';
import type { GatewayErrorCode } from './errors.js';
import { BackendTally } from './backend-metrics.js';
import { ConnectLatency } from './connect-metrics.js';

export type Direction = 'inbound' | 'outbound';

/** Refusals of a connection before any tunnel request (the tunnel port's TLS listener). */
export type TlsRefusalReason = 'NOT_TLS' | 'NO_CLIENT_CERT' | 'UNTRUSTED_CERT' | 'CERT_EXPIRED' | 'HANDSHAKE_TIMEOUT' | 'PEER_RESET' | 'TLS_ERROR' | 'NO_ALPN' | 'DRAINING' | 'OVERLOADED';

/** The `reason` label: a fixed set, never text a peer sent. */
export type RefusalReason = GatewayErrorCode | TlsRefusalReason;

export interface TunnelLabels {
  direction: Direction;
  remote_cluster: string;
  namespace: string;
  service: string;
}

/** Totals of one label set, written into prom-client on scrape. */
interface LabelStats {
  labels: TunnelLabels;
  opened: number;
  reportedOpened: number;
  active: number;
  up: number;
  down: number;
  reportedUp: number;
  reportedDown: number;
}

/** Per-tunnel byte tally; `up` = client→target, `down` = target→client. */
export interface ByteTally {
  labels: TunnelLabels;
  stats: LabelStats;
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
  /** Tunnel-open latency per exported Service (inbound) and per remote cluster (outbound). */
  readonly connect: ConnectLatency;
  readonly poolSize: Gauge<'remote_cluster' | 'transport'>;
  /** Outbound tunnel requests replayed on another connection (refused before they reached the target). */
  readonly retries: Counter<'remote_cluster'>;
  /** Outlier detection (pool/outlier.ts): failures per remote, ejections, addresses ejected now. */
  readonly remoteFailures: Counter<'remote_cluster' | 'reason'>;
  readonly ejections: Counter<'remote_cluster'>;
  readonly ejected: Gauge<'remote_cluster'>;
  /** Inbound tunnels by the backend that served them (backend-metrics.ts). */
  readonly backends: BackendTally;
  /** Tunnels refused by authorization, by which rule list refused them (src/gateway/inbound/access.ts). */
  readonly authzDenied: Counter<'remote_cluster' | 'namespace' | 'service' | 'source'>;
  private readonly live = new Set<ByteTally>();
  private readonly stats = new Map<string, LabelStats>();
  private readonly conns = new Map<string, { direction: Direction; remote_cluster: string; n: number; reported: number }>();

  constructor(defaultMetrics = false) {
    const registers = [this.registry];
    this.connections = new Counter({
      name: GATEWAY_METRICS.connections,
      help: 'TCP/TLS connections accepted',
      labelNames: ['direction', 'remote_cluster'],
      registers,
      collect: () => {
        for (const c of this.conns.values()) {
          if (c.n > c.reported) this.connections.inc({ direction: c.direction, remote_cluster: c.remote_cluster }, c.n - c.reported);
          c.reported = c.n;
        }
      },
    });
    this.refusals = new Counter({ name: GATEWAY_METRICS.refused, help: 'Connections and streams refused, by reason', labelNames: ['direction', 'reason', 'remote_cluster', 'namespace', 'service'], registers });
    this.streams = new Counter({
      name: GATEWAY_METRICS.streamsOpened,
      help: 'Tunnels opened',
      labelNames: ['direction', 'remote_cluster', 'namespace', 'service'],
      registers,
      collect: () => {
        for (const st of this.stats.values()) {
          if (st.opened > st.reportedOpened) this.streams.inc(st.labels, st.opened - st.reportedOpened);
          st.reportedOpened = st.opened;
        }
      },
    });
    this.activeStreams = new Gauge({
      name: GATEWAY_METRICS.streamsActive,
      help: 'Tunnels open now',
      labelNames: ['direction', 'remote_cluster', 'namespace', 'service'],
      registers,
      collect: () => {
        for (const st of this.stats.values()) this.activeStreams.set(st.labels, st.active);
      },
    });
    const flush = () => this.flushAll();
    this.bytes = new Counter({
      name: GATEWAY_METRICS.bytes,
      help: 'Bytes relayed; flow=up is client to target, down is target to client',
      labelNames: ['direction', 'remote_cluster', 'namespace', 'service', 'flow'],
      registers,
      collect: flush,
    });
    const buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
    this.handshake = new Histogram({ name: GATEWAY_METRICS.handshakeSeconds, help: 'TLS handshake latency', labelNames: ['direction'], buckets, registers });
    this.connect = new ConnectLatency(registers, buckets);
    this.poolSize = new Gauge({ name: GATEWAY_METRICS.poolConnections, help: 'Warm connections to remote gateways', labelNames: ['remote_cluster', 'transport'], registers });
    this.retries = new Counter({ name: GATEWAY_METRICS.retries, help: 'Outbound tunnel requests retried on another connection (another address when there is one): refused by the remote before reaching the target (REFUSED_STREAM, GOAWAY, session closed, DRAINING) or failed before any client byte was sent', labelNames: ['remote_cluster'], registers });
    this.remoteFailures = new Counter({ name: GATEWAY_METRICS.remoteFailures, help: 'Failures of a remote gateway address seen by outlier detection: connect (dial refused, timed out, TLS), closed (session lost), reset (tunnel request reset unanswered), timeout (tunnel request unanswered)', labelNames: ['remote_cluster', 'reason'], registers });
    this.ejections = new Counter({ name: GATEWAY_METRICS.remoteEjections, help: 'Remote gateway addresses ejected from the pool by outlier detection', labelNames: ['remote_cluster'], registers });
    this.ejected = new Gauge({ name: GATEWAY_METRICS.remoteEjected, help: 'Remote gateway addresses ejected now (summed over workers)', labelNames: ['remote_cluster'], registers });
    this.backends = new BackendTally(registers);
    this.authzDenied = new Counter({
      name: GATEWAY_METRICS.authzDenied,
      help: 'Inbound tunnels refused by authorization, by rule source (export-to, link, service, namespace); labels from bounded sets only',
      labelNames: ['remote_cluster', 'namespace', 'service', 'source'],
      registers,
    });
    if (defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** Labels come from bounded sets only: `reason` is a code, `remote_cluster` a known cluster, `namespace`
   * and `service` an exported Service (inbound) or a route (outbound); '' where none applies. */
  refuse(direction: Direction, reason: RefusalReason, l: Partial<TunnelLabels> = {}): void {
    this.refusals.inc({ direction, reason, remote_cluster: l.remote_cluster ?? '', namespace: l.namespace ?? '', service: l.service ?? '' });
  }

  /** Counts an accepted connection (gateway_connections_total). */
  countConnection(direction: Direction, remoteCluster: string): void {
    const key = `${direction}\0${remoteCluster}`;
    let c = this.conns.get(key);
    if (!c) this.conns.set(key, (c = { direction, remote_cluster: remoteCluster, n: 0, reported: 0 }));
    c.n++;
  }

  openTunnel(labels: TunnelLabels): ByteTally {
    // Label sets are bounded by (exported or mirrored Services) x (remote clusters); their records stay.
    const key = `${labels.direction}\0${labels.remote_cluster}\0${labels.namespace}\0${labels.service}`;
    let stats = this.stats.get(key);
    if (!stats) this.stats.set(key, (stats = { labels: { ...labels }, opened: 0, reportedOpened: 0, active: 0, up: 0, down: 0, reportedUp: 0, reportedDown: 0 }));
    stats.opened++;
    stats.active++;
    const t: ByteTally = { labels, stats, up: 0, down: 0, flushedUp: 0, flushedDown: 0 };
    this.live.add(t);
    return t;
  }

  closeTunnel(t: ByteTally): void {
    if (!this.live.delete(t)) return;
    t.stats.active--;
    this.flush(t);
  }

  /** Bytes relayed so far, both directions, all tunnels (open ones included). */
  bytesRelayed(): number {
    let n = 0;
    for (const st of this.stats.values()) n += st.up + st.down;
    for (const t of this.live) n += t.up - t.flushedUp + t.down - t.flushedDown;
    return n;
  }

  private flush(t: ByteTally): void {
    t.stats.up += t.up - t.flushedUp;
    t.stats.down += t.down - t.flushedDown;
    t.flushedUp = t.up;
    t.flushedDown = t.down;
  }

  private flushAll(): void {
    for (const t of this.live) this.flush(t);
    for (const st of this.stats.values()) {
      if (st.up > st.reportedUp) this.bytes.inc({ ...st.labels, flow: 'up' }, st.up - st.reportedUp);
      if (st.down > st.reportedDown) this.bytes.inc({ ...st.labels, flow: 'down' }, st.down - st.reportedDown);
      st.reportedUp = st.up;
      st.reportedDown = st.down;
    }
  }
}
