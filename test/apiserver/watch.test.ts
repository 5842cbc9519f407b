// Watch semantics with client-node: resume from a resourceVersion, selectors, bookmarks, timeouts,
// 410 Gone past the retained window, and informers that survive a server restart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CoreV1Api, PatchStrategy, Watch, makeInformer, setHeaderOptions, type KubernetesObject, type V1ConfigMap } from '@kubernetes/client-node';
import { startApiServer, type TestApiServer } from '../helpers/apiserver.js';
import { stopAll } from '../helpers/process.js';

let srv: TestApiServer;
let core: CoreV1Api;
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

before(async () => {
  // A tiny watch window and fast bookmarks so 410 and BOOKMARK happen within a test's time.
  srv = await startApiServer({ args: ['--watch-window', '20', '--bookmark-interval', '200'] });
  core = srv.kubeConfig.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: 'w' } } });
});
after(async () => {
  await srv?.stop();
  await stopAll();
});

interface Ev {
  type: string;
  obj: KubernetesObject & { code?: number };
}

/** Collects events of one watch until `until` says stop (or the deadline passes). */
function collect(path: string, query: Record<string, string | number | boolean | undefined>, until: (evs: Ev[]) => boolean, ms = 15_000): Promise<{ evs: Ev[]; ended: boolean }> {
  return new Promise((resolve, reject) => {
    const evs: Ev[] = [];
    let ctl: AbortController | undefined;
    let finished = false;
    const finish = (ended: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      ctl?.abort();
      resolve({ evs, ended });
    };
    const timer = setTimeout(() => finish(false), ms);
    new Watch(srv.kubeConfig)
      .watch(path, query, (type, obj: Ev['obj']) => {
        evs.push({ type, obj });
        if (until(evs)) finish(false);
      }, () => finish(true))
      .then((c) => {
        ctl = c;
        if (finished) c.abort();
      }, reject);
  });
}

test('a watch from a resourceVersion sees exactly the later changes, in order', async () => {
  const a = await core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'a' }, data: { v: '1' } } });
  const rv = a.metadata?.resourceVersion;
  const p = collect('/api/v1/namespaces/w/configmaps', { resourceVersion: rv }, (e) => e.length >= 3);
  await new Promise((r) => setTimeout(r, 100));
  await core.patchNamespacedConfigMap({ namespace: 'w', name: 'a', body: { data: { v: '2' } } }, merge);
  await core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'b' } } });
  await core.deleteNamespacedConfigMap({ namespace: 'w', name: 'a' });
  const { evs } = await p;
  assert.deepEqual(evs.map((e) => `${e.type} ${e.obj.metadata?.name}`), ['MODIFIED a', 'ADDED b', 'DELETED a']);
  const rvs = evs.map((e) => Number(e.obj.metadata?.resourceVersion));
  assert.ok(rvs[0] > Number(rv) && rvs[0] < rvs[1] && rvs[1] < rvs[2], `increasing resourceVersions ${rvs.join(',')}`);
});

test('a watch without resourceVersion starts with ADDED for what exists; label selector turns leaving into DELETED', async () => {
  await core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'sel', labels: { pick: 'yes' } } } });
  const p = collect('/api/v1/namespaces/w/configmaps', { labelSelector: 'pick=yes' }, (e) => e.length >= 2);
  await new Promise((r) => setTimeout(r, 100));
  await core.patchNamespacedConfigMap({ namespace: 'w', name: 'sel', body: { metadata: { labels: { pick: 'no' } } } }, merge);
  const { evs } = await p;
  assert.deepEqual(evs.map((e) => `${e.type} ${e.obj.metadata?.name}`), ['ADDED sel', 'DELETED sel']);
});

test('allowWatchBookmarks brings BOOKMARK events carrying the current resourceVersion', async () => {
  const { evs } = await collect('/api/v1/namespaces/w/configmaps', { allowWatchBookmarks: true, resourceVersion: '0' }, (e) => e.some((x) => x.type === 'BOOKMARK'));
  const bm = evs.find((e) => e.type === 'BOOKMARK');
  assert.ok(bm, 'got a bookmark');
  assert.match(bm.obj.metadata?.resourceVersion ?? '', /^\d+$/);
});

test('timeoutSeconds ends the watch on the server side', async () => {
  const started = Date.now();
  const { ended } = await collect('/api/v1/namespaces/w/configmaps', { timeoutSeconds: 1, resourceVersion: '0' }, () => false, 8000);
  assert.equal(ended, true, 'the server closed the watch before the test deadline');
  assert.ok(Date.now() - started >= 900);
});

test('a resourceVersion older than the retained window gets an ERROR event with 410 Gone', async () => {
  const first = await core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'old' } } });
  for (let i = 0; i < 30; i++) await core.patchNamespacedConfigMap({ namespace: 'w', name: 'old', body: { data: { i: String(i) } } }, merge);
  const { evs, ended } = await collect('/api/v1/namespaces/w/configmaps', { resourceVersion: first.metadata?.resourceVersion }, (e) => e.length >= 1);
  assert.equal(evs[0]?.type, 'ERROR');
  assert.equal(evs[0]?.obj.code, 410);
  assert.equal((evs[0]?.obj as { reason?: string }).reason, 'Expired');
  assert.equal(ended || evs.length === 1, true);
});

test('an informer keeps its cache through a server restart (relist after 410) and sees new objects', async () => {
  const path = '/api/v1/namespaces/w/configmaps';
  const inf = makeInformer<V1ConfigMap>(srv.kubeConfig, path, () => core.listNamespacedConfigMap({ namespace: 'w' }));
  const added = new Set<string>();
  inf.on('add', (o) => added.add(o.metadata?.name ?? ''));
  let stopped = false;
  inf.on('error', () => {
    // client-node leaves restarting to the caller; retry until the server is back.
    setTimeout(() => {
      if (!stopped) void inf.start().catch(() => {});
    }, 300);
  });
  await inf.start();
  try {
    assert.ok(added.has('b'));
    // Changes elsewhere move the global counter past the informer's resourceVersion.
    for (let i = 0; i < 5; i++) await core.createNamespacedSecret({ namespace: 'w', body: { metadata: { name: `s${i}` } } });
    await srv.restart();
    core = srv.kubeConfig.makeApiClient(CoreV1Api);
    const kept = await core.readNamespacedConfigMap({ namespace: 'w', name: 'b' });
    assert.equal(kept.metadata?.name, 'b', 'objects survive the restart');
    await core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'after-restart' } } });
    const deadline = Date.now() + 20_000;
    while (!added.has('after-restart') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.ok(added.has('after-restart'), 'the informer saw an object created after the restart');
    assert.ok(inf.list().some((o) => o.metadata?.name === 'b'));
  } finally {
    stopped = true;
    await inf.stop();
  }
});

test('resourceVersions stay monotonic across a restart', async () => {
  const before = await core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'mono1' } } });
  await srv.restart();
  core = srv.kubeConfig.makeApiClient(CoreV1Api);
  const afterRestart = await core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'mono2' } } });
  assert.ok(Number(afterRestart.metadata?.resourceVersion) > Number(before.metadata?.resourceVersion));
  const got = await core.readNamespacedConfigMap({ namespace: 'w', name: 'mono1' });
  assert.equal(got.metadata?.uid, before.metadata?.uid);
});

test('a resourceVersion from the future (the server lost state) also gets 410, so clients relist', async () => {
  const { evs } = await collect('/api/v1/namespaces/w/configmaps', { resourceVersion: '99999999' }, (e) => e.length >= 1);
  assert.equal(evs[0]?.type, 'ERROR');
  assert.equal(evs[0]?.obj.code, 410);
});
