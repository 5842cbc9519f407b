// Leader election against the real embedded API server: regression tests of the elector's own races.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startApiServer, type TestApiServer } from '../helpers/apiserver.js';
import { stopAll } from '../helpers/process.js';
import { KubeClient, LeaderElector, resourcePath, type KubeObject } from '../../src/kube/index.js';

let api: TestApiServer;
let client: KubeClient;

before(async () => {
  api = await startApiServer();
  client = await KubeClient.create(api.kubeConfig);
});

after(async () => {
  client?.close();
  await api?.stop();
  await stopAll();
});

async function until(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('regression: a renewal whose answer arrives after stop() does not make the stopped elector leader again', async () => {
  // The renewal reaches the server, but its answer is held until stop() has finished (a slow response).
  let hold: Promise<void> | undefined;
  let release: () => void = () => undefined;
  let held = false;
  const gated = Object.create(client) as KubeClient;
  gated.replace = async <T>(path: string, body: unknown, opts?: Parameters<KubeClient['replace']>[2]): Promise<T> => {
    const r = await client.replace<T>(path, body, opts);
    const h = hold;
    if (h) {
      hold = undefined;
      held = true;
      await h;
    }
    return r;
  };
  const events: string[] = [];
  const a = new LeaderElector(gated, {
    namespace: 'default',
    name: 'le-stop-race',
    identity: 'a',
    leaseDurationMs: 4000,
    renewDeadlineMs: 3000,
    retryPeriodMs: 100,
    onStartedLeading: () => events.push('started'),
    onStoppedLeading: () => events.push('stopped'),
  });
  a.start();
  await until(() => events.includes('started'), 'a leads');
  hold = new Promise((r) => (release = r));
  await until(() => held, 'a renewal held');
  await a.stop();
  assert.deepEqual(events, ['started', 'stopped']);
  release();
  // One turn of the event loop: the held renewal's continuation (no I/O left in it) has run by then.
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(events, ['started', 'stopped'], 'the stopped elector stays stopped');
  assert.equal(a.isLeader(), false);
  const lease = await client.get<KubeObject & { spec: { holderIdentity: string } }>(resourcePath({ group: 'coordination.k8s.io', version: 'v1', plural: 'leases', namespace: 'default', name: 'le-stop-race' }));
  assert.equal(lease.spec.holderIdentity, '', 'released by stop()');
});
