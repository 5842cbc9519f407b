// The HTTP/2 transport of the tunnel port (ALPN h2): one server session per authenticated connection,
// made with http2.performServerHandshake so the peer is bound to its session by the closure that handles
// its streams (no hand-off through a shared field, no private Node fields). A CONNECT stream becomes an
// InboundTunnel; GET /live answers the mirror's probe; any other request is refused as NOT_CONNECT.
import http2 from 'node:http2';
import type tls from 'node:tls';
import { GatewayError, statusFor, type GatewayErrorCode } from '../errors.js';
import { h2End, type RelayEnd } from '../relay.js';
import type { AuthenticatedPeer, AuthorizedTunnel } from './authorize.js';
import { InboundTunnel, type InboundRequest, type InboundTunnelDeps } from './tunnel.js';

/** A CONNECT stream as a tunnel request. */
class H2Request implements InboundRequest {
  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    readonly authority: string | undefined,
  ) {}

  isGone(): boolean {
    return this.stream.destroyed;
  }

  open(_auth: AuthorizedTunnel): RelayEnd {
    this.stream.respond({ ':status': 200 }, { endStream: false });
    return h2End(this.stream);
  }

  refuse(code: GatewayErrorCode, message: string): void {
    if (this.stream.destroyed) return;
    this.stream.respond({ ':status': statusFor(code), 'mesh-refusal-reason': code, 'content-type': 'text/plain' });
    this.stream.end(`${code}: ${message}\n`);
  }
}

/** Serves HTTP/2 on an authenticated TLS connection; returns its session (for drain and hard stop). */
export function serveH2(sock: tls.TLSSocket, peer: AuthenticatedPeer, deps: InboundTunnelDeps): http2.ServerHttp2Session {
  const c = deps.config;
  // The listener allows half-open sockets (the pipe transport relays FIN); an HTTP/2 connection whose
  // peer sent FIN can receive nothing more, so it is closed rather than left half-open.
  sock.once('end', () => sock.destroy());
  const session = http2.performServerHandshake(sock, {
    maxSessionMemory: 256,
    settings: { initialWindowSize: c.streamWindow, maxConcurrentStreams: c.maxStreamsPerConnection, maxFrameSize: 64 * 1024 },
  });
  session.on('error', (err) => deps.logger.debug('inbound session error', { peer: peer.id?.uri, error: err.message }));
  session.on('stream', (stream, headers) => onStream(stream, headers, peer, deps));
  try {
    session.setLocalWindowSize(c.connectionWindow);
  } catch {
    // Session already gone.
  }
  return session;
}

function onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, peer: AuthenticatedPeer, deps: InboundTunnelDeps): void {
  stream.on('error', noop);
  const method = headers[':method'];
  if (method === 'GET' && headers[':path'] === '/live') {
    stream.respond({ ':status': 200, 'content-type': 'text/plain' });
    stream.end('live\n');
    return;
  }
  const tunnel = new InboundTunnel(new H2Request(stream, headers[':authority']), peer, deps);
  if (method === 'CONNECT') tunnel.start();
  else tunnel.refuse(new GatewayError('NOT_CONNECT', `method ${String(method)} is not supported; open tunnels with CONNECT`));
}

function noop(): void {}
