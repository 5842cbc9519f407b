// Issue 17 item 5: a black-holed remote API server (its port dropped, no RST, no FIN) went unnoticed for
// minutes: the watch only broke on TCP retransmission. Silent watches are checked (bookmarks every 10 s):
// RemoteAPIReachable=False within 30 s of the cut, shadows kept meanwhile, convergence within 10 s after it
// lifts. The controller as its own process; the remote API server behind a TCP proxy that drops traffic.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { stopAll } from '../helpers/process.js';
import { startBlackholeProxy, type BlackholeProxy } from './blackhole-proxy.js';
import {
  startCluster, stopCluster, prepareLocal, putSecret, adminKubeconfig, createLink, exportService, getService, until, startController,
  getLink, condition, ensureNamespace, svcPath, type Cluster,
} from './env.js';

let local: Cluster;
let remote: Cluster;
let proxy: BlackholeProxy;

before(async () => {
  [local, remote] = await Promise.all([startCluster('local'), startCluster('remote')]);
  await prepareLocal(local);
  proxy = await startBlackholeProxy(Number(new URL(remote.api.url).port));
  // The remote API server as the controller reaches it: through the proxy (same certificate: 127.0.0.1).
  await putSecret(local, 'cluster-credentials-remote', adminKubeconfig(remote).replace(remote.api.url, `https://127.0.0.1:${proxy.port}`));
  await createLink(local, 'remote', { targetClusterName: 'remote', clusterCredentialsSecret: 'cluster-credentials-remote', probe: { period: '60s', failureThreshold: 100 } });
  await ensureNamespace(local, 'app');
  await startController(local);
});

after(async () => {
  await stopAll();
  await proxy?.close();
  await Promise.all([stopCluster(local), stopCluster(remote)]);
});

const reachable = async () => condition(await getLink(local, 'remote'), 'RemoteAPIReachable')?.status;

test('black-holed remote API: RemoteAPIReachable=False within 30 s, shadows kept; lifted: a deletion and a new export converge within 10 s', async () => {
  await exportService(remote, 'app', 'kept', { mode: 'flat' });
  await exportService(remote, 'app', 'doomed', { mode: 'flat' });
  const kept = await until(() => getService(local, 'app', 'kept-remote'), 'shadow mirrored');
  await until(() => getService(local, 'app', 'doomed-remote'), 'second shadow mirrored');
  await until(async () => (await reachable()) === 'True', 'RemoteAPIReachable=True');

  proxy.cut();
  const link = await until(async () => {
    const l = await getLink(local, 'remote');
    return condition(l, 'RemoteAPIReachable')?.status === 'False' ? l : undefined;
  }, 'RemoteAPIReachable=False within 30 s of the cut', 30_000);
  assert.match(condition(link, 'RemoteAPIReachable')?.message ?? '', /silent|timed out|does not answer/);
  // Failure domains: the shadows stay as they were.
  assert.equal((await getService(local, 'app', 'kept-remote'))?.metadata?.resourceVersion, kept.metadata?.resourceVersion);
  // Changes the controller cannot see while the cut lasts (the test talks to the remote directly).
  await remote.client.delete(svcPath('app', 'doomed'));
  await exportService(remote, 'app', 'fresh', { mode: 'flat' });

  proxy.lift();
  await until(async () => (await getService(local, 'app', 'doomed-remote')) === undefined && (await getService(local, 'app', 'fresh-remote')), 'converged within 10 s of the lift', 10_000);
  await until(async () => (await reachable()) === 'True', 'RemoteAPIReachable=True again', 10_000);
});
