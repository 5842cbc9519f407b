// The DNS reads what the mirror writes: the import objects of the MCS core's pure reconciler core
// (desiredImport) go straight into the clusterset zone. Headless StatefulSet pods exported from two
// clusters (one local, one flat) get per-cluster names; a ClusterSetIP import answers its derived VIP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClustersetRecordSource, clustersetImportsFromObjects } from '../../src/dns/index.js';
import { desiredImport } from '../../src/mirror/import-objects.js';
import type { Exporter, ImportWorld } from '../../src/mirror/mcs-types.js';

const NS = 'shop';

function exporter(cluster: string, mode: Exporter['mode'], headless: boolean, pods: Array<{ ip: string; hostname?: string; ready?: boolean }>, created: string): Exporter {
  return {
    cluster,
    mode,
    reachable: true,
    apiReachable: true,
    export: { apiVersion: 'multicluster.x-k8s.io/v1beta1', kind: 'ServiceExport', metadata: { name: 'db', namespace: NS, creationTimestamp: created } },
    service: {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'db', namespace: NS },
      spec: { type: 'ClusterIP', ...(headless ? { clusterIP: 'None' } : { clusterIP: '10.96.0.9' }), ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }] },
    },
    slices: [
      {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: `db-${cluster}`, namespace: NS, labels: { 'kubernetes.io/service-name': 'db' } },
        addressType: 'IPv4',
        endpoints: pods.map((p) => ({ addresses: [p.ip], ...(p.hostname ? { hostname: p.hostname } : {}), conditions: { ready: p.ready ?? true } })),
        ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }],
      },
    ],
  };
}

function world(exporters: Exporter[], derivedIPs: string[] = []): ImportWorld {
  return { namespace: NS, name: 'db', localCluster: 'cluster-a', exporters, gateway: [], ports: { min: 14000, max: 15999, cursor: 14000, get: () => undefined, isTaken: () => false }, derivedIPs, now: 0 };
}

function zoneFrom(w: ImportWorld): ClustersetRecordSource {
  const d = desiredImport(w);
  assert.ok(d, 'the mirror wants an import');
  const { entries, errors } = clustersetImportsFromObjects([d.serviceImport], d.slices);
  assert.deepEqual(errors, [], 'the mirror\'s ServiceImport passes the DNS boundary');
  const z = new ClustersetRecordSource();
  assert.deepEqual(z.replaceImports(entries), []);
  return z;
}

test('headless StatefulSet exported from a (local) and b (flat): every ready pod, <hostname>.<cluster-id> names, SRV per pod', () => {
  const z = zoneFrom(world([
    exporter('cluster-a', 'local', true, [{ ip: '10.1.0.5', hostname: 'db-0' }, { ip: '10.1.0.6', hostname: 'db-1', ready: false }], '2026-01-01T00:00:00Z'),
    exporter('cluster-b', 'flat', true, [{ ip: '10.2.0.5', hostname: 'db-0' }], '2026-01-02T00:00:00Z'),
  ]));
  assert.deepEqual(z.lookup('db.shop.svc.clusterset.local').records.a.sort(), ['10.1.0.5', '10.2.0.5']);
  assert.deepEqual(z.lookup('db-0.cluster-a.db.shop.svc.clusterset.local').records.a, ['10.1.0.5']);
  assert.deepEqual(z.lookup('db-0.cluster-b.db.shop.svc.clusterset.local').records.a, ['10.2.0.5']);
  assert.equal(z.lookup('db-1.cluster-a.db.shop.svc.clusterset.local').exists, false, 'not ready: no name');
  assert.deepEqual(z.lookup('_pg._tcp.db.shop.svc.clusterset.local').records.srv.map((s) => `${s.port} ${s.target}`).sort(), [
    '5432 db-0.cluster-a.db.shop.svc.clusterset.local',
    '5432 db-0.cluster-b.db.shop.svc.clusterset.local',
  ]);
});

test('ClusterSetIP: the derived Service\'s VIP, once allocated; before that the name exists with no address', () => {
  const exporters = [exporter('cluster-a', 'local', false, [{ ip: '10.1.0.5' }], '2026-01-01T00:00:00Z')];
  assert.deepEqual(zoneFrom(world(exporters)).lookup('db.shop.svc.clusterset.local'), { exists: true, records: { a: [], aaaa: [], srv: [{ priority: 0, weight: 100, port: 5432, target: 'db.shop.svc.clusterset.local' }], ptr: [] } });
  const z = zoneFrom(world(exporters, ['10.96.44.1']));
  assert.deepEqual(z.lookup('db.shop.svc.clusterset.local').records.a, ['10.96.44.1']);
  assert.equal(z.lookup('cluster-a.db.shop.svc.clusterset.local').exists, false);
});
