// A Link's spec.gateway.allowedIdentities, enforced by this cluster's gateway for callers whose certificate
// was issued by that Link's cluster (the issuer's OU), over real mTLS: direct HTTP/2 clients holding leaves
// of several clusters, and a whole tunnel client → gateway A → gateway B → echo.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http2 from 'node:http2';
import { startGateway, MemoryRouteSource, MemoryCredentials, GatewayMetrics, type Gateway, type RouteFile, type Credentials } from '../../src/gateway/index.js';
import { createPki, startEchoServer, roundTrip, outcomeOf } from './fixtures.js';
import { startPair, type Pair } from './pair.js';

const pki = createPki(['cluster-a', 'cluster-b', 'cluster-c']);
const GATEWAY_ID = 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway';

function h2connect(port: number, c: Credentials): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`https://127.0.0.1:${port}`, { ca: c.bundle, cert: c.certChain, key: c.key, checkServerIdentity: () => undefined });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** The answer to one CONNECT: status and refusal reason (the stream is closed either way). */
function connect(s: http2.ClientHttp2Session, authority: string): Promise<{ status: number; reason: string }> {
  return new Promise((resolve, reject) => {
    const req = s.request({ ':method': 'CONNECT', ':authority': authority }, { endStream: false });
    req.on('response', (h) => {
      resolve({ status: Number(h[':status']), reason: String(h['mesh-refusal-reason'] ?? '') });
      req.close();
    });
    req.on('error', reject);
  });
}

async function statusFor(port: number, c: Credentials): Promise<{ status: number; reason: string }> {
  const s = await h2connect(port, c);
  try {
    return await connect(s, 'echo.demo.svc.cluster.local:7');
  } finally {
    s.close();
  }
}

// Regression (issue 17 item 7): any workload of the trust domain could connect straight to a remote gateway,
// bypassing its own. By default only the gateways of linked clusters may open tunnels.
describe('default inbound policy: only gateways of linked clusters (direct mTLS clients)', () => {
  let gw: Gateway;
  let echo: Awaited<ReturnType<typeof startEchoServer>>;
  before(async () => {
    echo = await startEchoServer();
    const routes = new MemoryRouteSource();
    routes.set({ exported: [{ namespace: 'demo', name: 'echo', ports: [{ port: 7, backends: [{ address: '127.0.0.1', port: echo.port }] }] }], linkedClusters: ['cluster-a'] });
    gw = await startGateway({ clusterName: 'cluster-b', host: '127.0.0.1', tunnelPort: 0, adminPort: 0 }, { credentials: new MemoryCredentials(pki.leaf('cluster-b')), routes, metrics: new GatewayMetrics() });
  });
  after(async () => {
    await gw?.close();
    await echo?.close();
  });

  test("a linked cluster's gateway passes; its workloads and an unlinked cluster's gateway get 403", async () => {
    assert.equal((await statusFor(gw.tunnelPort, pki.leaf('cluster-a'))).status, 200);
    assert.deepEqual(await statusFor(gw.tunnelPort, pki.leaf('cluster-a', 'default', 'web')), { status: 403, reason: 'FORBIDDEN' });
    assert.deepEqual(await statusFor(gw.tunnelPort, pki.leaf('cluster-c')), { status: 403, reason: 'FORBIDDEN' });
  });
});

describe('Link allowedIdentities on the tunnel port (direct mTLS clients, --allow-direct-workloads)', () => {
  let gw: Gateway;
  let echo: Awaited<ReturnType<typeof startEchoServer>>;
  const routes = new MemoryRouteSource();
  const routeFile = (linkToA: { allowedIdentities?: string[] }): RouteFile => ({
    exported: [{ namespace: 'demo', name: 'echo', ports: [{ port: 7, backends: [{ address: '127.0.0.1', port: echo.port }] }] }],
    // The address is never dialed in these tests' time: only its policy matters here.
    remotes: [{ cluster: 'cluster-a', addresses: ['127.0.0.1'], port: 9, ...linkToA }],
  });

  before(async () => {
    echo = await startEchoServer();
    routes.set(routeFile({}));
    gw = await startGateway({ clusterName: 'cluster-b', host: '127.0.0.1', tunnelPort: 0, adminPort: 0, allowDirectWorkloads: true }, { credentials: new MemoryCredentials(pki.leaf('cluster-b')), routes, metrics: new GatewayMetrics() });
  });
  after(async () => {
    await gw?.close();
    await echo?.close();
  });

  test('without allowedIdentities on the Link, any identity of the trust domain from its cluster passes', async () => {
    assert.equal((await statusFor(gw.tunnelPort, pki.leaf('cluster-a', 'default', 'web'))).status, 200);
  });

  test("the Link's list narrows callers issued by its cluster only", async () => {
    routes.set(routeFile({ allowedIdentities: [GATEWAY_ID] }));
    // cluster-a's gateway is on the list; a cluster-a workload calling directly is not.
    assert.equal((await statusFor(gw.tunnelPort, pki.leaf('cluster-a'))).status, 200);
    assert.deepEqual(await statusFor(gw.tunnelPort, pki.leaf('cluster-a', 'default', 'web')), { status: 403, reason: 'FORBIDDEN' });
    // cluster-c has no Link here: the cluster-a Link's list does not apply to its callers.
    assert.equal((await statusFor(gw.tunnelPort, pki.leaf('cluster-c', 'default', 'web'))).status, 200);
  });

  test('cluster: entries and prefixes work in a Link list as in a Service annotation', async () => {
    routes.set(routeFile({ allowedIdentities: ['cluster:cluster-c'] }));
    assert.deepEqual(await statusFor(gw.tunnelPort, pki.leaf('cluster-a')), { status: 403, reason: 'FORBIDDEN' });
    routes.set(routeFile({ allowedIdentities: ['spiffe://mesh.local/ns/default/*'] }));
    assert.equal((await statusFor(gw.tunnelPort, pki.leaf('cluster-a', 'default', 'web'))).status, 200);
    assert.deepEqual(await statusFor(gw.tunnelPort, pki.leaf('cluster-a')), { status: 403, reason: 'FORBIDDEN' });
  });

  test('policy before existence: a refused caller gets FORBIDDEN for an unknown Service too', async () => {
    routes.set(routeFile({ allowedIdentities: [GATEWAY_ID] }));
    const s = await h2connect(gw.tunnelPort, pki.leaf('cluster-a', 'default', 'web'));
    try {
      assert.deepEqual(await connect(s, 'nothing.demo.svc.cluster.local:7'), { status: 403, reason: 'FORBIDDEN' });
    } finally {
      s.close();
    }
  });
});

describe('Link allowedIdentities end to end (client → A → B → echo)', () => {
  let p: Pair;
  let echoRoutes: RouteFile;
  before(async () => {
    p = await startPair('connect', {}, pki);
    echoRoutes = p.bRouteFile();
  });
  after(async () => {
    await p?.close();
  });

  const linkToA = (allowedIdentities?: string[]): RouteFile => ({
    ...echoRoutes,
    remotes: [{ cluster: 'cluster-a', addresses: ['127.0.0.1'], port: p.a.tunnelPort, transport: 'connect', ...(allowedIdentities ? { allowedIdentities } : {}) }],
  });

  test("B refuses A's gateway when B's Link to cluster-a does not list it, and admits it when it does", async () => {
    p.bRoutes.set(linkToA(['spiffe://mesh.local/ns/ops/*']));
    const s = net.connect({ port: p.port, host: '127.0.0.1', allowHalfOpen: true });
    // Half-closed, so an admitted tunnel would end cleanly ('end') instead of staying open.
    s.end('hello');
    assert.equal(await outcomeOf(s), 'ECONNRESET');
    // Inbound metrics name the caller's cluster: B has a Link to it, so the label is from a bounded set.
    assert.match(await p.b.metrics.registry.getSingleMetricAsString('gateway_refused_total'), /direction="inbound",reason="FORBIDDEN",remote_cluster="cluster-a",namespace="demo",service="echo"/);
    p.bRoutes.set(linkToA([GATEWAY_ID]));
    assert.equal((await roundTrip(p.port, Buffer.from('admitted'))).toString(), 'admitted');
    p.bRoutes.set(linkToA(['cluster:cluster-a']));
    assert.equal((await roundTrip(p.port, Buffer.from('by cluster'))).toString(), 'by cluster');
    assert.match(await p.b.metrics.registry.getSingleMetricAsString('gateway_streams_opened_total'), /direction="inbound",remote_cluster="cluster-a",namespace="demo",service="echo"} [1-9]/);
  });
});
