// `mesh dashboard` as a process against embedded API servers (the mesh installed, a Link with its status,
// an exported Service, a "gateway pod" on a loopback address serving /metrics on the admin port) plus a
// context whose API server is gone: the JSON endpoints' shapes, live updates over the event stream, the
// unreachable cluster, no key or token anywhere, and the local server's defences.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GATEWAY_ADMIN_PORT, GATEWAY_METRICS } from '../../src/api/index.js';
import type { KubeClient } from '../../src/kube/index.js';
import { eventually } from '../../src/demo/index.js';
import type { CheckResponse, IdentityResponse, OverviewResponse, ServicesResponse, TopologyResponse, TrafficResponse } from '../../src/dashboard/index.js';
import { startClusters, type TestClusters } from '../cli/clusters.js';
import { freePort } from '../helpers/ports.js';
import { startMesh, stopAll } from '../helpers/process.js';
import { ENDPOINTS, assertNoSecrets, everything, getJson, request, secretMaterial, startDashboardProc, type DashboardProc } from './helpers.js';

const A = 'cluster-a';
const B = 'cluster-b';
const DEAD = 'cluster-gone';
const NS = '/api/v1/namespaces/mesh-system';
const LINK = '/apis/multicluster.mesh.io/v1alpha1/namespaces/mesh-system/links/cluster-b';
let t: TestClusters;
let a: KubeClient;
let b: KubeClient;
let kubeconfig: string;
let dash: DashboardProc;
const gateways: http.Server[] = [];
/** cluster-b's gateway answers /ready with 503 while this is set. */
let bGatewayDown = false;

const condition = (type: string, status: string, reason: string) => ({ type, status, reason, message: '', lastTransitionTime: new Date().toISOString() });
const status = (gatewayUp: boolean) => ({
  status: {
    conditions: [
      condition('Ready', gatewayUp ? 'True' : 'False', gatewayUp ? 'Mirroring' : 'NotReady'),
      condition('RemoteAPIReachable', 'True', 'Watching'),
      condition('CredentialsValid', 'True', 'Accepted'),
      condition('GatewayReachable', gatewayUp ? 'True' : 'False', gatewayUp ? 'ProbeSucceeded' : 'ProbeFailed'),
    ],
    mirroredServices: { count: 1, services: [{ namespace: 'shop', name: 'web', shadow: 'web-cluster-b', mode: 'gateway' }] },
    lastProbe: { time: new Date().toISOString(), latencyMs: 3.5, success: gatewayUp },
  },
});

/** A fake gateway pod's admin port: /ready, and /metrics with counters that grow by 10 tunnels per scrape. */
function fakeGateway(ready: () => boolean, metrics: (n: number) => string[]): http.Server {
  let scrapes = 0;
  const gateway = http.createServer((req, res) => {
    if (req.url === '/ready') {
      res.writeHead(ready() ? 200 : 503);
      return void res.end(ready() ? 'ok' : 'not ready');
    }
    scrapes++;
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(metrics(scrapes).join('\n') + '\n');
  });
  gateways.push(gateway);
  return gateway;
}

/** A histogram's buckets where every tunnel opened within (lo, hi] seconds. */
const connectBuckets = (labels: string, lo: number, hi: number, n: number) =>
  [[lo, 0], [hi, n], ['+Inf', n]].map(([le, c]) => `${GATEWAY_METRICS.connectSeconds}_bucket{${labels},le="${le}"} ${c}`);

/** A loopback address of its own for a fake gateway pod, since its admin port is the fixed 4191. */
async function listenGateway(gateway: http.Server): Promise<string> {
  for (let i = 0; i < 20; i++) {
    const ip = `127.250.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
    const ok = await new Promise<boolean>((res) => {
      gateway.once('error', () => res(false));
      gateway.listen(GATEWAY_ADMIN_PORT, ip, () => res(true));
    });
    if (ok) return ip;
  }
  throw new Error('no free loopback address for the fake gateway pod');
}

async function markReady(c: KubeClient): Promise<void> {
  for (const d of ['mesh-controller', 'mesh-gateway']) {
    const path = `/apis/apps/v1/namespaces/mesh-system/deployments/${d}`;
    const live = await c.get<{ metadata: { generation?: number } }>(path);
    await c.patch(`${path}/status`, { status: { replicas: 1, readyReplicas: 1, updatedReplicas: 1, availableReplicas: 1, observedGeneration: live.metadata.generation ?? 1 } });
  }
}

before(async () => {
  t = await startClusters([A, B]);
  for (const c of [A, B]) {
    const r = await t.mesh(['install', c, '--trust-root', t.rootDir, '--no-wait']);
    assert.equal(r.code, 0, r.stderr);
  }
  [a, b] = [await t.client(A), await t.client(B)];
  // mesh install applies the MCS CRDs; these clusters start without them, as one installed by an older mesh,
  // so that the dashboard is seen to discover the MCS API when it arrives (the last test installs it).
  for (const c of [a, b]) {
    for (const plural of ['serviceimports', 'serviceexports']) await c.delete(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${plural}.multicluster.x-k8s.io`);
  }
  await markReady(a);
  await markReady(b);
  const l = await t.mesh(['link', A, B, '--no-wait', '--gateway-address', '127.0.2.1:4143']);
  assert.equal(l.code, 0, l.stderr);
  await a.patch(`${LINK}/status`, status(true));
  await b.create('/api/v1/namespaces', { metadata: { name: 'shop' } });
  await b.create('/api/v1/namespaces/shop/services', { metadata: { name: 'web', labels: { 'mirror.mesh.io/exported': 'true' } }, spec: { ports: [{ name: 'http', port: 8080 }] } });
  // cluster-a's gateway opens tunnels to cluster-b in 5–10 ms; cluster-b's reaches shop/web's backend in 1–2 ms.
  const aGateway = fakeGateway(() => true, (n) => [
    `${GATEWAY_METRICS.streamsOpened}{direction="outbound",remote_cluster="cluster-b",namespace="shop",service="web"} ${n * 10}`,
    `${GATEWAY_METRICS.streamsActive}{direction="outbound",remote_cluster="cluster-b",namespace="shop",service="web"} 2`,
    `${GATEWAY_METRICS.refused}{direction="outbound",reason="NO_ROUTE",remote_cluster="cluster-b",namespace="shop",service="web"} ${n}`,
    ...connectBuckets('direction="outbound",remote_cluster="cluster-b",namespace="",service=""', 0.005, 0.01, n * 10),
  ]);
  const bGateway = fakeGateway(() => !bGatewayDown, (n) => [
    `${GATEWAY_METRICS.streamsOpened}{direction="inbound",remote_cluster="cluster-a",namespace="shop",service="web"} ${n * 10}`,
    ...connectBuckets('direction="inbound",remote_cluster="",namespace="shop",service="web"', 0.001, 0.002, n * 10),
  ]);
  for (const [c, gateway] of [[a, aGateway], [b, bGateway]] as const) {
    const ip = await listenGateway(gateway);
    await c.create(`${NS}/pods`, { metadata: { name: 'mesh-gateway-test', labels: { 'app.kubernetes.io/name': 'mesh-gateway' } }, spec: { containers: [{ name: 'gateway', image: 'mesh-federation:test' }] } });
    await c.patch(`${NS}/pods/mesh-gateway-test/status`, { status: { phase: 'Running', podIP: ip, conditions: [{ type: 'Ready', status: 'True' }] } });
  }
  // A third context whose API server is gone: a port nothing listens on.
  const kc = JSON.parse(readFileSync(t.kubeconfig, 'utf8')) as { clusters: Array<{ name: string; cluster: Record<string, string> }>; users: unknown[]; contexts: Array<{ name: string; context: Record<string, string> }> };
  kc.clusters.push({ name: DEAD, cluster: { ...kc.clusters[0].cluster, server: `https://127.0.0.1:${await freePort()}` } });
  kc.contexts.push({ name: DEAD, context: { cluster: DEAD, user: A } });
  kubeconfig = join(t.dir, 'kubeconfig-with-dead');
  writeFileSync(kubeconfig, JSON.stringify(kc));
  dash = await startDashboardProc(['--interval', '1s', '--check-interval', '10s'], kubeconfig);
});

after(async () => {
  await stopAll();
  for (const g of gateways) await new Promise((r) => g.close(r));
  await t?.cleanup();
});

test('every context of the kubeconfig is a cluster; the one whose API server is gone says so and the rest work', async () => {
  const o = await eventually('all three clusters sampled', async () => {
    const v = await getJson<OverviewResponse>(dash.port, '/api/overview');
    return v.clusters.every((c) => c.summary !== 'connecting…') && v.links.length === 1 ? v : undefined;
  }, 30_000);
  assert.deepEqual(o.clusters.map((c) => [c.context, c.name, c.reachable, c.health]), [[A, A, true, 'ok'], [B, B, true, 'ok'], [DEAD, null, false, 'failed']]);
  const dead = o.clusters[2];
  assert.match(dead.error ?? '', /unreachable: .*ECONNREFUSED/);
  assert.equal(o.clusters[0].gateway?.pods[0].live, true, 'the gateway pod\'s /ready answered through pods/proxy');
  assert.equal(o.clusters[1].gateway?.pods[0].live, true);
  assert.deepEqual(o.links.map((l) => [l.id, l.source, l.target, l.mode, l.health, l.openTunnels, l.stale]), [[`${A}/${B}`, A, B, 'gateway', 'ok', 2, false]]);
  const web = o.exports.find((e) => e.id === `${B}/shop/web`);
  assert.ok(web, JSON.stringify(o.exports));
  assert.deepEqual(web.modes, ['gateway']);
  assert.deepEqual(web.imports.map((i) => [i.cluster, i.kind, i.name, i.mode]), [[A, 'shadow', 'web-cluster-b', 'gateway']]);
});

test('the JSON endpoints: topology, services, identity (certificates only), traffic from the gateway\'s counters, check with hints', async () => {
  const topo = await getJson<TopologyResponse>(dash.port, '/api/topology');
  assert.equal(topo.probePeriodMs, 3000);
  assert.deepEqual(topo.external, []);
  const svc = await getJson<ServicesResponse>(dash.port, '/api/services');
  assert.deepEqual(svc.mcs, { [A]: false, [B]: false, [DEAD]: false });
  const id = await eventually('trust material read', async () => {
    const v = await getJson<IdentityResponse>(dash.port, '/api/identity');
    return v.clusters.filter((c) => c.issuer).length === 2 ? v : undefined;
  }, 30_000);
  assert.deepEqual(id.clusters.map((c) => [c.cluster, c.rotation, c.roots.length]), [[A, 'steady', 1], [B, 'steady', 1], [DEAD, 'unknown', 0]]);
  assert.equal(id.clusters[0].issuer?.signedBy, id.clusters[0].roots[0].fingerprint);
  assert.match(id.clusters[0].issuer?.subject ?? '', /OU=cluster-a/);
  assert.equal(id.shared.ok, true);
  const traffic = await eventually('a rate from two samples', async () => {
    const v = await getJson<TrafficResponse>(dash.port, '/api/traffic');
    return (v.links[0]?.requestsPerSec ?? 0) > 0 ? v : undefined;
  }, 30_000);
  const row = traffic.links[0];
  assert.equal(row.id, `link:${A}>${B}`);
  assert.ok((row.requestsPerSec ?? 0) > 2 && (row.requestsPerSec ?? 0) < 40, `10 tunnels per ~1 s sample: ${row.requestsPerSec}`);
  assert.equal(row.activeTunnels, 2);
  assert.ok((row.refusals.NO_ROUTE ?? 0) >= 1, JSON.stringify(row.refusals));
  assert.equal(row.series.requests.t.length, row.series.requests.v.length);
  assert.equal(row.probeMs, 3.5, 'the probe round trip from the Link status, a figure of its own');
  assert.ok(row.series.latency.v.length > 0 && row.series.latency.v.every((v) => v > 5 && v <= 10), `link latency from cluster-a's outbound histogram to cluster-b: ${row.series.latency.v}`);
  const web = traffic.services.find((r) => r.id === `svc:${B}/shop/web`);
  assert.ok(web && (web.latencyMs.p50 ?? 0) > 1 && (web.latencyMs.p50 ?? 0) <= 2, `service latency from cluster-b's inbound histogram for shop/web: ${JSON.stringify(web?.latencyMs)}`);
  assert.equal(traffic.windowMs, 15 * 60_000);
  assert.equal((await getJson<TrafficResponse>(dash.port, '/api/traffic?minutes=5')).windowMs, 5 * 60_000);
  assert.equal(traffic.problems[B], undefined, 'cluster-b\'s gateway /metrics was read');
  const check = await eventually('a check run', async () => {
    const v = await getJson<CheckResponse>(dash.port, '/api/check');
    return v.ranAt && !v.running ? v : undefined;
  }, 60_000);
  const deadLine = check.lines.find((l) => l.cluster === DEAD);
  assert.equal(deadLine?.ok, false);
  assert.match(deadLine?.hint ?? '', /is the cluster up\?/);
  assert.ok(check.lines.some((l) => l.cluster === A && l.check === 'issuer valid' && l.ok));
  assert.equal(check.lines.some((l) => /data path/.test(l.check)), false, 'no data path check: it would start pods');
});

test('no page, asset or JSON answer carries a key, a token or the kubeconfig', async () => {
  const kc = JSON.parse(readFileSync(kubeconfig, 'utf8')) as { users: Array<{ user: { token: string } }> };
  const secrets = await secretMaterial([a, b], kc.users.map((u) => u.user.token));
  assert.ok(secrets.some((s) => s.length > 100), 'found the issuer keys and link tokens to look for');
  const bodies = await everything(dash.port);
  assert.ok(bodies.size >= ENDPOINTS.length + 8);
  assertNoSecrets(bodies, secrets);
});

test('the event stream says what changed: a failing gateway probe turns the Link red without a reload', async () => {
  const events: string[] = [];
  const req = http.get({ host: '127.0.0.1', port: dash.port, path: '/api/events' }, (res) => {
    assert.match(String(res.headers['content-type']), /^text\/event-stream/);
    res.on('data', (d: Buffer) => events.push(d.toString()));
  });
  try {
    await eventually('the first versions event', async () => events.join('').includes('event: versions'), 10_000, 50);
    const before = await getJson<TopologyResponse>(dash.port, '/api/topology');
    await a.patch(`${LINK}/status`, status(false));
    const red = await eventually('the Link red', async () => {
      const v = await getJson<TopologyResponse>(dash.port, '/api/topology');
      return v.links[0]?.health === 'failed' ? v : undefined;
    }, 10_000, 100);
    assert.ok(red.version > before.version);
    assert.match(red.links[0].reason, /^GatewayReachable=False: ProbeFailed/);
    assert.ok(events.join('').includes(`"state":${red.version}`), 'the stream announced the new version');
  } finally {
    req.destroy();
    await a.patch(`${LINK}/status`, status(true));
  }
});

test('the dashboard\'s own sample turns a Link red when its target\'s gateway stops answering /ready, before any controller verdict', async () => {
  // No controller runs here: the Link's status keeps saying GatewayReachable=True; only the dashboard sees it.
  const topo = () => getJson<TopologyResponse>(dash.port, '/api/topology');
  await eventually('the Link green (the last test put its status back)', async () => (await topo()).links[0]?.health === 'ok', 15_000, 100);
  bGatewayDown = true;
  try {
    const red = await eventually('the Link red from the dashboard\'s sample', async () => {
      const v = await topo();
      return v.links[0]?.health === 'failed' ? v : undefined;
    }, 15_000, 100);
    assert.match(red.links[0].reason, /^the dashboard sees cluster-b's gateway down: no mesh-gateway pod answers \/ready \(mesh-gateway-test: .*503/);
    assert.ok(red.links[0].conditions.some((c) => c.type === 'GatewayReachable' && c.status === 'True'), 'the controller\'s condition is unchanged');
  } finally {
    bGatewayDown = false;
  }
  await eventually('the Link green again', async () => (await topo()).links[0]?.health === 'ok', 15_000, 100);
});

test('a local server\'s defences: Host must be its own (DNS rebinding), no cross-site requests, read-only, strict queries', async () => {
  const p = dash.port;
  const ok = await request(p, '/api/overview');
  assert.match(String(ok.headers['content-security-policy']), /default-src 'none'; script-src 'self'/);
  assert.equal(ok.headers['x-frame-options'], 'DENY');
  assert.equal((await request(p, '/api/overview', { headers: { host: `localhost:${p}` } })).status, 200);
  assert.equal((await request(p, '/api/overview', { headers: { host: `rebind.example:${p}` } })).status, 403);
  assert.equal((await request(p, '/', { headers: { host: `rebind.example:${p}` } })).status, 403);
  assert.equal((await request(p, '/api/overview', { headers: { origin: 'http://evil.example' } })).status, 403);
  assert.equal((await request(p, '/api/events', { headers: { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty' } })).status, 403);
  assert.equal((await request(p, '/api/overview', { headers: { origin: `http://127.0.0.1:${p}`, 'sec-fetch-site': 'same-origin' } })).status, 200);
  const post = await request(p, '/api/check', { method: 'POST' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, 'GET, HEAD');
  assert.equal((await request(p, '/api/overview?x=1')).status, 400);
  assert.equal((await request(p, '/api/traffic?minutes=99')).status, 400);
  assert.equal((await request(p, '/assets/..%2F..%2Fpackage.json')).status, 404);
  assert.equal((await request(p, '/api/nope')).status, 404);
});

test('the command line: a taken port, a bad or non-loopback --address (warned about before listening)', async () => {
  const taken = startMesh(['dashboard', A, '--port', String(dash.port)], { KUBECONFIG: kubeconfig });
  assert.equal(await taken.exited, 1);
  assert.match(taken.stderr(), /port \d+ on 127\.0\.0\.1 is in use[\s\S]*hint: pass --port with another port/);
  // 192.0.2.1 (TEST-NET-1) is on no machine: the bind fails, after the warning.
  const wide = startMesh(['dashboard', A, '--address', '192.0.2.1', '--port', '0'], { KUBECONFIG: kubeconfig });
  assert.equal(await wide.exited, 1);
  assert.match(wide.stderr(), /warning: listening on 192\.0\.2\.1, not loopback: anyone who can reach this address sees the clusterset/);
  assert.match(wide.stderr(), /cannot listen on 192\.0\.2\.1/);
  const bad = startMesh(['dashboard', '--address', 'example.com'], { KUBECONFIG: kubeconfig });
  assert.equal(await bad.exited, 2);
  assert.match(dash.proc.stdout(), /^mesh dashboard: http:\/\/127\.0\.0\.1:\d+\/ \(clusters: cluster-a, cluster-b, cluster-gone; Ctrl-C stops\)$/m);
});

test('the MCS API installed while the dashboard runs is discovered, and its ServiceImports shown as imports', async () => {
  const crd = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
  await a.create(crd, {
    apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'serviceimports.multicluster.x-k8s.io' },
    spec: {
      group: 'multicluster.x-k8s.io', scope: 'Namespaced', names: { plural: 'serviceimports', singular: 'serviceimport', kind: 'ServiceImport', shortNames: ['svcim'] },
      versions: [{ name: 'v1beta1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
    },
  });
  await eventually('the ServiceImport kind served', async () => (await a.list('/apis/multicluster.x-k8s.io/v1beta1/serviceimports')).items !== undefined, 20_000, 250);
  await a.create('/api/v1/namespaces', { metadata: { name: 'shop' } }).catch(() => undefined);
  await a.create('/apis/multicluster.x-k8s.io/v1beta1/namespaces/shop/serviceimports', {
    apiVersion: 'multicluster.x-k8s.io/v1beta1', kind: 'ServiceImport', metadata: { name: 'web', namespace: 'shop' },
    spec: { type: 'ClusterSetIP', ports: [{ port: 8080, protocol: 'TCP' }] }, status: { clusters: [{ cluster: B }] },
  });
  const svc = await eventually('the ServiceImport on the Services page', async () => {
    const v = await getJson<ServicesResponse>(dash.port, '/api/services');
    return v.mcs[A] && v.exports.find((e) => e.id === `${B}/shop/web`)?.imports.some((i) => i.kind === 'serviceimport') ? v : undefined;
  }, 45_000, 500);
  const web = svc.exports.find((e) => e.id === `${B}/shop/web`);
  assert.deepEqual(web?.modes, ['gateway', 'mcs']);
  assert.deepEqual(web?.imports.find((i) => i.kind === 'serviceimport'), { cluster: A, kind: 'serviceimport', name: 'web', mode: 'ClusterSetIP', readyEndpoints: 0 });
  assert.equal(svc.mcs[B], false, 'cluster-b has no MCS API');
});

test('a cluster whose API server goes away mid-run: its card says unreachable, its Links are stale, the others unchanged; it comes back', async () => {
  const overview = () => getJson<OverviewResponse>(dash.port, '/api/overview');
  const others = (o: OverviewResponse) => o.clusters.filter((c) => c.context !== A).map((c) => ({ ...c, lastContact: '' }));
  const before = await overview();
  assert.deepEqual(before.clusters.map((c) => [c.context, c.reachable]), [[A, true], [B, true], [DEAD, false]]);
  const server = t.servers.get(A)!;
  await server.proc.stop();
  try {
    const gone = await eventually('cluster-a unreachable', async () => {
      const v = await overview();
      return v.clusters[0].reachable === false ? v : undefined;
    }, 20_000, 200);
    const card = gone.clusters[0];
    assert.deepEqual([card.name, card.health, card.summary], [A, 'failed', 'unreachable'], 'its card keeps its name and says so');
    assert.match(card.error ?? '', /API server .* unreachable/);
    assert.deepEqual(gone.links.map((l) => [l.id, l.stale, l.health]), [[`${A}/${B}`, true, 'unknown']], 'its Link: the last state seen, no verdict');
    assert.match(gone.links[0].reason, /cluster-a is unreachable: last state seen/);
    assert.deepEqual(others(gone), others(before), 'cluster-b and the gone context are as they were');
    assert.ok(gone.exports.some((e) => e.id === `${B}/shop/web`), 'cluster-b\'s exports are still shown');
  } finally {
    await server.restart();
  }
  await eventually('cluster-a back, its Link fresh', async () => {
    const v = await overview();
    return v.clusters[0].reachable && v.links[0]?.stale === false && v.links[0].health === 'ok';
  }, 45_000, 250);
});
