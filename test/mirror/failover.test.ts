// Issue 14 at the control plane: two clusters, two controllers (each its own process) against two real API
// servers. `web` is exported in both; cluster-a's export says local-first with a 2 s hold-down. cluster-a's
// import carries only its own endpoints as ready; when they go unready, cluster-b's (a Failover Event);
// when they come back, its own again once the hold-down has passed (a Failback Event). An invalid policy is
// refused in the export's TrafficPolicy condition and an Event. The data path is checked in the sandbox
// (test/e2e, the failover scenario).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { stopAll } from '../helpers/process.js';
import { runMesh } from '../../src/demo/run.js';
import type { Condition, ImportClusterStatus } from '../../src/api/index.js';
import type { KubeObject } from '../../src/kube/index.js';
import type { EndpointSlice } from '../../src/mirror/index.js';
import { startCluster, stopCluster, prepareLocal, putSecret, adminKubeconfig, createLink, until, startController, ensureNamespace, svcPath, slicePath, exportPath, importPath, type Cluster } from './env.js';

let a: Cluster;
let b: Cluster;
const A = 'cluster-a';
const B = 'cluster-b';
const NS = 'shop';

interface Imp extends KubeObject {
  status?: { clusters?: ImportClusterStatus[]; trafficPolicy?: string };
}

/** The Service's own slice, as the EndpointSlice controller writes it (the label the mirror reads local slices by). */
async function podSlice(c: Cluster, name: string, ip: string, ready: boolean): Promise<void> {
  const body = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${name}-x1`, namespace: NS, labels: { 'kubernetes.io/service-name': name, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: [ip], conditions: { ready } }],
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  };
  const live = await c.client.get<EndpointSlice>(slicePath(NS, `${name}-x1`)).catch(() => undefined);
  if (live) await c.client.replace(slicePath(NS, `${name}-x1`), { ...body, metadata: { ...body.metadata, resourceVersion: live.metadata?.resourceVersion } });
  else await c.client.create(slicePath(NS), body);
}

async function serve(c: Cluster, name: string, ip: string, annotations: Record<string, string> = {}): Promise<void> {
  await c.client.create(svcPath(NS), { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS }, spec: { ports: [{ name: 'http', port: 80, targetPort: 8080 }] } });
  await podSlice(c, name, ip, true);
  await c.client.create(exportPath(NS), { apiVersion: 'multicluster.x-k8s.io/v1beta1', kind: 'ServiceExport', metadata: { name, namespace: NS, annotations } });
}

/** cluster -> [ready addresses] in cluster-a's import slices of `name`. */
async function readyByCluster(name: string): Promise<Record<string, string[]>> {
  const slices = (await a.client.list<EndpointSlice>(slicePath(NS), { labelSelector: `multicluster.kubernetes.io/service-name=${name}` })).items;
  const out: Record<string, string[]> = {};
  for (const s of slices) {
    const cl = s.metadata?.labels?.['multicluster.kubernetes.io/source-cluster'] ?? '?';
    out[cl] = [...(out[cl] ?? []), ...(s.endpoints ?? []).filter((e) => e.conditions?.ready !== false).map((e) => e.addresses[0])];
  }
  return out;
}

const serving = async (name: string) => ((await a.client.get<Imp>(importPath(NS, name)).catch(() => undefined))?.status?.clusters ?? []).filter((c) => c.serving).map((c) => c.cluster);
const events = async (reason: string) => (await a.client.list<KubeObject & { reason?: string; message?: string; involvedObject?: { kind?: string; name?: string } }>(`/api/v1/namespaces/${NS}/events`)).items.filter((e) => e.reason === reason && e.involvedObject?.kind === 'ServiceImport');

before(async () => {
  [a, b] = await Promise.all([startCluster(A), startCluster(B)]);
  await Promise.all([prepareLocal(a), prepareLocal(b)]);
  await Promise.all([ensureNamespace(a, NS), ensureNamespace(b, NS)]);
  await putSecret(a, `cluster-credentials-${B}`, adminKubeconfig(b));
  // Flat: cluster-b's pod addresses are cluster-a's endpoints for b.
  await createLink(a, B, { targetClusterName: B, clusterCredentialsSecret: `cluster-credentials-${B}` });
  await startController(a, [], A);
});

after(async () => {
  await stopAll();
  await Promise.all([stopCluster(a), stopCluster(b)]);
});

test('local-first: own endpoints only; unready → the remote at once (Failover Event); back after the hold-down (Failback Event)', async () => {
  const policy = { 'multicluster.mesh.io/traffic-policy': 'local-first', 'multicluster.mesh.io/hold-down-seconds': '2' };
  await serve(a, 'web', '10.1.0.1', policy);
  await serve(b, 'web', '10.2.0.1');
  await until(async () => JSON.stringify(await readyByCluster('web')) === JSON.stringify({ [A]: ['10.1.0.1'], [B]: [] }), 'cluster-a\'s import: only its own endpoint ready');
  const imp = await until(async () => {
    const i = await a.client.get<Imp>(importPath(NS, 'web')).catch(() => undefined);
    return i?.status?.clusters?.length === 2 ? i : undefined;
  }, 'the ServiceImport with both clusters in its status');
  assert.equal(imp.status?.trafficPolicy, 'local-first (min-ready 1, hold-down 2s)');
  assert.deepEqual(imp.status?.clusters?.map((c) => [c.cluster, c.readyEndpoints, c.serving, c.reason]), [[A, 1, true, 'Serving'], [B, 1, false, 'Policy']]);
  const ex = await a.client.get<KubeObject & { status?: { conditions?: Condition[] } }>(exportPath(NS, 'web'));
  assert.deepEqual(ex.status?.conditions?.find((c) => c.type === 'TrafficPolicy')?.reason, 'Accepted');

  await podSlice(a, 'web', '10.1.0.1', false);
  await until(async () => JSON.stringify(await readyByCluster('web')) === JSON.stringify({ [A]: [], [B]: ['10.2.0.1'] }), 'failover: only cluster-b\'s endpoint ready');
  const fo = await until(async () => (await events('Failover'))[0], 'a Failover Event on the ServiceImport');
  assert.match(fo.message ?? '', /serving cluster-b \(was cluster-a\); cluster-a: no ready endpoints/);
  const down = await a.client.get<Imp>(importPath(NS, 'web'));
  assert.deepEqual(down.status?.clusters?.find((c) => c.cluster === A)?.reason, 'NoReadyEndpoints');

  await podSlice(a, 'web', '10.1.0.1', true);
  // Within the hold-down, cluster-b still serves and cluster-a says HoldDown.
  const held = await until(async () => {
    const i = await a.client.get<Imp>(importPath(NS, 'web'));
    return i.status?.clusters?.find((c) => c.cluster === A)?.reason === 'HoldDown' ? i : undefined;
  }, 'cluster-a held down after its endpoint is ready again');
  assert.deepEqual(held.status?.clusters?.filter((c) => c.serving).map((c) => c.cluster), [B]);
  await until(async () => JSON.stringify(await readyByCluster('web')) === JSON.stringify({ [A]: ['10.1.0.1'], [B]: [] }), 'failback to cluster-a after the hold-down');
  const fb = await until(async () => (await events('Failback'))[0], 'a Failback Event');
  assert.match(fb.message ?? '', /serving cluster-a \(was cluster-b\)/);
  assert.equal((await events('Failover')).length, 1, 'one Failover Event');
  assert.deepEqual(await serving('web'), [A]);

  // mesh imports shows the policy and why each cluster serves or not.
  const r = await runMesh(['imports', A, '-o', 'json'], a.api.kubeconfigPath);
  assert.equal(r.code, 0, r.stderr);
  const info = (JSON.parse(r.stdout) as Array<{ name: string; policy?: string; serving: Record<string, { serving?: boolean; reason?: string }> }>).find((i) => i.name === 'web');
  assert.equal(info?.policy, 'local-first (min-ready 1, hold-down 2s)');
  assert.deepEqual([info?.serving[A]?.reason, info?.serving[B]?.reason], ['Serving', 'Policy']);
});

test('an invalid policy: TrafficPolicy=False naming the annotation, a Warning Event, and the import balanced', async () => {
  await serve(a, 'bad', '10.1.0.5', { 'multicluster.mesh.io/traffic-policy': 'ordered' });
  const c = await until(async () => (await a.client.get<KubeObject & { status?: { conditions?: Condition[] } }>(exportPath(NS, 'bad'))).status?.conditions?.find((x) => x.type === 'TrafficPolicy'), 'TrafficPolicy condition');
  assert.deepEqual([c.status, c.reason], ['False', 'InvalidTrafficPolicy']);
  assert.match(c.message, /^multicluster\.mesh\.io\/failover-order: required with traffic-policy ordered/);
  const ev = await until(async () => (await a.client.list<KubeObject & { reason?: string; message?: string }>(`/api/v1/namespaces/${NS}/events`)).items.find((e) => e.reason === 'InvalidTrafficPolicy'), 'an InvalidTrafficPolicy Event');
  assert.match(ev.message ?? '', /failover-order/);
  await until(async () => (await a.client.get<Imp>(importPath(NS, 'bad')).catch(() => undefined))?.status?.trafficPolicy === 'balanced', 'the import is balanced');
});
