// The MCS API at the control plane, two clusters and two controllers (each its own process) against two real
// API servers, each linked to the other: cluster-a reaches cluster-b through the gateways (its Link has a
// gateway), cluster-b reaches cluster-a flat (its Link has none). Export → ServiceImport in both clusters
// (the exporter too), ports exact, one VIP, slices per source cluster, conditions, conflicts, headless,
// ExternalName, unexport. The data path (traffic to the VIP) is checked in the sandbox (test/e2e, scenario 10).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { stopAll } from '../helpers/process.js';
import { runMesh } from '../../src/demo/run.js';
import { checkImports } from '../../src/cli/check-mcs.js';
import { derivedServiceName, type Condition, type ServiceImportSpec } from '../../src/api/index.js';
import { isNotFound, type KubeObject } from '../../src/kube/index.js';
import type { EndpointSlice, Service } from '../../src/mirror/index.js';
import { startCluster, stopCluster, prepareLocal, putSecret, adminKubeconfig, createLink, putSlice, getService, until, startController, ensureNamespace, svcPath, slicePath, exportPath, importPath, type Cluster } from './env.js';

let a: Cluster;
let b: Cluster;
const A = 'cluster-a';
const B = 'cluster-b';
const NS = 'shop';

interface SvcImport extends KubeObject {
  spec?: ServiceImportSpec;
  status?: { clusters?: Array<{ cluster: string }> };
}
interface SvcExport extends KubeObject {
  status?: { conditions?: Condition[] };
}

async function getOrUndefined<T>(c: Cluster, path: string): Promise<T | undefined> {
  try {
    return await c.client.get<T>(path);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

const getImport = (c: Cluster, name: string) => getOrUndefined<SvcImport>(c, importPath(NS, name));
const cond = (e: SvcExport | undefined, type: string) => e?.status?.conditions?.find((x) => x.type === type);

async function serve(c: Cluster, name: string, spec: Record<string, unknown>, endpoints: Array<{ ip: string; ready?: boolean }> = [], ports: Array<{ name?: string; port: number; protocol?: string }> = []): Promise<void> {
  await c.client.create(svcPath(NS), { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS }, spec });
  if (endpoints.length) {
    await c.client.create(slicePath(NS), {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${name}-x1`, namespace: NS, labels: { 'kubernetes.io/service-name': name, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
      addressType: 'IPv4',
      endpoints: endpoints.map((e) => ({ addresses: [e.ip], conditions: { ready: e.ready ?? true } })),
      ports: ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP' })),
    });
  }
}

async function exportIt(c: Cluster, name: string): Promise<void> {
  await c.client.create(exportPath(NS), { apiVersion: 'multicluster.x-k8s.io/v1beta1', kind: 'ServiceExport', metadata: { name, namespace: NS } });
}

async function importSlices(c: Cluster, name: string): Promise<EndpointSlice[]> {
  return (await c.client.list<EndpointSlice>(slicePath(NS), { labelSelector: `multicluster.kubernetes.io/service-name=${name}` })).items;
}

before(async () => {
  [a, b] = await Promise.all([startCluster(A), startCluster(B)]);
  await Promise.all([prepareLocal(a), prepareLocal(b)]);
  await Promise.all([ensureNamespace(a, NS), ensureNamespace(b, NS)]);
  await putSecret(a, `cluster-credentials-${B}`, adminKubeconfig(b));
  await putSecret(b, `cluster-credentials-${A}`, adminKubeconfig(a));
  // cluster-a's gateway pod (its gateway-mode import endpoints).
  await putSlice(a, 'mesh-system', 'mesh-gateway', 'mesh-gateway-abc', [{ ip: '127.0.10.1', ready: true }], [{ name: 'tunnel', port: 4143 }]);
  await createLink(a, B, {
    targetClusterName: B,
    clusterCredentialsSecret: `cluster-credentials-${B}`,
    gateway: { addresses: ['127.0.0.1'], port: 1, identity: 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway' },
    probe: { period: '60s', failureThreshold: 100 },
  });
  await createLink(b, A, { targetClusterName: A, clusterCredentialsSecret: `cluster-credentials-${A}` });
  await Promise.all([startController(a, [], A), startController(b, [], B)]);
});

after(async () => {
  await stopAll();
  await Promise.all([stopCluster(a), stopCluster(b)]);
});

test('export in cluster-b → one ServiceImport in both clusters: ports exact (TCP, UDP, SCTP), one VIP, clusters, slices per mode', async () => {
  const ports = [
    { name: 'http', port: 80, protocol: 'TCP', appProtocol: 'http' },
    { name: 'dns', port: 53, protocol: 'UDP' },
    { name: 'sig', port: 2905, protocol: 'SCTP' },
  ];
  await serve(b, 'web', { ports: ports.map((p) => ({ ...p, targetPort: p.port + 8000 })), selector: { app: 'web' } }, [{ ip: '10.2.0.5' }, { ip: '10.2.0.6', ready: false }], ports.map((p) => ({ name: p.name, port: p.port + 8000, protocol: p.protocol })));
  await exportIt(b, 'web');
  for (const c of [a, b]) {
    // The spec and the status are two writes (the status subresource): wait for both, then check them.
    const imp = await until(async () => {
      const i = await getImport(c, 'web');
      return i?.spec?.ips?.length && i.status?.clusters?.length ? i : undefined;
    }, `ServiceImport ${NS}/web with a VIP and its clusters in ${c === a ? A : B}`);
    assert.equal(imp.spec?.type, 'ClusterSetIP');
    assert.deepEqual(imp.spec?.ports, [
      { port: 53, protocol: 'UDP', name: 'dns' },
      { port: 80, protocol: 'TCP', name: 'http', appProtocol: 'http' },
      { port: 2905, protocol: 'SCTP', name: 'sig' },
    ]);
    assert.deepEqual(imp.spec?.ipFamilies, ['IPv4']);
    assert.deepEqual(imp.status?.clusters?.map((x) => x.cluster), [B]);
    const derived = await getService(c, NS, derivedServiceName('web'));
    assert.ok(derived, 'the derived Service exists');
    assert.deepEqual(imp.spec?.ips, [derived.spec?.clusterIP], 'one VIP: the derived Service ClusterIP');
  }
  // cluster-b (the exporter) imports its own pods; cluster-a reaches them through its gateway.
  const own = await until(async () => ((await importSlices(b, 'web')).length ? importSlices(b, 'web') : undefined), 'import slices in cluster-b');
  assert.equal(own.length, 1);
  assert.equal(own[0].metadata?.labels?.['multicluster.kubernetes.io/source-cluster'], B);
  assert.equal(own[0].metadata?.labels?.['kubernetes.io/service-name'], derivedServiceName('web'));
  assert.equal(own[0].metadata?.labels?.['endpointslice.kubernetes.io/managed-by'], 'mirror.mesh.io');
  assert.deepEqual(own[0].endpoints?.map((e) => [e.addresses[0], e.conditions?.ready]), [['10.2.0.5', true], ['10.2.0.6', false]]);
  assert.deepEqual(own[0].ports?.map((p) => [p.name, p.port, p.protocol]).sort(), [['dns', 8053, 'UDP'], ['http', 8080, 'TCP'], ['sig', 10905, 'SCTP']]);
  const viaGw = await until(async () => ((await importSlices(a, 'web')).length ? importSlices(a, 'web') : undefined), 'import slices in cluster-a');
  assert.equal(viaGw.length, 1);
  assert.equal(viaGw[0].metadata?.labels?.['multicluster.kubernetes.io/source-cluster'], B);
  assert.deepEqual(viaGw[0].endpoints?.map((e) => e.addresses[0]), ['127.0.10.1'], "cluster-a's gateway pod");
  assert.equal(viaGw[0].ports?.length, 1, 'the gateway carries the TCP port only');
  const derivedA = await getService(a, NS, derivedServiceName('web'));
  const map = JSON.parse(derivedA?.metadata?.annotations?.['mirror.mesh.io/gateway-port-map'] ?? '[]') as Array<{ port: number; outboundPort: number; cluster: string }>;
  assert.deepEqual(map.map((m) => [m.port, m.cluster]), [[80, B]]);
  assert.equal(viaGw[0].ports?.[0].port, map[0].outboundPort);
  const ev = await until(async () => (await a.client.list<KubeObject & { reason?: string; message?: string }>(`/api/v1/namespaces/${NS}/events`)).items.find((e) => e.reason === 'PortNotCarried'), 'a PortNotCarried Event in cluster-a');
  assert.match(ev.message ?? '', /53\/UDP of cluster-b, 2905\/SCTP of cluster-b/);
  const ex = await until(async () => {
    const e = await getOrUndefined<SvcExport>(b, exportPath(NS, 'web'));
    return cond(e, 'Ready')?.status === 'True' ? e : undefined;
  }, 'Ready=True on the export once both clusters imported it');
  assert.equal(cond(ex, 'Valid')?.status, 'True');
  assert.equal(cond(ex, 'Conflict')?.status, 'False');
  assert.equal(cond(ex, 'Conflict')?.reason, 'NoConflicts');
  assert.equal(cond(ex, 'Ready')?.observedGeneration, ex.metadata?.generation);
});

test('exported in both clusters with different ports, type and session affinity: the oldest wins, Conflict=True on both exporters', async () => {
  await serve(a, 'api', { ports: [{ name: 'http', port: 80, protocol: 'TCP' }], selector: { app: 'api' } }, [{ ip: '10.1.0.7' }], [{ name: 'http', port: 8080 }]);
  await exportIt(a, 'api');
  await until(() => getImport(b, 'api'), 'import of the first export in cluster-b');
  await serve(b, 'api', { clusterIP: 'None', ports: [{ name: 'web', port: 80, protocol: 'TCP' }, { name: 'admin', port: 81, protocol: 'TCP' }], selector: { app: 'api' }, sessionAffinity: 'ClientIP' }, [{ ip: '10.2.0.7' }], [{ name: 'web', port: 8080 }, { name: 'admin', port: 8081 }]);
  await exportIt(b, 'api');
  for (const [c, name] of [[a, A], [b, B]] as const) {
    const e = await until(async () => {
      const x = await getOrUndefined<SvcExport>(c, exportPath(NS, 'api'));
      return cond(x, 'Conflict')?.status === 'True' ? x : undefined;
    }, `Conflict=True on ${name}'s export`);
    assert.equal(cond(e, 'Conflict')?.reason, 'PortConflict,TypeConflict,SessionAffinityConflict');
    assert.match(cond(e, 'Conflict')?.message ?? '', /oldest export \(cluster cluster-a\)/);
  }
  for (const c of [a, b]) {
    const imp = await until(async () => ((await getImport(c, 'api'))?.status?.clusters?.length === 2 ? getImport(c, 'api') : undefined), 'import lists both clusters');
    assert.equal(imp.spec?.type, 'ClusterSetIP', "the oldest export's type");
    assert.equal(imp.spec?.sessionAffinity, 'None', "the oldest export's session affinity");
    assert.deepEqual(imp.spec?.ports?.map((p) => [p.port, p.name]), [[80, 'http'], [81, 'admin']], 'the union of ports, the oldest naming port 80');
  }
});

test('a headless export imports as Headless with no VIP; an ExternalName one is Valid=False and imports nothing', async () => {
  await serve(b, 'db', { clusterIP: 'None', ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }], selector: { app: 'db' } }, [{ ip: '10.2.0.9' }], [{ name: 'pg', port: 5432 }]);
  await exportIt(b, 'db');
  for (const c of [a, b]) {
    const imp = await until(() => getImport(c, 'db'), 'headless import');
    assert.equal(imp.spec?.type, 'Headless');
    assert.equal(imp.spec?.ips, undefined);
    assert.equal((await getService(c, NS, derivedServiceName('db')))?.spec?.clusterIP, 'None');
  }
  await b.client.create(svcPath(NS), { apiVersion: 'v1', kind: 'Service', metadata: { name: 'ext', namespace: NS }, spec: { type: 'ExternalName', externalName: 'example.com' } });
  await exportIt(b, 'ext');
  await exportIt(b, 'ghost');
  const ext = await until(async () => {
    const e = await getOrUndefined<SvcExport>(b, exportPath(NS, 'ext'));
    return cond(e, 'Valid') ? e : undefined;
  }, 'Valid on the ExternalName export');
  assert.equal(cond(ext, 'Valid')?.status, 'False');
  assert.equal(cond(ext, 'Valid')?.reason, 'InvalidServiceType');
  const ghost = await until(async () => {
    const e = await getOrUndefined<SvcExport>(b, exportPath(NS, 'ghost'));
    return cond(e, 'Valid') ? e : undefined;
  }, 'Valid on the export without a Service');
  assert.equal(cond(ghost, 'Valid')?.reason, 'NoService');
  // Both were reconciled (their status is written) after the world was listed: no import was made for them.
  for (const c of [a, b]) for (const n of ['ext', 'ghost']) assert.equal(await getImport(c, n), undefined, `no import of ${n}`);
  // A Service created later is picked up.
  await serve(b, 'ghost', { ports: [{ name: 'http', port: 80, protocol: 'TCP' }], selector: { app: 'ghost' } });
  for (const c of [a, b]) await until(() => getImport(c, 'ghost'), 'import of the Service created after its export');
});

test('unexport (delete the ServiceExport) and deleting the Service remove the import everywhere', async () => {
  for (const c of [a, b]) await until(() => getImport(c, 'web'), 'web imported');
  await b.client.delete(exportPath(NS, 'web'));
  for (const c of [a, b]) {
    await until(async () => (await getImport(c, 'web')) === undefined, 'import of web gone after unexport');
    await until(async () => (await getService(c, NS, derivedServiceName('web'))) === undefined, 'derived Service gone');
    await until(async () => (await importSlices(c, 'web')).length === 0, 'import slices gone');
  }
  await b.client.delete(svcPath(NS, 'db'));
  for (const c of [a, b]) await until(async () => (await getImport(c, 'db')) === undefined, 'import of db gone after its Service was deleted');
  const e = await until(async () => {
    const x = await getOrUndefined<SvcExport>(b, exportPath(NS, 'db'));
    return cond(x, 'Valid')?.reason === 'NoService' ? x : undefined;
  }, 'Valid=False/NoService once the Service is gone');
  assert.equal(cond(e, 'Ready')?.status, 'False');
});

test('each controller wrote its KEP-2149 ClusterProperties: the cluster id (the source-cluster label value) and the clusterset', async () => {
  for (const [c, name] of [[a, A], [b, B]] as const) {
    const id = await until(() => getOrUndefined<{ spec: { value: string } }>(c, '/apis/about.k8s.io/v1alpha1/clusterproperties/cluster.clusterset.k8s.io'), 'ClusterProperty cluster.clusterset.k8s.io');
    assert.equal(id.spec.value, name);
    const set = await until(() => getOrUndefined<{ spec: { value: string } }>(c, '/apis/about.k8s.io/v1alpha1/clusterproperties/clusterset.k8s.io'), 'ClusterProperty clusterset.k8s.io');
    assert.equal(set.spec.value, 'mesh.local');
  }
});

test('the v1alpha1 version serves the same objects', async () => {
  const r = await a.client.list<SvcImport>(`/apis/multicluster.x-k8s.io/v1alpha1/namespaces/${NS}/serviceimports`);
  assert.ok(r.items.some((i) => i.metadata?.name === 'api' && i.spec?.type === 'ClusterSetIP'));
  const derived: Service | undefined = await getService(a, NS, derivedServiceName('api'));
  assert.ok(derived?.metadata?.name && !derived.metadata.name.includes('-'), 'the derived name has no dash: never a shadow name');
});

/** The current context of a test API server's kubeconfig (the CLI takes contexts). */
function contextOf(c: Cluster): string {
  return (parse(readFileSync(c.api.kubeconfigPath, 'utf8')) as { 'current-context': string })['current-context'];
}

test('the CLI: mesh export writes a ServiceExport (--dry-run prints it), mesh imports lists the import, mesh check reports conflicts and imports without endpoints', async () => {
  await serve(b, 'cli', { ports: [{ name: 'http', port: 80, protocol: 'TCP' }], selector: { app: 'cli' } });
  const ctxB = contextOf(b);
  const dry = await runMesh(['export', 'cli', '-n', NS, '--context', ctxB, '--dry-run', '-o', 'yaml'], b.api.kubeconfigPath);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /kind: ServiceExport\n/);
  assert.equal(await getOrUndefined(b, exportPath(NS, 'cli')), undefined, '--dry-run writes nothing');
  const ex = await runMesh(['export', 'cli', '-n', NS, '--context', ctxB, '-o', 'json'], b.api.kubeconfigPath);
  assert.equal(ex.code, 0, ex.stderr);
  assert.deepEqual(JSON.parse(ex.stdout), { context: ctxB, namespace: NS, service: 'cli', exported: 'ServiceExport', changed: true });
  const imp = await until(async () => {
    const r = await runMesh(['imports', contextOf(a), '-o', 'json'], a.api.kubeconfigPath);
    const infos = JSON.parse(r.stdout) as Array<{ name: string; clusters: string[]; ips: string[]; ports: string[]; endpoints: Record<string, { ready: number }> }>;
    return infos.find((i) => i.name === 'cli' && i.ips.length === 1);
  }, 'mesh imports lists cli with a VIP');
  assert.deepEqual(imp.clusters, [B]);
  assert.deepEqual(imp.ports, ['http:80/TCP']);
  const table = await runMesh(['imports', contextOf(a)], a.api.kubeconfigPath);
  assert.match(table.stdout, /NAMESPACE\s+NAME\s+TYPE\s+IPS\s+PORTS\s+POLICY\s+CLUSTERS\s+ENDPOINTS\s+EXPORT HERE/);
  assert.match(table.stdout, /cli\s.*balanced\s+cluster-b 0 ready NoReadyEndpoints\s/);
  // mesh check's MCS lines, as the command computes them (the rest of mesh check needs an installed mesh).
  const lines: Array<{ check: string; ok: boolean; detail: string }> = [];
  await checkImports(a.client, contextOf(a), (check, ok, detail) => lines.push({ check, ok, detail }));
  const conflicts = lines.find((l) => l.check === 'no MCS export conflicts');
  assert.equal(conflicts?.ok, false, 'cluster-a exports api in conflict');
  assert.match(conflicts.detail, /shop\/api: PortConflict,TypeConflict,SessionAffinityConflict/);
  const empty = lines.find((l) => l.check === 'every MCS import has ready endpoints');
  assert.equal(empty?.ok, false);
  assert.match(empty.detail, /shop\/cli \(from cluster-b\)/, 'cli has no endpoints');
  assert.doesNotMatch(empty.detail, /shop\/api/, 'api has ready endpoints');
  const un = await runMesh(['unexport', 'cli', '-n', NS, '--context', ctxB], b.api.kubeconfigPath);
  assert.equal(un.code, 0, un.stderr);
  await until(async () => (await getImport(a, 'cli')) === undefined, 'import of cli gone after mesh unexport');
});
