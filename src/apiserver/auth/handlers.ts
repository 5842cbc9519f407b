// The five requests the security module answers itself: TokenRequest, TokenReview, SelfSubjectReview,
// SelfSubjectAccessReview, SubjectAccessReview. Bodies are validated with zod; a body of the wrong
// shape is a 400 (as Kubernetes' decoder answers), a well-formed body with bad values a 422 with causes.
import { z } from 'zod';
import { AuthRequestError, badRequest, invalid, notFound, type StatusCause } from './errors.js';
import { maxTokenLength } from './jwt.js';
import { decodeProtobufBody, ProtobufError } from './protobuf.js';
import { rulesFor } from './admission.js';
import { evaluate } from './rbac.js';
import { issueServiceAccountToken, saResource, type BoundObject, type TokenCheck, type TokenContext } from './tokens.js';
import type { AuthHandlers, RequestAttributes, StoredObject, UserInfo } from './types.js';

/** TokenRequest limits, as kube-apiserver enforces them (minimum) and as we configure it (maximum). */
export const tokenExpiration = {
  minSeconds: 600,
  maxSeconds: 48 * 3600,
  defaultSeconds: 3600,
} as const;

export interface HandlerContext extends TokenContext {
  /** Authenticates any bearer token (admin or service account) for the given audiences. */
  review(token: string, audiences: string[]): TokenCheck;
}

const authnGroup = 'authentication.k8s.io';
const authzGroup = 'authorization.k8s.io';

/** RFC 3339 with whole seconds, as Kubernetes' metav1.Time marshals. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// Response objects are not stored (no uid, no resourceVersion), but travel through the same seam type.
function response(obj: Record<string, unknown>): StoredObject {
  return obj as unknown as StoredObject;
}

const nullableStrings = z.array(z.string()).nullish();
const meta = z.looseObject({ name: z.string().nullish(), namespace: z.string().nullish() }).nullish();

function envelope<T extends z.ZodType>(spec: T) {
  return z.looseObject({
    apiVersion: z.string().nullish(),
    kind: z.string().nullish(),
    metadata: meta,
    spec,
  });
}

/** Parses `body`; wrong type or wrong kind/apiVersion → 400 that names the first bad field. */
function decode<T extends z.ZodType>(schema: T, input: unknown, kind: string, group: string): z.infer<T> & { apiVersion?: string | null } {
  const body = input instanceof Uint8Array ? fromProtobuf(input, kind) : input;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest(`the body of a ${kind} must be a JSON object`);
  }
  const r = schema.safeParse(body);
  if (!r.success) {
    const issue = r.error.issues[0];
    const path = issue?.path.length ? issue.path.join('.') : '(root)';
    throw badRequest(`${kind} in version "v1" cannot be handled: ${path}: ${issue?.message ?? 'invalid'}`);
  }
  const data = r.data as { kind?: string | null; apiVersion?: string | null };
  if (data.kind && data.kind !== kind) throw badRequest(`wrong kind "${data.kind}": this endpoint takes a ${kind}`);
  if (data.apiVersion && !data.apiVersion.startsWith(`${group}/`)) {
    throw badRequest(`wrong apiVersion "${data.apiVersion}": a ${kind} is in the API group ${group}`);
  }
  return r.data as z.infer<T> & { apiVersion?: string | null };
}

/** A body the core passed as raw bytes (`application/vnd.kubernetes.protobuf`, as kubectl sends). */
function fromProtobuf(bytes: Uint8Array, kind: string): unknown {
  try {
    return decodeProtobufBody(bytes);
  } catch (e) {
    if (e instanceof ProtobufError) throw badRequest(`error decoding the ${kind} body as protobuf: ${e.message}`);
    throw e;
  }
}

/** The apiVersion to answer with: the version the client spoke, when it is of the right group. */
function answerVersion(given: string | null | undefined, group: string): string {
  return given && given.startsWith(`${group}/`) ? given : `${group}/v1`;
}

function userJson(u: UserInfo): Record<string, unknown> {
  return { username: u.username, uid: u.uid, groups: u.groups, ...(u.extra && Object.keys(u.extra).length ? { extra: u.extra } : {}) };
}

// ---- TokenRequest ----

const tokenRequestSpec = z
  .looseObject({
    audiences: nullableStrings,
    expirationSeconds: z.number().int().nullish(),
    boundObjectRef: z
      .looseObject({ kind: z.string().nullish(), apiVersion: z.string().nullish(), name: z.string().nullish(), uid: z.string().nullish() })
      .nullish(),
  })
  .nullish();
const tokenRequestBody = envelope(tokenRequestSpec);

function tokenRequest(ctx: HandlerContext, namespace: string, saName: string, body: unknown): StoredObject {
  const req = decode(tokenRequestBody, body, 'TokenRequest', authnGroup);
  const spec = req.spec ?? {};
  const sa = ctx.store.get(saResource, namespace, saName);
  if (!sa) throw notFound('serviceaccounts', '', saName);
  const causes: StatusCause[] = [];
  let expirationSeconds = spec.expirationSeconds ?? tokenExpiration.defaultSeconds;
  if (expirationSeconds < tokenExpiration.minSeconds) {
    causes.push({ reason: 'FieldValueInvalid', field: 'spec.expirationSeconds', message: `Invalid value: ${expirationSeconds}: may not specify a duration less than 10 minutes` });
  } else if (expirationSeconds > 2 ** 32) {
    causes.push({ reason: 'FieldValueInvalid', field: 'spec.expirationSeconds', message: `Invalid value: ${expirationSeconds}: may not specify a duration larger than 2^32 seconds` });
  }
  const audiences = spec.audiences && spec.audiences.length ? spec.audiences : ctx.apiAudiences;
  audiences.forEach((a, i) => {
    if (a === '') causes.push({ reason: 'FieldValueInvalid', field: `spec.audiences[${i}]`, message: 'Invalid value: "": must not be empty' });
  });
  const ref = spec.boundObjectRef;
  if (ref && ref.kind !== 'Pod' && ref.kind !== 'Secret') {
    causes.push({ reason: 'FieldValueNotSupported', field: 'spec.boundObjectRef.kind', message: `Unsupported value: "${ref.kind ?? ''}": supported values: "Pod", "Secret"` });
  }
  if (ref && !ref.name) causes.push({ reason: 'FieldValueRequired', field: 'spec.boundObjectRef.name', message: 'Required value' });
  if (causes.length) throw invalid('TokenRequest', authnGroup, saName, causes);
  // Like kube-apiserver with --service-account-max-token-expiration: longer requests are shortened, not refused.
  expirationSeconds = Math.min(expirationSeconds, tokenExpiration.maxSeconds);

  let boundObject: BoundObject | undefined;
  if (ref && (ref.kind === 'Pod' || ref.kind === 'Secret') && ref.name) {
    const resource = ref.kind === 'Pod' ? 'pods' : 'secrets';
    const obj = ctx.store.get({ group: '', resource }, namespace, ref.name);
    if (!obj) throw notFound(resource, '', ref.name);
    if (ref.uid && ref.uid !== obj.metadata.uid) {
      throw new AuthRequestError('Conflict', `the UID in the bound object reference (${ref.uid}) does not match the UID in record. The object might have been deleted and then recreated`);
    }
    boundObject = { kind: ref.kind, name: ref.name, uid: obj.metadata.uid };
  }
  const issued = issueServiceAccountToken(ctx, { serviceAccount: sa, audiences, expirationSeconds, ...(boundObject ? { boundObject } : {}) });
  return response({
    kind: 'TokenRequest',
    apiVersion: answerVersion(req.apiVersion, authnGroup),
    metadata: { name: saName, namespace, creationTimestamp: rfc3339(ctx.now()) },
    spec: {
      audiences,
      expirationSeconds,
      boundObjectRef: boundObject ? { kind: boundObject.kind, apiVersion: 'v1', name: boundObject.name, uid: boundObject.uid } : null,
    },
    status: { token: issued.token, expirationTimestamp: rfc3339(issued.expiresAt) },
  });
}

// ---- TokenReview ----

const tokenReviewBody = envelope(z.looseObject({ token: z.string().nullish(), audiences: nullableStrings }).nullish());

function tokenReview(ctx: HandlerContext, body: unknown): StoredObject {
  const req = decode(tokenReviewBody, body, 'TokenReview', authnGroup);
  const token = req.spec?.token ?? '';
  if (token === '') throw badRequest('token is required for TokenReview in authentication');
  if (token.length > maxTokenLength) throw badRequest(`spec.token is longer than ${maxTokenLength} bytes: not a token this server issued`);
  const wanted = req.spec?.audiences ?? [];
  const result = ctx.review(token, wanted.length ? wanted : ctx.apiAudiences);
  const status: Record<string, unknown> = result.ok
    ? { authenticated: true, user: userJson(result.user), audiences: result.audiences }
    : { authenticated: false, user: {}, error: result.error };
  return response({
    kind: 'TokenReview',
    apiVersion: answerVersion(req.apiVersion, authnGroup),
    metadata: { creationTimestamp: null },
    spec: { token, ...(wanted.length ? { audiences: wanted } : {}) },
    status,
  });
}

// ---- SelfSubjectReview ----

const selfSubjectReviewBody = z.looseObject({ apiVersion: z.string().nullish(), kind: z.string().nullish(), metadata: meta });

function selfSubjectReview(ctx: HandlerContext, body: unknown, user: UserInfo): StoredObject {
  const req = decode(selfSubjectReviewBody, body, 'SelfSubjectReview', authnGroup);
  return response({
    kind: 'SelfSubjectReview',
    apiVersion: answerVersion(req.apiVersion, authnGroup),
    metadata: { creationTimestamp: rfc3339(ctx.now()) },
    status: { userInfo: userJson(user) },
  });
}

// ---- access reviews ----

const resourceAttributes = z.looseObject({
  namespace: z.string().nullish(),
  verb: z.string().nullish(),
  group: z.string().nullish(),
  version: z.string().nullish(),
  resource: z.string().nullish(),
  subresource: z.string().nullish(),
  name: z.string().nullish(),
});
const nonResourceAttributes = z.looseObject({ path: z.string().nullish(), verb: z.string().nullish() });
const accessSpec = {
  resourceAttributes: resourceAttributes.nullish(),
  nonResourceAttributes: nonResourceAttributes.nullish(),
};
const selfSubjectAccessReviewBody = envelope(z.looseObject(accessSpec).nullish());
const subjectAccessReviewBody = envelope(
  z
    .looseObject({
      ...accessSpec,
      user: z.string().nullish(),
      groups: nullableStrings,
      uid: z.string().nullish(),
      extra: z.record(z.string(), z.array(z.string())).nullish(),
    })
    .nullish(),
);

type AccessSpec = { resourceAttributes?: z.infer<typeof resourceAttributes> | null; nonResourceAttributes?: z.infer<typeof nonResourceAttributes> | null };

function accessAttributes(kind: string, spec: AccessSpec, user: UserInfo): RequestAttributes {
  const r = spec.resourceAttributes;
  const n = spec.nonResourceAttributes;
  if ((r && n) || (!r && !n)) {
    throw invalid(kind, authzGroup, '', [
      { reason: 'FieldValueInvalid', field: 'spec.resourceAttributes', message: 'exactly one of nonResourceAttributes or resourceAttributes must be specified' },
    ]);
  }
  if (r) {
    return {
      user,
      verb: r.verb ?? '',
      resourceRequest: true,
      apiGroup: r.group ?? '',
      resource: r.resource ?? '',
      subresource: r.subresource ?? '',
      namespace: r.namespace ?? '',
      name: r.name ?? '',
      path: '',
    };
  }
  return { user, verb: n?.verb ?? '', resourceRequest: false, apiGroup: '', resource: '', subresource: '', namespace: '', name: '', path: n?.path ?? '' };
}

function accessStatus(ctx: HandlerContext, attrs: RequestAttributes): Record<string, unknown> {
  const e = evaluate(ctx.store, attrs);
  // As kube-apiserver: a denial carries no reason unless evaluation hit errors (kubectl prints "no").
  return { allowed: e.allowed, reason: e.reason };
}

function selfSubjectAccessReview(ctx: HandlerContext, body: unknown, user: UserInfo): StoredObject {
  const req = decode(selfSubjectAccessReviewBody, body, 'SelfSubjectAccessReview', authzGroup);
  const spec: AccessSpec = req.spec ?? {};
  const attrs = accessAttributes('SelfSubjectAccessReview', spec, user);
  return response({
    kind: 'SelfSubjectAccessReview',
    apiVersion: answerVersion(req.apiVersion, authzGroup),
    metadata: { creationTimestamp: null },
    spec,
    status: accessStatus(ctx, attrs),
  });
}

function subjectAccessReview(ctx: HandlerContext, body: unknown): StoredObject {
  const req = decode(subjectAccessReviewBody, body, 'SubjectAccessReview', authzGroup);
  const spec = req.spec ?? {};
  if (!spec.user && !(spec.groups && spec.groups.length)) {
    throw invalid('SubjectAccessReview', authzGroup, '', [
      { reason: 'FieldValueInvalid', field: 'spec.user', message: 'Invalid value: "": at least one of user or group must be specified' },
    ]);
  }
  const subject: UserInfo = { username: spec.user ?? '', uid: spec.uid ?? '', groups: spec.groups ?? [], ...(spec.extra ? { extra: spec.extra } : {}) };
  const attrs = accessAttributes('SubjectAccessReview', spec, subject);
  return response({
    kind: 'SubjectAccessReview',
    apiVersion: answerVersion(req.apiVersion, authzGroup),
    metadata: { creationTimestamp: null },
    spec,
    status: accessStatus(ctx, attrs),
  });
}

// ---- SelfSubjectRulesReview ----

const selfSubjectRulesReviewBody = envelope(z.looseObject({ namespace: z.string().nullish() }).nullish());

function selfSubjectRulesReview(ctx: HandlerContext, body: unknown, user: UserInfo): StoredObject {
  const req = decode(selfSubjectRulesReviewBody, body, 'SelfSubjectRulesReview', authzGroup);
  const namespace = req.spec?.namespace ?? '';
  const rules = rulesFor(ctx.store, user, namespace);
  const resourceRules = rules
    .filter((r) => r.resources.length)
    .map((r) => ({ verbs: r.verbs, apiGroups: r.apiGroups, resources: r.resources, ...(r.resourceNames.length ? { resourceNames: r.resourceNames } : {}) }));
  const nonResourceRules = rules.filter((r) => r.nonResourceURLs.length).map((r) => ({ verbs: r.verbs, nonResourceURLs: r.nonResourceURLs }));
  return response({
    kind: 'SelfSubjectRulesReview',
    apiVersion: answerVersion(req.apiVersion, authzGroup),
    metadata: { creationTimestamp: null },
    spec: { namespace },
    status: { resourceRules, nonResourceRules, incomplete: false },
  });
}

export function createHandlers(ctx: HandlerContext): AuthHandlers {
  return {
    tokenRequest: (namespace, serviceAccount, body) => tokenRequest(ctx, namespace, serviceAccount, body),
    tokenReview: (body) => tokenReview(ctx, body),
    selfSubjectReview: (body, user) => selfSubjectReview(ctx, body, user),
    selfSubjectAccessReview: (body, user) => selfSubjectAccessReview(ctx, body, user),
    subjectAccessReview: (body) => subjectAccessReview(ctx, body),
    selfSubjectRulesReview: (body, user) => selfSubjectRulesReview(ctx, body, user),
  };
}
