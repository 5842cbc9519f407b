// The security module's own endpoints (TokenRequest, TokenReview, self/subject reviews): responses and
// the errors bad bodies get, against the in-memory store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthRequestError, createSecurity, type Security, type StoredObject, type UserInfo } from '../../src/apiserver/auth/index.js';
import { Clock, MemoryStore, gr, role, roleBinding, serviceAccount, signingKeyPem } from './auth-fixtures.js';

const admin: UserInfo = { username: 'admin', uid: 'admin', groups: ['system:masters', 'system:authenticated'] };
const api = 'https://kubernetes.default.svc';

function setup() {
  const store = new MemoryStore();
  const clock = new Clock(new Date('2026-03-04T05:06:07.890Z'));
  const security = createSecurity({ store, adminToken: 'the-admin-token', issuer: api, signingKeyPem: signingKeyPem(), defaultAudiences: [api], now: clock.now });
  for (const o of security.bootstrapObjects()) store.put(o.kind === 'ClusterRole' ? gr.clusterRoles : gr.clusterRoleBindings, o);
  serviceAccount(store, 'team-a', 'builder');
  return { store, clock, security };
}

function tokenRequest(security: Security, spec: unknown, name = 'builder'): StoredObject {
  return security.handlers.tokenRequest('team-a', name, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', metadata: { creationTimestamp: null }, spec }, admin);
}

/** Asserts `fn` throws an AuthRequestError with this status/reason; returns it for further checks. */
function rejects(fn: () => unknown, status: number, reason: string): AuthRequestError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof AuthRequestError, `expected AuthRequestError, got ${String(e)}`);
    assert.equal(e.status, status, e.message);
    assert.equal(e.reason, reason, e.message);
    return e;
  }
  assert.fail(`expected a ${status} ${reason}`);
}

test('TokenRequest defaults: API audiences, 1h, RFC 3339 expirationTimestamp with whole seconds', () => {
  const { security } = setup();
  const res = tokenRequest(security, {});
  assert.equal(res.kind, 'TokenRequest');
  assert.equal(res.apiVersion, 'authentication.k8s.io/v1');
  assert.deepEqual(res.metadata, { name: 'builder', namespace: 'team-a', creationTimestamp: '2026-03-04T05:06:07Z' });
  assert.deepEqual(res.spec, { audiences: [api], expirationSeconds: 3600, boundObjectRef: null });
  const status = res.status as { token: string; expirationTimestamp: string };
  assert.equal(status.expirationTimestamp, '2026-03-04T06:06:07Z');
  assert.ok(security.authenticator.authenticate(status.token));
});

test('TokenRequest: expirationSeconds below 10 minutes is 422 Invalid with a field cause; above 48h is shortened', () => {
  const { security } = setup();
  const e = rejects(() => tokenRequest(security, { expirationSeconds: 599 }), 422, 'Invalid');
  assert.equal(e.code, 'AUTH_INVALID');
  assert.equal(e.message, 'TokenRequest.authentication.k8s.io "builder" is invalid: spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes');
  assert.deepEqual(e.details.causes?.[0]?.field, 'spec.expirationSeconds');
  const long = tokenRequest(security, { expirationSeconds: 1_000_000 });
  assert.equal((long.spec as { expirationSeconds: number }).expirationSeconds, 48 * 3600);
  assert.equal((long.status as { expirationTimestamp: string }).expirationTimestamp, '2026-03-06T05:06:07Z');
  rejects(() => tokenRequest(security, { expirationSeconds: 2 ** 33 }), 422, 'Invalid');
});

test('TokenRequest for a ServiceAccount that does not exist is 404 NotFound', () => {
  const { security } = setup();
  const e = rejects(() => tokenRequest(security, {}, 'ghost'), 404, 'NotFound');
  assert.equal(e.message, 'serviceaccounts "ghost" not found');
});

test('TokenRequest bodies of the wrong shape are 400 BadRequest naming the field', () => {
  const { security } = setup();
  for (const body of ['a string', 42, null, [], { spec: { expirationSeconds: 'soon' } }, { spec: { audiences: 'api' } }, { spec: { expirationSeconds: 1.5 } }]) {
    const e = rejects(() => security.handlers.tokenRequest('team-a', 'builder', body, admin), 400, 'BadRequest');
    assert.equal(e.code, 'AUTH_BAD_REQUEST');
  }
  const e = rejects(() => security.handlers.tokenRequest('team-a', 'builder', { spec: { expirationSeconds: 'soon' } }, admin), 400, 'BadRequest');
  assert.match(e.message, /spec\.expirationSeconds/);
  rejects(() => security.handlers.tokenRequest('team-a', 'builder', { kind: 'Pod', spec: {} }, admin), 400, 'BadRequest');
  rejects(() => security.handlers.tokenRequest('team-a', 'builder', { apiVersion: 'v1', kind: 'TokenRequest' }, admin), 400, 'BadRequest');
});

test('TokenRequest bound to a Pod: missing pod 404, stale uid 409, unsupported kind 422', () => {
  const { security, store } = setup();
  rejects(() => tokenRequest(security, { boundObjectRef: { kind: 'Pod', name: 'web-0' } }), 404, 'NotFound');
  store.put(gr.pods, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-0', namespace: 'team-a' } });
  rejects(() => tokenRequest(security, { boundObjectRef: { kind: 'Pod', name: 'web-0', uid: 'old' } }), 409, 'Conflict');
  rejects(() => tokenRequest(security, { boundObjectRef: { kind: 'Deployment', name: 'web' } }), 422, 'Invalid');
  const ok = tokenRequest(security, { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'web-0' } });
  assert.equal((ok.spec as { boundObjectRef: { name: string } }).boundObjectRef.name, 'web-0');
});

test('TokenReview: right audience authenticates with user and audiences; wrong audience does not', () => {
  const { security } = setup();
  const token = (tokenRequest(security, { audiences: ['identity.mesh.io', 'other'] }).status as { token: string }).token;
  const ok = security.handlers.tokenReview({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: ['identity.mesh.io'] } }, admin);
  const st = ok.status as { authenticated: boolean; user: UserInfo; audiences: string[] };
  assert.equal(st.authenticated, true);
  assert.equal(st.user.username, 'system:serviceaccount:team-a:builder');
  assert.deepEqual(st.user.groups, ['system:serviceaccounts', 'system:serviceaccounts:team-a', 'system:authenticated']);
  assert.deepEqual(st.audiences, ['identity.mesh.io']);
  const bad = security.handlers.tokenReview({ spec: { token, audiences: ['something-else'] } }, admin);
  assert.deepEqual(bad.status, {
    authenticated: false,
    user: {},
    error: 'token audiences ["identity.mesh.io","other"] is invalid for the target audiences ["something-else"]',
  });
  // No audiences in the review: the API server's own, which this token was not made for.
  assert.equal((security.handlers.tokenReview({ spec: { token } }, admin).status as { authenticated: boolean }).authenticated, false);
});

test('TokenReview: garbage token → authenticated false; empty, oversize or mistyped → 400', () => {
  const { security } = setup();
  const garbage = security.handlers.tokenReview({ spec: { token: 'not-a-token' } }, admin);
  assert.deepEqual(garbage.status, { authenticated: false, user: {}, error: 'invalid bearer token' });
  assert.match(rejects(() => security.handlers.tokenReview({ spec: {} }, admin), 400, 'BadRequest').message, /token is required/);
  rejects(() => security.handlers.tokenReview({ spec: { token: 'x'.repeat(20_000) } }, admin), 400, 'BadRequest');
  rejects(() => security.handlers.tokenReview({ spec: { token: 7 } }, admin), 400, 'BadRequest');
  rejects(() => security.handlers.tokenReview('{"spec":', admin), 400, 'BadRequest');
  rejects(() => security.handlers.tokenReview({ kind: 'SubjectAccessReview', spec: { token: 'x' } }, admin), 400, 'BadRequest');
});

test('TokenReview of the admin token: admin in system:masters for the API audience', () => {
  const { security } = setup();
  const st = security.handlers.tokenReview({ spec: { token: 'the-admin-token' } }, admin).status as { authenticated: boolean; user: UserInfo };
  assert.equal(st.authenticated, true);
  assert.equal(st.user.username, 'admin');
});

test('SelfSubjectReview returns the caller (kubectl auth whoami)', () => {
  const { security } = setup();
  const me: UserInfo = { username: 'system:serviceaccount:team-a:builder', uid: 'u1', groups: ['system:serviceaccounts', 'system:authenticated'] };
  const res = security.handlers.selfSubjectReview({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview', metadata: { creationTimestamp: null } }, me);
  assert.equal(res.kind, 'SelfSubjectReview');
  assert.deepEqual(res.status, { userInfo: { username: me.username, uid: 'u1', groups: me.groups } });
  rejects(() => security.handlers.selfSubjectReview([], me), 400, 'BadRequest');
});

test('SelfSubjectAccessReview answers can-i for the caller; both or neither attribute sets is 422', () => {
  const { security, store } = setup();
  role(store, 'team-a', 'cm', [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }]);
  roleBinding(store, 'team-a', 'cm', { kind: 'Role', name: 'cm' }, [{ kind: 'ServiceAccount', name: 'builder' }]);
  const me: UserInfo = { username: 'system:serviceaccount:team-a:builder', uid: 'u1', groups: ['system:serviceaccounts', 'system:authenticated'] };
  const ask = (spec: unknown) => security.handlers.selfSubjectAccessReview({ apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec }, me);
  const yes = ask({ resourceAttributes: { namespace: 'team-a', verb: 'get', resource: 'configmaps' } });
  assert.deepEqual(yes.status, { allowed: true, reason: 'RBAC: allowed by RoleBinding "cm/team-a" of Role "cm" to ServiceAccount "builder/team-a"' });
  assert.deepEqual(ask({ resourceAttributes: { namespace: 'team-a', verb: 'list', resource: 'secrets' } }).status, { allowed: false, reason: '' });
  assert.equal((ask({ nonResourceAttributes: { path: '/version', verb: 'get' } }).status as { allowed: boolean }).allowed, true);
  assert.deepEqual((yes.spec as { resourceAttributes: unknown }).resourceAttributes, { namespace: 'team-a', verb: 'get', resource: 'configmaps' });
  const e = rejects(() => ask({}), 422, 'Invalid');
  assert.match(e.message, /exactly one of nonResourceAttributes or resourceAttributes must be specified/);
  rejects(() => ask({ resourceAttributes: {}, nonResourceAttributes: {} }), 422, 'Invalid');
  rejects(() => ask({ resourceAttributes: { verb: ['get'] } }), 400, 'BadRequest');
});

test('SubjectAccessReview evaluates for the named user/groups, not the caller; neither is 422', () => {
  const { security } = setup();
  const sar = (spec: unknown) => security.handlers.subjectAccessReview({ apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec }, admin);
  const denied = sar({ user: 'system:serviceaccount:team-a:builder', groups: ['system:authenticated'], resourceAttributes: { verb: 'list', resource: 'secrets', namespace: 'x' } });
  assert.equal((denied.status as { allowed: boolean }).allowed, false);
  const allowed = sar({ user: 'x', groups: ['system:masters'], resourceAttributes: { verb: 'list', resource: 'secrets', namespace: 'x' } });
  assert.equal((allowed.status as { allowed: boolean }).allowed, true);
  assert.match(rejects(() => sar({ resourceAttributes: { verb: 'get', resource: 'pods' } }), 422, 'Invalid').message, /at least one of user or group must be specified/);
});

test('SelfSubjectRulesReview lists the caller\'s rules in a namespace (kubectl auth can-i --list)', () => {
  const { security, store } = setup();
  role(store, 'team-a', 'cm', [{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['one'], verbs: ['get'] }]);
  roleBinding(store, 'team-a', 'cm', { kind: 'Role', name: 'cm' }, [{ kind: 'ServiceAccount', name: 'builder' }]);
  const me: UserInfo = { username: 'system:serviceaccount:team-a:builder', uid: 'u1', groups: ['system:serviceaccounts', 'system:authenticated'] };
  const review = security.handlers.selfSubjectRulesReview?.({ apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: { namespace: 'team-a' } }, me);
  const status = review?.status as { resourceRules: unknown[]; nonResourceRules: { nonResourceURLs: string[] }[]; incomplete: boolean };
  assert.deepEqual(status.resourceRules.find((r) => JSON.stringify(r).includes('configmaps')), { verbs: ['get'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['one'] });
  assert.ok(status.resourceRules.some((r) => JSON.stringify(r).includes('selfsubjectaccessreviews')), 'basic-user rules listed');
  assert.ok(status.nonResourceRules.some((r) => r.nonResourceURLs.includes('/version')), 'discovery rules listed');
  assert.equal(status.incomplete, false);
  const other = security.handlers.selfSubjectRulesReview?.({ spec: { namespace: 'team-b' } }, me);
  assert.ok(!JSON.stringify(other?.status).includes('configmaps'), 'other namespace does not list team-a rules');
});
