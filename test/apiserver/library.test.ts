// The library entry the sandbox embeds: startApiServer in-process, its in-process reader and watch,
// multi-version custom resources, and close() releasing the port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { startApiServer } from '../../src/apiserver/index.js';
import { silentLogger } from '../../src/log/index.js';

test('in-process server: kubeconfig, reader, watch callbacks, event TTL, multi-version CRs, snapshot on close, port released', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'apiserver-lib-'));
  const api = await startApiServer({ dataDir: dir, port: 0, clusterName: 'lib', serviceCIDR: '10.50.0.0/24', advertiseAddresses: ['127.0.0.1'], logger: silentLogger() });
  try {
    assert.match(api.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const kc = new KubeConfig();
    kc.loadFromFile(api.kubeconfigPath);
    assert.equal(kc.getCurrentContext(), 'lib');
    const seen: string[] = [];
    const stop = api.watch({ group: '', resource: 'services' }, (type, obj) => seen.push(`${type} ${obj.metadata.name}`));
    const core = kc.makeApiClient(CoreV1Api);
    const svc = await core.createNamespacedService({ namespace: 'default', body: { metadata: { name: 'lib-svc' }, spec: { ports: [{ port: 80 }] } } });
    assert.match(svc.spec?.clusterIP ?? '', /^10\.50\.0\./);
    assert.deepEqual(seen, ['ADDED lib-svc']);
    assert.equal(api.objects.get({ group: '', resource: 'services' }, 'default', 'lib-svc')?.metadata.uid, svc.metadata?.uid);
    assert.ok(api.objects.list({ group: '', resource: 'namespaces' }).some((n) => n.metadata.name === 'kube-system'));
    stop();
    await core.deleteNamespacedService({ namespace: 'default', name: 'lib-svc' });
    assert.deepEqual(seen, ['ADDED lib-svc'], 'a stopped in-process watch gets nothing');

    // Events older than the TTL (1 h) are collected by the periodic sweep.
    const old = new Date(Date.now() - 2 * 3600_000);
    await core.createNamespacedEvent({ namespace: 'default', body: { metadata: { name: 'stale' }, involvedObject: { kind: 'Service', name: 'x' }, reason: 'Old', lastTimestamp: old, firstTimestamp: old } });
    await core.createNamespacedEvent({ namespace: 'default', body: { metadata: { name: 'fresh' }, involvedObject: { kind: 'Service', name: 'x' }, reason: 'New', lastTimestamp: new Date() } });
    const deadline = Date.now() + 20_000;
    while (api.objects.get({ group: '', resource: 'events' }, 'default', 'stale') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    assert.equal(api.objects.get({ group: '', resource: 'events' }, 'default', 'stale'), undefined, 'the expired event is gone');
    assert.ok(api.objects.get({ group: '', resource: 'events' }, 'default', 'fresh'), 'a fresh event stays');

    // A CRD serving two versions: objects written in one are readable in the other (no conversion, as "None").
    const co = kc.makeApiClient(CustomObjectsApi);
    const schema = { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { n: { type: 'integer' } } } } } };
    await co.createClusterCustomObject({
      group: 'apiextensions.k8s.io',
      version: 'v1',
      plural: 'customresourcedefinitions',
      body: { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'things.example.mesh.io' }, spec: { group: 'example.mesh.io', scope: 'Cluster', names: { plural: 'things', kind: 'Thing' }, versions: [{ name: 'v1', served: true, storage: true, schema }, { name: 'v1beta1', served: true, storage: false, schema }] } },
    });
    await co.createClusterCustomObject({ group: 'example.mesh.io', version: 'v1beta1', plural: 'things', body: { apiVersion: 'example.mesh.io/v1beta1', kind: 'Thing', metadata: { name: 't1' }, spec: { n: 1 } } });
    const asV1 = (await co.getClusterCustomObject({ group: 'example.mesh.io', version: 'v1', plural: 'things', name: 't1' })) as { apiVersion: string; spec: { n: number } };
    assert.equal(asV1.apiVersion, 'example.mesh.io/v1');
    assert.equal(asV1.spec.n, 1);
  } finally {
    await api.close();
  }
  assert.ok(existsSync(join(dir, 'state.json')), 'close() writes the snapshot');
  // The port is free again.
  await new Promise<void>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(Number(new URL(api.url).port), '127.0.0.1', () => s.close(() => resolve()));
  });
  rmSync(dir, { recursive: true, force: true });
});
