// TLS for both directions: contexts are rebuilt from the current credentials on every change (renewal
// swaps them for new handshakes; live connections keep theirs). TLS 1.3 only, one fixed cipher set.
import { createCipheriv, createHmac, type CipherGCMTypes } from 'node:crypto';
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

/** TLS alert descriptions (RFC 8446 §6) the tunnel port sends when it refuses a client certificate. */
export const TLS_ALERT = { badCertificate: 42, certificateRevoked: 44, certificateExpired: 45, unknownCa: 48, certificateRequired: 116 } as const;

/** The alert for a refused client: none sent, a chain that reaches no root of ours, or one out of date. */
export function alertFor(hasCert: boolean, authorizationError: string): number {
  if (!hasCert) return TLS_ALERT.certificateRequired;
  if (/^(UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_UNTRUSTED)$/.test(authorizationError)) return TLS_ALERT.unknownCa;
  if (authorizationError === 'CERT_HAS_EXPIRED' || authorizationError === 'CERT_NOT_YET_VALID') return TLS_ALERT.certificateExpired;
  if (authorizationError === 'CERT_REVOKED') return TLS_ALERT.certificateRevoked;
  return TLS_ALERT.badCertificate;
}

/** AEAD, key length and hash of the TLS 1.3 suites in CIPHERS. */
const SUITES: Record<string, { cipher: CipherGCMTypes | 'chacha20-poly1305'; keyLength: number; hash: 'sha256' | 'sha384' }> = {
  TLS_AES_128_GCM_SHA256: { cipher: 'aes-128-gcm', keyLength: 16, hash: 'sha256' },
  TLS_AES_256_GCM_SHA384: { cipher: 'aes-256-gcm', keyLength: 32, hash: 'sha384' },
  TLS_CHACHA20_POLY1305_SHA256: { cipher: 'chacha20-poly1305', keyLength: 32, hash: 'sha256' },
};

/** HKDF-Expand-Label (RFC 8446 §7.1) with an empty context. */
function expandLabel(hash: string, secret: Buffer, label: string, length: number): Buffer {
  const full = Buffer.from(`tls13 ${label}`);
  const info = Buffer.concat([Buffer.from([length >> 8, length & 0xff, full.length]), full, Buffer.from([0])]);
  const blocks: Buffer[] = [];
  let prev = Buffer.alloc(0);
  for (let i = 1, got = 0; got < length; i++) {
    prev = createHmac(hash, secret).update(Buffer.concat([prev, info, Buffer.from([i])])).digest();
    blocks.push(prev);
    got += prev.length;
  }
  return Buffer.concat(blocks).subarray(0, length);
}

/**
 * A fatal alert as the server's first record under its application traffic secret (sequence number 0).
 *
 * Why by hand: Node verifies a client chain in JavaScript after OpenSSL finished the handshake (its verify
 * callback accepts everything), so a refused certificate ends in a bare close and `openssl s_client` or curl
 * report an unexpected EOF instead of the reason. OpenSSL has written nothing under that secret when the
 * handshake completes (its session tickets follow on the next read), which the caller checks by the bytes
 * written to the socket; the record is then what OpenSSL itself would have sent. Undefined for a suite
 * outside CIPHERS.
 */
export function alertRecord(cipherName: string, serverAppSecret: Buffer, description: number): Buffer | undefined {
  const suite = SUITES[cipherName];
  if (!suite) return undefined;
  const key = expandLabel(suite.hash, serverAppSecret, 'key', suite.keyLength);
  // Sequence number 0: the nonce is the static IV itself.
  const nonce = expandLabel(suite.hash, serverAppSecret, 'iv', 12);
  // TLSInnerPlaintext: level fatal, the description, then the real content type (alert).
  const inner = Buffer.from([2, description, 21]);
  const header = Buffer.from([23, 3, 3, 0, inner.length + 16]);
  // Both AEADs have 16-byte tags by default; the two calls only pick the right overload.
  const c = suite.cipher === 'chacha20-poly1305' ? createCipheriv(suite.cipher, key, nonce) : createCipheriv(suite.cipher, key, nonce);
  c.setAAD(header, { plaintextLength: inner.length });
  return Buffer.concat([header, c.update(inner), c.final(), c.getAuthTag()]);
}

/** What keylog events tell about one connection's handshake, until it completes. */
export interface HandshakeKeys {
  /** SERVER_TRAFFIC_SECRET_0. */
  serverAppSecret?: Buffer;
  /** Bytes written to the TCP socket when the client's Finished was processed (the server's whole flight). */
  writtenAtFinished?: number;
}

/** Records one keylog line (NSS key log format) into `keys`; `written` = the TCP socket's bytesWritten now. */
export function noteKeylog(keys: HandshakeKeys, line: Buffer, written: number): void {
  const text = line.toString('latin1');
  if (text.startsWith('SERVER_TRAFFIC_SECRET_0 ')) keys.serverAppSecret = Buffer.from(text.trim().split(' ')[2] ?? '', 'hex');
  else if (text.startsWith('CLIENT_TRAFFIC_SECRET_0 ')) keys.writtenAtFinished = written;
}
