// TLS for both directions: contexts are rebuilt from the current credentials on every change (renewal
// swaps them for new handshakes; live connections keep theirs). TLS 1.3 only, one fixed cipher set.
import tls from 'node:tls';
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
