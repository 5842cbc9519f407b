// GitOps: `install`, `link` and `export` with --dry-run -o yaml print exactly what they would apply, per
// cluster. Each part applied with the real kubectl (server-side apply, as Argo CD and Flux do) gives the
// state the command itself makes: running the command afterwards finds every object unchanged (only the
// link token is new, by design). Embedded API servers, each its own process; no controller runs here.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { parseAllDocuments } from 'yaml';
import { KubeConfig } from '@kubernetes/client-node';
import { stopAll } from '../helpers/process.js';
import { KubeClient } from '../../src/kube/index.js';
import { splitDryRun } from '../../src/cli/dry-run.js';
import { startClusters, getOrNull, type TestClusters } from './clusters.js';

let t: TestClusters;
const A = 'cluster-a';
const B = 'cluster-b';
const NS = '/api/v1/namespaces/mesh-system';
const hasKubectl = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;

before(async () => {
  t = await startClusters([A, B]);
});
after(async () => {
  await stopAll();
  await t?.cleanup();
});

function kubectl(context: string, args: string[], input?: string): { code: number; out: string; err: string } {
  const r = spawnSync('kubectl', ['--kubeconfig', t.kubeconfig, '--context', context, ...args], { input, encoding: 'utf8' });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

function applyPart(context: string, yaml: string): void {
  const r = kubectl(context, ['apply', '--server-side', '--field-manager', 'gitops', '-f', '-'], yaml);
  assert.equal(r.code, 0, `kubectl apply to ${context}: ${r.err}`);
}

function kinds(yaml: string): string[] {
  return parseAllDocuments(yaml).map((d) => d.toJS() as { kind: string; metadata: { name: string } } | null).filter((o) => o !== null).map((o) => `${o.kind}/${o.metadata.name}`);
}

test('install --dry-run -o yaml, applied with kubectl, is what install makes: install then changes nothing and keeps the issuer', async (t2) => {
  if (!hasKubectl) {
    process.stdout.write('SKIP: kubectl is not installed\n');
    return t2.skip('kubectl is not installed');
  }
  const dry = await t.mesh(['install', A, '--trust-root', t.rootDir, '--dry-run', '-o', 'yaml']);
  assert.equal(dry.code, 0, dry.stderr);
  const parts = splitDryRun(dry.stdout);
  assert.deepEqual(parts.map((p) => p.context), [A]);
  assert.ok(kinds(parts[0].yaml).includes('Secret/mesh-issuer'));
  assert.equal(await getOrNull(await t.client(A), `${NS}/secrets/mesh-issuer`), null, 'a dry run writes nothing');
  applyPart(A, parts[0].yaml);
  const run = await t.mesh(['install', A, '--trust-root', t.rootDir, '--no-wait', '-o', 'json']);
  assert.equal(run.code, 0, run.stderr);
  const res = JSON.parse(run.stdout) as { issuer: string; objects: { kind: string; name: string; result: string }[] };
  assert.equal(res.issuer, 'kept');
  assert.deepEqual(res.objects.filter((o) => o.result !== 'unchanged').map((o) => `${o.kind}/${o.name}`), []);
  // On a cluster that has it, the dry run prints the live issuer (what install would keep), byte for byte.
  const again = await t.mesh(['install', A, '--trust-root', t.rootDir, '--dry-run', '-o', 'json']);
  assert.equal(again.code, 0, again.stderr);
  const [part] = JSON.parse(again.stdout) as { context: string; objects: { kind: string; metadata: { name: string }; data?: Record<string, string> }[] }[];
  const issuer = part.objects.find((o) => o.kind === 'Secret' && o.metadata.name === 'mesh-issuer');
  const live = await (await t.client(A)).get<{ data: Record<string, string> }>(`${NS}/secrets/mesh-issuer`);
  assert.deepEqual(issuer?.data, live.data);
});

test('link --dry-run: TARGET\'s part alone until its link identity exists (exit 1, nothing written), then both parts; applied with kubectl they are what link makes', async (t2) => {
  if (!hasKubectl) return t2.skip('kubectl is not installed');
  const inst = await t.mesh(['install', B, '--trust-root', t.rootDir, '--no-wait']);
  assert.equal(inst.code, 0, inst.stderr);
  const b = await t.client(B);
  await b.patch(`${NS}/services/mesh-gateway/status`, { status: { loadBalancer: { ingress: [{ ip: '127.0.2.1' }] } } });

  const first = await t.mesh(['link', A, B, '--dry-run', '-o', 'yaml']);
  assert.equal(first.code, 1, first.stderr);
  assert.match(first.stderr, /mesh: printed cluster-b's part only: cluster-b has no link identity for cluster-a yet/);
  assert.match(first.stderr, /hint: apply it first \(mesh link cluster-a cluster-b --dry-run -o yaml \| kubectl --context cluster-b apply --server-side -f -\), then run this again/);
  const firstParts = splitDryRun(first.stdout);
  assert.deepEqual(firstParts.map((p) => p.context), [B]);
  assert.deepEqual(kinds(firstParts[0].yaml).sort(), ['ClusterRole/mesh-link-cluster-a', 'ClusterRoleBinding/mesh-link-cluster-a', 'Role/mesh-link-cluster-a', 'RoleBinding/mesh-link-cluster-a', 'ServiceAccount/mesh-link-cluster-a']);
  assert.equal(await getOrNull(b, `${NS}/serviceaccounts/mesh-link-cluster-a`), null, 'a dry run writes nothing');
  applyPart(B, firstParts[0].yaml);

  const second = await t.mesh(['link', A, B, '--dry-run', '-o', 'yaml']);
  assert.equal(second.code, 0, second.stderr);
  const parts = splitDryRun(second.stdout);
  assert.deepEqual(parts.map((p) => p.context), [B, A]);
  assert.deepEqual(kinds(parts[1].yaml), ['Secret/cluster-credentials-cluster-b', 'Link/cluster-b']);
  const a = await t.client(A);
  assert.equal(await getOrNull(a, '/apis/multicluster.mesh.io/v1alpha1/namespaces/mesh-system/links/cluster-b'), null);
  applyPart(B, parts[0].yaml);
  applyPart(A, parts[1].yaml);

  // The credentials kubectl applied work against B, as the link identity.
  const secret = await a.get<{ data: { kubeconfig: string } }>(`${NS}/secrets/cluster-credentials-cluster-b`);
  const kc = new KubeConfig();
  kc.loadFromString(Buffer.from(secret.data.kubeconfig, 'base64').toString('utf8'));
  const linkClient = await KubeClient.create(kc, { timeoutMs: 5000 });
  try {
    await linkClient.get('/api/v1/services');
  } finally {
    linkClient.close();
  }
  // Running link now changes nothing but the token (every run refreshes it).
  const run = await t.mesh(['link', A, B, '--no-wait']);
  assert.equal(run.code, 0, run.stderr);
  const results = run.stderr.split('\n').filter((l) => /^✔ cluster-[ab]: \w+ .* (created|updated|unchanged)$/.test(l));
  assert.deepEqual(results.filter((l) => !/ unchanged$/.test(l)), ['✔ cluster-a: Secret mesh-system/cluster-credentials-cluster-b updated']);
  assert.equal(results.length, 7, run.stderr);
});

test('export --dry-run prints the Service\'s name and the label only; applied with kubectl, export finds it done and the Service is otherwise untouched', async (t2) => {
  if (!hasKubectl) return t2.skip('kubectl is not installed');
  const b = await t.client(B);
  await b.create('/api/v1/namespaces/default/services', { metadata: { name: 'web', labels: { app: 'web' } }, spec: { ports: [{ name: 'http', port: 8080 }] } });
  const dry = await t.mesh(['export', 'web', '-n', 'default', '--context', B, '--mode', 'flat', '--dry-run', '-o', 'yaml']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.equal(dry.stdout, '# cluster: cluster-b\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: default\n  labels:\n    mirror.mesh.io/exported: flat\n');
  assert.equal(((await b.get<{ metadata: { labels: Record<string, string> } }>('/api/v1/namespaces/default/services/web')).metadata.labels)['mirror.mesh.io/exported'], undefined);
  applyPart(B, splitDryRun(dry.stdout)[0].yaml);
  const run = await t.mesh(['export', 'web', '-n', 'default', '--context', B, '--mode', 'flat']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, 'cluster-b: Service default/web exported (mirror.mesh.io/exported=flat) (unchanged)\n');
  const svc = await b.get<{ metadata: { labels: Record<string, string> }; spec: { ports: { port: number }[] } }>('/api/v1/namespaces/default/services/web');
  assert.deepEqual(svc.metadata.labels, { app: 'web', 'mirror.mesh.io/exported': 'flat' });
  assert.deepEqual(svc.spec.ports.map((p) => p.port), [8080]);
  // Bad input is still refused before anything is printed.
  const missing = await t.mesh(['export', 'nope', '-n', 'default', '--context', B, '--dry-run']);
  assert.equal(missing.code, 1);
  assert.equal(missing.stdout, '');
  assert.match(missing.stderr, /Service default\/nope not found/);
});
