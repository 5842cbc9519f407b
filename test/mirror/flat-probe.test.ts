// Issue 14, flat-mode health: the sample pool and its rotation from tables, and the prober against real
// sockets on loopback: a listening endpoint keeps the link healthy, a closed one makes it unhealthy after
// failureThreshold rounds, listening again makes it healthy at the next round.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { FlatProber, flatTargets, sampleTargets, tcpConnect } from '../../src/mirror/flat-probe.js';
import { createLogger } from '../../src/log/index.js';
import type { EndpointSlice } from '../../src/mirror/index.js';

const slice = (eps: Array<[string, boolean]>, port = 8080, protocol = 'TCP'): EndpointSlice => ({
  metadata: { name: 's' },
  addressType: 'IPv4',
  endpoints: eps.map(([ip, ready]) => ({ addresses: [ip], conditions: { ready } })),
  ports: [{ name: 'x', port, protocol }],
});

test('flatTargets: ready endpoints with their slice\'s TCP port, deduplicated and sorted; sampleTargets rotates', () => {
  const t = flatTargets([slice([['10.0.0.2', true], ['10.0.0.1', true], ['10.0.0.9', false]]), slice([['10.0.0.1', true]]), slice([['10.0.0.5', true]], 53, 'UDP')]);
  assert.deepEqual(t, [{ ip: '10.0.0.1', port: 8080 }, { ip: '10.0.0.2', port: 8080 }]);
  const five = [1, 2, 3, 4, 5].map((i) => ({ ip: `10.0.0.${i}`, port: 80 }));
  assert.deepEqual(sampleTargets(five, 0).map((x) => x.ip), ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
  assert.deepEqual(sampleTargets(five, 1).map((x) => x.ip), ['10.0.0.4', '10.0.0.5', '10.0.0.1']);
  assert.deepEqual(sampleTargets(five.slice(0, 2), 7).map((x) => x.ip), ['10.0.0.1', '10.0.0.2']);
  assert.deepEqual(sampleTargets([], 3), []);
});

function listen(port = 0): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const s = net.createServer((c) => c.destroy());
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}
const close = (s: net.Server) => new Promise<void>((r) => s.close(() => r()));

test('FlatProber: healthy while an endpoint accepts, unhealthy after failureThreshold refused rounds, healthy again', async () => {
  let server = await listen();
  const port = (server.address() as net.AddressInfo).port;
  assert.equal((await tcpConnect({ ip: '127.0.0.1', port }, 1000)).ok, true);
  const changes: boolean[] = [];
  let waiter: (() => void) | undefined;
  const prober = new FlatProber({
    link: 'cluster-c',
    periodMs: 20,
    timeoutMs: 500,
    failureThreshold: 3,
    targets: () => [{ ip: '127.0.0.1', port }],
    logger: createLogger('flat-probe-test', { level: 'error' }),
    onChange: (h) => {
      changes.push(h);
      waiter?.();
    },
  });
  const next = () => new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no verdict change (have ${JSON.stringify(changes)})`)), 10_000);
    waiter = () => {
      clearTimeout(t);
      resolve();
    };
  });
  try {
    prober.start();
    await close(server);
    await next();
    assert.deepEqual(changes, [false]);
    assert.equal(prober.healthy, false);
    assert.match(prober.last?.message ?? '', /ECONNREFUSED/);
    server = await listen(port);
    await next();
    assert.deepEqual(changes, [false, true]);
    assert.equal(prober.healthy, true);
  } finally {
    prober.stop();
    await close(server).catch(() => undefined);
  }
});
