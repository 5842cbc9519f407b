// A SPDY/3.1 server session, the transport kubectl's remote-command (before 1.30) and port-forward use
// (directly, or tunneled in a WebSocket since 1.31). What Kubernetes' moby/spdystream peer needs:
// client-initiated streams (SYN_STREAM → SYN_REPLY), DATA with FIN, RST_STREAM, PING echo, GOAWAY.
// Like spdystream, no flow control is enforced (WINDOW_UPDATE and SETTINGS are read and ignored).
// Header blocks are zlib-compressed with the SPDY/3 dictionary, one context per direction.
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { Duplex } from 'node:stream';
import zlib from 'node:zlib';

const require = createRequire(import.meta.url);
/** The SPDY/3 header dictionary (RFC draft-mbelshe-httpbis-spdy-00 §2.6.10.1), from spdy-transport. */
const DICTIONARY = (require('spdy-transport/lib/spdy-transport/protocol/spdy/dictionary.js') as Record<number, Buffer>)[3] as Buffer;

const VERSION = 3;
const SYN_STREAM = 1;
const SYN_REPLY = 2;
const RST_STREAM = 3;
const PING = 6;
const GOAWAY = 7;
const FLAG_FIN = 0x01;
const MAX_DATA = 64 * 1024;
/** Larger frames are a protocol error (ours are at most 64 KiB, Go's peers write 32 KiB chunks). */
const MAX_FRAME = 1024 * 1024;

export type SpdyHeaders = Record<string, string>;

/** One SPDY stream: readable = the client's DATA, writable = ours; end() sends FIN. */
export class SpdyStream extends Duplex {
  constructor(
    readonly id: number,
    readonly headers: SpdyHeaders,
    private readonly session: SpdySession,
  ) {
    super({ allowHalfOpen: true });
  }

  override _read(): void {}

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    for (let i = 0; i < chunk.length; i += MAX_DATA) this.session.sendData(this.id, chunk.subarray(i, i + MAX_DATA), false);
    // Done once the connection takes more: a slow reader holds back whoever pipes into this stream.
    this.session.whenWritable(() => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.session.sendData(this.id, Buffer.alloc(0), true);
    cb();
  }

  /** Ends the stream abruptly (RST_STREAM CANCEL). */
  reset(): void {
    this.session.sendReset(this.id);
    this.destroy();
  }
}

/** Emits 'stream' (SpdyStream) for every stream the client opens, 'close' when the connection ends. */
export class SpdySession extends EventEmitter {
  private buf: Buffer = Buffer.alloc(0);
  private readonly streams = new Map<number, SpdyStream>();
  private readonly inflate = zlib.createInflate({ dictionary: DICTIONARY });
  private readonly deflate = zlib.createDeflate({ dictionary: DICTIONARY });
  /** Frames are handled in order; header blocks need the async zlib contexts. */
  private queue: Promise<void> = Promise.resolve();
  private closed = false;
  /** Writes waiting for the socket to drain. */
  private waiters: Array<() => void> = [];
  /** The highest stream id the client opened: DATA for a higher one is garbage, not a late frame. */
  private lastStreamId = 0;

  constructor(private readonly socket: Duplex) {
    super();
    socket.on('data', (c: Buffer) => this.onData(c));
    socket.on('close', () => this.shutdown());
    socket.on('error', () => this.shutdown());
    socket.on('end', () => this.shutdown());
  }

  close(): void {
    if (this.closed) return;
    this.send(this.control(GOAWAY, 0, Buffer.alloc(8)));
    this.socket.end();
    this.shutdown();
  }

  private shutdown(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.streams.values()) s.destroy();
    this.streams.clear();
    this.inflate.close();
    this.deflate.close();
    this.socket.destroy();
    this.flushWaiters();
    this.emit('close');
  }

  /** Calls `cb` now, or once the socket has drained (or the session is over). */
  whenWritable(cb: () => void): void {
    if (this.closed || !this.socket.writableNeedDrain) return cb();
    this.waiters.push(cb);
    if (this.waiters.length === 1) this.socket.once('drain', () => this.flushWaiters());
  }

  private flushWaiters(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const cb of w) cb();
  }

  private onData(c: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, c]) : c;
    while (this.buf.length >= 8) {
      const len = this.buf.readUIntBE(5, 3);
      if (len > MAX_FRAME) return this.shutdown();
      if (this.buf.length < 8 + len) return;
      const frame = this.buf.subarray(0, 8 + len);
      this.buf = this.buf.subarray(8 + len);
      this.queue = this.queue.then(() => this.handle(frame)).catch(() => this.shutdown());
    }
  }

  private async handle(f: Buffer): Promise<void> {
    if (this.closed) return;
    const flags = f[4] as number;
    const body = f.subarray(8);
    if ((f[0] as number) & 0x80) {
      if ((f.readUInt16BE(0) & 0x7fff) !== VERSION) return this.shutdown();
      const type = f.readUInt16BE(2);
      if (type === SYN_STREAM) await this.onSynStream(body, flags);
      else if (type === RST_STREAM) this.streams.get(body.readUInt32BE(0) & 0x7fffffff)?.destroy();
      else if (type === PING) this.send(this.control(PING, 0, body));
      else if (type === GOAWAY) this.shutdown();
      return; // SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do
    }
    const id = f.readUInt32BE(0) & 0x7fffffff;
    if (id > this.lastStreamId) return this.shutdown();
    const s = this.streams.get(id);
    if (!s) return;
    if (body.length) s.push(Buffer.from(body));
    if (flags & FLAG_FIN) s.push(null);
  }

  private async onSynStream(body: Buffer, flags: number): Promise<void> {
    const id = body.readUInt32BE(0) & 0x7fffffff;
    if (id <= this.lastStreamId) return this.shutdown();
    this.lastStreamId = id;
    const headers = decodeHeaders(await this.zlib(this.inflate, body.subarray(10)));
    const s = new SpdyStream(id, headers, this);
    this.streams.set(id, s);
    s.on('close', () => this.streams.delete(id));
    if (flags & FLAG_FIN) s.push(null);
    const reply = Buffer.alloc(4);
    reply.writeUInt32BE(id, 0);
    this.send(this.control(SYN_REPLY, 0, Buffer.concat([reply, await this.zlib(this.deflate, encodeHeaders({}))])));
    this.emit('stream', s);
  }

  /** Runs one header block through a zlib context and returns what came out (sync flush). */
  private zlib(z: zlib.Inflate | zlib.Deflate, input: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const out: Buffer[] = [];
      const onData = (c: Buffer) => out.push(c);
      z.on('data', onData);
      z.once('error', reject);
      z.write(input);
      z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        z.off('data', onData);
        z.off('error', reject);
        resolve(Buffer.concat(out));
      });
    });
  }

  sendData(id: number, data: Buffer, fin: boolean): void {
    const h = Buffer.alloc(8);
    h.writeUInt32BE(id & 0x7fffffff, 0);
    h[4] = fin ? FLAG_FIN : 0;
    h.writeUIntBE(data.length, 5, 3);
    this.send(data.length ? Buffer.concat([h, data]) : h);
  }

  sendReset(id: number): void {
    const b = Buffer.alloc(8);
    b.writeUInt32BE(id, 0);
    b.writeUInt32BE(5, 4); // CANCEL
    this.send(this.control(RST_STREAM, 0, b));
  }

  private control(type: number, flags: number, data: Buffer): Buffer {
    const h = Buffer.alloc(8);
    h.writeUInt16BE(0x8000 | VERSION, 0);
    h.writeUInt16BE(type, 2);
    h[4] = flags;
    h.writeUIntBE(data.length, 5, 3);
    return Buffer.concat([h, data]);
  }

  private send(b: Buffer): void {
    if (!this.closed && this.socket.writable) this.socket.write(b);
  }
}

function decodeHeaders(b: Buffer): SpdyHeaders {
  const out: SpdyHeaders = {};
  let pos = 0;
  const n = b.readUInt32BE(pos);
  pos += 4;
  for (let i = 0; i < n && pos + 4 <= b.length; i++) {
    const nl = b.readUInt32BE(pos);
    const name = b.subarray(pos + 4, pos + 4 + nl).toString('utf8').toLowerCase();
    pos += 4 + nl;
    const vl = b.readUInt32BE(pos);
    out[name] = b.subarray(pos + 4, pos + 4 + vl).toString('utf8');
    pos += 4 + vl;
  }
  return out;
}

function encodeHeaders(h: SpdyHeaders): Buffer {
  const parts: Buffer[] = [];
  const n = Buffer.alloc(4);
  n.writeUInt32BE(Object.keys(h).length, 0);
  parts.push(n);
  for (const [k, v] of Object.entries(h)) {
    for (const s of [k, v]) {
      const l = Buffer.alloc(4);
      l.writeUInt32BE(Buffer.byteLength(s), 0);
      parts.push(l, Buffer.from(s));
    }
  }
  return Buffer.concat(parts);
}
