// The data plane in-process: two gateways, both transports, real sockets and mTLS.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import http2 from 'node:http2';
import tls from 'node:tls';
import { TRANSPORTS, startGateway, MemoryRouteSource, MemoryCredentials, GatewayMetrics, ALPN_PIPE, type Transport } from '../../src/gateway/index.js';
import { createPki, startEchoServer } from './fixtures.js';
import { freePort } from '../helpers/ports.js';
import { roundTrip, sha256, outcomeOf } from './fixtures.js';
import { startPair, waitUntil, type Pair } from './pair.js';

for (const transport of TRANSPORTS) {
  describe(`data plane over ${transport}`, () => {
    let p: Pair;
    before(async () => {
      p = await startPair(transport);
    });
    after(async () => {
      await p?.close();
    });

    test('bytes echo back exactly, half-close passes both ways', async () => {
      const data = randomBytes(300_000);
      const back = await roundTrip(p.port, data);
      assert.equal(back.length, data.length);
      assert.equal(sha256(back), sha256(data));
    });

    test('server-side FIN reaches the client while the client can still send', async () => {
      // Half-close the other way: the client ends first, keeps reading; the echo ends after the last byte.
      const s = net.connect({ port: p.port, host: '127.0.0.1', allowHalfOpen: true });
      const got: Buffer[] = [];
      s.on('data', (c: Buffer) => got.push(c));
      const ended = new Promise<void>((r) => s.on('end', () => r()));
      s.write('hello ');
      await new Promise((r) => setTimeout(r, 50));
      s.end('world');
      await ended;
      s.end();
      assert.equal(Buffer.concat(got).toString(), 'hello world');
    });

    test('50 concurrent connections each get their own bytes', async () => {
      const inputs = Array.from({ length: 50 }, (_, i) => Buffer.from(`conn-${i}-`.repeat(100 + i)));
      const outs = await Promise.all(inputs.map((d) => roundTrip(p.port, d)));
      outs.forEach((o, i) => assert.equal(o.toString(), inputs[i]!.toString()));
    });

    test('a refused target resets the client and is counted on both sides', async () => {
      // Point cluster-a's route at a service cluster-b does not export.
      p.aRoutes.set({
        outbound: [{ outboundPort: p.port, remoteCluster: 'cluster-b', namespace: 'demo', service: 'secret', port: 7 }],
        remotes: [{ cluster: 'cluster-b', addresses: ['127.0.0.1'], port: p.b.tunnelPort, transport }],
      });
      try {
        const s = net.connect({ port: p.port, host: '127.0.0.1' });
        s.write('x');
        const outcome = await outcomeOf(s);
        assert.equal(outcome, 'ECONNRESET');
        const bm = await p.b.metrics.registry.getSingleMetricAsString('gateway_refused_total');
        assert.match(bm, /reason="UNKNOWN_SERVICE"/);
        const am = await p.a.metrics.registry.getSingleMetricAsString('gateway_refused_total');
        assert.match(am, /reason="REMOTE_REFUSED"/);
      } finally {
        p.aRoutes.set({
          outbound: [{ outboundPort: p.port, remoteCluster: 'cluster-b', namespace: 'demo', service: 'echo', port: 7 }],
          remotes: [{ cluster: 'cluster-b', addresses: ['127.0.0.1'], port: p.b.tunnelPort, transport }],
        });
      }
    });

    test('a client reset becomes a reset at the server', async () => {
      let gotServerSide: (s: net.Socket) => void = () => {};
      const serverSide = new Promise<net.Socket>((r) => (gotServerSide = r));
      const server = net.createServer((s) => {
        s.on('error', () => {});
        gotServerSide(s);
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const sport = (server.address() as net.AddressInfo).port;
      p.bRoutes.set(p.bRouteFile({ exported: [...p.bRouteFile().exported!, { namespace: 'demo', name: 'rst', ports: [{ port: 9, backends: [{ address: '127.0.0.1', port: sport }] }] }] }));
      const port2 = await freePort();
      p.aRoutes.set({
        outbound: [
          { outboundPort: p.port, remoteCluster: 'cluster-b', namespace: 'demo', service: 'echo', port: 7 },
          { outboundPort: port2, remoteCluster: 'cluster-b', namespace: 'demo', service: 'rst', port: 9 },
        ],
        remotes: [{ cluster: 'cluster-b', addresses: ['127.0.0.1'], port: p.b.tunnelPort, transport }],
      });
      try {
        await waitUntil(() => p.a.outboundPorts().includes(port2), 15_000, 'second listener');
        const c = net.connect({ port: port2, host: '127.0.0.1' });
        c.on('error', () => {});
        c.write('ping');
        const s = await serverSide;
        const outcome = outcomeOf(s);
        c.resetAndDestroy();
        assert.equal(await outcome, 'ECONNRESET');
        // The first listener kept working while the second came and went.
        assert.equal((await roundTrip(p.port, Buffer.from('still here'))).toString(), 'still here');
      } finally {
        server.close();
      }
    });
  });
}

describe('limits, timeouts and failover', () => {
  test('a dead first address is skipped: tunnels go to the next one', async () => {
    for (const transport of TRANSPORTS) {
      const p = await startPair(transport);
      try {
        // 127.0.0.9 has nothing on B's port: connection refused, then the pool tries 127.0.0.1.
        p.aRoutes.set({
          outbound: [{ outboundPort: p.port, remoteCluster: 'cluster-b', namespace: 'demo', service: 'echo', port: 7 }],
          remotes: [{ cluster: 'cluster-b', addresses: ['127.0.0.9', '127.0.0.1'], port: p.b.tunnelPort, transport }],
        });
        let ok = false;
        for (let i = 0; i < 40 && !ok; i++) {
          try {
            ok = (await roundTrip(p.port, Buffer.from('failover'))).toString() === 'failover';
          } catch {
            await new Promise((r) => setTimeout(r, 100));
          }
        }
        assert.ok(ok, `${transport}: reached B through the second address`);
      } finally {
        await p.close();
      }
    }
  });

  test('an idle tunnel is closed after the idle timeout; an active one is not', async () => {
    const p = await startPair('connect', { idleTimeoutMs: 400 });
    try {
      const idle = net.connect({ port: p.port, host: '127.0.0.1' });
      idle.write('x');
      const started = Date.now();
      const o = await outcomeOf(idle);
      assert.notEqual(o, 'timeout');
      assert.ok(Date.now() - started >= 300, `closed after ${Date.now() - started} ms`);
      // Traffic every 100 ms keeps a tunnel open well past the timeout.
      const busy = net.connect({ port: p.port, host: '127.0.0.1' });
      let closed = false;
      busy.on('close', () => (closed = true));
      busy.on('error', () => {});
      for (let i = 0; i < 10; i++) {
        busy.write('ping');
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(closed, false);
      busy.destroy();
    } finally {
      await p.close();
    }
  });

  test('tls-pipe: warm connections the remote closes (its idle timeout) are replaced in the background', async () => {
    const p = await startPair('tls-pipe', { pipeWarm: 2, idleTimeoutMs: 1_500 });
    try {
      await waitUntil(() => p.a.poolReady('cluster-b') === 2, 15_000, 'pool full');
      // B closes idle warm pipes after 1.5 s (seen as more handshakes at B: the replacements); without a
      // refill the pool would stay empty until its sweep (15 s).
      const handshakes = async () => Number(/gateway_tls_handshake_seconds_count\{direction="inbound"\} (\d+)/.exec(await p.b.metrics.registry.getSingleMetricAsString('gateway_tls_handshake_seconds'))?.[1] ?? 0);
      const first = await handshakes();
      await waitUntil(async () => (await handshakes()) >= first + 2, 10_000, 'B closed the idle warm pipes and A dialed replacements');
      await waitUntil(() => p.a.poolReady('cluster-b') === 2, 5000, 'pool refilled');
      const msg = randomBytes(100);
      assert.ok((await roundTrip(p.port, msg)).equals(msg));
    } finally {
      await p.close();
    }
  });

  test('tunnels over the limit are refused: the client gets a reset, OVERLOADED is counted', async () => {
    const p = await startPair('connect', { maxTunnels: 2 });
    try {
      const held = [net.connect({ port: p.port, host: '127.0.0.1' }), net.connect({ port: p.port, host: '127.0.0.1' })];
      for (const s of held) {
        s.on('error', () => {});
        await new Promise<void>((resolve) => {
          s.once('data', () => resolve());
          s.write('hold');
        });
      }
      // A counts its own tunnels too (limit 2 each way): the third is refused before it leaves A.
      const third = net.connect({ port: p.port, host: '127.0.0.1' });
      third.write('x');
      assert.equal(await outcomeOf(third), 'ECONNRESET');
      const am = await p.a.metrics.registry.getSingleMetricAsString('gateway_refused_total');
      assert.match(am, /reason="OVERLOADED"/);
      for (const s of held) s.destroy();
      await waitUntil(() => p.a.activeTunnels() === 0 && p.b.activeTunnels() === 0, 15_000, 'tunnels released');
      assert.equal((await roundTrip(p.port, Buffer.from('again'))).toString(), 'again');
    } finally {
      await p.close();
    }
  });
});

test('a remote gateway that never answers the CONNECT is given the connect timeout, then the client is reset', async () => {
  const pki = createPki();
  const b = pki.leaf('cluster-b');
  // Speaks mTLS + HTTP/2 like a gateway, accepts the stream, never answers it.
  const silent = http2.createSecureServer({ key: b.key, cert: b.certChain, ca: pki.bundle, requestCert: true, rejectUnauthorized: true });
  silent.on('stream', () => {});
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const port = await freePort();
  const metrics = new GatewayMetrics();
  const routes = new MemoryRouteSource();
  routes.set({
    outbound: [{ outboundPort: port, remoteCluster: 'cluster-b', namespace: 'demo', service: 'echo', port: 7 }],
    remotes: [{ cluster: 'cluster-b', addresses: ['127.0.0.1'], port: (silent.address() as net.AddressInfo).port, transport: 'connect' }],
  });
  const a = await startGateway({ clusterName: 'cluster-a', host: '127.0.0.1', tunnelPort: 0, adminPort: 0, outboundPorts: { min: 1024, max: 65535 }, connectTimeoutMs: 300 }, { credentials: new MemoryCredentials(pki.leaf('cluster-a')), routes, metrics });
  try {
    await waitUntil(() => a.poolReady('cluster-b') > 0, 15_000, 'pool to the silent gateway');
    const started = Date.now();
    const c = net.connect({ port, host: '127.0.0.1' });
    c.write('hello?');
    assert.equal(await outcomeOf(c), 'ECONNRESET');
    assert.ok(Date.now() - started >= 250, `reset after ${Date.now() - started} ms`);
    assert.match(await metrics.registry.getSingleMetricAsString('gateway_refused_total'), /reason="UPSTREAM_TIMEOUT"/);
  } finally {
    await a.close();
    silent.close();
  }
});

// A fake remote gateway (mTLS + HTTP/2) whose n-th CONNECT stream behaves as told: what cluster-a's
// outbound must retry (refused before the target was reached) and what it must never retry.
type Behaviour = 'ok' | 'refused-stream' | 'goaway' | 'draining' | 'reset-after-200';
async function withFakeRemote(behaviours: Behaviour[], run: (port: number, metrics: GatewayMetrics, streams: () => number) => Promise<void>, poolSize = 2): Promise<void> {
  const pki = createPki();
  const b = pki.leaf('cluster-b');
  const remote = http2.createSecureServer({ key: b.key, cert: b.certChain, ca: pki.bundle, requestCert: true, rejectUnauthorized: true });
  let n = 0;
  const sessions = new Set<http2.ServerHttp2Session>();
  remote.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  remote.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    if (headers[':method'] !== 'CONNECT') return stream.close(http2.constants.NGHTTP2_PROTOCOL_ERROR);
    const what = behaviours[n++] ?? 'ok';
    if (what === 'refused-stream') return stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    if (what === 'goaway') {
      // A GOAWAY whose last-stream-id is below this stream's: as if it crossed our GOAWAY on the wire, this
      // stream was never processed (Node replaces a last-stream-id of 0 by the last one processed, so this
      // must not be the session's first stream).
      assert.ok((stream.id ?? 0) > 1, 'goaway needs an earlier stream on the session');
      stream.session?.goaway(http2.constants.NGHTTP2_NO_ERROR, (stream.id ?? 3) - 2);
      return;
    }
    if (what === 'draining') {
      stream.respond({ ':status': 503, 'mesh-refusal-reason': 'DRAINING' });
      return stream.end('DRAINING: gateway is draining\n');
    }
    stream.respond({ ':status': 200 });
    if (what === 'reset-after-200') {
      // A bare RST_STREAM (Node's close(code) would send END_STREAM first).
      stream.once('data', () => stream.destroy(new Error('target went away')));
      return;
    }
    stream.on('data', (d: Buffer) => stream.write(d));
    stream.on('end', () => stream.end());
  });
  await new Promise<void>((r) => remote.listen(0, '127.0.0.1', r));
  try {
    await withOutboundTo((remote.address() as net.AddressInfo).port, 'connect', pki, (port, metrics) => run(port, metrics, () => n), poolSize);
  } finally {
    for (const s of sessions) s.destroy();
    remote.close();
  }
}

/** Gateway cluster-a with one outbound port tunneling to the (fake) remote gateway at `remotePort`. */
async function withOutboundTo(remotePort: number, transport: Transport, pki: ReturnType<typeof createPki>, run: (port: number, metrics: GatewayMetrics) => Promise<void>, poolSize = 2, addresses = ['127.0.0.1']): Promise<void> {
  const port = await freePort();
  const metrics = new GatewayMetrics();
  const routes = new MemoryRouteSource();
  routes.set({
    outbound: [{ outboundPort: port, remoteCluster: 'cluster-b', namespace: 'demo', service: 'echo', port: 7 }],
    remotes: [{ cluster: 'cluster-b', addresses, port: remotePort, transport }],
  });
  const a = await startGateway({ clusterName: 'cluster-a', host: '127.0.0.1', tunnelPort: 0, adminPort: 0, outboundPorts: { min: 1024, max: 65535 }, connectTimeoutMs: 2_000, poolSize }, { credentials: new MemoryCredentials(pki.leaf('cluster-a')), routes, metrics });
  try {
    await waitUntil(() => a.poolReady('cluster-b') > 0 && a.outboundPorts().includes(port), 15_000, 'pool to the fake remote');
    await run(port, metrics);
  } finally {
    await a.close();
  }
}

async function retries(metrics: GatewayMetrics): Promise<number> {
  const m = (await metrics.registry.getSingleMetricAsString('gateway_tunnel_retries_total')).match(/remote_cluster="cluster-b"} (\d+)/);
  return Number(m?.[1] ?? 0);
}

describe('connect: outbound retry on a new session', () => {
  test('goaway below our stream on the only pooled session: replayed on the new session', async () => {
    await withFakeRemote(['ok', 'goaway', 'ok'], async (port, metrics, streams) => {
      assert.equal((await roundTrip(port, Buffer.from('first'))).toString(), 'first');
      const data = randomBytes(10_000);
      const back = await roundTrip(port, data);
      assert.equal(sha256(back), sha256(data));
      assert.equal(streams(), 3);
      assert.equal(await retries(metrics), 1);
    }, 1);
  });
});

// A fake remote gateway speaking mesh-pipe/1 (parsed here independently of src/gateway): the n-th tunnel
// request (header) behaves as told. Warm pipes sit idle until a header arrives, so n counts requests.
type PipeBehaviour = 'ok' | 'draining' | 'close-unanswered' | 'refused';
async function withFakePipeRemote(behaviours: PipeBehaviour[], run: (port: number, metrics: GatewayMetrics, requests: () => number) => Promise<void>): Promise<void> {
  const pki = createPki();
  const b = pki.leaf('cluster-b');
  let n = 0;
  const sockets = new Set<tls.TLSSocket>();
  const remote = tls.createServer({ key: b.key, cert: b.certChain, ca: pki.bundle, requestCert: true, rejectUnauthorized: true, ALPNProtocols: [ALPN_PIPE], allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    let buf = Buffer.alloc(0);
    const answer = (status: number, reason: string) => {
      const r = Buffer.from(reason);
      const h = Buffer.alloc(4);
      h.writeUInt16BE(status, 0);
      h.writeUInt16BE(r.length, 2);
      s.write(Buffer.concat([h, r]));
    };
    const onHeader = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
      s.off('data', onHeader);
      const rest = buf.subarray(2 + buf.readUInt16BE(0));
      const what = behaviours[n++] ?? 'ok';
      if (what === 'close-unanswered') return void s.destroy();
      if (what === 'draining') {
        answer(503, 'DRAINING: gateway is draining');
        return void s.end();
      }
      if (what === 'refused') {
        answer(404, 'UNKNOWN_SERVICE: no such exported service');
        return void s.end();
      }
      answer(200, '');
      if (rest.length) s.write(rest);
      s.on('data', (more: Buffer) => s.write(more));
      s.on('end', () => s.end());
    };
    s.on('data', onHeader);
  });
  await new Promise<void>((r) => remote.listen(0, '127.0.0.1', r));
  try {
    await withOutboundTo((remote.address() as net.AddressInfo).port, 'tls-pipe', pki, (port, metrics) => run(port, metrics, () => n));
  } finally {
    for (const s of sockets) s.destroy();
    remote.close();
  }
}

type FakeRemote<B> = (behaviours: B[], run: (port: number, metrics: GatewayMetrics, requests: () => number) => Promise<void>) => Promise<void>;

/** What the outbound of each transport must replay (refused before it reached the target: the client's
 * bytes come back whole) and what it must not (the client is reset), against that transport's fake. */
function retrySuite<B extends string>(transport: Transport, fake: FakeRemote<B | 'ok'>, c: { replayed: B[]; notReplayed: { first: B; why: string }; twice: B }): void {
  describe(`${transport}: outbound retry of tunnel requests refused before they reached the target`, () => {
    for (const first of c.replayed) {
      test(`${first}: the request is replayed once on another connection and the client sees its answer`, async () => {
        await fake([first, 'ok'], async (port, metrics, requests) => {
          const data = randomBytes(10_000);
          const back = await roundTrip(port, data);
          assert.equal(sha256(back), sha256(data), 'the client bytes sent before the refusal were replayed');
          assert.equal(requests(), 2);
          assert.equal(await retries(metrics), 1);
        });
      });
    }
    const reset = (behaviours: Array<B | 'ok'>, requests: number, retried: number) =>
      fake(behaviours, async (port, metrics, made) => {
        const s = net.connect({ port, host: '127.0.0.1' });
        s.write('hello');
        assert.equal(await outcomeOf(s), 'ECONNRESET');
        assert.equal(made(), requests);
        assert.equal(await retries(metrics), retried);
      });
    test(`${c.notReplayed.why}: not retried, the client is reset`, () => reset([c.notReplayed.first, 'ok'], 1, 0));
    test(`${c.twice} twice: one retry only, then the client is reset`, () => reset([c.twice, c.twice, 'ok'], 2, 1));
  });
}

retrySuite<Behaviour>('connect', withFakeRemote, {
  replayed: ['refused-stream', 'draining'],
  notReplayed: { first: 'reset-after-200', why: 'a reset after the answer headers (bytes may have reached the target)' },
  twice: 'refused-stream',
});
retrySuite<PipeBehaviour>('tls-pipe', withFakePipeRemote, {
  replayed: ['draining', 'close-unanswered'],
  notReplayed: { first: 'refused', why: 'a refusal that is not DRAINING' },
  twice: 'close-unanswered',
});

// Two replicas of cluster-b's gateway on one port (127.0.0.1 and 127.0.0.2), the first drained while
// clients keep sending through cluster-a: every request that was answered is whole, and none fails.
for (const transport of TRANSPORTS) {
  test(`${transport}: a remote replica drains under load and no request is lost`, async () => {
    const pki = createPki();
    const echo = await startEchoServer();
    const tunnelPort = await freePort();
    const replica = async (host: string) => {
      const routes = new MemoryRouteSource();
      routes.set({ exported: [{ namespace: 'demo', name: 'echo', ports: [{ port: 7, backends: [{ address: '127.0.0.1', port: echo.port }] }] }] });
      return startGateway({ clusterName: 'cluster-b', host, tunnelPort, adminPort: 0, outboundPorts: { min: 1024, max: 65535 } }, { credentials: new MemoryCredentials(pki.leaf('cluster-b')), routes, metrics: new GatewayMetrics() });
    };
    const b1 = await replica('127.0.0.1');
    const refusals = async () => (await b1.metrics.registry.getSingleMetricAsString('gateway_refused_total')).split('\n').filter((l) => l.startsWith('gateway_refused_total{'));
    const b2 = await replica('127.0.0.2');
    try {
      await withOutboundTo(tunnelPort, transport, pki, async (port) => {
        let drained = false;
        let ok = 0;
        const failures: string[] = [];
        const loop = async () => {
          // Bounded: 400 requests at most, and 50 more once the drain is over.
          let after = 0;
          for (let i = 0; i < 400 && after < 50; i++) {
            const data = randomBytes(4_000);
            try {
              const back = await roundTrip(port, data);
              if (sha256(back) === sha256(data)) ok++;
              else failures.push(`request ${i}: ${back.length} bytes back of ${data.length}`);
            } catch (err) {
              failures.push(`request ${i}: ${(err as Error).message}`);
            }
            if (drained) after++;
          }
        };
        const loops = Promise.all([loop(), loop(), loop(), loop()]);
        await waitUntil(() => ok >= 40, 10_000, 'traffic through the first replica');
        await b1.drain(5_000, 0);
        drained = true;
        await loops;
        assert.deepEqual(failures, [], 'no request failed while a replica drained');
        // The warm pipes it closed itself are no refusals; only connections that reached it after its
        // listener stopped may be turned away (DRAINING).
        assert.deepEqual((await refusals()).filter((l) => !l.includes('reason="DRAINING"')), [], 'the drained replica refused nothing else');
        assert.ok(ok >= 200, `requests answered: ${ok}`);
      }, 2, ['127.0.0.1', '127.0.0.2']);
    } finally {
      await b1.close();
      await b2.close();
      await echo.close();
    }
  });
}
