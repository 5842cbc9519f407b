// TLS for both directions: contexts are rebuilt from the current credentials on every change (renewal
// swaps them for new handshakes; live connections keep theirs). TLS 1.3 only, one fixed cipher set.
import tls from 'node:tls';
import type { X509Certificate } from 'node:crypto';
import { GatewayError } from './errors.js';
import type { Credentials } from './types.js';

/** ALPN ids: HTTP/2 for CONNECT tunnels and the /live probe; our short-header pipe otherwise. */
export const ALPN_H2 = 'h2';
export const ALPN_PIPE = 'mesh-pipe/1';

/** AES-128-GCM: hardware-accelerated, and the cipher the benchmark pins for every peer. */
export const CIPHERS = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256';

export function secureOptions(c: Credentials): tls.SecureContextOptions {
  return { key: c.key, cert: c.certChain, ca: c.bundle, minVersion: 'TLSv1.3', ciphers: CIPHERS };
}

export function serverContext(c: Credentials): tls.SecureContext {
  try {
    return tls.createSecureContext(secureOptions(c));
  } catch (err) {
    throw new GatewayError('BAD_CREDENTIALS', `cannot use the gateway credentials: ${(err as Error).message}`);
  }
}

export const clientContext = serverContext;

/** The SPIFFE URI SAN of a certificate, if it has exactly one. */
export function spiffeIdOf(cert: X509Certificate | undefined): string | undefined {
  const san = cert?.subjectAltName;
  if (!san) return undefined;
  const uris = san.split(', ').filter((s) => s.startsWith('URI:spiffe://')).map((s) => s.slice(4));
  return uris.length === 1 ? uris[0] : undefined;
}

/** A SPIFFE id as src/trust issues them: spiffe://<trust domain>/<path>, no query, fragment, port or
 * dot segments. */
const SPIFFE_ID = /^spiffe:\/\/[a-z0-9._-]+(\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+$/;

/** The verified peer's SPIFFE id; undefined if the chain was not verified or the leaf has no single valid
 * SPIFFE URI SAN. Done here rather than with src/trust's peerIdentity so the gateway process does not load
 * src/trust (its gRPC and Kubernetes clients add ~90 MB of RSS) when it runs from certificate files. */
export function verifiedPeerIdentity(socket: tls.TLSSocket): string | undefined {
  if (!socket.authorized) return undefined;
  const id = spiffeIdOf(socket.getPeerX509Certificate());
  if (!id || !SPIFFE_ID.test(id) || id.split('/').some((seg, i) => i > 2 && (seg === '.' || seg === '..'))) return undefined;
  return id;
}
