// The CLI against whole sandbox clusters (`mesh sandbox up`, its default network: isolated as root): install
// runs the rendered manifests as real controller/gateway processes, link waits for the real controller's
// Ready and says what flat mode needs, export makes shadows appear (`links -o wide` lists them, cut names
// included), check connects over each path from a pod and fails with a hint until the flat routes exist,
// unlink makes the controller remove the shadows, uninstall leaves nothing. Gateway mode needs `mesh gateway`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { startMesh, stopAll, type Proc } from '../helpers/process.js';
import { KubeClient, applyObject } from '../../src/kube/index.js';
import { createRoot, writeRoot } from '../../src/trust/index.js';
import { shadowName } from '../../src/mirror/index.js';
import { collectionOf, demoApps, DEFAULT_IMAGE } from '../../src/demo/index.js';
import { getOrNull } from './clusters.js';

const A = 'cluster-a';
const B = 'cluster-b';
let dir = '';
let sandbox: Proc | undefined;
let kubeconfig = '';
let rootDir = '';
let mode = '';
const clients: KubeClient[] = [];
const isRoot = process.getuid?.() === 0;
/** 60 characters: its shadow `<name>-cluster-b` is cut to 63 and ends in a hash, not the cluster name. */
const LONG = 'a-service-name-that-is-long-enough-to-need-a-hash-in-shadow1';

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mesh-cli-sandbox-'));
  sandbox = startMesh(['sandbox', 'up', '--clusters', `${A},${B}`, '--dir', join(dir, 'sb')], { MESH_LOG_LEVEL: 'warn' });
  const m = await sandbox.waitFor(/^(\{"ready":true.*\})$/m, 90_000);
  ({ kubeconfig, mode } = JSON.parse(m[1]) as { kubeconfig: string; mode: string });
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

test('sandbox up says first which network it uses and why: isolated when root, as the demo does', () => {
  const first = sandbox!.stderr().split('\n')[0];
  if (isRoot) {
    assert.equal(mode, 'isolated');
    assert.match(first, /^mesh sandbox: isolated network \(running as root: each cluster gets its own network namespace/);
    assert.match(first, /no flat routes: .*--flat-routes or mesh sandbox route --flat/);
  } else {
    assert.equal(mode, 'loopback');
    assert.match(first, /^mesh sandbox: loopback network \(falling back to loopback: the isolated network needs /);
  }
});

/** In B: namespace demo, one web pod behind Services web (gateway), web-flat and a 60-character one (flat); in A: namespace demo. */
async function deployApps(): Promise<void> {
  const b = await client(B);
  const objs = demoApps(B, DEFAULT_IMAGE, 1).filter((o) => o.kind === 'Namespace' || (o.kind === 'Deployment' && o.metadata.name === 'web') || (o.kind === 'Service' && ['web', 'web-flat'].includes(o.metadata.name)));
  const flat = objs.find((o) => o.metadata.name === 'web-flat')!;
  objs.push({ ...flat, metadata: { ...flat.metadata, name: LONG } });
  for (const o of objs) await applyObject(b, collectionOf(o), o);
  // A shadow lives in the namespace of the same name (namespace sameness).
  await (await client(A)).create('/api/v1/namespaces', { metadata: { name: 'demo' } });
  for (const [svc, m] of [['web-flat', 'flat'], [LONG, 'flat']]) {
    const ex = await mesh(['export', svc, '-n', 'demo', '--context', B, '--mode', m]);
    assert.equal(ex.code, 0, ex.stderr);
  }
}

test('flat mode: link says what the network must provide and waits until the shadows exist; links -o wide lists them, the cut name too', async () => {
  await deployApps();
  const a = await client(A);
  const b = await client(B);
  const l = await mesh(['link', A, B, '--mode', 'flat', '--wait-timeout', '90s', '-o', 'json']);
  assert.equal(l.code, 0, l.stderr);
  const res = JSON.parse(l.stdout) as { ready: boolean; notes: string[]; mirrored: { name: string; problem?: string }[] }[];
  assert.equal(res[0].ready, true);
  assert.match(l.stderr, /waiting for Link cluster-b in cluster-a to be Ready/);
  assert.match(l.stderr, /^note: flat mode: cluster-a's pods connect straight to cluster-b's pod IPs, with no gateway on the path, and the mesh adds no routes: the network must route \S+ from cluster-a/m);
  if (mode === 'isolated') assert.match(l.stderr, new RegExp(`^note: these are mesh sandbox clusters in an isolated network: add the routes with mesh sandbox route --flat cluster-a cluster-b --dir ${join(dir, 'sb')} \\(or start the sandbox with --flat-routes\\)`, 'm'));
  // Both flat exports are mirrored, and their shadows exist by the time link returns.
  assert.deepEqual(res[0].mirrored.map((m) => [m.name, m.problem !== undefined]).sort(), [[LONG, false], ['web-flat', false]]);
  const long = shadowName(LONG, B);
  assert.match(long, /^a-service-name-.*-[0-9a-f]{8}$/);
  assert.ok(!long.endsWith(B));
  assert.ok(await getOrNull(a, `/api/v1/namespaces/demo/services/${long}`), `shadow ${long}`);
  assert.ok(await getOrNull(a, '/api/v1/namespaces/demo/services/web-flat-cluster-b'));
  const wide = await mesh(['links', A, '-o', 'wide']);
  assert.equal(wide.code, 0, wide.stderr);
  assert.match(wide.stdout, /^LINK\s+NAMESPACE\s+SHADOW\s+REMOTE SERVICE\s+MODE\s+NOTE$/m);
  assert.match(wide.stdout, new RegExp(`^cluster-b\\s+demo\\s+${long}\\s+${LONG} \\(cluster-b\\)\\s+flat\\s*$`, 'm'));
  assert.match(wide.stdout, /^cluster-b\s+demo\s+web-flat-cluster-b\s+web-flat \(cluster-b\)\s+flat\s*$/m);
  const json = JSON.parse((await mesh(['links', A, '-o', 'json'])).stdout) as { services: { shadow: string }[] }[];
  assert.ok(json[0].services.some((s) => s.shadow === long));
  const gws = await mesh(['gateways', A, '-o', 'json']);
  assert.equal(gws.code, 0, gws.stderr);
  const rows = JSON.parse(gws.stdout) as { cluster: string; alive: boolean | null; message?: string }[];
  assert.deepEqual(rows.map((r) => [r.cluster, r.alive]), [[B, null]]);
  assert.match(rows[0].message ?? '', /flat mode: no gateway on the path/);
  // Unexport: the controller removes the shadow; export again: it is back.
  assert.equal((await mesh(['unexport', LONG, '-n', 'demo', '--context', B])).code, 0);
  await eventually('shadow removed after unexport', async () => (await getOrNull(a, `/api/v1/namespaces/demo/services/${long}`)) === null);
  assert.equal(await getOrNull(b, '/api/v1/namespaces/demo/services/web-cluster-a'), null, 'nothing mirrored the other way');
});

test('check tests the flat data path from a pod: ✘ with the route to add while it is missing, ✔ once it is there', async () => {
  const failedOf = (out: string) => out.split('\n').filter((l) => l.startsWith('✘'));
  if (mode === 'isolated') {
    const before = await mesh(['check', A]);
    assert.equal(before.code, 1, before.stdout);
    assert.deepEqual(failedOf(before.stdout).map((l) => l.replace(/:  ?a pod in.*/, '')), ['✘ cluster-a: link cluster-b: data path (flat)'], before.stdout);
    assert.match(before.stdout, /✘ cluster-a: link cluster-b: data path \(flat\): a pod in cluster-a → demo\/web-flat-cluster-b's endpoint 10\.2\.\d+\.\d+:8080 \(a pod of cluster-b, no gateway\): no route to that address/);
    assert.match(before.stdout, new RegExp(`hint: flat mode needs routes between the clusters' pod networks: .*; in this sandbox: mesh sandbox route --flat cluster-a cluster-b --dir ${join(dir, 'sb')}`));
    assert.match(before.stderr, /mesh: 1 check\(s\) failed/);
    const r = await mesh(['sandbox', 'route', '--flat', A, B, '--dir', join(dir, 'sb')]);
    assert.equal(r.code, 0, r.stderr);
  } else {
    process.stdout.write('SKIP (part): not root, so the sandbox runs on loopback where pods always reach each other; the missing-route ✘ needs the isolated network\n');
  }
  const after = await mesh(['check', A, B]);
  assert.equal(after.code, 0, after.stdout + after.stderr);
  assert.match(after.stdout, /✔ cluster-a: link cluster-b: data path \(flat\): a pod in cluster-a → demo\/web-flat-cluster-b's endpoint \S+:8080 \(a pod of cluster-b, no gateway\): connected/);
  // The check pods are gone again.
  const pods = await (await client(A)).list('/api/v1/namespaces/mesh-system/pods', { labelSelector: 'app.kubernetes.io/name=mesh-check' });
  assert.deepEqual(pods.items.filter((p) => !p.metadata?.deletionTimestamp).map((p) => p.metadata?.name), []);
  const u = await mesh(['unlink', A, B, '--wait-timeout', '60s']);
  assert.equal(u.code, 0, u.stderr);
  const a = await client(A);
  assert.equal(await getOrNull(a, '/api/v1/namespaces/demo/services/web-flat-cluster-b'), null);
  assert.equal(await getOrNull(a, '/apis/multicluster.mesh.io/v1alpha1/namespaces/mesh-system/links/cluster-b'), null);
  assert.equal(await getOrNull(await client(B), '/api/v1/namespaces/mesh-system/serviceaccounts/mesh-link-cluster-a'), null);
  assert.doesNotMatch(u.stderr, /removing its finalizer/, 'the controller, not the CLI, removed the shadows');
});

test('gateway mode: link through the gateways is Ready, the probe is alive, and check connects through the tunnel', async () => {
  // Needs the sandbox kubelet to provide what the gateway Deployment mounts (a projected token with
  // audience identity.mesh.io, the trust-roots ConfigMap) where the gateway process looks for them.
  const ex = await mesh(['export', 'web', '-n', 'demo', '--context', B, '--label']);
  assert.equal(ex.code, 0, ex.stderr);
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
  const chk = await mesh(['check', A]);
  assert.equal(chk.code, 0, chk.stdout + chk.stderr);
  assert.match(chk.stdout, /✔ cluster-a: link cluster-b: data path \(gateway\): a pod in cluster-a → demo\/web-cluster-b's endpoint \S+:\d+ \(cluster-a's gateway, tunnel to cluster-b for demo\/web\): connected, tunnel open 3 s/);
  // The target stops answering: the tunnel fails, the local gateway closes the connection, check says where to look.
  const b = await client(B);
  await b.patch('/apis/apps/v1/namespaces/demo/deployments/web', { spec: { replicas: 0 } });
  await eventually('web has no ready pod in cluster-b', async () => (await b.list('/api/v1/namespaces/demo/pods', { labelSelector: 'app=web' })).items.length === 0);
  const down = await mesh(['check', A]);
  assert.equal(down.code, 1, down.stdout);
  assert.match(down.stdout, /✘ cluster-a: link cluster-b: data path \(gateway\): .*: accepted, then (reset|closed)/);
  assert.match(down.stdout, /hint: cluster-a's gateway accepted but its tunnel to cluster-b failed: mesh gateways cluster-a/);
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
