// Byte-exact bidirectional relay between two duplex ends (TCP socket, TLS socket, HTTP/2 stream):
// backpressure (pause the reader while the writer is full), half-close both ways (end → end, i.e. FIN ↔
// END_STREAM), and resets propagated as resets. A chunk is handed on as is: no copies, no per-chunk
// allocation beyond the Buffer the reader made.
import type { Duplex } from 'node:stream';
import { ErrorCode, type H2Stream } from '../h2/index.js';

export interface RelayEnd {
  stream: Duplex;
  /** Abortive close: TCP RST for sockets, RST_STREAM for HTTP/2 streams. */
  reset(): void;
  /** Whether this end closed abnormally (reset, error, or destroyed before both directions finished). */
  closedAbnormally(): boolean;
  /** Whether the peer reset this end (checked when its readable side ends). */
  wasReset?(): boolean;
}

export interface RelayCounts {
  /** Bytes a → b. */
  up: number;
  /** Bytes b → a. */
  down: number;
}

export type RelayOutcome = 'done' | 'reset';

/** Bytes a relay may queue on its writer before it stops reading (per direction, per tunnel). */
export const RELAY_BUFFER = 256 * 1024;

/** Relays until both ends are closed; calls `onDone` once with whether it ended cleanly. With
 * `deferDown`, bytes b → a wait for `openDown()` (the client's first bytes go out at once, while the answer
 * to the tunnel request is still on its way). */
export function relay(a: RelayEnd, b: RelayEnd, counts: RelayCounts, onDone: (outcome: RelayOutcome) => void, deferDown = false): { openDown(): void } {
  let closed = 0;
  let outcome: RelayOutcome = 'done';
  const forward = (from: RelayEnd, to: RelayEnd, up: boolean) => {
    const src = from.stream;
    const dst = to.stream;
    let paused = false;
    src.on('data', (chunk: Buffer) => {
      if (up) counts.up += chunk.length;
      else counts.down += chunk.length;
      // Keep reading while the writer holds less than RELAY_BUFFER (a socket's own high-water mark is
      // 16 KiB, below one 64 KiB read): the kernel drains one buffer while the next is read.
      if (!dst.write(chunk) && dst.writableLength >= RELAY_BUFFER && !paused) {
        paused = true;
        src.pause();
        dst.once('drain', () => {
          paused = false;
          src.resume();
        });
      }
    });
    const passEnd = () => {
      if (from.wasReset?.()) {
        if (!dst.destroyed) to.reset();
      } else if (!dst.destroyed && !dst.writableEnded) dst.end();
    };
    // Node's Http2Stream.close(code) sends END_STREAM and then RST_STREAM (a peer may be Node), so an
    // HTTP/2 end waits one turn of the loop: if the RST follows, it is passed on as a reset, not a FIN.
    // A stream may have ended before the relay took it (a tls-pipe's header read to the end of a client that
    // sent its FIN with it): its 'end' is gone, so pass the end on now, or the tunnel waits for ever.
    if (src.readableEnded) process.nextTick(passEnd);
    else src.once('end', () => (from.wasReset ? setImmediate(passEnd) : passEnd()));
  };
  const onClose = (self: RelayEnd, other: RelayEnd) => () => {
    // A clean close needs nothing: both directions ended, so the other side closes on its own.
    if (self.closedAbnormally()) {
      outcome = 'reset';
      if (!other.stream.destroyed) other.reset();
    }
    if (++closed === 2) onDone(outcome);
  };
  // Errors surface through 'close' (closedAbnormally); the listener only keeps them from being thrown.
  a.stream.on('error', noop);
  b.stream.on('error', noop);
  // Likewise a stream already closed has no 'close' to come.
  const whenClosed = (x: RelayEnd, cb: () => void) => (x.stream.closed ? process.nextTick(cb) : x.stream.once('close', cb));
  whenClosed(a, onClose(a, b));
  whenClosed(b, onClose(b, a));
  forward(a, b, true);
  let down = false;
  const openDown = () => {
    if (down) return;
    down = true;
    forward(b, a, false);
  };
  if (!deferDown) openDown();
  return { openDown };
}

function noop(): void {}

/** A RelayEnd for a TCP socket (or the raw TCP socket under a TLS socket, passed as `raw`). */
export function socketEnd(s: import('node:net').Socket, raw: import('node:net').Socket = s): RelayEnd {
  let errored = false;
  s.on('error', () => {
    errored = true;
  });
  return {
    stream: s,
    reset() {
      if (raw.destroyed) {
        s.destroy();
        return;
      }
      try {
        raw.resetAndDestroy();
      } catch {
        raw.destroy();
      }
      if (s !== raw) s.destroy();
    },
    closedAbnormally: () => errored || !(s.readableEnded && s.writableFinished),
  };
}

/** A RelayEnd for an HTTP/2 stream (src/h2): a reset is a bare RST_STREAM(CONNECT_ERROR), as RFC 9113
 * §8.5 has a CONNECT proxy signal a TCP connection that failed or was reset. */
export function h2End(s: H2Stream): RelayEnd {
  return {
    stream: s,
    reset() {
      if (!s.destroyed) s.reset(ErrorCode.CONNECT_ERROR);
    },
    closedAbnormally: () => (s.rstCode !== undefined && s.rstCode !== ErrorCode.NO_ERROR) || !(s.readableEnded && s.writableFinished),
    wasReset: () => s.rstCode !== undefined && s.rstCode !== ErrorCode.NO_ERROR,
  };
}
