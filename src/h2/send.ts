// The sending half of a session: frames straight onto the socket, DATA within the peer's windows (stream
// and connection) and frame size, writers held while the socket's queue is over its mark. A stream whose
// chunk does not fit waits with the rest of it; a WINDOW_UPDATE sends it on.
import type { Duplex } from 'node:stream';
import { DEFAULT_WINDOW, ErrorCode, FRAME_HEADER, Flag, FrameType } from './constants.js';
import { H2Error, ProtocolViolation } from './errors.js';
import { writeHeader } from './frames.js';
import type { H2Stream } from './stream.js';

/** DATA payloads up to this size are copied behind their frame header into a new small buffer. */
const SMALL_DATA = 8 * 1024;
/** Frame buffers kept for reuse per connection (writers wait once the socket holds more than its mark, so
 * few are in flight at once). */
const SPARE_BUFFERS = 4;

type Callback = (err?: Error | null) => void;

export class Sender {
  /** The peer's connection window for our DATA. */
  window = DEFAULT_WINDOW;
  peerMaxFrame = 16_384;
  private readonly blocked = new Set<H2Stream>();
  private readonly spare: Buffer[] = [];
  private drainWaiters: Callback[] = [];

  constructor(
    private readonly socket: Duplex,
    /** Bytes queued on the socket past which writers wait for 'drain'. */
    private readonly highWaterMark: number,
    /** Queue past which a frame we owe the peer (an ACK) means it does not read. */
    private readonly maxQueue: number,
  ) {}

  send(buf: Buffer): void {
    if (!this.socket.destroyed && !this.socket.writableEnded) this.socket.write(buf);
  }

  /** A frame the protocol obliges us to send (ACKs): refused when the peer does not read. */
  sendControl(buf: Buffer): void {
    if (this.socket.writableLength > this.maxQueue) {
      throw new ProtocolViolation(ErrorCode.ENHANCE_YOUR_CALM, 'the peer does not read while sending frames that need an answer');
    }
    this.send(buf);
  }

  sendAll(bufs: Buffer[]): void {
    if (bufs.length === 1) return this.send(bufs[0]!);
    this.socket.cork();
    for (const b of bufs) this.send(b);
    this.socket.uncork();
  }

  /** Sends `chunk` at once if both windows and the socket take all of it; false (nothing sent) otherwise. */
  tryWrite(s: H2Stream, chunk: Buffer): boolean {
    const n = chunk.length;
    if (n > s.sendWindow || n > this.window || s.pending || this.socket.writableLength > this.highWaterMark) return false;
    this.dataFrames(s.id, chunk, n);
    s.sendWindow -= n;
    this.window -= n;
    return true;
  }

  /** Queues `chunk` on the stream and sends what the windows allow; `cb` once all of it is out. */
  write(s: H2Stream, chunk: Buffer, cb: Callback): void {
    s.pending = chunk;
    s.pendingCb = cb;
    this.flush(s);
  }

  private flush(s: H2Stream): void {
    const chunk = s.pending!;
    const n = Math.min(chunk.length, s.sendWindow, this.window);
    if (n > 0) {
      this.dataFrames(s.id, chunk, n);
      s.sendWindow -= n;
      this.window -= n;
    }
    if (n < chunk.length) {
      s.pending = n > 0 ? chunk.subarray(n) : chunk;
      if (this.window <= 0) this.blocked.add(s);
      return;
    }
    const cb = s.pendingCb!;
    s.pending = undefined;
    s.pendingCb = undefined;
    this.blocked.delete(s);
    if (this.socket.writableLength > this.highWaterMark) {
      if (this.drainWaiters.length === 0) this.socket.once('drain', () => this.onDrain());
      this.drainWaiters.push(cb);
    } else cb();
  }

  /** DATA frames for chunk[0, n), within the peer's frame size. */
  private dataFrames(id: number, chunk: Buffer, n: number): void {
    const max = this.peerMaxFrame;
    if (n <= SMALL_DATA && n <= max) {
      const buf = Buffer.allocUnsafe(FRAME_HEADER + n);
      writeHeader(buf, 0, n, FrameType.DATA, 0, id);
      chunk.copy(buf, FRAME_HEADER, 0, n);
      return this.send(buf);
    }
    // Each frame is one write of one buffer: the payload is copied behind its header into a buffer that is
    // reused once its write completed. Measured against the alternatives (a TLS writer's CPU per MB, 64 KiB
    // frames): header and payload as two writes cost ~9 % more than the payload alone (a 9-byte TLS record,
    // a syscall, on the peer one more record and read), corked they are merged by a copy in TLSWrap, a fresh
    // buffer per frame costs ~40 % more (allocation, GC); a reused one ~4 %.
    for (let off = 0; off < n; off += max) {
      const len = Math.min(max, n - off);
      const buf = this.frameBuffer(len);
      writeHeader(buf, 0, len, FrameType.DATA, 0, id);
      chunk.copy(buf, FRAME_HEADER, off, off + len);
      if (this.socket.destroyed || this.socket.writableEnded) return;
      this.socket.write(len === buf.length - FRAME_HEADER ? buf : buf.subarray(0, FRAME_HEADER + len), () => this.release(buf));
    }
  }

  /** A buffer for one frame of up to the peer's frame size: a spare one, or a new one. */
  private frameBuffer(len: number): Buffer {
    const size = FRAME_HEADER + this.peerMaxFrame;
    while (this.spare.length) {
      const b = this.spare.pop()!;
      if (b.length === size) return b;
    }
    return Buffer.allocUnsafe(len > this.peerMaxFrame ? FRAME_HEADER + len : size);
  }

  private release(buf: Buffer): void {
    if (buf.length === FRAME_HEADER + this.peerMaxFrame && this.spare.length < SPARE_BUFFERS) this.spare.push(buf);
  }

  /** END_STREAM alone (flow control does not apply to an empty DATA frame). */
  end(id: number): void {
    const buf = Buffer.allocUnsafe(FRAME_HEADER);
    writeHeader(buf, 0, 0, FrameType.DATA, Flag.END_STREAM, id);
    this.send(buf);
  }

  private onDrain(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const cb of waiters) cb();
  }

  /** A window grew: the stream (or, for the connection, every stream waiting for it) goes on. */
  windowOpened(s?: H2Stream): void {
    if (s) {
      if (!s.pending) return;
      if (this.window > 0) this.flush(s);
      // Its own window is open now, the connection's is not: it waits with the others.
      else this.blocked.add(s);
      return;
    }
    for (const b of this.blocked) {
      if (this.window <= 0) break;
      if (b.pending && b.sendWindow > 0) this.flush(b);
    }
  }

  /** The stream is gone: a write still waiting fails. */
  drop(s: H2Stream): void {
    this.blocked.delete(s);
    if (!s.pendingCb) return;
    const cb = s.pendingCb;
    s.pending = undefined;
    s.pendingCb = undefined;
    cb(new H2Error('ERR_H2_STREAM_RESET', `stream ${s.id} closed with data unsent`, s.rstCode));
  }

  /** The session is gone: every held writer fails. */
  failAll(err: Error): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const cb of waiters) cb(err);
  }
}
