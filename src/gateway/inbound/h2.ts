// The HTTP/2 transport of the tunnel port (ALPN h2), on src/h2: one server session per authenticated
// connection, so the peer is bound to its session by the closure that handles its streams. A CONNECT
// stream becomes an InboundTunnel; GET /live answers the mirror's probe; any other request is refused as
// NOT_CONNECT. No node:http2 here: its session pauses and resumes the TLS socket around every write and
// makes an AsyncResource per stream (src/h2/README.md).
import type tls from 'node:tls';
import { CALLER_CLUSTER_HEADER, CALLER_ID_HEADER, GATEWAY_LIVE_PATH, type CallerClaim } from '../../api/index.js';
import { accept, ErrorCode, type H2Session, type H2Stream, type Headers } from '../../h2/index.js';
import { GatewayError, statusFor, type GatewayErrorCode } from '../errors.js';
import { h2End, RELAY_BUFFER, type RelayEnd } from '../relay.js';
import type { AuthenticatedPeer, AuthorizedTunnel } from './authorize.js';
import { InboundTunnel, type InboundRequest, type InboundTunnelDeps } from './tunnel.js';

/** A CONNECT stream as a tunnel request. */
class H2Request implements InboundRequest {
  readonly drainedByTransport = true;

  constructor(
    private readonly stream: H2Stream,
    readonly authority: string | undefined,
    readonly claim: CallerClaim,
  ) {}

  isGone(): boolean {
    return this.stream.destroyed;
  }

  open(_auth: AuthorizedTunnel): RelayEnd {
    this.stream.respond({ ':status': 200 });
    return h2End(this.stream);
  }

  refuse(code: GatewayErrorCode, message: string): void {
    if (this.stream.destroyed) return;
    this.stream.respond({ ':status': statusFor(code), 'mesh-refusal-reason': code, 'content-type': 'text/plain' });
    // The refusal is a complete response sent before the request ended (a CONNECT never ends on its own):
    // RST_STREAM(NO_ERROR) once it is out (RFC 9113 §8.1) frees the stream on both sides. Without it every
    // refused stream stayed open until the client half-closed, holding its slot of the connection's
    // concurrent streams and its state for the session's life, and a client waiting for the stream to close
    // (as node:http2's server did this) waited forever.
    const stream = this.stream;
    stream.end(`${code}: ${message}\n`, () => {
      if (!stream.remoteEnded) stream.reset(ErrorCode.NO_ERROR);
    });
  }
}

/** Serves HTTP/2 on an authenticated TLS connection; returns its session (for drain and hard stop). */
export function serveH2(sock: tls.TLSSocket, peer: AuthenticatedPeer, deps: InboundTunnelDeps): H2Session {
  const c = deps.config;
  const session = accept(sock, {
    streamWindow: c.streamWindow,
    connectionWindow: c.connectionWindow,
    maxFrameSize: 64 * 1024,
    streamWritableHighWaterMark: RELAY_BUFFER,
    limits: { maxConcurrentStreams: c.maxStreamsPerConnection },
  });
  session.on('close', (err) => {
    if (err) deps.logger.debug('inbound session closed', { peer: peer.id?.uri, error: err.message, code: err.code });
  });
  session.on('stream', (stream, headers) => onStream(stream, headers, peer, deps));
  return session;
}

function onStream(stream: H2Stream, headers: Headers, peer: AuthenticatedPeer, deps: InboundTunnelDeps): void {
  stream.on('error', noop);
  const method = headers[':method'];
  if (method === 'GET' && headers[':path'] === GATEWAY_LIVE_PATH) {
    stream.respond({ ':status': 200, 'content-type': 'text/plain' });
    stream.end('live\n');
    return;
  }
  const tunnel = new InboundTunnel(new H2Request(stream, headers[':authority'], claimOf(headers)), peer, deps);
  if (method === 'CONNECT') tunnel.start();
  else tunnel.refuse(new GatewayError('NOT_CONNECT', `method ${String(method)} is not supported; open tunnels with CONNECT`));
}

/** A header given twice (a list) is no claim the caller can rely on: verifyCaller refuses its odd characters. */
function claimOf(headers: Headers): CallerClaim {
  const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join(', ') : v);
  return { id: one(headers[CALLER_ID_HEADER]), cluster: one(headers[CALLER_CLUSTER_HEADER]) };
}

function noop(): void {}
