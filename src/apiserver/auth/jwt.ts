// Compact JWS with ES256 (ECDSA P-256 + SHA-256), the algorithm kube-apiserver uses for EC keys.
// Only what service-account tokens need: sign, and verify with a fixed key and algorithm (the `alg` header
// is checked, never trusted, so `none` or HS256-with-the-public-key tricks cannot pass).
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

export interface JwtKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Key id as Kubernetes computes it: base64url(sha256(DER SubjectPublicKeyInfo)). */
  kid: string;
}

/** Tokens longer than this are refused before any parsing: real SA tokens are about 1 KiB. */
export const maxTokenLength = 16 * 1024;

export function loadSigningKey(pem: string): JwtKey {
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error('service-account signing key must be an EC P-256 private key (PEM)');
  }
  const publicKey = createPublicKey(privateKey);
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return { privateKey, publicKey, kid: createHash('sha256').update(der).digest('base64url') };
}

function b64json(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export function signJwt(key: JwtKey, claims: Record<string, unknown>): string {
  const input = `${b64json({ alg: 'ES256', kid: key.kid })}.${b64json(claims)}`;
  const sig = sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${sig.toString('base64url')}`;
}

const b64url = /^[A-Za-z0-9_-]*$/;

/**
 * The claims of `token` when its signature is ours, else undefined. Does not look at exp/aud/iss:
 * the caller decides those (with its clock and the store).
 */
export function verifyJwt(key: JwtKey, token: string): Record<string, unknown> | undefined {
  if (token.length > maxTokenLength) return undefined;
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => b64url.test(p))) return undefined;
  const [h, p, s] = parts as [string, string, string];
  const header = parseJson(h);
  if (!header || header.alg !== 'ES256') return undefined;
  const sig = Buffer.from(s, 'base64url');
  if (sig.length !== 64) return undefined;
  if (!verify('sha256', Buffer.from(`${h}.${p}`), { key: key.publicKey, dsaEncoding: 'ieee-p1363' }, sig)) return undefined;
  return parseJson(p);
}

function parseJson(part: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
