// Issue 17 item 4, name collisions between shadows: a remote Service `db-0-db` has the shadow name
// `db-0-db-<cluster>`, which is also the per-pod Service of the headless shadow `db-<cluster>` for pod `db-0`.
// Ownership is exact (which remote object a Service stands for), the first owner keeps the name, and the
// other is reported (Event + Link Conflict condition). Pure core first, then the controller as a process.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { stopAll } from '../helpers/process.js';
import { PortAllocator, desiredShadow, diff, serviceDiffers, type Service } from '../../src/mirror/index.js';
import { parseLinkSpec, type LinkSpec } from '../../src/api/index.js';
import {
  startCluster, stopCluster, prepareLocal, putSecret, adminKubeconfig, createLink, exportService, putSlice, getService,
  until, startController, getLink, condition, ensureNamespace, svcPath, type Cluster, type ControllerProc,
} from './env.js';

const SPEC = (() => {
  const p = parseLinkSpec({ targetClusterName: 'south', clusterCredentialsSecret: 's', gateway: { addresses: ['10.0.0.1'], port: 4143, identity: 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway' } });
  assert.ok(p.ok);
  return p.spec as LinkSpec;
})();

function remote(name: string, headless = false): Service {
  return { metadata: { name, namespace: 'shop', resourceVersion: '1', labels: { 'mirror.mesh.io/exported': 'true' } }, spec: { ports: [{ port: 5432 }], ...(headless ? { clusterIP: 'None' } : {}) } };
}

test('pure core: a shadow whose name is another shadow\'s per-pod Service is a conflict, both ways; an object from before the annotation is adopted', () => {
  const ports = new PortAllocator(14000, 14100);
  const base = { gateway: [{ ip: '10.1.0.1', ready: true }], gatewayHealthy: true, ports, linkSpec: SPEC };
  const headless = desiredShadow({ ...base, remote: remote('db', true), remoteSlices: [{ metadata: { name: 'db-x' }, addressType: 'IPv4', endpoints: [{ addresses: ['10.9.0.1'], hostname: 'db-0' }] }] })!;
  const perPod = headless.podServices[0].service;
  assert.equal(perPod.metadata?.name, 'db-0-db-south');
  assert.equal(perPod.metadata?.annotations?.['mirror.mesh.io/shadow-of'], 'pod/shop/db/db-0');
  const other = desiredShadow({ ...base, remote: remote('db-0-db'), remoteSlices: [] })!;
  assert.equal(other.service.metadata?.name, 'db-0-db-south');
  assert.equal(other.service.metadata?.annotations?.['mirror.mesh.io/shadow-of'], 'service/shop/db-0-db');
  // The per-pod Service is live: the other shadow may not take it, though both carry the mirror's labels for `south`.
  const p1 = diff([other.service], [perPod], 'south', serviceDiffers);
  assert.equal(p1.conflicts.length, 1);
  assert.equal(p1.update.length + p1.unchanged.length, 0);
  // The other way round: the shadow is live, the per-pod Service is refused.
  const p2 = diff([perPod], [other.service], 'south', serviceDiffers);
  assert.equal(p2.conflicts.length, 1);
  // Upgrade: a shadow written before the annotation (labels only) is still ours, and gains the annotation.
  const legacy: Service = JSON.parse(JSON.stringify(other.service)) as Service;
  delete legacy.metadata!.annotations!['mirror.mesh.io/shadow-of'];
  const p3 = diff([other.service], [legacy], 'south', serviceDiffers);
  assert.equal(p3.conflicts.length, 0);
  assert.equal(p3.update.length, 1, 'the legacy shadow is updated with its annotation');
  // A legacy per-pod Service (parent label, no annotation) is still not the other shadow.
  const legacyPod: Service = JSON.parse(JSON.stringify(perPod)) as Service;
  delete legacyPod.metadata!.annotations!['mirror.mesh.io/shadow-of'];
  assert.equal(diff([other.service], [legacyPod], 'south', serviceDiffers).conflicts.length, 1);
});

let local: Cluster;
let south: Cluster;
let ctl: ControllerProc;

before(async () => {
  [local, south] = await Promise.all([startCluster('local'), startCluster('south')]);
  await prepareLocal(local);
  await putSecret(local, 'cluster-credentials-south', adminKubeconfig(south));
  await putSlice(local, 'mesh-system', 'mesh-gateway', 'mesh-gateway-abc', [{ ip: '127.0.10.1', ready: true }], [{ name: 'tunnel', port: 4143 }]);
  await createLink(local, 'south', {
    targetClusterName: 'south',
    clusterCredentialsSecret: 'cluster-credentials-south',
    gateway: { addresses: ['127.0.0.1'], port: 1, identity: 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway' },
    probe: { period: '60s', failureThreshold: 100 },
  });
  await ensureNamespace(local, 'shop');
  ctl = await startController(local);
});

after(async () => {
  await stopAll();
  await Promise.all([stopCluster(local), stopCluster(south)]);
});

test('exporting `db-0-db` next to the headless `db` (pod db-0): the per-pod Service keeps its name, the conflict is reported; once `db` goes, `db-0-db` gets its shadow', async () => {
  await exportService(south, 'shop', 'db', { headless: true, ports: [{ name: 'pg', port: 5432 }] });
  await putSlice(south, 'shop', 'db', 'db-abc', [{ ip: '10.4.0.1', hostname: 'db-0' }], [{ name: 'pg', port: 5432 }]);
  const perPod = await until(async () => {
    const s = await getService(local, 'shop', 'db-0-db-south');
    return s?.spec?.clusterIP && s.spec.clusterIP !== 'None' ? s : undefined;
  }, 'per-pod Service of db-south');
  assert.equal(perPod.metadata?.labels?.['mirror.mesh.io/headless-mirror-svc-name'], 'db-south');

  await exportService(south, 'shop', 'db-0-db', { ports: [{ name: 'http', port: 80 }] });
  const link = await until(async () => {
    const l = await getLink(local, 'south');
    return /Service shop\/db-0-db-south/.test(condition(l, 'Conflict')?.message ?? '') ? l : undefined;
  }, 'Conflict condition naming the per-pod Service');
  assert.equal(condition(link, 'Conflict')?.status, 'True');
  assert.match(link.status?.mirroredServices?.services.find((s) => s.name === 'db-0-db')?.problem ?? '', /not managed by the mirror/);
  const events = await local.client.list<import('../../src/kube/index.js').KubeObject & { reason: string; message: string }>('/api/v1/namespaces/mesh-system/events');
  assert.ok(events.items.some((e) => e.reason === 'ShadowConflict' && e.message.includes('shop/db-0-db-south')), 'ShadowConflict event');
  // The per-pod Service was never written over: same object, same ports, same owner. (The next full
  // reconcile of both shadows has run once the status shows the conflict; a change to either would show.)
  await until(async () => (await getLink(local, 'south'))?.status?.mirroredServices?.services.some((s) => s.name === 'db'), 'db mirrored in the status');
  const still = await getService(local, 'shop', 'db-0-db-south');
  assert.equal(still?.metadata?.uid, perPod.metadata?.uid);
  assert.equal(still?.metadata?.annotations?.['mirror.mesh.io/shadow-of'], 'pod/shop/db/db-0');
  assert.deepEqual(still?.spec?.ports?.map((p) => p.port), [5432]);

  // The first owner goes: the name is free, and the other shadow takes it without waiting for a resync.
  await south.client.delete(svcPath('shop', 'db'));
  const shadow = await until(async () => {
    const s = await getService(local, 'shop', 'db-0-db-south');
    return s?.metadata?.annotations?.['mirror.mesh.io/shadow-of'] === 'service/shop/db-0-db' ? s : undefined;
  }, 'db-0-db shadow in the freed name');
  assert.equal(shadow.metadata?.labels?.['mirror.mesh.io/headless-mirror-svc-name'], undefined);
  await until(async () => condition(await getLink(local, 'south'), 'Conflict')?.status === 'False', 'conflict cleared');
});

test('upgrade: shadows and per-pod Services written before the ownership annotation are adopted in place (annotated), not reported as conflicts', async () => {
  await exportService(south, 'shop', 'cache', { headless: true, ports: [{ name: 'redis', port: 6379 }] });
  await putSlice(south, 'shop', 'cache', 'cache-abc', [{ ip: '10.4.0.2', hostname: 'cache-0' }], [{ name: 'redis', port: 6379 }]);
  const names = ['db-0-db-south', 'cache-south', 'cache-0-cache-south'];
  await until(async () => (await Promise.all(names.map((n) => getService(local, 'shop', n)))).every((s) => s?.metadata?.annotations?.['mirror.mesh.io/shadow-of']), 'shadows written');
  // What an older controller wrote: the same objects without the annotation.
  await ctl.proc.stop();
  const uids = new Map<string, string | undefined>();
  for (const n of names) {
    await local.client.patch(svcPath('shop', n), { metadata: { annotations: { 'mirror.mesh.io/shadow-of': null } } });
    const s = await getService(local, 'shop', n);
    assert.equal(s?.metadata?.annotations?.['mirror.mesh.io/shadow-of'], undefined);
    uids.set(n, s?.metadata?.uid);
  }
  ctl = await startController(local);
  for (const n of names) {
    const s = await until(async () => {
      const x = await getService(local, 'shop', n);
      return x?.metadata?.annotations?.['mirror.mesh.io/shadow-of'] ? x : undefined;
    }, `${n} annotated by the new controller`);
    assert.equal(s.metadata?.uid, uids.get(n), `${n} updated in place, not replaced`);
  }
  assert.equal(condition(await getLink(local, 'south'), 'Conflict')?.status, 'False');
});
