// MCS over IPv6 and dual-stack, control plane: two API servers (processes), cluster-b dual-stack
// (`--service-cidr 10.97.0.0/16,fd00:10:97::/108`), cluster-a single-stack IPv4, each with its controller
// (a process), linked both ways. Exports in cluster-b with PreferDualStack, RequireDualStack (IPv6 first) and
// ipFamilies [IPv6] give ServiceImports whose spec.ips are the derived Service's clusterIPs (one VIP per
// family, in its order) and whose ipFamilies are the export's; in the single-stack cluster the same imports
// get the VIP that cluster can give (an IPv6-only one none, with a Warning Event). A downgrade of the
// exported Service to SingleStack drops the second VIP everywhere. A third, dual-stack cluster-c links to
// cluster-b in gateway mode, with dual-stack gateway pods: its imports and label-export shadows get a gateway
// slice per family at the same outbound port, so the IPv6 VIP reaches the gateway too.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { isIPv4, isIPv6 } from 'node:net';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { startMesh, stopAll, type Proc } from '../helpers/process.js';
import { derivedServiceName, type ServiceImportSpec } from '../../src/api/index.js';
import { isNotFound, type KubeObject } from '../../src/kube/index.js';
import type { Service } from '../../src/mirror/index.js';
import { startCluster, stopCluster, prepareLocal, putSecret, adminKubeconfig, createLink, getService, until, startController, ensureNamespace, svcPath, slicePath, exportPath, importPath, type Cluster } from './env.js';
import type { EndpointSlice } from '../../src/mirror/index.js';

let a: Cluster;
let b: Cluster;
let c: Cluster;
let dns: Proc | undefined;
let dnsPort = 0;
const execFileP = promisify(execFile);
const hasDig = spawnSync('dig', ['-v'], { encoding: 'utf8' }).error === undefined;
if (!hasDig) console.log('# mcs-ipv6: dig is not installed (apt-get install -y dnsutils): the mesh dns checks are skipped');

/** The records `dig` gets for `name`/`type` from `mesh dns` (sorted), and the status. */
async function dig(name: string, type: string): Promise<{ status: string; records: string[]; out: string }> {
  const res = await execFileP('dig', ['@127.0.0.1', '-p', String(dnsPort), '+tries=1', '+time=3', name, type], { encoding: 'utf8', timeout: 15_000 }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
  const out = res.stdout ?? '';
  const section = /;; ANSWER SECTION:\n([\s\S]*?)(\n\n|$)/.exec(out)?.[1] ?? '';
  const records = section.split('\n').filter(Boolean).map((l) => l.split(/\s+/)).filter((f) => f[3] === type).map((f) => f[4]!).sort();
  return { status: /status: (\w+)/.exec(out)?.[1] ?? 'NONE', records, out };
}

/** Polls dig until the answer is `want` (bounded: 100 tries); returns the last answer either way. */
async function digUntil(name: string, type: string, want: string[]): Promise<string[]> {
  let d = await dig(name, type);
  for (let i = 0; i < 100 && JSON.stringify(d.records) !== JSON.stringify([...want].sort()); i++) {
    await new Promise((r) => setTimeout(r, 100));
    d = await dig(name, type);
  }
  assert.equal(d.status, 'NOERROR', d.out);
  return d.records;
}
const A = 'cluster-a';
const B = 'cluster-b';
const C = 'cluster-c';
const NS = 'v6';

interface SvcImport extends KubeObject {
  spec?: ServiceImportSpec;
}

async function getImport(c: Cluster, name: string): Promise<SvcImport | undefined> {
  try {
    return await c.client.get<SvcImport>(importPath(NS, name));
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

async function exportService(name: string, spec: Record<string, unknown>): Promise<Service> {
  const svc = await b.client.create<Service>(svcPath(NS), { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS }, spec: { selector: { app: name }, ports: [{ name: 'http', port: 80 }], ...spec } });
  await b.client.create(exportPath(NS), { apiVersion: 'multicluster.x-k8s.io/v1beta1', kind: 'ServiceExport', metadata: { name, namespace: NS } });
  return svc;
}

/** The import once its VIPs are the derived Service's clusterIPs, and that Service. */
async function importWithVips(c: Cluster, name: string, count: number): Promise<{ imp: SvcImport; derived: Service }> {
  return until(async () => {
    const imp = await getImport(c, name);
    const derived = await getService(c, NS, derivedServiceName(name));
    if (!imp || !derived || imp.spec?.ips?.length !== count) return undefined;
    return { imp, derived };
  }, `ServiceImport ${NS}/${name} with ${count} VIP(s) in ${c === a ? A : B}`);
}

before(async () => {
  [a, b, c] = await Promise.all([startCluster(A), startCluster(B, ['--service-cidr', '10.97.0.0/16,fd00:10:97::/108']), startCluster(C, ['--service-cidr', '10.98.0.0/16,fd00:10:98::/108'])]);
  await Promise.all([prepareLocal(a), prepareLocal(b), prepareLocal(c)]);
  await Promise.all([ensureNamespace(a, NS), ensureNamespace(b, NS), ensureNamespace(c, NS)]);
  await putSecret(a, `cluster-credentials-${B}`, adminKubeconfig(b));
  await putSecret(b, `cluster-credentials-${A}`, adminKubeconfig(a));
  await putSecret(c, `cluster-credentials-${B}`, adminKubeconfig(b));
  // a and b flat both ways: the VIPs, not the data path, are under test there.
  await createLink(a, B, { targetClusterName: B, clusterCredentialsSecret: `cluster-credentials-${B}` });
  await createLink(b, A, { targetClusterName: A, clusterCredentialsSecret: `cluster-credentials-${A}` });
  // cluster-c's gateway pods have both families: the EndpointSlice controller's two slices of mesh-gateway.
  await c.client.create(slicePath('mesh-system'), gatewaySlice('IPv4', '127.0.12.1'));
  await c.client.create(slicePath('mesh-system'), gatewaySlice('IPv6', 'fd00:10:3::a:1'));
  await createLink(c, B, {
    targetClusterName: B,
    clusterCredentialsSecret: `cluster-credentials-${B}`,
    gateway: { addresses: ['127.0.0.1'], port: 1, identity: 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway' },
    probe: { period: '60s', failureThreshold: 100 },
  });
  await Promise.all([startController(a, [], A), startController(b, [], B), startController(c, [], C)]);
  if (hasDig) {
    // `mesh dns` as deployed for a real cluster: clusterset.local from cluster-b's ServiceImports.
    dns = startMesh(['dns', '--listen', '127.0.0.1:0', '--kubeconfig', b.api.kubeconfigPath]);
    dnsPort = (JSON.parse((await dns.waitFor(/^(\{"ready":true.*\})$/m, 30_000))[1] ?? '{}') as { port: number }).port;
  }
});

after(async () => {
  await stopAll();
  await Promise.all([stopCluster(a), stopCluster(b), stopCluster(c)]);
});

function gatewaySlice(family: 'IPv4' | 'IPv6', ip: string): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `mesh-gateway-${family.toLowerCase()}`, namespace: 'mesh-system', labels: { 'kubernetes.io/service-name': 'mesh-gateway' } },
    addressType: family,
    endpoints: [{ addresses: [ip], conditions: { ready: true } }],
    ports: [{ name: 'tunnel', port: 4143, protocol: 'TCP' }],
  };
}

test('PreferDualStack export: two VIPs (IPv4, IPv6) in the dual-stack cluster, the IPv4 one in the single-stack cluster', async () => {
  const svc = await exportService('web', { ipFamilyPolicy: 'PreferDualStack' });
  assert.deepEqual(svc.spec?.ipFamilies, ['IPv4', 'IPv6']);
  const { imp, derived } = await importWithVips(b, 'web', 2);
  assert.deepEqual(imp.spec?.ips, derived.spec?.clusterIPs, 'spec.ips are the derived Service clusterIPs, in order');
  assert.ok(isIPv4(imp.spec!.ips![0]!) && isIPv6(imp.spec!.ips![1]!), String(imp.spec?.ips));
  assert.ok(imp.spec!.ips![1]!.startsWith('fd00:10:97::'));
  assert.deepEqual(imp.spec?.ipFamilies, ['IPv4', 'IPv6']);
  const single = await importWithVips(a, 'web', 1);
  assert.deepEqual(single.imp.spec?.ips, single.derived.spec?.clusterIPs);
  assert.ok(isIPv4(single.imp.spec!.ips![0]!));
  assert.deepEqual(single.imp.spec?.ipFamilies, ['IPv4', 'IPv6'], 'copied from the export');
});

test('RequireDualStack with IPv6 first: VIPs in that order; an IPv6-only export has its IPv6 VIP, and none (with an Event) where IPv6 is not configured', async () => {
  await exportService('api', { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv6', 'IPv4'] });
  const { imp, derived } = await importWithVips(b, 'api', 2);
  assert.ok(isIPv6(imp.spec!.ips![0]!) && isIPv4(imp.spec!.ips![1]!), String(imp.spec?.ips));
  assert.deepEqual(imp.spec?.ips, derived.spec?.clusterIPs);
  assert.deepEqual(imp.spec?.ipFamilies, ['IPv6', 'IPv4']);

  await exportService('six', { ipFamilies: ['IPv6'] });
  const six = await importWithVips(b, 'six', 1);
  assert.ok(isIPv6(six.imp.spec!.ips![0]!));
  assert.deepEqual(six.imp.spec?.ipFamilies, ['IPv6']);
  assert.deepEqual(six.derived.spec?.ipFamilies, ['IPv6']);
  // cluster-a has no IPv6 range: the import is there, without a VIP, and says why.
  const ev = await until(
    async () => (await a.client.list<KubeObject & { reason?: string; message?: string; involvedObject?: { name?: string } }>(`/api/v1/namespaces/${NS}/events`)).items.find((e) => e.reason === 'DerivedServiceInvalid' && e.involvedObject?.name === 'six'),
    'a DerivedServiceInvalid Event on the import in cluster-a',
  );
  assert.match(ev.message ?? '', /spec\.ipFamilies\[0\]: Invalid value: "IPv6": not configured on this cluster/);
  const impA = await getImport(a, 'six');
  assert.ok(impA, 'the import exists in cluster-a');
  assert.equal(impA.spec?.ips, undefined);
  assert.deepEqual(impA.spec?.ipFamilies, ['IPv6']);
});

test("the exporter's IPv6 EndpointSlice is carried into the import beside the IPv4 one (local and flat), so the IPv6 VIP has endpoints", async () => {
  const mk = (family: 'IPv4' | 'IPv6', ip: string): EndpointSlice => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `api-${family.toLowerCase()}`, namespace: NS, labels: { 'kubernetes.io/service-name': 'api', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
    addressType: family,
    endpoints: [{ addresses: [ip], conditions: { ready: true } }],
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  });
  await b.client.create(slicePath(NS), mk('IPv6', 'fd00:10:2::1:5'));
  await b.client.create(slicePath(NS), mk('IPv4', '10.2.1.5'));
  for (const c of [b, a]) {
    const slices = await until(async () => {
      const items = (await c.client.list<EndpointSlice>(slicePath(NS), { labelSelector: 'multicluster.kubernetes.io/service-name=api' })).items;
      return items.length === 2 ? items : undefined;
    }, `two import slices of api in ${c === a ? A : B}`);
    const byFamily = Object.fromEntries(slices.map((x) => [x.addressType, x.endpoints?.map((e) => e.addresses[0])]));
    assert.deepEqual(byFamily, { IPv4: ['10.2.1.5'], IPv6: ['fd00:10:2::1:5'] });
    assert.ok(slices.every((x) => x.metadata?.labels?.['kubernetes.io/service-name'] === derivedServiceName('api')));
  }
});

test('gateway mode, dual-stack gateway pods: the import has both VIPs and a gateway slice per family at one outbound port, which the route table maps; a label-export shadow too', async () => {
  const { imp, derived } = await importWithVips(c, 'web', 2);
  assert.ok(isIPv4(imp.spec!.ips![0]!) && isIPv6(imp.spec!.ips![1]!) && imp.spec!.ips![1]!.startsWith('fd00:10:98::'), String(imp.spec?.ips));
  assert.deepEqual(imp.spec?.ips, derived.spec?.clusterIPs);
  const name = derivedServiceName('web');
  const slices = await until(async () => {
    const items = (await c.client.list<EndpointSlice>(slicePath(NS), { labelSelector: 'multicluster.kubernetes.io/service-name=web' })).items;
    return items.length === 2 ? items.sort((x, y) => (x.addressType ?? '').localeCompare(y.addressType ?? '')) : undefined;
  }, 'two gateway slices of web in cluster-c');
  assert.deepEqual(slices.map((x) => [x.metadata?.name, x.addressType, x.endpoints?.map((e) => e.addresses[0]), x.metadata?.labels?.['kubernetes.io/service-name'], x.metadata?.labels?.['multicluster.kubernetes.io/source-cluster']]), [
    [`${name}-${B}-gateway`, 'IPv4', ['127.0.12.1'], name, B],
    [`${name}-${B}-gateway-ipv6`, 'IPv6', ['fd00:10:3::a:1'], name, B],
  ]);
  const port = slices[0]!.ports?.[0]?.port;
  assert.ok(port && port >= 14000 && port <= 14999, String(port));
  assert.deepEqual(slices[1]!.ports?.map((p) => p.port), [port], 'the same outbound port on both families');
  const routes = await until(async () => {
    const cm = await c.client.get<{ data?: Record<string, string> }>('/api/v1/namespaces/mesh-system/configmaps/mesh-gateway-routes').catch(() => undefined);
    const table = JSON.parse(cm?.data?.['routes.json'] ?? '{"routes":[]}') as { routes: Array<{ outboundPort: number; remoteCluster: string; service: string; port: number }> };
    return table.routes.find((r) => r.outboundPort === port);
  }, 'a route for the outbound port');
  assert.deepEqual([routes.remoteCluster, routes.port], [B, 80]);

  // Linkerd-style label export of a plain Service: its shadow web-label-cluster-b has both slices too.
  await b.client.create(svcPath(NS), { apiVersion: 'v1', kind: 'Service', metadata: { name: 'lbl', namespace: NS, labels: { 'mirror.mesh.io/exported': 'gateway' } }, spec: { ports: [{ name: 'http', port: 80 }] } });
  const shadowSlices = await until(async () => {
    const items = (await c.client.list<EndpointSlice>(slicePath(NS), { labelSelector: `kubernetes.io/service-name=lbl-${B}` })).items;
    return items.length === 2 ? items.sort((x, y) => (x.addressType ?? '').localeCompare(y.addressType ?? '')) : undefined;
  }, `two gateway slices of the shadow lbl-${B}`);
  assert.deepEqual(shadowSlices.map((x) => [x.metadata?.name, x.addressType, x.endpoints?.map((e) => e.addresses[0])]), [
    [`lbl-${B}-gateway`, 'IPv4', ['127.0.12.1']],
    [`lbl-${B}-gateway-ipv6`, 'IPv6', ['fd00:10:3::a:1']],
  ]);

  // The gateway loses its IPv6 address (a single-stack gateway Service again): the IPv6 slices go.
  await c.client.delete(`${slicePath('mesh-system')}/mesh-gateway-ipv6`);
  await until(async () => {
    const items = (await c.client.list<EndpointSlice>(slicePath(NS), { labelSelector: 'multicluster.kubernetes.io/service-name=web' })).items;
    return items.length === 1 && items[0]!.addressType === 'IPv4' ? true : undefined;
  }, 'the IPv6 gateway slice of web removed');
});

test('mesh dns: A answers the IPv4 VIP, AAAA the IPv6 one, for each import', { skip: !hasDig && 'dig is not installed' }, async () => {
  for (const [name, count] of [['web', 2], ['api', 2], ['six', 1]] as const) {
    const ips = (await getImport(b, name))?.spec?.ips ?? [];
    assert.equal(ips.length, count, `${name}: ${ips.join(',')}`);
    const fq = `${name}.${NS}.svc.clusterset.local`;
    assert.deepEqual(await digUntil(fq, 'AAAA', ips.filter((ip) => isIPv6(ip))), ips.filter((ip) => isIPv6(ip)), `${fq} AAAA`);
    assert.deepEqual(await digUntil(fq, 'A', ips.filter((ip) => isIPv4(ip))), ips.filter((ip) => isIPv4(ip)), `${fq} A`);
  }
});

test('the exported Service downgraded to SingleStack: the IPv6 VIP goes from the import, the IPv4 one stays', async () => {
  const before = (await importWithVips(b, 'web', 2)).imp.spec!.ips!;
  const live = await b.client.get<Service>(svcPath(NS, 'web'));
  await b.client.replace(svcPath(NS, 'web'), { ...live, spec: { ...live.spec, ipFamilyPolicy: 'SingleStack' } });
  const { imp, derived } = await importWithVips(b, 'web', 1);
  assert.deepEqual(imp.spec?.ips, [before[0]], 'the primary VIP is kept');
  assert.deepEqual(imp.spec?.ipFamilies, ['IPv4']);
  assert.deepEqual(derived.spec?.ipFamilies, ['IPv4']);
  assert.equal(derived.spec?.ipFamilyPolicy, 'SingleStack');
  if (hasDig) {
    assert.deepEqual(await digUntil(`web.${NS}.svc.clusterset.local`, 'AAAA', []), [], 'no AAAA once the IPv6 VIP is gone');
    assert.deepEqual(await digUntil(`web.${NS}.svc.clusterset.local`, 'A', [before[0]!]), [before[0]]);
  }
});
