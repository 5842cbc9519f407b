// The CLI against whole sandbox clusters (`mesh sandbox up`): install runs the rendered manifests as real
// controller/gateway processes, link waits for the real controller's Ready, export makes a shadow appear,
// unlink makes the controller remove it, uninstall leaves nothing. Gateway mode needs `mesh gateway`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { startMesh, stopAll, type Proc } from '../helpers/process.js';
import { KubeClient } from '../../src/kube/index.js';
import { createRoot, writeRoot } from '../../src/trust/index.js';
import { getOrNull } from './clusters.js';

const A = 'cluster-a';
const B = 'cluster-b';
let dir = '';
let sandbox: Proc | undefined;
let kubeconfig = '';
let rootDir = '';
const clients: KubeClient[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mesh-cli-sandbox-'));
  sandbox = startMesh(['sandbox', 'up', '--clusters', `${A},${B}`, '--dir', join(dir, 'sb')], { MESH_LOG_LEVEL: 'warn' });
  const m = await sandbox.waitFor(/^(\{"ready":true.*\})$/m, 90_000);
  kubeconfig = (JSON.parse(m[1]) as { kubeconfig: string }).kubeconfig;
  rootDir = join(dir, 'root');
  await writeRoot(rootDir, createRoot({ trustDomain: 'mesh.local' }));
});
after(async () => {
  for (const c of clients) c.close();
  if (sandbox) {
    const down = startMesh(['sandbox', 'down', '--dir', join(dir, 'sb')]);
    await down.exited;
  }
  await stopAll();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function mesh(args: string[]): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const p = startMesh(args, { KUBECONFIG: kubeconfig, MESH_LOG_LEVEL: 'warn' });
  const code = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

async function client(ctx: string): Promise<KubeClient> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  kc.setCurrentContext(ctx);
  const c = await KubeClient.create(kc, { timeoutMs: 10_000 });
  clients.push(c);
  return c;
}

async function eventually<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

test('install runs the controller from the rendered manifests (ready), in both clusters', async () => {
  const [ra, rb] = await Promise.all([
    mesh(['install', A, '--trust-root', rootDir, '--no-wait']),
    mesh(['install', B, '--trust-root', rootDir, '--no-wait']),
  ]);
  assert.equal(ra.code, 0, ra.stderr);
  assert.equal(rb.code, 0, rb.stderr);
  for (const ctx of [A, B]) {
    const c = await client(ctx);
    await eventually(`mesh-controller ready in ${ctx}`, async () => {
      const d = await c.get<{ status?: { readyReplicas?: number } }>('/apis/apps/v1/namespaces/mesh-system/deployments/mesh-controller');
      return (d.status?.readyReplicas ?? 0) >= 1;
    }, 90_000);
  }
});

test('flat mode: link waits for Ready, an exported Service is mirrored, unlink removes the shadow and every object', async () => {
  const b = await client(B);
  const a = await client(A);
  await b.create('/api/v1/namespaces/default/services', { metadata: { name: 'web' }, spec: { ports: [{ name: 'http', port: 80 }] } });
  const ex = await mesh(['export', 'web', '-n', 'default', '--context', B, '--mode', 'flat']);
  assert.equal(ex.code, 0, ex.stderr);
  const l = await mesh(['link', A, B, '--mode', 'flat', '--wait-timeout', '90s', '-o', 'json']);
  assert.equal(l.code, 0, l.stderr);
  const res = JSON.parse(l.stdout) as { ready: boolean }[];
  assert.equal(res[0].ready, true);
  assert.match(l.stderr, /waiting for Link cluster-b in cluster-a to be Ready/);
  await eventually('shadow web-cluster-b', () => getOrNull(a, '/api/v1/namespaces/default/services/web-cluster-b'));
  const links = await mesh(['links', A, '-o', 'json']);
  const info = JSON.parse(links.stdout) as { target: string; conditions: { type: string; status: string }[]; mirroredServices: number }[];
  assert.equal(info[0].target, B);
  assert.ok(info[0].conditions.some((c) => c.type === 'Ready' && c.status === 'True'), links.stdout);
  await eventually('mirroredServices = 1', async () => {
    const r = await mesh(['links', A, '-o', 'json']);
    return (JSON.parse(r.stdout) as { mirroredServices: number }[])[0].mirroredServices === 1;
  });
  const gws = await mesh(['gateways', A, '-o', 'json']);
  assert.equal(gws.code, 0, gws.stderr);
  const rows = JSON.parse(gws.stdout) as { cluster: string; alive: boolean | null; mirroredServices: number; message?: string }[];
  assert.deepEqual(rows.map((r) => [r.cluster, r.alive, r.mirroredServices]), [[B, null, 1]]);
  assert.match(rows[0].message ?? '', /flat mode: no gateway on the path/);
  const chk = await mesh(['check', A, B, '-o', 'json']);
  const lines = JSON.parse(chk.stdout) as { cluster: string; check: string; ok: boolean; detail: string }[];
  for (const want of ['API reachable', 'CRDs present', 'mesh-controller ready', 'issuer valid', 'issuer chains to root', 'link cluster-b: credentials valid', 'link cluster-b: remote API reachable', 'no shadows without a Link', 'shared trust root']) {
    const line = lines.find((x) => x.check === want && (x.cluster === A || want === 'shared trust root'));
    assert.ok(line?.ok, `${want}: ${JSON.stringify(line)}`);
  }
  // Unexport: the controller removes the shadow.
  const un = await mesh(['unexport', 'web', '-n', 'default', '--context', B]);
  assert.equal(un.code, 0, un.stderr);
  await eventually('shadow removed after unexport', async () => (await getOrNull(a, '/api/v1/namespaces/default/services/web-cluster-b')) === null);
  await mesh(['export', 'web', '-n', 'default', '--context', B, '--mode', 'flat']);
  await eventually('shadow back', () => getOrNull(a, '/api/v1/namespaces/default/services/web-cluster-b'));
  const u = await mesh(['unlink', A, B, '--wait-timeout', '60s']);
  assert.equal(u.code, 0, u.stderr);
  assert.equal(await getOrNull(a, '/api/v1/namespaces/default/services/web-cluster-b'), null);
  assert.equal(await getOrNull(a, '/apis/multicluster.mesh.io/v1alpha1/namespaces/mesh-system/links/cluster-b'), null);
  assert.equal(await getOrNull(b, '/api/v1/namespaces/mesh-system/serviceaccounts/mesh-link-cluster-a'), null);
  assert.doesNotMatch(u.stderr, /removing its finalizer/, 'the controller, not the CLI, removed the shadows');
});

test('gateway mode: link through the gateways is Ready and the gateway probe is alive', async () => {
  // Needs the sandbox kubelet to provide what the gateway Deployment mounts (a projected token with
  // audience identity.mesh.io, the trust-roots ConfigMap) where the gateway process looks for them.
  const ready = await mesh(['install', B, '--trust-root', rootDir, '--wait-timeout', '60s']);
  assert.equal(ready.code, 0, `the gateway of the rendered manifests did not become ready in the sandbox:\n${ready.stderr.split('\n').filter((l) => !/unchanged/.test(l)).join('\n')}`);
  const l = await mesh(['link', A, B, '--wait-timeout', '90s', '-o', 'json']);
  assert.equal(l.code, 0, l.stderr);
  const res = JSON.parse(l.stdout) as { ready: boolean; gateway: string }[];
  assert.equal(res[0].ready, true);
  assert.match(res[0].gateway, /:\d+$/);
  const gw = await mesh(['gateways', A, '-o', 'json']);
  const rows = JSON.parse(gw.stdout) as { cluster: string; alive: boolean }[];
  assert.deepEqual(rows.map((r) => [r.cluster, r.alive]), [[B, true]]);
  const u = await mesh(['unlink', A, B]);
  assert.equal(u.code, 0, u.stderr);
});

test('uninstall removes the mesh from a sandbox cluster, controller processes included', async () => {
  const r = await mesh(['uninstall', A, '--wait-timeout', '30s']);
  assert.equal(r.code, 0, r.stderr);
  const a = await client(A);
  await eventually('controller pods gone', async () => (await a.list('/api/v1/namespaces/mesh-system/pods')).items.length === 0, 60_000).catch(() => undefined);
  assert.equal(await getOrNull(a, '/apis/apps/v1/namespaces/mesh-system/deployments/mesh-controller'), null);
  assert.equal(await getOrNull(a, '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/links.multicluster.mesh.io'), null);
});
