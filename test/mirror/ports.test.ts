// Issue 17 item 7: a failed port allocation must keep none of the ports it picked. Ten 200-port Services in
// a 2,000-port range (12 ports already held) once left 188 ports held by the one that failed, so that a
// later 1-port Service was refused. The controller as its own process against two real API servers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { stopAll } from '../helpers/process.js';
import { PORT_MAP_ANNOTATION, parsePortMap } from '../../src/api/index.js';
import {
  startCluster, stopCluster, prepareLocal, putSecret, adminKubeconfig, createLink, exportService, putSlice, getService,
  until, startController, getLink, ensureNamespace, type Cluster,
} from './env.js';

let local: Cluster;
let remote: Cluster;

before(async () => {
  [local, remote] = await Promise.all([startCluster('local'), startCluster('remote')]);
  await prepareLocal(local);
  await putSecret(local, 'cluster-credentials-remote', adminKubeconfig(remote));
  await putSlice(local, 'mesh-system', 'mesh-gateway', 'mesh-gateway-abc', [{ ip: '127.0.10.1', ready: true }], [{ name: 'tunnel', port: 4143 }]);
  await createLink(local, 'remote', {
    targetClusterName: 'remote',
    clusterCredentialsSecret: 'cluster-credentials-remote',
    gateway: { addresses: ['127.0.0.1'], port: 1, identity: 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway' },
    probe: { period: '60s', failureThreshold: 100 },
  });
  await ensureNamespace(local, 'bulk');
  await startController(local, ['--outbound-ports', '14000-15999']);
});

after(async () => {
  await stopAll();
  await Promise.all([stopCluster(local), stopCluster(remote)]);
});

const ports = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `p${i}`, port: 1000 + i }));

async function outboundPorts(name: string): Promise<number> {
  const raw = (await getService(local, 'bulk', name))?.metadata?.annotations?.[PORT_MAP_ANNOTATION];
  const parsed = raw ? parsePortMap(raw) : undefined;
  return parsed?.ok ? parsed.entries.length : 0;
}

test('ten 200-port Services in a 2,000-port range with 12 ports held: one is refused and holds nothing; a 1-port Service still gets its port', async () => {
  await exportService(remote, 'bulk', 'small', { ports: ports(12) });
  await until(async () => (await outboundPorts('small-remote')) === 12, 'the 12-port shadow');
  for (let i = 0; i < 10; i++) await exportService(remote, 'bulk', `big${i}`, { ports: ports(200) });
  const status = await until(async () => {
    const s = (await getLink(local, 'remote'))?.status?.mirroredServices;
    return s?.services.some((m) => /outbound ports/.test(m.problem ?? '')) && s.count === 10 ? s : undefined;
  }, 'nine big shadows and one refused for ports', 60_000);
  const refused = status.services.filter((m) => m.problem);
  assert.equal(refused.length, 1, JSON.stringify(refused));
  let held = 0;
  for (let i = 0; i < 10; i++) held += await outboundPorts(`big${i}-remote`);
  assert.equal(held, 1800, 'nine shadows hold 200 ports each');
  // 188 ports are free: none is held by the Service that was refused.
  await exportService(remote, 'bulk', 'tiny', { ports: ports(1) });
  await until(async () => (await outboundPorts('tiny-remote')) === 1, 'the 1-port shadow gets a port');
  const after = (await getLink(local, 'remote'))?.status?.mirroredServices?.services.find((m) => m.name === 'tiny');
  assert.equal(after?.problem, undefined);
});
