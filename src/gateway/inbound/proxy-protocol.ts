// Identity for the target (issue 15): a Service that opted in (`mirror.mesh.io/proxy-protocol: v2`) gets a
// PROXY v2 header in front of the tunnel's bytes, naming the connection as the gateway received it (source:
// the peer gateway's address and port; destination: the backend) and, in the mesh's TLVs (0xE0-0xE2), the
// verified caller. Written before any relayed byte, on the dialed socket.
import net from 'node:net';
import type { Readable } from 'node:stream';
import { callerTlvs, encodeProxyV2 } from '../../api/index.js';
import type { Backend } from '../types.js';
import type { AuthenticatedPeer, AuthorizedTunnel } from './authorize.js';

/** The header for this tunnel, or undefined when its Service did not ask for one. The destination is the
 * backend as dialed (an endpoint IP), not the socket's remoteAddress: that getter is a getpeername(2) and
 * an object per tunnel. */
export function proxyHeaderFor(auth: AuthorizedTunnel, peer: AuthenticatedPeer, backend: Backend, upstream: net.Socket): Buffer | undefined {
  if (auth.service.proxyProtocol !== 'v2') return undefined;
  const destination = net.isIP(backend.address) ? backend : { address: upstream.remoteAddress ?? '', port: upstream.remotePort ?? 0 };
  return encodeProxyV2({ address: peer.address, port: peer.port ?? 0 }, destination, callerTlvs(auth.verified));
}

/** Sends the header now, in one write with the client's first bytes when they are already here (the usual
 * case: the request's first DATA came with it and waited through the dial), alone otherwise (a
 * server-first protocol must get it before the client speaks). Returns how many client bytes it took, for
 * the tunnel's byte count; the relay starts after them. Corking the socket and uncorking on setImmediate
 * instead cost a writev, a turn of the loop and the cork's buffering per tunnel, work a tunnel without the
 * header does not do (bench/notes/gateway.md, issue 15). */
export function sendProxyHeader(upstream: net.Socket, client: Readable, header: Buffer): number {
  const first = client.readableLength > 0 ? (client.read() as Buffer | null) : null;
  upstream.write(first ? Buffer.concat([header, first], header.length + first.length) : header);
  return first?.length ?? 0;
}
