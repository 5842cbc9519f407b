// Conformance with client-node's typed API: CRUD, list with selectors and pagination, conflicts, errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ApiException, CoreV1Api, DiscoveryV1Api, type V1Service } from '@kubernetes/client-node';
import { startApiServer, type TestApiServer } from '../helpers/apiserver.js';
import { stopAll } from '../helpers/process.js';

let srv: TestApiServer;
let core: CoreV1Api;

before(async () => {
  srv = await startApiServer();
  core = srv.kubeConfig.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: 'crud' } } });
});
after(async () => {
  await srv?.stop();
  await stopAll();
});

async function status(p: Promise<unknown>): Promise<{ code: number; body: { reason?: string; message?: string; details?: { causes?: { field?: string }[] } } }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ApiException) return { code: e.code, body: JSON.parse(String(e.body)) as { reason?: string } };
    throw e;
  }
  assert.fail('expected the request to fail');
}

const svc = (name: string, labels: Record<string, string> = {}): V1Service => ({ metadata: { name, labels }, spec: { ports: [{ name: 'http', port: 80, targetPort: 8080 }], selector: { app: name } } });

test('create sets uid, resourceVersion, creationTimestamp, generation and a ClusterIP from the CIDR', async () => {
  const s = await core.createNamespacedService({ namespace: 'crud', body: svc('alpha') });
  assert.ok(s.metadata?.uid);
  assert.match(s.metadata?.resourceVersion ?? '', /^\d+$/);
  assert.ok(s.metadata?.creationTimestamp instanceof Date);
  assert.equal(s.metadata?.generation, 1);
  assert.match(s.spec?.clusterIP ?? '', /^10\.96\.\d+\.\d+$/);
  assert.equal(s.spec?.ports?.[0].protocol, 'TCP');
  const got = await core.readNamespacedService({ namespace: 'crud', name: 'alpha' });
  assert.equal(got.metadata?.uid, s.metadata?.uid);
});

test('headless Services keep clusterIP None; bad ports are Invalid with field causes', async () => {
  const h = await core.createNamespacedService({ namespace: 'crud', body: { metadata: { name: 'headless' }, spec: { clusterIP: 'None', ports: [{ port: 80 }] } } });
  assert.equal(h.spec?.clusterIP, 'None');
  const bad = await status(core.createNamespacedService({ namespace: 'crud', body: { metadata: { name: 'badport' }, spec: { ports: [{ port: 70000 }] } } }));
  assert.equal(bad.code, 422);
  assert.equal(bad.body.reason, 'Invalid');
  assert.equal(bad.body.details?.causes?.[0].field, 'spec.ports[0].port');
});

test('AlreadyExists, NotFound, and Conflict on a stale resourceVersion', async () => {
  await core.createNamespacedConfigMap({ namespace: 'crud', body: { metadata: { name: 'cm1' }, data: { a: '1' } } });
  const dup = await status(core.createNamespacedConfigMap({ namespace: 'crud', body: { metadata: { name: 'cm1' } } }));
  assert.equal(dup.code, 409);
  assert.equal(dup.body.reason, 'AlreadyExists');
  const nf = await status(core.readNamespacedConfigMap({ namespace: 'crud', name: 'nope' }));
  assert.equal(nf.code, 404);
  assert.equal(nf.body.reason, 'NotFound');
  const cur = await core.readNamespacedConfigMap({ namespace: 'crud', name: 'cm1' });
  const upd = await core.replaceNamespacedConfigMap({ namespace: 'crud', name: 'cm1', body: { ...cur, data: { a: '2' } } });
  assert.notEqual(upd.metadata?.resourceVersion, cur.metadata?.resourceVersion);
  const stale = await status(core.replaceNamespacedConfigMap({ namespace: 'crud', name: 'cm1', body: { ...cur, data: { a: '3' } } }));
  assert.equal(stale.code, 409);
  assert.equal(stale.body.reason, 'Conflict');
});

test('list with label selectors (equality and set-based), field selectors, limit/continue', async () => {
  for (let i = 0; i < 7; i++) await core.createNamespacedService({ namespace: 'crud', body: svc(`sel-${i}`, { tier: i % 2 ? 'odd' : 'even', idx: String(i) }) });
  const even = await core.listNamespacedService({ namespace: 'crud', labelSelector: 'tier=even' });
  assert.deepEqual(even.items.map((s) => s.metadata?.name).sort(), ['sel-0', 'sel-2', 'sel-4', 'sel-6']);
  const set = await core.listNamespacedService({ namespace: 'crud', labelSelector: 'idx in (1,2),tier!=even' });
  assert.deepEqual(set.items.map((s) => s.metadata?.name), ['sel-1']);
  const byName = await core.listServiceForAllNamespaces({ fieldSelector: 'metadata.name=sel-3' });
  assert.deepEqual(byName.items.map((s) => s.metadata?.name), ['sel-3']);
  const names: string[] = [];
  let cont: string | undefined;
  let pages = 0;
  do {
    const page = await core.listNamespacedService({ namespace: 'crud', labelSelector: 'tier', limit: 3, ...(cont ? { _continue: cont } : {}) });
    names.push(...page.items.map((s) => s.metadata?.name ?? ''));
    cont = page.metadata?._continue;
    pages++;
  } while (cont);
  assert.equal(pages, 3);
  assert.deepEqual(names, ['sel-0', 'sel-1', 'sel-2', 'sel-3', 'sel-4', 'sel-5', 'sel-6']);
});

test('EndpointSlices through the discovery.k8s.io/v1 typed API', async () => {
  const disc = srv.kubeConfig.makeApiClient(DiscoveryV1Api);
  const es = await disc.createNamespacedEndpointSlice({
    namespace: 'crud',
    body: { metadata: { name: 'alpha-1', labels: { 'kubernetes.io/service-name': 'alpha' } }, addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready: true } }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] },
  });
  assert.equal(es.endpoints[0].addresses[0], '10.0.0.1');
  const l = await disc.listNamespacedEndpointSlice({ namespace: 'crud', labelSelector: 'kubernetes.io/service-name=alpha' });
  assert.equal(l.items.length, 1);
});
