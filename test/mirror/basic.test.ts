// The controller as its own process against two real API servers: mirroring, updates, removal, conflicts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { stopAll } from '../helpers/process.js';
import {
  startCluster, stopCluster, prepareLocal, putSecret, adminKubeconfig, createLink, exportService, putSlice, getService, slicesOf,
  until, startController, getLink, condition, ensureNamespace, svcPath, linkPath, type Cluster, type ControllerProc,
} from './env.js';

let local: Cluster;
let remote: Cluster;
let ctl: ControllerProc;

before(async () => {
  [local, remote] = await Promise.all([startCluster('local'), startCluster('remote')]);
  await prepareLocal(local);
  await putSecret(local, 'cluster-credentials-remote', adminKubeconfig(remote));
  // Local gateway pods: two addresses, one ready.
  await putSlice(local, 'mesh-system', 'mesh-gateway', 'mesh-gateway-abc', [{ ip: '127.0.10.1', ready: true }, { ip: '127.0.10.2', ready: false }], [{ name: 'tunnel', port: 4143 }]);
  await createLink(local, 'remote', {
    targetClusterName: 'remote',
    clusterCredentialsSecret: 'cluster-credentials-remote',
    gateway: { addresses: ['127.0.0.1'], port: 1, identity: 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway' },
    probe: { period: '60s', failureThreshold: 100 },
    flatSelector: { matchExpressions: [{ key: 'mirror.mesh.io/exported', operator: 'In', values: ['flat', 'remote-discovery'] }] },
  });
  ctl = await startController(local);
});

after(async () => {
  await stopAll();
  await Promise.all([stopCluster(local), stopCluster(remote)]);
});

test('a gateway-mode export gets a shadow Service with the port map and an EndpointSlice at the ready local gateway', async () => {
  await ensureNamespace(local, 'shop');
  await exportService(remote, 'shop', 'web', { ports: [{ name: 'http', port: 80 }, { name: 'grpc', port: 9090 }], labels: { app: 'web' } });
  const shadow = await until(() => getService(local, 'shop', 'web-remote'), 'shadow web-remote');
  assert.equal(shadow.metadata?.labels?.['mirror.mesh.io/mirrored-service'], 'true');
  assert.equal(shadow.metadata?.labels?.['mirror.mesh.io/cluster-name'], 'remote');
  assert.equal(shadow.metadata?.labels?.app, 'web');
  assert.equal(shadow.metadata?.annotations?.['mirror.mesh.io/remote-svc-fq-name'], 'web.shop.svc.cluster.local');
  const map = JSON.parse(shadow.metadata?.annotations?.['mirror.mesh.io/gateway-port-map'] ?? '[]') as Array<{ port: number; outboundPort: number; name: string }>;
  assert.equal(map.length, 2);
  assert.notEqual(map[0].outboundPort, map[1].outboundPort);
  for (const e of map) assert.ok(e.outboundPort >= 14000 && e.outboundPort <= 14999);
  const slices = await until(async () => ((await slicesOf(local, 'shop', 'web-remote')).length ? slicesOf(local, 'shop', 'web-remote') : undefined), 'shadow slice');
  const ep = slices[0].endpoints ?? [];
  assert.deepEqual(ep.map((e) => [e.addresses[0], e.conditions?.ready]).sort(), [['127.0.10.1', true], ['127.0.10.2', false]]);
  assert.deepEqual((slices[0].ports ?? []).map((p) => [p.name, p.port]).sort(), map.map((m) => [m.name, m.outboundPort]).sort());
  const link = await until(async () => {
    const l = await getLink(local, 'remote');
    return (l?.status?.mirroredServices?.count ?? 0) >= 1 ? l : undefined;
  }, 'link status lists the service');
  assert.ok(link.metadata?.finalizers?.includes('multicluster.mesh.io/mirror-cleanup'));
  assert.equal(condition(link, 'RemoteAPIReachable')?.status, 'True');
  assert.equal(condition(link, 'CredentialsValid')?.status, 'True');
  assert.equal(link.status?.observedGeneration, link.metadata?.generation);
});

type EventObj = import('../../src/kube/index.js').KubeObject & { reason: string; type: string; message: string; involvedObject: { kind: string; name: string; namespace?: string } };
type Routes = { routes: Array<{ outboundPort: number; remoteCluster: string; namespace: string; service: string; port: number; origin?: { namespace: string; name: string } }> };

async function routeTable(): Promise<Routes | undefined> {
  const cm = await local.client.get<{ data?: Record<string, string> }>('/api/v1/namespaces/mesh-system/configmaps/mesh-gateway-routes').catch(() => undefined);
  return cm?.data?.['routes.json'] ? (JSON.parse(cm.data['routes.json']) as Routes) : undefined;
}

// Regression (issue 17 item 2): the gateway routed by any Service's mirror labels and port map. The
// controller now publishes the only table the gateway reads, from what it made; an impostor is reported.
test('the controller publishes the route table from its shadows; a Service with forged mirror labels gets no route and is reported', async () => {
  const shadow = await until(() => getService(local, 'shop', 'web-remote'), 'shadow web-remote');
  const map = JSON.parse(shadow.metadata?.annotations?.['mirror.mesh.io/gateway-port-map'] ?? '[]') as Array<{ port: number; outboundPort: number }>;
  const want = map.map((e) => ({ outboundPort: e.outboundPort, remoteCluster: 'remote', namespace: 'shop', service: 'web', port: e.port, origin: { kind: 'Service', namespace: 'shop', name: 'web-remote' } })).sort((a, b) => a.outboundPort - b.outboundPort);
  await until(async () => JSON.stringify((await routeTable())?.routes) === JSON.stringify(want) || undefined, 'route table with web-remote\'s ports');
  await ensureNamespace(local, 'attacker');
  const forged = JSON.stringify(map.map((e) => ({ port: 5432, protocol: 'TCP', outboundPort: e.outboundPort })).concat([{ port: 5432, protocol: 'TCP', outboundPort: 14999 }]));
  await local.client.create(svcPath('attacker'), {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'db', namespace: 'attacker', labels: { 'mirror.mesh.io/mirrored-service': 'true', 'mirror.mesh.io/cluster-name': 'remote' }, annotations: { 'mirror.mesh.io/gateway-port-map': forged, 'mirror.mesh.io/remote-svc-fq-name': 'web.shop.svc.cluster.local' } },
    spec: { ports: [{ port: 5432, protocol: 'TCP' }] },
  });
  try {
    const events = async () => (await local.client.list<EventObj>('/api/v1/events')).items.filter((e) => e.reason === 'ImpostorShadow');
    const seen = await until(async () => {
      const evs = await events();
      return evs.some((e) => e.involvedObject.kind === 'Link') && evs.some((e) => e.involvedObject.kind === 'Service') ? evs : undefined;
    }, 'ImpostorShadow events on the Link and on the Service');
    assert.match(seen[0]!.message, /Service attacker\/db carries the mirror's labels for cluster remote/);
    assert.deepEqual(seen.find((e) => e.involvedObject.kind === 'Service')?.involvedObject.namespace, 'attacker');
    assert.deepEqual((await routeTable())?.routes, want, 'the table still routes only web-remote\'s ports');
  } finally {
    await local.client.delete(svcPath('attacker', 'db')).catch(() => undefined);
  }
});

test('port, label and annotation changes propagate; unexport removes the shadow', async () => {
  const live = await remote.client.get<import('../../src/mirror/index.js').Service>(svcPath('shop', 'web'));
  live.metadata!.labels = { ...live.metadata!.labels, tier: 'front' };
  live.spec!.ports = [{ name: 'http', port: 8081, protocol: 'TCP' }];
  await remote.client.replace(svcPath('shop', 'web'), live);
  const shadow = await until(async () => {
    const s = await getService(local, 'shop', 'web-remote');
    return s?.metadata?.labels?.tier === 'front' && s.spec?.ports?.length === 1 ? s : undefined;
  }, 'label and port change');
  assert.equal(shadow.spec?.ports?.[0].port, 8081);
  const map = JSON.parse(shadow.metadata?.annotations?.['mirror.mesh.io/gateway-port-map'] ?? '[]') as unknown[];
  assert.equal(map.length, 1);
  await remote.client.patch(svcPath('shop', 'web'), { metadata: { labels: { 'mirror.mesh.io/exported': null } } });
  await until(async () => (await getService(local, 'shop', 'web-remote')) === undefined, 'shadow removed after unexport');
  await until(async () => (await slicesOf(local, 'shop', 'web-remote')).length === 0, 'slices removed');
});

test('flat mode mirrors remote endpoints across slice splits; deleting the remote Service removes the shadow', async () => {
  await exportService(remote, 'shop', 'db', { mode: 'flat', ports: [{ name: 'pg', port: 5432 }] });
  await putSlice(remote, 'shop', 'db', 'db-1', [{ ip: '10.2.0.1', zone: 'z1' }, { ip: '10.2.0.2', ready: false }], [{ name: 'pg', port: 5432 }]);
  await putSlice(remote, 'shop', 'db', 'db-2', [{ ip: '10.2.0.3' }], [{ name: 'pg', port: 5432 }]);
  const slices = await until(async () => {
    const s = await slicesOf(local, 'shop', 'db-remote');
    return s.flatMap((x) => x.endpoints ?? []).length === 3 ? s : undefined;
  }, 'flat endpoints');
  const eps = slices.flatMap((s) => s.endpoints ?? []).map((e) => [e.addresses[0], e.conditions?.ready, e.zone ?? null]).sort();
  assert.deepEqual(eps, [['10.2.0.1', true, 'z1'], ['10.2.0.2', false, null], ['10.2.0.3', true, null]]);
  const shadow = await getService(local, 'shop', 'db-remote');
  assert.equal(shadow?.metadata?.annotations?.['mirror.mesh.io/mode'], 'flat');
  assert.equal(shadow?.metadata?.annotations?.['mirror.mesh.io/gateway-port-map'], undefined);
  // A remote endpoint change propagates.
  await putSlice(remote, 'shop', 'db', 'db-2', [{ ip: '10.2.0.4' }], [{ name: 'pg', port: 5432 }]);
  await until(async () => (await slicesOf(local, 'shop', 'db-remote')).flatMap((x) => x.endpoints ?? []).some((e) => e.addresses[0] === '10.2.0.4'), 'endpoint change');
  await remote.client.delete(svcPath('shop', 'db'));
  await until(async () => (await getService(local, 'shop', 'db-remote')) === undefined, 'shadow removed after remote delete');
});

test('switching a service from gateway to flat mode replaces its endpoints cleanly', async () => {
  await exportService(remote, 'shop', 'sw', { ports: [{ name: 'http', port: 80 }] });
  await putSlice(remote, 'shop', 'sw', 'sw-1', [{ ip: '10.3.0.1' }], [{ name: 'http', port: 8080 }]);
  await until(async () => (await slicesOf(local, 'shop', 'sw-remote')).some((s) => s.endpoints?.some((e) => e.addresses[0] === '127.0.10.1')), 'gateway endpoints');
  await remote.client.patch(svcPath('shop', 'sw'), { metadata: { labels: { 'mirror.mesh.io/exported': 'flat' } } });
  const slices = await until(async () => {
    const s = await slicesOf(local, 'shop', 'sw-remote');
    const ips = s.flatMap((x) => x.endpoints ?? []).map((e) => e.addresses[0]);
    return ips.length === 1 && ips[0] === '10.3.0.1' ? s : undefined;
  }, 'flat endpoints only');
  assert.equal(slices.length, 1);
  assert.equal(slices[0].ports?.[0].port, 8080);
  const shadow = await getService(local, 'shop', 'sw-remote');
  assert.equal(shadow?.metadata?.annotations?.['mirror.mesh.io/mode'], 'flat');
});

test('a foreign Service with a shadow\'s name is left untouched; conflict reported as Event and status', async () => {
  await ensureNamespace(local, 'shop');
  await local.client.create(svcPath('shop'), { apiVersion: 'v1', kind: 'Service', metadata: { name: 'taken-remote', namespace: 'shop', labels: { owner: 'someone-else' } }, spec: { ports: [{ port: 1234, protocol: 'TCP' }] } });
  const before = await getService(local, 'shop', 'taken-remote');
  await exportService(remote, 'shop', 'taken', { ports: [{ name: 'http', port: 80 }] });
  const link = await until(async () => {
    const l = await getLink(local, 'remote');
    return l?.status?.mirroredServices?.services.some((s) => s.name === 'taken' && s.problem) ? l : undefined;
  }, 'conflict in status');
  assert.match(link.status?.mirroredServices?.services.find((s) => s.name === 'taken')?.problem ?? '', /not managed by the mirror/);
  const events = await local.client.list<import('../../src/kube/index.js').KubeObject & { reason: string; type: string; involvedObject: { kind: string; name: string } }>('/api/v1/namespaces/mesh-system/events');
  const ev = events.items.find((e) => e.reason === 'ShadowConflict');
  assert.ok(ev, 'ShadowConflict event');
  assert.deepEqual([ev.type, ev.involvedObject.kind, ev.involvedObject.name], ['Warning', 'Link', 'remote']);
  const after = await getService(local, 'shop', 'taken-remote');
  assert.equal(after?.metadata?.resourceVersion, before?.metadata?.resourceVersion, 'foreign Service not written');
  assert.deepEqual(after?.spec?.ports?.map((p) => p.port), [1234]);
  const conflict = condition(await until(async () => {
    const l = await getLink(local, 'remote');
    return condition(l, 'Conflict')?.status === 'True' ? l : undefined;
  }, 'Conflict condition'), 'Conflict');
  assert.equal(conflict?.reason, 'ShadowConflict');
  assert.match(conflict?.message ?? '', /Service shop\/taken-remote/, 'the condition names the object');
});

test("another Link's shadow holding the name is a conflict too; once that Link is gone the name is free and the shadow follows", async () => {
  // A second Link (its credentials never arrive) owns cluster `elsewhere`, whose shadow takes the name first.
  await createLink(local, 'elsewhere', { targetClusterName: 'elsewhere', clusterCredentialsSecret: 'cluster-credentials-elsewhere' });
  await until(async () => condition(await getLink(local, 'elsewhere'), 'CredentialsValid')?.reason === 'SecretNotFound', 'the other Link reconciled');
  const theirs = { 'mirror.mesh.io/mirrored-service': 'true', 'mirror.mesh.io/cluster-name': 'elsewhere' };
  await local.client.create(svcPath('shop'), { apiVersion: 'v1', kind: 'Service', metadata: { name: 'held-remote', namespace: 'shop', labels: theirs }, spec: { ports: [{ port: 1, protocol: 'TCP' }] } });
  const before = await getService(local, 'shop', 'held-remote');
  await exportService(remote, 'shop', 'held', { mode: 'flat' });
  const l = await until(async () => {
    const x = await getLink(local, 'remote');
    return /Service shop\/held-remote/.test(condition(x, 'Conflict')?.message ?? '') ? x : undefined;
  }, 'Conflict condition names the labelled Service');
  assert.match(condition(l, 'Conflict')?.message ?? '', /Service shop\/taken-remote/, 'both conflicts are named');
  assert.equal((await getService(local, 'shop', 'held-remote'))?.metadata?.resourceVersion, before?.metadata?.resourceVersion, 'not written');
  // Its Link goes, and with it its shadows: the name is free, and ours follows without waiting for a resync.
  await local.client.delete(linkPath('elsewhere'));
  const shadow = await until(async () => {
    const s = await getService(local, 'shop', 'held-remote');
    return s?.metadata?.labels?.['mirror.mesh.io/cluster-name'] === 'remote' ? s : undefined;
  }, 'shadow in the freed name');
  assert.equal(shadow.metadata?.annotations?.['mirror.mesh.io/mode'], 'flat');
  await until(async () => !/held-remote/.test(condition(await getLink(local, 'remote'), 'Conflict')?.message ?? ''), 'conflict cleared from the condition');
});

test('missing namespace: skipped with a status reason; created when createNamespaces is set', async () => {
  await exportService(remote, 'nowhere', 'svc', { ports: [{ name: 'http', port: 80 }] });
  await until(async () => {
    const l = await getLink(local, 'remote');
    return l?.status?.mirroredServices?.services.some((s) => s.namespace === 'nowhere' && /does not exist/.test(s.problem ?? ''));
  }, 'namespace problem in status');
  assert.equal(await getService(local, 'nowhere', 'svc-remote'), undefined);
  await local.client.patch(linkPath('remote'), { spec: { createNamespaces: true } });
  await until(() => getService(local, 'nowhere', 'svc-remote'), 'shadow in created namespace', 30_000);
});

test('headless services: per-pod names in gateway mode (own Service and port per pod) and flat mode (hostnames)', async () => {
  await exportService(remote, 'data', 'kafka', { headless: true, ports: [{ name: 'broker', port: 9092 }] });
  await putSlice(remote, 'data', 'kafka', 'kafka-1', [{ ip: '10.4.0.1', hostname: 'kafka-0' }, { ip: '10.4.0.2', hostname: 'kafka-1' }], [{ name: 'broker', port: 9092 }]);
  await ensureNamespace(local, 'data');
  const shadow = await until(async () => {
    const s = await getService(local, 'data', 'kafka-remote');
    const m = JSON.parse(s?.metadata?.annotations?.['mirror.mesh.io/gateway-port-map'] ?? '[]') as unknown[];
    return m.length === 2 ? s : undefined;
  }, 'headless gateway shadow');
  assert.equal(shadow.spec?.clusterIP, 'None');
  const map = JSON.parse(shadow.metadata?.annotations?.['mirror.mesh.io/gateway-port-map'] ?? '[]') as Array<{ hostname: string; outboundPort: number }>;
  assert.deepEqual(map.map((m) => m.hostname).sort(), ['kafka-0', 'kafka-1']);
  const pod0 = await until(() => getService(local, 'data', 'kafka-0-kafka-remote'), 'per-pod service');
  assert.ok(pod0.spec?.clusterIP && pod0.spec.clusterIP !== 'None');
  const parentSlices = await until(async () => {
    const s = await slicesOf(local, 'data', 'kafka-remote');
    return s.flatMap((x) => x.endpoints ?? []).length === 2 ? s : undefined;
  }, 'headless parent endpoints');
  const e0 = parentSlices.flatMap((x) => x.endpoints ?? []).find((e) => e.hostname === 'kafka-0');
  assert.equal(e0?.addresses[0], pod0.spec?.clusterIP, 'kafka-0.kafka-remote resolves to its own per-pod Service');
  const podSlices = await slicesOf(local, 'data', 'kafka-0-kafka-remote');
  assert.equal(podSlices[0].ports?.[0].port, map.find((m) => m.hostname === 'kafka-0')?.outboundPort);
  // Flat mode: hostnames go straight onto the remote pod addresses.
  await remote.client.patch(svcPath('data', 'kafka'), { metadata: { labels: { 'mirror.mesh.io/exported': 'flat' } } });
  await until(async () => {
    const s = await slicesOf(local, 'data', 'kafka-remote');
    const e = s.flatMap((x) => x.endpoints ?? []);
    return e.length === 2 && e.some((x) => x.hostname === 'kafka-0' && x.addresses[0] === '10.4.0.1');
  }, 'flat headless hostnames');
  await until(async () => (await getService(local, 'data', 'kafka-0-kafka-remote')) === undefined, 'per-pod services removed in flat mode');
});

test('63-character names: the shadow name is cut and ends in a hash', async () => {
  const long = 'x'.repeat(58);
  await exportService(remote, 'shop', long, { ports: [{ name: 'http', port: 80 }] });
  const shadows = await until(async () => {
    const r = await local.client.list<import('../../src/mirror/index.js').Service>(svcPath('shop'), { labelSelector: 'mirror.mesh.io/cluster-name=remote' });
    const s = r.items.filter((x) => x.metadata?.annotations?.['mirror.mesh.io/remote-svc-fq-name']?.startsWith(`${long}.`));
    return s.length ? s : undefined;
  }, 'long-named shadow');
  assert.equal(shadows[0].metadata?.name?.length, 63);
  assert.match(shadows[0].metadata?.name ?? '', /^x+-[0-9a-f]{8}$/);
});

test('admin port: healthz, readyz and metrics', async () => {
  const base = `http://127.0.0.1:${ctl.adminPort}`;
  assert.equal((await fetch(`${base}/healthz`)).status, 200);
  assert.equal((await fetch(`${base}/readyz`)).status, 200);
  const m = await ctl.metrics();
  assert.match(m, /mesh_mirror_shadows\{link="remote"\} \d+/);
  assert.match(m, /mesh_controller_reconcile_total\{controller="mirror",result="success"\} \d+/);
  assert.match(m, /mesh_controller_queue_depth/);
  assert.match(m, /mesh_controller_reconcile_duration_seconds_bucket/);
  assert.equal((await fetch(`${base}/nope`)).status, 404);
});

test('a Link whose credentials Secret holds a broken kubeconfig reports it; the other Link is unaffected', async () => {
  await putSecret(local, 'cluster-credentials-broken', 'this is: [not a kubeconfig');
  await createLink(local, 'broken', { targetClusterName: 'broken', clusterCredentialsSecret: 'cluster-credentials-broken' });
  const l = await until(async () => {
    const x = await getLink(local, 'broken');
    return condition(x, 'CredentialsValid')?.reason === 'InvalidKubeconfig' ? x : undefined;
  }, 'InvalidKubeconfig');
  assert.equal(condition(l, 'CredentialsValid')?.status, 'False');
  assert.equal(condition(l, 'Ready')?.status, 'False');
  const events = await local.client.list<import('../../src/kube/index.js').KubeObject & { reason: string; involvedObject: { name: string } }>('/api/v1/namespaces/mesh-system/events');
  assert.ok(events.items.some((e) => e.reason === 'InvalidCredentials' && e.involvedObject.name === 'broken'));
  assert.equal(condition(await getLink(local, 'remote'), 'CredentialsValid')?.status, 'True');
  await exportService(remote, 'shop', 'still-works');
  await until(() => getService(local, 'shop', 'still-works-remote'), 'other link still mirrors');
});

test('type changes: a NodePort export is mirrored as ClusterIP; re-created headless remotely, the shadow becomes headless', async () => {
  await remote.client.create(svcPath('shop'), {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name: 'typ', namespace: 'shop', labels: { 'mirror.mesh.io/exported': 'flat' } },
    spec: { type: 'NodePort', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
  });
  const first = await until(() => getService(local, 'shop', 'typ-remote'), 'shadow of a NodePort service');
  assert.equal(first.spec?.type, 'ClusterIP');
  assert.notEqual(first.spec?.clusterIP, 'None');
  await remote.client.delete(svcPath('shop', 'typ'));
  await exportService(remote, 'shop', 'typ', { mode: 'flat', headless: true });
  const second = await until(async () => {
    const s = await getService(local, 'shop', 'typ-remote');
    return s?.spec?.clusterIP === 'None' ? s : undefined;
  }, 'headless shadow');
  assert.notEqual(second.metadata?.uid, first.metadata?.uid, 'replaced, since clusterIP is immutable');
});

test('retargeting a Link removes the shadows of the old cluster name and mirrors under the new one', async () => {
  await createLink(local, 'moving', { targetClusterName: 'old-name', clusterCredentialsSecret: 'cluster-credentials-remote', flatSelector: { matchLabels: { moving: 'yes' } }, selector: { matchLabels: { never: 'x' } } });
  await exportService(remote, 'shop', 'mv', { mode: 'whatever', labels: { moving: 'yes' } });
  await until(() => getService(local, 'shop', 'mv-old-name'), 'shadow under the old name');
  await local.client.patch(linkPath('moving'), { spec: { targetClusterName: 'new-name' } });
  await until(() => getService(local, 'shop', 'mv-new-name'), 'shadow under the new name');
  await until(async () => (await getService(local, 'shop', 'mv-old-name')) === undefined, 'old shadow removed');
  await local.client.delete(linkPath('moving'));
  await until(async () => (await getService(local, 'shop', 'mv-new-name')) === undefined, 'removed with the Link');
});
