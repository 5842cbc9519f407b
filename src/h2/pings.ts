// PINGs we send and their ACKs: round trip times for liveness checks (the mirror's probe may use them),
// failed when the connection goes or no ACK comes within the limit (checked on the shared tick).
import { H2Error } from './errors.js';
import { pingFrame } from './frames.js';

interface Pending {
  at: number;
  done: (err: Error | undefined, ms?: number) => void;
}

export class Pings {
  private readonly pending = new Map<bigint, Pending>();
  private seq = 0n;

  constructor(private readonly send: (b: Buffer) => void) {}

  /** Sends a PING; resolves with its round trip in ms. */
  ping(): Promise<number> {
    return new Promise((resolve, reject) => {
      const data = Buffer.alloc(8);
      data.writeBigUInt64BE(++this.seq);
      this.pending.set(this.seq, { at: performance.now(), done: (err, ms) => (err ? reject(err) : resolve(ms!)) });
      this.send(pingFrame(false, data));
    });
  }

  acked(data: Buffer): void {
    const key = data.readBigUInt64BE(0);
    const p = this.pending.get(key);
    if (!p) return;
    this.pending.delete(key);
    p.done(undefined, performance.now() - p.at);
  }

  /** Fails PINGs older than `limitSec`. */
  expire(limitSec: number): void {
    const now = performance.now();
    for (const [k, p] of this.pending) {
      if (now - p.at < limitSec * 1000) continue;
      this.pending.delete(k);
      p.done(new H2Error('ERR_H2_SESSION_CLOSED', `no PING acknowledgement within ${limitSec} s`));
    }
  }

  failAll(err: Error): void {
    for (const p of this.pending.values()) p.done(err);
    this.pending.clear();
  }
}
