// The security module end to end: `mesh apiserver` as its own process, driven over HTTPS by the real
// @kubernetes/client-node and the real kubectl. Tokens come from the server (TokenRequest, `kubectl
// create token`); RBAC objects are written through the API like any client would.
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import {
  ApiException,
  AuthenticationV1Api,
  AuthorizationV1Api,
  CoreV1Api,
  KubeConfig,
  RbacAuthorizationV1Api,
  type V1PolicyRule,
  type RbacV1Subject,
} from '@kubernetes/client-node';
import { issueServiceAccountToken, loadSigningKey, type StoredObject } from '../../src/apiserver/auth/index.js';
import { startApiServer, type TestApiServer } from '../helpers/apiserver.js';
import { stopAll } from '../helpers/process.js';
import { signingKeyPem } from './auth-fixtures.js';

const kubectlBin = '/usr/bin/kubectl';
const issuer = 'https://kubernetes.default.svc.cluster.local';

let api: TestApiServer;
let core: CoreV1Api;
let rbac: RbacAuthorizationV1Api;

before(async () => {
  api = await startApiServer();
  core = api.kubeConfig.makeApiClient(CoreV1Api);
  rbac = api.kubeConfig.makeApiClient(RbacAuthorizationV1Api);
  for (const ns of ['team-a', 'team-b', 'ops']) await core.createNamespace({ body: { metadata: { name: ns } } });
  for (const [ns, sa] of [['team-a', 'builder'], ['ops', 'watcher'], ['ops', 'reviewer'], ['team-b', 'nobody']] as const) {
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: sa } } });
  }
  // builder: read pods in team-a (Role), read two named configmaps there (ClusterRole via RoleBinding).
  await role('team-a', 'pod-reader', [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }]);
  await roleBinding('team-a', 'builder-pods', 'Role', 'pod-reader', [{ kind: 'ServiceAccount', name: 'builder', namespace: 'team-a' }]);
  await rbac.createClusterRole({ body: { metadata: { name: 'trust-roots-reader' }, rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['mesh-trust-roots'], verbs: ['get'] }] } });
  await roleBinding('team-a', 'builder-roots', 'ClusterRole', 'trust-roots-reader', [{ kind: 'ServiceAccount', name: 'builder', namespace: 'team-a' }]);
  // watcher: list services cluster-wide (ClusterRole + ClusterRoleBinding).
  await rbac.createClusterRole({ body: { metadata: { name: 'service-watcher' }, rules: [{ apiGroups: [''], resources: ['services', 'namespaces'], verbs: ['get', 'list', 'watch'] }] } });
  await rbac.createClusterRoleBinding({
    body: { metadata: { name: 'watcher' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'service-watcher' }, subjects: [{ kind: 'ServiceAccount', name: 'watcher', namespace: 'ops' }] },
  });
  // reviewer: system:auth-delegator, as the mesh's identity service gets.
  await rbac.createClusterRoleBinding({
    body: { metadata: { name: 'reviewer-delegator' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' }, subjects: [{ kind: 'ServiceAccount', name: 'reviewer', namespace: 'ops' }] },
  });
  for (const name of ['mesh-trust-roots', 'other']) await core.createNamespacedConfigMap({ namespace: 'team-a', body: { metadata: { name }, data: { k: 'v' } } });
});

after(async () => {
  await api?.stop();
  await stopAll();
});

async function role(namespace: string, name: string, rules: V1PolicyRule[]): Promise<void> {
  await rbac.createNamespacedRole({ namespace, body: { metadata: { name }, rules } });
}

async function roleBinding(namespace: string, name: string, kind: 'Role' | 'ClusterRole', roleName: string, subjects: RbacV1Subject[]): Promise<void> {
  await rbac.createNamespacedRoleBinding({ namespace, body: { metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind, name: roleName }, subjects } });
}

async function tokenFor(namespace: string, name: string, spec: { audiences?: string[]; expirationSeconds?: number } = {}): Promise<string> {
  const res = await core.createNamespacedServiceAccountToken({ namespace, name, body: { spec: { audiences: spec.audiences ?? [], ...(spec.expirationSeconds ? { expirationSeconds: spec.expirationSeconds } : {}) } } });
  const token = res.status?.token;
  assert.ok(token, 'TokenRequest returned a token');
  return token;
}

/** A client-node config for the same server, authenticating with `token`. */
function configFor(token: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: api.url, caData: Buffer.from(api.caPem).toString('base64') }],
    users: [{ name: 'u', token }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

/** The HTTP code and Status of a rejected client-node call. */
async function apiError(p: Promise<unknown>): Promise<{ code: number; status: { kind?: string; reason?: string; message?: string; code?: number } }> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ApiException, `expected ApiException, got ${String(e)}`);
    // client-node hands over no body for a 401 (its generated code declares none); raw() checks those.
    const body: unknown = typeof e.body === 'string' ? JSON.parse(e.body) : (e.body ?? {});
    return { code: e.code, status: body as { kind?: string; reason?: string; message?: string; code?: number } };
  }
  assert.fail('expected the call to be refused');
}

interface RawResponse {
  status: number;
  body: string;
}

/** One HTTPS request with the server's CA, for bodies and headers client-node would never send. */
function raw(method: string, path: string, opts: { token?: string; body?: string | Buffer; contentType?: string } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (opts.token !== undefined) headers['Authorization'] = `Bearer ${opts.token}`;
    if (opts.body !== undefined) headers['Content-Type'] = opts.contentType ?? 'application/json';
    const req = request(new URL(path, api.url), { method, headers, ca: api.caPem, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

function statusOf(r: RawResponse): { kind: string; reason: string; code: number; message: string } {
  return JSON.parse(r.body) as { kind: string; reason: string; code: number; message: string };
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function kubectl(args: string[], token?: string): Promise<Run> {
  const all = ['--kubeconfig', api.kubeconfigPath, ...(token ? ['--token', token] : []), ...args];
  return new Promise((resolve) => {
    execFile(kubectlBin, all, { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function needKubectl(t: TestContext): boolean {
  if (existsSync(kubectlBin)) return true;
  t.skip(`${kubectlBin} is not installed, so the kubectl half of this test cannot run`);
  return false;
}

// ---------------------------------------------------------------------------------------------

test('client-node: a Role+RoleBinding lets a ServiceAccount token list pods in its namespace only', async () => {
  const sa = configFor(await tokenFor('team-a', 'builder')).makeApiClient(CoreV1Api);
  const pods = await sa.listNamespacedPod({ namespace: 'team-a' });
  assert.deepEqual(pods.items, []);
  const other = await apiError(sa.listNamespacedPod({ namespace: 'team-b' }));
  assert.equal(other.code, 403);
  assert.equal(other.status.reason, 'Forbidden');
  assert.equal(other.status.message, 'pods is forbidden: User "system:serviceaccount:team-a:builder" cannot list resource "pods" in API group "" in the namespace "team-b"');
  const secrets = await apiError(sa.listNamespacedSecret({ namespace: 'team-a' }));
  assert.equal(secrets.code, 403);
  assert.equal(secrets.status.message, 'secrets is forbidden: User "system:serviceaccount:team-a:builder" cannot list resource "secrets" in API group "" in the namespace "team-a"');
  const del = await apiError(sa.deleteNamespacedPod({ namespace: 'team-a', name: 'x' }));
  assert.equal(del.code, 403);
});

test('client-node: resourceNames in a ClusterRole bound by a RoleBinding allow exactly the named object', async () => {
  const sa = configFor(await tokenFor('team-a', 'builder')).makeApiClient(CoreV1Api);
  const cm = await sa.readNamespacedConfigMap({ namespace: 'team-a', name: 'mesh-trust-roots' });
  assert.equal(cm.data?.k, 'v');
  const other = await apiError(sa.readNamespacedConfigMap({ namespace: 'team-a', name: 'other' }));
  assert.equal(other.code, 403);
  assert.match(other.status.message ?? '', /^configmaps "other" is forbidden: User "system:serviceaccount:team-a:builder" cannot get resource "configmaps"/);
  assert.equal((await apiError(sa.listNamespacedConfigMap({ namespace: 'team-a' }))).code, 403);
});

test('client-node: a ClusterRole+ClusterRoleBinding works across namespaces and at cluster scope', async () => {
  const sa = configFor(await tokenFor('ops', 'watcher')).makeApiClient(CoreV1Api);
  await core.createNamespacedService({ namespace: 'team-b', body: { metadata: { name: 'web' }, spec: { ports: [{ port: 80 }] } } });
  const all = await sa.listServiceForAllNamespaces();
  assert.ok(all.items.some((s) => s.metadata?.namespace === 'team-b' && s.metadata.name === 'web'));
  const nss = await sa.listNamespace();
  assert.ok(nss.items.some((n) => n.metadata?.name === 'team-a'));
  const write = await apiError(sa.createNamespacedService({ namespace: 'team-b', body: { metadata: { name: 'nope' }, spec: { ports: [{ port: 80 }] } } }));
  assert.equal(write.code, 403);
  assert.equal(write.status.message, 'services is forbidden: User "system:serviceaccount:ops:watcher" cannot create resource "services" in API group "" in the namespace "team-b"');
});

test('RBAC changes take effect on the next request: grant, use, revoke', async () => {
  const sa = configFor(await tokenFor('team-b', 'nobody')).makeApiClient(CoreV1Api);
  assert.equal((await apiError(sa.listNamespacedSecret({ namespace: 'team-b' }))).code, 403);
  await roleBinding('team-b', 'nobody-views', 'ClusterRole', 'edit', [{ kind: 'ServiceAccount', name: 'nobody', namespace: 'team-b' }]);
  const secrets = await sa.listNamespacedSecret({ namespace: 'team-b' });
  assert.ok(Array.isArray(secrets.items), 'edit (aggregated) lets it list secrets');
  await rbac.deleteNamespacedRoleBinding({ namespace: 'team-b', name: 'nobody-views' });
  assert.equal((await apiError(sa.listNamespacedSecret({ namespace: 'team-b' }))).code, 403);
});

test('deleting a ServiceAccount revokes its tokens at once (401); re-creating it does not revive them', async () => {
  await core.createNamespacedServiceAccount({ namespace: 'team-a', body: { metadata: { name: 'short-lived' } } });
  const token = await tokenFor('team-a', 'short-lived');
  const sa = configFor(token).makeApiClient(AuthenticationV1Api);
  const me = await sa.createSelfSubjectReview({ body: {} });
  assert.equal(me.status?.userInfo?.username, 'system:serviceaccount:team-a:short-lived');
  await core.deleteNamespacedServiceAccount({ namespace: 'team-a', name: 'short-lived' });
  assert.equal((await apiError(sa.createSelfSubjectReview({ body: {} }))).code, 401);
  const r = await raw('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { token, body: '{}' });
  assert.equal(r.status, 401);
  assert.equal(statusOf(r).reason, 'Unauthorized');
  await core.createNamespacedServiceAccount({ namespace: 'team-a', body: { metadata: { name: 'short-lived' } } });
  assert.equal((await apiError(sa.createSelfSubjectReview({ body: {} }))).code, 401);
});

test('a token stops working when it expires (signed by the server\'s key with a 2 s lifetime left)', async () => {
  const sa = await core.readNamespacedServiceAccount({ namespace: 'team-a', name: 'builder' });
  // TokenRequest refuses lifetimes under 10 minutes, so mint one as the server would have an hour ago.
  const key = loadSigningKey(readFileSync(join(api.dataDir, 'sa.key'), 'utf8'));
  const issuedAt = new Date(Date.now() - 3600_000 + 2_000);
  const { token } = issueServiceAccountToken({ key, issuer, now: () => issuedAt }, { serviceAccount: sa as unknown as StoredObject, audiences: [issuer], expirationSeconds: 3600 });
  const client = configFor(token).makeApiClient(CoreV1Api);
  assert.deepEqual((await client.listNamespacedPod({ namespace: 'team-a' })).items, []);
  await new Promise((r) => setTimeout(r, 2_500));
  const expired = await apiError(client.listNamespacedPod({ namespace: 'team-a' }));
  assert.equal(expired.code, 401);
  // And one already expired is refused from the start, as the raw Status shows.
  const old = issueServiceAccountToken({ key, issuer, now: () => new Date(Date.now() - 7200_000) }, { serviceAccount: sa as unknown as StoredObject, audiences: [issuer], expirationSeconds: 3600 });
  const r = await raw('GET', '/api/v1/namespaces/team-a/pods', { token: old.token });
  assert.equal(r.status, 401);
  assert.deepEqual({ kind: statusOf(r).kind, reason: statusOf(r).reason, code: statusOf(r).code }, { kind: 'Status', reason: 'Unauthorized', code: 401 });
});

test('garbage, forged and missing bearer tokens get a 401 Status, and the server keeps serving', async () => {
  const sa = await core.readNamespacedServiceAccount({ namespace: 'team-a', name: 'builder' });
  const forged = issueServiceAccountToken({ key: loadSigningKey(signingKeyPem()), issuer, now: () => new Date() }, { serviceAccount: sa as unknown as StoredObject, audiences: [issuer], expirationSeconds: 3600 });
  const good = await tokenFor('team-a', 'builder');
  const [h, , s] = good.split('.') as [string, string, string];
  const tampered = `${h}.${Buffer.from(JSON.stringify({ sub: 'system:serviceaccount:kube-system:admin' })).toString('base64url')}.${s}`;
  // 15,000 characters: over the module's token limit, under Node's 16 KiB header limit.
  for (const token of ['garbage', 'a.b.c', forged.token, tampered, 'x'.repeat(15_000), `${api.adminToken}x`, undefined]) {
    const r = await raw('GET', '/api/v1/namespaces', token === undefined ? {} : { token });
    assert.equal(r.status, 401, `token ${String(token).slice(0, 40)}`);
    const st = statusOf(r);
    assert.equal(st.kind, 'Status');
    assert.equal(st.reason, 'Unauthorized');
    assert.equal(st.code, 401);
  }
  assert.equal((await raw('GET', '/api/v1/namespaces', { token: good })).status, 403, 'the real token still authenticates (and is then denied by RBAC)');
});

test('TokenReview: right audience authenticates, wrong audience does not; only auth-delegators may ask', async () => {
  const token = await tokenFor('team-a', 'builder', { audiences: ['identity.mesh.io'] });
  const reviewer = configFor(await tokenFor('ops', 'reviewer')).makeApiClient(AuthenticationV1Api);
  const ok = await reviewer.createTokenReview({ body: { spec: { token, audiences: ['identity.mesh.io'] } } });
  assert.equal(ok.status?.authenticated, true);
  assert.equal(ok.status?.user?.username, 'system:serviceaccount:team-a:builder');
  assert.deepEqual(ok.status?.user?.groups, ['system:serviceaccounts', 'system:serviceaccounts:team-a', 'system:authenticated']);
  assert.deepEqual(ok.status?.audiences, ['identity.mesh.io']);
  const wrong = await reviewer.createTokenReview({ body: { spec: { token, audiences: ['some-other-service'] } } });
  assert.notEqual(wrong.status?.authenticated, true);
  assert.match(wrong.status?.error ?? '', /token audiences \["identity.mesh.io"\] is invalid for the target audiences \["some-other-service"\]/);
  // A token for the identity service is not a key to the API server.
  assert.equal((await raw('GET', '/api/v1/namespaces/team-a/pods', { token })).status, 401);
  const builder = configFor(await tokenFor('team-a', 'builder')).makeApiClient(AuthenticationV1Api);
  const denied = await apiError(builder.createTokenReview({ body: { spec: { token } } }));
  assert.equal(denied.code, 403);
  assert.match(denied.status.message ?? '', /cannot create resource "tokenreviews" in API group "authentication.k8s.io" at the cluster scope/);
});

test('SubjectAccessReview (client-node, as admin) answers for another user', async () => {
  const authz = api.kubeConfig.makeApiClient(AuthorizationV1Api);
  const user = 'system:serviceaccount:team-a:builder';
  const groups = ['system:serviceaccounts', 'system:serviceaccounts:team-a', 'system:authenticated'];
  const yes = await authz.createSubjectAccessReview({ body: { spec: { user, groups, resourceAttributes: { namespace: 'team-a', verb: 'list', resource: 'pods' } } } });
  assert.equal(yes.status?.allowed, true);
  assert.match(yes.status?.reason ?? '', /RBAC: allowed by RoleBinding "builder-pods\/team-a" of Role "pod-reader"/);
  const no = await authz.createSubjectAccessReview({ body: { spec: { user, groups, resourceAttributes: { namespace: 'team-a', verb: 'list', resource: 'secrets' } } } });
  assert.equal(no.status?.allowed, false);
});

test('bad review and token bodies get 400/422 Status answers, never a crash', async () => {
  const admin = api.adminToken;
  const cases: [string, string, string, number, string][] = [
    ['truncated JSON', '/apis/authentication.k8s.io/v1/tokenreviews', '{"spec":', 400, 'BadRequest'],
    ['array body', '/apis/authentication.k8s.io/v1/tokenreviews', '[]', 400, 'BadRequest'],
    ['token of the wrong type', '/apis/authentication.k8s.io/v1/tokenreviews', '{"spec":{"token":12}}', 400, 'BadRequest'],
    ['empty token', '/apis/authentication.k8s.io/v1/tokenreviews', '{"spec":{}}', 400, 'BadRequest'],
    ['oversize token', '/apis/authentication.k8s.io/v1/tokenreviews', JSON.stringify({ spec: { token: 'x'.repeat(100_000) } }), 400, 'BadRequest'],
    ['wrong kind', '/apis/authentication.k8s.io/v1/tokenreviews', '{"kind":"Pod","apiVersion":"v1","spec":{"token":"x"}}', 400, 'BadRequest'],
    ['access review with no attributes', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', '{"spec":{}}', 422, 'Invalid'],
    ['subject review with no subject', '/apis/authorization.k8s.io/v1/subjectaccessreviews', '{"spec":{"resourceAttributes":{"verb":"get","resource":"pods"}}}', 422, 'Invalid'],
    ['token request with a 1-minute lifetime', '/api/v1/namespaces/team-a/serviceaccounts/builder/token', '{"spec":{"expirationSeconds":60}}', 422, 'Invalid'],
    ['token request with a string lifetime', '/api/v1/namespaces/team-a/serviceaccounts/builder/token', '{"spec":{"expirationSeconds":"1h"}}', 400, 'BadRequest'],
    ['token request for a missing ServiceAccount', '/api/v1/namespaces/team-a/serviceaccounts/ghost/token', '{"spec":{}}', 404, 'NotFound'],
  ];
  for (const [what, path, body, code, reason] of cases) {
    const r = await raw('POST', path, { token: admin, body });
    assert.equal(r.status, code, `${what}: ${r.body}`);
    const st = statusOf(r);
    assert.equal(st.kind, 'Status', what);
    assert.equal(st.reason, reason, what);
  }
  const huge = await raw('POST', '/apis/authentication.k8s.io/v1/tokenreviews', { token: admin, body: Buffer.alloc(4 * 1024 * 1024, 0x61) });
  assert.ok(huge.status === 413 || huge.status === 400, `a body over the limit is refused (${huge.status})`);
  assert.equal((await raw('GET', '/version', { token: admin })).status, 200, 'still serving');
});

test('kubectl: auth can-i answers yes/no with the right exit codes for a ServiceAccount token', async (t) => {
  if (!needKubectl(t)) return;
  const token = await tokenFor('team-a', 'builder');
  const yes = await kubectl(['auth', 'can-i', 'list', 'pods', '-n', 'team-a'], token);
  assert.equal(yes.stdout.trim(), 'yes', yes.stderr);
  assert.equal(yes.code, 0);
  const no = await kubectl(['auth', 'can-i', 'list', 'secrets', '-n', 'team-a'], token);
  assert.equal(no.stdout.trim(), 'no', no.stderr);
  assert.equal(no.code, 1);
  const named = await kubectl(['auth', 'can-i', 'get', 'configmaps/mesh-trust-roots', '-n', 'team-a'], token);
  assert.equal(named.stdout.trim(), 'yes', named.stderr);
  const otherNs = await kubectl(['auth', 'can-i', 'get', 'pods', '-n', 'team-b'], token);
  assert.equal(otherNs.stdout.trim(), 'no', otherNs.stderr);
  const admin = await kubectl(['auth', 'can-i', 'delete', 'nodes']);
  assert.equal(admin.stdout.trim(), 'yes', admin.stderr);
  const version = await kubectl(['auth', 'can-i', 'get', '/version'], token);
  assert.equal(version.stdout.trim(), 'yes', version.stderr);
  const list = await kubectl(['auth', 'can-i', '--list', '-n', 'team-a'], token);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^pods\s+\[\]\s+\[\]\s+\[get list watch\]$/m);
  assert.match(list.stdout, /^configmaps\s+\[\]\s+\[mesh-trust-roots\]\s+\[get\]$/m);
  assert.doesNotMatch(list.stdout, /^secrets/m);
});

test('kubectl: create token --duration, then use it; auth whoami; too-short duration is refused', async (t) => {
  if (!needKubectl(t)) return;
  const created = await kubectl(['create', 'token', 'builder', '-n', 'team-a', '--duration', '15m']);
  assert.equal(created.code, 0, created.stderr);
  const token = created.stdout.trim();
  assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  const claims = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()) as { exp: number; iat: number; sub: string };
  assert.equal(claims.exp - claims.iat, 900);
  assert.equal(claims.sub, 'system:serviceaccount:team-a:builder');
  const pods = await kubectl(['get', 'pods', '-n', 'team-a'], token);
  assert.equal(pods.code, 0, pods.stderr);
  const secrets = await kubectl(['get', 'secrets', '-n', 'team-a'], token);
  assert.notEqual(secrets.code, 0);
  assert.match(secrets.stderr, /secrets is forbidden: User "system:serviceaccount:team-a:builder" cannot list resource "secrets" in API group "" in the namespace "team-a"/);
  const whoami = await kubectl(['auth', 'whoami', '-o', 'json'], token);
  assert.equal(whoami.code, 0, whoami.stderr);
  assert.equal((JSON.parse(whoami.stdout) as { status: { userInfo: { username: string } } }).status.userInfo.username, 'system:serviceaccount:team-a:builder');
  const short = await kubectl(['create', 'token', 'builder', '-n', 'team-a', '--duration', '1m']);
  assert.notEqual(short.code, 0);
  assert.match(short.stderr, /may not specify a duration less than 10 minutes/);
  const ghost = await kubectl(['create', 'token', 'ghost', '-n', 'team-a']);
  assert.notEqual(ghost.code, 0);
  assert.match(ghost.stderr, /serviceaccounts "ghost" not found/);
  const bogus = await kubectl(['get', 'pods', '-n', 'team-a'], 'not-a-token');
  assert.notEqual(bogus.code, 0);
  assert.match(bogus.stderr, /Unauthorized|provide credentials/);
});

test('kubectl --as: the admin acts as a ServiceAccount and gets its permissions; a ServiceAccount may not impersonate', async (t) => {
  if (!needKubectl(t)) return;
  const as = '--as=system:serviceaccount:team-a:builder';
  const pods = await kubectl([as, 'get', 'pods', '-n', 'team-a']);
  assert.equal(pods.code, 0, pods.stderr);
  const secrets = await kubectl([as, 'get', 'secrets', '-n', 'team-a']);
  assert.notEqual(secrets.code, 0);
  assert.match(secrets.stderr, /User "system:serviceaccount:team-a:builder" cannot list resource "secrets"/);
  const whoami = await kubectl([as, 'auth', 'whoami', '-o', 'json']);
  assert.equal((JSON.parse(whoami.stdout) as { status: { userInfo: { username: string } } }).status.userInfo.username, 'system:serviceaccount:team-a:builder');
  const token = (await kubectl(['create', 'token', 'builder', '-n', 'team-a'])).stdout.trim();
  const escalate = await kubectl(['--as=admin', 'get', 'secrets', '-n', 'team-a'], token);
  assert.notEqual(escalate.code, 0);
  assert.match(escalate.stderr, /cannot impersonate resource "users"/);
});

test('RBAC admission through the server: no escalation by writing Roles or bindings; invalid rules are 422', async () => {
  await core.createNamespacedServiceAccount({ namespace: 'team-a', body: { metadata: { name: 'lead' } } });
  await role('team-a', 'rbac-writer', [
    { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: ['create', 'get', 'list'] },
    { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
  ]);
  await roleBinding('team-a', 'lead-writes-rbac', 'Role', 'rbac-writer', [{ kind: 'ServiceAccount', name: 'lead', namespace: 'team-a' }]);
  const lead = configFor(await tokenFor('team-a', 'lead')).makeApiClient(RbacAuthorizationV1Api);
  await lead.createNamespacedRole({ namespace: 'team-a', body: { metadata: { name: 'pods-only' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }] } });
  const esc = await apiError(lead.createNamespacedRole({ namespace: 'team-a', body: { metadata: { name: 'grab' }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }] } }));
  assert.equal(esc.code, 403);
  assert.match(esc.status.message ?? '', /roles\.rbac\.authorization\.k8s\.io "grab" is forbidden: user "system:serviceaccount:team-a:lead" .*attempting to grant RBAC permissions not currently held/s);
  const bind = await apiError(lead.createNamespacedRoleBinding({
    namespace: 'team-a',
    body: { metadata: { name: 'me-admin' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'admin' }, subjects: [{ kind: 'ServiceAccount', name: 'lead', namespace: 'team-a' }] },
  }));
  assert.equal(bind.code, 403);
  const bad = await apiError(rbac.createNamespacedRole({ namespace: 'team-a', body: { metadata: { name: 'no-verbs' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: [] }] } }));
  assert.equal(bad.code, 422);
  assert.equal(bad.status.reason, 'Invalid');
  assert.match(bad.status.message ?? '', /rules\[0\]\.verbs: Required value/);
});

test('SelfSubjectRulesReview (client-node) lists what a ServiceAccount may do in a namespace', async () => {
  const authz = configFor(await tokenFor('team-a', 'builder')).makeApiClient(AuthorizationV1Api);
  const review = await authz.createSelfSubjectRulesReview({ body: { spec: { namespace: 'team-a' } } });
  const rules = review.status?.resourceRules ?? [];
  assert.ok(rules.some((r) => r.resources?.includes('pods') && r.verbs.includes('list')), JSON.stringify(rules));
  assert.ok(rules.some((r) => r.resources?.includes('configmaps') && r.resourceNames?.includes('mesh-trust-roots')));
  assert.ok(!rules.some((r) => r.resources?.includes('secrets')));
  assert.ok((review.status?.nonResourceRules ?? []).some((r) => r.nonResourceURLs?.includes('/version')));
});

test('tokens survive a server restart (same signing key, same ServiceAccount uid), revocations too', async () => {
  const live = await tokenFor('team-a', 'builder');
  await core.createNamespacedServiceAccount({ namespace: 'team-a', body: { metadata: { name: 'doomed' } } });
  const doomed = await tokenFor('team-a', 'doomed');
  await core.deleteNamespacedServiceAccount({ namespace: 'team-a', name: 'doomed' });
  await api.restart();
  assert.equal((await raw('GET', '/api/v1/namespaces/team-a/pods', { token: live })).status, 200);
  assert.equal((await raw('GET', '/api/v1/namespaces/team-a/pods', { token: doomed })).status, 401);
  assert.equal((await raw('GET', '/api/v1/namespaces/team-a/secrets', { token: live })).status, 403, 'RBAC objects survived too');
});
