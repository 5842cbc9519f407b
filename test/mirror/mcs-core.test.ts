// The pure MCS core, from tables: export validity, the oldest-wins merge and its conflict reasons, and the
// objects of one import (derived Service, slices per mode, port claims). No API server: the same world
// always gives the same import.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { derivedServiceName } from '../../src/api/index.js';
import { desiredImport, derivedPortName } from '../../src/mirror/import-objects.js';
import { conflictCondition, exportValidity, mergeExports } from '../../src/mirror/imports-desired.js';
import type { Exporter } from '../../src/mirror/mcs-types.js';
import type { EndpointSlice } from '../../src/mirror/index.js';
import { PortAllocator } from '../../src/mirror/ports.js';

function exporter(cluster: string, created: string, spec: Record<string, unknown> | undefined, o: Partial<Exporter> = {}): Exporter {
  return {
    cluster,
    mode: 'flat',
    export: { metadata: { name: 'web', namespace: 'shop', creationTimestamp: created } },
    ...(spec ? { service: { metadata: { name: 'web', namespace: 'shop' }, spec } } : {}),
    slices: [],
    reachable: true,
    apiReachable: true,
    ...o,
  };
}

const http = { ports: [{ name: 'http', port: 80, protocol: 'TCP' }] };

test('exportValidity: no Service, ExternalName, valid', () => {
  const cases: Array<[Record<string, unknown> | undefined, boolean, string]> = [
    [undefined, false, 'NoService'],
    [{ type: 'ExternalName', externalName: 'x.example' }, false, 'InvalidServiceType'],
    [http, true, 'Valid'],
    [{ ...http, clusterIP: 'None' }, true, 'Valid'],
  ];
  for (const [spec, valid, reason] of cases) {
    const v = exportValidity(exporter('a', '2026-01-01T00:00:00Z', spec));
    assert.deepEqual([v.valid, v.reason], [valid, reason], JSON.stringify(spec));
  }
});

test('mergeExports: the oldest wins, ties by cluster name; each conflict reason names the clusters that differ', () => {
  const table: Array<{ name: string; other: Record<string, unknown>; reasons: string[] }> = [
    { name: 'same', other: http, reasons: [] },
    { name: 'port renamed', other: { ports: [{ name: 'web', port: 80, protocol: 'TCP' }] }, reasons: ['PortConflict'] },
    { name: 'extra port', other: { ports: [...http.ports, { name: 'admin', port: 81, protocol: 'TCP' }] }, reasons: [] },
    { name: 'headless', other: { ...http, clusterIP: 'None' }, reasons: ['TypeConflict'] },
    { name: 'affinity', other: { ...http, sessionAffinity: 'ClientIP' }, reasons: ['SessionAffinityConflict'] },
    { name: 'affinity config', other: { ...http, sessionAffinity: 'None', sessionAffinityConfig: { clientIP: { timeoutSeconds: 5 } } }, reasons: [] },
    { name: 'itp', other: { ...http, internalTrafficPolicy: 'Local' }, reasons: ['InternalTrafficPolicyConflict'] },
    { name: 'distribution', other: { ...http, trafficDistribution: 'PreferClose' }, reasons: ['TrafficDistributionConflict'] },
    { name: 'families', other: { ...http, ipFamilies: ['IPv6'] }, reasons: ['IPFamilyConflict'] },
    { name: 'several', other: { ports: [{ name: 'x', port: 80, protocol: 'TCP' }], clusterIP: 'None', sessionAffinity: 'ClientIP' }, reasons: ['PortConflict', 'TypeConflict', 'SessionAffinityConflict'] },
  ];
  for (const row of table) {
    const m = mergeExports([exporter('b', '2026-01-02T00:00:00Z', row.other), exporter('a', '2026-01-01T00:00:00Z', http)]);
    assert.ok(m, row.name);
    assert.equal(m.winner.cluster, 'a', `${row.name}: the oldest export wins`);
    assert.deepEqual(m.conflicts.map((c) => c.reason), row.reasons, row.name);
    for (const c of m.conflicts) assert.deepEqual(c.clusters, ['b']);
    const cond = conflictCondition(m);
    assert.equal(cond.conflict, row.reasons.length > 0, row.name);
    assert.equal(cond.reason, row.reasons.length ? row.reasons.join(',') : 'NoConflicts', row.name);
  }
  const tie = mergeExports([exporter('z', '2026-01-01T00:00:00Z', http), exporter('m', '2026-01-01T00:00:00Z', { ...http, clusterIP: 'None' })]);
  assert.equal(tie?.winner.cluster, 'm', 'same age: by cluster name');
  assert.equal(mergeExports([exporter('a', '2026-01-01T00:00:00Z', undefined)]), undefined, 'no valid export: no import');
  const union = mergeExports([exporter('a', '1', { ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'http', port: 80 }] }), exporter('b', '2', { ports: [{ name: 'sig', port: 2905, protocol: 'SCTP' }] })]);
  assert.deepEqual(union?.ports, [{ port: 53, protocol: 'UDP', name: 'dns' }, { port: 80, protocol: 'TCP', name: 'http' }, { port: 2905, protocol: 'SCTP', name: 'sig' }]);
});

test('desiredImport: a local exporter and a flat one give pod slices, a gateway one the local gateway at claimed TCP ports (UDP said not carried)', () => {
  const ports = { ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }] };
  const slice = (name: string, ip: string, ready = true) => ({ metadata: { name }, addressType: 'IPv4', endpoints: [{ addresses: [ip], conditions: { ready } }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'dns', port: 5353, protocol: 'UDP' }] });
  const world = {
    namespace: 'shop',
    name: 'web',
    localCluster: 'a',
    exporters: [
      exporter('a', '1', ports, { mode: 'local', slices: [slice('web-1', '10.1.0.1')] }),
      exporter('b', '2', ports, { mode: 'gateway', slices: [slice('web-x', '10.2.0.1', false)] }),
      exporter('c', '3', ports, { mode: 'flat', slices: [slice('web-y', '10.3.0.1')] }),
    ],
    gateway: [{ ip: '10.1.9.9', ready: true }],
    ports: new PortAllocator(14000, 14010),
    derivedIPs: ['10.96.0.50'],
    now: 0,
  };
  const d = desiredImport(world);
  assert.ok(d);
  const derived = derivedServiceName('web');
  assert.equal(d.derived.metadata?.name, derived);
  assert.deepEqual(d.serviceImport.spec?.ips, ['10.96.0.50']);
  assert.deepEqual(d.serviceImport.status?.clusters?.map((c) => [c.cluster, c.serving, c.reason]), [['a', true, 'Serving'], ['b', false, 'NoReadyEndpoints'], ['c', true, 'Serving']]);
  const byCluster: Record<string, EndpointSlice> = Object.fromEntries(d.slices.map((s) => [s.metadata?.labels?.['multicluster.kubernetes.io/source-cluster'], s]));
  assert.deepEqual(Object.keys(byCluster).sort(), ['a', 'b', 'c']);
  assert.deepEqual(byCluster.a.endpoints?.map((e) => e.addresses[0]), ['10.1.0.1']);
  assert.deepEqual(byCluster.c.endpoints?.map((e) => e.addresses[0]), ['10.3.0.1']);
  assert.deepEqual(byCluster.a.ports?.map((p) => [p.name, p.port, p.protocol]), [['dns', 5353, 'UDP'], ['http', 8080, 'TCP']]);
  // Gateway: the local gateway pod, not ready while b has no ready endpoint; only the TCP port, at a claimed port.
  assert.deepEqual(byCluster.b.endpoints?.map((e) => [e.addresses[0], e.conditions?.ready]), [['10.1.9.9', false]]);
  assert.deepEqual(byCluster.b.ports?.map((p) => [p.name, p.port]), [['http', 14000]]);
  assert.deepEqual(d.claims.map((c) => [c.key, c.port]), [[`shop/${derived}|80/TCP|@b`, 14000]]);
  assert.deepEqual(d.notCarried, ['53/UDP of b']);
  assert.deepEqual(JSON.parse(d.derived.metadata?.annotations?.['mirror.mesh.io/gateway-port-map'] ?? ''), [{ port: 80, name: 'http', protocol: 'TCP', outboundPort: 14000, cluster: 'b' }]);
});

test('desiredImport, dual-stack gateway pods: a gateway exporter gets a slice per family at the same outbound port, so the IPv6 VIP reaches the gateway too', () => {
  const http6 = { ...http, ipFamilyPolicy: 'PreferDualStack', ipFamilies: ['IPv4', 'IPv6'] };
  const ready = { metadata: { name: 'web-x' }, addressType: 'IPv4', endpoints: [{ addresses: ['10.2.0.1'], conditions: { ready: true } }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] };
  const world = (gateway: Array<{ ip: string; ready: boolean }>) => ({
    namespace: 'shop',
    name: 'web',
    localCluster: 'a',
    exporters: [exporter('b', '2', http6, { mode: 'gateway', slices: [ready] })],
    gateway,
    ports: new PortAllocator(14000, 14010),
    derivedIPs: ['10.96.0.50', 'fd00:96::50'],
    now: 0,
  });
  const d = desiredImport(world([{ ip: 'fd00:10:1::9:9', ready: true }, { ip: '10.1.9.9', ready: true }, { ip: '10.1.9.8', ready: false }]));
  assert.ok(d);
  const derived = derivedServiceName('web');
  assert.deepEqual(d.serviceImport.spec?.ips, ['10.96.0.50', 'fd00:96::50']);
  assert.deepEqual(d.slices.map((s) => [s.metadata?.name, s.addressType, s.metadata?.labels?.['multicluster.kubernetes.io/source-cluster'], s.metadata?.labels?.['kubernetes.io/service-name']]), [
    [`${derived}-b-gateway`, 'IPv4', 'b', derived],
    [`${derived}-b-gateway-ipv6`, 'IPv6', 'b', derived],
  ]);
  assert.deepEqual(d.slices.map((s) => s.endpoints?.map((e) => [e.addresses[0], e.conditions?.ready])), [[['10.1.9.8', false], ['10.1.9.9', true]], [['fd00:10:1::9:9', true]]]);
  assert.deepEqual(d.slices.map((s) => s.ports?.map((p) => p.port)), [[14000], [14000]], 'one outbound port, listened on by the gateway on both families');
  assert.deepEqual(d.claims.map((c) => c.port), [14000]);
  // Without IPv6 gateway pods (a single-stack cluster), the one IPv4 slice as before.
  const v4 = desiredImport(world([{ ip: '10.1.9.9', ready: true }]));
  assert.deepEqual(v4?.slices.map((s) => [s.metadata?.name, s.addressType]), [[`${derived}-b-gateway`, 'IPv4']]);
});

test('derivedPortName: the import port name, else one made from protocol and port', () => {
  const ports = [{ name: 'x', port: 80, protocol: 'TCP' as const }, { port: 53, protocol: 'UDP' as const }, { name: 'x', port: 81, protocol: 'TCP' as const }];
  assert.deepEqual(ports.map((p) => derivedPortName(p, ports)), ['tcp-80', 'udp-53', 'tcp-81']);
  assert.equal(derivedPortName({ name: 'http', port: 80 }, [{ name: 'http', port: 80 }]), 'http');
});
