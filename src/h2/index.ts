// src/h2: a lean HTTP/2 connection (RFC 9113 + HPACK, RFC 7541) over an established duplex — the frames
// a CONNECT tunnel and a few plain requests need, client and server roles. The only door into the
// component; it imports no other component.
import type { Duplex } from 'node:stream';
import { H2Session, type SessionOptions } from './session.js';

export { H2Session, type SessionOptions, type SessionEvents } from './session.js';
export { H2Stream } from './stream.js';
export { H2Error, type H2ErrorCode } from './errors.js';
export { ErrorCode, errorName } from './constants.js';
export type { Headers, OutgoingHeaders } from './headers.js';
export { DEFAULT_LIMITS, type Limits } from './limits.js';
export { gracefulShutdown, SHUTDOWN_ACK_WAIT_MS } from './shutdown.js';

/** The ALPN protocol id both sides must have negotiated. */
export const ALPN_H2 = 'h2';

/** Client role over a connected socket (TLS after ALPN h2): sends the preface and SETTINGS at once. */
export function connect(socket: Duplex, options?: SessionOptions): H2Session {
  return new H2Session(socket, false, options);
}

/** Server role over an accepted socket (TLS after ALPN h2): expects the client preface. */
export function accept(socket: Duplex, options?: SessionOptions): H2Session {
  return new H2Session(socket, true, options);
}
