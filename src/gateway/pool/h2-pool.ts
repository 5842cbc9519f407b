// Warm mTLS HTTP/2 connections to one remote gateway.
// Invariants: `size` slots, each either connecting, ready (a live session accepting streams) or waiting
// out a backoff; a slot that loses its session reconnects on its own (100 ms doubling to 5 s, reset on
// success), trying the next address after each failure. New streams go to the ready session with the
// fewest open streams. When no slot is ready and none is connecting, acquire() fails at once (callers
// reset their client instead of hanging), so a dead remote costs a client one RST, not a timeout.
// A session that got a GOAWAY leaves its slot at once (retiring: its streams finish, then it closes) and
// the slot reconnects. Sessions are src/h2's: no node:http2 on the data path.
import type tls from 'node:tls';
import { connect as h2connect, type H2Session, type H2Stream } from '../../h2/index.js';
import type { Logger } from '../../log/index.js';
import { GatewayError } from '../errors.js';
import type { GatewayMetrics } from '../metrics.js';
import type { RemoteGateway } from '../types.js';
import { ALPN_H2 } from '../tls.js';
import { dial } from './connect.js';

export const BACKOFF_MIN_MS = 100;
export const BACKOFF_MAX_MS = 5_000;

export interface PoolOptions {
  size: number;
  trustDomain: string;
  connectTimeoutMs: number;
  streamWindow: number;
  connectionWindow: number;
  context: () => tls.SecureContext | undefined;
  logger: Logger;
  metrics: GatewayMetrics;
}

interface Slot {
  state: 'connecting' | 'ready' | 'backoff' | 'closed';
  session?: H2Session;
  streams: number;
  backoffMs: number;
  addressIndex: number;
  timer?: NodeJS.Timeout;
}

export class H2Pool {
  private readonly slots: Slot[] = [];
  private waiters: Array<(err?: Error) => void> = [];
  /** Sessions that got a GOAWAY: their streams finish, then they close; a hard close destroys them. */
  private readonly retiring = new Set<H2Session>();
  private closed = false;

  constructor(
    private remote: RemoteGateway,
    private readonly o: PoolOptions,
  ) {
    for (let i = 0; i < o.size; i++) {
      const slot: Slot = { state: 'backoff', streams: 0, backoffMs: BACKOFF_MIN_MS, addressIndex: i % remote.addresses.length };
      this.slots.push(slot);
      this.connect(slot);
    }
  }

  /** New addresses/identity for the same cluster: drain old sessions (their streams finish) and reconnect. */
  update(remote: RemoteGateway): void {
    const same = JSON.stringify([remote.addresses, remote.port, remote.identity]) === JSON.stringify([this.remote.addresses, this.remote.port, this.remote.identity]);
    this.remote = remote;
    if (same) return;
    for (const slot of this.slots) {
      slot.addressIndex = slot.addressIndex % remote.addresses.length;
      if (slot.state === 'ready' && slot.session) slot.session.close();
    }
  }

  readySessions(): number {
    return this.slots.filter((s) => s.state === 'ready').length;
  }

  /** A session for one new stream; the caller must call release() when the stream closes. */
  acquire(): Promise<H2Session> {
    const s = this.pick();
    if (s) return Promise.resolve(s);
    if (this.closed) return Promise.reject(new GatewayError('REMOTE_UNAVAILABLE', `pool to ${this.remote.cluster} is closed`));
    if (!this.slots.some((x) => x.state === 'connecting')) {
      return Promise.reject(new GatewayError('REMOTE_UNAVAILABLE', `no connection to the gateway of ${this.remote.cluster} (${this.remote.addresses.join(', ')}:${this.remote.port}); retrying in the background`));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new GatewayError('REMOTE_UNAVAILABLE', `no connection to the gateway of ${this.remote.cluster} within ${this.o.connectTimeoutMs} ms`)), this.o.connectTimeoutMs);
      const done = (err?: Error) => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== done);
        const session = err ? undefined : this.pick();
        if (session) resolve(session);
        else reject(err ?? new GatewayError('REMOTE_UNAVAILABLE', `no connection to the gateway of ${this.remote.cluster}`));
      };
      this.waiters.push(done);
    });
  }

  /** Account a stream on its session (for least-loaded picking). */
  track(session: H2Session, stream: H2Stream): void {
    const slot = this.slots.find((s) => s.session === session);
    if (!slot) return;
    slot.streams++;
    // After a GOAWAY the slot may already hold a newer session: only count down the session it counted.
    stream.once('close', () => { if (slot.session === session) slot.streams--; });
  }

  /** The ready session with the fewest open streams, if any (acquire() without the promise). */
  pick(): H2Session | undefined {
    let best: Slot | undefined;
    for (const s of this.slots) {
      if (s.state !== 'ready' || !s.session || !s.session.available) continue;
      if (!best || s.streams < best.streams) best = s;
    }
    return best?.session;
  }

  private connect(slot: Slot): void {
    if (this.closed) return;
    const ctx = this.o.context();
    const r = this.remote;
    const address = r.addresses[slot.addressIndex % r.addresses.length]!;
    if (!ctx) {
      this.retry(slot, new Error('no credentials yet'));
      return;
    }
    slot.state = 'connecting';
    const started = performance.now();
    dial({ address, port: r.port, alpn: ALPN_H2, context: ctx, trustDomain: this.o.trustDomain, identity: r.identity, timeoutMs: this.o.connectTimeoutMs })
      .then(({ sock }) => {
        if (this.closed) {
          sock.destroy();
          return;
        }
        this.o.metrics.handshake.observe({ direction: 'outbound' }, (performance.now() - started) / 1000);
        const session = h2connect(sock, { streamWindow: this.o.streamWindow, connectionWindow: this.o.connectionWindow, maxFrameSize: 64 * 1024 });
        slot.session = session;
        slot.streams = 0;
        // GOAWAY (remote draining): its live streams finish on this session, but new streams need a new
        // connection now (through the Service, to a replica that is not draining). Waiting for the close and
        // a backoff left the pool with no usable slot, so tunnels opened meanwhile were refused.
        session.once('goaway', () => {
          if (slot.session !== session) return;
          // Out of the slot first: closing a session with no streams left ends it at once (its 'close'
          // must not count as the slot's connection lost).
          slot.session = undefined;
          slot.state = 'backoff';
          this.retiring.add(session);
          session.once('close', () => this.retiring.delete(session));
          // Closes once its live streams are done (the remote leaves it open otherwise).
          session.close();
          this.gauge();
          if (!this.closed) this.connect(slot);
        });
        session.once('close', (err) => {
          if (err) this.o.logger.debug('pool session closed', { remoteCluster: r.cluster, address, error: err.message, code: err.code });
          if (slot.session !== session) return;
          slot.session = undefined;
          this.gauge();
          if (!this.closed) {
            this.o.logger.info('connection to remote gateway closed; reconnecting', { remoteCluster: r.cluster, address });
            slot.backoffMs = BACKOFF_MIN_MS;
            this.retry(slot);
          }
        });
        slot.state = 'ready';
        slot.backoffMs = BACKOFF_MIN_MS;
        this.gauge();
        for (const w of [...this.waiters]) w();
      })
      .catch((err: Error) => {
        this.o.logger.warn('cannot connect to remote gateway', { remoteCluster: r.cluster, address, port: r.port, error: err.message, retryInMs: slot.backoffMs });
        slot.addressIndex++;
        this.retry(slot, err);
      });
  }

  private retry(slot: Slot, err?: Error): void {
    if (this.closed) return;
    slot.state = 'backoff';
    if (!this.slots.some((s) => s.state === 'connecting' || s.state === 'ready')) {
      for (const w of [...this.waiters]) w(err ?? new GatewayError('REMOTE_UNAVAILABLE', `no connection to the gateway of ${this.remote.cluster}`));
    }
    const delay = slot.backoffMs * (0.8 + Math.random() * 0.4);
    slot.backoffMs = Math.min(BACKOFF_MAX_MS, slot.backoffMs * 2);
    slot.timer = setTimeout(() => this.connect(slot), delay);
    slot.timer.unref();
  }

  private gauge(): void {
    this.o.metrics.poolSize.set({ remote_cluster: this.remote.cluster, transport: 'connect' }, this.readySessions());
  }

  /** Graceful: GOAWAY, streams finish. `hard` destroys at once. */
  close(hard = false): void {
    this.closed = true;
    for (const s of this.slots) {
      if (s.timer) clearTimeout(s.timer);
      s.state = 'closed';
      if (s.session) {
        if (hard) s.session.destroy();
        else s.session.close();
      }
    }
    for (const s of this.retiring) {
      if (hard) s.destroy();
    }
    for (const w of [...this.waiters]) w(new GatewayError('REMOTE_UNAVAILABLE', 'pool closed'));
    this.o.metrics.poolSize.set({ remote_cluster: this.remote.cluster, transport: 'connect' }, 0);
  }
}
