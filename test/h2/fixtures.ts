// Fixtures for the h2 tests: ECDSA P-256 mTLS credentials from src/trust (as the gateway uses), TLS
// servers and clients on loopback with ALPN h2, our sessions and Node's http2 over them.
import net from 'node:net';
import tls from 'node:tls';
import { createPki } from '../gateway/fixtures.js';
import { accept, connect, type H2Session, type SessionOptions } from '../../src/h2/index.js';

const pki = createPki(['cluster-a', 'cluster-b']);
export const serverCreds = pki.leaf('cluster-b');
export const clientCreds = pki.leaf('cluster-a');
export const bundle = pki.bundle;

export interface TlsServer {
  server: tls.Server;
  port: number;
  sockets: Set<tls.TLSSocket>;
  close(): Promise<void>;
}

/** A TLS server on 127.0.0.1 offering h2; `onSocket` gets each handshaken socket. Client certificates
 * are required unless `requestCert` is false (nghttp2's tools present none). */
export async function tlsServer(onSocket: (s: tls.TLSSocket) => void, requestCert = true): Promise<TlsServer> {
  const sockets = new Set<tls.TLSSocket>();
  const server = tls.createServer(
    { cert: serverCreds.certChain, key: serverCreds.key, ca: bundle, requestCert, rejectUnauthorized: requestCert, ALPNProtocols: ['h2'], minVersion: 'TLSv1.3' },
    (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
      onSocket(s);
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    server,
    sockets,
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A TLS client socket to `port` with our client certificate, after ALPN h2. */
export function tlsConnect(port: number): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, cert: clientCreds.certChain, key: clientCreds.key, ca: bundle, ALPNProtocols: ['h2'], checkServerIdentity: () => undefined });
    s.once('secureConnect', () => {
      s.off('error', reject);
      if (s.alpnProtocol !== 'h2') reject(new Error(`ALPN ${String(s.alpnProtocol)}`));
      else resolve(s);
    });
    s.once('error', reject);
  });
}

/** Our client session to `port`, resolved once the server's SETTINGS arrived. */
export async function ourClient(port: number, options?: SessionOptions): Promise<H2Session> {
  const sock = await tlsConnect(port);
  const s = connect(sock, options);
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve);
    s.once('close', (err) => reject(err ?? new Error('closed before SETTINGS')));
  });
  return s;
}

/** Our server: a TLS server whose sockets become our server sessions. */
export async function ourServer(onSession: (s: H2Session) => void, options?: SessionOptions, requestCert = true): Promise<TlsServer> {
  return tlsServer((sock) => onSession(accept(sock, options)), requestCert);
}

/** Collects a readable to the end. */
export function collect(r: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    r.on('data', (c: Buffer) => chunks.push(c));
    r.on('end', () => resolve(Buffer.concat(chunks)));
    r.on('error', reject);
  });
}
