// RBAC admission: field validation (422) and escalation prevention (403), against the in-memory store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthRequestError, createSecurity, type Security, type StoredObject, type UserInfo } from '../../src/apiserver/auth/index.js';
import { Clock, MemoryStore, clusterRole, clusterRoleBinding, gr, role, roleBinding, signingKeyPem } from './auth-fixtures.js';

const admin: UserInfo = { username: 'admin', uid: 'admin', groups: ['system:masters', 'system:authenticated'] };
const lead: UserInfo = { username: 'system:serviceaccount:team-a:lead', uid: 'l', groups: ['system:serviceaccounts', 'system:serviceaccounts:team-a', 'system:authenticated'] };

function setup(): { store: MemoryStore; security: Security } {
  const store = new MemoryStore();
  const security = createSecurity({ store, adminToken: 'admin', issuer: 'https://issuer', signingKeyPem: signingKeyPem(), defaultAudiences: ['api'], now: new Clock().now });
  for (const o of security.bootstrapObjects()) store.put(o.kind === 'ClusterRole' ? gr.clusterRoles : gr.clusterRoleBindings, o);
  // lead may manage RBAC in team-a and read pods and configmaps there, nothing more.
  role(store, 'team-a', 'rbac-manager', [
    { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: ['get', 'list', 'create', 'update', 'delete'] },
    { apiGroups: [''], resources: ['pods', 'configmaps'], verbs: ['get', 'list'] },
  ]);
  roleBinding(store, 'team-a', 'lead', { kind: 'Role', name: 'rbac-manager' }, [{ kind: 'ServiceAccount', name: 'lead' }]);
  return { store, security };
}

function roleObj(name: string, rules: unknown[], ns = 'team-a'): StoredObject {
  return { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name, namespace: ns, uid: '', resourceVersion: '' }, rules };
}
function bindingObj(name: string, roleRef: unknown, subjects: unknown[], ns = 'team-a'): StoredObject {
  return { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name, namespace: ns, uid: '', resourceVersion: '' }, roleRef, subjects };
}

function expectError(fn: () => void, status: number, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof AuthRequestError && e.status === status && pattern.test(e.message));
}

test('a user may create a Role granting only what they hold', () => {
  const { security } = setup();
  security.admit?.(lead, gr.roles, roleObj('reader', [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }]), undefined);
  expectError(
    () => security.admit?.(lead, gr.roles, roleObj('sneaky', [{ apiGroups: [''], resources: ['secrets', 'pods'], verbs: ['get'] }]), undefined),
    403,
    /^roles\.rbac\.authorization\.k8s\.io "sneaky" is forbidden: user "system:serviceaccount:team-a:lead" .* is attempting to grant RBAC permissions not currently held:\n\{APIGroups:\[""\], Resources:\["secrets"\], Verbs:\["get"\]\}$/,
  );
  // A name-limited grant of something held unlimited is fine; the reverse is not.
  security.admit?.(lead, gr.roles, roleObj('one-cm', [{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['x'], verbs: ['get'] }]), undefined);
  expectError(() => security.admit?.(lead, gr.roles, roleObj('wild', [{ apiGroups: ['*'], resources: ['pods'], verbs: ['get'] }]), undefined), 403, /not currently held/);
});

test('system:masters and holders of "escalate" may grant anything', () => {
  const { store, security } = setup();
  const big = roleObj('big', [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }]);
  security.admit?.(admin, gr.roles, big, undefined);
  role(store, 'team-a', 'escalator', [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'], verbs: ['escalate'] }]);
  roleBinding(store, 'team-a', 'lead-escalates', { kind: 'Role', name: 'escalator' }, [{ kind: 'ServiceAccount', name: 'lead' }]);
  security.admit?.(lead, gr.roles, big, undefined);
});

test('binding: only to a role whose permissions the user holds, or with "bind" on it', () => {
  const { store, security } = setup();
  const subj = [{ kind: 'ServiceAccount', name: 'builder' }];
  role(store, 'team-a', 'pods', [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }]);
  security.admit?.(lead, gr.roleBindings, bindingObj('b1', { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pods' }, subj), undefined);
  expectError(() => security.admit?.(lead, gr.roleBindings, bindingObj('b2', { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' }, subj), undefined), 403, /not currently held/);
  expectError(() => security.admit?.(lead, gr.roleBindings, bindingObj('b3', { kind: 'Role', name: 'absent' }, subj), undefined), 403, /does not exist/);
  clusterRole(store, 'binder', [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], verbs: ['bind'], resourceNames: ['edit'] }]);
  roleBinding(store, 'team-a', 'lead-binds-edit', { kind: 'ClusterRole', name: 'binder' }, [{ kind: 'ServiceAccount', name: 'lead' }]);
  security.admit?.(lead, gr.roleBindings, bindingObj('b2', { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' }, subj), undefined);
  expectError(() => security.admit?.(lead, gr.roleBindings, bindingObj('b4', { kind: 'ClusterRole', name: 'admin' }, subj), undefined), 403, /not currently held/);
});

test('invalid RBAC objects are 422 with field causes, for everyone including admin', () => {
  const { security, store } = setup();
  const cases: [typeof gr.roles, StoredObject, RegExp][] = [
    [gr.roles, roleObj('r', [{ apiGroups: [''], resources: ['pods'] }]), /rules\[0\]\.verbs: Required value/],
    [gr.roles, roleObj('r', [{ nonResourceURLs: ['/x'], verbs: ['get'] }]), /namespaced rules cannot apply to non-resource URLs/],
    [gr.roles, roleObj('r', [{ verbs: ['get'] }]), /rules\[0\]\.apiGroups: Required value/],
    [gr.roles, roleObj('r', [{ verbs: 'get' }]), /is invalid: rules: Invalid value/],
    [gr.roleBindings, bindingObj('b', { kind: 'Deployment', name: 'x' }, []), /roleRef\.kind: Unsupported value: "Deployment"/],
    [gr.roleBindings, bindingObj('b', { kind: 'Role', name: 'x' }, [{ kind: 'Robot', name: 'r2' }]), /subjects\[0\]\.kind: Unsupported value: "Robot"/],
    [gr.roleBindings, bindingObj('b', { kind: 'Role' }, []), /roleRef\.name: Required value/],
  ];
  for (const [g, obj, pattern] of cases) expectError(() => security.admit?.(admin, g, obj, undefined), 422, pattern);
  const crb = clusterRoleBinding(store, 'x', 'view', [{ kind: 'ServiceAccount', name: 'sa' }]);
  expectError(() => security.admit?.(admin, gr.clusterRoleBindings, crb, undefined), 422, /subjects\[0\]\.namespace: Required value/);
  const old = bindingObj('b', { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' }, []);
  const changed = bindingObj('b', { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' }, []);
  expectError(() => security.admit?.(admin, gr.roleBindings, changed, old), 422, /cannot change roleRef/);
  security.admit?.(admin, gr.roleBindings, old, old);
});

test('other resources pass admission untouched', () => {
  const { security } = setup();
  security.admit?.(lead, { group: '', resource: 'secrets' }, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'x', uid: '', resourceVersion: '' } }, undefined);
  assert.ok(security.admit);
});
