// Link status is computed from the world, not remembered: after the controller process is restarted (and
// the status it wrote is wiped), the new process writes the same counts and conditions again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { LinkStatus } from '../../src/api/index.js';
import { stopAll } from '../helpers/process.js';
import {
  startCluster, stopCluster, prepareLocal, putSecret, adminKubeconfig, createLink, exportService, getLink, until, startController,
  ensureNamespace, svcPath, linkPath, type Cluster,
} from './env.js';

let local: Cluster;
let remote: Cluster;

before(async () => {
  [local, remote] = await Promise.all([startCluster('local'), startCluster('remote')]);
  await prepareLocal(local);
  await ensureNamespace(local, 'app');
  await putSecret(local, 'cluster-credentials-remote', adminKubeconfig(remote));
  await createLink(local, 'remote', { targetClusterName: 'remote', clusterCredentialsSecret: 'cluster-credentials-remote' });
});

after(async () => {
  await stopAll();
  await Promise.all([stopCluster(local), stopCluster(remote)]);
});

/** What must not change across a restart: every condition (but its transition time) and the services list. */
function essence(s: LinkStatus | undefined): unknown {
  return {
    conditions: (s?.conditions ?? []).map((c) => [c.type, c.status, c.reason, c.message]),
    mirroredServices: s?.mirroredServices,
  };
}

test('Link status is the same after a controller restart: counts, problems and conditions are computed, not remembered', async () => {
  // Three mirrored Services and three kinds of problem: a gateway export on a flat-only Link (from the
  // spec), a namespace that does not exist here (found by reconciling), a foreign Service in the way.
  for (const n of ['a', 'b', 'c']) await exportService(remote, 'app', n, { mode: 'flat' });
  await exportService(remote, 'app', 'gw', { mode: 'true' });
  await exportService(remote, 'nowhere', 'x', { mode: 'flat' });
  await local.client.create(svcPath('app'), { apiVersion: 'v1', kind: 'Service', metadata: { name: 'taken-remote', namespace: 'app' }, spec: { ports: [{ port: 1, protocol: 'TCP' }] } });
  await exportService(remote, 'app', 'taken', { mode: 'flat' });

  const first = await startController(local);
  const settled = await until(async () => {
    const s = (await getLink(local, 'remote'))?.status;
    const problems = s?.mirroredServices?.services.filter((m) => m.problem).length;
    return s?.mirroredServices?.count === 3 && problems === 3 ? s : undefined;
  }, 'three mirrored, three problems', 30_000);
  const conflict = settled.conditions?.find((c) => c.type === 'Conflict');
  assert.deepEqual([conflict?.status, conflict?.reason], ['True', 'ShadowConflict']);
  assert.match(conflict?.message ?? '', /Service app\/taken-remote/);
  assert.deepEqual(settled.conditions?.find((c) => c.type === 'Ready')?.reason, 'ServiceProblems');

  await first.proc.stop();
  // Wipe what the first controller wrote: the second can only get it back by computing it.
  await local.client.patch(`${linkPath('remote')}/status`, { status: { conditions: null, mirroredServices: null, observedGeneration: null } });
  assert.deepEqual(essence((await getLink(local, 'remote'))?.status), { conditions: [], mirroredServices: undefined });

  const second = await startController(local);
  const again = await until(async () => {
    const s = (await getLink(local, 'remote'))?.status;
    return JSON.stringify(essence(s)) === JSON.stringify(essence(settled)) ? s : undefined;
  }, 'the same status from the restarted controller', 30_000).catch(async (err: unknown) => {
    assert.deepEqual(essence((await getLink(local, 'remote'))?.status), essence(settled), String(err));
    throw err;
  });
  assert.equal(again.observedGeneration, settled.observedGeneration);
  assert.match(await second.metrics(), /mesh_mirror_shadows\{link="remote"\} 3/);
  assert.match(await second.metrics(), /mesh_mirror_conflicts\{link="remote"\} 1/);
  await second.proc.stop();
});
