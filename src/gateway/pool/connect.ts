// One mTLS connection to a remote gateway: TCP connect with a deadline, then a TLS 1.3 handshake with a
// deadline, the server's chain verified against our bundle and its SPIFFE identity checked.
import net from 'node:net';
import tls from 'node:tls';
import { checkPeerCertificate } from '../../trust/index.js';
import { hostPort } from '../../api/index.js';
import { GatewayError } from '../errors.js';

export interface DialOptions {
  address: string;
  port: number;
  alpn: string;
  context: tls.SecureContext;
  trustDomain: string;
  /** Exact SPIFFE id the remote gateway must present; otherwise any id in the trust domain. */
  identity?: string;
  timeoutMs: number;
  /** TLS session to resume (cuts the handshake to one ECDHE, no certificate signature). */
  session?: Buffer;
  onSession?: (s: Buffer) => void;
  /** Keep the socket half-open after the peer's FIN (the pipe relays it); HTTP/2 connections must not. */
  allowHalfOpen?: boolean;
}

export interface Dialed {
  /** The remote address dialed (outlier detection counts outcomes against it). */
  address: string;
  sock: tls.TLSSocket;
  /** The TCP socket under it, so a reset can be a real TCP RST. */
  raw: net.Socket;
}

export function dial(o: DialOptions): Promise<Dialed> {
  return new Promise((resolve, reject) => {
    const raw = net.connect({ host: o.address, port: o.port, noDelay: true, allowHalfOpen: o.allowHalfOpen ?? false });
    const sock = tls.connect({
      socket: raw,
      secureContext: o.context,
      ALPNProtocols: [o.alpn],
      rejectUnauthorized: true,
      session: o.session,
      // Gateways are addressed by IP or any name; identity is the SPIFFE id, not the DNS name.
      checkServerIdentity: (_host, cert) => {
        const err = checkPeerCertificate(cert, [o.trustDomain], o.identity);
        return err && new GatewayError('REMOTE_UNAVAILABLE', `remote gateway ${hostPort(o.address, o.port)}: ${err.message}`);
      },
    });
    const timer = setTimeout(() => {
      sock.destroy(new GatewayError('REMOTE_UNAVAILABLE', `no mTLS connection to ${hostPort(o.address, o.port)} within ${o.timeoutMs} ms`));
    }, o.timeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      raw.destroy();
      reject(err instanceof GatewayError ? err : new GatewayError('REMOTE_UNAVAILABLE', `remote gateway ${hostPort(o.address, o.port)}: ${err.message}`));
    };
    sock.once('error', fail);
    if (o.onSession) sock.on('session', o.onSession);
    sock.once('secureConnect', () => {
      clearTimeout(timer);
      sock.off('error', fail);
      if (sock.alpnProtocol !== o.alpn) {
        raw.destroy();
        reject(new GatewayError('REMOTE_UNAVAILABLE', `remote gateway ${hostPort(o.address, o.port)} does not speak ${o.alpn}`));
        return;
      }
      resolve({ address: o.address, sock, raw });
    });
  });
}
