// Identity for the target (issue 15): a Service that opted in (`mirror.mesh.io/proxy-protocol: v2`) gets a
// PROXY v2 header in front of the tunnel's bytes, naming the connection as the gateway received it (source:
// the peer gateway's address and port; destination: the backend) and, in the mesh's TLVs (0xE0-0xE2), the
// verified caller. Written before any relayed byte, on the dialed socket.
import type net from 'node:net';
import { callerTlvs, encodeProxyV2 } from '../../api/index.js';
import type { AuthenticatedPeer, AuthorizedTunnel } from './authorize.js';

/** Writes the header corked until the end of this turn of the loop, so it leaves in one write (one TCP
 * segment) with the client's first bytes, which the relay passes on in a later tick. Written on its own it
 * cost 10-20 % more CPU per new tunnel in the bench (bench/notes/gateway.md, issue 15). */
export function writeProxyHeader(upstream: net.Socket, header: Buffer): void {
  upstream.cork();
  upstream.write(header);
  setImmediate(() => upstream.uncork());
}

/** The header for this tunnel, or undefined when its Service did not ask for one. */
export function proxyHeaderFor(auth: AuthorizedTunnel, peer: AuthenticatedPeer, upstream: net.Socket): Buffer | undefined {
  if (auth.service.proxyProtocol !== 'v2') return undefined;
  const destination = { address: upstream.remoteAddress ?? '', port: upstream.remotePort ?? 0 };
  return encodeProxyV2({ address: peer.address, port: peer.port ?? 0 }, destination, callerTlvs(auth.verified));
}
