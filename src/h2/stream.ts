// One HTTP/2 stream as a Node Duplex: write() → DATA frames within the flow-control windows (false, then
// 'drain', while the peer's window or the socket is full), end() → END_STREAM (half-close), 'end' ← the
// peer's END_STREAM. Bytes are credited back to the peer (WINDOW_UPDATE) only once the consumer has read
// them, so a stalled reader stops the sender and holds at most one window.
import { Duplex } from 'node:stream';
import { ErrorCode } from './constants.js';
import type { Headers, OutgoingHeaders } from './headers.js';

/** What a stream needs from its session (implemented by H2Session). */
export interface StreamOwner {
  /** Sends the chunk now if the windows and the socket take all of it (nothing queued). */
  tryWrite(s: H2Stream, chunk: Buffer): boolean;
  writeData(s: H2Stream, chunk: Buffer, cb: (err?: Error | null) => void): void;
  endStream(s: H2Stream, cb: (err?: Error | null) => void): void;
  consumed(s: H2Stream): void;
  respond(s: H2Stream, headers: OutgoingHeaders, endStream: boolean): void;
  destroyed(s: H2Stream, err: Error | null): void;
}

type WriteCallback = (error: Error | null | undefined) => void;

export interface StreamOptions {
  /** The readable side's buffer before 'data' consumers are considered behind (bytes). */
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
}

export class H2Stream extends Duplex {
  /** Headers received: the request (server side) or the final response (client side). */
  headers: Headers | undefined;
  /** RST_STREAM code, once the stream was reset (by either side). */
  rstCode: number | undefined;
  /** @internal flow control and state, kept by the session. */
  sendWindow: number;
  recvWindow: number;
  delivered = 0;
  accounted = 0;
  streamOwed = 0;
  localEnded = false;
  remoteEnded = false;
  /** Removed from the session (both sides ended, or reset); not Duplex's `closed` ('close' emitted). */
  detached = false;
  responded = false;
  /** A write waiting for window: the rest of its chunk and its callback. */
  pending: Buffer | undefined;
  pendingCb: ((err?: Error | null) => void) | undefined;
  /** The code to reset with when destroyed before both sides ended. */
  resetCode: number | undefined;

  constructor(
    readonly id: number,
    private readonly owner: StreamOwner,
    sendWindow: number,
    recvWindow: number,
    options: StreamOptions,
  ) {
    super({ allowHalfOpen: true, readableHighWaterMark: options.readableHighWaterMark, writableHighWaterMark: options.writableHighWaterMark });
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
  }

  /** Server side: sends the response headers (and ends the stream with them when `endStream`). */
  respond(headers: OutgoingHeaders, options: { endStream?: boolean } = {}): void {
    this.owner.respond(this, headers, options.endStream === true);
    if (options.endStream) this.end();
  }

  /** Abortive close: RST_STREAM(code) and no further frames (CANCEL by default). */
  reset(code: number = ErrorCode.CANCEL): void {
    if (this.destroyed) return;
    this.resetCode = code;
    this.destroy();
  }

  // Fast path: with nothing queued, a chunk below the high-water mark that the windows and the socket take
  // at once goes straight out and write() returns true — exactly what Writable would do after a synchronous
  // _write callback, without its bookkeeping and nextTick per write. Larger chunks keep Writable's path, so
  // its `false` + 'drain' still paces a bulk writer one chunk at a time; so does anything corked, queued,
  // over a window, a string or with a callback.
  override write(chunk: unknown, encoding?: BufferEncoding | WriteCallback, cb?: WriteCallback): boolean {
    if (
      encoding === undefined &&
      Buffer.isBuffer(chunk) &&
      chunk.length > 0 &&
      chunk.length < this.writableHighWaterMark &&
      this.writableLength === 0 &&
      !this.writableCorked &&
      !this.writableEnded &&
      !this.destroyed &&
      this.owner.tryWrite(this, chunk)
    ) {
      return true;
    }
    return super.write(chunk, encoding as BufferEncoding, cb);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.owner.writeData(this, chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.owner.endStream(this, cb);
  }

  override _read(): void {
    this.owner.consumed(this);
  }

  // Data pushed while the stream is flowing with an empty buffer goes straight to 'data' (the session
  // credits it after push()); buffered data leaves through read() (flowing mode calls it too), and
  // _read() alone is not called after every such read: credit here.
  override read(size?: number): ReturnType<Duplex['read']> {
    const chunk: unknown = super.read(size);
    if (chunk !== null) this.owner.consumed(this);
    return chunk;
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.owner.destroyed(this, err);
    cb(err);
  }
}
