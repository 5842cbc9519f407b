// Unknown fields of built-in kinds are dropped, not stored, under fieldValidation=Warn (the default) and
// Ignore, as kube-apiserver's decoding into typed structs drops them; Warn still names them in Warning
// headers. Before, both modes stored the object as sent and a later GET returned `spec.replica` and
// `metadata.lables`. Also: unknown metadata fields of custom resources (Kubernetes drops and reports them).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import https from 'node:https';
import { startApiServer, type TestApiServer } from '../helpers/apiserver.js';
import { stopAll } from '../helpers/process.js';

const KUBECTL = '/usr/bin/kubectl';
const NS = 'prune';
let srv: TestApiServer;

interface Reply {
  code: number;
  warnings: string[];
  body: Record<string, unknown>;
}

function call(method: string, path: string, body?: unknown, type = 'application/json'): Promise<Reply> {
  const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { Authorization: `Bearer ${srv.adminToken}`, Accept: 'application/json', ...(data !== undefined ? { 'Content-Type': type } : {}) };
    const req = https.request(new URL(path, srv.url), { method, ca: srv.caPem, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        // One header line per warning (Node joins repeated Warning headers in res.headers).
        const warnings: string[] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) if (res.rawHeaders[i]?.toLowerCase() === 'warning') warnings.push(JSON.parse(String(res.rawHeaders[i + 1]).replace(/^299 - /, '')) as string);
        resolve({ code: res.statusCode ?? 0, warnings, body: JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, unknown> });
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

function kubectl(args: string[], input?: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = execFile(KUBECTL, ['--kubeconfig', srv.kubeconfigPath, ...args], { timeout: 30_000 }, (error, out, err) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out, err }),
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

const deployment = (name: string, extra: { spec?: object; meta?: object; container?: object } = {}) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: NS, labels: { app: name, 'any.key/x': 'y' }, ...extra.meta },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: name } },
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 1 } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'busybox', ports: [{ containerPort: 80, name: 'http' }], readinessProbe: { httpGet: { path: '/', port: 'http' } }, ...extra.container }] } },
    ...extra.spec,
  },
});
const typos = { spec: { replica: 2 }, meta: { lables: { a: 'b' } }, container: { imagee: 'x' } };
const depPath = (name = '') => `/apis/apps/v1/namespaces/${NS}/deployments${name ? `/${name}` : ''}`;

type Dep = { metadata: Record<string, unknown> & { resourceVersion: string; generation: number; managedFields?: unknown[] }; spec: Record<string, unknown> & { template: { spec: { containers: Record<string, unknown>[] } } }; status?: Record<string, unknown> };
async function stored(name: string): Promise<Dep> {
  const r = await call('GET', depPath(name));
  assert.equal(r.code, 200);
  return r.body as unknown as Dep;
}
function assertPruned(d: Dep, what: string): void {
  assert.equal(d.spec['replica'], undefined, `${what}: spec.replica dropped`);
  assert.equal(d.metadata['lables'], undefined, `${what}: metadata.lables dropped`);
  assert.equal(d.spec.template.spec.containers[0]?.['imagee'], undefined, `${what}: containers[0].imagee dropped`);
  // What the schema allows to be anything stays: label maps, int-or-string, a named port.
  assert.equal((d.metadata['labels'] as Record<string, string>)['any.key/x'], 'y', `${what}: map keys are not unknown fields`);
  assert.deepEqual(d.spec['strategy'], { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 1 } }, `${what}: int-or-string kept`);
}
/** Sorted: the server names them in the order of the body's keys. */
const named = ['unknown field "metadata.lables"', 'unknown field "spec.replica"', 'unknown field "spec.template.spec.containers[0].imagee"'];

before(async () => {
  srv = await startApiServer();
  assert.equal((await call('POST', '/api/v1/namespaces', { metadata: { name: NS } })).code, 201);
});
after(async () => {
  await srv?.stop();
  await stopAll();
});

test('kubectl create --validate=false and --validate=warn: the Deployment is stored without spec.replica and metadata.lables; warn prints the warning', async (t) => {
  if (!existsSync(KUBECTL)) return t.skip('no /usr/bin/kubectl on this machine');
  const manifest = (name: string) => `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: ${NS}, lables: {a: b}}
spec:
  replica: 2
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec: {containers: [{name: c, image: busybox}]}
`;
  for (const [name, flag] of [['kc-ignore', '--validate=false'], ['kc-warn', '--validate=warn']] as const) {
    const r = await kubectl(['create', flag, '-f', '-'], manifest(name));
    assert.equal(r.code, 0, `${flag}: ${r.err}`);
    if (flag === '--validate=warn') {
      assert.match(r.err, /Warning: unknown field "metadata\.lables"/, r.err);
      assert.match(r.err, /Warning: unknown field "spec\.replica"/, r.err);
    } else assert.doesNotMatch(r.err, /unknown field/, `${flag}: Ignore says nothing`);
    const got = await kubectl(['get', 'deployment', name, '-n', NS, '-o', 'json']);
    assert.equal(got.code, 0, got.err);
    const d = JSON.parse(got.out) as Dep;
    assert.equal(d.spec['replica'], undefined, `${flag}: spec.replica is not stored`);
    assert.equal(d.metadata['lables'], undefined, `${flag}: metadata.lables is not stored`);
    assert.equal(d.spec['replicas'], 1, `${flag}: the defaulted replicas, not the typo's 2`);
  }
});

test('POST and PUT: Warn names the unknown fields and drops them, Ignore drops them silently, Strict refuses', async () => {
  const warn = await call('POST', depPath(), deployment('put', typos));
  assert.equal(warn.code, 201);
  assert.deepEqual(warn.warnings.sort(), named);
  assertPruned(warn.body as unknown as Dep, 'the create response');
  assertPruned(await stored('put'), 'after a create with Warn');
  const cur = await stored('put');
  const put = await call('PUT', `${depPath('put')}?fieldValidation=Ignore`, { ...deployment('put', { ...typos, spec: { replicas: 3, replica: 4 } }), metadata: { ...cur.metadata, lables: { c: 'd' } } });
  assert.equal(put.code, 200);
  assert.deepEqual(put.warnings, [], 'Ignore adds no Warning');
  const after = await stored('put');
  assertPruned(after, 'after a PUT with Ignore');
  assert.equal(after.spec['replicas'], 3, 'the known fields of the PUT are stored');
  const strict = await call('PUT', `${depPath('put')}?fieldValidation=Strict`, { ...deployment('put', typos), metadata: { ...after.metadata, lables: { e: 'f' } } });
  assert.equal(strict.code, 400);
  assert.match(String(strict.body['message']), /^Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "metadata\.lables"/);
  assert.equal((await stored('put')).metadata.resourceVersion, after.metadata.resourceVersion, 'a refused write stores nothing');
});

test('PATCH (merge, strategic, JSON): the patched object is stored without the unknown fields; a patch of nothing else changes nothing', async () => {
  assert.equal((await call('POST', depPath(), deployment('patch'))).code, 201);
  const before = await stored('patch');
  const merge = await call('PATCH', depPath('patch'), { metadata: { lables: { a: 'b' } }, spec: { replica: 2 } }, 'application/merge-patch+json');
  assert.equal(merge.code, 200);
  assert.deepEqual(merge.warnings.sort(), ['unknown field "metadata.lables"', 'unknown field "spec.replica"']);
  let d = await stored('patch');
  assertPruned(d, 'after a merge patch');
  assert.equal(d.metadata.resourceVersion, before.metadata.resourceVersion, 'only unknown fields: not a write (no new resourceVersion)');
  assert.equal(d.metadata.generation, before.metadata.generation);
  const smp = await call('PATCH', `${depPath('patch')}?fieldValidation=Ignore`, { spec: { replicas: 5, template: { spec: { containers: [{ name: 'c', imagee: 'x' }] } } } }, 'application/strategic-merge-patch+json');
  assert.equal(smp.code, 200);
  assert.deepEqual(smp.warnings, []);
  d = await stored('patch');
  assertPruned(d, 'after a strategic merge patch');
  assert.equal(d.spec['replicas'], 5);
  const json = await call('PATCH', depPath('patch'), [{ op: 'add', path: '/spec/replica', value: 7 }, { op: 'add', path: '/spec/paused', value: true }], 'application/json-patch+json');
  assert.equal(json.code, 200);
  assert.deepEqual(json.warnings, ['unknown field "spec.replica"']);
  d = await stored('patch');
  assertPruned(d, 'after a JSON patch');
  assert.equal(d.spec['paused'], true);
});

test('server-side apply refuses unknown fields whatever fieldValidation says, as kube-apiserver does', async () => {
  const body = { ...deployment('ssa', typos), metadata: { name: 'ssa', namespace: NS, labels: { app: 'ssa' }, lables: { a: 'b' } } };
  for (const fv of ['', '&fieldValidation=Ignore', '&fieldValidation=Strict']) {
    const r = await call('PATCH', `${depPath('ssa')}?fieldManager=prune-test${fv}`, body, 'application/apply-patch+yaml');
    assert.equal(r.code, 500, fv);
    const [head, ...lines] = String(r.body['message']).split('\n');
    assert.equal(head, `failed to create typed patch object (${NS}/ssa; apps/v1, Kind=Deployment): errors:`);
    assert.deepEqual(lines.sort(), named.map((w) => `  .${/"(.*)"/.exec(w)?.[1]}: field not declared in schema`));
  }
  assert.equal((await call('GET', depPath('ssa'))).code, 404, 'nothing was stored');
  const one = await call('PATCH', `${depPath('ssa')}?fieldManager=prune-test`, { ...deployment('ssa'), spec: { ...deployment('ssa').spec, replica: 2 } }, 'application/apply-patch+yaml');
  assert.equal(one.body['message'], `failed to create typed patch object (${NS}/ssa; apps/v1, Kind=Deployment): .spec.replica: field not declared in schema`);
  const ok = await call('PATCH', `${depPath('ssa')}?fieldManager=prune-test`, deployment('ssa'), 'application/apply-patch+yaml');
  assert.equal(ok.code, 201);
  assert.match(JSON.stringify((await stored('ssa')).metadata.managedFields), /"f:replicas"/, 'the known fields are owned');
});

test('status writes drop unknown status fields; unknown fields of owner references too', async () => {
  assert.equal((await call('POST', depPath(), deployment('st'))).code, 201);
  const cur = await stored('st');
  const st = await call('PUT', `${depPath('st')}/status`, { ...cur, status: { replicas: 1, readyReplica: 1 } });
  assert.equal(st.code, 200);
  assert.deepEqual(st.warnings, ['unknown field "status.readyReplica"']);
  const d = await stored('st');
  assert.equal(d.status?.['replicas'], 1);
  assert.equal(d.status?.['readyReplica'], undefined);
  const cm = await call('POST', `/api/v1/namespaces/${NS}/configmaps`, { metadata: { name: 'owner' } });
  const owner = { apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: String((cm.body['metadata'] as { uid: string }).uid) };
  const m = await call('PATCH', depPath('st'), { metadata: { ownerReferences: [{ ...owner, controler: true }] } }, 'application/merge-patch+json');
  assert.equal(m.code, 200);
  assert.deepEqual(m.warnings, ['unknown field "metadata.ownerReferences[0].controler"']);
  assert.deepEqual((await stored('st')).metadata['ownerReferences'], [owner]);
});

test('custom resources: unknown metadata fields are named (Strict refuses, Warn warns) and dropped, as Kubernetes does; preserve-unknown content stays', async () => {
  const crd = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'trinkets.example.mesh.io' },
    spec: {
      group: 'example.mesh.io',
      scope: 'Namespaced',
      names: { plural: 'trinkets', singular: 'trinket', kind: 'Trinket' },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { size: { type: 'integer' }, free: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } } } } } }],
    },
  };
  assert.equal((await call('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd)).code, 201);
  const stored = await call('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/trinkets.example.mesh.io');
  assert.equal(JSON.stringify(stored.body).includes('"x-kubernetes-preserve-unknown-fields":true'), true, 'the CRD schema (JSONSchemaProps) keeps its fields');
  const path = `/apis/example.mesh.io/v1/namespaces/${NS}/trinkets`;
  const body = { apiVersion: 'example.mesh.io/v1', kind: 'Trinket', metadata: { name: 't', lables: { a: 'b' } }, spec: { size: 1, junk: 1, free: { any: { thing: 1 } } } };
  let r: Reply = { code: 0, warnings: [], body: {} };
  for (let i = 0; i < 50 && r.code !== 400; i++) {
    r = await call('POST', `${path}?fieldValidation=Strict`, body);
    if (r.code === 404) await new Promise((res) => setTimeout(res, 100));
  }
  assert.equal(r.code, 400, JSON.stringify(r.body));
  assert.match(String(r.body['message']), /unknown field "metadata\.lables", unknown field "spec\.junk"/);
  const warn = await call('POST', path, body);
  assert.equal(warn.code, 201, JSON.stringify(warn.body));
  assert.deepEqual(warn.warnings, ['unknown field "metadata.lables"', 'unknown field "spec.junk"']);
  const got = (await call('GET', `${path}/t`)).body as { metadata: Record<string, unknown>; spec: Record<string, unknown> };
  assert.equal(got.metadata['lables'], undefined);
  assert.equal(got.spec['junk'], undefined);
  assert.deepEqual(got.spec['free'], { any: { thing: 1 } });
  // Strict refuses unknown fields before the schema's validation, as Kubernetes decodes before it validates:
  // an object with both a typo and an invalid value gets the 400 naming the typo, not the 422.
  const both = await call('POST', `${path}?fieldValidation=Strict`, { ...body, metadata: { name: 't2' }, spec: { size: 'big', junk: 1 } });
  assert.equal(both.code, 400, JSON.stringify(both.body));
  assert.match(String(both.body['message']), /strict decoding error: unknown field "spec\.junk"/);
  const invalidOnly = await call('POST', `${path}?fieldValidation=Strict`, { ...body, metadata: { name: 't2' }, spec: { size: 'big' } });
  assert.equal(invalidOnly.code, 422, JSON.stringify(invalidOnly.body));
});

test('a ReplicaSet is not defaulted with revisionHistoryLimit, a field it lacks (each write of the sandbox\'s controller dropped it again)', async () => {
  const rs = { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'rs' }, spec: { selector: { matchLabels: { app: 'rs' } }, template: { metadata: { labels: { app: 'rs' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } } };
  const path = `/apis/apps/v1/namespaces/${NS}/replicasets`;
  const created = await call('POST', path, rs);
  assert.equal(created.code, 201);
  assert.equal((created.body['spec'] as Record<string, unknown>)['revisionHistoryLimit'], undefined);
  const again = await call('PUT', `${path}/rs`, { ...created.body, spec: { ...(created.body['spec'] as object), replicas: 2 } });
  assert.equal(again.code, 200);
  assert.deepEqual(again.warnings, [], 'writing back what was read names no unknown field');
  const dep = await stored('put');
  assert.equal(dep.spec['revisionHistoryLimit'], 10, 'a Deployment still is defaulted');
});
