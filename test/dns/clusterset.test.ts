// The clusterset zone's names (KEP-1645 DNS spec), decided without I/O: ServiceImports and MCS slices in
// the upstream shapes → records, and the answers a resolver gets for them next to cluster.local.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as packet from 'dns-packet';
import type { RecordType, SrvAnswer, StringAnswer, TxtAnswer } from 'dns-packet';
import { ClustersetRecordSource, DnsRecordSource, clustersetImportsFromObjects, handleQuery, importVersion, type Outcome } from '../../src/dns/index.js';

const SVC = 'multicluster.kubernetes.io/service-name';
const SRC = 'multicluster.kubernetes.io/source-cluster';

const imports = [
  { metadata: { namespace: 'demo', name: 'web' }, spec: { type: 'ClusterSetIP', ips: ['10.96.7.7', 'fd00::7'], ports: [{ name: 'http', protocol: 'TCP', port: 8080 }, { name: 'dns', protocol: 'UDP', port: 8080 }, { protocol: 'TCP', port: 9090 }] } },
  { metadata: { namespace: 'demo', name: 'db' }, spec: { type: 'Headless', ports: [{ name: 'pg', protocol: 'TCP', port: 5432 }] } },
  { metadata: { namespace: 'demo', name: 'empty' }, spec: { type: 'Headless', ports: [{ name: 'pg', port: 5432 }] } },
  { metadata: { namespace: 'demo', name: 'novip' }, spec: { type: 'ClusterSetIP', ports: [{ name: 'http', port: 80 }] } },
];
const slices = [
  { metadata: { namespace: 'demo', name: 'db-a', labels: { [SVC]: 'db', [SRC]: 'cluster-a' } }, addressType: 'IPv4', endpoints: [{ addresses: ['10.1.0.5'], hostname: 'db-0' }, { addresses: ['10.1.0.6'], hostname: 'db-1', conditions: { ready: false } }] },
  { metadata: { namespace: 'demo', name: 'db-b', labels: { [SVC]: 'db', [SRC]: 'cluster-b' } }, addressType: 'IPv4', endpoints: [{ addresses: ['10.2.0.5'], hostname: 'db-0' }, { addresses: ['10.2.0.9'], conditions: { ready: true } }] },
  // Not ready anywhere: the headless name must not exist.
  { metadata: { namespace: 'demo', name: 'empty-a', labels: { [SVC]: 'empty', [SRC]: 'cluster-a' } }, addressType: 'IPv4', endpoints: [{ addresses: ['10.1.0.8'], conditions: { ready: false } }] },
  // Another namespace's slice with the same service name is not ours.
  { metadata: { namespace: 'other', name: 'db-x', labels: { [SVC]: 'db', [SRC]: 'cluster-x' } }, addressType: 'IPv4', endpoints: [{ addresses: ['10.9.9.9'] }] },
];

const zone = new ClustersetRecordSource();
const fromObjects = clustersetImportsFromObjects(imports, slices);
assert.deepEqual(fromObjects.errors, []);
assert.deepEqual(zone.replaceImports(fromObjects.entries), []);
const local = new DnsRecordSource('cluster.local');
local.setService('demo', 'web', { clusterIPs: ['10.96.0.20'] });
const opts = { source: [local, zone] };

function ask(name: string, type: RecordType, transport: 'udp' | 'tcp' = 'udp') {
  const out: Outcome = handleQuery(packet.encode({ type: 'query', id: 7, flags: packet.RECURSION_DESIRED, questions: [{ name, type, class: 'IN' }] }), transport, opts);
  assert.equal(out.kind, 'reply');
  if (out.kind !== 'reply') throw new Error('unreachable');
  const p = packet.decode(out.bytes);
  return { rcode: out.rcode, p, data: (p.answers ?? []).map((a) => (a as StringAnswer).data), authoritative: p.flag_aa };
}

test('ClusterSetIP: A and AAAA are the clusterset IPs; cluster.local still answers the local Service', () => {
  const a = ask('web.demo.svc.clusterset.local', 'A');
  assert.equal(a.rcode, 'NOERROR');
  assert.equal(a.authoritative, true);
  assert.deepEqual(a.data, ['10.96.7.7']);
  assert.deepEqual(ask('WEB.demo.svc.clusterset.local.', 'AAAA').data, ['fd00::7']);
  assert.deepEqual(ask('web.demo.svc.cluster.local', 'A').data, ['10.96.0.20']);
});

test('ClusterSetIP: SRV per named port to the service name; bare SRV one per port number; no per-cluster names', () => {
  const srv = (n: string) => (ask(n, 'SRV').p.answers as SrvAnswer[]).map((a) => `${a.data.port} ${a.data.target}`).sort();
  assert.deepEqual(srv('_http._tcp.web.demo.svc.clusterset.local'), ['8080 web.demo.svc.clusterset.local']);
  assert.deepEqual(srv('_dns._udp.web.demo.svc.clusterset.local'), ['8080 web.demo.svc.clusterset.local']);
  // tcp/8080 and udp/8080 are one record, as CoreDNS answers (the conformance suite expects exactly one per port).
  assert.deepEqual(srv('web.demo.svc.clusterset.local'), ['8080 web.demo.svc.clusterset.local', '9090 web.demo.svc.clusterset.local']);
  assert.equal(ask('_http._udp.web.demo.svc.clusterset.local', 'SRV').rcode, 'NXDOMAIN');
  assert.equal(ask('cluster-a.web.demo.svc.clusterset.local', 'A').rcode, 'NXDOMAIN');
});

test('Headless: every ready endpoint across clusters; per-pod names under the cluster id; SRV per endpoint', () => {
  assert.deepEqual(ask('db.demo.svc.clusterset.local', 'A').data.sort(), ['10.1.0.5', '10.2.0.5', '10.2.0.9']);
  assert.deepEqual(ask('db-0.cluster-a.db.demo.svc.clusterset.local', 'A').data, ['10.1.0.5']);
  assert.deepEqual(ask('db-0.cluster-b.db.demo.svc.clusterset.local', 'A').data, ['10.2.0.5']);
  // An endpoint without a hostname is named by its address with dashes.
  assert.deepEqual(ask('10-2-0-9.cluster-b.db.demo.svc.clusterset.local', 'A').data, ['10.2.0.9']);
  // Not ready: no name.
  assert.equal(ask('db-1.cluster-a.db.demo.svc.clusterset.local', 'A').rcode, 'NXDOMAIN');
  // Over TCP: three SRV records plus their addresses are more than 512 bytes (UDP without EDNS truncates).
  const s = ask('_pg._tcp.db.demo.svc.clusterset.local', 'SRV', 'tcp');
  assert.deepEqual((s.p.answers as SrvAnswer[]).map((a) => `${a.data.port} ${a.data.target}`).sort(), [
    '5432 10-2-0-9.cluster-b.db.demo.svc.clusterset.local',
    '5432 db-0.cluster-a.db.demo.svc.clusterset.local',
    '5432 db-0.cluster-b.db.demo.svc.clusterset.local',
  ]);
  // The targets' addresses ride along in the additional section.
  assert.deepEqual((s.p.additionals ?? []).filter((a) => a.type === 'A').map((a) => (a as StringAnswer).data).sort(), ['10.1.0.5', '10.2.0.5', '10.2.0.9']);
});

test('NXDOMAIN vs NODATA: missing names, empty headless imports, empty non-terminals, other types', () => {
  assert.equal(ask('nope.demo.svc.clusterset.local', 'A').rcode, 'NXDOMAIN');
  assert.equal(ask('db.other.svc.clusterset.local', 'A').rcode, 'NXDOMAIN');
  // Headless with no ready endpoint: NXDOMAIN (spec 2.4.1).
  assert.equal(ask('empty.demo.svc.clusterset.local', 'A').rcode, 'NXDOMAIN');
  // A ClusterSetIP import whose VIP is not allocated yet exists, with no address (NODATA).
  const novip = ask('novip.demo.svc.clusterset.local', 'A');
  assert.equal(novip.rcode, 'NOERROR');
  assert.deepEqual(novip.data, []);
  assert.equal(novip.p.authorities?.[0]?.type, 'SOA');
  // The namespace and cluster-id levels exist (empty non-terminals): NODATA, not NXDOMAIN.
  assert.equal(ask('demo.svc.clusterset.local', 'A').rcode, 'NOERROR');
  assert.equal(ask('cluster-a.db.demo.svc.clusterset.local', 'A').rcode, 'NOERROR');
  // AAAA of a v4-only headless endpoint: NODATA.
  const v6 = ask('db-0.cluster-a.db.demo.svc.clusterset.local', 'AAAA');
  assert.equal(v6.rcode, 'NOERROR');
  assert.deepEqual(v6.data, []);
  // No pod.<zone> names in the clusterset zone.
  assert.equal(ask('10-1-0-5.demo.pod.clusterset.local', 'A').rcode, 'NXDOMAIN');
});

test('dns-version TXT is 1.0.0; a zone without imports still answers it', () => {
  const txt = ask('dns-version.clusterset.local', 'TXT').p.answers as TxtAnswer[];
  assert.deepEqual(txt.map((a) => (Array.isArray(a.data) ? a.data.map(String) : [String(a.data)])), [['1.0.0']]);
  const empty = new ClustersetRecordSource();
  empty.replaceImports([]);
  assert.equal(empty.lookup('dns-version.clusterset.local').records.txt?.[0], '1.0.0');
  assert.equal(empty.importCount(), 0);
});

test('bad imports are skipped with a reason; the others are published; deletes remove names', () => {
  const z = new ClustersetRecordSource();
  const errs = z.replaceImports([
    ['demo/ok', { type: 'ClusterSetIP', ips: ['10.96.1.1'] }],
    ['demo/bad', { type: 'ClusterSetIP', ips: ['not-an-ip'] }],
    ['Bad_NS/x', { type: 'ClusterSetIP' }],
  ]);
  assert.deepEqual(errs.map((e) => e.key), ['demo/bad', 'Bad_NS/x']);
  assert.match(errs[0]?.error ?? '', /ips/);
  assert.deepEqual(z.lookup('ok.demo.svc.clusterset.local').records.a, ['10.96.1.1']);
  assert.equal(z.deleteImport('demo', 'ok'), true);
  assert.equal(z.lookup('ok.demo.svc.clusterset.local').exists, false);
});

test('ServiceImports are read through the MCS contract schema: a bad spec is refused with its reason, the rest published', () => {
  const r = clustersetImportsFromObjects(
    [
      { metadata: { namespace: 'demo', name: 'odd' }, spec: { type: 'LoadBalancer', ports: [] } },
      { metadata: { namespace: 'demo', name: 'bigport' }, spec: { type: 'ClusterSetIP', ports: [{ port: 70000 }] } },
      { metadata: { namespace: 'demo', name: 'fine' }, spec: { type: 'ClusterSetIP', ips: ['10.96.1.2'], ports: [{ port: 80 }] } },
    ],
    [],
  );
  assert.deepEqual(r.errors.map((e) => e.key), ['demo/odd', 'demo/bigport']);
  assert.match(r.errors[0]?.error ?? '', /spec\.type/);
  assert.deepEqual(r.entries.map(([k]) => k), ['demo/fine']);
});

test('importVersion: v1beta1 when served, else storage, else the first served; none without versions', () => {
  assert.equal(importVersion({ spec: { versions: [{ name: 'v1alpha1', served: true, storage: true }, { name: 'v1beta1', served: true }] } }), 'v1beta1');
  assert.equal(importVersion({ spec: { versions: [{ name: 'v1alpha1', served: true, storage: true }] } }), 'v1alpha1');
  assert.equal(importVersion({ spec: { versions: [{ name: 'v1beta1', served: false }, { name: 'v1alpha1', served: true }] } }), 'v1alpha1');
  assert.equal(importVersion(undefined), undefined);
});
