// Lifecycle: controller restarts (mid-sync, while things change), start-up GC of exactly the orphaned
// shadows, Link deletion while the controller is down (finalizer), invalid Link specs, and HA.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { stopAll } from '../helpers/process.js';
import type { KubeObject } from '../../src/kube/index.js';
import type { Service } from '../../src/mirror/index.js';
import {
  startCluster, stopCluster, prepareLocal, putSecret, adminKubeconfig, createLink, exportService, getService, until, startController,
  getLink, condition, ensureNamespace, svcPath, linkPath, type Cluster, type ControllerProc,
} from './env.js';

let local: Cluster;
let remote: Cluster;

const linkSpec = (extra: Record<string, unknown> = {}) => ({
  targetClusterName: 'remote',
  clusterCredentialsSecret: 'cluster-credentials-remote',
  gateway: { addresses: ['127.0.0.1'], port: 1, identity: 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway' },
  probe: { period: '60s', failureThreshold: 100 },
  ...extra,
});

async function shadows(ns: string): Promise<Service[]> {
  return (await local.client.list<Service>(svcPath(ns), { labelSelector: 'mirror.mesh.io/cluster-name=remote' })).items;
}

before(async () => {
  [local, remote] = await Promise.all([startCluster('local'), startCluster('remote')]);
  await prepareLocal(local);
  await putSecret(local, 'cluster-credentials-remote', adminKubeconfig(remote));
  await ensureNamespace(local, 'bulk');
  await ensureNamespace(local, 'gc');
});

after(async () => {
  await stopAll();
  await Promise.all([stopCluster(local), stopCluster(remote)]);
});

test('controller killed mid-sync and restarted converges: every shadow once, unique outbound ports', async () => {
  const n = 150;
  await ensureNamespace(remote, 'bulk');
  await Promise.all(Array.from({ length: n }, (_, i) => exportService(remote, 'bulk', `s${i}`, { ports: [{ name: 'http', port: 80 }, { name: 'admin', port: 81 }] })));
  await createLink(local, 'remote', linkSpec());
  const first = await startController(local);
  await until(async () => (await shadows('bulk')).length >= 10, 'some shadows');
  first.proc.child.kill('SIGKILL');
  await first.proc.exited;
  const mid = (await shadows('bulk')).length;
  const second = await startController(local);
  const all = await until(async () => {
    const s = await shadows('bulk');
    return s.length === n ? s : undefined;
  }, `all ${n} shadows`, 60_000);
  const ports = all.flatMap((s) => (JSON.parse(s.metadata?.annotations?.['mirror.mesh.io/gateway-port-map'] ?? '[]') as Array<{ outboundPort: number }>).map((e) => e.outboundPort));
  assert.equal(ports.length, 2 * n);
  assert.equal(new Set(ports).size, ports.length, `outbound ports unique across shadows (killed after ${mid})`);
  await second.proc.stop();
});

test('start-up GC removes only shadows whose remote Service is gone; nothing is removed while the remote is unreachable', async () => {
  await ensureNamespace(remote, 'gc');
  await exportService(remote, 'gc', 'keep');
  await exportService(remote, 'gc', 'gone');
  let ctl: ControllerProc = await startController(local);
  await until(async () => (await shadows('gc')).length === 2, 'two gc shadows');
  // A local Service that only looks similar (no mirror labels) must survive GC.
  await local.client.create(svcPath('gc'), { apiVersion: 'v1', kind: 'Service', metadata: { name: 'lookalike-remote', namespace: 'gc' }, spec: { ports: [{ port: 80, protocol: 'TCP' }] } });
  await ctl.proc.stop();
  await remote.client.delete(svcPath('gc', 'gone'));
  const keepBefore = await getService(local, 'gc', 'keep-remote');
  ctl = await startController(local);
  await until(async () => (await getService(local, 'gc', 'gone-remote')) === undefined, 'orphan shadow GCed');
  const keepAfter = await getService(local, 'gc', 'keep-remote');
  assert.equal(keepAfter?.metadata?.uid, keepBefore?.metadata?.uid, 'live shadow kept (same object)');
  assert.ok(await getService(local, 'gc', 'lookalike-remote'), 'unlabelled Service untouched');
  await ctl.proc.stop();
  // Remote unreachable at start: nothing may be removed.
  await remote.api.proc.stop();
  const countBefore = (await shadows('bulk')).length + (await shadows('gc')).length;
  ctl = await startController(local);
  await until(async () => condition(await getLink(local, 'remote'), 'RemoteAPIReachable')?.status === 'False', 'unreachable reported');
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal((await shadows('bulk')).length + (await shadows('gc')).length, countBefore, 'no shadow removed while the remote is down');
  await ctl.proc.stop();
  await remote.api.restart();
  remote.client.close();
  remote.client = await (await import('../../src/kube/index.js')).KubeClient.create(remote.api.kubeConfig);
});

test('invalid Link specs: each reported (status with the zod path + Event) or refused by the API server; the valid Link keeps working', async () => {
  const ctl = await startController(local);
  const bad: Array<[string, Record<string, unknown>, string]> = [
    ['bad-name', { targetClusterName: 'Not_A_Label' }, 'spec.targetClusterName'],
    ['bad-domain', { targetClusterName: 'x1', targetClusterDomain: 'bad domain' }, 'spec.targetClusterDomain'],
    ['bad-trust', { targetClusterName: 'x2', trustDomain: 'UPPER' }, 'spec.trustDomain'],
    ['bad-secret', { targetClusterName: 'x3', clusterCredentialsSecret: 'Bad_Secret' }, 'spec.clusterCredentialsSecret'],
    ['bad-gw-addr', { targetClusterName: 'x4', gateway: { addresses: ['a b'], identity: 'spiffe://mesh.local/x' } }, 'spec.gateway.addresses.0'],
    ['bad-gw-port', { targetClusterName: 'x5', gateway: { addresses: ['1.2.3.4'], port: 0, identity: 'spiffe://mesh.local/x' } }, 'spec.gateway.port'],
    ['bad-gw-id', { targetClusterName: 'x6', gateway: { addresses: ['1.2.3.4'], identity: 'mesh-gateway' } }, 'spec.gateway.identity'],
    ['bad-transport', { targetClusterName: 'x7', gateway: { addresses: ['1.2.3.4'], identity: 'spiffe://mesh.local/x', transport: 'pigeon' } }, 'spec.gateway.transport'],
    ['bad-probe-path', { targetClusterName: 'x8', probe: { path: 'live' } }, 'spec.probe.path'],
    ['bad-probe-period', { targetClusterName: 'x9', probe: { period: 'often' } }, 'spec.probe.period'],
    ['bad-probe-threshold', { targetClusterName: 'x10', probe: { failureThreshold: 0 } }, 'spec.probe.failureThreshold'],
    ['bad-selector', { targetClusterName: 'x11', selector: { matchExpressions: [{ key: 'a', operator: 'In' }] } }, 'spec.selector'],
    ['bad-excluded', { targetClusterName: 'x12', excludedLabels: [''] }, 'spec.excludedLabels.0'],
    ['bad-create-ns', { targetClusterName: 'x13', createNamespaces: 'yes' }, 'spec.createNamespaces'],
    // Issue 17 item 7: `period: 0ms` was accepted and probed 880 times in 15 s.
    ['zero-probe-period', { targetClusterName: 'x14', probe: { period: '0ms' } }, 'spec.probe.period'],
    ['probe-timeout-not-below-period', { targetClusterName: 'x15', probe: { period: '2s', timeout: '5s' } }, 'spec.probe.timeout'],
  ];
  let refused = 0;
  const reported: string[] = [];
  for (const [name, spec, path] of bad) {
    try {
      await createLink(local, name, { clusterCredentialsSecret: 'cluster-credentials-remote', ...spec });
    } catch (err) {
      // The CRD's OpenAPI schema already refuses it: the sender sees a 422 naming the field.
      assert.equal((err as { code?: number }).code, 422, `${name}: ${String(err)}`);
      refused++;
      continue;
    }
    const link = await until(async () => {
      const l = await getLink(local, name);
      return condition(l, 'Ready')?.reason === 'InvalidSpec' ? l : undefined;
    }, `${name} reported`);
    assert.ok(condition(link, 'Ready')?.message.startsWith(path), `${name}: message ${condition(link, 'Ready')?.message} starts with ${path}`);
    reported.push(name);
  }
  assert.equal(refused + reported.length, bad.length);
  // The CRD is generated from the zod schema: only what OpenAPI cannot say (the selector rule, timeout < period)
  // reaches the controller.
  assert.deepEqual(reported, ['bad-selector', 'probe-timeout-not-below-period'], 'every other invalid field is refused by the API server itself');
  const events = await local.client.list<KubeObject & { reason: string; involvedObject: { name: string } }>('/api/v1/namespaces/mesh-system/events');
  for (const name of reported) assert.ok(events.items.some((e) => e.reason === 'InvalidSpec' && e.involvedObject.name === name), `InvalidSpec Event for ${name}`);
  // The valid Link is unaffected.
  await exportService(remote, 'gc', 'after-invalid');
  await until(() => getService(local, 'gc', 'after-invalid-remote'), 'valid link still mirrors');
  // Status writes are batched (a quarter second): the shadow can be there before the condition says so.
  await until(async () => condition(await getLink(local, 'remote'), 'RemoteAPIReachable')?.status === 'True', 'the valid Link watching its remote');
  for (const [name] of bad) await local.client.delete(linkPath(name)).catch(() => undefined);
  await ctl.proc.stop();
});

test('HA: two replicas, one leader writes; the standby takes over when the leader dies', async () => {
  const a = await startController(local, ['--ha', '--lease-duration-seconds', '4']);
  await a.proc.waitFor(/leading: reconciling/, 20_000);
  const b = await startController(local, ['--ha', '--lease-duration-seconds', '4']);
  await exportService(remote, 'gc', 'ha-1');
  await until(() => getService(local, 'gc', 'ha-1-remote'), 'leader mirrors');
  assert.doesNotMatch(b.proc.stderr(), /leading: reconciling/, 'standby does not lead');
  const bWrites = /mesh_mirror_writes_total\{[^}]*\} [1-9]/.test(await b.metrics());
  assert.equal(bWrites, false, 'standby wrote nothing');
  a.proc.child.kill('SIGKILL');
  await b.proc.waitFor(/leading: reconciling/, 40_000);
  await exportService(remote, 'gc', 'ha-2');
  await until(() => getService(local, 'gc', 'ha-2-remote'), 'new leader mirrors');
  await b.proc.stop();
});

test('Link deleted while the controller is down: on start its shadows are removed and the Link goes away', async () => {
  const ctl = await startController(local);
  await until(async () => (await getLink(local, 'remote'))?.metadata?.finalizers?.includes('multicluster.mesh.io/mirror-cleanup'), 'finalizer');
  await ctl.proc.stop();
  await local.client.delete(linkPath('remote'));
  const pending = await getLink(local, 'remote');
  assert.ok(pending?.metadata?.deletionTimestamp, 'the finalizer holds the Link while the controller is down');
  assert.ok((await shadows('bulk')).length > 0);
  const again = await startController(local);
  await until(async () => (await getLink(local, 'remote')) === undefined, 'Link gone', 30_000);
  assert.equal((await shadows('bulk')).length, 0);
  assert.equal((await shadows('gc')).length, 0);
  assert.ok(await getService(local, 'gc', 'lookalike-remote'), 'foreign Service untouched');
  await again.proc.stop();
});
