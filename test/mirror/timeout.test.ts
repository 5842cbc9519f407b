// A reconcile that times out stops writing: the controller (its own process) talks to the local API server
// through a proxy that holds every write to one namespace longer than the reconcile timeout. Each held write
// must be abandoned by the controller when its reconcile times out, and none may reach the API server while
// the server is slow; once it is fast again, the shadow converges.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { stopAll } from '../helpers/process.js';
import {
  startCluster, stopCluster, prepareLocal, putSecret, adminKubeconfig, createLink, exportService, putSlice, getService, slicesOf,
  until, startController, ensureNamespace, type Cluster, type ControllerProc,
} from './env.js';
import { startSlowProxy, type SlowProxy } from './slow-proxy.js';

const TIMEOUT_MS = 1000;
const HOLD_MS = 4000;

let local: Cluster;
let remote: Cluster;
let proxy: SlowProxy;
let ctl: ControllerProc;

before(async () => {
  [local, remote] = await Promise.all([startCluster('local'), startCluster('remote')]);
  await prepareLocal(local);
  await ensureNamespace(local, 'slow');
  await putSecret(local, 'cluster-credentials-remote', adminKubeconfig(remote));
  await createLink(local, 'remote', { targetClusterName: 'remote', clusterCredentialsSecret: 'cluster-credentials-remote' });
  // Writes (not reads, not watches) into namespace `slow` are held: the shadow's create stalls there.
  proxy = await startSlowProxy(local, (method, path) => method !== 'GET' && path.includes('/namespaces/slow/'), HOLD_MS);
  ctl = await startController(local, [], 'local', { kubeconfigPath: proxy.kubeconfigPath, env: { MESH_RECONCILE_TIMEOUT_MS: String(TIMEOUT_MS) } });
});

after(async () => {
  await stopAll();
  await proxy?.close();
  await Promise.all([stopCluster(local), stopCluster(remote)]);
});

test('a reconcile that times out stops writing: its held write is abandoned, nothing lands while the server is slow', async () => {
  await exportService(remote, 'slow', 'app', { mode: 'flat' });
  await putSlice(remote, 'slow', 'app', 'app-1', [{ ip: '10.9.0.1' }]);
  // Two reconciles in a row time out, each abandoning the write it had in flight.
  await until(() => proxy.held.filter((h) => h.outcome === 'abandoned').length >= 2, 'two held writes abandoned by the controller', 30_000);
  assert.deepEqual(proxy.held.filter((h) => h.outcome === 'forwarded'), [], 'no write reached the API server after its reconcile timed out');
  assert.equal(await getService(local, 'slow', 'app-remote'), undefined, 'no shadow was written');
  // The timeout is logged with the reconcile's id and key.
  const line = ctl.proc.stderr().split('\n').find((l) => l.includes(`exceeded ${TIMEOUT_MS} ms`));
  assert.ok(line, 'timeout logged');
  const entry = JSON.parse(line) as { key?: string; reconcileID?: string };
  assert.equal(entry.key, 'shadow:remote:slow/app-remote');
  assert.match(entry.reconcileID ?? '', /^[0-9a-f]{6}-[0-9a-z]+$/);
  assert.match(await ctl.metrics(), /mesh_controller_reconcile_total\{controller="mirror",result="timeout"\} [1-9]/);
  // The server is fast again: the shadow converges.
  proxy.delayMs = 0;
  await until(() => getService(local, 'slow', 'app-remote'), 'shadow after the server recovered', 30_000);
  await until(async () => (await slicesOf(local, 'slow', 'app-remote')).some((s) => s.endpoints?.some((e) => e.addresses[0] === '10.9.0.1')), 'shadow endpoints');
});
