// Issue 17 item 7: `kubectl delete link` while the controller is down left the credentials Secret (a valid
// token of the target) and the target's link ServiceAccount. The Link's finalizer, on the next start,
// deletes the ServiceAccount there with the Secret's own token, which ends every token of it; the Secret
// stays (the controller may not delete Secrets) with a dead token, and `mesh check` flags it.
// Two real API servers, the target side as `mesh link` makes it, the controller as its own process, kubectl.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { stopAll } from '../helpers/process.js';
import { KubeClient, kubeConfigFromString, isNotFound } from '../../src/kube/index.js';
import { renderLinkTargetRbac } from '../../src/cli/render.js';
import { collectionPath, idOf } from '../../src/cli/kinds.js';
import {
  startCluster, stopCluster, prepareLocal, tokenKubeconfig, createLink, exportService, getService, until, startController,
  getLink, ensureNamespace, secretPath, type Cluster,
} from './env.js';

let local: Cluster;
let remote: Cluster;

before(async () => {
  [local, remote] = await Promise.all([startCluster('local'), startCluster('remote')]);
  await prepareLocal(local);
  await ensureNamespace(remote, 'mesh-system');
  for (const obj of renderLinkTargetRbac('local')) await remote.client.create(collectionPath(idOf(obj)), obj);
  const tr = await remote.client.create<{ status?: { token?: string } }>('/api/v1/namespaces/mesh-system/serviceaccounts/mesh-link-local/token', {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { expirationSeconds: 86400 },
  });
  const kubeconfig = tokenKubeconfig(remote, tr.status?.token ?? '');
  // The Secret as `mesh link` writes it (labelled with its target).
  await local.client.create(secretPath(), {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'cluster-credentials-remote', namespace: 'mesh-system', labels: { 'mesh.io/link-target': 'remote', 'app.kubernetes.io/part-of': 'mesh-federation' } },
    type: 'Opaque',
    data: { kubeconfig: Buffer.from(kubeconfig).toString('base64') },
  });
  await createLink(local, 'remote', { targetClusterName: 'remote', clusterCredentialsSecret: 'cluster-credentials-remote', probe: { period: '60s', failureThreshold: 100 } });
  await ensureNamespace(local, 'shop');
});

after(async () => {
  await stopAll();
  await Promise.all([stopCluster(local), stopCluster(remote)]);
});

test('kubectl delete link while the controller is down: on its next start the shadows and the target ServiceAccount go, and the token left here is dead', async () => {
  const ctl = await startController(local);
  await exportService(remote, 'shop', 'web', { mode: 'flat' });
  await until(() => getService(local, 'shop', 'web-remote'), 'shadow mirrored with the link token');
  const kubeconfig = Buffer.from(((await local.client.get<{ data?: Record<string, string> }>(secretPath('cluster-credentials-remote'))).data?.kubeconfig) ?? '', 'base64').toString();
  await ctl.proc.stop();

  const del = spawnSync('kubectl', ['--kubeconfig', local.api.kubeconfigPath, '-n', 'mesh-system', 'delete', 'link', 'remote', '--wait=false'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(del.status, 0, del.stderr);
  assert.ok((await getLink(local, 'remote'))?.metadata?.deletionTimestamp, 'held by the finalizer while the controller is down');

  const second = await startController(local);
  await until(async () => (await getLink(local, 'remote')) === undefined, 'the Link finalized', 30_000);
  assert.equal(await getService(local, 'shop', 'web-remote'), undefined, 'shadow removed');
  await assert.rejects(remote.client.get('/api/v1/namespaces/mesh-system/serviceaccounts/mesh-link-local'), (e: unknown) => isNotFound(e), 'the target link ServiceAccount is removed');
  // The token the Secret held no longer opens the target.
  const asLink = await KubeClient.create(kubeConfigFromString(kubeconfig));
  try {
    await assert.rejects(asLink.list('/api/v1/services'), (e: { code?: number }) => e.code === 401);
  } finally {
    asLink.close();
  }
  assert.match(second.proc.stderr(), /removed the target link ServiceAccount/);
});
