// What cluster-a's outbound may replay when the remote gateway's connection is RESET (not closed) before it
// answered: the remote may have sent its 200 and passed the client's bytes on (a crash with unread data
// resets, and the answer in flight is lost). So: replayed only if no client byte had been sent. A fake
// remote gateway (node:http2 over mTLS) resets the TCP connection on the CONNECT's HEADERS or on its first
// DATA; the pool's other session (or a new one) carries the replay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http2 from 'node:http2';
import { startGateway, MemoryRouteSource, MemoryCredentials, GatewayMetrics } from '../../src/gateway/index.js';
import { createPki, outcomeOf } from './fixtures.js';
import { freePort } from '../helpers/ports.js';
import { waitUntil } from './pair.js';

type Behaviour = 'reset-on-headers' | 'reset-on-data' | 'greet';

async function withResettingRemote(behaviours: Behaviour[], run: (port: number, metrics: GatewayMetrics, streams: () => number) => Promise<void>): Promise<void> {
  const pki = createPki();
  const b = pki.leaf('cluster-b');
  const remote = http2.createSecureServer({ key: b.key, cert: b.certChain, ca: pki.bundle, requestCert: true, rejectUnauthorized: true });
  // The TCP sockets under the TLS ones, by the client's port: a real RST needs the raw socket.
  const raw = new Map<number, net.Socket>();
  remote.on('connection', (s: net.Socket) => {
    raw.set(s.remotePort ?? 0, s);
    s.on('error', () => {});
  });
  let n = 0;
  remote.on('stream', (stream) => {
    stream.on('error', () => {});
    const what = behaviours[n++] ?? 'greet';
    const reset = () => raw.get(stream.session?.socket.remotePort ?? 0)?.resetAndDestroy();
    if (what === 'reset-on-headers') return void reset();
    if (what === 'reset-on-data') return void stream.once('data', reset);
    // A server-first answer, then the client's bytes echoed.
    stream.respond({ ':status': 200 });
    stream.write('hello\n');
    stream.on('data', (d: Buffer) => stream.write(d));
    stream.on('end', () => stream.end());
  });
  await new Promise<void>((r) => remote.listen(0, '127.0.0.1', r));
  const port = await freePort();
  const metrics = new GatewayMetrics();
  const routes = new MemoryRouteSource();
  routes.set({
    outbound: [{ outboundPort: port, remoteCluster: 'cluster-b', namespace: 'demo', service: 'echo', port: 7 }],
    remotes: [{ cluster: 'cluster-b', addresses: ['127.0.0.1'], port: (remote.address() as net.AddressInfo).port, transport: 'connect' }],
  });
  const a = await startGateway({ clusterName: 'cluster-a', host: '127.0.0.1', tunnelPort: 0, adminPort: 0, outboundPorts: { min: 1024, max: 65535 }, connectTimeoutMs: 2_000, poolSize: 2 }, { credentials: new MemoryCredentials(pki.leaf('cluster-a')), routes, metrics });
  try {
    await waitUntil(() => a.poolReady('cluster-b') === 2 && a.outboundPorts().includes(port), 15_000, 'two pooled sessions');
    await run(port, metrics, () => n);
  } finally {
    await a.close();
    for (const s of raw.values()) s.destroy();
    remote.close();
  }
}

async function retries(metrics: GatewayMetrics): Promise<number> {
  return Number(/remote_cluster="cluster-b"} (\d+)/.exec(await metrics.registry.getSingleMetricAsString('gateway_tunnel_retries_total'))?.[1] ?? 0);
}

test('connection reset after the client sent bytes (before any answer): not replayed, the client is reset', async () => {
  await withResettingRemote(['reset-on-data'], async (port, metrics, streams) => {
    const c = net.connect({ port, host: '127.0.0.1' });
    c.write('GET / HTTP/1.1\r\n\r\n');
    // Bounded: a replayed request would be answered (data) and left open.
    const first = await Promise.race([
      outcomeOf(c),
      new Promise<string>((r) => c.once('data', () => r('answered by a replay'))),
      new Promise<string>((r) => setTimeout(() => r('no outcome within 10 s'), 10_000).unref()),
    ]);
    c.destroy();
    assert.equal(first, 'ECONNRESET');
    assert.equal(streams(), 1, 'no second request');
    assert.equal(await retries(metrics), 0);
  });
});

test('connection reset before any client byte was sent: replayed on the other session, the client gets its answer', async () => {
  await withResettingRemote(['reset-on-headers'], async (port, metrics, streams) => {
    const got = await new Promise<string>((resolve, reject) => {
      const c = net.connect({ port, host: '127.0.0.1' });
      let text = '';
      c.on('error', reject);
      c.on('data', (d: Buffer) => {
        text += d.toString();
        if (text.endsWith('\n')) {
          c.destroy();
          resolve(text);
        }
      });
    });
    assert.equal(got, 'hello\n');
    assert.equal(streams(), 2);
    assert.equal(await retries(metrics), 1);
  });
});
