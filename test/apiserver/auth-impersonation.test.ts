// Impersonation (kubectl --as / --as-group): who may impersonate whom, and who the request becomes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthRequestError, createSecurity, type UserInfo } from '../../src/apiserver/auth/index.js';
import { Clock, MemoryStore, clusterRole, clusterRoleBinding, gr, signingKeyPem } from './auth-fixtures.js';

const admin: UserInfo = { username: 'admin', uid: 'admin', groups: ['system:masters', 'system:authenticated'] };
const alice: UserInfo = { username: 'alice', uid: 'a', groups: ['system:authenticated'] };

function setup() {
  const store = new MemoryStore();
  const security = createSecurity({ store, adminToken: 'a', issuer: 'https://api', signingKeyPem: signingKeyPem(), defaultAudiences: ['https://api'], now: new Clock().now });
  for (const o of security.bootstrapObjects()) store.put(o.kind === 'ClusterRole' ? gr.clusterRoles : gr.clusterRoleBindings, o);
  // alice may impersonate the user "bob" and the group "devs", and no one else.
  clusterRole(store, 'bob-impersonator', [
    { apiGroups: [''], resources: ['users'], resourceNames: ['bob'], verbs: ['impersonate'] },
    { apiGroups: [''], resources: ['groups'], resourceNames: ['devs'], verbs: ['impersonate'] },
  ]);
  clusterRoleBinding(store, 'alice-as-bob', 'bob-impersonator', [{ kind: 'User', name: 'alice' }]);
  const impersonate = security.impersonate;
  assert.ok(impersonate, 'the module offers impersonation');
  return { store, security, impersonate };
}

function forbidden(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof AuthRequestError && e.status === 403 && pattern.test(e.message));
}

test('no Impersonate-* headers: the request runs as the authenticated user', () => {
  const { impersonate } = setup();
  assert.equal(impersonate(alice, { 'content-type': 'application/json' }), alice);
});

test('system:masters may impersonate a ServiceAccount, which gets its SA groups', () => {
  const { impersonate } = setup();
  const u = impersonate(admin, { 'impersonate-user': 'system:serviceaccount:team-a:builder' });
  assert.deepEqual(u, {
    username: 'system:serviceaccount:team-a:builder',
    uid: '',
    groups: ['system:serviceaccounts', 'system:serviceaccounts:team-a', 'system:authenticated'],
  });
});

test('impersonation is checked per claim: allowed user and group pass, anything else is 403', () => {
  const { impersonate } = setup();
  const bob = impersonate(alice, { 'impersonate-user': 'bob', 'impersonate-group': ['devs'] });
  assert.deepEqual(bob, { username: 'bob', uid: '', groups: ['devs', 'system:authenticated'] });
  forbidden(() => impersonate(alice, { 'impersonate-user': 'carol' }), /^users "carol" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope$/);
  forbidden(() => impersonate(alice, { 'impersonate-user': 'bob', 'impersonate-group': 'system:masters' }), /groups "system:masters" is forbidden/);
  forbidden(() => impersonate(alice, { 'impersonate-user': 'system:serviceaccount:team-a:builder' }), /cannot impersonate resource "serviceaccounts" in API group "" in the namespace "team-a"/);
  forbidden(() => impersonate(alice, { 'impersonate-user': 'bob', 'impersonate-uid': '42' }), /uids.authentication.k8s.io "42" is forbidden/);
});

test('groups without a user is a 400', () => {
  const { impersonate } = setup();
  assert.throws(() => impersonate(admin, { 'impersonate-group': 'devs' }), (e: unknown) => e instanceof AuthRequestError && e.status === 400);
});
