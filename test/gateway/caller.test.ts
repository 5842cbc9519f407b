// Caller attestation and identity for the target (issue 15) over real mTLS and real sockets: the source
// gateway claims its client's ServiceAccount (mesh-caller-id / mesh-caller-cluster), the remote gateway
// accepts the claim only from a linked cluster's gateway for its own cluster, and hands the verified caller
// to an opted-in target in a PROXY v2 header. Hostile peers (workload certificates, another cluster's
// gateway) speak HTTP/2 and tls-pipe directly; every new path keeps the gateway from being a pivot.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import http2 from 'node:http2';
import { parseProxyV2, callerOfHeader, UNKNOWN_CALLER } from '../../src/api/index.js';
import { startGateway, MemoryRouteSource, MemoryCredentials, GatewayMetrics, ALPN_PIPE, type Gateway, type Credentials, type RouteFile } from '../../src/gateway/index.js';
import { pipeHeader, readPipeStatus } from '../../src/gateway/pipe-protocol.js';
import { createPki, startEchoServer } from './fixtures.js';
import { waitUntil } from './pair.js';
import { freePort } from '../helpers/ports.js';

const pki = createPki(['cluster-a', 'cluster-b', 'cluster-c']);
const GW = 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway';
const FRONTEND = 'spiffe://mesh.local/ns/demo/sa/frontend';

/** A target that reads an optional PROXY v2 header and answers what it learned as one JSON line. */
async function startWhoServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const p = parseProxyV2(buf);
      if (p.kind === 'incomplete') return;
      s.off('data', onData);
      const rest = p.kind === 'header' ? buf.subarray(p.length) : buf;
      const caller = p.kind === 'header' ? callerOfHeader(p.header) : undefined;
      s.end(JSON.stringify({ proxy: p.kind === 'header', caller, source: p.kind === 'header' ? p.header.source : undefined, first: rest.toString() }) + '\n');
    };
    s.on('data', onData);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

function h2session(port: number, c: Credentials): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`https://127.0.0.1:${port}`, { ca: c.bundle, cert: c.certChain, key: c.key, checkServerIdentity: () => undefined });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

interface Answer {
  status: number;
  reason: string;
  body: string;
}

/** One CONNECT with claim headers; on 200 sends `hello` and collects the target's answer. */
async function tunnel(port: number, c: Credentials, authority: string, claim: Record<string, string>): Promise<Answer> {
  const s = await h2session(port, c);
  try {
    return await new Promise<Answer>((resolve, reject) => {
      const req = s.request({ ':method': 'CONNECT', ':authority': authority, ...claim }, { endStream: false });
      let status = 0;
      let reason = '';
      let body = '';
      req.setEncoding('utf8');
      req.on('response', (h) => {
        status = Number(h[':status']);
        reason = String(h['mesh-refusal-reason'] ?? '');
        if (status === 200) req.write('hello');
      });
      req.on('data', (d: string) => (body += d));
      req.on('end', () => resolve({ status, reason, body }));
      req.on('close', () => resolve({ status, reason, body }));
      req.on('error', reject);
    });
  } finally {
    s.close();
  }
}

/** One tls-pipe request with a claim; the status and reason the gateway answers. */
function pipeRequest(port: number, c: Credentials, authority: string, claim: { id: string; cluster: string }): Promise<{ status: number; reason: string }> {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ host: '127.0.0.1', port, ca: c.bundle, cert: c.certChain, key: c.key, ALPNProtocols: [ALPN_PIPE], checkServerIdentity: () => undefined }, () => {
      sock.write(pipeHeader(authority, claim));
      readPipeStatus(sock, (err, status, reason) => {
        sock.destroy();
        if (err) reject(err);
        else resolve({ status: status ?? 0, reason: reason ?? '' });
      });
    });
    sock.on('error', reject);
  });
}

const claimOf = (id: string, cluster: string) => ({ 'mesh-caller-id': id, 'mesh-caller-cluster': cluster });

describe('the remote gateway verifies caller claims (direct HTTP/2 and tls-pipe peers)', () => {
  let gw: Gateway;
  let who: Awaited<ReturnType<typeof startWhoServer>>;
  let echo: Awaited<ReturnType<typeof startEchoServer>>;
  let metrics: GatewayMetrics;
  const routes = new MemoryRouteSource();
  const routeFile = (): RouteFile => ({
    exported: [
      { namespace: 'demo', name: 'web', proxyProtocol: 'v2', ports: [{ port: 80, backends: [{ address: '127.0.0.1', port: who.port }] }] },
      { namespace: 'demo', name: 'plain', ports: [{ port: 80, backends: [{ address: '127.0.0.1', port: who.port }] }] },
      { namespace: 'demo', name: 'echo', ports: [{ port: 7, backends: [{ address: '127.0.0.1', port: echo.port }] }] },
    ],
    linkedClusters: ['cluster-a', 'cluster-c'],
  });

  before(async () => {
    who = await startWhoServer();
    echo = await startEchoServer();
    routes.set(routeFile());
    metrics = new GatewayMetrics();
    gw = await startGateway({ clusterName: 'cluster-b', host: '127.0.0.1', tunnelPort: 0, adminPort: 0 }, { credentials: new MemoryCredentials(pki.leaf('cluster-b')), routes, metrics });
  });
  after(async () => {
    await gw?.close();
    await who?.close();
    await echo?.close();
  });

  test("a linked gateway's claim reaches an opted-in target in PROXY v2; a target that did not opt in gets the bytes alone", async () => {
    const a = await tunnel(gw.tunnelPort, pki.leaf('cluster-a'), 'web.demo.svc.cluster.local:80', claimOf(FRONTEND, 'cluster-a'));
    assert.equal(a.status, 200);
    const seen = JSON.parse(a.body) as { proxy: boolean; caller: unknown; source: { address: string }; first: string };
    assert.equal(seen.proxy, true);
    assert.deepEqual(seen.caller, { id: FRONTEND, cluster: 'cluster-a', unknown: false });
    assert.equal(seen.source.address, '127.0.0.1', 'the source is the peer gateway as this gateway saw it');
    assert.equal(seen.first, 'hello', 'the client bytes follow the header');
    const plain = JSON.parse((await tunnel(gw.tunnelPort, pki.leaf('cluster-a'), 'plain.demo.svc.cluster.local:80', claimOf(FRONTEND, 'cluster-a'))).body) as { proxy: boolean; first: string };
    assert.deepEqual(plain, { proxy: false, first: 'hello' });
  });

  test('unknown-caller is the source gateway itself, flagged unknown', async () => {
    const a = await tunnel(gw.tunnelPort, pki.leaf('cluster-a'), 'web.demo.svc.cluster.local:80', claimOf(UNKNOWN_CALLER, 'cluster-a'));
    assert.deepEqual((JSON.parse(a.body) as { caller: unknown }).caller, { id: GW, cluster: 'cluster-a', unknown: true });
  });

  test('a gateway of cluster-c claiming to speak for cluster-a is refused with 403 and a reason (HTTP/2 and tls-pipe)', async () => {
    const before = await refusedCount(metrics);
    const a = await tunnel(gw.tunnelPort, pki.leaf('cluster-c'), 'web.demo.svc.cluster.local:80', claimOf(FRONTEND, 'cluster-a'));
    assert.equal(a.status, 403);
    assert.equal(a.reason, 'FORBIDDEN');
    assert.match(a.body, /cannot speak for cluster cluster-a/);
    const p = await pipeRequest(gw.tunnelPort, pki.leaf('cluster-c'), 'web.demo.svc.cluster.local:80', { id: FRONTEND, cluster: 'cluster-a' });
    assert.equal(p.status, 403);
    assert.match(p.reason, /cannot speak for cluster cluster-a/);
    assert.equal(await refusedCount(metrics), before + 2, 'each refusal counted');
  });

  test('a forged claim: a workload certificate claiming another caller is refused (it may not even connect by default)', async () => {
    const a = await tunnel(gw.tunnelPort, pki.leaf('cluster-a', 'demo', 'frontend'), 'web.demo.svc.cluster.local:80', claimOf('spiffe://mesh.local/ns/ops/sa/admin', 'cluster-a'));
    assert.deepEqual([a.status, a.reason], [403, 'FORBIDDEN']);
  });

  test('claims outside the trust domain, not SPIFFE ids, or with odd characters are refused', async () => {
    for (const id of ['spiffe://other.org/ns/demo/sa/frontend', 'frontend', 'spiffe://mesh.local/ns/demo/sa/fr\u00e9', `spiffe://mesh.local/ns/demo/sa/${'x'.repeat(600)}`]) {
      const a = await tunnel(gw.tunnelPort, pki.leaf('cluster-a'), 'web.demo.svc.cluster.local:80', claimOf(id, 'cluster-a'));
      assert.equal(a.status, 403, `claim ${id.slice(0, 60)}`);
    }
  });

  test('a valid claim opens nothing new: unexported Services, undeclared ports, raw IPs, the API server, the admin port', async () => {
    const ok = claimOf(FRONTEND, 'cluster-a');
    const cases: Array<[string, number]> = [
      ['secret.demo.svc.cluster.local:80', 404],
      ['web.demo.svc.cluster.local:81', 404],
      [`127.0.0.1:${who.port}`, 400],
      ['kubernetes.default.svc.cluster.local:443', 404],
      [`127.0.0.1:${gw.adminPort}`, 400],
      [`localhost:${gw.adminPort}`, 400],
      ['we$b.demo.svc.cluster.local:80', 400],
      ['web.demo.svc.cluster.local.evil.example:80', 400],
    ];
    for (const [authority, status] of cases) {
      const a = await tunnel(gw.tunnelPort, pki.leaf('cluster-a'), authority, ok);
      assert.equal(a.status, status, authority);
    }
    const p = await pipeRequest(gw.tunnelPort, pki.leaf('cluster-a'), `127.0.0.1:${gw.adminPort}`, { id: FRONTEND, cluster: 'cluster-a' });
    assert.equal(p.status, 400);
  });
});

describe('--allow-direct-workloads: a workload peer is its own caller', () => {
  let gw: Gateway;
  let who: Awaited<ReturnType<typeof startWhoServer>>;
  before(async () => {
    who = await startWhoServer();
    const routes = new MemoryRouteSource();
    routes.set({ exported: [{ namespace: 'demo', name: 'web', proxyProtocol: 'v2', ports: [{ port: 80, backends: [{ address: '127.0.0.1', port: who.port }] }] }] });
    gw = await startGateway({ clusterName: 'cluster-b', host: '127.0.0.1', tunnelPort: 0, adminPort: 0, allowDirectWorkloads: true }, { credentials: new MemoryCredentials(pki.leaf('cluster-b')), routes, metrics: new GatewayMetrics() });
  });
  after(async () => {
    await gw?.close();
    await who?.close();
  });

  test('claiming another id is refused; no claim or its own id shows itself', async () => {
    const leaf = pki.leaf('cluster-a', 'demo', 'frontend');
    const forged = await tunnel(gw.tunnelPort, leaf, 'web.demo.svc.cluster.local:80', claimOf('spiffe://mesh.local/ns/ops/sa/admin', 'cluster-a'));
    assert.deepEqual([forged.status, forged.reason], [403, 'FORBIDDEN']);
    assert.match(forged.body, /a workload cannot claim another caller/);
    for (const claim of [{}, claimOf(FRONTEND, 'cluster-a')]) {
      const a = await tunnel(gw.tunnelPort, leaf, 'web.demo.svc.cluster.local:80', claim);
      assert.equal(a.status, 200);
      assert.deepEqual((JSON.parse(a.body) as { caller: unknown }).caller, { id: FRONTEND, cluster: 'cluster-a', unknown: false });
    }
  });
});

for (const transport of ['connect', 'tls-pipe'] as const) {
  describe(`client → A → B → target: A attests its client by source address (${transport})`, () => {
    let a: Gateway;
    let b: Gateway;
    let who: Awaited<ReturnType<typeof startWhoServer>>;
    let port: number;
    before(async () => {
      who = await startWhoServer();
      const bRoutes = new MemoryRouteSource();
      bRoutes.set({ exported: [{ namespace: 'demo', name: 'web', proxyProtocol: 'v2', ports: [{ port: 80, backends: [{ address: '127.0.0.1', port: who.port }] }] }], linkedClusters: ['cluster-a'] });
      const common = { host: '127.0.0.1', tunnelPort: 0, adminPort: 0, outboundPorts: { min: 1024, max: 65535 } };
      b = await startGateway({ clusterName: 'cluster-b', ...common }, { credentials: new MemoryCredentials(pki.leaf('cluster-b')), routes: bRoutes, metrics: new GatewayMetrics() });
      port = await freePort();
      const aRoutes = new MemoryRouteSource();
      aRoutes.set({
        outbound: [{ outboundPort: port, remoteCluster: 'cluster-b', namespace: 'demo', service: 'web', port: 80 }],
        remotes: [{ cluster: 'cluster-b', addresses: ['127.0.0.1'], port: b.tunnelPort, transport }],
        // Two local "pods" by address; 127.0.0.3 is no pod the gateway knows.
        callers: [
          { address: '127.0.0.1', namespace: 'demo', serviceAccount: 'frontend' },
          { address: '127.0.0.2', namespace: 'demo', serviceAccount: 'other' },
        ],
      });
      a = await startGateway({ clusterName: 'cluster-a', ...common }, { credentials: new MemoryCredentials(pki.leaf('cluster-a')), routes: aRoutes, metrics: new GatewayMetrics() });
      await waitUntil(() => a.outboundPorts().includes(port) && a.poolReady('cluster-b') > 0, 30_000, 'gateway A ready');
    });
    after(async () => {
      await a?.close();
      await b?.close();
      await who?.close();
    });

    const ask = (localAddress: string) =>
      new Promise<{ caller: unknown }>((resolve, reject) => {
        const s = net.connect({ host: '127.0.0.1', port, localAddress }, () => s.write('hi'));
        let out = '';
        s.setEncoding('utf8');
        s.on('data', (d: string) => (out += d));
        s.on('end', () => resolve(JSON.parse(out) as { caller: unknown }));
        s.on('error', reject);
      });

    test('each client pod shows its own ServiceAccount; an address the cache does not know shows the gateway, flagged unknown', async () => {
      assert.deepEqual((await ask('127.0.0.1')).caller, { id: FRONTEND, cluster: 'cluster-a', unknown: false });
      assert.deepEqual((await ask('127.0.0.2')).caller, { id: 'spiffe://mesh.local/ns/demo/sa/other', cluster: 'cluster-a', unknown: false });
      assert.deepEqual((await ask('127.0.0.3')).caller, { id: GW, cluster: 'cluster-a', unknown: true });
    });
  });
}

async function refusedCount(m: GatewayMetrics): Promise<number> {
  const metric = await m.registry.getSingleMetric('gateway_refused_total')?.get();
  return (metric?.values ?? []).filter((v) => v.labels.direction === 'inbound').reduce((n, v) => n + v.value, 0);
}
