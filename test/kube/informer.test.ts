// Integration: the kube machinery against the real embedded API server (its own process, HTTPS).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startApiServer, type TestApiServer } from '../helpers/apiserver.js';
import { stopAll } from '../helpers/process.js';
import {
  Informer,
  KubeClient,
  LeaderElector,
  EventRecorder,
  applyObject,
  isNotFound,
  isConflict,
  resourcePath,
  kubeConfigFromString,
  loadKubeConfig,
  KubeConfigError,
  type KubeObject,
} from '../../src/kube/index.js';
import { readFileSync, mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let api: TestApiServer;
let client: KubeClient;

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

const cmPath = (ns: string, name?: string) => resourcePath({ version: 'v1', plural: 'configmaps', namespace: ns, name });

before(async () => {
  api = await startApiServer({ args: ['--watch-window', '5', '--bookmark-interval', '600000'] });
  client = await KubeClient.create(api.kubeConfig);
});

after(async () => {
  client?.close();
  await api?.stop();
  await stopAll();
});

test('loadKubeConfig honours --kubeconfig and KUBECONFIG, and fails clearly without any config', () => {
  const fromFlag = loadKubeConfig({ kubeconfig: api.kubeconfigPath, env: {} });
  assert.equal(fromFlag.getCurrentCluster()?.server, api.url);
  const fromEnv = loadKubeConfig({ env: { KUBECONFIG: `/nonexistent:${api.kubeconfigPath}` } });
  assert.equal(fromEnv.getCurrentCluster()?.server, api.url);
  assert.throws(() => loadKubeConfig({ env: { HOME: '/nonexistent-home' } }), KubeConfigError);
  assert.throws(() => kubeConfigFromString('not: [valid'), KubeConfigError);
  const kc = kubeConfigFromString(readFileSync(api.kubeconfigPath, 'utf8'));
  assert.equal(kc.getCurrentCluster()?.server, api.url);
});

test('in-cluster config under MESH_SERVICEACCOUNT_ROOT reaches the API server with the mounted token', async () => {
  const root = mkdtempSync(join(tmpdir(), 'sa-root-'));
  try {
    const sa = join(root, 'var/run/secrets/kubernetes.io/serviceaccount');
    mkdirSync(sa, { recursive: true });
    writeFileSync(join(sa, 'token'), api.adminToken);
    writeFileSync(join(sa, 'ca.crt'), api.caPem);
    writeFileSync(join(sa, 'namespace'), 'default');
    const u = new URL(api.url);
    const kc = loadKubeConfig({ env: { KUBERNETES_SERVICE_HOST: u.hostname, KUBERNETES_SERVICE_PORT: u.port, MESH_SERVICEACCOUNT_ROOT: root } });
    assert.equal(kc.getCurrentCluster()?.server, `https://${u.hostname}:${u.port}`);
    const c = await KubeClient.create(kc);
    const ns = await c.list(resourcePath({ version: 'v1', plural: 'namespaces' }));
    assert.ok(ns.items.some((n) => n.metadata?.name === 'default'));
    c.close();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('client errors carry the HTTP code: isNotFound / isConflict', async () => {
  await assert.rejects(client.get(cmPath('default', 'nope')), (err) => isNotFound(err));
  const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'dup', namespace: 'default' }, data: { a: '1' } };
  await client.create(cmPath('default'), cm);
  await assert.rejects(client.create(cmPath('default'), cm), (err) => isConflict(err));
});

test('applyObject reports created, unchanged, updated', async () => {
  const desired: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'applied', namespace: 'default', labels: { a: 'b' } }, data: { k: 'v1' } };
  assert.equal((await applyObject(client, cmPath('default'), desired)).result, 'created');
  assert.equal((await applyObject(client, cmPath('default'), desired)).result, 'unchanged');
  const changed = { ...desired, data: { k: 'v2' } };
  const r = await applyObject(client, cmPath('default'), changed);
  assert.equal(r.result, 'updated');
  const live = await client.get<KubeObject & { data: Record<string, string> }>(cmPath('default', 'applied'));
  assert.equal(live.data.k, 'v2');
});

test('informer lists, watches adds/updates/deletes, hands out keys, and indexes', async () => {
  await client.create(resourcePath({ version: 'v1', plural: 'namespaces' }), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'inf' } });
  await client.create(cmPath('inf'), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'pre', namespace: 'inf', labels: { team: 'x' } } });
  const inf = new Informer(client, { path: cmPath('inf') });
  inf.addIndex('team', (o) => [o.metadata?.labels?.team ?? ''].filter(Boolean));
  const keys: string[] = [];
  inf.onKey((k) => keys.push(k));
  inf.start();
  try {
    await inf.waitForSync(10_000);
    assert.ok(inf.hasSynced());
    assert.ok(inf.getByName('inf', 'pre'));
    assert.deepEqual(keys, ['inf/pre']);
    await client.create(cmPath('inf'), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'b', namespace: 'inf', labels: { team: 'x' } } });
    await until(() => inf.get('inf/b') !== undefined, 'add');
    assert.equal(inf.byIndex('team', 'x').length, 2);
    await client.patch(cmPath('inf', 'b'), { metadata: { labels: { team: 'y' } } });
    await until(() => inf.get('inf/b')?.metadata?.labels?.team === 'y', 'update');
    assert.equal(inf.byIndex('team', 'x').length, 1);
    assert.equal(inf.byIndex('team', 'y').length, 1);
    await client.delete(cmPath('inf', 'b'));
    await until(() => inf.get('inf/b') === undefined, 'delete');
    assert.equal(inf.listByNamespace('inf').length, 1);
    assert.ok(keys.filter((k) => k === 'inf/b').length >= 3, 'one key per add/update/delete');
    assert.ok(keys.every((k) => typeof k === 'string' && k.startsWith('inf/')));
  } finally {
    inf.stop();
  }
});

test('informer relists on 410 Gone (resourceVersion fell out of the watch window)', async () => {
  const restarts: string[] = [];
  const inf = new Informer(client, { path: cmPath('default'), labelSelector: 'watched=yes', watchTimeoutSeconds: 1, onRestart: (r) => restarts.push(r) });
  inf.start();
  try {
    await inf.waitForSync(10_000);
    // Unwatched churn moves the server's resourceVersion past the window (5 events) while ours stays put.
    for (let i = 0; i < 12; i++) await client.create(cmPath('default'), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `churn-${i}`, namespace: 'default' } });
    await until(() => restarts.includes('gone'), '410 relist', 10_000);
    await client.create(cmPath('default'), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'after-gone', namespace: 'default', labels: { watched: 'yes' } } });
    await until(() => inf.getByName('default', 'after-gone') !== undefined, 'object after relist');
  } finally {
    inf.stop();
  }
});

test('informer survives the API server going away and coming back (errors reported, cache kept, relisted)', async () => {
  const errors: unknown[] = [];
  let listed = 0;
  const inf = new Informer(client, { path: cmPath('default'), backoffInitialMs: 100, backoffMaxMs: 500, onError: (e) => errors.push(e), onListed: () => listed++ });
  inf.start();
  try {
    await inf.waitForSync(10_000);
    const before = inf.size();
    assert.ok(before > 0);
    await api.proc.stop();
    await until(() => errors.length > 0, 'an error while the server is down');
    assert.equal(inf.isHealthy(), false);
    assert.equal(inf.size(), before, 'the cache keeps its content while the server is down');
    await api.restart();
    client.close();
    await until(() => inf.isHealthy(), 'healthy again', 20_000);
    assert.ok(listed >= 2, 'relisted after the restart');
    const c2 = await KubeClient.create(api.kubeConfig);
    await c2.create(cmPath('default'), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'after-restart', namespace: 'default' } });
    await until(() => inf.getByName('default', 'after-restart') !== undefined, 'watch works after restart');
    c2.close();
  } finally {
    inf.stop();
  }
});

test('event recorder aggregates repeats into count', async () => {
  const rec = new EventRecorder(client, { component: 'test' });
  const obj = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'applied', namespace: 'default', uid: 'u1' } };
  await rec.record(obj, 'Warning', 'Thing', 'happened');
  await rec.record(obj, 'Warning', 'Thing', 'happened');
  await rec.record(obj, 'Normal', 'Other', 'also');
  const events = await client.list<KubeObject & { reason: string; count: number; involvedObject: { name: string } }>(resourcePath({ version: 'v1', plural: 'events', namespace: 'default' }));
  const thing = events.items.filter((e) => e.reason === 'Thing');
  assert.equal(thing.length, 1);
  assert.equal(thing[0].count, 2);
  assert.equal(thing[0].involvedObject.name, 'applied');
  assert.equal(events.items.filter((e) => e.reason === 'Other').length, 1);
});

test('leader election: one leader at a time; the other takes over when the leader stops', async () => {
  const c1 = await KubeClient.create(api.kubeConfig);
  const c2 = await KubeClient.create(api.kubeConfig);
  const state = { a: false, b: false };
  // A 4 s lease renewed every 200 ms: b must stand by even if a loaded CI machine stalls a's loop for seconds;
  // a.stop() releases the lease, so the takeover does not wait for it to expire.
  const common = { namespace: 'default', name: 'le-test', leaseDurationMs: 4000, renewDeadlineMs: 3000, retryPeriodMs: 200 };
  const a = new LeaderElector(c1, { ...common, identity: 'a', onStartedLeading: () => (state.a = true), onStoppedLeading: () => (state.a = false) });
  const b = new LeaderElector(c2, { ...common, identity: 'b', onStartedLeading: () => (state.b = true), onStoppedLeading: () => (state.b = false) });
  a.start();
  await until(() => state.a, 'a leads');
  b.start();
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(state.b, false, 'b stands by while a renews');
  await a.stop();
  await until(() => state.b, 'b takes over');
  assert.equal(state.a, false);
  await b.stop();
  c1.close();
  c2.close();
});
