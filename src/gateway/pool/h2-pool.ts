// Warm mTLS HTTP/2 connections to one remote gateway.
// Invariants: `size` slots, each either connecting, ready (a live session accepting streams) or waiting
// out a backoff; a slot that loses its session reconnects on its own (100 ms doubling to 5 s, reset on
// success), trying the next address after each failure. New streams go to the ready session with the
// fewest open streams. When no slot is ready and none is connecting, a tunnel that arrives cuts one slot's
// backoff short and waits for its dial, if that slot last dialed HURRY_AFTER_MS ago or more; otherwise
// acquire() fails at once (callers reset their client instead of hanging). So a remote that restarted is
// used as soon as a tunnel needs it, not after a backoff of up to 5 s, and a dead remote costs at most one
// dial per HURRY_AFTER_MS per pool (a refused dial fails at once; a black-holed one waits connectTimeoutMs).
// A session that got a GOAWAY leaves its slot at once (retiring: its streams finish, then it closes) and
// the slot reconnects. Sessions are src/h2's: no node:http2 on the data path.
// Passive health (outlier.ts): dial failures, lost sessions and tunnel requests reset or unanswered count
// against the address; an ejected address gets no new connection or stream (its sessions retire, their
// live streams finish) until its ejection ends, when a slot whose home it is moves back (while another
// slot is ready, so the pool never empties itself to move).
import type tls from 'node:tls';
import { connect as h2connect, type H2Session, type H2Stream } from '../../h2/index.js';
import type { Logger } from '../../log/index.js';
import { GatewayError } from '../errors.js';
import type { GatewayMetrics } from '../metrics.js';
import type { RemoteGateway } from '../types.js';
import { ALPN_H2 } from '../tls.js';
import { dial } from './connect.js';
import { Keepalive, type KeepaliveOptions } from './keepalive.js';
import { OutlierDetector, type FailureKind, type OutlierOptions } from './outlier.js';
import { reportOutlier } from './health.js';

export const BACKOFF_MIN_MS = 100;
export const BACKOFF_MAX_MS = 5_000;
/** A tunnel may cut a slot's backoff short when that slot last dialed this long ago. */
export const HURRY_AFTER_MS = 500;

export interface PoolOptions {
  size: number;
  trustDomain: string;
  connectTimeoutMs: number;
  streamWindow: number;
  connectionWindow: number;
  context: () => tls.SecureContext | undefined;
  logger: Logger;
  metrics: GatewayMetrics;
  outlier: OutlierOptions;
  /** Writes per stream that go straight to DATA frames (the relay's buffer: a 64 KiB read takes the fast
   * path rather than Writable's queue, nextTick and 'drain'). */
  streamWritableHighWaterMark: number;
  /** PINGs on sessions that read nothing for a while (keepalive.ts); interval 0 = none. */
  keepalive: KeepaliveOptions;
}

/** Where a stream went: a replay avoids both (another address if one is ready, else another session). */
export interface Place {
  address: string;
  connection?: object;
}

interface Slot {
  state: 'connecting' | 'ready' | 'backoff' | 'closed';
  session?: H2Session;
  streams: number;
  backoffMs: number;
  addressIndex: number;
  /** The address of its session (or dial). */
  address?: string;
  /** Its share of the addresses (i mod n): where it returns once an ejection there ends. */
  home: number;
  timer?: NodeJS.Timeout;
  /** performance.now() of its last dial. */
  dialedAt: number;
}

export class H2Pool {
  private readonly slots: Slot[] = [];
  private waiters: Array<(err?: Error) => void> = [];
  /** Sessions that got a GOAWAY: their streams finish, then they close; a hard close destroys them. */
  private readonly retiring = new Set<H2Session>();
  private closed = false;
  /** The address each session (retiring ones too) was dialed at. */
  private readonly addressOf = new WeakMap<H2Session, string>();
  /** Sessions whose connection failed (reset, TLS error) rather than closed: an answer may have been lost. */
  private readonly broken = new WeakSet<H2Session>();
  readonly health: OutlierDetector;
  private readonly keepalive: Keepalive;

  constructor(
    private remote: RemoteGateway,
    private readonly o: PoolOptions,
  ) {
    this.health = new OutlierDetector(remote.addresses, o.outlier, (e) => {
      reportOutlier(e, { cluster: this.remote.cluster, transport: 'connect', logger: o.logger, metrics: o.metrics, ejectedNow: this.health.ejectedCount() });
      if (e.kind === 'ejected') this.leave(e.address);
      if (e.kind === 'returned') this.moveHome(e.address);
    });
    this.keepalive = new Keepalive(o.keepalive, (session, why) => {
      o.logger.warn('remote gateway did not answer a keepalive PING; replacing the connection', { remoteCluster: this.remote.cluster, address: this.addressOf.get(session), why });
      // Its 'close' reconnects the slot and counts the loss against the address.
      session.destroy(new Error(`keepalive: ${why}`));
    });
    for (let i = 0; i < o.size; i++) {
      const slot: Slot = { state: 'backoff', streams: 0, backoffMs: BACKOFF_MIN_MS, addressIndex: i % remote.addresses.length, home: i % remote.addresses.length, dialedAt: 0 };
      this.slots.push(slot);
      this.connect(slot);
    }
  }

  /** New addresses/identity for the same cluster: drain old sessions (their streams finish) and reconnect. */
  update(remote: RemoteGateway): void {
    const same = JSON.stringify([remote.addresses, remote.port, remote.identity]) === JSON.stringify([this.remote.addresses, this.remote.port, this.remote.identity]);
    this.remote = remote;
    if (same) return;
    this.health.setAddresses(remote.addresses);
    this.o.metrics.ejected.set({ remote_cluster: remote.cluster }, this.health.ejectedCount());
    for (const [i, slot] of this.slots.entries()) {
      slot.addressIndex = slot.addressIndex % remote.addresses.length;
      slot.home = i % remote.addresses.length;
      // Our own close, not a lost connection: retired (its streams finish), reconnected to the new list.
      if (slot.state === 'ready' && slot.session) {
        this.retire(slot);
        this.connect(slot);
      }
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
    if (!this.slots.some((x) => x.state === 'connecting') && !this.hurry()) {
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

  /** Dials now, in one slot waiting out a backoff whose last dial is HURRY_AFTER_MS old or more; false if none. */
  private hurry(): boolean {
    const now = performance.now();
    const slot = this.slots.find((s) => s.state === 'backoff' && now - s.dialedAt >= HURRY_AFTER_MS);
    if (!slot) return false;
    if (slot.timer) clearTimeout(slot.timer);
    this.connect(slot);
    return slot.state === 'connecting';
  }

  /** Account a stream on its session (for least-loaded picking). */
  track(session: H2Session, stream: H2Stream): void {
    const slot = this.slots.find((s) => s.session === session);
    if (!slot) return;
    slot.streams++;
    // After a GOAWAY the slot may already hold a newer session: only count down the session it counted.
    stream.once('close', () => { if (slot.session === session) slot.streams--; });
  }

  /** The ready session with the fewest open streams, if any (acquire() without the promise); never on an
   * ejected address. `avoid` (a replay): not that session, and another address when one is ready. */
  pick(avoid?: Place): H2Session | undefined {
    let best: Slot | undefined;
    let bestScore = Infinity;
    for (const s of this.slots) {
      if (s.state !== 'ready' || !s.session || !s.session.available || s.session === avoid?.connection) continue;
      if (s.address !== undefined && this.health.isEjected(s.address)) continue;
      // Another address first (a replay), then the fewest streams.
      const score = (avoid && s.address === avoid.address ? 1e9 : 0) + s.streams;
      if (score < bestScore) [best, bestScore] = [s, score];
    }
    return best?.session;
  }

  /** The session's connection failed (a reset): data the remote had sent, an answer too, may be lost. */
  isBroken(session: H2Session): boolean {
    return this.broken.has(session);
  }

  /** Where a session of this pool goes (for the stream's outcome and a replay). */
  placeOf(session: H2Session): Place | undefined {
    const address = this.addressOf.get(session);
    return address === undefined ? undefined : { address, connection: session };
  }

  /** A tunnel request's outcome on a session: an answer (any status) is a success; a reset or no answer
   * counts against its address. */
  report(session: H2Session, failure?: { kind: FailureKind; detail: string }): void {
    const address = this.addressOf.get(session);
    if (address === undefined) return;
    if (!failure) return this.health.success(address);
    this.o.metrics.remoteFailures.inc({ remote_cluster: this.remote.cluster, reason: failure.kind });
    this.health.failure(address, failure.kind, failure.detail);
  }

  /** An ejected address: its sessions retire (live streams finish) and their slots reconnect elsewhere. */
  private leave(address: string): void {
    for (const slot of this.slots) {
      if (slot.address !== address || slot.state !== 'ready') continue;
      this.retire(slot);
      this.connect(slot);
    }
    this.gauge();
  }

  /** An address is back: slots whose home it is return to it, one at a time while another slot is ready. */
  private moveHome(address: string): void {
    for (const slot of this.slots) {
      if (this.remote.addresses[slot.home] !== address || slot.address === address || slot.state !== 'ready') continue;
      if (this.readySessions() < 2) return;
      this.retire(slot);
      slot.addressIndex = slot.home;
      this.connect(slot);
    }
    this.gauge();
  }

  /** Out of the slot first: closing a session with no streams left ends it at once (its 'close' must not
   * count as the slot's connection lost). It closes once its live streams are done. */
  private retire(slot: Slot): void {
    const session = slot.session;
    slot.session = undefined;
    slot.state = 'backoff';
    if (!session) return;
    this.retiring.add(session);
    session.once('close', () => this.retiring.delete(session));
    session.close();
  }

  private connect(slot: Slot): void {
    if (this.closed) return;
    const ctx = this.o.context();
    const r = this.remote;
    const next = this.health.eligibleFrom(slot.addressIndex);
    slot.addressIndex = next.index;
    const address = next.address;
    slot.address = address;
    if (!ctx) {
      this.retry(slot, new Error('no credentials yet'));
      return;
    }
    slot.state = 'connecting';
    const started = performance.now();
    slot.dialedAt = started;
    dial({ address, port: r.port, alpn: ALPN_H2, context: ctx, trustDomain: this.o.trustDomain, identity: r.identity, timeoutMs: this.o.connectTimeoutMs })
      .then(({ sock }) => {
        if (this.closed) {
          sock.destroy();
          return;
        }
        if (this.health.isEjected(address)) {
          // Ejected while this dial was under way.
          sock.destroy();
          this.retry(slot);
          return;
        }
        this.o.metrics.handshake.observe({ direction: 'outbound' }, (performance.now() - started) / 1000);
        const session = h2connect(sock, { streamWindow: this.o.streamWindow, connectionWindow: this.o.connectionWindow, maxFrameSize: 64 * 1024, streamWritableHighWaterMark: this.o.streamWritableHighWaterMark });
        slot.session = session;
        slot.streams = 0;
        this.addressOf.set(session, address);
        sock.once('error', () => this.broken.add(session));
        this.keepalive.watch(session, sock);
        // GOAWAY (remote draining): its live streams finish on this session, but new streams need a new
        // connection now (through the Service, to a replica that is not draining). Waiting for the close and
        // a backoff left the pool with no usable slot, so tunnels opened meanwhile were refused.
        session.once('goaway', () => {
          if (slot.session !== session) return;
          this.retire(slot);
          this.gauge();
          if (!this.closed) this.connect(slot);
        });
        session.once('close', (err) => {
          if (err) this.o.logger.debug('pool session closed', { remoteCluster: r.cluster, address, error: err.message, code: err.code });
          if (slot.session !== session) return;
          slot.session = undefined;
          // Not 'ready' before the failure is counted: an ejection it causes must not reconnect this slot too.
          slot.state = 'backoff';
          this.gauge();
          if (!this.closed) {
            this.o.logger.info('connection to remote gateway closed; reconnecting', { remoteCluster: r.cluster, address });
            // Lost without a GOAWAY (reset, crashed, cut off): against its address.
            this.o.metrics.remoteFailures.inc({ remote_cluster: r.cluster, reason: 'closed' });
            this.health.failure(address, 'closed', err?.message ?? 'the connection closed without a GOAWAY');
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
        this.o.metrics.remoteFailures.inc({ remote_cluster: r.cluster, reason: 'connect' });
        this.health.failure(address, 'connect', err.message);
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
    this.health.stop();
    this.keepalive.stop();
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
    this.o.metrics.ejected.set({ remote_cluster: this.remote.cluster }, 0);
  }
}
