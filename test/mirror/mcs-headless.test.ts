// A Headless ServiceImport through the gateway, at the control plane: cluster-b exports a StatefulSet's
// headless Service `db` (its EndpointSlice has the pods' hostnames, as the EndpointSlice controller writes
// them); cluster-a's controller (its own process, against a real API server) links to cluster-b with a
// gateway. In cluster-a: one per-pod Service per pod (a ClusterIP fronting the local gateway at that pod's
// own outbound port), the import's slice listing their ClusterIPs with hostnames and readiness, the route
// table reaching `<hostname>.db.shop.svc` at cluster-b's gateway, and the clusterset.local names DNS derives
// from these objects; a pod gone, its per-pod Service and route gone; unexport, everything gone. The data
// path is e2e scenario 17.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { stopAll } from '../helpers/process.js';
import { derivedServiceName, importPodServiceName, parseOutboundRoutes, type OutboundRoute } from '../../src/api/index.js';
import { clustersetImportsFromObjects, ClustersetRecordSource } from '../../src/dns/index.js';
import { isNotFound, type KubeObject } from '../../src/kube/index.js';
import type { EndpointSlice, Service } from '../../src/mirror/index.js';
import { startCluster, stopCluster, prepareLocal, putSecret, adminKubeconfig, createLink, putSlice, getService, until, startController, ensureNamespace, svcPath, slicePath, linkPath, exportPath, importPath, type Cluster, type ControllerProc } from './env.js';

let a: Cluster;
let b: Cluster;
let controller: ControllerProc;
const A = 'cluster-a';
const B = 'cluster-b';
const NS = 'shop';
const GATEWAY_POD = '127.0.10.1';

async function getOrUndefined<T>(c: Cluster, path: string): Promise<T | undefined> {
  try {
    return await c.client.get<T>(path);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** cluster-b's StatefulSet pods as the EndpointSlice controller lists them (hostname = pod name). */
async function statefulSetPods(pods: Array<{ ip: string; hostname: string; ready?: boolean }>): Promise<void> {
  const body: EndpointSlice = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'db-abcde', namespace: NS, labels: { 'kubernetes.io/service-name': 'db', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
    addressType: 'IPv4',
    endpoints: pods.map((p) => ({ addresses: [p.ip], hostname: p.hostname, conditions: { ready: p.ready ?? true } })),
    ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }],
  };
  const live = await getOrUndefined<EndpointSlice>(b, slicePath(NS, 'db-abcde'));
  if (live) await b.client.replace(slicePath(NS, 'db-abcde'), { ...body, metadata: { ...body.metadata, resourceVersion: live.metadata?.resourceVersion } });
  else await b.client.create(slicePath(NS), body);
}

const podServices = async (c: Cluster) => (await c.client.list<Service>(svcPath(NS), { labelSelector: 'multicluster.mesh.io/import-pod-of=db' })).items;
const podSlices = async (c: Cluster) => (await c.client.list<EndpointSlice>(slicePath(NS), { labelSelector: 'multicluster.mesh.io/import-pod-of=db' })).items;
const importSlices = async (c: Cluster) => (await c.client.list<EndpointSlice>(slicePath(NS), { labelSelector: 'multicluster.kubernetes.io/service-name=db' })).items;

async function routes(c: Cluster): Promise<OutboundRoute[]> {
  const cm = await getOrUndefined<{ data?: Record<string, string> }>(c, '/api/v1/namespaces/mesh-system/configmaps/mesh-gateway-routes');
  const parsed = parseOutboundRoutes(cm?.data?.['routes.json']);
  return parsed.ok ? parsed.routes.filter((r) => r.origin?.kind === 'ServiceImport' && r.service === 'db') : [];
}

/** The clusterset.local records the cluster DNS (and `mesh dns`) derive from cluster-a's objects. */
async function clustersetNames(c: Cluster): Promise<ClustersetRecordSource> {
  const imports = (await c.client.list<KubeObject>(importPath())).items;
  const slices = (await c.client.list<EndpointSlice>('/apis/discovery.k8s.io/v1/endpointslices', { labelSelector: 'multicluster.kubernetes.io/service-name' })).items;
  const { entries, errors } = clustersetImportsFromObjects(imports, slices);
  assert.deepEqual(errors, []);
  const source = new ClustersetRecordSource();
  source.replaceImports(entries);
  return source;
}

before(async () => {
  [a, b] = await Promise.all([startCluster(A), startCluster(B)]);
  await Promise.all([prepareLocal(a), prepareLocal(b)]);
  await Promise.all([ensureNamespace(a, NS), ensureNamespace(b, NS)]);
  await putSecret(a, `cluster-credentials-${B}`, adminKubeconfig(b));
  await putSlice(a, 'mesh-system', 'mesh-gateway', 'mesh-gateway-abc', [{ ip: GATEWAY_POD, ready: true }], [{ name: 'tunnel', port: 4143 }]);
  await createLink(a, B, {
    targetClusterName: B,
    clusterCredentialsSecret: `cluster-credentials-${B}`,
    gateway: { addresses: ['127.0.0.1'], port: 1, identity: 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway' },
    probe: { period: '60s', failureThreshold: 100 },
  });
  controller = await startController(a, [], A);
});

after(async () => {
  await stopAll();
  await Promise.all([stopCluster(a), stopCluster(b)]);
});

test('a StatefulSet exported Headless from a gateway-mode cluster: per-pod Services, an import slice with hostnames, per-pod routes and clusterset.local names', async () => {
  await b.client.create(svcPath(NS), { apiVersion: 'v1', kind: 'Service', metadata: { name: 'db', namespace: NS }, spec: { clusterIP: 'None', selector: { app: 'db' }, ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }] } });
  await statefulSetPods([{ ip: '10.2.0.10', hostname: 'db-0' }, { ip: '10.2.0.11', hostname: 'db-1' }]);
  await b.client.create(exportPath(NS), { apiVersion: 'multicluster.x-k8s.io/v1beta1', kind: 'ServiceExport', metadata: { name: 'db', namespace: NS } });

  const names = ['db-0', 'db-1'].map((h) => importPodServiceName('db', B, h));
  const svcs = await until(async () => {
    const s = await podServices(a);
    return s.length === 2 && s.every((x) => x.spec?.clusterIP && x.spec.clusterIP !== 'None') ? s : undefined;
  }, 'two per-pod Services with ClusterIPs in cluster-a');
  const ipOf = new Map(svcs.map((s) => [s.metadata?.name ?? '', s.spec?.clusterIP ?? '']));
  assert.deepEqual([...ipOf.keys()].sort(), [...names].sort());
  for (const s of svcs) {
    assert.deepEqual(s.spec?.ports?.map((p) => [p.name, p.port, p.protocol]), [['pg', 5432, 'TCP']]);
    assert.equal(s.metadata?.labels?.['multicluster.kubernetes.io/source-cluster'], B);
    assert.equal(s.spec?.selector, undefined, 'no selector: the mirror writes its endpoints');
  }
  assert.equal((await getService(a, NS, derivedServiceName('db')))?.spec?.clusterIP, 'None', 'the derived Service stays headless');

  // The import's slice for cluster-b: the per-pod ClusterIPs with hostnames, ready, at the service port.
  const imp = await until(async () => {
    const s = (await importSlices(a)).find((x) => x.metadata?.labels?.['multicluster.kubernetes.io/source-cluster'] === B);
    return s?.endpoints?.length === 2 ? s : undefined;
  }, "the import slice lists both pods' ClusterIPs");
  assert.deepEqual(imp.endpoints?.map((e) => [e.addresses[0], e.hostname, e.conditions?.ready]).sort(), [[ipOf.get(names[0]), 'db-0', true], [ipOf.get(names[1]), 'db-1', true]]);
  assert.deepEqual(imp.ports?.map((p) => [p.name, p.port]), [['pg', 5432]]);
  assert.ok(!(imp.endpoints ?? []).some((e) => e.addresses[0] === GATEWAY_POD), 'the gateway is not an address of the headless import');

  // Each per-pod Service's slice: the local gateway at that pod's own outbound port; the routes reach that pod.
  const slices = await until(async () => ((await podSlices(a)).length === 2 ? podSlices(a) : undefined), 'two per-pod slices');
  const rs = await until(async () => ((await routes(a)).length === 2 ? routes(a) : undefined), 'two per-pod routes');
  for (const [i, host] of ['db-0', 'db-1'].entries()) {
    const sl = slices.find((s) => s.metadata?.labels?.['kubernetes.io/service-name'] === names[i]);
    assert.ok(sl, `slice of ${names[i]}`);
    assert.deepEqual(sl.endpoints?.map((e) => e.addresses[0]), [GATEWAY_POD]);
    const route = rs.find((r) => r.hostname === host);
    assert.ok(route, `route to ${host}`);
    assert.deepEqual([route.remoteCluster, route.namespace, route.service, route.port], [B, NS, 'db', 5432]);
    assert.equal(sl.ports?.[0].port, route.outboundPort, "the per-pod slice's port is the route's outbound port");
  }
  assert.notEqual(rs[0].outboundPort, rs[1].outboundPort);

  // clusterset.local as the cluster DNS derives it from these objects.
  const dns = await clustersetNames(a);
  assert.deepEqual(dns.lookup('db-0.cluster-b.db.shop.svc.clusterset.local').records.a, [ipOf.get(names[0])]);
  assert.deepEqual(dns.lookup('db-1.cluster-b.db.shop.svc.clusterset.local').records.a, [ipOf.get(names[1])]);
  assert.deepEqual([...(dns.lookup('db.shop.svc.clusterset.local').records.a ?? [])].sort(), [ipOf.get(names[0]), ipOf.get(names[1])].sort());
});

test('an endpoint without hostname is left out of the import (a gateway cannot name it) and said in a Warning Event', async () => {
  // statefulSetPods sets hostnames; this slice has one endpoint without (a pod that is no StatefulSet's).
  const live = await b.client.get<EndpointSlice>(slicePath(NS, 'db-abcde'));
  await b.client.replace(slicePath(NS, 'db-abcde'), { ...live, endpoints: [...(live.endpoints ?? []), { addresses: ['10.2.0.99'], conditions: { ready: true } }] });
  const ev = await until(async () => (await a.client.list<KubeObject & { reason?: string; message?: string; type?: string }>(`/api/v1/namespaces/${NS}/events`)).items.find((e) => e.reason === 'EndpointsWithoutHostname'), 'an EndpointsWithoutHostname Event in cluster-a');
  assert.equal(ev.type, 'Warning');
  assert.match(ev.message ?? '', /1 endpoint of cluster-b has no hostname/);
  const s = await until(async () => (await importSlices(a)).find((x) => x.metadata?.labels?.['multicluster.kubernetes.io/source-cluster'] === B && x.metadata?.annotations), 'the count on the import slice');
  assert.deepEqual(s?.endpoints?.map((e) => e.hostname).sort(), ['db-0', 'db-1'], 'only the named pods');
  assert.equal(s?.metadata?.annotations?.['multicluster.mesh.io/endpoints-without-hostname'], '1');
  assert.equal((await podServices(a)).length, 2);
});

test('a restarted controller keeps every per-pod Service and port (recovered from the port map); a pod not ready is not ready in the import; a pod gone takes its per-pod Service, slice and route with it', async () => {
  const before = new Map((await podServices(a)).map((s) => [s.metadata?.name, s.metadata?.uid]));
  const portsBefore = (await routes(a)).map((r) => [r.hostname, r.outboundPort]).sort();
  assert.equal(before.size, 2);
  await controller.proc.stop();
  controller = await startController(a, [], A);
  // A change the new controller must act on: once it shows, the import was reconciled by it.
  await statefulSetPods([{ ip: '10.2.0.10', hostname: 'db-0' }, { ip: '10.2.0.11', hostname: 'db-1', ready: false }]);
  await until(async () => {
    const s = (await importSlices(a)).find((x) => x.metadata?.labels?.['multicluster.kubernetes.io/source-cluster'] === B);
    return s?.endpoints?.find((e) => e.hostname === 'db-1')?.conditions?.ready === false;
  }, 'db-1 not ready in the import slice (by the restarted controller)');
  assert.deepEqual(new Map((await podServices(a)).map((s) => [s.metadata?.name, s.metadata?.uid])), before, 'the same per-pod Services, not recreated');
  assert.deepEqual((await routes(a)).map((r) => [r.hostname, r.outboundPort]).sort(), portsBefore, 'the same outbound ports');
  await statefulSetPods([{ ip: '10.2.0.10', hostname: 'db-0' }]);
  const gone = importPodServiceName('db', B, 'db-1');
  await until(async () => (await getService(a, NS, gone)) === undefined, "db-1's per-pod Service removed");
  await until(async () => (await podSlices(a)).length === 1, "db-1's per-pod slice removed");
  const rs = await until(async () => ((await routes(a)).length === 1 ? routes(a) : undefined), "db-1's route removed");
  assert.equal(rs[0].hostname, 'db-0');
  const s = await until(async () => {
    const x = (await importSlices(a)).find((y) => y.metadata?.labels?.['multicluster.kubernetes.io/source-cluster'] === B);
    return x?.endpoints?.length === 1 ? x : undefined;
  }, 'the import slice lists db-0 only');
  assert.equal(s.endpoints?.[0].hostname, 'db-0');
});

test('unexport removes the import, its per-pod Services, their slices and routes', async () => {
  await b.client.delete(exportPath(NS, 'db'));
  await until(async () => (await getOrUndefined(a, importPath(NS, 'db'))) === undefined, 'import gone');
  await until(async () => (await podServices(a)).length === 0, 'per-pod Services gone');
  await until(async () => (await podSlices(a)).length === 0, 'per-pod slices gone');
  await until(async () => (await routes(a)).length === 0, 'per-pod routes gone');
  assert.equal(await getService(a, NS, derivedServiceName('db')), undefined);
});

test('the Link to the exporting cluster deleted: the per-pod Services, their slices and routes go with the import', async () => {
  await b.client.create(exportPath(NS), { apiVersion: 'multicluster.x-k8s.io/v1beta1', kind: 'ServiceExport', metadata: { name: 'db', namespace: NS } });
  await until(async () => (await podServices(a)).length === 1, 'the per-pod Service of db-0 again');
  await until(async () => (await routes(a)).length === 1, 'its route again');
  await a.client.delete(linkPath(B));
  await until(async () => (await podServices(a)).length === 0, 'per-pod Services gone with the Link');
  await until(async () => (await podSlices(a)).length === 0, 'per-pod slices gone with the Link');
  await until(async () => (await routes(a)).length === 0, 'per-pod routes gone with the Link');
  await until(async () => (await getOrUndefined(a, importPath(NS, 'db'))) === undefined, 'import gone with the Link');
});
