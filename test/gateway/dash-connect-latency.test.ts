// gateway_connect_seconds through a real pair of gateways (issue 19: the dashboard shows tunnel latency per
// exported Service and per Link): the inbound gateway labels each tunnel's open by the exported Service it
// reached, the outbound one by the remote cluster, and each series counts exactly the tunnels sent to it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { freePort } from '../helpers/ports.js';
import { startPair, waitUntil } from './pair.js';

/** Opens a tunnel through `port`, sends a line and waits for the answer. */
function roundTrip(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.setTimeout(15_000, () => s.destroy(new Error('no answer within 15 s')));
    s.on('error', reject);
    s.once('data', () => {
      s.end();
      resolve();
    });
    s.write('ping\n');
  });
}

test('tunnel-open latency is counted per exported Service inbound and per remote cluster outbound', async () => {
  const p = await startPair('connect');
  try {
    const echoBackends = p.bRouteFile().exported![0]!.ports[0]!.backends;
    p.bRoutes.set(p.bRouteFile({ exported: [...p.bRouteFile().exported!, { namespace: 'demo', name: 'echo2', ports: [{ port: 7, backends: echoBackends }] }] }));
    const echo2Port = await freePort();
    p.aRoutes.set({
      outbound: [
        { outboundPort: p.port, remoteCluster: 'cluster-b', namespace: 'demo', service: 'echo', port: 7 },
        { outboundPort: echo2Port, remoteCluster: 'cluster-b', namespace: 'demo', service: 'echo2', port: 7 },
      ],
      remotes: [{ cluster: 'cluster-b', addresses: ['127.0.0.1'], port: p.b.tunnelPort, transport: 'connect' }],
    });
    await waitUntil(() => p.a.outboundPorts().includes(echo2Port), 15_000, 'the echo2 listener');
    for (let i = 0; i < 5; i++) await roundTrip(p.port);
    for (let i = 0; i < 3; i++) await roundTrip(echo2Port);
    const count = async (g: typeof p.a, labels: string) => {
      const line = (await g.metrics.registry.getSingleMetricAsString('gateway_connect_seconds')).split('\n').find((l) => l.startsWith(`gateway_connect_seconds_count{${labels}}`));
      return line === undefined ? undefined : Number(line.split(' ').at(-1));
    };
    assert.equal(await count(p.b, 'direction="inbound",remote_cluster="",namespace="demo",service="echo"'), 5);
    assert.equal(await count(p.b, 'direction="inbound",remote_cluster="",namespace="demo",service="echo2"'), 3);
    assert.equal(await count(p.a, 'direction="outbound",remote_cluster="cluster-b",namespace="",service=""'), 8);
  } finally {
    await p.close();
  }
});
