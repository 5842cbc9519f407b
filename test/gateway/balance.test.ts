// Per-tunnel balancing at the remote (inbound) gateway (issue 14; Istio's #58039 pins a pooled connection's
// backend): many tunnels over ONE pooled HTTP/2 connection spread over the exported Service's ready
// endpoints, backends that refuse are skipped before any byte is sent, and gateway_backend_tunnels_total
// says which backend served, labelled only by current endpoints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { freePort } from '../helpers/ports.js';
import { startPair, waitUntil } from './pair.js';

/** A backend that says its name and closes (server-first, so the tunnel sends no client byte). */
async function startNamed(name: string): Promise<{ port: number; close(): Promise<void> }> {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.end(`${name}\n`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** The name of the backend that answered; fails after 15 s without an answer (a hang is a failure here). */
function nameFrom(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let got = '';
    s.setTimeout(15_000, () => s.destroy(new Error(`no answer within 15 s (got ${JSON.stringify(got)})`)));
    s.on('data', (d: Buffer) => (got += d.toString()));
    s.on('error', reject);
    s.on('end', () => {
      s.end();
      resolve(got.trim());
    });
  });
}

test('tunnels over one pooled connection spread over every ready backend; refusing backends are skipped; the metric names the backend', async () => {
  const named = await Promise.all(['w1', 'w2', 'w3'].map(startNamed));
  // Two refusing endpoints in a row (nothing listens): a tunnel whose turn starts there must pass both. On an
  // address of their own and below the ephemeral range: a port from listen(0) on 127.0.0.1 can be taken by
  // another test file's listen(0) meanwhile, or be picked as the source port of the dial to it (a socket
  // connected to itself). Runs here had 24 of 60 tunnels unanswered, and one hung to the runner's timeout.
  const DEAD = '127.66.0.1';
  const dead = [await freePort(DEAD), await freePort(DEAD)];
  const p = await startPair('connect', { poolSize: 1 });
  try {
    const live = (port: number) => ({ address: '127.0.0.1', port });
    const backends = [live(named[0]!.port), { address: DEAD, port: dead[0]! }, { address: DEAD, port: dead[1]! }, live(named[1]!.port), live(named[2]!.port)];
    const who = (list: typeof backends) => ({ namespace: 'demo', name: 'who', ports: [{ port: 9, backends: list }] });
    p.bRoutes.set(p.bRouteFile({ exported: [...p.bRouteFile().exported!, who(backends)] }));
    const whoPort = await freePort();
    p.aRoutes.set({
      outbound: [
        { outboundPort: p.port, remoteCluster: 'cluster-b', namespace: 'demo', service: 'echo', port: 7 },
        { outboundPort: whoPort, remoteCluster: 'cluster-b', namespace: 'demo', service: 'who', port: 9 },
      ],
      remotes: [{ cluster: 'cluster-b', addresses: ['127.0.0.1'], port: p.b.tunnelPort, transport: 'connect' }],
    });
    await waitUntil(() => p.a.outboundPorts().includes(whoPort), 15_000, 'the who listener');

    const served = new Map<string, number>();
    const count = (n: string) => served.set(n, (served.get(n) ?? 0) + 1);
    for (let i = 0; i < 30; i++) count(await nameFrom(whoPort));
    for (const n of await Promise.all(Array.from({ length: 30 }, () => nameFrom(whoPort)))) count(n);
    assert.deepEqual([...served.keys()].sort(), ['w1', 'w2', 'w3'], `every tunnel answered by a live backend: ${JSON.stringify([...served])}`);
    for (const [n, c] of served) assert.ok(c >= 10, `${n} served ${c} of 60 (round robin per tunnel gives each about 20)`);

    const bText = async (name: string) => (await p.b.metrics.registry.getSingleMetricAsString(name)).split('\n').filter((l) => l.startsWith(`${name}{`));
    const inboundConnections = (await bText('gateway_connections_total')).filter((l) => l.includes('direction="inbound"')).reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
    assert.equal(inboundConnections, 1, 'all 60 tunnels came over one pooled connection');
    assert.deepEqual((await bText('gateway_refused_total')).filter((l) => l.includes('service="who"')), [], 'no tunnel was refused');

    const byBackend = new Map((await bText('gateway_backend_tunnels_total')).filter((l) => l.includes('service="who"')).map((l) => [/backend="([^"]+)"/.exec(l)![1]!, Number(l.split(' ').at(-1))]));
    assert.deepEqual(new Map([...byBackend].sort()), new Map(named.map((s, i) => [`127.0.0.1:${s.port}`, served.get(`w${i + 1}`)!] as const).sort()), 'the metric says which backend served, per tunnel');

    // An endpoint that leaves takes its series with it: the label set stays the current endpoints.
    p.bRoutes.set(p.bRouteFile({ exported: [...p.bRouteFile().exported!, who(backends.filter((b) => b.port !== named[2]!.port))] }));
    const left = `backend="127.0.0.1:${named[2]!.port}"`;
    await waitUntil(async () => !(await bText('gateway_backend_tunnels_total')).some((l) => l.includes(left)), 15_000, 'the series of the endpoint that left to go');
    assert.equal((await bText('gateway_backend_tunnels_total')).filter((l) => l.includes('service="who"')).length, 2);
  } finally {
    await p.close();
    for (const s of named) await s.close();
  }
});
