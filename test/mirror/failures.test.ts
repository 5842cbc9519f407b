// Failure domains: the remote API server going away and coming back, 410 relists, credentials rotated,
// revoked and renewed. Shadows are kept while the remote is in trouble and converge once it is back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { stopAll } from '../helpers/process.js';
import { resourcePath, type KubeObject } from '../../src/kube/index.js';
import {
  startCluster, stopCluster, prepareLocal, putSecret, createLink, exportService, getService, until, startController,
  getLink, condition, ensureNamespace, svcPath, secretPath, tokenKubeconfig, type Cluster, type ControllerProc,
} from './env.js';

let local: Cluster;
let remote: Cluster;
let ctl: ControllerProc;

async function linkToken(): Promise<string> {
  const r = await remote.client.create<{ status: { token: string } }>(
    `${resourcePath({ version: 'v1', plural: 'serviceaccounts', namespace: 'mesh-system', name: 'mesh-link-local' })}/token`,
    { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 600 } },
  );
  return r.status.token;
}

async function createLinkIdentity(): Promise<void> {
  await remote.client.create(resourcePath({ version: 'v1', plural: 'serviceaccounts', namespace: 'mesh-system' }), { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'mesh-link-local', namespace: 'mesh-system' } });
}

before(async () => {
  // The remote keeps a tiny watch window and no bookmarks, so a re-watch after churn gets 410 Gone.
  [local, remote] = await Promise.all([startCluster('local'), startCluster('remote', ['--watch-window', '20', '--bookmark-interval', '600000'])]);
  await prepareLocal(local);
  await ensureNamespace(remote, 'mesh-system');
  await createLinkIdentity();
  await remote.client.create('/apis/rbac.authorization.k8s.io/v1/clusterroles', {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'mesh-link-local' },
    rules: [
      { apiGroups: [''], resources: ['services'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['serviceaccounts/token'], resourceNames: ['mesh-link-local'], verbs: ['create'] },
    ],
  });
  await remote.client.create('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'mesh-link-local' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'mesh-link-local' },
    subjects: [{ kind: 'ServiceAccount', name: 'mesh-link-local', namespace: 'mesh-system' }],
  });
  await putSecret(local, 'cluster-credentials-remote', tokenKubeconfig(remote, await linkToken()));
  await createLink(local, 'remote', { targetClusterName: 'remote', clusterCredentialsSecret: 'cluster-credentials-remote', flatSelector: { matchLabels: { 'mirror.mesh.io/exported': 'flat' } } });
  await ensureNamespace(local, 'app');
  // Short watches (so a re-watch can hit 410) and an early token renewal.
  ctl = await startControllerWithEnv();
});

async function startControllerWithEnv(): Promise<ControllerProc> {
  const prev = { w: process.env.MESH_WATCH_TIMEOUT_SECONDS, r: process.env.MESH_TOKEN_RENEW_AFTER_MS };
  process.env.MESH_WATCH_TIMEOUT_SECONDS = '1';
  process.env.MESH_TOKEN_RENEW_AFTER_MS = '4000';
  try {
    return await startController(local);
  } finally {
    if (prev.w === undefined) delete process.env.MESH_WATCH_TIMEOUT_SECONDS;
    else process.env.MESH_WATCH_TIMEOUT_SECONDS = prev.w;
    if (prev.r === undefined) delete process.env.MESH_TOKEN_RENEW_AFTER_MS;
    else process.env.MESH_TOKEN_RENEW_AFTER_MS = prev.r;
  }
}

after(async () => {
  await stopAll();
  await Promise.all([stopCluster(local), stopCluster(remote)]);
});

test('mirrors with a ServiceAccount token (least privilege) and renews the token into the Secret before expiry', async () => {
  const first = await local.client.get<KubeObject & { data: { kubeconfig: string } }>(secretPath('cluster-credentials-remote'));
  await exportService(remote, 'app', 'a', { mode: 'flat' });
  await until(() => getService(local, 'app', 'a-remote'), 'shadow with SA credentials');
  const renewed = await until(async () => {
    const s = await local.client.get<KubeObject & { data: { kubeconfig: string } }>(secretPath('cluster-credentials-remote'));
    return s.data.kubeconfig !== first.data.kubeconfig ? s : undefined;
  }, 'renewed token written back', 20_000);
  const text = Buffer.from(renewed.data.kubeconfig, 'base64').toString();
  const token = /token: (\S+)/.exec(text)?.[1] ?? '';
  const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { sub: string };
  assert.equal(claims.sub, 'system:serviceaccount:mesh-system:mesh-link-local');
  // Still mirroring with the renewed token.
  await exportService(remote, 'app', 'after-renewal', { mode: 'flat' });
  await until(() => getService(local, 'app', 'after-renewal-remote'), 'shadow after renewal');
});

test('410 Gone on re-watch → relist, and changes still converge', async () => {
  // Churn on an unwatched resource pushes the remote resourceVersion past the 20-event window.
  for (let i = 0; i < 30; i++) await remote.client.create(resourcePath({ version: 'v1', plural: 'configmaps', namespace: 'app' }), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `churn-${i}`, namespace: 'app' } });
  await until(async () => /mesh_informer_watch_restarts_total\{informer="remote:remote:services",reason="gone"\} [1-9]/.test(await ctl.metrics()), '410 relist counted', 20_000);
  await exportService(remote, 'app', 'after-gone', { mode: 'flat' });
  await until(() => getService(local, 'app', 'after-gone-remote'), 'shadow after 410 relist');
});

test('remote API server down: shadows kept and RemoteAPIReachable=False; back up: converges', async () => {
  const before = await getService(local, 'app', 'a-remote');
  assert.ok(before);
  await remote.api.proc.stop();
  const link = await until(async () => {
    const l = await getLink(local, 'remote');
    return condition(l, 'RemoteAPIReachable')?.status === 'False' ? l : undefined;
  }, 'RemoteAPIReachable=False');
  assert.equal(condition(link, 'Ready')?.status, 'False');
  await new Promise((r) => setTimeout(r, 1500));
  const during = await getService(local, 'app', 'a-remote');
  assert.equal(during?.metadata?.resourceVersion, before.metadata?.resourceVersion, 'shadow untouched while the remote is down');
  assert.match(await ctl.metrics(), /mesh_mirror_remote_api_reachable\{link="remote"\} 0/);
  await remote.api.restart();
  remote.client.close();
  remote.client = await (await import('../../src/kube/index.js')).KubeClient.create(remote.api.kubeConfig);
  await until(async () => condition(await getLink(local, 'remote'), 'RemoteAPIReachable')?.status === 'True', 'reachable again', 30_000);
  await remote.client.delete(svcPath('app', 'a'));
  await exportService(remote, 'app', 'after-restart', { mode: 'flat' });
  await until(async () => (await getService(local, 'app', 'a-remote')) === undefined, 'deleted remote service removed after recovery');
  await until(() => getService(local, 'app', 'after-restart-remote'), 'new service mirrored after recovery');
});

test('credentials revoked: CredentialsValid=False, shadows kept; rotated to a new token: converges without a restart', async () => {
  const kept = await until(() => getService(local, 'app', 'after-restart-remote'), 'existing shadow');
  // Revoke: deleting the ServiceAccount invalidates every token issued for it.
  await remote.client.delete(resourcePath({ version: 'v1', plural: 'serviceaccounts', namespace: 'mesh-system', name: 'mesh-link-local' }));
  // Force the controller to notice (a watch reconnect or a relist hits 401).
  await until(async () => condition(await getLink(local, 'remote'), 'CredentialsValid')?.status === 'False', 'CredentialsValid=False', 30_000);
  const l = await getLink(local, 'remote');
  assert.match(condition(l, 'CredentialsValid')?.reason ?? '', /Unauthorized/);
  assert.ok(await getService(local, 'app', 'after-restart-remote'), 'shadow kept while credentials fail');
  assert.equal((await getService(local, 'app', 'after-restart-remote'))?.metadata?.uid, kept.metadata?.uid);
  // Rotate: a new ServiceAccount token in the Secret.
  await createLinkIdentity();
  await putSecret(local, 'cluster-credentials-remote', tokenKubeconfig(remote, await linkToken()));
  await until(async () => condition(await getLink(local, 'remote'), 'CredentialsValid')?.status === 'True', 'CredentialsValid=True after rotation', 30_000);
  await exportService(remote, 'app', 'after-rotation', { mode: 'flat' });
  await until(() => getService(local, 'app', 'after-rotation-remote'), 'mirroring with rotated credentials');
  assert.equal(ctl.proc.child.exitCode, null, 'no restart was needed');
});

test('credentials Secret deleted: reported with a reason, shadows kept', async () => {
  await local.client.delete(secretPath('cluster-credentials-remote'));
  const l = await until(async () => {
    const x = await getLink(local, 'remote');
    return condition(x, 'CredentialsValid')?.reason === 'SecretNotFound' ? x : undefined;
  }, 'SecretNotFound');
  assert.equal(condition(l, 'Ready')?.status, 'False');
  assert.ok(await getService(local, 'app', 'after-rotation-remote'));
});
