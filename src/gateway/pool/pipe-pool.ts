// Pre-handshaked mTLS connections to one remote gateway for the tls-pipe transport: each tunnel takes one
// (no handshake on the connection's critical path) and a replacement is dialed in the background. Warm
// connections older than MAX_WARM_AGE_MS are recycled so they never meet the remote's idle timeout.
// Dials resume the last TLS session ticket, so refills cost an ECDHE, not a certificate signature.
// Passive health (outlier.ts): failed dials and tunnel requests closed unanswered or timed out count against
// the address; an ejected address is not dialed and its warm pipes are closed. Dials go to the first
// address not ejected, in the Link's order (the others are fallbacks, as before ejection existed), so an
// address back from ejection takes the traffic again; a TLS ticket per address. (Round robin over the
// addresses was tried: closing the young warm pipes of an address as it is ejected then often hit pipes
// whose handshake the remote had not finished, which it counts as PEER_RESET refusals.)
import type tls from 'node:tls';
import type { Logger } from '../../log/index.js';
import { GatewayError } from '../errors.js';
import type { GatewayMetrics } from '../metrics.js';
import type { RemoteGateway } from '../types.js';
import { ALPN_PIPE } from '../tls.js';
import { dial, type Dialed } from './connect.js';
import type { Place } from './h2-pool.js';
import { reportOutlier } from './health.js';
import { OutlierDetector, type FailureKind, type OutlierOptions } from './outlier.js';

export const MAX_WARM_AGE_MS = 30_000;
/** A warm connection closed by the remote sooner than this counts as a dial failure. */
const MIN_WARM_LIFE_MS = 1_000;

export interface PipePoolOptions {
  warm: number;
  trustDomain: string;
  connectTimeoutMs: number;
  context: () => tls.SecureContext | undefined;
  logger: Logger;
  metrics: GatewayMetrics;
  outlier: OutlierOptions;
}

interface Warm extends Dialed {
  at: number;
  /** Our listener for the socket's end/close/error while it waits in the pool. */
  drop?: () => void;
}

export class PipePool {
  private readonly ready: Warm[] = [];
  private dialing = 0;
  /** The last TLS session ticket per address (replicas do not share ticket keys). */
  private readonly tickets = new Map<string, Buffer>();
  private closed = false;
  private failures = 0;
  private readonly sweeper: NodeJS.Timeout;
  readonly health: OutlierDetector;

  constructor(
    private remote: RemoteGateway,
    private readonly o: PipePoolOptions,
  ) {
    this.health = new OutlierDetector(remote.addresses, o.outlier, (e) => {
      reportOutlier(e, { cluster: this.remote.cluster, transport: 'tls-pipe', logger: o.logger, metrics: o.metrics, ejectedNow: this.health.ejectedCount() });
      if (e.kind === 'ejected') this.dropWarm(e.address);
    });
    this.refill();
    this.sweeper = setInterval(() => this.sweep(), MAX_WARM_AGE_MS / 2);
    this.sweeper.unref();
  }

  update(remote: RemoteGateway): void {
    const same = JSON.stringify([remote.addresses, remote.port, remote.identity]) === JSON.stringify([this.remote.addresses, this.remote.port, this.remote.identity]);
    this.remote = remote;
    if (same) return;
    this.health.setAddresses(remote.addresses);
    this.o.metrics.ejected.set({ remote_cluster: remote.cluster }, this.health.ejectedCount());
    this.tickets.clear();
    for (const w of this.ready.splice(0)) w.sock.destroy();
    this.refill();
  }

  size(): number {
    return this.ready.length;
  }

  /** A fresh connection: a warm one if any, else dialed now (next address after a failure). `dialNew` skips
   * the warm ones: a retry after a warm pipe closed unanswered (its replica draining) would likely take a
   * sibling that is closing too. */
  async take(dialNew = false, avoid?: Place): Promise<Dialed> {
    if (this.closed) throw new GatewayError('REMOTE_UNAVAILABLE', `pool to ${this.remote.cluster} is closed`);
    const now = Date.now();
    while (!dialNew && this.ready.length) {
      const w = this.ready.pop()!;
      // Only our listeners: Node's own (e.g. net.Socket's 'end' handler) must stay.
      if (w.drop) for (const ev of ['close', 'end', 'error']) w.sock.off(ev, w.drop);
      if (!w.sock.destroyed && !w.sock.readableEnded && now - w.at < MAX_WARM_AGE_MS && !this.health.isEjected(w.address)) {
        this.gauge();
        this.refill();
        return w;
      }
      if (this.health.isEjected(w.address)) w.sock.end();
      else w.sock.destroy();
    }
    this.gauge();
    const tries = Math.min(2, this.remote.addresses.length);
    let last: Error | undefined;
    // A replay avoids its failed address, a second dial the first one's.
    let skip = avoid?.address;
    for (let i = 0; i < tries; i++) {
      const address = this.nextAddress(skip);
      try {
        const d = await this.dialOne(address);
        this.refill();
        return d;
      } catch (err) {
        last = err as Error;
        skip = address;
      }
    }
    throw last ?? new GatewayError('REMOTE_UNAVAILABLE', `no connection to ${this.remote.cluster}`);
  }

  /** A tunnel request's outcome on a pipe to `address`: any answer is a success. */
  report(address: string, failure?: { kind: FailureKind; detail: string }): void {
    if (!failure) return this.health.success(address);
    this.o.metrics.remoteFailures.inc({ remote_cluster: this.remote.cluster, reason: failure.kind });
    this.health.failure(address, failure.kind, failure.detail);
  }

  /** An ejected address: its idle warm pipes go (refilled elsewhere). */
  private dropWarm(address: string): void {
    for (const w of this.ready.filter((x) => x.address === address)) {
      this.ready.splice(this.ready.indexOf(w), 1);
      if (w.drop) for (const ev of ['close', 'end', 'error']) w.sock.off(ev, w.drop);
      // A clean close (close_notify, FIN), as the sweep does: one just dialed may still be finishing its
      // handshake at the remote, which would count a reset as a refusal.
      w.sock.end();
    }
    this.gauge();
    this.refill();
  }

  /** The first address not ejected; `avoid` is taken only when no other is eligible. */
  private nextAddress(avoid?: string): string {
    return this.health.eligibleFrom(0, avoid).address;
  }

  private async dialOne(address: string): Promise<Dialed> {
    const ctx = this.o.context();
    if (!ctx) throw new GatewayError('BAD_CREDENTIALS', 'no credentials yet');
    const r = this.remote;
    const started = performance.now();
    try {
      const d = await dial({
        address,
        port: r.port,
        alpn: ALPN_PIPE,
        context: ctx,
        trustDomain: this.o.trustDomain,
        identity: r.identity,
        timeoutMs: this.o.connectTimeoutMs,
        session: this.tickets.get(address),
        allowHalfOpen: true,
        onSession: (t) => {
          this.tickets.set(address, t);
        },
      });
      this.o.metrics.handshake.observe({ direction: 'outbound' }, (performance.now() - started) / 1000);
      this.failures = 0;
      return d;
    } catch (err) {
      this.failures++;
      this.tickets.delete(address);
      this.o.metrics.remoteFailures.inc({ remote_cluster: r.cluster, reason: 'connect' });
      this.health.failure(address, 'connect', (err as Error).message);
      throw err;
    }
  }

  private refill(): void {
    if (this.closed) return;
    // After repeated failures stop pre-dialing; take() still dials on demand (and fails fast).
    if (this.failures > 3) return;
    while (this.ready.length + this.dialing < this.o.warm) {
      this.dialing++;
      this.dialOne(this.nextAddress())
        .then((d) => {
          this.dialing--;
          if (this.closed) {
            d.sock.destroy();
            return;
          }
          const w: Warm = { ...d, at: Date.now() };
          const drop = () => {
            const i = this.ready.indexOf(w);
            if (i < 0) return;
            this.ready.splice(i, 1);
            // Half-open sockets do not close on the remote's FIN by themselves.
            d.sock.destroy();
            this.gauge();
            // Keep the pool full in the background (the remote closed it, e.g. its idle timeout), so the next
            // tunnels do not pay a handshake. One closed right away counts as a failure: a remote that
            // accepts and closes (draining) must not make us dial in a loop.
            if (Date.now() - w.at < MIN_WARM_LIFE_MS) this.failures++;
            this.refill();
          };
          w.drop = drop;
          d.sock.on('error', drop);
          d.sock.on('end', drop);
          d.sock.on('close', drop);
          this.ready.push(w);
          this.gauge();
        })
        .catch((err: Error) => {
          this.dialing--;
          this.o.logger.warn('cannot pre-connect to remote gateway', { remoteCluster: this.remote.cluster, error: err.message });
        });
    }
  }

  private sweep(): void {
    const now = Date.now();
    for (const w of [...this.ready]) {
      if (now - w.at >= MAX_WARM_AGE_MS) {
        this.ready.splice(this.ready.indexOf(w), 1);
        w.sock.end();
      }
    }
    this.failures = 0;
    this.refill();
  }

  private gauge(): void {
    this.o.metrics.poolSize.set({ remote_cluster: this.remote.cluster, transport: 'tls-pipe' }, this.ready.length);
  }

  close(): void {
    this.closed = true;
    this.health.stop();
    clearInterval(this.sweeper);
    for (const w of this.ready.splice(0)) w.sock.destroy();
    this.gauge();
  }
}
