// The dashboard's rules without clusters: reading gateway metrics (and refusing odd samples), rates from
// counters across samples and pod restarts, bounded series memory, what colours a Link, where imports go,
// rotation states, and the local server's request vetting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GATEWAY_METRICS } from '../../src/api/index.js';
import { GatewayMetrics } from '../../src/gateway/metrics.js';
import { createIssuer, createRoot, TrustBundle } from '../../src/trust/index.js';
import { histogramQuantile, parsePrometheusText, readGatewayMetrics } from '../../src/dashboard/prom.js';
import { Ring, SeriesStore } from '../../src/dashboard/series.js';
import { TrafficBook, serviceRowId } from '../../src/dashboard/traffic.js';
import { exportViews, gatewayDown, linkHealth, linkViews, type ClusterInput } from '../../src/dashboard/snapshot.js';
import { clusterTrust, rotationState, sharedRoot } from '../../src/dashboard/identity.js';
import { policyFor, vet } from '../../src/dashboard/security.js';
import type { Sampled } from '../../src/dashboard/cluster-source.js';
import { linkInfo } from '../../src/api/index.js';
import { renderReport } from '../../src/demo/index.js';

test('the gateway registers every metric the dashboard and mesh gateways read, under the names in src/api', async () => {
  const m = new GatewayMetrics();
  const names = (await m.registry.getMetricsAsJSON()).map((x) => x.name);
  for (const name of Object.values(GATEWAY_METRICS)) assert.ok(names.includes(name), `gateway registry lacks ${name}`);
});

test('Prometheus text: labels with escapes, comments and malformed lines skipped, +Inf buckets', () => {
  const s = parsePrometheusText([
    '# HELP x y',
    'a_total{k="v\\"q",z="1"} 3',
    'b 4.5 1700000000000',
    'broken{k=v} 1',
    'c{le="+Inf"} +Inf',
    'd{k="x"} NaN',
  ].join('\n'));
  assert.deepEqual(s.map((x) => [x.name, x.labels, x.value]), [['a_total', { k: 'v"q', z: '1' }, 3], ['b', {}, 4.5], ['c', { le: '+Inf' }, Infinity]]);
});

test('gateway metrics: only samples with the expected labels are taken; the rest are counted as rejected', () => {
  const text = [
    `${GATEWAY_METRICS.streamsOpened}{direction="outbound",remote_cluster="b",namespace="demo",service="web"} 7`,
    `${GATEWAY_METRICS.streamsOpened}{direction="sideways",remote_cluster="b",namespace="demo",service="web"} 7`,
    `${GATEWAY_METRICS.refused}{direction="inbound",reason="NOT_EXPORTED",remote_cluster="",namespace="demo",service="db"} 2`,
    `${GATEWAY_METRICS.bytes}{direction="outbound",remote_cluster="b",namespace="demo",service="web",flow="up"} -5`,
    `${GATEWAY_METRICS.connectSeconds}_bucket{direction="inbound",le="0.005"} 3`,
  ].join('\n');
  const r = readGatewayMetrics(text);
  assert.equal(r.streamsOpened.length, 1);
  assert.equal(r.refused[0].labels.reason, 'NOT_EXPORTED');
  assert.equal(r.bytes.length, 0);
  assert.equal(r.connectBuckets.length, 1);
  assert.equal(r.rejected, 2);
});

test('histogram quantiles interpolate inside the bucket; none without observations', () => {
  assert.equal(histogramQuantile(0.5, [{ le: 0.01, count: 0 }, { le: Infinity, count: 0 }]), null);
  assert.equal(histogramQuantile(0.5, [{ le: 0.01, count: 10 }, { le: 0.02, count: 20 }, { le: Infinity, count: 20 }]), 0.01);
  assert.ok(Math.abs((histogramQuantile(0.75, [{ le: 0.01, count: 10 }, { le: 0.02, count: 20 }, { le: Infinity, count: 20 }]) ?? 0) - 0.015) < 1e-9);
});

test('series memory is bounded: a ring keeps its capacity, the store its series count (least recently updated dropped)', () => {
  const r = new Ring(3);
  for (let i = 0; i < 10; i++) r.push(i, i * 10);
  assert.deepEqual(r.since(0), { t: [7, 8, 9], v: [70, 80, 90] });
  const store = new SeriesStore({ capacity: 181, maxSeries: 50 });
  for (let i = 0; i < 200; i++) for (let k = 0; k < 400; k++) store.push(`s${(i * 7 + k) % 120}`, i * 1000 + k, 1);
  assert.equal(store.size, 50);
  assert.ok(store.points() <= 50 * 181, `${store.points()} points`);
  store.push('keep', 1, 1);
  for (let k = 0; k < 49; k++) store.push(`new${k}`, 2, 1);
  assert.ok(store.get('keep'), 'the series updated most recently but 49 others stays');
  store.push('one-more', 3, 1);
  assert.equal(store.get('keep'), undefined, 'then it is the oldest and goes');
});

function scrape(opened: number, bytesUp: number, refused: number, active: number): ReturnType<typeof readGatewayMetrics> {
  return readGatewayMetrics([
    `${GATEWAY_METRICS.streamsOpened}{direction="outbound",remote_cluster="b",namespace="demo",service="web"} ${opened}`,
    `${GATEWAY_METRICS.bytes}{direction="outbound",remote_cluster="b",namespace="demo",service="web",flow="up"} ${bytesUp}`,
    `${GATEWAY_METRICS.refused}{direction="outbound",reason="NO_ROUTE",remote_cluster="b",namespace="demo",service="web"} ${refused}`,
    `${GATEWAY_METRICS.streamsActive}{direction="outbound",remote_cluster="b",namespace="demo",service="web"} ${active}`,
    `${GATEWAY_METRICS.streamsOpened}{direction="inbound",remote_cluster="",namespace="demo",service="api"} ${opened * 2}`,
  ].join('\n'));
}

test('traffic: rates from counter deltas per pod; a pod\'s history before the first sample is not traffic; a restart starts from zero', () => {
  const book = new TrafficBook({ intervalMs: 1000, windowMs: 60_000 });
  book.record('a', 1000, new Map([['gw-1', scrape(100, 5000, 1, 2)]]), new Map([['b', 3]]));
  book.record('a', 3000, new Map([['gw-1', scrape(110, 7000, 3, 1)]]), new Map([['b', 4]]));
  let view = book.response([{ id: 'a/b', source: 'a', target: 'b', mode: 'gateway' } as never], [], {}, 3000);
  assert.equal(view.links[0].requestsPerSec, 5);
  assert.equal(view.links[0].bytesPerSec, 1000);
  assert.equal(view.links[0].activeTunnels, 1);
  assert.deepEqual(view.links[0].refusals, { NO_ROUTE: 2 });
  assert.equal(view.links[0].probeMs, 4, 'the controller\'s probe round trip, apart from tunnel latency');
  assert.deepEqual(view.links[0].series.latency.v, [], 'no tunnel-open latency without gateway_connect_seconds');
  // gw-1 restarted (counter went down) and gw-2 appeared with history: only gw-1's new 4 count.
  book.record('a', 4000, new Map([['gw-1', scrape(4, 100, 0, 0)], ['gw-2', scrape(1000, 1, 0, 0)]]), new Map([['b', 4]]));
  view = book.response([{ id: 'a/b', source: 'a', target: 'b', mode: 'gateway' } as never], [], {}, 4000);
  assert.equal(view.links[0].requestsPerSec, 4);
  assert.deepEqual(view.links[0].series.requests.v, [5, 4]);
  const svc = book.store.since(`${serviceRowId('a', 'demo', 'api')}|requests`, 0);
  assert.deepEqual(svc.v, [10, 8]);
});

test('traffic: tunnel latency per row, from the gateways\' own histograms: each Service its exporting gateway\'s, each Link its source gateway\'s to that remote', async () => {
  // Real gateway registries, scraped as text: cluster b exports a fast and a slow Service, cluster a opens
  // tunnels to b (slow) and to c (fast).
  const gwA = new GatewayMetrics();
  const gwB = new GatewayMetrics();
  const remote = (cluster: string) => ({ cluster, clusterDomain: 'cluster.local', addresses: ['127.0.0.1'], port: 4143 });
  gwA.connect.setCurrent([], [remote('b'), remote('c')]);
  gwB.connect.setCurrent([{ namespace: 'demo', name: 'fast', ports: [] }, { namespace: 'demo', name: 'slow', ports: [] }], []);
  const rows = [serviceRowId('b', 'demo', 'fast'), serviceRowId('b', 'demo', 'slow')];
  const book = new TrafficBook({ intervalMs: 1000, windowMs: 60_000 });
  const sample = async (now: number) => {
    book.record('a', now, new Map([['gw-a', readGatewayMetrics(await gwA.registry.metrics())]]), new Map([['b', 1.5], ['c', 0.7]]));
    book.record('b', now, new Map([['gw-b', readGatewayMetrics(await gwB.registry.metrics())]]), new Map(), rows);
  };
  await sample(1000);
  for (let i = 0; i < 20; i++) {
    gwB.connect.inbound('demo', 'fast', 0.0004);
    gwB.connect.inbound('demo', 'slow', 0.04);
    gwA.connect.outbound('b', 0.2);
    gwA.connect.outbound('c', 0.002);
  }
  await sample(2000);
  const links = ['b', 'c'].map((target) => ({ id: `a/${target}`, source: 'a', target, mode: 'gateway' }) as never);
  const exp = (name: string) => ({ id: `b/demo/${name}`, cluster: 'b', namespace: 'demo', name, modes: ['gateway'] }) as never;
  const view = book.response(links, [exp('fast'), exp('slow')], {}, 2000);
  const [toB, toC] = view.links;
  const [fast, slow] = view.services;
  const within = (x: number | null, lo: number, hi: number, what: string) => assert.ok(x !== null && x > lo && x <= hi, `${what}: ${x} ms not in (${lo}, ${hi}]`);
  within(fast.latencyMs.p50, 0, 0.5, 'fast p50');
  within(slow.latencyMs.p50, 25, 50, 'slow p50');
  within(slow.latencyMs.p95, 25, 50, 'slow p95');
  within(toB.latencyMs.p50, 100, 250, 'a → b p50');
  within(toC.latencyMs.p50, 1, 2.5, 'a → c p50');
  assert.deepEqual([toB.probeMs, toC.probeMs, fast.probeMs], [1.5, 0.7, null], 'the probe round trip stays a figure of its own');
  assert.match(slow.latencyMs.source, /b gateway: .*demo\/slow/);
});

const cond = (type: string, status: string, reason = 'R', message = '') => ({ type, status, reason, message });
const link = (target: string, conditions: ReturnType<typeof cond>[], services: object[] = []) => ({
  metadata: { name: target },
  spec: { targetClusterName: target, clusterCredentialsSecret: `cluster-credentials-${target}`, gateway: { addresses: ['10.0.0.1'], port: 4143, identity: 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway' } },
  status: { conditions, mirroredServices: { count: services.length, services } },
});

test('a Link is red when a condition fails (gateway probe first of all), amber while pending or partly failing, green when Ready', () => {
  const ok = [cond('SpecValid', 'True'), cond('CredentialsValid', 'True'), cond('RemoteAPIReachable', 'True'), cond('GatewayReachable', 'True'), cond('Ready', 'True')];
  assert.equal(linkHealth(linkInfo(link('b', ok))).health, 'ok');
  const down = ok.map((c) => (c.type === 'GatewayReachable' ? cond('GatewayReachable', 'False', 'ProbeFailed', 'connect ECONNREFUSED') : c));
  assert.deepEqual(linkHealth(linkInfo(link('b', down))), { health: 'failed', reason: 'GatewayReachable=False: ProbeFailed — connect ECONNREFUSED' });
  assert.equal(linkHealth(linkInfo(link('b', []))).health, 'warn');
  assert.equal(linkHealth(linkInfo(link('b', ok, [{ namespace: 'x', name: 'y', shadow: 'y-b', mode: 'gateway', problem: 'namespace x does not exist' }]))).health, 'warn');
});

function sampled(name: string, reachable = true): Sampled {
  return { at: 0, reachable, meshInstalled: true, name, gatewayPods: [], scrapes: new Map() };
}

function input(name: string, over: Partial<ClusterInput> = {}): ClusterInput {
  return { context: name, server: 'https://x', sampled: sampled(name), links: [], services: [], slices: [], serviceImports: [], serviceExports: [], mcs: false, ...over };
}

const svc = (ns: string, name: string, labels: Record<string, string>, annotations: Record<string, string> = {}) => ({ metadata: { namespace: ns, name, labels, annotations }, spec: { ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] } });
const slice = (ns: string, svcName: string, ready: boolean[], label = 'kubernetes.io/service-name') => ({ metadata: { namespace: ns, name: `${svcName}-x`, labels: { [label]: svcName } }, endpoints: ready.map((r) => ({ addresses: ['10.0.0.9'], conditions: { ready: r } })) });

test('exports: each is placed in its cluster with its ready endpoints, and imported where each Link\'s status says, problems as conflicts', () => {
  const a = input('a', {
    links: [link('b', [], [
      { namespace: 'demo', name: 'web', shadow: 'web-b', mode: 'gateway' },
      { namespace: 'shop', name: 'cart', shadow: 'cart-b', mode: 'gateway', problem: 'Service shop/cart-b exists and is not the mirror\'s' },
    ])],
    services: [svc('demo', 'web-b', { 'mirror.mesh.io/mirrored-service': 'true', 'mirror.mesh.io/cluster-name': 'b' }), svc('demo', 'old-z', { 'mirror.mesh.io/mirrored-service': 'true', 'mirror.mesh.io/cluster-name': 'z' }, { 'mirror.mesh.io/remote-svc-fq-name': 'old.demo.svc.cluster.local' }), svc('demo', 'db-0-db-b', { 'mirror.mesh.io/mirrored-service': 'true', 'mirror.mesh.io/cluster-name': 'b', 'mirror.mesh.io/headless-mirror-svc-name': 'db-b' })],
    slices: [slice('demo', 'web-b', [true])],
    serviceImports: [{ metadata: { namespace: 'demo', name: 'web' }, spec: { type: 'ClusterSetIP' }, status: { clusters: [{ cluster: 'b' }] } }],
  });
  const b = input('b', { services: [svc('demo', 'web', { 'mirror.mesh.io/exported': 'true' }), svc('demo', 'flat', { 'mirror.mesh.io/exported': 'flat' }), svc('demo', 'plain', {})], slices: [slice('demo', 'web', [true, false, true])] });
  const views = exportViews([a, b]);
  const web = views.find((e) => e.id === 'b/demo/web');
  assert.ok(web);
  assert.deepEqual(web.modes, ['gateway', 'mcs']);
  assert.equal(web.readyEndpoints, 2);
  assert.deepEqual(web.imports.map((i) => [i.cluster, i.kind, i.name, i.readyEndpoints]), [['a', 'shadow', 'web-b', 1], ['a', 'serviceimport', 'web', 0]]);
  assert.equal(views.find((e) => e.id === 'b/demo/flat')?.modes[0], 'flat');
  assert.equal(views.find((e) => e.id === 'b/demo/plain'), undefined);
  const cart = views.find((e) => e.id === 'b/shop/cart');
  assert.equal(cart?.readyEndpoints, 0, 'b is readable and has no such Service');
  assert.match(cart?.conflicts[0] ?? '', /^a: Service shop\/cart-b exists/);
  const orphan = views.find((e) => e.id === 'z/demo/old');
  assert.equal(views.some((e) => e.name === 'db-0'), false, 'per-pod Services of a headless shadow are not exports');
  assert.equal(orphan?.imports[0].problem, 'no Link lists this shadow (orphaned)');
  // An unreachable exporting cluster: its exports keep their place, endpoints unknown, the Link is stale.
  const stale = linkViews([{ ...a, sampled: { ...sampled('a'), reachable: false } }, b]);
  assert.equal(stale[0].stale, true);
  assert.equal(stale[0].health, 'unknown');
});

test('a Link is red at once when the dashboard\'s own sample sees its target\'s gateway down, before the controller\'s verdict', () => {
  const ok = ['SpecValid', 'CredentialsValid', 'RemoteAPIReachable', 'GatewayReachable', 'Ready'].map((t) => cond(t, 'True'));
  const a = input('a', { links: [link('b', ok)] });
  const pod = (live: boolean | null, error?: string) => ({ name: 'mesh-gateway-1', ready: live === true, live, ...(error ? { error } : {}) });
  const b = (over: Partial<Sampled>) => input('b', { sampled: { ...sampled('b'), gatewaysRead: true, ...over } });
  const health = (target: ClusterInput) => linkViews([a, target])[0];
  assert.equal(health(b({ gatewayPods: [pod(true)] })).health, 'ok', 'a pod answers /ready');
  const none = health(b({ gatewayPods: [] }));
  assert.equal(none.health, 'failed', 'scaled to 0: no gateway pod');
  assert.equal(none.reason, 'the dashboard sees b\'s gateway down: no mesh-gateway pod');
  assert.match(health(b({ gatewayPods: [pod(false, '503 Service Unavailable: connection refused')] })).reason, /dashboard sees b's gateway down: .*mesh-gateway-1: 503/);
  assert.equal(health(b({ gatewayPods: [pod(null)] })).health, 'failed', 'its only pod is not running');
  // What the dashboard cannot tell leaves the controller's verdict alone.
  assert.equal(health(b({ gatewayPods: [pod(null, '403 Forbidden')] })).health, 'ok', 'not allowed to ask /ready');
  assert.equal(health(b({ gatewayPods: [], gatewaysRead: false })).health, 'ok', 'the pods were not listed');
  assert.equal(health(b({ gatewayPods: [], reachable: false })).health, 'ok', 'the target\'s API server is unreachable');
  assert.equal(gatewayDown(undefined), undefined);
  // The controller's own verdict, when there is one, keeps its reason.
  const downByController = ok.map((c) => (c.type === 'GatewayReachable' ? cond('GatewayReachable', 'False', 'ProbeFailed') : c));
  assert.match(linkViews([input('a', { links: [link('b', downByController)] }), b({ gatewayPods: [] })])[0].reason, /^GatewayReachable=False/);
});

test('rotation: steady, new root added, issuer rotated, broken; expiry and a shared root', () => {
  const now = new Date();
  const oldRoot = createRoot({ trustDomain: 'mesh.local', now: new Date(now.getTime() - 86_400_000) });
  const newRoot = createRoot({ trustDomain: 'mesh.local', now });
  const onOld = createIssuer({ root: oldRoot, clusterName: 'a', now });
  const onNew = createIssuer({ root: newRoot, clusterName: 'a', now });
  const both = TrustBundle.fromPem(oldRoot.certPem + newRoot.certPem);
  const fp = (r: typeof oldRoot) => both.roots.find((x) => x.fingerprint === r.cert.x509.fingerprint256);
  assert.equal(rotationState(TrustBundle.fromPem(oldRoot.certPem).roots, fp(oldRoot)).rotation, 'steady');
  assert.equal(rotationState(both.roots, fp(oldRoot)).rotation, 'new-root-added');
  assert.equal(rotationState(both.roots, fp(newRoot)).rotation, 'issuer-rotated');
  assert.equal(rotationState(both.roots, undefined).rotation, 'broken');
  const view = clusterTrust('a', true, { at: 0, bundlePem: oldRoot.certPem + newRoot.certPem, issuerCertPem: onNew.certPem }, now);
  assert.equal(view.rotation, 'issuer-rotated');
  assert.equal(view.issuer?.signedBy, newRoot.cert.x509.fingerprint256);
  assert.equal(view.health, 'ok');
  const shortLived = createIssuer({ root: oldRoot, clusterName: 'b', now, validityDays: 10 });
  const warn = clusterTrust('b', true, { at: 0, bundlePem: oldRoot.certPem, issuerCertPem: shortLived.certPem }, now);
  assert.equal(warn.health, 'warn');
  assert.match(warn.problems.join(), /expires in 9 day/);
  const foreign = clusterTrust('c', true, { at: 0, bundlePem: newRoot.certPem, issuerCertPem: onOld.certPem }, now);
  assert.equal(foreign.rotation, 'broken');
  assert.equal(foreign.health, 'failed');
  assert.equal(sharedRoot([view, warn]).ok, true);
  assert.equal(sharedRoot([warn, foreign]).ok, false);
});

test('requests are vetted: GET/HEAD only, Host must be this server (DNS rebinding), no cross-site requests but page navigations', () => {
  const p = policyFor('127.0.0.1', 50750);
  const ok = (h: Record<string, string>, method = 'GET', page = false) => vet(method, h, p, page).ok;
  assert.equal(ok({ host: '127.0.0.1:50750' }), true);
  assert.equal(ok({ host: 'localhost:50750' }), true);
  assert.equal(ok({ host: '[::1]:50750' }), true);
  assert.equal(ok({ host: 'evil.example:50750' }), false);
  assert.equal(ok({ host: '127.0.0.1:50751' }), false);
  assert.equal(ok({}), false);
  assert.equal(ok({ host: '127.0.0.1:50750' }, 'POST'), false);
  assert.equal(ok({ host: '127.0.0.1:50750', origin: 'http://127.0.0.1:50750' }), true);
  assert.equal(ok({ host: '127.0.0.1:50750', origin: 'http://evil.example' }), false);
  assert.equal(ok({ host: '127.0.0.1:50750', 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty' }), false);
  assert.equal(ok({ host: '127.0.0.1:50750', 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' }, 'GET', true), true);
  assert.equal(ok({ host: '127.0.0.1:50750', 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' }, 'GET', false), false);
  const wide = policyFor('10.1.2.3', 8080);
  assert.ok(wide.hosts.has('10.1.2.3:8080') && wide.hosts.has('127.0.0.1:8080'));
});

test('the demo\'s report ends with the command that opens the dashboard on its clusters', () => {
  const text = renderReport({ source: 'cluster-a', target: 'cluster-b', network: 'loopback', networkWhy: 'not root', kubeconfig: '/k', dir: '/d', flatRoutes: false, results: [], gateways: [] });
  assert.match(text, /KUBECONFIG=\/k mesh dashboard --open/);
});
