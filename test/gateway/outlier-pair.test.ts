// Outlier detection and retries with real gateways on loopback (issue 14, gateway side): cluster-b's
// gateway listens on 127.0.0.1:P and is also reached through a fault proxy on 127.0.0.2:P (a second address
// of the same Link, as a second node or replica would be). The proxy black-holes or refuses; cluster-a's
// gateway must eject that address, retry what it may, and serve every new tunnel after the detection.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { captureLogs } from '../helpers/logs.js';
import { startGateway, MemoryRouteSource, MemoryCredentials, GatewayMetrics, type Gateway, type Transport } from '../../src/gateway/index.js';
import { createPki, metricSum, roundTrip, startEchoServer } from './fixtures.js';
import { freePort } from '../helpers/ports.js';
import { waitUntil } from './pair.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';

const GOOD = '127.0.0.1';
const FAULTY = '127.0.0.2';
const OUTLIER = { outlierFailures: 3, outlierEjectionMs: 1_000, outlierMaxEjectionMs: 4_000 };

interface World {
  a: Gateway;
  metrics: GatewayMetrics;
  proxy: FaultProxy;
  /** cluster-a's outbound ports: echo (the client speaks first) and greet (the server speaks first). */
  echoPort: number;
  greetPort: number;
  logs: () => Array<Record<string, unknown>>;
}

/** A server that speaks first: a greeting on connect, then echo (SMTP, MySQL and SSH look like this). */
async function startGreeter(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.write('hello\n');
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, GOOD, r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

/** Connects, sends nothing, resolves with the greeting once its line is complete. */
function greeting(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: GOOD, port });
    let got = '';
    s.on('error', reject);
    s.on('close', () => reject(new Error(`closed after ${JSON.stringify(got)}`)));
    s.on('data', (d: Buffer) => {
      got += d.toString();
      if (!got.endsWith('\n')) return;
      s.destroy();
      resolve(got);
    });
  });
}

async function withWorld(transport: Transport, run: (w: World) => Promise<void>): Promise<void> {
  const pki = createPki();
  const stops: Array<() => Promise<void>> = [];
  try {
    const echo = await startEchoServer(GOOD);
    stops.push(() => echo.close());
    const greeter = await startGreeter();
    stops.push(() => greeter.close());
    const tunnelPort = await freePort();
    const bRoutes = new MemoryRouteSource();
    bRoutes.set({ exported: [
      { namespace: 'demo', name: 'echo', ports: [{ port: 7, backends: [{ address: GOOD, port: echo.port }] }] },
      { namespace: 'demo', name: 'greet', ports: [{ port: 8, backends: [{ address: GOOD, port: greeter.port }] }] },
    ] });
    const common = { tunnelPort, adminPort: 0, outboundPorts: { min: 1024, max: 65535 } };
    const b = await startGateway({ clusterName: 'cluster-b', host: GOOD, ...common }, { credentials: new MemoryCredentials(pki.leaf('cluster-b')), routes: bRoutes, metrics: new GatewayMetrics() });
    stops.unshift(() => b.close());
    const proxy = await startFaultProxy(FAULTY, tunnelPort, { host: GOOD, port: tunnelPort });
    stops.unshift(() => proxy.close());
    const [echoPort, greetPort] = [await freePort(), await freePort()];
    const aRoutes = new MemoryRouteSource();
    aRoutes.set({
      outbound: [
        { outboundPort: echoPort, remoteCluster: 'cluster-b', namespace: 'demo', service: 'echo', port: 7 },
        { outboundPort: greetPort, remoteCluster: 'cluster-b', namespace: 'demo', service: 'greet', port: 8 },
      ],
      // The faulty address first: the pool's first slot (and the pipe pool's dials) start there.
      remotes: [{ cluster: 'cluster-b', addresses: [FAULTY, GOOD], port: tunnelPort, transport }],
    });
    const { logger, lines } = captureLogs();
    const metrics = new GatewayMetrics();
    const a = await startGateway({ clusterName: 'cluster-a', host: GOOD, tunnelPort: 0, adminPort: 0, outboundPorts: common.outboundPorts, connectTimeoutMs: 400, poolSize: 2, pipeWarm: 2, ...OUTLIER }, { credentials: new MemoryCredentials(pki.leaf('cluster-a')), routes: aRoutes, metrics, logger });
    stops.unshift(() => a.close());
    const want = transport === 'connect' ? 2 : 1;
    await waitUntil(() => a.poolReady('cluster-b') >= want && a.outboundPorts().includes(greetPort) && proxy.accepted() > 0, 30_000, 'gateway A pooled to both addresses');
    await run({ a, metrics, proxy, echoPort, greetPort, logs: lines });
  } finally {
    for (const stop of stops) await stop();
  }
}

const ejections = (m: GatewayMetrics) => metricSum(m, 'gateway_remote_ejections_total');
const ejectedNow = (m: GatewayMetrics) => metricSum(m, 'gateway_remote_addresses_ejected');
const retries = (m: GatewayMetrics) => metricSum(m, 'gateway_tunnel_retries_total');

async function echoOnce(port: number): Promise<void> {
  const data = randomBytes(2_000);
  const back = await roundTrip(port, data);
  if (!back.equals(data)) throw new Error(`${back.length} bytes back of ${data.length}`);
}

/** Sequential tunnels until the faulty address is ejected (bounded), then `after` more: every one of
 * those must succeed. Returns the failures before the detection. */
async function untilEjectedThenClean(w: World, send: () => Promise<void>, after: number): Promise<string[]> {
  const before: string[] = [];
  // Bounded in count and time (a refused address is found by the pool's reconnects, ~1 s of backoff).
  const until = Date.now() + 15_000;
  for (let i = 0; i < 1_000 && Date.now() < until && (await ejections(w.metrics)) === 0; i++) {
    await send().catch((err: Error) => before.push(`tunnel ${i}: ${err.message}`));
  }
  assert.ok((await ejections(w.metrics)) >= 1, `the faulty address was ejected (failures: ${before.join('; ')})`);
  const afterFailures: string[] = [];
  for (let i = 0; i < after; i++) await send().catch((err: Error) => afterFailures.push(`tunnel ${i}: ${err.message}`));
  assert.deepEqual(afterFailures, [], 'no new tunnel failed after the detection');
  return before;
}

function assertLogged(w: World, message: RegExp): void {
  const line = w.logs().find((l) => message.test(String(l.message)));
  assert.ok(line, `a log line matching ${message}`);
  assert.equal(line.remoteCluster, 'cluster-b');
  assert.equal(line.address, FAULTY);
}

for (const transport of ['connect', 'tls-pipe'] as const) {
  describe(`${transport}: a black-holed remote gateway address`, () => {
    test('is ejected after 3 unanswered tunnels; every new tunnel after that succeeds; it returns after the back-off', async () => {
      await withWorld(transport, async (w) => {
        w.proxy.freeze();
        const failed = await untilEjectedThenClean(w, () => echoOnce(w.echoPort), 30);
        // The client wrote at once, so an unanswered attempt may have reached the target: not retried.
        assert.ok(failed.length <= OUTLIER.outlierFailures, `failures before the detection: ${failed.length}`);
        assert.equal(await retries(w.metrics), 0, 'a tunnel whose bytes may have reached the target is never retried');
        // HTTP/2: the pooled session meets the black hole, 3 unanswered tunnels eject it. tls-pipe: a refill
        // dialed into the black hole may find it first (a failed dial ejects at once).
        if (transport === 'connect') assert.equal(await metricSum(w.metrics, 'gateway_remote_failures_total', 'reason="timeout"'), OUTLIER.outlierFailures);
        else assert.ok((await metricSum(w.metrics, 'gateway_remote_failures_total')) >= 1);
        assertLogged(w, /remote gateway address ejected/);
        // The partition heals: once the ejection is over the address carries tunnels again.
        w.proxy.pass();
        await waitUntil(async () => (await ejectedNow(w.metrics)) === 0, 15_000, 'the ejection to end');
        const through = w.proxy.forwarded();
        const failures: string[] = [];
        for (let i = 0; i < 200 && w.proxy.forwarded() === through; i++) await echoOnce(w.echoPort).catch((err: Error) => failures.push(err.message));
        assert.ok(w.proxy.forwarded() > through, 'tunnels go through the address again');
        assert.deepEqual(failures, []);
        assert.ok(w.logs().some((l) => /back in the pool/.test(String(l.message)) && l.address === FAULTY));
      });
    });

    test('a server-first tunnel (no client byte sent) that goes unanswered is retried on the other address: no failure at all', async () => {
      await withWorld(transport, async (w) => {
        w.proxy.freeze();
        const failed = await untilEjectedThenClean(w, async () => assert.equal(await greeting(w.greetPort), 'hello\n'), 10);
        assert.deepEqual(failed, []);
        // Every unanswered attempt was retried. With HTTP/2 the first tunnel takes the session to the faulty
        // address (the first slot) for certain; a tls-pipe pool may find the black hole by a refill's dial
        // first (a failed dial ejects at once) and never send a tunnel there.
        const unanswered = await metricSum(w.metrics, 'gateway_remote_failures_total', 'reason="timeout"');
        assert.ok((await retries(w.metrics)) >= unanswered, 'every unanswered attempt was retried');
        if (transport === 'connect') assert.ok(unanswered >= 1, 'a tunnel met the black hole and was retried');
      });
    });
  });
}

for (const transport of ['connect', 'tls-pipe'] as const) {
  test(`${transport}: a refusing remote gateway address (its connections reset, its dials refused) is ejected, and no tunnel fails at any point`, async () => {
    await withWorld(transport, async (w) => {
      const failures: string[] = [];
      w.proxy.refuse();
      const failed = await untilEjectedThenClean(w, () => echoOnce(w.echoPort), 20);
      failures.push(...failed);
      assert.deepEqual(failures, []);
      assert.ok((await metricSum(w.metrics, 'gateway_remote_failures_total', 'reason="connect"')) >= 1);
      assertLogged(w, /remote gateway address ejected/);
    });
  });
}
