// The pure core of a Headless import's gateway-mode part (import-pods.ts), from tables: per remote pod
// hostname a per-pod Service at its own outbound port(s), the import's slice listing the per-pod ClusterIPs
// with the hostnames and the remote readiness; endpoints without hostname left out and counted; flat and
// local exporters keep the pod addresses; the port map's per-pod entries route (routes.ts) and are recovered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { derivedServiceName, importPodOf, importPodServiceName } from '../../src/api/index.js';
import { recordedPorts } from '../../src/mirror/desired.js';
import { desiredImport } from '../../src/mirror/import-objects.js';
import { ownedImportPod, samePodService } from '../../src/mirror/import-pods.js';
import type { Exporter, ImportWorld } from '../../src/mirror/mcs-types.js';
import { shadowName, podServiceName } from '../../src/mirror/names.js';
import { PortAllocator } from '../../src/mirror/ports.js';
import { computeRoutes } from '../../src/mirror/routes.js';
import type { EndpointSlice } from '../../src/mirror/index.js';

const pg = { clusterIP: 'None', ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }, { name: 'stats', port: 9187, protocol: 'TCP' }, { name: 'disc', port: 7946, protocol: 'UDP' }] };

function pods(name: string, eps: Array<{ ip: string; hostname?: string; ready?: boolean }>): EndpointSlice {
  return {
    metadata: { name },
    addressType: 'IPv4',
    endpoints: eps.map((e) => ({ addresses: [e.ip], ...(e.hostname ? { hostname: e.hostname } : {}), conditions: { ready: e.ready ?? true } })),
    ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }, { name: 'stats', port: 9187, protocol: 'TCP' }, { name: 'disc', port: 7946, protocol: 'UDP' }],
  };
}

function exporter(cluster: string, mode: Exporter['mode'], slices: EndpointSlice[], o: Partial<Exporter> = {}): Exporter {
  return { cluster, mode, export: { metadata: { name: 'db', namespace: 'shop', creationTimestamp: `2026-01-0${cluster.length % 9}T00:00:00Z` } }, service: { metadata: { name: 'db', namespace: 'shop' }, spec: pg }, slices, reachable: true, apiReachable: true, ...o };
}

function world(exporters: Exporter[], o: Partial<ImportWorld> = {}): ImportWorld {
  return { namespace: 'shop', name: 'db', localCluster: 'cluster-a', exporters, gateway: [{ ip: '10.1.9.9', ready: true }], ports: new PortAllocator(14000, 14099), derivedIPs: [], now: 0, ...o };
}

const derived = derivedServiceName('db');
const byCluster = (slices: EndpointSlice[]) => Object.fromEntries(slices.map((s) => [s.metadata?.labels?.['multicluster.kubernetes.io/source-cluster'] ?? '', s]));

test('per-pod Service names: mcs<hash>-<hash of cluster/hostname>-<hostname>, at most 63 characters, never a shadow or derived name', () => {
  const n = importPodServiceName('db', 'cluster-b', 'db-0');
  assert.match(n, /^mcs[0-9a-f]{12}-[0-9a-f]{8}-db-0$/);
  assert.ok(n.startsWith(`${derived}-`));
  assert.notEqual(importPodServiceName('db', 'cluster-c', 'db-0'), n, 'another cluster, another name');
  assert.notEqual(importPodServiceName('db', 'cluster', 'b-db-0'), importPodServiceName('db', 'cluster-b', 'db-0'), 'the hash keeps cluster and hostname apart');
  const long = importPodServiceName('db', 'cluster-b', 'a'.repeat(63));
  assert.equal(long.length, 63);
  assert.notEqual(long, importPodServiceName('db', 'cluster-b', `${'a'.repeat(62)}b`), 'cut names stay distinct');
  assert.doesNotMatch(importPodServiceName('db', 'x', `${'a'.repeat(37)}-b`), /-$/, 'a cut name does not end in a dash');
  // The shadow machinery's names for the same pod never start with the derived hash.
  assert.ok(!podServiceName('db-0', shadowName('db', 'cluster-b')).startsWith('mcs'));
});

test('Headless, gateway mode: one per-pod Service per hostname at its own outbound ports; the import slice lists their ClusterIPs with hostnames and readiness', () => {
  const eps = [
    { ip: '10.2.0.1', hostname: 'db-0' },
    { ip: '10.2.0.2', hostname: 'db-1', ready: false },
    { ip: '10.2.0.3' },
  ];
  const n0 = importPodServiceName('db', 'cluster-b', 'db-0');
  const n1 = importPodServiceName('db', 'cluster-b', 'db-1');
  const live = new Map([[n0, { clusterIP: '10.96.0.10', of: importPodOf('shop', 'db', 'cluster-b', 'db-0') }], [n1, { clusterIP: '10.96.0.11', of: importPodOf('shop', 'db', 'cluster-b', 'db-1') }]]);
  const d = desiredImport(world([exporter('cluster-b', 'gateway', [pods('db-x', eps)])], { podServices: live }));
  assert.ok(d);
  assert.equal(d.derived.spec?.clusterIP, 'None');
  assert.deepEqual(d.podServices.map((p) => [p.hostname, p.cluster, p.service.metadata?.name]), [['db-0', 'cluster-b', n0], ['db-1', 'cluster-b', n1]]);
  const p0 = d.podServices[0].service;
  assert.equal(p0.spec?.type, 'ClusterIP');
  assert.equal(p0.spec?.clusterIP, undefined, 'the server allocates it');
  assert.deepEqual(p0.spec?.ports, [{ name: 'pg', port: 5432, protocol: 'TCP' }, { name: 'stats', port: 9187, protocol: 'TCP' }], 'the TCP ports only');
  assert.deepEqual(p0.metadata?.labels, { 'mirror.mesh.io/mirrored-service': 'true', 'multicluster.kubernetes.io/service-name': 'db', 'multicluster.kubernetes.io/source-cluster': 'cluster-b', 'multicluster.mesh.io/import-pod-of': 'db' });
  assert.equal(p0.metadata?.annotations?.['mirror.mesh.io/remote-svc-fq-name'], 'db-0.cluster-b.db.shop.svc.clusterset.local');
  assert.equal(p0.metadata?.annotations?.['mirror.mesh.io/shadow-of'], 'import-pod/shop/db/cluster-b/db-0');
  // Own outbound ports: db-0 14000/14001, db-1 14002/14003.
  assert.deepEqual(d.claims.map((c) => [c.key, c.port]), [
    [`shop/${derived}|5432/TCP|@cluster-b/db-0`, 14000],
    [`shop/${derived}|9187/TCP|@cluster-b/db-0`, 14001],
    [`shop/${derived}|5432/TCP|@cluster-b/db-1`, 14002],
    [`shop/${derived}|9187/TCP|@cluster-b/db-1`, 14003],
  ]);
  assert.equal(d.podServices[0].slices.length, 1, 'an IPv4-only gateway: one slice per per-pod Service');
  const s0 = d.podServices[0].slices[0];
  assert.equal(s0.metadata?.labels?.['kubernetes.io/service-name'], n0);
  assert.equal(s0.metadata?.labels?.['multicluster.kubernetes.io/service-name'], undefined, 'not an import slice: DNS must not list the gateway');
  assert.deepEqual(s0.endpoints?.map((e) => [e.addresses[0], e.conditions?.ready]), [['10.1.9.9', true]]);
  assert.deepEqual(s0.ports?.map((p) => [p.name, p.port]), [['pg', 14000], ['stats', 14001]]);
  assert.deepEqual(d.podServices[1].slices[0].endpoints?.map((e) => e.conditions?.ready), [false], 'db-1 is not ready remotely');
  // The import's slice for cluster-b: the per-pod ClusterIPs at the service ports, with hostnames.
  const imp = byCluster(d.slices)['cluster-b'];
  assert.equal(imp.metadata?.labels?.['kubernetes.io/service-name'], derived);
  assert.deepEqual(imp.endpoints?.map((e) => [e.addresses[0], e.hostname, e.conditions?.ready, e.conditions?.serving]), [['10.96.0.10', 'db-0', true, true], ['10.96.0.11', 'db-1', false, false]]);
  assert.deepEqual(imp.ports?.map((p) => [p.name, p.port]), [['pg', 5432], ['stats', 9187]]);
  assert.deepEqual(d.unnamed, ['1 endpoint of cluster-b has no hostname and cannot be named through the gateway']);
  assert.deepEqual(imp.metadata?.annotations, { 'multicluster.mesh.io/endpoints-without-hostname': '1' }, 'the count is on the slice: a change is a write');
  assert.deepEqual(d.notCarried, ['7946/UDP of cluster-b']);
  const map = JSON.parse(d.derived.metadata?.annotations?.['mirror.mesh.io/gateway-port-map'] ?? '[]') as unknown[];
  assert.deepEqual(map[0], { port: 5432, name: 'pg', protocol: 'TCP', outboundPort: 14000, cluster: 'cluster-b', hostname: 'db-0' });
  // Recovery reads the same keys back from the port map.
  assert.deepEqual(recordedPorts({ ...d.derived, metadata: { ...d.derived.metadata, namespace: 'shop' } }).map((p) => [p.key, p.port]), d.claims.map((c) => [c.key, c.port]));
});

test('a per-pod Service not created yet (or held for another pod) is left out of the import slice; the gateway down or the cluster not reachable makes none ready', () => {
  const eps = [{ ip: '10.2.0.1', hostname: 'db-0' }, { ip: '10.2.0.2', hostname: 'db-1' }];
  const n0 = importPodServiceName('db', 'cluster-b', 'db-0');
  const n1 = importPodServiceName('db', 'cluster-b', 'db-1');
  const live = new Map([[n0, { clusterIP: '10.96.0.10', of: importPodOf('shop', 'db', 'cluster-b', 'db-0') }], [n1, { clusterIP: '10.96.0.11', of: 'import-pod/shop/db/cluster-b/somebody-else' }]]);
  const d = desiredImport(world([exporter('cluster-b', 'gateway', [pods('db-x', eps)])], { podServices: live }));
  assert.deepEqual(byCluster(d?.slices ?? [])['cluster-b'].endpoints?.map((e) => e.hostname), ['db-0']);
  const down = desiredImport(world([exporter('cluster-b', 'gateway', [pods('db-x', eps)], { reachable: false })], { podServices: live }));
  assert.deepEqual(byCluster(down?.slices ?? [])['cluster-b'].endpoints?.map((e) => e.conditions?.ready), [false]);
  assert.deepEqual(down?.podServices.map((p) => p.slices[0].endpoints?.[0].conditions?.ready), [false, false]);
  const noGw = desiredImport(world([exporter('cluster-b', 'gateway', [pods('db-x', eps)])], { podServices: live, gateway: [{ ip: '10.1.9.9', ready: false }] }));
  assert.deepEqual(byCluster(noGw?.slices ?? [])['cluster-b'].endpoints?.map((e) => e.conditions?.ready), [false]);
});

test('dual-stack gateway pods: each per-pod Service gets a slice per family at its own outbound port(s); the import slice keeps the per-pod ClusterIPs', () => {
  const n0 = importPodServiceName('db', 'cluster-b', 'db-0');
  const live = new Map([[n0, { clusterIP: '10.96.0.10', of: importPodOf('shop', 'db', 'cluster-b', 'db-0') }]]);
  const gateway = [{ ip: 'fd00:10:1::9:9', ready: true }, { ip: '10.1.9.9', ready: true }];
  const d = desiredImport(world([exporter('cluster-b', 'gateway', [pods('db-x', [{ ip: '10.2.0.1', hostname: 'db-0' }])])], { podServices: live, gateway }));
  assert.ok(d);
  assert.deepEqual(d.podServices[0].slices.map((s) => [s.metadata?.name, s.addressType, s.endpoints?.map((e) => e.addresses[0]), s.ports?.map((p) => p.port)]), [
    [`${n0}-gateway`, 'IPv4', ['10.1.9.9'], [14000, 14001]],
    [`${n0}-gateway-ipv6`, 'IPv6', ['fd00:10:1::9:9'], [14000, 14001]],
  ]);
  assert.deepEqual(byCluster(d.slices)['cluster-b'].endpoints?.map((e) => [e.addresses[0], e.hostname]), [['10.96.0.10', 'db-0']]);
});

test('two gateway clusters and a flat one: per-pod Services per cluster with distinct ports; flat and local exporters keep pod addresses; ClusterSetIP has none', () => {
  const exporters = [
    exporter('cluster-a', 'local', [pods('db-a', [{ ip: '10.1.0.1', hostname: 'db-0' }])]),
    exporter('cluster-b', 'gateway', [pods('db-b', [{ ip: '10.2.0.1', hostname: 'db-0' }])]),
    exporter('cluster-c', 'gateway', [pods('db-c', [{ ip: '10.3.0.1', hostname: 'db-0' }])]),
    exporter('cluster-dd', 'flat', [pods('db-d', [{ ip: '10.4.0.1', hostname: 'db-0' }])]),
  ];
  const d = desiredImport(world(exporters));
  assert.ok(d);
  assert.deepEqual(d.podServices.map((p) => p.cluster), ['cluster-b', 'cluster-c']);
  assert.notEqual(d.podServices[0].service.metadata?.name, d.podServices[1].service.metadata?.name);
  assert.equal(new Set(d.claims.map((c) => c.port)).size, 4, 'no port is claimed twice');
  const s = byCluster(d.slices);
  assert.deepEqual(s['cluster-a'].endpoints?.map((e) => [e.addresses[0], e.hostname]), [['10.1.0.1', 'db-0']]);
  assert.deepEqual(s['cluster-dd'].endpoints?.map((e) => [e.addresses[0], e.hostname]), [['10.4.0.1', 'db-0']]);
  assert.deepEqual(s['cluster-b'].endpoints, [], 'no ClusterIP yet');
  const clusterSetIP = desiredImport(world(exporters.map((e) => ({ ...e, service: { metadata: { name: 'db', namespace: 'shop' }, spec: { ports: pg.ports } } }))));
  assert.deepEqual(clusterSetIP?.podServices, []);
  assert.deepEqual(byCluster(clusterSetIP?.slices ?? [])['cluster-b'].endpoints?.map((e) => e.addresses[0]), ['10.1.9.9'], 'ClusterSetIP: the gateway at outbound ports, as before');
});

test('a gateway exporter whose ports are all UDP gets no per-pod Service (the gateway carries TCP only)', () => {
  const udp = { clusterIP: 'None', ports: [{ name: 'disc', port: 7946, protocol: 'UDP' }] };
  const d = desiredImport(world([exporter('cluster-b', 'gateway', [pods('db-x', [{ ip: '10.2.0.1', hostname: 'db-0' }])], { service: { metadata: { name: 'db', namespace: 'shop' }, spec: udp } })]));
  assert.deepEqual(d?.podServices, []);
  assert.deepEqual(d?.claims, []);
  assert.deepEqual(d?.notCarried, ['7946/UDP of cluster-b']);
});

test('routes: a per-pod port-map entry is published with its hostname, to its cluster, only when the allocator gave it that port', () => {
  const ports = new PortAllocator(14000, 14099);
  const d = desiredImport(world([exporter('cluster-b', 'gateway', [pods('db-x', [{ ip: '10.2.0.1', hostname: 'db-0' }])])], { ports }));
  assert.ok(d);
  const svc = { ...d.derived, metadata: { ...d.derived.metadata, namespace: 'shop' } };
  const facts = { clusters: [{ cluster: 'cluster-b', exported: new Map() }], shadows: [], derived: [svc], published: [] };
  assert.deepEqual(computeRoutes({ ...facts, ports }).routes, [], 'not committed yet: no route');
  ports.reserve(`shop/${derived}`, d.claims).commit();
  assert.deepEqual(computeRoutes({ ...facts, ports }).routes, [
    { outboundPort: 14000, remoteCluster: 'cluster-b', namespace: 'shop', service: 'db', port: 5432, hostname: 'db-0', origin: { kind: 'ServiceImport', namespace: 'shop', name: 'db' } },
    { outboundPort: 14001, remoteCluster: 'cluster-b', namespace: 'shop', service: 'db', port: 9187, hostname: 'db-0', origin: { kind: 'ServiceImport', namespace: 'shop', name: 'db' } },
  ]);
  assert.deepEqual(computeRoutes({ ...facts, clusters: [], ports }).routes, [], 'cluster not linked: no route');
});

test('ownership: only the mirror\'s per-pod objects of this import, for exactly this pod', () => {
  const d = desiredImport(world([exporter('cluster-b', 'gateway', [pods('db-x', [{ ip: '10.2.0.1', hostname: 'db-0' }])])]));
  const svc = d?.podServices[0].service;
  assert.ok(svc);
  assert.equal(ownedImportPod(svc, 'db'), true);
  assert.equal(ownedImportPod(svc, 'other'), false);
  assert.equal(samePodService(svc, svc, 'db'), true);
  const user = { metadata: { name: svc.metadata?.name, labels: { app: 'x' } } };
  assert.equal(ownedImportPod(user, 'db'), false, "a user's Service");
  const shadowLike = { metadata: { labels: { ...svc.metadata?.labels, 'mirror.mesh.io/cluster-name': 'cluster-b' } } };
  assert.equal(ownedImportPod(shadowLike, 'db'), false, 'a shadow-labelled Service');
  const otherPod = { metadata: { ...svc.metadata, annotations: { ...svc.metadata?.annotations, 'mirror.mesh.io/shadow-of': 'import-pod/shop/db/cluster-c/db-0' } } };
  assert.equal(samePodService(otherPod, svc, 'db'), false, 'another pod');
});
