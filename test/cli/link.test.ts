// mesh install / link / unlink against real embedded API servers (each its own process), through the
// real CLI process. No controller runs here, so links are made with --no-wait; the sandbox test covers Ready.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { writeFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { stopAll } from '../helpers/process.js';
import { KubeClient } from '../../src/kube/index.js';
import { parseLinkSpec } from '../../src/mirror/index.js';
import { startClusters, getOrNull, type TestClusters } from './clusters.js';
import { link as linkInProcess } from '../../src/cli/cmd-link.js';
import { silentProgress } from '../../src/cli/common.js';
import { CliError } from '../../src/cli/errors.js';

let t: TestClusters;
const A = 'cluster-a';
const B = 'cluster-b';
const C = 'cluster-c';
const NS = '/api/v1/namespaces/mesh-system';
const RBAC = '/apis/rbac.authorization.k8s.io/v1';
const LINKS = '/apis/multicluster.mesh.io/v1alpha1/namespaces/mesh-system/links';

before(async () => {
  t = await startClusters([A, B, C]);
  const installs = await Promise.all([
    t.mesh(['install', A, '--trust-root', t.rootDir, '--no-wait']),
    t.mesh(['install', B, '--trust-root', t.rootDir, '--no-wait']),
    t.mesh(['install', C, '--trust-root', t.foreignRootDir, '--no-wait']),
  ]);
  for (const r of installs) assert.equal(r.code, 0, r.stderr);
  // B's gateway gets a LoadBalancer address, as a cloud (or the sandbox) would give it.
  const b = await t.client(B);
  await b.patch(`${NS}/services/mesh-gateway/status`, { status: { loadBalancer: { ingress: [{ ip: '127.0.2.1' }] } } });
  const a = await t.client(A);
  await a.patch(`${NS}/services/mesh-gateway/status`, { status: { loadBalancer: { ingress: [{ hostname: 'gw.cluster-a.test' }] } } });
});
after(async () => {
  await stopAll();
  await t?.cleanup();
});

async function targetObjects(c: KubeClient, source: string): Promise<string[]> {
  const paths = [
    `${NS}/serviceaccounts/mesh-link-${source}`,
    `${RBAC}/clusterroles/mesh-link-${source}`,
    `${RBAC}/clusterrolebindings/mesh-link-${source}`,
    `${RBAC}/namespaces/mesh-system/roles/mesh-link-${source}`,
    `${RBAC}/namespaces/mesh-system/rolebindings/mesh-link-${source}`,
  ];
  const out: string[] = [];
  for (const p of paths) if (await getOrNull(c, p)) out.push(p);
  return out;
}

async function sourceObjects(c: KubeClient, target: string): Promise<string[]> {
  const out: string[] = [];
  for (const p of [`${NS}/secrets/cluster-credentials-${target}`, `${LINKS}/${target}`]) if (await getOrNull(c, p)) out.push(p);
  return out;
}

function secretKubeconfig(secret: Record<string, unknown>): { server: string; token: string; text: string } {
  const text = Buffer.from((secret.data as Record<string, string>).kubeconfig, 'base64').toString('utf8');
  const kc = parse(text) as { clusters: { cluster: { server: string } }[]; users: { user: { token: string } }[] };
  return { server: kc.clusters[0].cluster.server, token: kc.users[0].user.token, text };
}

test('link writes a least-privilege identity in TARGET and a working credentials Secret + valid Link in SOURCE', async () => {
  const r = await t.mesh(['link', A, B, '--no-wait', '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { source: string; target: string; gateway: string }[];
  assert.deepEqual(out.map((o) => [o.source, o.target, o.gateway]), [[A, B, '127.0.2.1:4143']]);
  assert.match(r.stderr, /share trust root/);
  const a = await t.client(A);
  const b = await t.client(B);
  assert.equal((await targetObjects(b, A)).length, 5);
  const link = await getOrNull(a, `${LINKS}/${B}`);
  assert.ok(link);
  const spec = parseLinkSpec(link.spec);
  assert.ok(spec.ok, JSON.stringify(spec));
  assert.equal(spec.spec.targetClusterName, B);
  assert.deepEqual(spec.spec.gateway?.addresses, ['127.0.2.1']);
  assert.equal(spec.spec.gateway?.identity, 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway');
  // The token works against B, and only for what the link needs (real RBAC in B's API server).
  const secret = await getOrNull(a, `${NS}/secrets/cluster-credentials-${B}`);
  assert.ok(secret);
  const { server, text } = secretKubeconfig(secret);
  assert.equal(server, t.servers.get(B)?.url);
  const kc = new KubeConfig();
  kc.loadFromString(text);
  const linkClient = await KubeClient.create(kc, { timeoutMs: 5000 });
  try {
    await linkClient.get('/api/v1/services');
    await linkClient.get('/apis/discovery.k8s.io/v1/endpointslices');
    await assert.rejects(linkClient.get(`${NS}/secrets`), (e: { code?: number }) => e.code === 403);
    await assert.rejects(linkClient.create('/api/v1/namespaces/default/services', { metadata: { name: 'x' }, spec: { ports: [{ port: 1 }] } }), (e: { code?: number }) => e.code === 403);
    await assert.rejects(linkClient.create(`${NS}/serviceaccounts/mesh-controller/token`, { spec: {} }), (e: { code?: number }) => e.code === 403);
    const own = await linkClient.create<{ status: { token: string } }>(`${NS}/serviceaccounts/mesh-link-${A}/token`, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } });
    assert.ok(own.status.token.length > 20, 'the link identity can renew its own token');
  } finally {
    linkClient.close();
  }
});

test('re-running link refreshes the token (rotation) and changes nothing else', async () => {
  const a = await t.client(A);
  const before = secretKubeconfig((await getOrNull(a, `${NS}/secrets/cluster-credentials-${B}`))!).token;
  const r = await t.mesh(['link', A, B, '--no-wait']);
  assert.equal(r.code, 0, r.stderr);
  const afterTok = secretKubeconfig((await getOrNull(a, `${NS}/secrets/cluster-credentials-${B}`))!).token;
  assert.notEqual(afterTok, before);
  assert.match(r.stderr, /ServiceAccount mesh-system\/mesh-link-cluster-a unchanged/);
});

test('a context without permission gets a clear "permission denied" (exit 1), not a crash', async () => {
  // The link identity as a context: it may read Services in B, nothing in mesh-system.
  const a = await t.client(A);
  const { text } = secretKubeconfig((await getOrNull(a, `${NS}/secrets/cluster-credentials-${B}`))!);
  const path = `${t.dir}/limited-kubeconfig`;
  writeFileSync(path, text);
  const r = await t.mesh(['links', B, '--kubeconfig', path]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /mesh: cluster-b: permission denied while listing Links: .*403/);
  assert.match(r.stderr, /hint: the credentials of context cluster-b lack this permission/);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace');
});

test('unlink leaves nothing behind in either cluster (shadows included)', async () => {
  const a = await t.client(A);
  const b = await t.client(B);
  // A shadow as the controller would have made it (no controller runs here).
  await a.create('/api/v1/namespaces/default/services', {
    metadata: { name: 'web-cluster-b', labels: { 'mirror.mesh.io/mirrored-service': 'true', 'mirror.mesh.io/cluster-name': B } },
    spec: { ports: [{ port: 80 }] },
  });
  const old = secretKubeconfig((await getOrNull(a, `${NS}/secrets/cluster-credentials-${B}`))!);
  const r = await t.mesh(['unlink', A, B, '--wait-timeout', '2s']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await targetObjects(b, A), []);
  assert.deepEqual(await sourceObjects(a, B), []);
  assert.equal(await getOrNull(a, '/api/v1/namespaces/default/services/web-cluster-b'), null);
  // The identity is gone, and with it the token: it no longer works against B.
  const kc = new KubeConfig();
  kc.loadFromString(old.text);
  const revoked = await KubeClient.create(kc, { timeoutMs: 5000 });
  try {
    await assert.rejects(revoked.get('/api/v1/services'), (e: { code?: number }) => e.code === 401);
  } finally {
    revoked.close();
  }
});

test('link refuses clusters with different trust roots, explains, and writes nothing', async () => {
  const r = await t.mesh(['link', A, C, '--no-wait']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /refusing to link: cluster-a and cluster-c do not share a trust root/);
  assert.match(r.stderr, /hint: install both clusters with the same --trust-root/);
  assert.deepEqual(await targetObjects(await t.client(C), A), []);
  assert.deepEqual(await sourceObjects(await t.client(A), C), []);
});

test('a failure in SOURCE after TARGET steps rolls back TARGET too', async () => {
  const a = await t.client(A);
  const b = await t.client(B);
  // No Link CRD in A: the Link write fails after the target identity and the Secret are made.
  await a.delete('/apis/apiextensions.k8s.io/v1/customresourcedefinitions/links.multicluster.mesh.io');
  try {
    const r = await t.mesh(['link', A, B, '--no-wait']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /every step was rolled back/);
    assert.match(r.stderr, /rolled back: cluster-b: ServiceAccount mesh-system\/mesh-link-cluster-a deleted/);
    assert.deepEqual(await targetObjects(b, A), []);
    assert.deepEqual(await sourceObjects(a, B), []);
  } finally {
    const re = await t.mesh(['install', A, '--trust-root', t.rootDir, '--no-wait']);
    assert.equal(re.code, 0, re.stderr);
  }
});

test('killing TARGET\'s API server between steps: SOURCE untouched, leftovers named, unlink finishes the job', async () => {
  const target = t.servers.get(B)!;
  let killed = false;
  const err = await linkInProcess(A, B, { kubeconfig: t.kubeconfig, mode: 'gateway', both: false, output: 'table', wait: false, waitTimeout: 5, dryRun: false }, silentProgress, {
    async afterStep(step) {
      if (step === 'target:ClusterRole' && !killed) {
        killed = true;
        await target.proc.stop();
      }
    },
  }).then(() => undefined, (e: unknown) => e);
  assert.ok(killed);
  assert.ok(err instanceof CliError, String(err));
  assert.equal(err.exitCode, 1);
  assert.match(err.message, /cluster-b: cannot reach the API server while applying ClusterRoleBinding/);
  assert.match(err.message, /still left: .*ServiceAccount mesh-system\/mesh-link-cluster-a/);
  assert.deepEqual(await sourceObjects(await t.client(A), B), []);
  await target.restart();
  t.writeKubeconfig();
  const b = await t.client(B);
  assert.ok((await targetObjects(b, A)).length > 0, 'the leftovers are really there');
  const r = await t.mesh(['unlink', A, B, '--wait-timeout', '1s']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await targetObjects(b, A), []);
});

test('link --both links both ways; unlink --both removes both', async () => {
  const a = await t.client(A);
  const b = await t.client(B);
  const r = await t.mesh(['link', A, B, '--both', '--no-wait', '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  // Each direction uses the other cluster's own gateway address (IP for B, hostname for A).
  assert.deepEqual((JSON.parse(r.stdout) as { source: string; gateway: string }[]).map((x) => [x.source, x.gateway]), [[A, '127.0.2.1:4143'], [B, 'gw.cluster-a.test:4143']]);
  assert.equal((await sourceObjects(a, B)).length, 2);
  assert.equal((await sourceObjects(b, A)).length, 2);
  const u = await t.mesh(['unlink', A, B, '--both', '--wait-timeout', '1s']);
  assert.equal(u.code, 0, u.stderr);
  assert.deepEqual([...(await sourceObjects(a, B)), ...(await sourceObjects(b, A)), ...(await targetObjects(a, B)), ...(await targetObjects(b, A))], []);
});

test('link --both is both ways or neither: a failing reverse link undoes the forward one', async () => {
  const a = await t.client(A);
  const b = await t.client(B);
  await b.delete('/apis/apiextensions.k8s.io/v1/customresourcedefinitions/links.multicluster.mesh.io');
  try {
    const r = await t.mesh(['link', A, B, '--both', '--no-wait']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /reverse link failed; removing cluster-a → cluster-b as well/);
    assert.deepEqual([...(await sourceObjects(a, B)), ...(await targetObjects(b, A)), ...(await targetObjects(a, B))], []);
    assert.equal(await getOrNull(b, `${NS}/secrets/cluster-credentials-${A}`), null);
  } finally {
    const re = await t.mesh(['install', B, '--trust-root', t.rootDir, '--no-wait']);
    assert.equal(re.code, 0, re.stderr);
  }
});

test('NodePort fallback: without a LoadBalancer address, the gateway is reached on the nodes\' NodePort', async () => {
  const a = await t.client(A);
  const c = await t.client(C);
  // C: a NodePort gateway (as on kind) and a node reporting its address, as a kubelet would.
  const re = await t.mesh(['install', C, '--trust-root', t.foreignRootDir, '--no-wait', '--gateway-service-type', 'NodePort']);
  assert.equal(re.code, 0, re.stderr);
  await c.create('/api/v1/nodes', { metadata: { name: 'node-1' } }).catch(() => undefined);
  await c.patch('/api/v1/nodes/node-1/status', { status: { addresses: [{ type: 'InternalIP', address: '127.0.9.9' }, { type: 'Hostname', address: 'node-1' }] } });
  const svc = await c.get<{ spec: { ports: { name: string; nodePort?: number }[] } }>(`${NS}/services/mesh-gateway`);
  const nodePort = svc.spec.ports.find((p) => p.name === 'tunnel')?.nodePort;
  assert.ok(nodePort, 'the API server allocated a nodePort');
  // C trusts another root, so link would refuse; give A's root to C for this test.
  const rootC = await t.mesh(['uninstall', C, '--wait-timeout', '1s']);
  assert.equal(rootC.code, 0, rootC.stderr);
  const inst = await t.mesh(['install', C, '--trust-root', t.rootDir, '--no-wait', '--gateway-service-type', 'NodePort']);
  assert.equal(inst.code, 0, inst.stderr);
  const svc2 = await c.get<{ spec: { ports: { name: string; nodePort?: number }[] } }>(`${NS}/services/mesh-gateway`);
  const port2 = svc2.spec.ports.find((p) => p.name === 'tunnel')?.nodePort;
  const r = await t.mesh(['link', A, C, '--no-wait', '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { gateway: string }[])[0].gateway, `127.0.9.9:${port2}`);
  assert.match(r.stderr, /gateway at 127\.0\.9\.9:\d+ \(NodePort\)/);
  const spec = (await getOrNull(a, `${LINKS}/${C}`))?.spec as { gateway: { addresses: string[]; port: number } };
  assert.deepEqual(spec.gateway, { addresses: ['127.0.9.9'], port: port2, identity: 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway' });
  const u = await t.mesh(['unlink', A, C, '--wait-timeout', '1s']);
  assert.equal(u.code, 0, u.stderr);
});

test('usage errors exit 2 with a clear message', async () => {
  const unknown = await t.mesh(['link', A, 'no-such-context', '--no-wait']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /context no-such-context not found/);
  assert.match(unknown.stderr, /hint: list the contexts/);
  const badMode = await t.mesh(['link', A, B, '--mode', 'warp']);
  assert.equal(badMode.code, 2);
  const missing = await t.mesh(['link', A]);
  assert.equal(missing.code, 2);
  const badSel = await t.mesh(['link', A, B, '--selector', 'app in (x)']);
  assert.equal(badSel.code, 2);
  assert.match(badSel.stderr, /not key=value/);
  const bothAddr = await t.mesh(['link', A, B, '--both', '--gateway-address', '127.0.0.9:4143']);
  assert.equal(bothAddr.code, 2);
  assert.match(bothAddr.stderr, /--both cannot take --api-server-address or --gateway-address/);
  const flat = await t.mesh(['link', A, A, '--no-wait', '--mode', 'flat']);
  assert.equal(flat.code, 2);
  assert.match(flat.stderr, /same cluster/);
});
