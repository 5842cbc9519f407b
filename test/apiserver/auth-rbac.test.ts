// RBAC evaluation, table-driven, against the in-memory store with the bootstrap policy seeded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSecurity, forbiddenMessage, type RequestAttributes, type Security, type UserInfo } from '../../src/apiserver/auth/index.js';
import { Clock, MemoryStore, clusterRole, clusterRoleBinding, gr, role, roleBinding, signingKeyPem } from './auth-fixtures.js';

const sa = (ns: string, name: string): UserInfo => ({
  username: `system:serviceaccount:${ns}:${name}`,
  uid: `${ns}-${name}`,
  groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
});
const alice: UserInfo = { username: 'alice', uid: 'a', groups: ['devs', 'system:authenticated'] };
const nobody: UserInfo = { username: 'nobody', uid: 'n', groups: ['system:authenticated'] };
const root: UserInfo = { username: 'root', uid: 'r', groups: ['system:masters'] };

function res(user: UserInfo, verb: string, resource: string, namespace = '', extra: Partial<RequestAttributes> = {}): RequestAttributes {
  const [r, sub = ''] = resource.split('/') as [string, string?];
  return { user, verb, resourceRequest: true, apiGroup: '', resource: r, subresource: sub, namespace, name: '', path: '', ...extra };
}
function url(user: UserInfo, verb: string, path: string): RequestAttributes {
  return { user, verb, resourceRequest: false, apiGroup: '', resource: '', subresource: '', namespace: '', name: '', path };
}

function setup(): { store: MemoryStore; security: Security } {
  const store = new MemoryStore();
  const security = createSecurity({ store, adminToken: 'admin', issuer: 'https://issuer', signingKeyPem: signingKeyPem(), defaultAudiences: ['api'], now: new Clock().now });
  for (const o of security.bootstrapObjects()) {
    store.put(o.kind === 'ClusterRole' ? gr.clusterRoles : gr.clusterRoleBindings, o);
  }
  // The policy the cases below run against.
  role(store, 'team-a', 'pod-reader', [{ apiGroups: [''], resources: ['pods', 'pods/log'], verbs: ['get', 'list', 'watch'] }]);
  roleBinding(store, 'team-a', 'builder-reads-pods', { kind: 'Role', name: 'pod-reader' }, [{ kind: 'ServiceAccount', name: 'builder' }]);
  clusterRole(store, 'secret-reader', [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list'] }]);
  roleBinding(store, 'team-b', 'builder-reads-b-secrets', { kind: 'ClusterRole', name: 'secret-reader' }, [{ kind: 'ServiceAccount', name: 'builder', namespace: 'team-a' }]);
  clusterRole(store, 'node-watcher', [{ apiGroups: [''], resources: ['nodes', 'namespaces'], verbs: ['watch', 'list'] }]);
  clusterRoleBinding(store, 'watcher-nodes', 'node-watcher', [{ kind: 'ServiceAccount', name: 'watcher', namespace: 'ops' }]);
  clusterRole(store, 'one-configmap', [{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['mesh-trust-roots'], verbs: ['get', 'update'] }]);
  roleBinding(store, 'mesh-system', 'gw-trust', { kind: 'ClusterRole', name: 'one-configmap' }, [{ kind: 'Group', name: 'devs' }]);
  clusterRole(store, 'scaler', [{ apiGroups: ['apps', 'multicluster.mesh.io'], resources: ['*/scale', 'links/*'], verbs: ['*'] }]);
  clusterRoleBinding(store, 'alice-scales', 'scaler', [{ kind: 'User', name: 'alice' }]);
  clusterRole(store, 'metrics', [{ nonResourceURLs: ['/metrics', '/debug/*'], verbs: ['get'] }]);
  clusterRoleBinding(store, 'alice-metrics', 'metrics', [{ kind: 'User', name: 'alice' }]);
  roleBinding(store, 'team-c', 'alice-edits', { kind: 'ClusterRole', name: 'edit' }, [{ kind: 'User', name: 'alice' }]);
  roleBinding(store, 'team-d', 'alice-views', { kind: 'ClusterRole', name: 'view' }, [{ kind: 'User', name: 'alice' }]);
  roleBinding(store, 'team-e', 'alice-admin', { kind: 'ClusterRole', name: 'admin' }, [{ kind: 'User', name: 'alice' }]);
  return { store, security };
}

const builder = sa('team-a', 'builder');
const watcher = sa('ops', 'watcher');

const cases: [string, RequestAttributes, boolean][] = [
  ['Role+RoleBinding: list pods in its namespace', res(builder, 'list', 'pods', 'team-a'), true],
  ['Role+RoleBinding: subresource named in the rule', res(builder, 'get', 'pods/log', 'team-a'), true],
  ['Role+RoleBinding: subresource not named', res(builder, 'get', 'pods/exec', 'team-a'), false],
  ['Role+RoleBinding: verb not granted', res(builder, 'delete', 'pods', 'team-a'), false],
  ['Role+RoleBinding: other namespace', res(builder, 'list', 'pods', 'team-b'), false],
  ['Role+RoleBinding: other group', res(builder, 'list', 'pods', 'team-a', { apiGroup: 'apps' }), false],
  ['Role+RoleBinding: secrets not granted', res(builder, 'list', 'secrets', 'team-a'), false],
  ['ClusterRole+RoleBinding: namespaced effect only', res(builder, 'list', 'secrets', 'team-b'), true],
  ['ClusterRole+RoleBinding: not at cluster scope', res(builder, 'list', 'secrets', ''), false],
  ['ClusterRole+ClusterRoleBinding: cluster-scoped resource', res(watcher, 'watch', 'nodes'), true],
  ['ClusterRole+ClusterRoleBinding: namespaced resource, any namespace', res(watcher, 'list', 'namespaces', 'x'), true],
  ['ClusterRoleBinding SA subject needs its own namespace', res(sa('other', 'watcher'), 'watch', 'nodes'), false],
  ['resourceNames: the named object', res(alice, 'get', 'configmaps', 'mesh-system', { name: 'mesh-trust-roots' }), true],
  ['resourceNames: another object', res(alice, 'get', 'configmaps', 'mesh-system', { name: 'other' }), false],
  ['resourceNames: list has no name', res(alice, 'list', 'configmaps', 'mesh-system'), false],
  ['*/scale matches any resource\'s scale subresource', res(alice, 'update', 'deployments/scale', 'x', { apiGroup: 'apps' }), true],
  ['*/scale does not match the resource itself', res(alice, 'update', 'deployments', 'x', { apiGroup: 'apps' }), false],
  ['links/* is not a wildcard in RBAC (exact only)', res(alice, 'update', 'links/status', 'x', { apiGroup: 'multicluster.mesh.io' }), false],
  ['nonResourceURL exact', url(alice, 'get', '/metrics'), true],
  ['nonResourceURL trailing *', url(alice, 'get', '/debug/pprof/heap'), true],
  ['nonResourceURL trailing * needs the prefix', url(alice, 'get', '/debugger'), false],
  ['nonResourceURL verb', url(alice, 'post', '/metrics'), false],
  ['resource rules do not grant non-resource URLs', url(builder, 'get', '/metrics'), false],
  ['system:masters may do anything', res(root, 'delete', 'nodes', '', { name: 'n1' }), true],
  ['cluster-admin bound to system:masters via binding too', url(root, 'patch', '/anything'), true],
  ['bootstrap: any authenticated user reads /version', url(nobody, 'get', '/version'), true],
  ['bootstrap: discovery under /apis/*', url(nobody, 'get', '/apis/apps/v1'), true],
  ['bootstrap: /healthz', url(nobody, 'get', '/healthz'), true],
  ['bootstrap: self access review', res(nobody, 'create', 'selfsubjectaccessreviews', '', { apiGroup: 'authorization.k8s.io' }), true],
  ['bootstrap: self subject review (whoami)', res(nobody, 'create', 'selfsubjectreviews', '', { apiGroup: 'authentication.k8s.io' }), true],
  ['bootstrap: not tokenreviews without auth-delegator', res(nobody, 'create', 'tokenreviews', '', { apiGroup: 'authentication.k8s.io' }), false],
  ['bootstrap: nothing else', res(nobody, 'list', 'secrets', 'default'), false],
  ['edit (aggregated) writes secrets', res(alice, 'create', 'secrets', 'team-c'), true],
  ['edit (aggregated) includes view: list pods', res(alice, 'list', 'pods', 'team-c'), true],
  ['edit may create SA tokens', res(alice, 'create', 'serviceaccounts/token', 'team-c'), true],
  ['edit may not write roles', res(alice, 'create', 'roles', 'team-c', { apiGroup: 'rbac.authorization.k8s.io' }), false],
  ['view reads pods', res(alice, 'list', 'pods', 'team-d'), true],
  ['view does not read secrets', res(alice, 'get', 'secrets', 'team-d'), false],
  ['view does not write', res(alice, 'delete', 'pods', 'team-d'), false],
  ['admin (aggregated) writes roles', res(alice, 'create', 'rolebindings', 'team-e', { apiGroup: 'rbac.authorization.k8s.io' }), true],
  ['admin includes edit', res(alice, 'delete', 'secrets', 'team-e'), true],
];

test('RBAC decisions match Kubernetes for each case', async (t) => {
  const { security } = setup();
  for (const [name, attrs, want] of cases) {
    await t.test(name, () => {
      assert.equal(security.authorizer.authorize(attrs).allowed, want);
    });
  }
});

test('a 403 reason reads like kube-apiserver\'s', () => {
  const { security } = setup();
  assert.deepEqual(security.authorizer.authorize(res(builder, 'list', 'secrets', 'team-x')), { allowed: false, reason: '' });
  assert.equal(
    forbiddenMessage(res(builder, 'list', 'secrets', 'team-x')),
    'User "system:serviceaccount:team-a:builder" cannot list resource "secrets" in API group "" in the namespace "team-x"',
  );
  assert.equal(forbiddenMessage(res(watcher, 'delete', 'nodes')), 'User "system:serviceaccount:ops:watcher" cannot delete resource "nodes" in API group "" at the cluster scope');
  assert.equal(forbiddenMessage(res(nobody, 'create', 'serviceaccounts/token', 'a')), 'User "nobody" cannot create resource "serviceaccounts/token" in API group "" in the namespace "a"');
  assert.equal(forbiddenMessage(url(nobody, 'get', '/metrics')), 'User "nobody" cannot get path "/metrics"');
});

test('an allow names the binding, role and subject, as Kubernetes does', () => {
  const { security } = setup();
  assert.equal(
    security.authorizer.authorize(res(builder, 'list', 'pods', 'team-a')).reason,
    'RBAC: allowed by RoleBinding "builder-reads-pods/team-a" of Role "pod-reader" to ServiceAccount "builder/team-a"',
  );
  assert.equal(
    security.authorizer.authorize(url(nobody, 'get', '/version')).reason,
    'RBAC: allowed by ClusterRoleBinding "system:discovery" of ClusterRole "system:discovery" to Group "system:authenticated"',
  );
});

test('a binding to a missing role denies, and the reason says so (the core appends it to the 403 sentence)', () => {
  const { store, security } = setup();
  roleBinding(store, 'team-z', 'dangling', { kind: 'Role', name: 'gone' }, [{ kind: 'User', name: 'nobody' }]);
  assert.deepEqual(security.authorizer.authorize(res(nobody, 'get', 'pods', 'team-z')), {
    allowed: false,
    reason: 'RBAC: role.rbac.authorization.k8s.io "gone" not found',
  });
});

test('changes to roles and bindings take effect on the next request (no stale cache)', () => {
  const { store, security } = setup();
  const attrs = res(builder, 'delete', 'pods', 'team-a');
  assert.equal(security.authorizer.authorize(attrs).allowed, false);
  role(store, 'team-a', 'pod-reader', [{ apiGroups: [''], resources: ['pods'], verbs: ['*'] }]);
  assert.equal(security.authorizer.authorize(attrs).allowed, true);
  store.delete(gr.roleBindings, 'team-a', 'builder-reads-pods');
  assert.equal(security.authorizer.authorize(attrs).allowed, false);
});

test('a ClusterRole labelled aggregate-to-view extends view (and so edit and admin) at once', () => {
  const { store, security } = setup();
  const links = (ns: string) => res(alice, 'list', 'links', ns, { apiGroup: 'multicluster.mesh.io' });
  assert.equal(security.authorizer.authorize(links('team-d')).allowed, false);
  clusterRole(store, 'links-view', [{ apiGroups: ['multicluster.mesh.io'], resources: ['links'], verbs: ['get', 'list', 'watch'] }], {
    'rbac.authorization.k8s.io/aggregate-to-view': 'true',
  });
  for (const ns of ['team-c', 'team-d', 'team-e']) assert.equal(security.authorizer.authorize(links(ns)).allowed, true, ns);
});

test('bootstrap policy: the aggregated roles already carry their rules, as a real cluster shows them', () => {
  const { security } = setup();
  const objs = security.bootstrapObjects();
  const names = objs.map((o) => `${o.kind}/${o.metadata.name}`);
  for (const n of ['ClusterRole/cluster-admin', 'ClusterRole/admin', 'ClusterRole/edit', 'ClusterRole/view', 'ClusterRole/system:basic-user', 'ClusterRole/system:discovery', 'ClusterRole/system:public-info-viewer', 'ClusterRole/system:auth-delegator', 'ClusterRoleBinding/cluster-admin', 'ClusterRoleBinding/system:discovery', 'ClusterRoleBinding/system:basic-user', 'ClusterRoleBinding/system:public-info-viewer']) {
    assert.ok(names.includes(n), n);
  }
  const view = objs.find((o) => o.metadata.name === 'view');
  const edit = objs.find((o) => o.metadata.name === 'edit');
  const viewRules = JSON.stringify(view?.rules);
  assert.ok(Array.isArray(view?.rules) && (view.rules as unknown[]).length > 0);
  assert.ok((edit?.rules as unknown[]).length > (view?.rules as unknown[]).length, 'edit aggregates view and more');
  assert.doesNotMatch(viewRules, /"secrets"/);
  assert.deepEqual(view?.aggregationRule, { clusterRoleSelectors: [{ matchLabels: { 'rbac.authorization.k8s.io/aggregate-to-view': 'true' } }] });
});
