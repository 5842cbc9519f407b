// Caller attestation's pure parts: Pods → the address map (what is left out and why), the claim per source
// address, and the proxy-protocol annotation read into the snapshot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildSnapshot, type KubeState } from '../../src/gateway/index.js';
import { podCallers, type KPod } from '../../src/gateway/kube-snapshot.js';
import { CallerAttestation } from '../../src/gateway/outbound/attest.js';

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
