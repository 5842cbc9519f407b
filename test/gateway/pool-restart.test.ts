// A remote gateway that restarts is used as soon as a tunnel needs it. Cluster-a's pool backs off while
// cluster-b's gateway is down (100 ms doubling to 5 s). Before this, a tunnel that arrived in that backoff
// was refused at once until the slot's timer fired, so clients were reset for up to 5 s after cluster-b was
// back (test/gateway/process.test.ts saw it after a restart). Now the tunnel cuts the backoff short and
// waits for that one dial.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, MemoryCredentials, GatewayMetrics, type Gateway } from '../../src/gateway/index.js';
import { HURRY_AFTER_MS } from '../../src/gateway/pool/h2-pool.js';
import { roundTrip } from './fixtures.js';
import { startPair, waitUntil } from './pair.js';
import { captureLogs } from '../helpers/logs.js';

test('connect: the first tunnel after the remote gateway is back gets through, though the pool is in a long backoff', async () => {
  const { logger, lines } = captureLogs();
  const p = await startPair('connect', { poolSize: 1, connectTimeoutMs: 2_000 }, undefined, { logger });
  let b2: Gateway | undefined;
  try {
    assert.deepEqual(await roundTrip(p.port, Buffer.from('before')), Buffer.from('before'));
    const tunnelPort = p.b.tunnelPort;
    await p.b.close();
    // Wait for a failed dial that leaves a backoff of >= 1.6 s (0.8x-1.2x jitter: the next timed dial is
    // >= 1.28 s later), then for the slot's last dial to be HURRY_AFTER_MS old.
    const longBackoff = () => lines().filter((l) => /cannot connect to remote gateway/.test(String(l.message)) && Number(l.retryInMs) >= 1_600);
    await waitUntil(() => longBackoff().length > 0, 20_000, 'a backoff of 1.6 s or more');
    await new Promise((r) => setTimeout(r, HURRY_AFTER_MS + 100));
    b2 = await startGateway(
      { clusterName: 'cluster-b', host: '127.0.0.1', tunnelPort, adminPort: 0, outboundPorts: { min: 1024, max: 65535 } },
      { credentials: new MemoryCredentials(p.pki.leaf('cluster-b')), routes: p.bRoutes, metrics: new GatewayMetrics() },
    );
    const dialsBefore = lines().filter((l) => /cannot connect to remote gateway/.test(String(l.message))).length;
    assert.equal(p.a.poolReady('cluster-b'), 0, 'the pool is still in its backoff when the tunnel arrives');
    assert.deepEqual(await roundTrip(p.port, Buffer.from('after')), Buffer.from('after'), 'the first tunnel after the restart is served');
    assert.equal(lines().filter((l) => /cannot connect to remote gateway/.test(String(l.message))).length, dialsBefore, 'no failed dial in between');
  } finally {
    await b2?.close();
    await p.close();
  }
});
