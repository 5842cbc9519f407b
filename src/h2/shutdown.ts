// Graceful shutdown of a server session, as RFC 9113 §6.8 describes it. One GOAWAY carrying the last stream
// taken refuses every stream the client opened before it read that GOAWAY: in a drain with a pooled client
// (the gateways) that lost requests, because the client replayed the refused one on another session to the
// same draining server and was refused again (issue 17 item 1, measured in the root rotation). Instead, a
// GOAWAY notice (last-stream-id 2^31-1: open no more streams here) and a PING go out; the client answers the
// PING after whatever it sent before reading the notice (one ordered connection), so the final GOAWAY, sent
// on the ACK, refuses nothing opened in good faith. A client that never answers gets it after `ackWaitMs`.
import { ErrorCode, MAX_STREAM_ID } from './constants.js';
import { goawayFrame } from './frames.js';
import type { H2Session } from './session.js';

/** Upper bound on the wait for the PING's ACK (a live peer answers in one round trip). */
export const SHUTDOWN_ACK_WAIT_MS = 2_000;

const shuttingDown = new WeakMap<H2Session, Promise<void>>();

/**
 * Server side: notice GOAWAY + PING now, the final GOAWAY (session.close(): open streams finish, then the
 * socket closes) once the PING is acknowledged. Resolves when the final GOAWAY is out or the session is gone.
 * Client side it is close().
 */
export function gracefulShutdown(session: H2Session, ackWaitMs = SHUTDOWN_ACK_WAIT_MS): Promise<void> {
  const pending = shuttingDown.get(session);
  if (pending) return pending;
  if (session.closed || session.goawaySent >= 0 || !session.isServer) {
    session.close();
    return Promise.resolve();
  }
  session.send(goawayFrame(MAX_STREAM_ID, ErrorCode.NO_ERROR));
  const done = new Promise<void>((resolve) => {
    const final = () => {
      clearTimeout(timer);
      session.close();
      resolve();
    };
    const timer = setTimeout(final, ackWaitMs);
    timer.unref();
    session.ping().then(final, final);
  });
  shuttingDown.set(session, done);
  return done;
}
