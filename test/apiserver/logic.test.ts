// The REST core's pure logic, in-process: selectors, patch algorithms, field ownership paths, IP
// allocation, the serving certificate's SANs, and the snapshot round trip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { matchSelector, parseFieldSelector, parseLabelSelector, matchFields } from '../../src/apiserver/selectors.js';
import { mergePatch, strategicMerge, leafPaths, toFieldsV1, fromFieldsV1, changedLeaves, deepEqual, type JsonObject } from '../../src/apiserver/patch.js';
import { IpAllocator } from '../../src/apiserver/allocators.js';
import { loadPki } from '../../src/apiserver/pki.js';
import { Store, type Obj } from '../../src/apiserver/store.js';

test('label selectors: equality, inequality, set-based, existence', () => {
  const labels = { app: 'web', tier: 'front', env: 'prod' };
  const cases: [string, boolean][] = [
    ['app=web', true],
    ['app==web,tier=front', true],
    ['app!=web', false],
    ['tier in (front, back)', true],
    ['tier notin (front)', false],
    ['env', true],
    ['!env', false],
    ['!missing', true],
    ['missing notin (x)', true],
    ['missing in (x)', false],
    ['', true],
  ];
  for (const [sel, want] of cases) assert.equal(matchSelector(parseLabelSelector(sel), labels), want, sel);
  assert.throws(() => parseLabelSelector('a in (('), /unable to parse|invalid/);
});

test('field selectors: metadata.name/namespace, negation, unsupported fields refused', () => {
  const o = { metadata: { name: 'a', namespace: 'n' }, involvedObject: { kind: 'Pod' } };
  assert.equal(matchFields(parseFieldSelector('metadata.name=a,metadata.namespace=n'), o), true);
  assert.equal(matchFields(parseFieldSelector('metadata.name!=a'), o), false);
  assert.equal(matchFields(parseFieldSelector('involvedObject.kind=Pod'), o), true);
  assert.throws(() => parseFieldSelector('spec.whatever=1'), /not supported/);
});

test('JSON merge patch: null deletes, objects merge, lists replace', () => {
  assert.deepEqual(mergePatch({ a: 1, b: { c: 2, d: 3 }, l: [1, 2] }, { a: null, b: { c: 5 }, l: [3] }), { b: { c: 5, d: 3 }, l: [3] });
});

test('strategic merge: Service ports by port, containers by name, env by name, $patch delete, finalizers as a set', () => {
  const svc: JsonObject = { spec: { ports: [{ port: 80, targetPort: 8080 }, { port: 443 }] } };
  assert.deepEqual(strategicMerge(svc, { spec: { ports: [{ port: 80, targetPort: 9090 }] } }), { spec: { ports: [{ port: 80, targetPort: 9090 }, { port: 443 }] } });
  assert.deepEqual(strategicMerge(svc, { spec: { ports: [{ port: 443, $patch: 'delete' }] } }), { spec: { ports: [{ port: 80, targetPort: 8080 }] } });
  const pod = { spec: { containers: [{ name: 'a', image: 'x', env: [{ name: 'A', value: '1' }] }] } };
  const out = strategicMerge(pod, { spec: { containers: [{ name: 'a', env: [{ name: 'B', value: '2' }] }, { name: 'b', image: 'y' }] } }) as { spec: { containers: { name: string; image: string; env?: { name: string }[] }[] } };
  assert.equal(out.spec.containers.length, 2);
  assert.equal(out.spec.containers[0].image, 'x');
  assert.deepEqual(out.spec.containers[0].env?.map((e) => e.name), ['A', 'B']);
  assert.deepEqual(strategicMerge({ metadata: { finalizers: ['a'] } }, { metadata: { finalizers: ['b', 'a'] } }), { metadata: { finalizers: ['a', 'b'] } });
  assert.throws(() => strategicMerge(svc, { spec: { ports: [{ name: 'no-key' }] } }), /merge key/);
});

test('field paths: keyed lists get per-item paths; fieldsV1 round-trips; changedLeaves finds exactly the changes', () => {
  const a: JsonObject = { spec: { ports: [{ port: 80, targetPort: 8080 }], selector: { app: 'x' } } };
  const paths = leafPaths(a);
  const back = fromFieldsV1(toFieldsV1(paths));
  assert.deepEqual([...back].sort(), [...paths].sort());
  assert.ok(toFieldsV1(paths)['f:spec'] !== undefined);
  const b: JsonObject = { spec: { ports: [{ port: 80, targetPort: 9090 }], selector: { app: 'x' } } };
  const changed = [...changedLeaves(a, b)];
  assert.equal(changed.length, 1);
  assert.match(changed[0], /k:\{"port":80\}.*f:targetPort/s);
  assert.equal(deepEqual({ x: [1, { y: 2 }] }, { x: [1, { y: 2 }] }), true);
  assert.equal(deepEqual({ x: 1 }, { x: 1, y: undefined as never }), false);
});

test('ClusterIP allocator: stays inside the CIDR, never hands out an address twice, reuses released ones', () => {
  const ips = new IpAllocator('10.1.2.0/29');
  assert.equal(ips.first, '10.1.2.1');
  const got = new Set<string>();
  for (let i = 0; i < 6; i++) {
    const ip = ips.allocate();
    assert.ok(ip && ips.contains(ip), `in range: ${ip}`);
    got.add(ip);
  }
  assert.equal(got.size, 6);
  assert.equal(ips.allocate(), undefined, 'a full range says so');
  ips.release('10.1.2.3');
  assert.equal(ips.allocate(), '10.1.2.3');
  assert.throws(() => new IpAllocator('not-a-cidr'));
});

test('the serving certificate is signed by the persisted CA and covers loopback and advertise addresses', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pki-'));
  try {
    const a = loadPki(dir, 'c1', ['127.0.0.1', 'localhost', '127.0.0.9', 'api.example.test']);
    const b = loadPki(dir, 'c1', ['127.0.0.1']);
    assert.equal(a.caPem, b.caPem, 'the CA persists');
    assert.equal(a.adminToken, b.adminToken, 'the admin token persists');
    assert.equal(a.saSigningKeyPem, b.saSigningKeyPem, 'the SA signing key persists');
    assert.match(a.saSigningKeyPem, /BEGIN PRIVATE KEY/);
    const ca = new X509Certificate(a.caPem);
    const cert = new X509Certificate(a.certPem);
    assert.ok(cert.verify(ca.publicKey));
    assert.ok(cert.checkIP('127.0.0.9'));
    assert.ok(cert.checkHost('api.example.test'));
    assert.ok(cert.checkHost('localhost'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the snapshot keeps objects and the resourceVersion counter; old watch positions are gone after reload', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'snap-'));
  try {
    const path = join(dir, 'state.json');
    const s1 = new Store({ watchWindow: 100, snapshotPath: path });
    const mk = (name: string): Obj => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'd', uid: `u-${name}`, resourceVersion: String(s1.next()) } });
    s1.put('configmaps', mk('a'), 'ADDED');
    s1.put('configmaps', mk('b'), 'ADDED');
    await s1.flush();
    s1.close();
    const s2 = new Store({ watchWindow: 100, snapshotPath: path });
    assert.equal(s2.resourceVersion, 2);
    assert.deepEqual(s2.list('configmaps').map((o) => o.metadata.name).sort(), ['a', 'b']);
    assert.equal(s2.eventsSince('configmaps', undefined, 1), undefined, 'resuming from before the restart is 410');
    assert.deepEqual(s2.eventsSince('configmaps', undefined, 2), [], 'resuming from the latest version works');
    assert.equal(s2.byUid('u-a')?.metadata.name, 'a');
    s2.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('strategic merge keys ports by number and protocol: 53/UDP and 53/TCP both stay (DNS Services, mesh-dns)', () => {
  const svc = { spec: { ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }] } };
  const merged = strategicMerge(svc, { spec: { ports: [{ name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 5353 }] } }) as typeof svc;
  assert.deepEqual(merged.spec.ports, [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 5353 }]);
  const pod = { spec: { containers: [{ name: 'c', ports: [{ containerPort: 5353, protocol: 'UDP' }] }] } };
  const p2 = strategicMerge(pod, { spec: { containers: [{ name: 'c', ports: [{ containerPort: 5353 }] }] } }) as typeof pod;
  assert.deepEqual(p2.spec.containers[0]?.ports, [{ containerPort: 5353, protocol: 'UDP' }, { containerPort: 5353 }], 'no protocol means TCP: a second port');
});
