// HTTP/2 keepalive of pooled sessions (pool/keepalive.ts) with real gateways on loopback: cluster-a's pool
// reaches cluster-b's gateway only through a fault proxy (127.0.0.2), which can black-hole the connections
// open now while passing new ones, as a partition that dropped one path would. An idle pooled session must be
// PINGed, found dead and replaced before a tunnel needs it: the next tunnel goes through at once, and no
// tunnel ever meets the black hole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import winston from 'winston';
import { startGateway, MemoryRouteSource, MemoryCredentials, GatewayMetrics, GatewayOptionsSchema, type Gateway } from '../../src/gateway/index.js';
import { configFrom } from '../../src/gateway/main.js';
import { createPki, metricSum, roundTrip, startEchoServer } from './fixtures.js';
import { freePort } from '../helpers/ports.js';
import { waitUntil } from './pair.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';

const GOOD = '127.0.0.1';
const PROXIED = '127.0.0.2';

interface World {
  a: Gateway;
  metrics: GatewayMetrics;
  proxy: FaultProxy;
  echoPort: number;
  logs: () => Array<Record<string, unknown>>;
}

function capture(): { logger: winston.Logger; lines: () => Array<Record<string, unknown>> } {
  const out: string[] = [];
  const stream = new Writable({ write(chunk: Buffer, _enc, cb) { out.push(chunk.toString()); cb(); } });
  const logger = winston.createLogger({ level: 'info', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] });
  return { logger, lines: () => out.join('').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

async function withWorld(run: (w: World) => Promise<void>): Promise<void> {
  const pki = createPki();
  const stops: Array<() => Promise<void>> = [];
  try {
    const echo = await startEchoServer(GOOD);
    stops.push(() => echo.close());
    const tunnelPort = await freePort();
    const bRoutes = new MemoryRouteSource();
    bRoutes.set({ exported: [{ namespace: 'demo', name: 'echo', ports: [{ port: 7, backends: [{ address: GOOD, port: echo.port }] }] }] });
    const outboundPorts = { min: 1024, max: 65535 };
    const b = await startGateway({ clusterName: 'cluster-b', host: GOOD, tunnelPort, adminPort: 0, outboundPorts }, { credentials: new MemoryCredentials(pki.leaf('cluster-b')), routes: bRoutes, metrics: new GatewayMetrics() });
    stops.unshift(() => b.close());
    const proxy = await startFaultProxy(PROXIED, tunnelPort, { host: GOOD, port: tunnelPort });
    stops.unshift(() => proxy.close());
    const echoPort = await freePort();
    const aRoutes = new MemoryRouteSource();
    aRoutes.set({
      outbound: [{ outboundPort: echoPort, remoteCluster: 'cluster-b', namespace: 'demo', service: 'echo', port: 7 }],
      remotes: [{ cluster: 'cluster-b', addresses: [PROXIED], port: tunnelPort, transport: 'connect' }],
    });
    const { logger, lines } = capture();
    const metrics = new GatewayMetrics();
    const a = await startGateway(
      { clusterName: 'cluster-a', host: GOOD, tunnelPort: 0, adminPort: 0, outboundPorts, poolSize: 1, connectTimeoutMs: 2_000, keepaliveMs: 200, keepaliveTimeoutMs: 300 },
      { credentials: new MemoryCredentials(pki.leaf('cluster-a')), routes: aRoutes, metrics, logger },
    );
    stops.unshift(() => a.close());
    await waitUntil(() => a.poolReady('cluster-b') >= 1 && a.outboundPorts().includes(echoPort), 30_000, 'gateway A pooled to B');
    await run({ a, metrics, proxy, echoPort, logs: lines });
  } finally {
    for (const stop of stops) await stop();
  }
}

async function echoOnce(port: number): Promise<void> {
  const data = randomBytes(2_000);
  const back = await roundTrip(port, data);
  assert.ok(back.equals(data), `${back.length} bytes back of ${data.length}`);
}

test('an idle pooled session is PINGed and kept while the remote answers', async () => {
  await withWorld(async (w) => {
    await echoOnce(w.echoPort);
    // PINGs and their ACKs are the only bytes through the proxy now: a few rounds of them (bounded wait).
    const through = w.proxy.forwarded();
    await waitUntil(() => w.proxy.forwarded() >= through + 4 * 2 * 17, 10_000, 'keepalive PINGs and ACKs through the proxy');
    assert.equal(w.proxy.accepted(), 1, 'the answered session was kept (no new connection)');
    assert.equal(w.a.poolReady('cluster-b'), 1);
    assert.ok(!w.logs().some((l) => /keepalive PING/.test(String(l.message))), 'no session was found dead');
    await echoOnce(w.echoPort);
  });
});

test('a black-holed idle session is found by its unanswered PING and replaced before the next tunnel', async () => {
  await withWorld(async (w) => {
    await echoOnce(w.echoPort);
    // The open connection goes silent both ways (no FIN, no RST); new connections pass.
    w.proxy.freeze();
    w.proxy.pass();
    await waitUntil(() => w.proxy.accepted() >= 2 && w.a.poolReady('cluster-b') >= 1, 15_000, 'the pool to replace the silent session');
    const line = w.logs().find((l) => /did not answer a keepalive PING/.test(String(l.message)));
    assert.ok(line, 'the replacement was logged');
    assert.equal(line.remoteCluster, 'cluster-b');
    assert.equal(line.address, PROXIED);
    // The next tunnel goes through on the new session: no timeout, no retry, no tunnel met the black hole.
    await echoOnce(w.echoPort);
    assert.equal(await metricSum(w.metrics, 'gateway_remote_failures_total', 'reason="timeout"'), 0);
    assert.equal(await metricSum(w.metrics, 'gateway_tunnel_retries_total'), 0);
  });
});

test('--keepalive-ms and --keepalive-timeout-ms reach the gateway configuration (0 turns the PINGs off)', () => {
  const base = { clusterName: 'cluster-a', cert: 'c', key: 'k', bundle: 'b' };
  const on = configFrom(GatewayOptionsSchema.parse({ ...base, keepaliveMs: '15000', keepaliveTimeoutMs: '2000' }), {});
  assert.equal(on.keepaliveMs, 15_000);
  assert.equal(on.keepaliveTimeoutMs, 2_000);
  assert.equal(configFrom(GatewayOptionsSchema.parse({ ...base, keepaliveMs: '0' }), {}).keepaliveMs, 0);
  assert.equal(GatewayOptionsSchema.safeParse({ ...base, keepaliveTimeoutMs: '0' }).success, false);
});
