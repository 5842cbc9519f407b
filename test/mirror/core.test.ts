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
  shadowName,
  podServiceName,
  PortAllocator,
  PortsExhaustedError,
  claimPorts,
  parsePortRange,
  recordedPorts,
  portKey,
  encodeKey,
  decodeKey,
  type MirrorKey,
  type Service,
  type EndpointSlice,
  type GatewayEndpoint,
} from '../../src/mirror/index.js';
import { parseLinkSpec, matchesSelector, type LinkSpec } from '../../src/api/index.js';

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
    /** Endpoints over all of the shadow's own slices. */
    endpointCount?: number;
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
    if (c.expect.endpointCount !== undefined) assert.equal(d.slices.flatMap((x) => x.endpoints ?? []).length, c.expect.endpointCount);
    for (const l of c.expect.absentLabels ?? []) assert.equal(d.service.metadata?.labels?.[l], undefined, `label ${l} must not be copied`);
    for (const a of c.expect.absentAnnotations ?? []) assert.equal(d.service.metadata?.annotations?.[a], undefined, `annotation ${a} must not be copied`);
  });
}

test('desiredShadow is pure: it claims ports without taking them; the claims hold once committed, a removed port is freed then', () => {
  const ports = new PortAllocator(14000, 14010);
  const s = spec({ targetClusterName: 'east', clusterCredentialsSecret: 'c', gateway: { addresses: ['127.0.0.1'], identity: 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway' } });
  const remote: Service = { metadata: { name: 'web', namespace: 'shop', labels: { 'mirror.mesh.io/exported': 'true' } }, spec: { ports: [{ name: 'a', port: 80 }, { name: 'b', port: 81 }] } };
  const input = { remote, remoteSlices: [], linkSpec: s, gateway: [], gatewayHealthy: true, ports };
  const one = desiredShadow(input)!;
  const two = desiredShadow(input)!;
  assert.deepEqual(one, two, 'the same world gives the same shadow');
  assert.equal(ports.inUse(), 0, 'computing a shadow allocates nothing');
  assert.deepEqual(one.claims.map((c) => [c.port, c.fresh]), [[14000, true], [14001, true]]);
  // A failed write releases the reservation: nothing is held.
  ports.reserve(one.key, one.claims).release();
  assert.equal(ports.inUse(), 0);
  ports.reserve(one.key, one.claims).commit();
  assert.equal(ports.get(portKey('shop/web-east', 80, 'TCP')), 14000);
  // Port 80 goes away: 81 keeps its outbound port, 80's is freed by the commit of the new claims.
  const changed = desiredShadow({ ...input, remote: { ...remote, spec: { ports: [{ name: 'b', port: 81 }] } } })!;
  assert.deepEqual(changed.claims, [{ key: portKey('shop/web-east', 81, 'TCP'), port: 14001, fresh: false }]);
  assert.equal(ports.inUse(), 2, 'still held until the write succeeded');
  ports.reserve(changed.key, changed.claims).commit();
  assert.equal(ports.inUse(), 1);
  // A new port never gets 14000 back at once (the cursor moves on), and never a port in use.
  const added = desiredShadow({ ...input, remote: { ...remote, spec: { ports: [{ name: 'b', port: 81 }, { name: 'c', port: 82 }] } } })!;
  assert.deepEqual(added.claims.map((c) => c.port), [14001, 14002]);
});

test('port claims: a reserved port is never claimed by a second shadow written at the same time', () => {
  const ports = new PortAllocator(14000, 14002);
  const a = claimPorts(['shop/a|80/TCP|'], ports);
  const held = ports.reserve('shop/a', a);
  const b = claimPorts(['shop/b|80/TCP|', 'shop/b|81/TCP|'], ports);
  assert.deepEqual([a[0].port, ...b.map((c) => c.port)], [14000, 14001, 14002]);
  ports.reserve('shop/b', b).commit();
  assert.throws(() => claimPorts(['shop/c|80/TCP|'], ports), PortsExhaustedError, 'the reserved one counts as taken');
  held.release();
  assert.deepEqual(claimPorts(['shop/c|80/TCP|'], ports).map((c) => c.port), [14000]);
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
  const claims = claimPorts(['new|80/TCP|'], p);
  assert.deepEqual(claims.map((c) => c.port), [14000]);
  p.reserve('new', claims).commit();
  assert.throws(() => claimPorts(['more|80/TCP|'], p), PortsExhaustedError);
  p.releaseShadow('shop/web-east');
  assert.equal(p.inUse(), 1, 'releasing a shadow frees all of its ports, per-pod ones too');
  assert.deepEqual(recordedPorts({ metadata: { name: 'x', namespace: 'y', annotations: { 'mirror.mesh.io/gateway-port-map': 'not json' } } }), []);
  assert.deepEqual(parsePortRange('14000-15999'), { min: 14000, max: 15999 });
  assert.throws(() => parsePortRange('15999-14000'));
  assert.throws(() => parsePortRange('abc'));
  assert.throws(() => parsePortRange('1-70000'));
});

test('keys: one string form, decoded back to the same key; anything else is refused', () => {
  const keys: MirrorKey[] = [
    { kind: 'link', name: 'east' },
    { kind: 'renew', link: 'east' },
    { kind: 'shadow', cluster: 'east', namespace: 'shop', name: 'web-east' },
    { kind: 'policy', namespace: 'shop', name: 'web' },
    { kind: 'nspolicy', namespace: 'shop' },
  ];
  for (const k of keys) assert.deepEqual(decodeKey(encodeKey(k)), k);
  assert.equal(encodeKey(keys[2]), 'shadow:east:shop/web-east');
  for (const bad of ['', 'link:', 'svc:east:shop/web', 'shadow:east:shop', 'shadow:east/x:shop/web', 'nspolicy:shop/web', 'nope']) assert.throws(() => decodeKey(bad), /not a mirror key/, bad);
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

const mine = (name: string, data: string, cluster = 'east') => ({ metadata: { name, labels: { 'mirror.mesh.io/mirrored-service': 'true', 'mirror.mesh.io/cluster-name': cluster } }, endpoints: [{ addresses: [data] }] });
const diffCases: Array<{ name: string; desired: ReturnType<typeof mine>[]; actual: Array<{ metadata: { name: string; labels?: Record<string, string> }; endpoints?: unknown[] }>; expect: Record<'create' | 'update' | 'delete' | 'unchanged' | 'conflicts', string[]> }> = [
  { name: 'nothing exists: create all', desired: [mine('a', '1'), mine('b', '2')], actual: [], expect: { create: ['a', 'b'], update: [], delete: [], unchanged: [], conflicts: [] } },
  { name: 'same content: unchanged', desired: [mine('a', '1')], actual: [mine('a', '1')], expect: { create: [], update: [], delete: [], unchanged: ['a'], conflicts: [] } },
  { name: 'changed content: update', desired: [mine('a', '1')], actual: [mine('a', 'old')], expect: { create: [], update: ['a'], delete: [], unchanged: [], conflicts: [] } },
  { name: 'ours and no longer desired: delete', desired: [], actual: [mine('stale', '9')], expect: { create: [], update: [], delete: ['stale'], unchanged: [], conflicts: [] } },
  { name: 'foreign object with a desired name: conflict, never updated', desired: [mine('taken', '4')], actual: [{ metadata: { name: 'taken', labels: { app: 'theirs' } }, endpoints: [] }], expect: { create: [], update: [], delete: [], unchanged: [], conflicts: ['taken'] } },
  { name: "another cluster's object with a desired name: conflict", desired: [mine('x', '1')], actual: [mine('x', '1', 'west')], expect: { create: [], update: [], delete: [], unchanged: [], conflicts: ['x'] } },
  { name: "unlabelled or another cluster's objects that are not desired: never deleted", desired: [], actual: [{ metadata: { name: 'unrelated' } }, mine('w', '1', 'west')], expect: { create: [], update: [], delete: [], unchanged: [], conflicts: [] } },
];

for (const c of diffCases) {
  test(`diff: ${c.name}`, () => {
    const plan = diff(c.desired, c.actual as ReturnType<typeof mine>[], 'east');
    const names = (xs: Array<{ metadata?: { name?: string } }>) => xs.map((o) => o.metadata?.name ?? '');
    assert.deepEqual(
      { create: names(plan.create), update: names(plan.update.map((u) => u.desired)), delete: names(plan.delete), unchanged: names(plan.unchanged), conflicts: names(plan.conflicts.map((x) => x.live)) },
      c.expect,
    );
  });
}

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
  // Issue 17 item 7: `period: 0ms` was accepted (880 mTLS connections in 15 s).
  ['probe.period 0ms', { ...validLink, probe: { ...validLink.probe, period: '0ms' } }, 'spec.probe.period'],
  ['probe.period below 1s', { ...validLink, probe: { ...validLink.probe, period: '999ms', timeout: '500ms' } }, 'spec.probe.period'],
  ['probe.period 0.5s', { ...validLink, probe: { ...validLink.probe, period: '0.5s', timeout: '100ms' } }, 'spec.probe.period'],
  ['probe.period past a timer\'s range', { ...validLink, probe: { ...validLink.probe, period: '100000m' } }, 'spec.probe.period'],
  ['probe.timeout zero', { ...validLink, probe: { ...validLink.probe, timeout: '0s' } }, 'spec.probe.timeout'],
  ['probe.timeout not below period', { ...validLink, probe: { ...validLink.probe, period: '2s', timeout: '2s' } }, 'spec.probe.timeout'],
  ['probe.failureThreshold above 100', { ...validLink, probe: { ...validLink.probe, failureThreshold: 101 } }, 'spec.probe.failureThreshold'],
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
