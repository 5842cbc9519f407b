// Service-account tokens: issue (TokenRequest) and check (every request, TokenReview). Pure apart from
// reading the store through ObjectReader: a token is only as good as the objects it names, so deleting
// (or re-creating) its ServiceAccount, or the Pod/Secret it is bound to, revokes it at once.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { signJwt, verifyJwt, type JwtKey } from './jwt.js';
import type { ObjectReader, StoredObject, UserInfo } from './types.js';

export const saResource = { group: '', resource: 'serviceaccounts' } as const;
const podResource = { group: '', resource: 'pods' } as const;
const secretResource = { group: '', resource: 'secrets' } as const;

/** `iss` of the token controller's legacy Secret tokens (no expiry, valid while the Secret exists). */
export const legacyIssuer = 'kubernetes/serviceaccount';
export const legacyTokenSecretType = 'kubernetes.io/service-account-token';

export const serviceAccountUsernamePrefix = 'system:serviceaccount:';
export const allServiceAccountsGroup = 'system:serviceaccounts';
export const authenticatedGroup = 'system:authenticated';

/** Leeway for `nbf`/`iat` only: a token issued "now" by this server must be usable at once. */
const notBeforeLeewaySeconds = 60;

export interface TokenContext {
  key: JwtKey;
  issuer: string;
  store: ObjectReader;
  /** Audiences the API server itself accepts (requests with a bearer token must match one). */
  apiAudiences: string[];
  now: () => Date;
}

export interface BoundObject {
  kind: 'Pod' | 'Secret';
  name: string;
  uid: string;
}

export interface IssueRequest {
  serviceAccount: StoredObject;
  audiences: string[];
  expirationSeconds: number;
  boundObject?: BoundObject;
}

export interface IssuedToken {
  token: string;
  expiresAt: Date;
}

export function serviceAccountUsername(namespace: string, name: string): string {
  return `${serviceAccountUsernamePrefix}${namespace}:${name}`;
}

export function serviceAccountUser(namespace: string, name: string, uid: string, extra?: Record<string, string[]>): UserInfo {
  return {
    username: serviceAccountUsername(namespace, name),
    uid,
    groups: [allServiceAccountsGroup, `${allServiceAccountsGroup}:${namespace}`, authenticatedGroup],
    ...(extra ? { extra } : {}),
  };
}

/** Signs a bound service-account token with the claims kube-apiserver puts in one. */
export function issueServiceAccountToken(ctx: Pick<TokenContext, 'key' | 'issuer' | 'now'>, req: IssueRequest): IssuedToken {
  const { name, namespace = '', uid } = req.serviceAccount.metadata;
  const iat = Math.floor(ctx.now().getTime() / 1000);
  const exp = iat + req.expirationSeconds;
  const k8s: Record<string, unknown> = { namespace, serviceaccount: { name, uid } };
  if (req.boundObject) k8s[req.boundObject.kind === 'Pod' ? 'pod' : 'secret'] = { name: req.boundObject.name, uid: req.boundObject.uid };
  const token = signJwt(ctx.key, {
    aud: req.audiences,
    exp,
    iat,
    iss: ctx.issuer,
    jti: randomUUID(),
    'kubernetes.io': k8s,
    nbf: iat,
    sub: serviceAccountUsername(namespace, name),
  });
  return { token, expiresAt: new Date(exp * 1000) };
}

/** The token a token controller writes into a `kubernetes.io/service-account-token` Secret. */
export function issueLegacySecretToken(key: JwtKey, serviceAccount: StoredObject, secretName: string): string {
  const { name, namespace = '', uid } = serviceAccount.metadata;
  return signJwt(key, {
    iss: legacyIssuer,
    'kubernetes.io/serviceaccount/namespace': namespace,
    'kubernetes.io/serviceaccount/secret.name': secretName,
    'kubernetes.io/serviceaccount/service-account.name': name,
    'kubernetes.io/serviceaccount/service-account.uid': uid,
    sub: serviceAccountUsername(namespace, name),
  });
}

const ref = z.object({ name: z.string().min(1), uid: z.string().min(1) });
const boundClaims = z.object({
  iss: z.string(),
  sub: z.string(),
  aud: z.union([z.string(), z.array(z.string())]),
  exp: z.number(),
  nbf: z.number().optional(),
  iat: z.number().optional(),
  jti: z.string().optional(),
  'kubernetes.io': z.object({
    namespace: z.string().min(1),
    serviceaccount: ref,
    pod: ref.optional(),
    secret: ref.optional(),
  }),
});
const legacyClaims = z.object({
  iss: z.literal(legacyIssuer),
  sub: z.string(),
  'kubernetes.io/serviceaccount/namespace': z.string().min(1),
  'kubernetes.io/serviceaccount/secret.name': z.string().min(1),
  'kubernetes.io/serviceaccount/service-account.name': z.string().min(1),
  'kubernetes.io/serviceaccount/service-account.uid': z.string().min(1),
});

export type TokenCheck =
  | { ok: true; user: UserInfo; audiences: string[] }
  | { ok: false; error: string };

function fail(error: string): TokenCheck {
  return { ok: false, error };
}

/**
 * How long after its deletionTimestamp an object still vouches for tokens. As kube-apiserver: a Pod in
 * graceful termination keeps API access (to release a Lease, drain, report) until shortly after its
 * grace period ends.
 */
const deletionGraceSeconds = 60;

function isGone(obj: StoredObject, now: Date): boolean {
  const ts = obj.metadata.deletionTimestamp;
  if (typeof ts !== 'string' || ts === '') return false;
  const t = Date.parse(ts);
  return Number.isNaN(t) || t < now.getTime() - deletionGraceSeconds * 1000;
}

/** Checks that the ServiceAccount named by a token still exists as the same object (same uid). */
function liveServiceAccount(store: ObjectReader, now: Date, namespace: string, name: string, uid: string): string | undefined {
  const sa = store.get(saResource, namespace, name);
  if (!sa || isGone(sa, now)) return `service account ${namespace}/${name} has been deleted`;
  if (sa.metadata.uid !== uid) return `service account UID (${sa.metadata.uid}) does not match claim (${uid})`;
  return undefined;
}

function liveBound(store: ObjectReader, now: Date, kind: string, gr: typeof podResource | typeof secretResource, namespace: string, r: { name: string; uid: string }): string | undefined {
  const obj = store.get(gr, namespace, r.name);
  if (!obj || isGone(obj, now)) return `${kind.toLowerCase()} ${namespace}/${r.name} has been deleted`;
  if (obj.metadata.uid !== r.uid) return `${kind.toLowerCase()} UID (${obj.metadata.uid}) does not match claim (${r.uid})`;
  return undefined;
}

function intersect(a: string[], b: string[]): string[] {
  return a.filter((x) => b.includes(x));
}

/**
 * Whether `token` is a live service-account token of this server for one of `audiences`. Errors read like
 * kube-apiserver's (they are shown in TokenReview.status.error and in the server's log, never to the
 * bearer of a bad token, who only gets 401).
 */
export function checkServiceAccountToken(ctx: TokenContext, token: string, audiences: string[], verified?: Record<string, unknown>): TokenCheck {
  const claims = verified ?? verifyJwt(ctx.key, token);
  if (!claims) return fail('invalid bearer token');
  if (claims.iss === legacyIssuer) return checkLegacy(ctx, token, claims, audiences);
  const parsed = boundClaims.safeParse(claims);
  if (!parsed.success) return fail('invalid bearer token: malformed service-account claims');
  const c = parsed.data;
  if (c.iss !== ctx.issuer) return fail('invalid bearer token: unknown issuer');
  const nowDate = ctx.now();
  const now = nowDate.getTime() / 1000;
  if (now >= c.exp) return fail('service account token has expired');
  if (c.nbf !== undefined && now + notBeforeLeewaySeconds < c.nbf) return fail('service account token is not valid yet');
  const tokenAud = typeof c.aud === 'string' ? [c.aud] : c.aud;
  const matched = intersect(audiences, tokenAud);
  if (matched.length === 0) return fail(`token audiences ${JSON.stringify(tokenAud)} is invalid for the target audiences ${JSON.stringify(audiences)}`);
  const k = c['kubernetes.io'];
  if (c.sub !== serviceAccountUsername(k.namespace, k.serviceaccount.name)) return fail('invalid bearer token: subject does not match service account');
  const saProblem = liveServiceAccount(ctx.store, nowDate, k.namespace, k.serviceaccount.name, k.serviceaccount.uid);
  if (saProblem) return fail(saProblem);
  const extra: Record<string, string[]> = {};
  if (c.jti) extra['authentication.kubernetes.io/credential-id'] = [`JTI=${c.jti}`];
  if (k.pod) {
    const p = liveBound(ctx.store, nowDate, 'Pod', podResource, k.namespace, k.pod);
    if (p) return fail(p);
    extra['authentication.kubernetes.io/pod-name'] = [k.pod.name];
    extra['authentication.kubernetes.io/pod-uid'] = [k.pod.uid];
  }
  if (k.secret) {
    const p = liveBound(ctx.store, nowDate, 'Secret', secretResource, k.namespace, k.secret);
    if (p) return fail(p);
  }
  const user = serviceAccountUser(k.namespace, k.serviceaccount.name, k.serviceaccount.uid, Object.keys(extra).length ? extra : undefined);
  return { ok: true, user, audiences: matched };
}

/** Legacy Secret tokens have no `aud`: like kube-apiserver, they count as meant for the API server. */
function checkLegacy(ctx: TokenContext, token: string, claims: Record<string, unknown>, audiences: string[]): TokenCheck {
  const parsed = legacyClaims.safeParse(claims);
  if (!parsed.success) return fail('invalid bearer token: malformed legacy service-account claims');
  const c = parsed.data;
  const ns = c['kubernetes.io/serviceaccount/namespace'];
  const saName = c['kubernetes.io/serviceaccount/service-account.name'];
  const matched = intersect(audiences, ctx.apiAudiences);
  if (matched.length === 0) return fail(`token audiences ${JSON.stringify(ctx.apiAudiences)} is invalid for the target audiences ${JSON.stringify(audiences)}`);
  if (c.sub !== serviceAccountUsername(ns, saName)) return fail('invalid bearer token: subject does not match service account');
  const secretName = c['kubernetes.io/serviceaccount/secret.name'];
  const secret = ctx.store.get(secretResource, ns, secretName);
  if (!secret || isGone(secret, ctx.now())) return fail(`secret ${ns}/${secretName} has been deleted`);
  const data = secret.data as Record<string, unknown> | undefined;
  const stored = typeof data?.token === 'string' ? Buffer.from(data.token, 'base64').toString('utf8') : undefined;
  if (secret.type !== legacyTokenSecretType || stored !== token) return fail(`token does not match secret ${ns}/${secretName}`);
  const saProblem = liveServiceAccount(ctx.store, ctx.now(), ns, saName, c['kubernetes.io/serviceaccount/service-account.uid']);
  if (saProblem) return fail(saProblem);
  return { ok: true, user: serviceAccountUser(ns, saName, c['kubernetes.io/serviceaccount/service-account.uid']), audiences: matched };
}
