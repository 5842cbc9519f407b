// A raw HTTP/2 peer for protocol tests: writes hand-made frames over mTLS and records every frame the
// other side sends, so a test can send what no well-behaved client would and check the exact answer.
import type tls from 'node:tls';
import { PREFACE, FrameType } from '../../src/h2/constants.js';
import { frame } from '../../src/h2/frames.js';
import { Encoder } from '../../src/h2/hpack.js';
import { tlsConnect } from './fixtures.js';

export interface RawFrame {
  type: number;
  flags: number;
  id: number;
  payload: Buffer;
}

export class RawPeer {
  readonly frames: RawFrame[] = [];
  closed = false;
  readonly encoder = new Encoder();
  private buf = Buffer.alloc(0);
  private waiters = new Set<() => void>();

  private constructor(readonly sock: tls.TLSSocket) {
    sock.on('data', (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c]);
      while (this.buf.length >= 9) {
        const len = this.buf.readUIntBE(0, 3);
        if (this.buf.length < 9 + len) break;
        this.frames.push({ type: this.buf[3]!, flags: this.buf[4]!, id: this.buf.readUInt32BE(5) & 0x7fffffff, payload: this.buf.subarray(9, 9 + len) });
        this.buf = this.buf.subarray(9 + len);
      }
      this.notify();
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      this.closed = true;
      this.notify();
    });
  }

  /** Connects; sends the preface and an empty SETTINGS unless `preface` is given (raw bytes to send instead). */
  static async open(port: number, preface?: Buffer): Promise<RawPeer> {
    const p = new RawPeer(await tlsConnect(port));
    p.sock.write(preface ?? Buffer.concat([PREFACE, frame(FrameType.SETTINGS, 0, 0)]));
    return p;
  }

  private notify(): void {
    for (const w of this.waiters) w();
  }

  send(...bufs: Buffer[]): void {
    this.sock.write(Buffer.concat(bufs));
  }

  /** A HEADERS frame (END_HEADERS set) carrying `fields`. */
  headers(id: number, fields: string[], flags = 0x4): Buffer {
    return frame(FrameType.HEADERS, flags, id, this.encoder.encode(fields));
  }

  /** Resolves with the first frame matching, or undefined if the connection closes first (bounded). */
  waitFor(pred: (f: RawFrame) => boolean, timeoutMs = 10_000): Promise<RawFrame | undefined> {
    return new Promise((resolve) => {
      const check = () => {
        const f = this.frames.find(pred);
        if (f || this.closed) {
          clearTimeout(timer);
          this.waiters.delete(check);
          resolve(f);
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        resolve(undefined);
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** The GOAWAY's error code, once one arrived. */
  async goaway(): Promise<number | undefined> {
    const f = await this.waitFor((x) => x.type === FrameType.GOAWAY);
    return f?.payload.readUInt32BE(4);
  }

  async rst(id: number): Promise<number | undefined> {
    const f = await this.waitFor((x) => x.type === FrameType.RST_STREAM && x.id === id);
    return f?.payload.readUInt32BE(0);
  }

  closedAfter(): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed) return resolve();
      this.sock.once('close', () => resolve());
    });
  }

  destroy(): void {
    this.sock.destroy();
  }
}
