// Export scope in the mirror (issue 15): a remote Service whose `mirror.mesh.io/export-to` leaves this
// cluster out is not in this cluster's remote view: no shadow, and no ServiceImport contribution (MCS); a
// change of the list adds or removes it. Two real API servers, the controller as its own process.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { stopAll } from '../helpers/process.js';
import { isNotFound, type KubeObject } from '../../src/kube/index.js';
import type { Service } from '../../src/mirror/index.js';
import { startCluster, stopCluster, prepareLocal, putSecret, adminKubeconfig, createLink, exportService, getService, until, startController, ensureNamespace, svcPath, exportPath, importPath, type Cluster } from './env.js';

let a: Cluster;
let b: Cluster;
const A = 'cluster-a';
const B = 'cluster-b';
const NS = 'shop';
const SCOPE = 'mirror.mesh.io/export-to';

async function getImport(name: string): Promise<KubeObject | undefined> {
  try {
    return await a.client.get<KubeObject>(importPath(NS, name));
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

async function setScope(name: string, scope: string | null): Promise<void> {
  const live = await b.client.get<Service>(svcPath(NS, name));
  const annotations = { ...(live.metadata?.annotations ?? {}) };
  if (scope === null) delete annotations[SCOPE];
  else annotations[SCOPE] = scope;
  await b.client.replace(svcPath(NS, name), { ...live, metadata: { ...live.metadata, annotations } });
}

before(async () => {
  [a, b] = await Promise.all([startCluster(A), startCluster(B)]);
  await Promise.all([prepareLocal(a), prepareLocal(b)]);
  await Promise.all([ensureNamespace(a, NS), ensureNamespace(b, NS)]);
  await putSecret(a, `cluster-credentials-${B}`, adminKubeconfig(b));
  await createLink(a, B, { targetClusterName: B, clusterCredentialsSecret: `cluster-credentials-${B}`, probe: { period: '60s', failureThreshold: 100 } });
  await startController(a, [], A);
});

after(async () => {
  await stopAll();
  await Promise.all([stopCluster(a), stopCluster(b)]);
});

test('export-to without this cluster: no shadow; listing it adds the shadow, unlisting removes it', async () => {
  await exportService(b, NS, 'web', { mode: 'flat', annotations: { [SCOPE]: 'cluster-c' } });
  // A barrier instead of a sleep: a Service exported after it, to every cluster, is mirrored; the remote
  // watch delivers in order, so by then web has been seen and left out.
  await exportService(b, NS, 'barrier', { mode: 'flat' });
  await until(() => getService(a, NS, `barrier-${B}`), 'the barrier shadow');
  assert.equal(await getService(a, NS, `web-${B}`), undefined, 'no shadow for a Service not exported to cluster-a');
  await setScope('web', 'cluster-c, cluster-a');
  await until(() => getService(a, NS, `web-${B}`), 'the shadow once cluster-a is listed');
  await setScope('web', 'cluster-c');
  await until(async () => (await getService(a, NS, `web-${B}`)) === undefined, 'the shadow removed once cluster-a is unlisted');
  // An unparsable scope exports to nobody.
  await setScope('web', '');
  await exportService(b, NS, 'barrier-2', { mode: 'flat' });
  await until(() => getService(a, NS, `barrier-2-${B}`), 'the second barrier shadow');
  assert.equal(await getService(a, NS, `web-${B}`), undefined, 'an empty export-to exports to no cluster');
  await setScope('web', null);
  await until(() => getService(a, NS, `web-${B}`), 'the shadow once the scope is removed');
});

test('MCS: a ServiceExport whose Service is exported to other clusters contributes no ServiceImport here', async () => {
  for (const [name, scope] of [['cart', 'cluster-c'], ['cart-barrier', undefined]] as const) {
    await b.client.create(svcPath(NS), { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS, ...(scope ? { annotations: { [SCOPE]: scope } } : {}) }, spec: { ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } });
    await b.client.create(exportPath(NS), { apiVersion: 'multicluster.x-k8s.io/v1beta1', kind: 'ServiceExport', metadata: { name, namespace: NS } });
  }
  await until(() => getImport('cart-barrier'), 'the barrier ServiceImport');
  assert.equal(await getImport('cart'), undefined, 'no ServiceImport for an export not to cluster-a');
  await setScope('cart', 'cluster-a');
  await until(() => getImport('cart'), 'the ServiceImport once cluster-a is listed');
  await setScope('cart', 'cluster-c');
  await until(async () => (await getImport('cart')) === undefined, 'the ServiceImport removed once cluster-a is unlisted');
});

test('an exported Service whose authorization does not parse gets a Warning Event saying why', async () => {
  await exportService(a, NS, 'locked', { annotations: { 'mirror.mesh.io/allowed-identities': 'cluster:cluster-b,cluster:', [SCOPE]: '' } });
  const events = await until(async () => {
    const l = await a.client.list<KubeObject & { reason?: string; message?: string; involvedObject?: { kind?: string; name?: string } }>(`/api/v1/namespaces/${NS}/events`);
    const mine = l.items.filter((e) => e.reason === 'InvalidAuthorization' && e.involvedObject?.name === 'locked');
    return mine.length >= 2 ? mine : undefined;
  }, 'InvalidAuthorization Events on Service shop/locked');
  const messages = events.map((e) => e.message ?? '').sort();
  assert.match(messages[0]!, /allowed-identities invalid entry: "cluster:" names no valid cluster \(cluster:<DNS label>\); the gateway admits no caller/);
  assert.match(messages[1]!, /export-to lists no cluster .*; it is exported to no cluster/);
  assert.equal(events[0]!.involvedObject?.kind, 'Service');
});

test("a Namespace whose default-allowed-identities does not parse gets one Warning Event (repeats fold into its count, not one per reconcile)", async () => {
  const DEFAULT = 'mirror.mesh.io/default-allowed-identities';
  const LOCKED_NS = 'locked-ns';
  await a.client.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: LOCKED_NS, annotations: { [DEFAULT]: 'cluster:cluster-b, spiffe://mesh.local/ns/*/sa/x' } } });
  type Ev = KubeObject & { reason?: string; message?: string; count?: number; involvedObject?: { kind?: string; name?: string } };
  const nsEvents = async () => (await a.client.list<Ev>('/api/v1/namespaces/default/events')).items.filter((e) => e.reason === 'InvalidAuthorization' && e.involvedObject?.kind === 'Namespace' && e.involvedObject.name === LOCKED_NS);
  const first = await until(async () => ((await nsEvents()).length ? await nsEvents() : undefined), 'InvalidAuthorization Event on Namespace locked-ns');
  assert.equal(first.length, 1);
  assert.match(first[0]!.message ?? '', /default-allowed-identities invalid entry: "spiffe:\/\/mesh.local\/ns\/\*\/sa\/x" has a `\*` that is not the whole last segment; the gateway admits no caller/);
  // Updates that leave the default alone (a label) enqueue nothing; a barrier instead of a sleep: a second
  // bad Namespace created after them gets its Event, so by then the first one's updates were handled.
  for (let i = 0; i < 3; i++) {
    const live = await a.client.get<KubeObject>(`/api/v1/namespaces/${LOCKED_NS}`);
    await a.client.replace(`/api/v1/namespaces/${LOCKED_NS}`, { ...live, metadata: { ...live.metadata, labels: { touched: String(i) } } });
  }
  await a.client.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'locked-ns-2', annotations: { [DEFAULT]: 'cluster:' } } });
  await until(async () => (await a.client.list<Ev>('/api/v1/namespaces/default/events')).items.find((e) => e.involvedObject?.name === 'locked-ns-2'), 'the barrier Namespace Event');
  const after = await nsEvents();
  assert.equal(after.length, 1, 'still one Event');
  assert.equal(after[0]!.count ?? 1, 1, 'label changes record nothing');
});
