// Caller attestation's pure parts: Pods → the address map (what is left out and why), the claim per source
// address, and the proxy-protocol annotation read into the snapshot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildSnapshot, type KubeState } from '../../src/gateway/index.js';
import { podCallers, type KPod } from '../../src/gateway/kube-snapshot.js';
import { CallerAttestation } from '../../src/gateway/outbound/attest.js';
import { parseHosts } from '../../src/gateway/hosts.js';

const pod = (ns: string, name: string, ip: string | undefined, over: { sa?: string; hostNetwork?: boolean; phase?: string } = {}): KPod => ({
  metadata: { namespace: ns, name },
  spec: { ...(over.sa ? { serviceAccountName: over.sa } : {}), ...(over.hostNetwork ? { hostNetwork: true } : {}) },
  status: { phase: over.phase ?? 'Running', ...(ip ? { podIP: ip, podIPs: [{ ip }] } : {}) },
});

test('podCallers: host-network, finished, address-less pods and an address two pods share are left out; no SA = default', () => {
  const callers = podCallers([
    pod('demo', 'front', '10.1.0.5', { sa: 'frontend' }),
    pod('demo', 'plain', '10.1.0.6'),
    pod('kube-system', 'node-agent', '10.255.0.11', { sa: 'agent', hostNetwork: true }),
    pod('demo', 'done', '10.1.0.7', { sa: 'batch', phase: 'Succeeded' }),
    pod('demo', 'pending', undefined, { sa: 'x', phase: 'Pending' }),
    pod('a', 'one', '10.1.0.9', { sa: 'one' }),
    pod('b', 'two', '10.1.0.9', { sa: 'two' }),
  ]);
  assert.deepEqual(callers, [
    { address: '10.1.0.5', namespace: 'demo', serviceAccount: 'frontend' },
    { address: '10.1.0.6', namespace: 'demo', serviceAccount: 'default' },
  ]);
});

test('CallerAttestation: a known address claims its ServiceAccount id, IPv4-mapped too; anything else is unknown-caller of this cluster', () => {
  const a = new CallerAttestation('mesh.local', 'cluster-a');
  a.update([{ address: '10.1.0.5', namespace: 'demo', serviceAccount: 'frontend' }]);
  assert.deepEqual(a.claimFor('10.1.0.5'), { id: 'spiffe://mesh.local/ns/demo/sa/frontend', cluster: 'cluster-a' });
  assert.deepEqual(a.claimFor('::ffff:10.1.0.5'), { id: 'spiffe://mesh.local/ns/demo/sa/frontend', cluster: 'cluster-a' });
  assert.deepEqual(a.claimFor('10.1.0.6'), { id: 'unknown-caller', cluster: 'cluster-a' });
  assert.deepEqual(a.claimFor(undefined), { id: 'unknown-caller', cluster: 'cluster-a' });
  // A pod gone from the snapshot no longer attests (its address may be reused by the next pod).
  a.update([]);
  assert.deepEqual(a.claimFor('10.1.0.5'), { id: 'unknown-caller', cluster: 'cluster-a' });
});

test('buildSnapshot: proxy-protocol v2 is read from the Service; another value is reported and sends nothing; pods become callers', () => {
  const svc = (name: string, pp?: string) => ({
    metadata: { namespace: 'demo', name, labels: { 'mirror.mesh.io/exported': 'true' }, ...(pp ? { annotations: { 'mirror.mesh.io/proxy-protocol': pp } } : {}) },
    spec: { clusterIP: '10.96.0.9', ports: [{ port: 80 }] },
  });
  const st: KubeState = { exported: [svc('web', 'v2'), svc('odd', 'v1'), svc('plain')], slices: [], linkAccounts: [], routes: undefined, links: [], pods: [pod('demo', 'front', '10.1.0.5', { sa: 'frontend' })] };
  const { snapshot, problems } = buildSnapshot(st);
  assert.deepEqual(snapshot.exported.map((e) => [e.name, e.proxyProtocol]), [['web', 'v2'], ['odd', undefined], ['plain', undefined]]);
  assert.equal(problems.length, 1);
  assert.match(problems[0]!, /demo\/odd: mirror\.mesh\.io\/proxy-protocol "v1" is not one of: v2/);
  assert.deepEqual(snapshot.callers, [{ address: '10.1.0.5', namespace: 'demo', serviceAccount: 'frontend' }]);
  assert.equal(buildSnapshot({ ...st, pods: undefined }).snapshot.callers, undefined);
});

test('IPv6 callers are keyed as a socket prints its address: a long or upper-case spelling attests the client, one pod with two spellings is one pod', () => {
  const a = new CallerAttestation('mesh.local', 'cluster-a');
  a.update([
    { address: 'FD00:10:1:0:0:0:A:5', namespace: 'demo', serviceAccount: 'frontend6' },
    { address: '10.1.0.5', namespace: 'demo', serviceAccount: 'frontend' },
    { address: 'not-an-ip', namespace: 'demo', serviceAccount: 'nobody' },
  ]);
  assert.equal(a.size(), 2, 'an entry that is no IP address attests nothing');
  // What Node gives as remoteAddress for a client at that address.
  assert.deepEqual(a.claimFor('fd00:10:1::a:5'), { id: 'spiffe://mesh.local/ns/demo/sa/frontend6', cluster: 'cluster-a' });
  assert.deepEqual(a.claimFor('10.1.0.5'), { id: 'spiffe://mesh.local/ns/demo/sa/frontend', cluster: 'cluster-a' });
  assert.deepEqual(a.claimFor('fd00:10:1::a:6'), { id: 'unknown-caller', cluster: 'cluster-a' });
  const dual: KPod = { metadata: { namespace: 'demo', name: 'front' }, spec: { serviceAccountName: 'frontend' }, status: { phase: 'Running', podIP: '10.1.0.5', podIPs: [{ ip: '10.1.0.5' }, { ip: 'fd00:10:1:0::a:5' }] } };
  const again: KPod = { ...dual, status: { ...dual.status, podIP: 'fd00:10:1::A:5', podIPs: [{ ip: 'fd00:10:1::a:5' }, { ip: '10.1.0.5' }] } };
  assert.deepEqual(podCallers([dual]), [
    { address: '10.1.0.5', namespace: 'demo', serviceAccount: 'frontend' },
    { address: 'fd00:10:1::a:5', namespace: 'demo', serviceAccount: 'frontend' },
  ]);
  assert.deepEqual(podCallers([again]).map((c) => c.address), ['10.1.0.5', 'fd00:10:1::a:5']);
});

test('--host lists: canonical addresses in order; not an IP, a repeat in another spelling, an IPv4-mapped address or a wildcard beside others is refused, naming the entry', () => {
  assert.deepEqual(parseHosts('10.1.0.5, FD00:10:1:0:0:0:A:5'), { ok: true, hosts: ['10.1.0.5', 'fd00:10:1::a:5'] });
  assert.deepEqual(parseHosts(['::1']), { ok: true, hosts: ['::1'] });
  assert.deepEqual(parseHosts('0.0.0.0'), { ok: true, hosts: ['0.0.0.0'] });
  const refused: Array<[string, RegExp]> = [
    ['127.0.0.1,localhost', /invalid entry "localhost": not an IP address/],
    ['10.1.0.5,10.1.0.300', /invalid entry "10.1.0.300": not an IP address/],
    ['::1,0:0:0:0:0:0:0:1', /invalid entry "0:0:0:0:0:0:0:1": the same address as "::1"/],
    ['::ffff:10.1.0.5', /invalid entry "::ffff:10.1.0.5": an IPv4-mapped address; give the IPv4 address 10.1.0.5/],
    ['0.0.0.0,::1', /invalid entry "0.0.0.0": a wildcard address binds every address/],
    [' , ', /no address given/],
  ];
  for (const [input, message] of refused) {
    const p = parseHosts(input);
    assert.equal(p.ok, false, input);
    assert.match(p.ok ? '' : p.message, message);
  }
});
