// The API server's security module: bearer-token authentication (the admin token, service-account
// tokens this server signed), RBAC authorization from the stored Roles and Bindings, the token and
// access-review endpoints, and the bootstrap RBAC policy. The REST core calls `createSecurity` once.
import { timingSafeEqual } from 'node:crypto';
import { createLogger } from '../../log/index.js';
import { admitRbac } from './admission.js';
import { bootstrapPolicy } from './bootstrap.js';
import { impersonate } from './impersonation.js';
import { createHandlers, type HandlerContext } from './handlers.js';
import { loadSigningKey, maxTokenLength, verifyJwt } from './jwt.js';
import { authorize } from './rbac.js';
import { authenticatedGroup, checkServiceAccountToken, type TokenCheck, type TokenContext } from './tokens.js';
import type { Security, SecurityOptions, UserInfo } from './types.js';

export type * from './types.js';
export { AuthRequestError, type StatusCause, type StatusReason } from './errors.js';
export { forbiddenMessage, evaluate, mastersGroup } from './rbac.js';
export { tokenExpiration } from './handlers.js';
export { admitRbac, rulesFor } from './admission.js';
export {
  issueServiceAccountToken,
  issueLegacySecretToken,
  serviceAccountUsername,
  legacyTokenSecretType,
  type IssuedToken,
} from './tokens.js';
export { loadSigningKey, type JwtKey } from './jwt.js';

export const adminUser: UserInfo = { username: 'admin', uid: 'admin', groups: ['system:masters', authenticatedGroup] };

/** Verified signatures kept (tokens are re-checked against the clock and the store on every use). */
const signatureCacheSize = 4096;
const refusalLogIntervalMs = 60_000;

export function createSecurity(options: SecurityOptions): Security {
  if (!options.adminToken) throw new Error('security: adminToken must not be empty');
  const log = createLogger('apiserver-auth');
  const key = loadSigningKey(options.signingKeyPem);
  const adminBytes = Buffer.from(options.adminToken);
  const ctx: TokenContext = {
    key,
    issuer: options.issuer,
    store: options.store,
    // Kubernetes defaults the API audiences to the issuer when none are configured.
    apiAudiences: options.defaultAudiences.length ? [...options.defaultAudiences] : [options.issuer],
    now: options.now ?? (() => new Date()),
  };

  const isAdmin = (token: string): boolean => {
    const b = Buffer.from(token);
    return b.length === adminBytes.length && timingSafeEqual(b, adminBytes);
  };

  // An ECDSA verify costs far more than the rest of a request's checks: remember good signatures only.
  const verified = new Map<string, Record<string, unknown>>();
  const claimsOf = (token: string): Record<string, unknown> | undefined => {
    const hit = verified.get(token);
    if (hit) return hit;
    const claims = verifyJwt(key, token);
    if (!claims) return undefined;
    if (verified.size >= signatureCacheSize) verified.delete(verified.keys().next().value as string);
    verified.set(token, claims);
    return claims;
  };

  const lastLogged = new Map<string, number>();
  const review = (token: string, audiences: string[]): TokenCheck => {
    if (token.length === 0 || token.length > maxTokenLength) return { ok: false, error: 'invalid bearer token' };
    if (isAdmin(token)) {
      const matched = audiences.filter((a) => ctx.apiAudiences.includes(a));
      return matched.length
        ? { ok: true, user: adminUser, audiences: matched }
        : { ok: false, error: `token audiences ${JSON.stringify(ctx.apiAudiences)} is invalid for the target audiences ${JSON.stringify(audiences)}` };
    }
    const claims = claimsOf(token);
    if (!claims) return { ok: false, error: 'invalid bearer token' };
    const result = checkServiceAccountToken(ctx, token, audiences, claims);
    if (!result.ok) {
      // Our own signature but refused: expired, revoked by deleting its ServiceAccount, wrong audience.
      // A client retrying with a dead token must not flood the log: once a minute per (subject, reason).
      const sub = typeof claims.sub === 'string' ? claims.sub : '';
      const key = `${sub}\n${result.error}`;
      const now = Date.now();
      if ((lastLogged.get(key) ?? 0) + refusalLogIntervalMs <= now) {
        if (lastLogged.size >= signatureCacheSize) lastLogged.clear();
        lastLogged.set(key, now);
        log.info('service-account token refused', { reason: result.error, sub });
      }
    }
    return result;
  };

  const handlerCtx: HandlerContext = { ...ctx, review };
  return {
    authenticator: {
      authenticate(bearerToken) {
        if (isAdmin(bearerToken)) return adminUser;
        const r = review(bearerToken, ctx.apiAudiences);
        return r.ok ? r.user : undefined;
      },
    },
    authorizer: { authorize: (attrs) => authorize(options.store, attrs) },
    handlers: createHandlers(handlerCtx),
    bootstrapObjects: bootstrapPolicy,
    admit: (user, gr, obj, old) => admitRbac(options.store, user, gr, obj, old),
    impersonate: (user, headers) => impersonate(options.store, user, headers),
  };
}
