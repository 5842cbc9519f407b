// Liveness of pooled HTTP/2 sessions that carry nothing. A remote gateway that vanished without a FIN or
// RST (a partition, a dead node, a dropped NAT entry) otherwise leaves a "ready" session that only a tunnel
// discovers, by waiting out its request timeout. Each tick, a session that read no byte since the last tick
// gets a PING; no ACK within the timeout means the peer is gone, and the pool replaces the session (its slot
// reconnects) before the next tunnel needs it. A busy session is never pinged: its own bytes show it alive,
// and the check reads the socket's byte counter, so nothing runs per chunk.
import type net from 'node:net';
import type { H2Session } from '../../h2/index.js';

export interface KeepaliveOptions {
  /** A PING after this long without a byte from the remote; 0 = no keepalive. */
  intervalMs: number;
  /** No ACK within this long closes the session. */
  timeoutMs: number;
}

interface Watched {
  socket: net.Socket;
  seen: number;
  pinging: boolean;
}

export class Keepalive {
  private readonly watched = new Map<H2Session, Watched>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly o: KeepaliveOptions,
    /** The session did not answer: close it (the pool's 'close' handler reconnects its slot). */
    private readonly onDead: (session: H2Session, why: string) => void,
  ) {}

  /** Watches a session until it closes. */
  watch(session: H2Session, socket: net.Socket): void {
    if (this.o.intervalMs <= 0) return;
    this.watched.set(session, { socket, seen: socket.bytesRead, pinging: false });
    session.once('close', () => this.watched.delete(session));
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.o.intervalMs);
      this.timer.unref();
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.watched.clear();
  }

  private tick(): void {
    for (const [session, w] of this.watched) {
      const read = w.socket.bytesRead;
      if (read !== w.seen || w.pinging || session.closed) {
        w.seen = read;
        continue;
      }
      w.pinging = true;
      const timer = setTimeout(() => this.dead(session, `no PING acknowledgement within ${this.o.timeoutMs} ms`), this.o.timeoutMs);
      timer.unref();
      session.ping().then(
        () => {
          clearTimeout(timer);
          w.pinging = false;
          w.seen = w.socket.bytesRead;
        },
        (err: Error) => {
          clearTimeout(timer);
          this.dead(session, err.message);
        },
      );
    }
  }

  private dead(session: H2Session, why: string): void {
    if (!this.watched.delete(session) || session.closed) return;
    this.onDead(session, why);
  }
}
