// Frames from the peer, checked as RFC 9113 §5–6 require: what breaks the connection's state is a
// connection error (GOAWAY), what concerns one stream a stream error (RST_STREAM); PRIORITY is parsed and
// ignored, unknown frame types are ignored, padding is accepted. Frames that cost work and carry nothing
// draw on the session's budgets, resets on the reset budget (rapid reset).
import { ErrorCode, Flag, FrameType, MAX_FRAME_SIZE, MAX_WINDOW, MIN_FRAME_SIZE, SettingId } from './constants.js';
import { H2Error, ProtocolViolation } from './errors.js';
import { SETTINGS_ACK, pingFrame, rstFrame, headersFrames } from './frames.js';
import { toHeaders } from './headers.js';
import { HpackError } from './hpack.js';
import type { FrameHandler } from './reader.js';
import type { H2Session } from './session.js';
import type { H2Stream } from './stream.js';

const conn = (code: number, msg: string) => new ProtocolViolation(code, msg);
const { PROTOCOL_ERROR, FRAME_SIZE_ERROR, FLOW_CONTROL_ERROR, STREAM_CLOSED, ENHANCE_YOUR_CALM } = ErrorCode;

interface HeaderBlock {
  id: number;
  flags: number;
  parts: Buffer[];
  size: number;
  frames: number;
  /** Stream error found in the HEADERS frame itself (the block must still be decoded). */
  error?: string;
}

export class Receiver implements FrameHandler {
  private block: HeaderBlock | undefined;
  private dataTarget: H2Stream | undefined;
  private dataFlags = 0;

  constructor(private readonly s: H2Session) {}

  onFrame(type: number, flags: number, id: number, p: Buffer): void {
    if (this.block && type !== FrameType.CONTINUATION) throw conn(PROTOCOL_ERROR, `frame type ${type} inside a header block`);
    if (!this.s.settingsReceived && type !== FrameType.SETTINGS) throw conn(PROTOCOL_ERROR, 'the first frame from the peer must be SETTINGS');
    switch (type) {
      case FrameType.DATA:
        return this.paddedData(flags, id, p);
      case FrameType.HEADERS:
        return this.headers(flags, id, p);
      case FrameType.CONTINUATION:
        return this.continuation(flags, id, p);
      case FrameType.PRIORITY:
        return this.priority(id, p);
      case FrameType.RST_STREAM:
        return this.rst(id, p);
      case FrameType.SETTINGS:
        return this.settings(flags, id, p);
      case FrameType.PUSH_PROMISE:
        throw conn(PROTOCOL_ERROR, 'PUSH_PROMISE although push is disabled');
      case FrameType.PING:
        return this.ping(flags, id, p);
      case FrameType.GOAWAY:
        return this.goaway(id, p);
      case FrameType.WINDOW_UPDATE:
        return this.windowUpdate(id, p);
      default:
        this.spend('unknown frame types');
    }
  }

  /** Draws on the control budget; spent = the peer floods us. */
  private spend(what: string): void {
    if (!this.s.control.take()) throw conn(ENHANCE_YOUR_CALM, `too many ${what}`);
  }

  /** A stream id the peer could open next (never used): frames on it other than HEADERS/PRIORITY are errors. */
  private idle(id: number): boolean {
    const peerInitiated = (id & 1) === (this.s.isServer ? 1 : 0);
    return peerInitiated ? id > this.s.lastPeerStreamId : id >= this.s.nextStreamId;
  }

  /** A stream error caused by the peer; resets draw on the reset budget ("made you reset"). */
  private streamError(id: number, code: number, msg: string): void {
    if (!this.s.resets.take()) throw conn(ENHANCE_YOUR_CALM, 'too many stream errors');
    const st = this.s.streams.get(id);
    if (st) this.s.resetStream(st, code, new H2Error('ERR_H2_PROTOCOL', `stream ${id}: ${msg}`, code));
    else this.s.send(rstFrame(id, code));
  }

  // ---- DATA ----

  onDataStart(flags: number, id: number, length: number): void {
    if (this.block) throw conn(PROTOCOL_ERROR, 'DATA inside a header block');
    if (!this.s.settingsReceived) throw conn(PROTOCOL_ERROR, 'the first frame from the peer must be SETTINGS');
    this.dataFlags = flags;
    this.dataTarget = this.dataHeader(flags, id, length, 0);
  }

  onDataChunk(chunk: Buffer): void {
    const t = this.dataTarget;
    if (t && !t.detached && !t.destroyed) {
      t.delivered += chunk.length;
      t.push(chunk);
      this.s.consumed(t);
    } else {
      this.s.connOwed += chunk.length;
    }
  }

  onDataEnd(): void {
    const t = this.dataTarget;
    this.dataTarget = undefined;
    this.s.creditConnection();
    if (!t || (this.dataFlags & Flag.END_STREAM) === 0 || t.detached || t.destroyed) return;
    t.remoteEnded = true;
    t.push(null);
    this.s.maybeClose(t);
  }

  private paddedData(flags: number, id: number, p: Buffer): void {
    const pad = p.length > 0 ? p[0]! : 0;
    if (p.length === 0 || pad >= p.length) throw conn(PROTOCOL_ERROR, 'DATA padding longer than the frame');
    this.dataFlags = flags;
    this.dataTarget = this.dataHeader(flags, id, p.length, pad + 1);
    if (p.length - pad - 1 > 0) this.onDataChunk(p.subarray(1, p.length - pad));
    this.onDataEnd();
  }

  /** Flow control and state checks of a DATA frame; the stream its payload goes to, if any. */
  private dataHeader(flags: number, id: number, length: number, padding: number): H2Stream | undefined {
    const s = this.s;
    if (id === 0) throw conn(PROTOCOL_ERROR, 'DATA on stream 0');
    if (length > s.recvWindow) throw conn(FLOW_CONTROL_ERROR, `DATA of ${length} bytes exceeds the connection window ${s.recvWindow}`);
    s.recvWindow -= length;
    // Padding is credited at once: no consumer will read it.
    s.connOwed += padding;
    if (length === 0 && (flags & Flag.END_STREAM) === 0) this.spend('empty DATA frames');
    const st = s.streams.get(id);
    if (!st) {
      if (this.idle(id)) throw conn(PROTOCOL_ERROR, `DATA on idle stream ${id}`);
      // A stream we closed or reset: its frames in flight are dropped (their window given back).
      s.connOwed += length - padding;
      this.spend('frames on closed streams');
      return undefined;
    }
    const fail = (code: number, msg: string) => {
      s.connOwed += length - padding;
      this.streamError(id, code, msg);
      return undefined;
    };
    if (st.remoteEnded) return fail(STREAM_CLOSED, 'DATA after END_STREAM');
    if (!s.isServer && !st.responded) return fail(PROTOCOL_ERROR, 'DATA before the response headers');
    if (length > st.recvWindow) return fail(FLOW_CONTROL_ERROR, `DATA of ${length} bytes exceeds the stream window ${st.recvWindow}`);
    st.recvWindow -= length;
    return st;
  }

  // ---- header blocks ----

  private headers(flags: number, id: number, p: Buffer): void {
    if (id === 0) throw conn(PROTOCOL_ERROR, 'HEADERS on stream 0');
    let start = 0;
    let end = p.length;
    if (flags & Flag.PADDED) {
      const pad = p.length > 0 ? p[0]! : 0;
      start = 1;
      if (p.length === 0 || pad > p.length - 1 - (flags & Flag.PRIORITY ? 5 : 0)) throw conn(PROTOCOL_ERROR, 'HEADERS padding longer than the frame');
      end -= pad;
    }
    let error: string | undefined;
    if (flags & Flag.PRIORITY) {
      if (end - start < 5) throw conn(FRAME_SIZE_ERROR, 'HEADERS too short for its priority fields');
      if ((p.readUInt32BE(start) & 0x7fffffff) === id) error = 'stream depends on itself';
      start += 5;
    }
    const b: HeaderBlock = { id, flags, parts: [], size: 0, frames: 0, ...(error ? { error } : {}) };
    this.fragment(b, p.subarray(start, end));
    if (flags & Flag.END_HEADERS) this.complete(b);
    else this.block = b;
  }

  private continuation(flags: number, id: number, p: Buffer): void {
    const b = this.block;
    if (!b || b.id !== id) throw conn(PROTOCOL_ERROR, 'CONTINUATION without a header block to continue');
    if (++b.frames > this.s.limits.maxContinuations) throw conn(ENHANCE_YOUR_CALM, `more than ${this.s.limits.maxContinuations} CONTINUATION frames`);
    this.fragment(b, p);
    if (flags & Flag.END_HEADERS) {
      this.block = undefined;
      this.complete(b);
    }
  }

  private fragment(b: HeaderBlock, part: Buffer): void {
    b.size += part.length;
    if (b.size > this.s.limits.maxHeaderBlockBytes) throw conn(ENHANCE_YOUR_CALM, `header block larger than ${this.s.limits.maxHeaderBlockBytes} bytes`);
    // Copied when the block continues: the socket chunk under it is not kept.
    b.parts.push((b.flags & Flag.END_HEADERS) !== 0 ? part : Buffer.from(part));
  }

  private complete(b: HeaderBlock): void {
    let decoded;
    try {
      // Always decoded, even for a stream we will refuse: the dynamic table must stay in step.
      decoded = this.s.decoder.decode(b.parts.length === 1 ? b.parts[0]! : Buffer.concat(b.parts, b.size));
    } catch (err) {
      if (err instanceof HpackError) throw conn(ErrorCode.COMPRESSION_ERROR, `header block: ${err.message}`);
      throw err;
    }
    const endStream = (b.flags & Flag.END_STREAM) !== 0;
    const s = this.s;
    const st = s.streams.get(b.id);
    if (b.error) return this.streamError(b.id, PROTOCOL_ERROR, b.error);
    if (st) return this.onHeadersForStream(st, decoded.fields, decoded.tooLarge, endStream);
    const peerInitiated = (b.id & 1) === (s.isServer ? 1 : 0);
    if (!peerInitiated) {
      if (s.isServer) throw conn(PROTOCOL_ERROR, `HEADERS on server stream id ${b.id}`);
      if (b.id >= s.nextStreamId) throw conn(PROTOCOL_ERROR, `HEADERS on stream ${b.id}, which was never opened`);
      return this.streamError(b.id, STREAM_CLOSED, 'HEADERS on a closed stream');
    }
    if (!s.isServer) throw conn(PROTOCOL_ERROR, 'push streams are disabled');
    if (b.id <= s.lastPeerStreamId) return this.streamError(b.id, STREAM_CLOSED, 'HEADERS on a closed stream');
    s.lastPeerStreamId = b.id;
    this.openStream(b.id, decoded.fields, decoded.tooLarge, endStream);
  }

  /** Server side: a request opens a stream. */
  private openStream(id: number, fields: string[], tooLarge: boolean, endStream: boolean): void {
    const s = this.s;
    // After our GOAWAY, streams above its last-stream-id are ignored: the peer retries them elsewhere.
    if (s.goawaySent >= 0) return;
    if (tooLarge) {
      const block = s.encoder.encode([':status', '431'], 9);
      for (const f of headersFrames(block, id, true, s.out.peerMaxFrame)) s.send(f);
      return this.streamError(id, ErrorCode.NO_ERROR, 'request header list too large');
    }
    if (s.peerStreams >= s.limits.maxConcurrentStreams) return this.streamError(id, ErrorCode.REFUSED_STREAM, 'concurrent stream limit');
    const h = toHeaders(fields, 'request');
    if (typeof h === 'string') return this.streamError(id, PROTOCOL_ERROR, h);
    const st = s.newStream(id);
    st.headers = h;
    s.emit('stream', st, h);
    if (endStream && !st.detached) {
      st.remoteEnded = true;
      st.push(null);
      s.maybeClose(st);
    }
  }

  /** Response headers (client side) or trailers (either side). */
  private onHeadersForStream(st: H2Stream, fields: string[], tooLarge: boolean, endStream: boolean): void {
    if (st.remoteEnded) return this.streamError(st.id, STREAM_CLOSED, 'HEADERS after END_STREAM');
    if (tooLarge) return this.streamError(st.id, PROTOCOL_ERROR, 'header list too large');
    const response = !this.s.isServer && !st.responded;
    const h = toHeaders(fields, response ? 'response' : 'trailers');
    if (typeof h === 'string') return this.streamError(st.id, PROTOCOL_ERROR, h);
    if (response) {
      const status = Number(h[':status']);
      if (status < 200) {
        // Informational (1xx): a final response follows; 101 does not exist in HTTP/2.
        if (status === 101 || endStream) return this.streamError(st.id, PROTOCOL_ERROR, `informational response ${status}`);
        return;
      }
      st.responded = true;
      st.headers = h;
      st.emit('response', h);
    } else {
      if (!endStream) return this.streamError(st.id, PROTOCOL_ERROR, 'trailers without END_STREAM');
      st.emit('trailers', h);
    }
    if (endStream && !st.detached && !st.destroyed) {
      st.remoteEnded = true;
      st.push(null);
      this.s.maybeClose(st);
    }
  }

  // ---- control frames ----

  private priority(id: number, p: Buffer): void {
    if (id === 0) throw conn(PROTOCOL_ERROR, 'PRIORITY on stream 0');
    this.spend('PRIORITY frames');
    if (p.length !== 5) return this.streamError(id, FRAME_SIZE_ERROR, 'PRIORITY frame not 5 bytes');
    if ((p.readUInt32BE(0) & 0x7fffffff) === id) this.streamError(id, PROTOCOL_ERROR, 'stream depends on itself');
  }

  private rst(id: number, p: Buffer): void {
    if (id === 0) throw conn(PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (p.length !== 4) throw conn(FRAME_SIZE_ERROR, 'RST_STREAM frame not 4 bytes');
    if (this.idle(id)) throw conn(PROTOCOL_ERROR, `RST_STREAM on idle stream ${id}`);
    const st = this.s.streams.get(id);
    if (!st) return this.spend('frames on closed streams');
    // Rapid reset (CVE-2023-44487): every reset the peer sends draws on the reset budget.
    if (!this.s.resets.take()) throw conn(ENHANCE_YOUR_CALM, 'too many stream resets');
    const code = p.readUInt32BE(0);
    st.rstCode = code;
    const refused = code === ErrorCode.REFUSED_STREAM;
    const err =
      code === ErrorCode.NO_ERROR || code === ErrorCode.CANCEL
        ? null
        : new H2Error(refused ? 'ERR_H2_REFUSED' : 'ERR_H2_STREAM_RESET', `stream ${id} reset by the peer`, code);
    this.s.streamReset(st, err);
  }

  private settings(flags: number, id: number, p: Buffer): void {
    const s = this.s;
    if (id !== 0) throw conn(PROTOCOL_ERROR, 'SETTINGS on a stream');
    if (flags & Flag.ACK) {
      if (p.length !== 0) throw conn(FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
      return s.settingsAck();
    }
    if (p.length % 6 !== 0) throw conn(FRAME_SIZE_ERROR, 'SETTINGS length not a multiple of 6');
    if (s.settingsReceived) this.spend('SETTINGS frames');
    for (let at = 0; at < p.length; at += 6) this.setting(p.readUInt16BE(at), p.readUInt32BE(at + 2));
    s.sendControl(SETTINGS_ACK);
    if (!s.settingsReceived) {
      s.settingsReceived = true;
      s.emit('connect');
    }
  }

  private setting(key: number, value: number): void {
    const s = this.s;
    switch (key) {
      case SettingId.HEADER_TABLE_SIZE:
        return s.encoder.setPeerMaxSize(value);
      case SettingId.ENABLE_PUSH:
        if (value > 1 || (value === 1 && !s.isServer)) throw conn(PROTOCOL_ERROR, `SETTINGS_ENABLE_PUSH ${value}`);
        return;
      case SettingId.MAX_CONCURRENT_STREAMS:
        s.peerMaxStreams = value;
        return;
      case SettingId.INITIAL_WINDOW_SIZE: {
        if (value > MAX_WINDOW) throw conn(FLOW_CONTROL_ERROR, `SETTINGS_INITIAL_WINDOW_SIZE ${value}`);
        const delta = value - s.peerInitialWindow;
        s.peerInitialWindow = value;
        for (const st of s.streams.values()) {
          st.sendWindow += delta;
          if (st.sendWindow > MAX_WINDOW) throw conn(FLOW_CONTROL_ERROR, 'a stream window grew past 2^31-1');
        }
        if (delta > 0) for (const st of s.streams.values()) s.windowOpened(st);
        return;
      }
      case SettingId.MAX_FRAME_SIZE:
        if (value < MIN_FRAME_SIZE || value > MAX_FRAME_SIZE) throw conn(PROTOCOL_ERROR, `SETTINGS_MAX_FRAME_SIZE ${value}`);
        s.out.peerMaxFrame = value;
        return;
      default:
      // MAX_HEADER_LIST_SIZE is advisory; unknown settings are ignored.
    }
  }

  private ping(flags: number, id: number, p: Buffer): void {
    if (id !== 0) throw conn(PROTOCOL_ERROR, 'PING on a stream');
    if (p.length !== 8) throw conn(FRAME_SIZE_ERROR, 'PING frame not 8 bytes');
    if (flags & Flag.ACK) return this.s.pings.acked(p);
    this.spend('PING frames');
    this.s.sendControl(pingFrame(true, p));
  }

  private goaway(id: number, p: Buffer): void {
    if (id !== 0) throw conn(PROTOCOL_ERROR, 'GOAWAY on a stream');
    if (p.length < 8) throw conn(FRAME_SIZE_ERROR, 'GOAWAY shorter than 8 bytes');
    const last = p.readUInt32BE(0) & 0x7fffffff;
    const code = p.readUInt32BE(4);
    this.s.peerGoaway(last, code, p.toString('utf8', 8, Math.min(p.length, 8 + 256)));
  }

  private windowUpdate(id: number, p: Buffer): void {
    const s = this.s;
    if (p.length !== 4) throw conn(FRAME_SIZE_ERROR, 'WINDOW_UPDATE frame not 4 bytes');
    const inc = p.readUInt32BE(0) & 0x7fffffff;
    if (id === 0) {
      if (inc === 0) throw conn(PROTOCOL_ERROR, 'WINDOW_UPDATE of 0 on the connection');
      if (s.out.window + inc > MAX_WINDOW) throw conn(FLOW_CONTROL_ERROR, 'connection window past 2^31-1');
      s.out.window += inc;
      return s.windowOpened();
    }
    const st = s.streams.get(id);
    if (!st) {
      if (this.idle(id)) throw conn(PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${id}`);
      return this.spend('frames on closed streams');
    }
    if (inc === 0) return this.streamError(id, PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
    if (st.sendWindow + inc > MAX_WINDOW) return this.streamError(id, FLOW_CONTROL_ERROR, 'stream window past 2^31-1');
    st.sendWindow += inc;
    s.windowOpened(st);
  }
}

