// Unit tests of the mirror's pure core: desired shadows (table-driven, YAML fixtures), diff, names, ports,
// and the Link schema (each invalid field reported with its zod path).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { repoRoot } from '../helpers/process.js';
import {
  desiredShadow,
  diff,
  parseLinkSpec,
  shadowName,
  podServiceName,
  PortAllocator,
  PortsExhaustedError,
  parsePortRange,
  recordedPorts,
  portKey,
  matchesSelector,
  type LinkSpec,
  type Service,
  type EndpointSlice,
  type GatewayEndpoint,
} from '../../src/mirror/index.js';

interface Case {
  name: string;
  link: unknown;
  remote: Service;
  remoteSlices: EndpointSlice[];
  gateway: GatewayEndpoint[];
  gatewayHealthy?: boolean;
  podServiceIPs?: Record<string, string>;
  expect: null | {
    service?: unknown;
    slices?: unknown[];
    sliceCount?: number;
    podServices?: unknown[];
    pendingPodIPs?: string[];
    absentLabels?: string[];
    absentAnnotations?: string[];
  };
}

/** Every field in `want` equals the one in `have` (arrays element-wise, by position). */
function assertSubset(have: unknown, want: unknown, path: string): void {
  if (want === null || typeof want !== 'object') {
    assert.deepEqual(have, want, `${path}: expected ${JSON.stringify(want)}, got ${JSON.stringify(have)}`);
    return;
  }
  assert.ok(have !== null && typeof have === 'object', `${path}: expected an object, got ${JSON.stringify(have)}`);
  if (Array.isArray(want)) {
    assert.ok(Array.isArray(have), `${path}: expected an array`);
    assert.ok((have as unknown[]).length >= want.length, `${path}: expected at least ${want.length} items, got ${(have as unknown[]).length}`);
    want.forEach((w, i) => assertSubset((have as unknown[])[i], w, `${path}[${i}]`));
    return;
  }
  for (const [k, v] of Object.entries(want)) assertSubset((have as Record<string, unknown>)[k], v, `${path}.${k}`);
}

function spec(raw: unknown): LinkSpec {
  const p = parseLinkSpec(raw);
  assert.ok(p.ok, `fixture link spec invalid: ${p.ok ? '' : p.message}`);
  return p.spec;
}

const cases = parse(readFileSync(join(repoRoot, 'test/mirror/fixtures/desired.yaml'), 'utf8')) as Case[];

for (const c of cases) {
  test(`desiredShadow: ${c.name}`, () => {
    const d = desiredShadow({
      remote: c.remote,
      remoteSlices: c.remoteSlices,
      linkSpec: spec(c.link),
      gateway: c.gateway,
      gatewayHealthy: c.gatewayHealthy ?? true,
      ports: new PortAllocator(14000, 14010),
      podServiceIPs: new Map(Object.entries(c.podServiceIPs ?? {})),
    });
    if (c.expect === null) {
      assert.equal(d, undefined);
      return;
    }
    assert.ok(d, 'expected a shadow');
    if (c.expect.service) assertSubset(d.service, c.expect.service, 'service');
    if (c.expect.slices) assertSubset(d.slices, c.expect.slices, 'slices');
    if (c.expect.sliceCount !== undefined) assert.equal(d.slices.length, c.expect.sliceCount);
    if (c.expect.podServices) assertSubset(d.podServices, c.expect.podServices, 'podServices');
    if (c.expect.pendingPodIPs) assert.deepEqual(d.pendingPodIPs, c.expect.pendingPodIPs);
    for (const l of c.expect.absentLabels ?? []) assert.equal(d.service.metadata?.labels?.[l], undefined, `label ${l} must not be copied`);
    for (const a of c.expect.absentAnnotations ?? []) assert.equal(d.service.metadata?.annotations?.[a], undefined, `annotation ${a} must not be copied`);
  });
}

test('desiredShadow is deterministic and keeps port allocations across calls; a removed port is released by the caller', () => {
  const ports = new PortAllocator(14000, 14010);
  const s = spec({ targetClusterName: 'east', clusterCredentialsSecret: 'c', gateway: { addresses: ['127.0.0.1'], identity: 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway' } });
  const remote: Service = { metadata: { name: 'web', namespace: 'shop', labels: { 'mirror.mesh.io/exported': 'true' } }, spec: { ports: [{ name: 'a', port: 80 }, { name: 'b', port: 81 }] } };
  const input = { remote, remoteSlices: [], linkSpec: s, gateway: [], gatewayHealthy: true, ports };
  const one = desiredShadow(input)!;
  const two = desiredShadow(input)!;
  assert.deepEqual(one.service, two.service);
  assert.equal(ports.inUse(), 2);
  // Port 80 goes away: 81 keeps its outbound port, 80's is released after the write.
  const changed = desiredShadow({ ...input, remote: { ...remote, spec: { ports: [{ name: 'b', port: 81 }] } } })!;
  ports.releaseShadow(changed.key, new Set(changed.portKeys));
  assert.equal(ports.inUse(), 1);
  assert.equal(ports.get(portKey('shop/web-east', 81, 'TCP')), 14001);
  // A new port never gets 14000 back at once (the cursor moves on), and never a port in use.
  const added = desiredShadow({ ...input, remote: { ...remote, spec: { ports: [{ name: 'b', port: 81 }, { name: 'c', port: 82 }] } } })!;
  assert.equal(ports.get(portKey('shop/web-east', 82, 'TCP')), 14002);
  assert.equal(added.portKeys.length, 2);
});

test('port allocator: recovery from shadows, no double allocation, exhaustion, bad ranges', () => {
  const p = new PortAllocator(14000, 14002);
  const shadow: Service = {
    metadata: {
      name: 'web-east',
      namespace: 'shop',
      annotations: { 'mirror.mesh.io/gateway-port-map': '[{"port":80,"protocol":"TCP","outboundPort":14001},{"port":80,"protocol":"TCP","outboundPort":14002,"hostname":"web-0"}]' },
    },
  };
  for (const r of recordedPorts(shadow)) assert.ok(p.recover(r.key, r.port));
  assert.equal(p.recover('other|80/TCP|', 14001), false, 'a recovered port is never given to another key');
  assert.equal(p.recover('x|1/TCP|', 20000), false, 'out of range');
  assert.equal(p.allocate('new|80/TCP|'), 14000);
  assert.throws(() => p.allocate('more|80/TCP|'), PortsExhaustedError);
  assert.deepEqual(recordedPorts({ metadata: { name: 'x', namespace: 'y', annotations: { 'mirror.mesh.io/gateway-port-map': 'not json' } } }), []);
  assert.deepEqual(parsePortRange('14000-15999'), { min: 14000, max: 15999 });
  assert.throws(() => parsePortRange('15999-14000'));
  assert.throws(() => parsePortRange('abc'));
  assert.throws(() => parsePortRange('1-70000'));
});

test('names: <name>-<cluster>, cut to 63 characters ending in a stable short hash', () => {
  assert.equal(shadowName('web', 'east'), 'web-east');
  const long = 'a'.repeat(60);
  const n = shadowName(long, 'cluster-b');
  assert.equal(n.length, 63);
  assert.match(n, /^a+-[0-9a-f]{8}$/);
  assert.equal(shadowName(long, 'cluster-b'), n, 'deterministic');
  assert.notEqual(shadowName(long, 'cluster-c'), n, 'different clusters give different names');
  const exact = 'b'.repeat(63 - '-east'.length);
  assert.equal(shadowName(exact, 'east'), `${exact}-east`, 'exactly 63 is kept');
  assert.equal(shadowName(exact + 'b', 'east').length, 63);
  // A cut never leaves a trailing dash before the hash.
  const dashy = `${'c'.repeat(53)}-----------x`;
  assert.doesNotMatch(shadowName(dashy, 'east'), /--/);
  assert.ok(podServiceName('web-0', n).length <= 63);
});

test('diff: create, update, delete, unchanged; foreign objects are conflicts, never updated or deleted', () => {
  const mine = (name: string, data: string) => ({ metadata: { name, labels: { 'mirror.mesh.io/mirrored-service': 'true', 'mirror.mesh.io/cluster-name': 'east' } }, endpoints: [{ addresses: [data] }] });
  const foreign = { metadata: { name: 'taken', labels: { app: 'theirs' } }, endpoints: [] };
  const plan = diff(
    [mine('new', '1'), mine('same', '2'), mine('changed', '3'), mine('taken', '4')],
    [mine('same', '2'), mine('changed', 'old'), mine('stale', '9'), foreign, { metadata: { name: 'unrelated' } }],
    'east',
  );
  assert.deepEqual(plan.create.map((o) => o.metadata?.name), ['new']);
  assert.deepEqual(plan.unchanged.map((o) => o.metadata?.name), ['same']);
  assert.deepEqual(plan.update.map((o) => o.desired.metadata?.name), ['changed']);
  assert.deepEqual(plan.delete.map((o) => o.metadata?.name), ['stale']);
  assert.deepEqual(plan.conflicts.map((o) => o.metadata?.name), ['taken']);
  // Objects of another cluster's link are not ours either.
  assert.equal(diff([], [{ metadata: { name: 'x', labels: { 'mirror.mesh.io/mirrored-service': 'true', 'mirror.mesh.io/cluster-name': 'west' } } }], 'east').delete.length, 0);
});

test('label selectors: In, NotIn, Exists, DoesNotExist, matchLabels; empty selects nothing', () => {
  assert.ok(matchesSelector({ a: '1' }, { matchLabels: { a: '1' } }));
  assert.ok(!matchesSelector({ a: '2' }, { matchLabels: { a: '1' } }));
  assert.ok(matchesSelector({ a: 'x' }, { matchExpressions: [{ key: 'a', operator: 'In', values: ['x', 'y'] }] }));
  assert.ok(!matchesSelector({ a: 'x' }, { matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['x'] }] }));
  assert.ok(matchesSelector({ a: '' }, { matchExpressions: [{ key: 'a', operator: 'Exists' }] }));
  assert.ok(matchesSelector({}, { matchExpressions: [{ key: 'a', operator: 'DoesNotExist' }] }));
  assert.ok(!matchesSelector({ a: '1' }, {}));
});

const validLink = {
  targetClusterName: 'east',
  clusterCredentialsSecret: 'cluster-credentials-east',
  gateway: { addresses: ['10.0.0.1', 'gw.example.com'], port: 4143, identity: 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway' },
  probe: { path: '/live', period: '3s', timeout: '1s', failureThreshold: 3 },
};

test('Link spec: valid spec gets defaults', () => {
  const p = parseLinkSpec(validLink);
  assert.ok(p.ok);
  assert.equal(p.spec.targetClusterDomain, 'cluster.local');
  assert.equal(p.spec.trustDomain, 'mesh.local');
  assert.equal(p.spec.createNamespaces, false);
  assert.deepEqual(p.spec.excludedLabels, []);
  const minimal = parseLinkSpec({ targetClusterName: 'east', clusterCredentialsSecret: 'c' });
  assert.ok(minimal.ok);
  assert.equal(minimal.spec.probe.failureThreshold, 3);
});

const invalid: Array<[string, unknown, string]> = [
  ['missing targetClusterName', { ...validLink, targetClusterName: undefined }, 'spec.targetClusterName'],
  ['targetClusterName not a DNS label', { ...validLink, targetClusterName: 'East_1' }, 'spec.targetClusterName'],
  ['targetClusterDomain bad', { ...validLink, targetClusterDomain: 'bad domain' }, 'spec.targetClusterDomain'],
  ['trustDomain bad', { ...validLink, trustDomain: 'UPPER/case' }, 'spec.trustDomain'],
  ['clusterCredentialsSecret missing', { ...validLink, clusterCredentialsSecret: undefined }, 'spec.clusterCredentialsSecret'],
  ['gateway.addresses empty', { ...validLink, gateway: { ...validLink.gateway, addresses: [] } }, 'spec.gateway.addresses'],
  ['gateway.addresses bad host', { ...validLink, gateway: { ...validLink.gateway, addresses: ['a b'] } }, 'spec.gateway.addresses.0'],
  ['gateway.port out of range', { ...validLink, gateway: { ...validLink.gateway, port: 70000 } }, 'spec.gateway.port'],
  ['gateway.identity not SPIFFE', { ...validLink, gateway: { ...validLink.gateway, identity: 'mesh-gateway' } }, 'spec.gateway.identity'],
  ['gateway.transport unknown', { ...validLink, gateway: { ...validLink.gateway, transport: 'carrier-pigeon' } }, 'spec.gateway.transport'],
  ['probe.path relative', { ...validLink, probe: { ...validLink.probe, path: 'live' } }, 'spec.probe.path'],
  ['probe.port zero', { ...validLink, probe: { ...validLink.probe, port: 0 } }, 'spec.probe.port'],
  ['probe.period not a duration', { ...validLink, probe: { ...validLink.probe, period: 'often' } }, 'spec.probe.period'],
  ['probe.timeout not a duration', { ...validLink, probe: { ...validLink.probe, timeout: 5 } }, 'spec.probe.timeout'],
  ['probe.failureThreshold zero', { ...validLink, probe: { ...validLink.probe, failureThreshold: 0 } }, 'spec.probe.failureThreshold'],
  ['selector bad operator', { ...validLink, selector: { matchExpressions: [{ key: 'a', operator: 'Near' }] } }, 'spec.selector.matchExpressions.0.operator'],
  ['flatSelector In without values', { ...validLink, flatSelector: { matchExpressions: [{ key: 'a', operator: 'In' }] } }, 'spec.flatSelector'],
  ['excludedLabels not a list', { ...validLink, excludedLabels: 'app' }, 'spec.excludedLabels'],
  ['excludedAnnotations empty string', { ...validLink, excludedAnnotations: [''] }, 'spec.excludedAnnotations.0'],
  ['createNamespaces not a bool', { ...validLink, createNamespaces: 'yes' }, 'spec.createNamespaces'],
  ['unknown field', { ...validLink, targetClusterNmae: 'typo' }, 'spec'],
];

for (const [what, raw, path] of invalid) {
  test(`Link spec invalid: ${what} → ${path}`, () => {
    const p = parseLinkSpec(raw);
    assert.equal(p.ok, false);
    if (!p.ok) {
      assert.equal(p.path, path);
      assert.ok(p.message.includes(path), `message names the path: ${p.message}`);
    }
  });
}
