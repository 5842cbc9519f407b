import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { DnsError, DnsRecordSource, dnsServiceFromObjects, dnsServicesFromObjects, reverseName } from '../../src/dns/index.js';

const svc = (name: string, spec: V1Service['spec'], ns = 'demo'): V1Service => ({ metadata: { name, namespace: ns }, spec });
const slice = (svcName: string, endpoints: NonNullable<V1EndpointSlice['endpoints']>, ports: V1EndpointSlice['ports'] = [], ns = 'demo', addressType = 'IPv4'): V1EndpointSlice => ({
  metadata: { name: `${svcName}-abc`, namespace: ns, labels: { 'kubernetes.io/service-name': svcName } },
  addressType,
  endpoints,
  ports,
});

test('objects → records: ClusterIP service keeps its ClusterIPs and named ports', () => {
  const out = dnsServiceFromObjects(
    svc('web', { clusterIP: '127.1.128.10', clusterIPs: ['127.1.128.10', 'fd00::10'], ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { port: 81 }] }),
    [slice('web', [{ addresses: ['127.1.0.5'], conditions: { ready: true } }])],
  );
  assert.deepEqual(out.clusterIPs, ['127.1.128.10', 'fd00::10']);
  assert.equal(out.headless, false);
  assert.deepEqual(out.ports, [{ name: 'http', port: 80, protocol: 'TCP' }, { port: 81, protocol: 'TCP' }]);
  assert.deepEqual(out.endpoints, [{ ip: '127.1.0.5', ready: true }]);
});

test('objects → records: headless service, readiness (nil = ready), hostnames, FQDN slices and other services ignored', () => {
  const out = dnsServiceFromObjects(svc('db', { clusterIP: 'None', ports: [{ name: 'pg', port: 5432 }] }), [
    slice('db', [
      { addresses: ['127.1.0.7'], hostname: 'db-0', conditions: { ready: true } },
      { addresses: ['127.1.0.8'], hostname: 'db-1', conditions: { ready: false } },
      { addresses: ['127.1.0.9'] },
    ]),
    slice('db', [{ addresses: ['db.example.com'] }], [], 'demo', 'FQDN'),
    slice('other', [{ addresses: ['127.1.0.99'] }]),
    slice('db', [{ addresses: ['127.9.0.1'] }], [], 'elsewhere'),
  ]);
  assert.equal(out.headless, true);
  assert.deepEqual(out.clusterIPs, []);
  assert.deepEqual(out.endpoints, [
    { ip: '127.1.0.7', ready: true, hostname: 'db-0' },
    { ip: '127.1.0.8', ready: false, hostname: 'db-1' },
    { ip: '127.1.0.9', ready: true },
  ]);
});

test('objects → records: ExternalName becomes a CNAME with no addresses', () => {
  const out = dnsServiceFromObjects(svc('ext', { type: 'ExternalName', externalName: 'web.demo.svc.cluster.local' }), []);
  assert.equal(out.externalName, 'web.demo.svc.cluster.local');
  assert.deepEqual(out.clusterIPs, []);
});

test('record source: A, SRV, headless, per-pod hostnames, ancestors exist, unknown names do not, case-insensitive', () => {
  const src = new DnsRecordSource('cluster.local');
  src.setService('demo', 'web', { clusterIPs: ['127.1.128.10'], ports: [{ name: 'http', port: 8080 }], endpoints: [{ ip: '127.1.0.5' }] });
  src.setService('demo', 'db', {
    headless: true,
    ports: [{ name: 'pg', port: 5432 }],
    endpoints: [
      { ip: '127.1.0.7', hostname: 'db-0' },
      { ip: '127.1.0.8', hostname: 'db-1', ready: false },
      { ip: '127.1.0.9' },
    ],
  });
  assert.deepEqual(src.lookup('web.demo.svc.cluster.local').records.a, ['127.1.128.10']);
  assert.deepEqual(src.lookup('WEB.Demo.SVC.cluster.local.').records.a, ['127.1.128.10']);
  assert.deepEqual(src.lookup('_http._tcp.web.demo.svc.cluster.local').records.srv, [{ priority: 0, weight: 100, port: 8080, target: 'web.demo.svc.cluster.local' }]);
  assert.deepEqual(src.lookup('db.demo.svc.cluster.local').records.a, ['127.1.0.7', '127.1.0.9']);
  assert.deepEqual(src.lookup('db-0.db.demo.svc.cluster.local').records.a, ['127.1.0.7']);
  assert.equal(src.lookup('db-1.db.demo.svc.cluster.local').exists, false, 'a not-ready pod is not published');
  assert.deepEqual(src.lookup('127-1-0-9.db.demo.svc.cluster.local').records.a, ['127.1.0.9']);
  assert.deepEqual(
    src.lookup('_pg._tcp.db.demo.svc.cluster.local').records.srv.map((s) => s.target).sort(),
    ['127-1-0-9.db.demo.svc.cluster.local', 'db-0.db.demo.svc.cluster.local'],
  );
  for (const ancestor of ['demo.svc.cluster.local', 'svc.cluster.local', 'cluster.local', '_tcp.web.demo.svc.cluster.local']) {
    assert.equal(src.lookup(ancestor).exists, true, ancestor);
  }
  for (const unknown of ['nope.demo.svc.cluster.local', 'web.other.svc.cluster.local', 'x.web.demo.svc.cluster.local']) {
    assert.equal(src.lookup(unknown).exists, false, unknown);
  }
  assert.equal(src.inDomain('example.com'), false);
  assert.equal(src.inDomain('Web.Demo.svc.Cluster.Local'), true);
});

test('record source: delete and replaceAll take names away; bad input is a DnsError and changes nothing', () => {
  const src = new DnsRecordSource();
  src.setService('demo', 'web', { clusterIPs: ['127.1.128.10'] });
  assert.throws(() => src.setService('demo', 'web', { clusterIPs: ['not-an-ip'] }), (e: unknown) => e instanceof DnsError && e.code === 'DNS_INVALID_SERVICE');
  assert.throws(() => src.setService('Demo_NS', 'web', {}), DnsError);
  assert.deepEqual(src.lookup('web.demo.svc.cluster.local').records.a, ['127.1.128.10']);
  assert.equal(src.deleteService('demo', 'web'), true);
  assert.equal(src.lookup('web.demo.svc.cluster.local').exists, false);
  assert.equal(src.lookup('demo.svc.cluster.local').exists, false);

  const errors = src.replaceAll(
    dnsServicesFromObjects(
      [svc('a', { clusterIP: '127.1.128.1' }), svc('b', { clusterIP: '127.1.128.2' }, 'other'), svc('bad', { clusterIP: '999.1.1.1' })],
      [],
    ),
  );
  assert.equal(errors.length, 1);
  assert.equal(errors[0]?.key, 'demo/bad');
  assert.equal(src.serviceCount(), 2);
  assert.deepEqual(src.lookup('b.other.svc.cluster.local').records.a, ['127.1.128.2']);
  src.replaceAll([]);
  assert.equal(src.lookup('b.other.svc.cluster.local').exists, false);
});

test('reverse names: IPv4 octets and IPv6 nibbles, and PTR records for ClusterIPs and named endpoints', () => {
  assert.equal(reverseName('127.1.128.10'), '10.128.1.127.in-addr.arpa');
  assert.equal(reverseName('fd00::a'), `a.0.0.0.${'0.'.repeat(26)}d.f.ip6.arpa`); // 32 nibbles
  assert.equal(reverseName('2001:db8:0:0:0:0:2:1'), reverseName('2001:db8::2:1'));
  const src = new DnsRecordSource();
  src.setService('demo', 'web', { clusterIPs: ['127.1.128.10'] });
  src.setService('demo', 'db', { headless: true, endpoints: [{ ip: '127.1.0.7', hostname: 'db-0' }, { ip: '127.1.0.8' }] });
  assert.deepEqual(src.lookup('10.128.1.127.in-addr.arpa').records.ptr, ['web.demo.svc.cluster.local']);
  assert.deepEqual(src.lookup('7.0.1.127.in-addr.arpa').records.ptr, ['db-0.db.demo.svc.cluster.local']);
  assert.deepEqual(src.lookup('8.0.1.127.in-addr.arpa').records.ptr, ['127-1-0-8.db.demo.svc.cluster.local']);
  assert.equal(src.answersFor('9.9.9.9.in-addr.arpa'), false, 'unknown reverse names are not ours');
  assert.equal(src.answersFor('in-addr.arpa'), false);
});

test('pod names: <dashed-ip>.<ns>.pod.<domain> answer that IP (pods insecure); malformed ones do not exist', () => {
  const src = new DnsRecordSource();
  assert.deepEqual(src.lookup('127-1-0-5.demo.pod.cluster.local').records.a, ['127.1.0.5']);
  assert.deepEqual(src.lookup('fd00--5.demo.pod.cluster.local').records.aaaa, ['fd00::5']);
  assert.equal(src.lookup('pod.cluster.local').exists, true);
  for (const bad of ['127-1-0-999.demo.pod.cluster.local', 'web.demo.pod.cluster.local', '127-1-0-5.pod.cluster.local', '127-1-0-5.a.b.pod.cluster.local']) {
    assert.equal(src.lookup(bad).exists, false, bad);
  }
});
