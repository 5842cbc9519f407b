// The one apply helper and the client's AbortSignal, against the real embedded API server (its own process).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startApiServer, type TestApiServer } from '../helpers/apiserver.js';
import { stopAll } from '../helpers/process.js';
import { Informer, KubeAbortedError, KubeClient, apply, deleteObject, isNotFound, resourcePath, type KubeObject } from '../../src/kube/index.js';

let api: TestApiServer;
let client: KubeClient;

const cmPath = (name?: string) => resourcePath({ version: 'v1', plural: 'configmaps', namespace: 'default', name });
type ConfigMap = KubeObject & { data?: Record<string, string> };
const cm = (name: string, data: Record<string, string>, labels: Record<string, string> = { owner: 'me' }): ConfigMap => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'default', labels },
  data,
});
const mine = (o: ConfigMap) => o.metadata?.labels?.owner === 'me';

before(async () => {
  api = await startApiServer();
  client = await KubeClient.create(api.kubeConfig);
});

after(async () => {
  client?.close();
  await api?.stop();
  await stopAll();
});

test('apply: created, unchanged, updated; a create against a stale cache reads the live object and goes on from it', async () => {
  assert.equal((await apply(client, cmPath(), cm('a', { k: '1' }), { owns: mine })).result, 'created');
  const live = await client.get<ConfigMap>(cmPath('a'));
  assert.equal((await apply(client, cmPath(), cm('a', { k: '1' }), { existing: live, owns: mine })).result, 'unchanged');
  // The caller's cache does not have it yet (existing: null): the 409 leads to the live object, then an update.
  const r = await apply(client, cmPath(), cm('a', { k: '2' }), { existing: null, owns: mine });
  assert.equal(r.result, 'updated');
  assert.equal((await client.get<ConfigMap>(cmPath('a'))).data?.k, '2');
});

test('apply: an object the caller does not own is a conflict and is left untouched', async () => {
  await client.create(cmPath(), cm('theirs', { k: 'theirs' }, { owner: 'someone-else' }));
  const before = await client.get<ConfigMap>(cmPath('theirs'));
  for (const existing of [undefined, null, before]) {
    const r = await apply(client, cmPath(), cm('theirs', { k: 'mine' }), { existing, owns: mine });
    assert.equal(r.result, 'conflict');
    assert.equal(r.object.metadata?.uid, before.metadata?.uid, 'the foreign object is reported');
  }
  const after = await client.get<ConfigMap>(cmPath('theirs'));
  assert.equal(after.metadata?.resourceVersion, before.metadata?.resourceVersion, 'not written');
});

test('apply: recreate replaces the object (a new uid) when an immutable field differs; a custom merge keeps live fields', async () => {
  await apply(client, cmPath(), cm('r', { k: '1' }));
  const first = await client.get<ConfigMap>(cmPath('r'));
  const r = await apply(client, cmPath(), cm('r', { k: '1' }, { owner: 'me', gen: '2' }), { recreate: (l) => l.metadata?.labels?.gen !== '2' });
  assert.deepEqual([r.result, r.recreated], ['updated', true]);
  assert.notEqual(r.object.metadata?.uid, first.metadata?.uid);
  const merged = await apply(client, cmPath(), cm('r', { j: '2' }, { owner: 'me', gen: '2' }), { merge: (l, d) => ({ ...l, ...d, data: { ...l.data, ...d.data }, metadata: { ...l.metadata, labels: d.metadata?.labels } }) });
  assert.equal(merged.result, 'updated');
  assert.deepEqual((await client.get<ConfigMap>(cmPath('r'))).data, { k: '1', j: '2' });
  assert.equal(await deleteObject(client, cmPath('r'), { uid: r.object.metadata?.uid }), true);
  assert.equal(await deleteObject(client, cmPath('r')), false, 'already gone');
});

test('a fired signal: the request is not sent, or is cut off, with KubeAbortedError', async () => {
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(client.create(cmPath(), cm('never', { k: '1' }), { signal: ac.signal }), KubeAbortedError);
  await assert.rejects(apply(client, cmPath(), cm('never', { k: '1' }), { signal: ac.signal }), KubeAbortedError);
  await assert.rejects(client.get(cmPath('never')), (err) => isNotFound(err), 'nothing was written');
  // A request that would not end by itself (a watch) is cut off when the signal fires.
  const live = new AbortController();
  const pending = client.get(cmPath(), { query: { watch: 1 }, signal: live.signal });
  setTimeout(() => live.abort(), 100);
  await assert.rejects(pending, KubeAbortedError);
});

test('informer resync hands every cached object to onUpdate(obj, obj) and its key to the key handlers again', async () => {
  await client.create(cmPath(), cm('resync', { k: '1' }));
  const inf = new Informer<ConfigMap>(client, { path: cmPath(), resyncPeriodMs: 100 });
  const updates: string[] = [];
  const keys: string[] = [];
  inf.onObject({ onUpdate: (o, n) => (o === n ? updates.push(n.metadata?.name ?? '') : undefined) });
  inf.onKey((k) => keys.push(k));
  inf.start();
  try {
    await inf.waitForSync(10_000);
    const end = Date.now() + 10_000;
    while (updates.filter((n) => n === 'resync').length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    assert.ok(updates.filter((n) => n === 'resync').length >= 2, 'resynced twice');
    assert.ok(keys.filter((k) => k === 'default/resync').length >= 3, 'the key: once listed, then at each resync');
  } finally {
    inf.stop();
  }
});
