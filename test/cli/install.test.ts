// mesh install / uninstall against an embedded API server, and --dry-run without any cluster.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { parseAllDocuments } from 'yaml';
import { stopAll, startMesh } from '../helpers/process.js';
import type { KubeClient } from '../../src/kube/index.js';
import { startClusters, getOrNull, type TestClusters } from './clusters.js';

let t: TestClusters;
let a: KubeClient;
const A = 'cluster-a';
const B = 'cluster-b';

before(async () => {
  t = await startClusters([A, B]);
  a = await t.client(A);
});
after(async () => {
  await stopAll();
  await t?.cleanup();
});

test('install --dry-run -o yaml prints every object, issuer included, and needs no cluster', async () => {
  const r = await t.mesh(['install', 'nowhere', '--cluster-name', 'east', '--trust-root', t.rootDir, '--dry-run', '-o', 'yaml', '--ha'], { KUBECONFIG: '/nonexistent' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^# cluster: nowhere\n---\n/);
  assert.match(r.stderr, /note: nowhere cannot be read \(.*\): the issuer printed is a new one/);
  const objs = parseAllDocuments(r.stdout).map((d) => d.toJS() as { kind: string; metadata: { name: string }; spec?: { replicas?: number } } | null).filter((o) => o !== null);
  const names = objs.map((o) => `${o.kind}/${o.metadata.name}`);
  for (const want of ['CustomResourceDefinition/links.multicluster.mesh.io', 'Namespace/mesh-system', 'Secret/mesh-issuer', 'ConfigMap/mesh-trust-roots', 'Deployment/mesh-controller', 'Deployment/mesh-gateway']) assert.ok(names.includes(want), `${want} missing`);
  assert.equal(objs.find((o) => o.kind === 'Deployment' && o.metadata.name === 'mesh-controller')?.spec?.replicas, 2);
});

test('install is idempotent: a second run changes nothing and keeps the issuer', async () => {
  const first = await t.mesh(['install', A, '--trust-root', t.rootDir, '--no-wait', '-o', 'json']);
  assert.equal(first.code, 0, first.stderr);
  const issuer1 = (await getOrNull(a, '/api/v1/namespaces/mesh-system/secrets/mesh-issuer'))?.data;
  const second = await t.mesh(['install', A, '--trust-root', t.rootDir, '--no-wait', '-o', 'json']);
  assert.equal(second.code, 0, second.stderr);
  const r = JSON.parse(second.stdout) as { issuer: string; objects: { kind: string; name: string; result: string }[] };
  assert.equal(r.issuer, 'kept');
  assert.deepEqual(r.objects.filter((o) => o.result !== 'unchanged'), []);
  assert.deepEqual((await getOrNull(a, '/api/v1/namespaces/mesh-system/secrets/mesh-issuer'))?.data, issuer1);
});

test('install prints each object once: on stderr as it goes, one summary line on stdout (every object again only with -o)', async () => {
  const r = await t.mesh(['install', A, '--trust-root', t.rootDir, '--no-wait']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^cluster-a: \d+ objects applied \(0 created, 0 updated, \d+ unchanged\); issuer kept\n$/);
  const perObject = r.stderr.split('\n').filter((l) => / unchanged$/.test(l));
  assert.ok(perObject.includes('✔ Deployment mesh-system/mesh-controller unchanged'), r.stderr);
  assert.equal(new Set(perObject).size, perObject.length, 'no object twice on stderr');
  assert.equal(Number(/(\d+) objects applied/.exec(r.stdout)?.[1]), perObject.length, 'the summary counts what stderr listed');
  assert.doesNotMatch(r.stdout, /mesh-controller/, 'stdout does not repeat the objects');
});

test('upgrade in place: --ha changes only what it should', async () => {
  const r = await t.mesh(['install', A, '--trust-root', t.rootDir, '--no-wait', '--ha', '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const changed = (JSON.parse(r.stdout) as { objects: { kind: string; name: string; result: string }[] }).objects.filter((o) => o.result !== 'unchanged').map((o) => `${o.kind}/${o.name}`);
  assert.deepEqual(changed.sort(), ['Deployment/mesh-controller', 'Deployment/mesh-dns', 'Deployment/mesh-gateway']);
  const d = await a.get<{ spec: { replicas: number; template: { spec: { containers: { args: string[] }[] } } } }>('/apis/apps/v1/namespaces/mesh-system/deployments/mesh-controller');
  assert.equal(d.spec.replicas, 2);
  assert.ok(d.spec.template.spec.containers[0].args.includes('--ha'));
});

test('install refuses a different cluster name, a missing root, and bad values', async () => {
  const other = await t.mesh(['install', A, '--cluster-name', 'other', '--trust-root', t.rootDir, '--no-wait']);
  assert.equal(other.code, 1);
  assert.match(other.stderr, /already installed as cluster cluster-a/);
  const noRoot = await t.mesh(['install', A, '--no-wait']);
  assert.equal(noRoot.code, 2);
  assert.match(noRoot.stderr, /--trust-root DIR is required/);
  const badRoot = await t.mesh(['install', A, '--trust-root', t.dir, '--no-wait']);
  assert.equal(badRoot.code, 1);
  assert.match(badRoot.stderr, /cannot read the trust root/);
  const badType = await t.mesh(['install', A, '--trust-root', t.rootDir, '--gateway-service-type', 'ClusterIP']);
  assert.equal(badType.code, 2);
  const badName = await t.mesh(['install', A, '--cluster-name', 'Not_A_Label', '--trust-root', t.rootDir]);
  assert.equal(badName.code, 2);
});

test('install waits for readiness with progress, and times out with exit 1 and a hint', async () => {
  const timeout = await t.mesh(['install', B, '--trust-root', t.rootDir, '--wait-timeout', '2s']);
  assert.equal(timeout.code, 1);
  assert.match(timeout.stderr, /… mesh-controller: 0\/1 ready/);
  assert.match(timeout.stderr, /not ready after 2s/);
  assert.match(timeout.stderr, /hint: kubectl --context cluster-b -n mesh-system describe deployment/);
  // Now a "kubelet" makes them ready while install waits.
  const b = await t.client(B);
  const p = startMesh(['install', B, '--trust-root', t.rootDir, '--wait-timeout', '60s'], { KUBECONFIG: t.kubeconfig });
  await p.waitFor(/mesh-controller: 0\/1 ready/);
  for (const d of ['mesh-controller', 'mesh-gateway']) {
    const path = `/apis/apps/v1/namespaces/mesh-system/deployments/${d}`;
    const live = await b.get<{ metadata: { generation?: number } }>(path);
    await b.patch(`${path}/status`, { status: { replicas: 1, readyReplicas: 1, updatedReplicas: 1, observedGeneration: live.metadata.generation ?? 1 } });
  }
  assert.equal(await p.exited, 0, p.stderr());
  assert.match(p.stderr(), /✔ mesh-gateway: 1\/1 ready/);
  assert.match(p.stdout(), /controller and gateway ready/);
});

test('uninstall removes everything: Links, shadows, link identities, the install itself', async () => {
  for (const c of [A, B]) await (await t.client(c)).patch('/api/v1/namespaces/mesh-system/services/mesh-gateway/status', { status: { loadBalancer: { ingress: [{ ip: '127.0.2.1' }] } } });
  const l = await t.mesh(['link', A, B, '--no-wait', '--both']);
  assert.equal(l.code, 0, l.stderr);
  await a.create('/api/v1/namespaces/default/services', { metadata: { name: 'web-cluster-b', labels: { 'mirror.mesh.io/mirrored-service': 'true', 'mirror.mesh.io/cluster-name': B } }, spec: { ports: [{ port: 80 }] } });
  // A Service of A's own, exported to other clusters, with a label of its owner's beside the mesh's.
  await a.create('/api/v1/namespaces/default/services', { metadata: { name: 'shop', labels: { app: 'shop', 'mirror.mesh.io/exported': 'true' } }, spec: { ports: [{ port: 80 }] } });
  const r = await t.mesh(['uninstall', A, '--wait-timeout', '1s']);
  assert.equal(r.code, 0, r.stderr);
  // The README says nothing is left behind but the user's own things: the export label goes, the Service stays.
  const shop = await getOrNull(a, '/api/v1/namespaces/default/services/shop');
  assert.deepEqual((shop?.metadata as { labels?: Record<string, string> }).labels, { app: 'shop' });
  assert.match(r.stderr, /✔ Service default\/shop: label mirror\.mesh\.io\/exported removed/);
  assert.match(r.stdout, /^cluster-a: mesh removed \(\d+ object\(s\) deleted, export label removed from 1 Service\(s\)\)\nleft in place:\n {2}- your Services and workloads, and the namespaces they live in\n {2}- the trust root files/);
  assert.match(r.stdout, /- other clusters' Links to cluster-a: they report it unreachable until you run there: mesh unlink <their context> cluster-a/);
  assert.doesNotMatch(r.stdout, /Deployment/, 'each deleted object is on stderr only');
  const leftovers: string[] = [];
  // The namespace itself may still be finalizing (no namespace controller here), but it must be empty.
  const ns = await getOrNull(a, '/api/v1/namespaces/mesh-system');
  if (ns) assert.ok((ns.metadata as { deletionTimestamp?: string }).deletionTimestamp, 'mesh-system is not being deleted');
  for (const kind of ['secrets', 'configmaps', 'serviceaccounts', 'services']) {
    const items = (await a.list(`/api/v1/namespaces/mesh-system/${kind}`)).items.map((i) => i.metadata?.name).filter((n) => n !== 'default' && n !== 'kube-root-ca.crt');
    assert.deepEqual(items, [], `mesh-system ${kind} left`);
  }
  for (const [group, kind] of [['apps/v1', 'deployments'], ['rbac.authorization.k8s.io/v1', 'roles'], ['rbac.authorization.k8s.io/v1', 'rolebindings'], ['policy/v1', 'poddisruptionbudgets']]) {
    assert.deepEqual((await a.list(`/apis/${group}/namespaces/mesh-system/${kind}`)).items.map((i) => i.metadata?.name), [], `mesh-system ${kind} left`);
  }
  for (const p of [
    '/api/v1/namespaces/default/services/web-cluster-b',
    '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/links.multicluster.mesh.io',
    '/apis/rbac.authorization.k8s.io/v1/clusterroles/mesh-controller',
    '/apis/rbac.authorization.k8s.io/v1/clusterroles/mesh-gateway',
    '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/mesh-controller',
    '/apis/rbac.authorization.k8s.io/v1/clusterroles/mesh-link-cluster-b',
    '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/mesh-link-cluster-b',
  ]) if (await getOrNull(a, p)) leftovers.push(p);
  assert.deepEqual(leftovers, []);
  const all = await a.list('/apis/rbac.authorization.k8s.io/v1/clusterroles', { labelSelector: 'app.kubernetes.io/part-of=mesh-federation' });
  assert.deepEqual(all.items.map((i) => i.metadata?.name), []);
  const again = await t.mesh(['uninstall', A, '--wait-timeout', '1s']);
  assert.equal(again.code, 0, 'uninstall twice is fine');
  // And check says so, with the command to fix it.
  const chk = await t.mesh(['check', A]);
  assert.equal(chk.code, 1);
  assert.match(chk.stdout, /✘ cluster-a: mesh installed: (no mesh-system namespace|namespace mesh-system is being deleted)/);
  assert.match(chk.stdout, /hint: mesh install cluster-a --trust-root DIR/);
});

test('uninstall --keep-exports keeps the export labels and says so; -o json lists every object', async () => {
  const inst = await t.mesh(['install', A, '--trust-root', t.rootDir, '--no-wait']);
  assert.equal(inst.code, 0, inst.stderr);
  const r = await t.mesh(['uninstall', A, '--wait-timeout', '1s', '--keep-exports', '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const res = JSON.parse(r.stdout) as { unexported: string[]; stillExported: string[]; left: string[]; objects: { kind: string; result: string }[] };
  assert.deepEqual(res.unexported, []);
  assert.deepEqual(res.stillExported, []);
  assert.ok(res.objects.some((o) => o.kind === 'Deployment' && o.result === 'deleted'));
  await a.patch('/api/v1/namespaces/default/services/shop', { metadata: { labels: { 'mirror.mesh.io/exported': 'flat' } } });
  const again = await t.mesh(['uninstall', A, '--wait-timeout', '1s', '--keep-exports']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /- the label mirror\.mesh\.io\/exported on 1 Service\(s\) \(--keep-exports\): default\/shop/);
  assert.equal(((await getOrNull(a, '/api/v1/namespaces/default/services/shop'))?.metadata as { labels?: Record<string, string> }).labels?.['mirror.mesh.io/exported'], 'flat');
});

// What `mesh export --to`, `mesh export` (MCS) and `mesh authz` write on the user's objects, through the commands themselves.
async function exportEveryWay(): Promise<void> {
  if (!(await getOrNull(a, '/api/v1/namespaces/default/services/shop'))) await a.create('/api/v1/namespaces/default/services', { metadata: { name: 'shop' }, spec: { ports: [{ port: 80 }] } });
  const inst = await t.mesh(['install', A, '--trust-root', t.rootDir, '--no-wait']);
  assert.equal(inst.code, 0, inst.stderr);
  for (const args of [
    ['export', 'shop', '-n', 'default', '--context', A, '--label', '--to', B],
    ['export', 'shop', '-n', 'default', '--context', A, '--to', B],
    ['authz', 'shop', '-n', 'default', '--context', A, '--allow', `cluster:${B}`, '--namespace-default', `cluster:${B}`],
  ]) {
    const r = await t.mesh(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  }
  // The failover policy is the user's own (kubectl annotate), on the ServiceExport mesh export created.
  await a.patch('/apis/multicluster.x-k8s.io/v1beta1/namespaces/default/serviceexports/shop', { metadata: { annotations: { 'multicluster.mesh.io/traffic-policy': 'failover', 'multicluster.mesh.io/failover-order': B } } });
  await a.patch('/api/v1/namespaces/default/services/shop', { metadata: { annotations: { 'mirror.mesh.io/proxy-protocol': 'v2', owner: 'team-shop' } } });
}

type Meta = { labels?: Record<string, string>; annotations?: Record<string, string> };
const meshKeys = (m: Meta | undefined): string[] => [...Object.keys(m?.labels ?? {}), ...Object.keys(m?.annotations ?? {})].filter((k) => /mesh\.io\//.test(k)).sort();

test('uninstall removes what mesh export and mesh authz wrote (label, export-to, allow lists, ServiceExports) and names every mesh key left', async () => {
  await exportEveryWay();
  const r = await t.mesh(['uninstall', A, '--wait-timeout', '1s']);
  assert.equal(r.code, 0, r.stderr);
  const shop = (await getOrNull(a, '/api/v1/namespaces/default/services/shop'))?.metadata as Meta | undefined;
  // Only the key the user set themselves stays, and the user's own annotation.
  assert.deepEqual(meshKeys(shop), ['mirror.mesh.io/proxy-protocol']);
  assert.equal(shop?.annotations?.owner, 'team-shop');
  assert.deepEqual(meshKeys((await getOrNull(a, '/api/v1/namespaces/default'))?.metadata as Meta | undefined), []);
  assert.match(r.stderr, /✔ Service default\/shop: label mirror\.mesh\.io\/exported, annotation mirror\.mesh\.io\/export-to, annotation mirror\.mesh\.io\/allowed-identities removed/);
  assert.match(r.stderr, /✔ Namespace default: annotation mirror\.mesh\.io\/default-allowed-identities removed/);
  assert.match(r.stderr, /✔ ServiceExport default\/shop deleted/);
  assert.match(r.stdout, /deleted, export label removed from 1 Service\(s\), mesh annotations removed from 2 object\(s\)\)\n/);
  const left = r.stdout.split('\n').filter((l) => l.startsWith('  - '));
  assert.deepEqual(left.filter((l) => /mesh\.io\/|ServiceExport/.test(l)), ['  - the annotation mirror.mesh.io/proxy-protocol on 1 Service(s) (not written by a mesh command): default/shop']);
  assert.equal(await getOrNull(a, '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/serviceexports.multicluster.x-k8s.io'), null);
  await a.patch('/api/v1/namespaces/default/services/shop', { metadata: { annotations: { 'mirror.mesh.io/proxy-protocol': null } } });
});

test('uninstall --keep-exports keeps every export (annotations, ServiceExports and their CRD) and lists each mesh key left', async () => {
  await exportEveryWay();
  const r = await t.mesh(['uninstall', A, '--wait-timeout', '1s', '--keep-exports']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(meshKeys((await getOrNull(a, '/api/v1/namespaces/default/services/shop'))?.metadata as Meta | undefined), [
    'mirror.mesh.io/allowed-identities', 'mirror.mesh.io/export-to', 'mirror.mesh.io/exported', 'mirror.mesh.io/proxy-protocol',
  ]);
  const se = await getOrNull(a, '/apis/multicluster.x-k8s.io/v1beta1/namespaces/default/serviceexports/shop');
  assert.equal((se?.metadata as Meta | undefined)?.annotations?.['multicluster.mesh.io/traffic-policy'], 'failover');
  assert.doesNotMatch(r.stderr, /ServiceExport|CustomResourceDefinition serviceexports/);
  const left = r.stdout.split('\n').filter((l) => /mesh\.io\/|ServiceExport/.test(l));
  assert.deepEqual(left.sort(), [
    '  - 1 ServiceExport(s) and their CRD serviceexports.multicluster.x-k8s.io (--keep-exports): default/shop',
    '  - the annotation mirror.mesh.io/allowed-identities on 1 Service(s) (--keep-exports): default/shop',
    '  - the annotation mirror.mesh.io/default-allowed-identities on 1 Namespace(s) (--keep-exports): default',
    '  - the annotation mirror.mesh.io/export-to on 1 Service(s) (--keep-exports): default/shop',
    '  - the annotation mirror.mesh.io/proxy-protocol on 1 Service(s) (not written by a mesh command): default/shop',
    '  - the annotation multicluster.mesh.io/failover-order on 1 ServiceExport(s) (--keep-exports): default/shop',
    '  - the annotation multicluster.mesh.io/traffic-policy on 1 ServiceExport(s) (--keep-exports): default/shop',
    '  - the label mirror.mesh.io/exported on 1 Service(s) (--keep-exports): default/shop',
  ]);
  // Installing again finds the exports where they were.
  const inst = await t.mesh(['install', A, '--trust-root', t.rootDir, '--no-wait']);
  assert.equal(inst.code, 0, inst.stderr);
  assert.ok(await getOrNull(a, '/apis/multicluster.x-k8s.io/v1beta1/namespaces/default/serviceexports/shop'));
});
