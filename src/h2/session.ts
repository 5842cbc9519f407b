// An HTTP/2 connection over an established duplex (a TLSSocket after ALPN h2), client or server role,
// for CONNECT tunnels and plain requests. It reads the socket continuously (never pauses it around
// writes), writes frames straight to it, and keeps flow control both ways: stream and connection windows
// we grant are credited back as consumers read; windows the peer grants pace our writers, and a full
// socket holds their callbacks (backpressure) until it drains. Frame handling is in receive.ts.
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { DEFAULT_WINDOW, ErrorCode, FRAME_HEADER, PREFACE, SettingId, MAX_WINDOW } from './constants.js';
import { H2Error, ProtocolViolation } from './errors.js';
import { goawayFrame, headersFrames, rstFrame, settingsFrame, windowUpdateFrame } from './frames.js';
import { Pings } from './pings.js';
import { Sender } from './send.js';
import { toFieldList, type Headers, type OutgoingHeaders } from './headers.js';
import { Decoder, Encoder } from './hpack.js';
import { Budget, DEFAULT_LIMITS, nowSec, register, unregister, type Limits } from './limits.js';
import { FrameReader } from './reader.js';
import { Receiver } from './receive.js';
import { H2Stream, type StreamOwner } from './stream.js';

export interface SessionOptions {
  /** SETTINGS_INITIAL_WINDOW_SIZE we grant each stream (default 4 MiB: one stream can fill a fast link). */
  streamWindow?: number;
  /** Connection receive window (default 64 MiB), opened with a WINDOW_UPDATE right after the preface. */
  connectionWindow?: number;
  /** SETTINGS_MAX_FRAME_SIZE we accept (default 64 KiB). */
  maxFrameSize?: number;
  /** Bytes queued on the socket past which writers wait for 'drain' (default: the socket's own mark, 16 KiB
   * for a TLS socket): a writer waits for a large frame's write to complete rather than queueing more behind
   * it, which Node would hand to TLS as one writev (a copy of everything queued). */
  socketHighWaterMark?: number;
  streamReadableHighWaterMark?: number;
  streamWritableHighWaterMark?: number;
  limits?: Partial<Limits>;
}

export interface SessionEvents {
  /** The peer's first SETTINGS arrived. */
  connect: [];
  /** Server side: a new request (CONNECT or other); `stream.headers` holds it. */
  stream: [stream: H2Stream, headers: Headers];
  goaway: [code: number, lastStreamId: number, debug: string];
  /** The connection is gone; `err` says why when it was not a clean close. */
  close: [err: H2Error | undefined];
}

/** Grant WINDOW_UPDATE once a quarter of a window was consumed: few frames, and the sender never waits. */
const CREDIT_FRACTION = 4;

export class H2Session extends EventEmitter<SessionEvents> implements StreamOwner {
  readonly streams = new Map<number, H2Stream>();
  /** @internal state shared with the Receiver. */
  readonly limits: Limits;
  readonly decoder: Decoder;
  readonly encoder = new Encoder();
  readonly localStreamWindow: number;
  readonly localConnWindow: number;
  readonly localMaxFrame: number;
  peerInitialWindow = DEFAULT_WINDOW;
  peerMaxStreams = Infinity;
  recvWindow = DEFAULT_WINDOW;
  connOwed = 0;
  nextStreamId: number;
  lastPeerStreamId = 0;
  /** Peer-initiated streams open now (for MAX_CONCURRENT_STREAMS); ours open now. */
  peerStreams = 0;
  localStreams = 0;
  settingsReceived = false;
  /** GOAWAY we sent (last-stream-id) / received. */
  goawaySent = -1;
  goawayReceived = -1;
  closed = false;
  private holdFinish = false;
  closeError: H2Error | undefined;
  readonly resets: Budget;
  readonly control: Budget;
  private readonly reader: FrameReader;
  readonly out: Sender;
  private readonly streamOpts: { readableHighWaterMark?: number; writableHighWaterMark?: number };
  private settingsSentAt: number;
  private settingsAcked = false;
  private readonly startedAt = nowSec();
  readonly pings = new Pings((b) => this.send(b));

  constructor(
    readonly socket: Duplex,
    readonly isServer: boolean,
    o: SessionOptions = {},
  ) {
    super();
    this.limits = { ...DEFAULT_LIMITS, ...o.limits };
    this.localStreamWindow = o.streamWindow ?? 4 * 1024 * 1024;
    this.localConnWindow = o.connectionWindow ?? 64 * 1024 * 1024;
    this.localMaxFrame = o.maxFrameSize ?? 64 * 1024;
    this.out = new Sender(socket, o.socketHighWaterMark ?? socket.writableHighWaterMark, this.limits.maxOutboundQueue);
    this.streamOpts = { readableHighWaterMark: o.streamReadableHighWaterMark, writableHighWaterMark: o.streamWritableHighWaterMark };
    this.decoder = new Decoder(4096, this.limits.maxHeaderListSize);
    this.resets = new Budget(this.limits.resetBurst, this.limits.resetRate);
    this.control = new Budget(this.limits.controlBurst, this.limits.controlRate);
    this.nextStreamId = isServer ? 2 : 1;
    this.reader = new FrameReader(new Receiver(this), this.localMaxFrame, isServer);
    const settings: Array<[number, number]> = [[SettingId.ENABLE_PUSH, 0], [SettingId.MAX_CONCURRENT_STREAMS, this.limits.maxConcurrentStreams]];
    settings.push([SettingId.INITIAL_WINDOW_SIZE, this.localStreamWindow], [SettingId.MAX_FRAME_SIZE, this.localMaxFrame], [SettingId.MAX_HEADER_LIST_SIZE, this.limits.maxHeaderListSize]);
    socket.cork();
    if (!isServer) socket.write(PREFACE);
    socket.write(settingsFrame(settings));
    if (this.localConnWindow > DEFAULT_WINDOW) socket.write(windowUpdateFrame(0, this.localConnWindow - DEFAULT_WINDOW));
    socket.uncork();
    this.recvWindow = this.localConnWindow;
    this.settingsSentAt = nowSec();
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.terminate(this.closeError ?? (this.streams.size ? new H2Error('ERR_H2_SESSION_CLOSED', 'the peer closed the connection') : undefined)));
    socket.on('error', (err: Error) => this.terminate(new H2Error('ERR_H2_SESSION_CLOSED', `connection failed: ${err.message}`)));
    socket.on('close', () => this.terminate(this.closeError));
    register(this);
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    // Frames this chunk makes us send (ACKs, WINDOW_UPDATEs, answers of in-process consumers) leave
    // together in one TLS record.
    this.socket.cork();
    try {
      this.reader.push(chunk);
    } catch (err) {
      if (!(err instanceof ProtocolViolation)) throw err;
      this.connectionError(err);
    } finally {
      this.socket.uncork();
    }
  }

  /** Client side: opens a stream with a request (CONNECT: `{':method': 'CONNECT', ':authority': …}`). */
  request(headers: OutgoingHeaders, options: { endStream?: boolean } = {}): H2Stream {
    if (this.isServer) throw new H2Error('ERR_H2_UNAVAILABLE', 'a server session does not open streams');
    if (this.closed || this.goawaySent >= 0 || this.goawayReceived >= 0) throw new H2Error('ERR_H2_UNAVAILABLE', 'the session is closing; open the stream on another connection');
    if (this.localStreams >= this.peerMaxStreams) throw new H2Error('ERR_H2_UNAVAILABLE', `the peer allows ${this.peerMaxStreams} concurrent streams`);
    if (this.nextStreamId > MAX_WINDOW) throw new H2Error('ERR_H2_UNAVAILABLE', 'stream identifiers exhausted; open a new connection');
    const block = this.encoder.encode(toFieldList(headers), FRAME_HEADER);
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    const s = new H2Stream(id, this, this.peerInitialWindow, this.localStreamWindow, this.streamOpts);
    this.streams.set(id, s);
    this.localStreams++;
    this.out.sendAll(headersFrames(block, id, options.endStream === true, this.out.peerMaxFrame));
    if (options.endStream) {
      s.localEnded = true;
      s.end();
    }
    return s;
  }

  /** Whether request() can open a stream now. */
  get available(): boolean {
    return !this.closed && this.goawaySent < 0 && this.goawayReceived < 0 && this.localStreams < this.peerMaxStreams;
  }

  /** Round trip time of a PING, in ms. */
  ping(): Promise<number> {
    if (this.closed) return Promise.reject(new H2Error('ERR_H2_SESSION_CLOSED', 'the session is closed'));
    return this.pings.ping();
  }

  /** Graceful close: GOAWAY with the last stream we took; open streams finish, then the socket closes. */
  close(): void {
    if (this.closed || this.goawaySent >= 0) return;
    this.goawaySent = this.isServer ? this.lastPeerStreamId : 0;
    this.send(goawayFrame(this.goawaySent, ErrorCode.NO_ERROR));
    this.maybeFinish();
  }

  /** Hard close: every stream is destroyed, the socket too. */
  destroy(err?: Error): void {
    if (this.closed) return;
    const e = err ? (err instanceof H2Error ? err : new H2Error('ERR_H2_ABORTED', err.message)) : undefined;
    if (this.goawaySent < 0) {
      this.goawaySent = this.lastPeerStreamId;
      this.send(goawayFrame(this.lastPeerStreamId, e ? ErrorCode.INTERNAL_ERROR : ErrorCode.NO_ERROR));
    }
    this.terminate(e);
    this.socket.destroy();
  }

  /** @internal A connection error: GOAWAY(code) and the end of every stream. */
  connectionError(v: ProtocolViolation): void {
    if (this.closed) return;
    const abuse = v.h2Code === ErrorCode.ENHANCE_YOUR_CALM;
    const err = new H2Error(abuse ? 'ERR_H2_PEER_ABUSE' : 'ERR_H2_PROTOCOL', v.message, v.h2Code);
    if (this.goawaySent < 0 || this.goawaySent === 0) this.goawaySent = this.lastPeerStreamId;
    this.send(goawayFrame(this.lastPeerStreamId, v.h2Code, v.message));
    this.closeError = err;
    this.terminate(err);
    // Flushes the GOAWAY, then closes (net.Socket.destroySoon; a plain Duplex is ended).
    const s = this.socket as Duplex & { destroySoon?: () => void };
    if (s.destroySoon) s.destroySoon();
    else s.end();
  }

  /** Ends every stream and the session's life (once). */
  private terminate(err: H2Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.closeError = err;
    unregister(this);
    const streamErr = err ?? new H2Error('ERR_H2_SESSION_CLOSED', 'the connection closed before the stream ended');
    for (const s of this.streams.values()) {
      s.detached = true;
      if (!s.destroyed) s.destroy(s.localEnded && s.remoteEnded ? undefined : streamErr);
    }
    this.streams.clear();
    this.out.failAll(streamErr);
    this.pings.failAll(streamErr);
    if (!this.socket.destroyed) this.socket.end();
    this.emit('close', err);
  }

  /** @internal called about once a second by the shared timer. */
  tick(now: number, elapsed: number): void {
    this.resets.refill(elapsed);
    this.control.refill(elapsed);
    const limit = this.limits.settingsTimeoutSec;
    if (!this.settingsAcked && now - this.settingsSentAt > limit) {
      this.connectionError(new ProtocolViolation(ErrorCode.SETTINGS_TIMEOUT, `the peer did not acknowledge our SETTINGS within ${limit} s`));
    } else if (!this.settingsReceived && now - this.startedAt > limit) {
      this.connectionError(new ProtocolViolation(ErrorCode.SETTINGS_TIMEOUT, `no preface and SETTINGS from the peer within ${limit} s`));
    }
    this.pings.expire(limit);
  }

  /** @internal */
  settingsAck(): void {
    this.settingsAcked = true;
  }

  // ---- writing ----

  /** @internal */
  send(buf: Buffer): void {
    this.out.send(buf);
  }

  /** @internal a frame we owe the peer (ACKs). */
  sendControl(buf: Buffer): void {
    this.out.sendControl(buf);
  }

  tryWrite(s: H2Stream, chunk: Buffer): boolean {
    if (s.detached || this.closed || s.localEnded || s.rstCode !== undefined || (this.isServer && !s.responded)) return false;
    return this.out.tryWrite(s, chunk);
  }

  writeData(s: H2Stream, chunk: Buffer, cb: (err?: Error | null) => void): void {
    // The peer answered in full and reset with NO_ERROR: it wants no more of the upload (RFC 9113 §8.1).
    if (s.rstCode === ErrorCode.NO_ERROR) return cb();
    if (s.detached || this.closed || s.localEnded) return cb(new H2Error('ERR_H2_SESSION_CLOSED', `stream ${s.id} can no longer send`));
    if (this.isServer && !s.responded) this.respond(s, { ':status': 200 }, false);
    this.out.write(s, chunk, cb);
  }

  /** @internal the peer's window grew. */
  windowOpened(s?: H2Stream): void {
    this.out.windowOpened(s);
  }

  endStream(s: H2Stream, cb: (err?: Error | null) => void): void {
    if (s.localEnded) return cb();
    if (s.detached || this.closed) return cb(new H2Error('ERR_H2_SESSION_CLOSED', `stream ${s.id} can no longer send`));
    if (this.isServer && !s.responded) {
      this.respond(s, { ':status': 200 }, true);
      return cb();
    }
    s.localEnded = true;
    this.out.end(s.id);
    this.maybeClose(s);
    cb();
  }

  respond(s: H2Stream, headers: OutgoingHeaders, endStream: boolean): void {
    if (!this.isServer || s.responded) throw new H2Error('ERR_H2_INVALID_HEADERS', 'respond() only once, on a server stream');
    if (s.detached || this.closed) return;
    const block = this.encoder.encode(toFieldList(headers), FRAME_HEADER);
    s.responded = true;
    this.out.sendAll(headersFrames(block, s.id, endStream, this.out.peerMaxFrame));
    if (endStream) {
      s.localEnded = true;
      this.maybeClose(s);
    }
  }

  // ---- receive-side credit ----

  /** Credits what the stream's consumer has read since the last call (WINDOW_UPDATE when worth it). */
  consumed(s: H2Stream): void {
    const d = s.delivered - s.readableLength - s.accounted;
    if (d <= 0) return;
    s.accounted += d;
    this.connOwed += d;
    if (!s.detached && !s.remoteEnded) {
      s.streamOwed += d;
      if (s.streamOwed >= this.localStreamWindow / CREDIT_FRACTION) {
        this.send(windowUpdateFrame(s.id, s.streamOwed));
        s.recvWindow += s.streamOwed;
        s.streamOwed = 0;
      }
    }
    this.creditConnection();
  }

  /** @internal */
  creditConnection(): void {
    if (this.connOwed < this.localConnWindow / CREDIT_FRACTION || this.closed) return;
    this.send(windowUpdateFrame(0, this.connOwed));
    this.recvWindow += this.connOwed;
    this.connOwed = 0;
  }

  // ---- stream lifecycle ----

  /** @internal both sides ended: the stream leaves the session (its buffered data stays readable). */
  maybeClose(s: H2Stream): void {
    if (!s.localEnded || !s.remoteEnded || s.detached) return;
    this.remove(s);
  }

  private remove(s: H2Stream): void {
    s.detached = true;
    if (this.streams.delete(s.id)) {
      if ((s.id & 1) === (this.isServer ? 1 : 0)) this.peerStreams--;
      else this.localStreams--;
    }
    this.out.drop(s);
    this.maybeFinish();
  }

  /** @internal the stream was destroyed locally (or after a reset): RST_STREAM unless it ended cleanly. */
  destroyed(s: H2Stream, err: Error | null): void {
    // Data still buffered will never be read: give its connection window back.
    this.connOwed += s.delivered - s.accounted;
    s.accounted = s.delivered;
    if (s.detached) return this.creditConnection();
    if (s.rstCode === undefined) {
      s.rstCode = s.resetCode ?? (err ? ErrorCode.INTERNAL_ERROR : ErrorCode.CANCEL);
      this.send(rstFrame(s.id, s.rstCode));
    }
    this.remove(s);
    this.creditConnection();
  }

  /** @internal a stream error: RST_STREAM(code); the local stream ends with an error. */
  resetStream(s: H2Stream, code: number, err: H2Error): void {
    if (s.detached) return;
    s.rstCode = code;
    this.send(rstFrame(s.id, code));
    this.remove(s);
    s.destroy(err);
  }

  /** @internal */
  maybeFinish(): void {
    if (this.closed || this.holdFinish || this.streams.size > 0) return;
    if (this.goawaySent >= 0 || this.goawayReceived >= 0) {
      // Our GOAWAY (or theirs) is out and nothing is left to finish.
      this.terminate(this.closeError);
    }
  }

  /** @internal the peer reset the stream. */
  streamReset(st: H2Stream, err: H2Error | null): void {
    this.remove(st);
    if (st.rstCode === ErrorCode.NO_ERROR && st.remoteEnded) {
      // A complete answer followed by RST_STREAM(NO_ERROR): what was received stays readable.
      st.localEnded = true;
      if (!st.writableEnded) st.end();
      return;
    }
    st.destroy(err ?? undefined);
  }

  /** @internal GOAWAY from the peer: our streams above `last` never reached it (safe to retry). */
  peerGoaway(last: number, code: number, debug: string): void {
    this.goawayReceived = this.goawayReceived < 0 ? last : Math.min(last, this.goawayReceived);
    if (code !== ErrorCode.NO_ERROR) this.closeError = new H2Error('ERR_H2_SESSION_CLOSED', `the peer closed the connection${debug ? `: ${debug}` : ''}`, code);
    // 'goaway' comes before 'close': the session does not finish while its refused streams leave.
    this.holdFinish = true;
    for (const st of [...this.streams.values()]) {
      const ours = (st.id & 1) === (this.isServer ? 0 : 1);
      if (!ours || st.id <= last) continue;
      st.rstCode = ErrorCode.REFUSED_STREAM;
      this.remove(st);
      st.destroy(new H2Error('ERR_H2_REFUSED', `stream ${st.id} is above the peer's GOAWAY last-stream-id ${last}; retry it on another connection`, ErrorCode.REFUSED_STREAM));
    }
    this.holdFinish = false;
    this.emit('goaway', code, last, debug);
    this.maybeFinish();
  }

  /** @internal */
  newStream(id: number): H2Stream {
    const s = new H2Stream(id, this, this.peerInitialWindow, this.localStreamWindow, this.streamOpts);
    this.streams.set(id, s);
    this.peerStreams++;
    return s;
  }
}
