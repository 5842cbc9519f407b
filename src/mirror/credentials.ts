// A Link's credentials: the kubeconfig in its Secret (read and judged here, purely), and the renewal of a
// time-bound ServiceAccount token before it expires.
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { CREDENTIALS_KUBECONFIG_KEY, LINK_TOKEN_TTL_SECONDS } from '../api/index.js';
import { errorMessage, kubeConfigFromString, resourcePath, type CallOptions, type KubeClient } from '../kube/index.js';
import type { Secret } from './types.js';

export type CredentialsProblemReason = 'SecretNotFound' | 'KubeconfigMissing' | 'InvalidKubeconfig';

export type Credentials =
  | { ok: true; kubeconfig: string; /** Changes when the Secret does: a new watcher is built for it. */ version: string }
  | { ok: false; reason: CredentialsProblemReason; message: string };

/** What the credentials Secret (from the cache) holds, or why it cannot be used. */
export function readCredentials(secret: Secret | undefined, namespace: string, name: string): Credentials {
  if (!secret) return { ok: false, reason: 'SecretNotFound', message: `Secret ${namespace}/${name} not found` };
  const b64 = secret.data?.[CREDENTIALS_KUBECONFIG_KEY];
  if (!b64) return { ok: false, reason: 'KubeconfigMissing', message: `Secret ${name} has no ${CREDENTIALS_KUBECONFIG_KEY} key` };
  const kubeconfig = Buffer.from(b64, 'base64').toString('utf8');
  try {
    kubeConfigFromString(kubeconfig);
  } catch (err) {
    return { ok: false, reason: 'InvalidKubeconfig', message: `Secret ${name}: ${errorMessage(err)}` };
  }
  return { ok: true, kubeconfig, version: secret.metadata?.resourceVersion ?? '' };
}

interface JwtClaims {
  exp?: number;
  iat?: number;
  sub?: string;
}

export function decodeJwt(token: string): JwtClaims | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as JwtClaims;
  } catch {
    return undefined;
  }
}

/** The bearer token of the kubeconfig's current user, if it uses one. */
export function kubeconfigToken(kubeconfig: string): string | undefined {
  try {
    return kubeConfigFromString(kubeconfig).getCurrentUser()?.token;
  } catch {
    return undefined;
  }
}

/** When to renew a token: at 2/3 of its lifetime, and never later than 60 s before it expires. */
export function renewAtMs(claims: JwtClaims): number | undefined {
  if (!claims.exp) return undefined;
  const exp = claims.exp * 1000;
  const iat = (claims.iat ?? claims.exp - 3600) * 1000;
  return Math.min(iat + ((exp - iat) * 2) / 3, exp - 60_000);
}

/**
 * When the token in `kubeconfig` is due for renewal (ms since the epoch), or undefined if it has no expiry.
 * `capMs` (tests) renews at most that long after the token was issued.
 */
export function renewalDueMs(kubeconfig: string, capMs?: number): number | undefined {
  const token = kubeconfigToken(kubeconfig);
  const claims = token ? decodeJwt(token) : undefined;
  const at = claims ? renewAtMs(claims) : undefined;
  if (at === undefined || !claims) return undefined;
  return capMs && capMs > 0 && claims.iat ? Math.min(at, claims.iat * 1000 + capMs) : at;
}

/** Replaces the current user's token in a kubeconfig text. */
export function withToken(kubeconfig: string, token: string): string {
  const doc = parseYaml(kubeconfig) as {
    'current-context'?: string;
    contexts?: Array<{ name: string; context: { user: string } }>;
    users?: Array<{ name: string; user: { token?: string } }>;
  };
  const ctx = doc.contexts?.find((c) => c.name === doc['current-context']) ?? doc.contexts?.[0];
  const user = doc.users?.find((u) => u.name === ctx?.context.user) ?? doc.users?.[0];
  if (!user) throw new Error('kubeconfig has no user to put the token in');
  user.user.token = token;
  return stringifyYaml(doc);
}

/**
 * Requests a fresh token for the link's own ServiceAccount (the `sub` of the current token) from the
 * target, with the same lifetime as the current one, at most LINK_TOKEN_TTL_SECONDS.
 */
export async function requestToken(client: KubeClient, current: string, call: CallOptions = {}): Promise<string> {
  const claims = decodeJwt(current);
  const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(claims?.sub ?? '');
  if (!m) throw new Error('the link token is not a ServiceAccount token; cannot renew it');
  const lifetime = Math.min(claims?.exp && claims.iat ? claims.exp - claims.iat : 3600, LINK_TOKEN_TTL_SECONDS);
  const res = await client.create<{ status?: { token?: string } }>(
    `${resourcePath({ version: 'v1', plural: 'serviceaccounts', namespace: m[1], name: m[2] })}/token`,
    { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: lifetime } },
    call,
  );
  const token = res.status?.token;
  if (!token) throw new Error('TokenRequest returned no token');
  return token;
}
