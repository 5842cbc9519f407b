// The Kubernetes feed: gateways as processes watching a real embedded API server over HTTPS (with
// client-node): exported Services + EndpointSlices become reachable targets, the controller's route table
// (ConfigMap mesh-gateway-routes) becomes outbound listeners, Links name the remote gateway; changes apply
// while the gateways run. A Service carrying the mirror's labels and a port map routes nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { startApiServer, type TestApiServer } from '../helpers/apiserver.js';
import { startMesh, stopAll, repoRoot, type Proc } from '../helpers/process.js';
import { freePort } from '../helpers/ports.js';
import { KubeClient, resourcePath, isConflict, type KubeObject } from '../../src/kube/index.js';
import { createPki, writeCredentials, startEchoServer, roundTrip, outcomeOf } from './fixtures.js';
import { waitUntil } from './pair.js';

let api: TestApiServer;
let client: KubeClient;
let echo: Awaited<ReturnType<typeof startEchoServer>>;
let a: Proc;
let b: Proc;
let aAdmin = 0;
let bAdmin = 0;
let outPort = 0;
let bTunnel = 0;
let aTunnel = 0;
const pki = createPki();
const aCreds = writeCredentials(pki.leaf('cluster-a'));
const bCreds = writeCredentials(pki.leaf('cluster-b'));

const svcPath = (ns: string, name?: string) => resourcePath({ version: 'v1', plural: 'services', namespace: ns, name });
const slicePath = (ns: string, name?: string) => resourcePath({ group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespace: ns, name });
const cmPath = (name?: string) => resourcePath({ version: 'v1', plural: 'configmaps', namespace: 'mesh-system', name });
const linkPath = (name?: string) => resourcePath({ group: 'multicluster.mesh.io', version: 'v1alpha1', plural: 'links', namespace: 'mesh-system', name });

async function ensureNs(name: string): Promise<void> {
  try {
    await client.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  } catch (err) {
    if (!isConflict(err)) throw err;
  }
}

function status(port: number, path: string, host = A_HOST): Promise<{ code: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host, port, path }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

// Both gateways watch this one API server (so both see the shadow); each binds its own loopback address.
const A_HOST = '127.0.0.2';
const B_HOST = '127.0.0.3';

type Route = { outboundPort: number; remoteCluster: string; namespace: string; service: string; port: number; origin?: { kind: string; namespace: string; name: string } };

/** The controller's published route table, as the gateway reads it. */
function routeTable(routes: Route[]): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'mesh-gateway-routes', namespace: 'mesh-system' }, data: { 'routes.json': JSON.stringify({ routes }) } };
}

async function tunnelWorks(port: number): Promise<boolean> {
  try {
    return (await roundTrip(port, Buffer.from('via kube'), A_HOST)).toString() === 'via kube';
  } catch {
    return false;
  }
}

before(async () => {
  api = await startApiServer({ clusterName: 'gw' });
  client = await KubeClient.create(api.kubeConfig);
  await ensureNs('mesh-system');
  await ensureNs('demo');
  // The CRDs `mesh install` applies: Links, and ServiceExports (the gateway watches them for MCS exports).
  for (const f of ['link.yaml', 'serviceexport.yaml']) {
    const crd = parse(readFileSync(join(repoRoot, 'manifests/crds', f), 'utf8')) as KubeObject;
    await client.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
  }
  await waitUntil(async () => client.list(linkPath()).then(() => true, () => false), 10_000, 'Link CRD served');
  await waitUntil(async () => client.list('/apis/multicluster.x-k8s.io/v1beta1/serviceexports').then(() => true, () => false), 10_000, 'ServiceExport CRD served');
  echo = await startEchoServer();
  outPort = await freePort(A_HOST);
  bTunnel = await freePort(B_HOST);

  // cluster-b's side: an exported Service with a ready endpoint.
  await client.create(svcPath('demo'), { apiVersion: 'v1', kind: 'Service', metadata: { name: 'echo', namespace: 'demo', labels: { 'mirror.mesh.io/exported': 'true' } }, spec: { ports: [{ name: 'tcp', port: 7, protocol: 'TCP' }], selector: { app: 'echo' } } });
  await client.create(slicePath('demo'), {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'echo-1', namespace: 'demo', labels: { 'kubernetes.io/service-name': 'echo' } },
    addressType: 'IPv4',
    ports: [{ name: 'tcp', port: echo.port, protocol: 'TCP' }],
    endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
  });
  // cluster-a's side: a Link to cluster-b and the mirror's shadow with its port map.
  await client.create(linkPath(), {
    apiVersion: 'multicluster.mesh.io/v1alpha1',
    kind: 'Link',
    metadata: { name: 'cluster-b', namespace: 'mesh-system' },
    spec: { targetClusterName: 'cluster-b', targetClusterDomain: 'cluster.local', clusterCredentialsSecret: 'cluster-credentials-cluster-b', gateway: { addresses: [B_HOST], port: bTunnel, identity: 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway' } },
  });
  // `mesh link cluster-a cluster-b` leaves this ServiceAccount in B: cluster-a's gateway may tunnel in.
  await client.create('/api/v1/namespaces/mesh-system/serviceaccounts', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'mesh-link-cluster-a', namespace: 'mesh-system', labels: { 'mesh.io/link-source': 'cluster-a' } } });
  await client.create(cmPath(), routeTable([{ outboundPort: outPort, remoteCluster: 'cluster-b', namespace: 'demo', service: 'echo', port: 7, origin: { kind: 'Service', namespace: 'demo', name: 'echo-cluster-b' } }]));

  const common = ['--admin-port', '0', '--outbound-ports', '1024-65535', '--kubeconfig', api.kubeconfigPath, '--bundle', aCreds.bundle];
  b = startMesh(['gateway', '--cluster-name', 'cluster-b', '--host', B_HOST, '--tunnel-port', String(bTunnel), '--cert', bCreds.cert, '--key', bCreds.key, ...common]);
  bAdmin = Number((await b.waitFor(/gateway listening tunnel=\d+ admin=(\d+)/))[1]);
  a = startMesh(['gateway', '--cluster-name', 'cluster-a', '--host', A_HOST, '--tunnel-port', '0', '--cert', aCreds.cert, '--key', aCreds.key, ...common]);
  const aListening = await a.waitFor(/gateway listening tunnel=(\d+) admin=(\d+)/);
  aTunnel = Number(aListening[1]);
  aAdmin = Number(aListening[2]);
});

after(async () => {
  await stopAll();
  client?.close();
  await echo?.close();
  await api?.stop();
  aCreds.remove();
  bCreds.remove();
});

test('both gateways become ready once their watches sync; /live and /metrics answer', async () => {
  await waitUntil(async () => (await status(aAdmin, '/ready')).code === 200 && (await status(bAdmin, '/ready', B_HOST)).code === 200, 15_000, 'ready');
  assert.equal((await status(aAdmin, '/live')).code, 200);
  const m = await status(bAdmin, '/metrics', B_HOST);
  assert.equal(m.code, 200);
  assert.match(m.body, /gateway_connections_total/);
  assert.equal((await status(aAdmin, '/nope')).code, 404);
});

test('a route in the controller\'s table opens a listener that tunnels to the exported Service', async () => {
  await waitUntil(() => tunnelWorks(outPort), 15_000, 'tunnel through the shadow port');
  const m = await status(bAdmin, '/metrics', B_HOST);
  assert.match(m.body, /gateway_streams_opened_total\{direction="inbound",remote_cluster="cluster-a",namespace="demo",service="echo"\} [1-9]/);
  const am = await status(aAdmin, '/metrics');
  assert.match(am.body, /gateway_bytes_total\{direction="outbound",remote_cluster="cluster-b",namespace="demo",service="echo",flow="up"\} [1-9]/);
});

test('un-exporting the Service makes the remote gateway refuse it', async () => {
  await client.patch(svcPath('demo', 'echo'), { metadata: { labels: { 'mirror.mesh.io/exported': null } } });
  await waitUntil(async () => !(await tunnelWorks(outPort)), 15_000, 'refusal after un-export');
  const s = net.connect({ port: outPort, host: A_HOST });
  s.write('x');
  assert.equal(await outcomeOf(s), 'ECONNRESET');
  await client.patch(svcPath('demo', 'echo'), { metadata: { labels: { 'mirror.mesh.io/exported': 'gateway' } } });
  await waitUntil(() => tunnelWorks(outPort), 15_000, 'tunnel again after re-export');
});

test("a Link's gateway.allowedIdentities (a CRD field) is enforced for callers issued by its cluster", async () => {
  // cluster-b's Link to cluster-a (both gateways watch this API server; A's own view gains a remote too).
  const link = (allowedIdentities: string[]) => ({
    apiVersion: 'multicluster.mesh.io/v1alpha1',
    kind: 'Link',
    metadata: { name: 'cluster-a', namespace: 'mesh-system' },
    spec: { targetClusterName: 'cluster-a', clusterCredentialsSecret: 'cluster-credentials-cluster-a', gateway: { addresses: [A_HOST], port: aTunnel, identity: 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway', allowedIdentities } },
  });
  await client.create(linkPath(), link(['spiffe://mesh.local/ns/ops/*']));
  try {
    await waitUntil(async () => !(await tunnelWorks(outPort)), 15_000, "B refusing cluster-a's gateway");
    const m = await status(bAdmin, '/metrics', B_HOST);
    assert.match(m.body, /gateway_refused_total\{direction="inbound",reason="FORBIDDEN"/);
    await client.patch(linkPath('cluster-a'), { spec: { gateway: { allowedIdentities: ['cluster:cluster-a'] } } });
    await waitUntil(() => tunnelWorks(outPort), 15_000, 'tunnel admitted by the Link list');
  } finally {
    await client.delete(linkPath('cluster-a'));
  }
});

// Regression (issue 17 item 2): a Service anyone may create, carrying the mirror's labels and a port map
// naming an outbound port, opened (or took over) that listener.
test('a Service with the mirror labels and a port map opens no listener; only the table does', async () => {
  const impostorPort = await freePort(A_HOST);
  const nextPort = await freePort(A_HOST);
  await ensureNs('attacker');
  await client.create(svcPath('attacker'), {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: 'evil',
      namespace: 'attacker',
      labels: { 'mirror.mesh.io/mirrored-service': 'true', 'mirror.mesh.io/cluster-name': 'cluster-b' },
      annotations: { 'mirror.mesh.io/remote-svc-fq-name': 'echo.demo.svc.cluster.local', 'mirror.mesh.io/mode': 'gateway', 'mirror.mesh.io/gateway-port-map': JSON.stringify([{ port: 7, protocol: 'TCP', outboundPort: impostorPort }, { port: 7, protocol: 'TCP', outboundPort: outPort }]) },
    },
    spec: { ports: [{ port: 7, protocol: 'TCP' }] },
  });
  // A later change to the table is applied: the impostor, created before it, has been seen by then.
  const route = (p: number, origin: string): Route => ({ outboundPort: p, remoteCluster: 'cluster-b', namespace: 'demo', service: 'echo', port: 7, origin: { kind: 'Service', namespace: 'demo', name: origin } });
  await client.replace(cmPath('mesh-gateway-routes'), routeTable([route(outPort, 'echo-cluster-b'), route(nextPort, 'echo-next')]));
  await waitUntil(() => tunnelWorks(nextPort), 15_000, 'the route added to the table');
  assert.equal(await outcomeOf(net.connect({ port: impostorPort, host: A_HOST })), 'ECONNREFUSED');
  assert.ok(await tunnelWorks(outPort), 'the published route still tunnels to its Service');
  await client.delete(svcPath('attacker', 'evil'));
  await client.replace(cmPath('mesh-gateway-routes'), routeTable([route(outPort, 'echo-cluster-b')]));
  await waitUntil(async () => !(await tunnelWorks(nextPort)), 15_000, 'the removed route closes');
});

test('removing a route from the table closes its listener', async () => {
  await client.replace(cmPath('mesh-gateway-routes'), routeTable([]));
  await waitUntil(async () => !(await tunnelWorks(outPort)), 15_000, 'tunnel gone');
  assert.equal(await outcomeOf(net.connect({ port: outPort, host: A_HOST })), 'ECONNREFUSED');
});
