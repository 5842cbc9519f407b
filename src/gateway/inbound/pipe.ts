// The tls-pipe transport of the tunnel port (ALPN mesh-pipe/1): one tunnel per connection, the target in
// a short header (pipe-protocol.ts). A connection waits idle for its header (the remote's warm pool), then
// becomes an InboundTunnel. Refusals answer a status frame; a broken header gets the connection closed.
import type net from 'node:net';
import type { CallerClaim } from '../../api/index.js';
import type tls from 'node:tls';
import { GatewayError, statusFor, type GatewayErrorCode } from '../errors.js';
import { readPipeHeader, writePipeStatus } from '../pipe-protocol.js';
import { socketEnd, type RelayEnd } from '../relay.js';
import type { AuthenticatedPeer, AuthorizedTunnel } from './authorize.js';
import { NO_CLAIM } from './caller.js';
import { InboundTunnel, type InboundRequest, type InboundTunnelDeps } from './tunnel.js';

class PipeRequest implements InboundRequest {
  constructor(
    private readonly sock: tls.TLSSocket,
    /** The TCP socket under `sock`, so a reset is a real TCP RST. */
    private readonly raw: net.Socket,
    readonly authority: string | undefined,
    readonly claim: CallerClaim,
    /** The header itself was malformed: nothing can be answered on this connection. */
    private readonly broken: boolean,
  ) {}

  isGone(): boolean {
    return this.sock.destroyed;
  }

  open(_auth: AuthorizedTunnel): RelayEnd {
    writePipeStatus(this.sock, 200, '');
    this.sock.setTimeout(0);
    return socketEnd(this.sock, this.raw);
  }

  refuse(code: GatewayErrorCode, message: string): void {
    if (this.broken) {
      this.raw.destroy();
      return;
    }
    writePipeStatus(this.sock, statusFor(code), `${code}: ${message}`);
    this.sock.end();
  }
}

/** Serves one tls-pipe connection. `idle` holds the connections still waiting for their header (a
 * draining gateway closes them). */
export function servePipe(sock: tls.TLSSocket, raw: net.Socket, peer: AuthenticatedPeer, deps: InboundTunnelDeps, idle: Set<tls.TLSSocket>): void {
  // A pre-warmed pipe waits idle for its header; it is authenticated, and the idle timeout bounds it.
  sock.setTimeout(deps.config.idleTimeoutMs, () => sock.destroy());
  idle.add(sock);
  sock.once('close', () => idle.delete(sock));
  readPipeHeader(sock, (err, header) => {
    idle.delete(sock);
    // An idle pipe closed by our own drain is no refusal.
    if (err && deps.load.draining && sock.destroyed) return;
    const tunnel = new InboundTunnel(new PipeRequest(sock, raw, header?.authority, header?.claim ?? NO_CLAIM, err !== undefined), peer, deps);
    if (err) tunnel.refuse(err instanceof GatewayError ? err : new GatewayError('BAD_AUTHORITY', err.message));
    else tunnel.start();
  });
}
