// One error class per failure, each with a stable `code` (as undici does). Protocol failures also carry
// the HTTP/2 error code that went, or came, on the wire.
import { errorName } from './constants.js';

export type H2ErrorCode =
  /** The peer broke the protocol; the connection was closed with GOAWAY(h2Code). */
  | 'ERR_H2_PROTOCOL'
  /** The peer misbehaved within the protocol (flood, rapid reset, oversized headers): GOAWAY(ENHANCE_YOUR_CALM). */
  | 'ERR_H2_PEER_ABUSE'
  /** The peer reset the stream (RST_STREAM with h2Code). */
  | 'ERR_H2_STREAM_RESET'
  /** The stream never reached the peer's application: REFUSED_STREAM, or above a GOAWAY's last-stream-id.
   * Safe to retry on another connection. */
  | 'ERR_H2_REFUSED'
  /** The peer closed the connection with GOAWAY(error) or the socket ended while the stream was open. */
  | 'ERR_H2_SESSION_CLOSED'
  /** A new stream was asked of a session that is closing, or at the peer's concurrency limit. */
  | 'ERR_H2_UNAVAILABLE'
  /** Headers we were asked to send are not valid HTTP/2 (names, pseudo-headers). */
  | 'ERR_H2_INVALID_HEADERS'
  /** The local side destroyed the stream or session. */
  | 'ERR_H2_ABORTED';

export class H2Error extends Error {
  constructor(
    readonly code: H2ErrorCode,
    message: string,
    /** The HTTP/2 error code involved, when there is one. */
    readonly h2Code?: number,
  ) {
    super(h2Code === undefined ? message : `${message} (${errorName(h2Code)})`);
    this.name = 'H2Error';
  }
}

/** Raised inside the session when the peer breaks the protocol: connection error (GOAWAY) or stream error
 * (RST_STREAM). Never escapes the module; it becomes an H2Error on the streams and session it ends. */
export class ProtocolViolation extends Error {
  constructor(
    readonly h2Code: number,
    message: string,
    /** Stream error on this stream; undefined = connection error. */
    readonly streamId?: number,
  ) {
    super(message);
    this.name = 'ProtocolViolation';
  }
}
