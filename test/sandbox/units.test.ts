// Pure parts of the sandbox: address plans, endpoint slices, workload plans, container resolution and env.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planCluster, parseClusterList, parseDomains, podIPv6, serviceCidrs, IpAllocator } from '../../src/sandbox/plan.js';
import { desiredEndpointSlices, desiredEndpoints } from '../../src/sandbox/endpoints.js';
import { planStatefulSet, templateHash, TEMPLATE_HASH_LABEL } from '../../src/sandbox/workloads.js';
import { planDeploymentRollout, planJob, planReplicaSet, REVISION_ANNOTATION } from '../../src/sandbox/rollout.js';
import { resolveContainer, buildEnv, expandVars, podStatus, rewriteMountPaths } from '../../src/sandbox/podspec.js';
import { SandboxError } from '../../src/sandbox/errors.js';
import { staleSandboxNetns } from '../../src/sandbox/netns-stale.js';
import type { Deployment, Job, Pod, ReplicaSet, Service, StatefulSet } from '../../src/sandbox/types.js';

function pod(name: string, labels: Record<string, string>, ip: string | undefined, ready: boolean, extra: Partial<Pod['spec']> = {}, meta: Partial<Pod['metadata']> = {}): Pod {
  return {
    metadata: { name, namespace: 'demo', uid: `uid-${name}`, labels, ...meta },
    spec: { containers: [{ name: 'c', image: 'mesh-federation:dev', ports: [{ name: 'http', containerPort: 8080 }] }], nodeName: 'a-node', ...extra },
    status: { phase: 'Running', ...(ip ? { podIP: ip } : {}), conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  };
}

const svc: Service = {
  metadata: { name: 'web', namespace: 'demo', uid: 'svc-uid' },
  spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
};

test('plans: loopback clusters get their own 127.X range, isolated ones private ranges and a netns', () => {
  const a = planCluster({ name: 'cluster-a', index: 1, domain: 'cluster.local', mode: 'loopback', loopbackOctet: 42 });
  assert.equal(a.nodeAddress, '127.42.0.1');
  assert.equal(a.podFirst, '127.42.1.1');
  assert.equal(a.serviceCIDR, '127.42.128.0/17');
  const b = planCluster({ name: 'cluster-b', index: 2, domain: 'b.local', mode: 'isolated', netnsPrefix: 'msbabc' });
  assert.equal(b.nodeAddress, '10.255.0.12');
  assert.equal(b.podCIDR, '10.2.0.0/16');
  assert.equal(b.serviceCIDR, '10.102.0.0/16');
  assert.equal(b.netns, 'msbabc-2');
  assert.throws(() => planCluster({ name: 'x', index: 1, domain: 'd', mode: 'loopback' }), SandboxError);
});

test('flags: cluster lists and domains are validated with clear errors', () => {
  assert.deepEqual(parseClusterList('cluster-a, cluster-b'), ['cluster-a', 'cluster-b']);
  assert.throws(() => parseClusterList('A_b'), /DNS labels/);
  assert.throws(() => parseClusterList('a,a'), /twice/);
  assert.throws(() => parseClusterList(''), /at least one/);
  assert.deepEqual([...parseDomains('cluster-b=b.local', ['cluster-a', 'cluster-b'])], [['cluster-a', 'cluster.local'], ['cluster-b', 'b.local']]);
  assert.throws(() => parseDomains('nope=x.local', ['cluster-a']), /<cluster>=<domain>/);
  assert.throws(() => parseDomains('bad domain', ['cluster-a']), /not a DNS name/);
});

test('ip allocator: stable per owner, reuses released addresses, skips .0 and .255, reports exhaustion', () => {
  const a = new IpAllocator('10.1.0.254', '10.1.1.2');
  const x = a.allocate('p1');
  assert.equal(x, '10.1.0.254');
  assert.equal(a.allocate('p1'), x);
  assert.equal(a.allocate('p2'), '10.1.1.1');
  assert.equal(a.allocate('p3'), '10.1.1.2');
  assert.throws(() => a.allocate('p4'), (e: unknown) => e instanceof SandboxError && e.code === 'PodCIDRExhausted');
  a.release('p2');
  assert.equal(a.allocate('p4'), '10.1.1.1');
});

test('endpoint slices: named ports, readiness, terminating, hostname only for the matching subdomain', () => {
  const pods = [
    pod('web-1', { app: 'web' }, '127.9.1.1', true, { hostname: 'web-1', subdomain: 'web' }),
    pod('web-2', { app: 'web' }, '127.9.1.2', false),
    pod('web-3', { app: 'web' }, '127.9.1.3', true, {}, { deletionTimestamp: '2026-01-01T00:00:00Z' }),
    pod('other', { app: 'other' }, '127.9.1.4', true),
    pod('web-noip', { app: 'web' }, undefined, false),
  ];
  const [slice, ...rest] = desiredEndpointSlices(svc, pods);
  assert.equal(rest.length, 0);
  assert.equal(slice!.metadata.labels!['kubernetes.io/service-name'], 'web');
  assert.deepEqual(slice!.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
  assert.deepEqual(slice!.endpoints.map((e) => [e.addresses[0], e.conditions, e.hostname]), [
    ['127.9.1.1', { ready: true, serving: true, terminating: false }, 'web-1'],
    ['127.9.1.2', { ready: false, serving: false, terminating: false }, undefined],
    ['127.9.1.3', { ready: false, serving: true, terminating: true }, undefined],
  ]);
  assert.equal(slice!.metadata.ownerReferences![0]!.uid, 'svc-uid');
  const ep = desiredEndpoints(svc, pods);
  assert.deepEqual(ep.subsets[0]!.addresses!.map((a) => a.ip), ['127.9.1.1']);
  assert.deepEqual(ep.subsets[0]!.notReadyAddresses!.map((a) => a.ip), ['127.9.1.2']);
  // No pods: one empty slice, so "no endpoints" is visible.
  assert.equal(desiredEndpointSlices(svc, [])[0]!.endpoints.length, 0);
  // The slice name is deterministic.
  assert.equal(desiredEndpointSlices(svc, pods)[0]!.metadata.name, slice!.metadata.name);
});

function deployment(replicas: number, image = 'mesh-federation:1'): Deployment {
  return {
    metadata: { name: 'web', namespace: 'demo', uid: 'd-uid', generation: 3 },
    spec: { replicas, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image }] } } },
  };
}

/** A ReplicaSet of `d` as the controller made it, with `available` of `replicas` pods available. */
function rsOf(d: Deployment, revision: number, replicas: number, available: number): ReplicaSet {
  const hash = templateHash(d.spec.template);
  return {
    metadata: { name: `web-${hash}`, namespace: 'demo', uid: `rs-${hash}`, labels: { app: 'web', [TEMPLATE_HASH_LABEL]: hash }, annotations: { [REVISION_ANNOTATION]: String(revision) }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'd-uid', controller: true }] },
    spec: { replicas, selector: { matchLabels: { app: 'web', [TEMPLATE_HASH_LABEL]: hash } }, template: d.spec.template },
    status: { replicas, readyReplicas: available, availableReplicas: available },
  };
}

test('deployment: a ReplicaSet per template, with revision 1 and the owner; status from the ReplicaSets', () => {
  const d = deployment(3);
  const p0 = planDeploymentRollout(d, []);
  assert.equal(p0.create?.spec.replicas, 3);
  assert.equal(p0.create?.metadata.name, `web-${templateHash(d.spec.template)}`);
  assert.equal(p0.create?.metadata.ownerReferences?.[0]?.uid, 'd-uid');
  assert.equal(p0.create?.metadata.annotations?.[REVISION_ANNOTATION], '1');
  assert.equal(p0.create?.spec.template.metadata?.labels?.[TEMPLATE_HASH_LABEL], templateHash(d.spec.template));
  assert.equal(p0.revision, '1');
  const st = planDeploymentRollout(d, [rsOf(d, 1, 3, 2)]).status;
  assert.equal(st['replicas'], 3);
  assert.equal(st['availableReplicas'], 2);
  assert.equal(st['updatedReplicas'], 3);
  assert.equal(st['observedGeneration'], 3);
  assert.deepEqual(planDeploymentRollout(deployment(2), [rsOf(d, 1, 3, 3)]).update, [{ name: `web-${templateHash(d.spec.template)}`, replicas: 2 }]);
});

test('deployment: a template change rolls within maxSurge/maxUnavailable; undo makes the old ReplicaSet the newest revision', () => {
  const oldD = deployment(4, 'mesh-federation:1');
  const newD = deployment(4, 'mesh-federation:2');
  const step1 = planDeploymentRollout(newD, [rsOf(oldD, 1, 4, 4)]);
  // 25% surge of 4 = 1 new pod; 25% unavailable of 4 = 1 old pod may go.
  assert.equal(step1.create?.spec.replicas, 1);
  assert.equal(step1.create?.metadata.annotations?.[REVISION_ANNOTATION], '2');
  assert.deepEqual(step1.update, [{ name: `web-${templateHash(oldD.spec.template)}`, replicas: 3 }]);
  const done = planDeploymentRollout(newD, [rsOf(oldD, 1, 1, 1), rsOf(newD, 2, 4, 4)]);
  assert.deepEqual(done.update, [{ name: `web-${templateHash(oldD.spec.template)}`, replicas: 0 }]);
  const undo = planDeploymentRollout(oldD, [rsOf(oldD, 1, 0, 0), rsOf(newD, 2, 4, 4)]);
  assert.equal(undo.create, undefined);
  assert.deepEqual(undo.update[0], { name: `web-${templateHash(oldD.spec.template)}`, replicas: 1, revision: '3' });
  assert.equal(undo.revision, '3');
});

test('replicaset: scale up from the template, scale down not-ready first; job: runs to completions, fails past backoffLimit', () => {
  const d = deployment(3);
  const rs = rsOf(d, 1, 3, 0);
  const up = planReplicaSet(rs, []);
  assert.equal(up.create.length, 3);
  assert.equal(up.create[0]!.metadata.ownerReferences![0]!.kind, 'ReplicaSet');
  const owned = (n: string, ready: boolean) => pod(n, { app: 'web' }, '127.9.1.9', ready, {}, { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs.metadata.name, uid: rs.metadata.uid!, controller: true }] });
  assert.deepEqual(planReplicaSet({ ...rs, spec: { ...rs.spec, replicas: 2 } }, [owned('a', true), owned('b', false), owned('c', true)]).delete, ['b']);
  const job: Job = { metadata: { name: 'once', namespace: 'demo', uid: 'j-uid' }, spec: { completions: 2, parallelism: 1, backoffLimit: 1, template: d.spec.template } };
  const now = '2026-01-01T00:00:00Z';
  assert.equal(planJob(job, [], now).create.length, 1);
  const phase = (n: string, ph: string): Pod => ({ ...pod(n, {}, undefined, false), status: { phase: ph } });
  const complete = planJob(job, [phase('x', 'Succeeded'), phase('y', 'Succeeded')], now);
  assert.equal(complete.create.length, 0);
  assert.ok((complete.status['conditions'] as Array<{ type: string }>).some((c) => c.type === 'Complete'));
  const failed = planJob(job, [phase('x', 'Failed'), phase('y', 'Failed'), phase('z', 'Running')], now);
  assert.ok((failed.status['conditions'] as Array<{ type: string }>).some((c) => c.type === 'Failed'));
  assert.deepEqual(failed.delete, ['z']);
});

test('statefulset: ordinal names with hostname/subdomain, ordered start, scale down from the top', () => {
  const s: StatefulSet = {
    metadata: { name: 'db', namespace: 'demo', uid: 's-uid' },
    spec: { replicas: 3, serviceName: 'db', selector: { matchLabels: { app: 'db' } }, template: { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'c', image: 'mesh-federation:1' }] } } },
  };
  const p = planStatefulSet(s, []);
  assert.deepEqual(p.create.map((x) => [x.metadata.name, x.spec.hostname, x.spec.subdomain]), [['db-0', 'db-0', 'db']]);
  const mk = (n: string, ready: boolean) => { const q = p.create[0]!; return { ...q, metadata: { ...q.metadata, name: n }, status: { conditions: [{ type: 'Ready' as const, status: (ready ? 'True' : 'False') as 'True' | 'False' }] } }; };
  assert.deepEqual(planStatefulSet(s, [mk('db-0', false)]).create.length, 0);
  assert.deepEqual(planStatefulSet(s, [mk('db-0', true)]).create.map((x) => x.metadata.name), ['db-1']);
  assert.deepEqual(planStatefulSet({ ...s, spec: { ...s.spec, replicas: 1 } }, [mk('db-0', true), mk('db-1', true), mk('db-2', true)]).delete.sort(), ['db-1', 'db-2']);
});

test('containers: the mesh image runs bin/mesh.js with args; other images are ErrImagePull', () => {
  assert.deepEqual(resolveContainer({ name: 'c', image: 'mesh-federation:0.1.0', args: ['app', 'http-echo'] }, '/r/bin/mesh.js'), { ok: true, argv: ['/r/bin/mesh.js', 'app', 'http-echo'] });
  assert.deepEqual(resolveContainer({ name: 'c', image: 'ghcr.io/x/mesh-federation:dev', command: ['node', '/app/bin/mesh.js'], args: ['gateway'] }, '/m'), { ok: true, argv: ['/m', 'gateway'] });
  const bad = resolveContainer({ name: 'c', image: 'nginx:1.27' }, '/m');
  assert.equal(bad.ok, false);
  assert.equal(!bad.ok && bad.reason, 'ErrImagePull');
  const badCmd = resolveContainer({ name: 'c', image: 'mesh-federation:1', command: ['/bin/sh', '-c', 'x'] }, '/m');
  assert.equal(!badCmd.ok && badCmd.reason, 'RunContainerError');
});

test('env: fieldRefs, secret refs, $(VAR) expansion, missing secret is a config error', () => {
  const p = pod('web-1', { app: 'web' }, '127.9.1.1', true, { serviceAccountName: 'sa1' });
  const env = buildEnv(
    { name: 'c', env: [
      { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
      { name: 'SA', valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } },
      { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
      { name: 'PW', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
      { name: 'URL', value: 'http://$(POD_IP):8080/$(NOPE)$$' },
    ] },
    { pod: p, podIP: '127.9.1.1', hostIP: '127.9.0.1', base: { BASE: '1' }, lookup: (kind, name, key) => (kind === 'secret' && name === 's' && key === 'k' ? 'pw' : undefined) },
  );
  assert.deepEqual(env, { BASE: '1', POD_IP: '127.9.1.1', POD_NAME: 'web-1', NS: 'demo', NODE: 'a-node', SA: 'sa1', APP: 'web', PW: 'pw', URL: 'http://127.9.1.1:8080/$(NOPE)$' });
  // status.podIPs: comma-joined, as Kubernetes gives it (a dual-stack pod's IPv6 address after its IPv4 one);
  // status.hostIPs stays the node's address.
  const ips = [
    { name: 'POD_IPS', valueFrom: { fieldRef: { fieldPath: 'status.podIPs' } } },
    { name: 'HOST_IPS', valueFrom: { fieldRef: { fieldPath: 'status.hostIPs' } } },
  ];
  const base = { pod: p, podIP: '10.1.0.5', hostIP: '10.255.0.2', base: {}, lookup: () => undefined };
  assert.deepEqual(buildEnv({ name: 'c', env: ips }, { ...base, podIPs: ['10.1.0.5', 'fd00:10:1::a:5'] }), { POD_IPS: '10.1.0.5,fd00:10:1::a:5', HOST_IPS: '10.255.0.2' });
  assert.deepEqual(buildEnv({ name: 'c', env: ips }, base), { POD_IPS: '10.1.0.5', HOST_IPS: '10.255.0.2' });
  assert.throws(() => buildEnv({ name: 'c', env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'gone', key: 'k' } } }] }, { pod: p, podIP: '', hostIP: '', base: {}, lookup: () => undefined }), /secret "gone"/);
  assert.equal(expandVars('$(A)-$(B)', { A: 'x' }), 'x-$(B)');
});

test('pod status: Ready follows containers, transition times stay put while unchanged', () => {
  const p = pod('w', {}, undefined, false);
  p.status = undefined;
  const running = { name: 'c', image: 'i', imageID: '', ready: true, restartCount: 0, state: { running: { startedAt: 't0' } } };
  const s1 = podStatus(p, [running], { podIP: '127.9.1.1', hostIP: '127.9.0.1', startTime: 't0', now: 'T1' });
  assert.equal(s1.phase, 'Running');
  assert.equal(s1.conditions!.find((c) => c.type === 'Ready')!.status, 'True');
  const s2 = podStatus({ ...p, status: s1 }, [running], { podIP: '127.9.1.1', hostIP: '127.9.0.1', startTime: 't0', now: 'T2' });
  assert.equal(s2.conditions!.find((c) => c.type === 'Ready')!.lastTransitionTime, 'T1');
  const waiting = { ...running, ready: false, state: { waiting: { reason: 'ErrImagePull' } } };
  const s3 = podStatus(p, [waiting], { hostIP: 'h', startTime: 't0', now: 'T3' });
  assert.equal(s3.phase, 'Pending');
  assert.equal(s3.conditions!.find((c) => c.type === 'Ready')!.status, 'False');
});

test('mount paths in args and env point at the pod root; other paths stay', () => {
  const mounts = ['/var/run/mesh/issuer', '/var/run/mesh', '/etc/cfg/'];
  assert.equal(rewriteMountPaths('--issuer=/var/run/mesh/issuer/tls.crt', mounts, '/r'), '--issuer=/r/var/run/mesh/issuer/tls.crt');
  assert.equal(rewriteMountPaths('/var/run/mesh/x', mounts, '/r'), '/r/var/run/mesh/x');
  assert.equal(rewriteMountPaths('/etc/cfg', mounts, '/r'), '/r/etc/cfg');
  assert.equal(rewriteMountPaths('/var/run/meshy/x', mounts, '/r'), '/var/run/meshy/x');
  assert.equal(rewriteMountPaths('--port=8080', mounts, '/r'), '--port=8080');
  assert.equal(rewriteMountPaths('x/var/run/mesh/y', mounts, '/r'), 'x/var/run/mesh/y');
});

test('stale network namespaces: a killed sandbox\'s are removed, a running or starting one\'s are kept, others are not ours', () => {
  const old = 120_000;
  const all = [
    { name: 'msbaaaaaa-1', pids: [], ageMs: old },
    { name: 'msbaaaaaa-ul', pids: [], ageMs: old },
    { name: 'msbbbbbbb-1', pids: [4242], ageMs: old },
    { name: 'msbbbbbbb-ul', pids: [], ageMs: old },
    { name: 'msbcccccc-1', pids: [], ageMs: 1_000 },
    { name: 'msbdddddd-1', pids: [], ageMs: old },
    { name: 'someone-else', pids: [], ageMs: old },
  ];
  assert.deepEqual(staleSandboxNetns(all, (id) => id === 'dddddd', 60_000), ['msbaaaaaa-1', 'msbaaaaaa-ul']);
});

test('dual-stack plans and slices: IPv6 ranges only with dualStack, pod IPv6 from its IPv4, one slice set per Service family', () => {
  const iso = planCluster({ name: 'a', index: 3, domain: 'cluster.local', mode: 'isolated', dualStack: true });
  assert.equal(serviceCidrs(iso), '10.103.0.0/16,fd00:10:103::/108');
  assert.equal(podIPv6(iso, '10.3.1.2'), 'fd00:10:3::1:2');
  assert.equal(podIPv6(iso, '10.3.255.254'), 'fd00:10:3::ff:fe');
  const loop = planCluster({ name: 'a', index: 1, domain: 'cluster.local', mode: 'loopback', loopbackOctet: 77, dualStack: true });
  assert.equal(serviceCidrs(loop), '127.77.128.0/17,fd00:127:77::/108');
  assert.equal(loop.podCIDR6, undefined, 'loopback pods have no IPv6 address (only ::1 is local)');
  const single = planCluster({ name: 'a', index: 3, domain: 'cluster.local', mode: 'isolated' });
  assert.equal(serviceCidrs(single), '10.103.0.0/16');
  assert.equal(podIPv6(single, '10.3.1.2'), undefined);

  const p1 = pod('w-1', { app: 'w' }, '10.3.1.1', true);
  p1.status = { ...p1.status, podIPs: [{ ip: '10.3.1.1' }, { ip: 'fd00:10:3::1:1' }] } as Pod['status'];
  const p2 = pod('w-2', { app: 'w' }, '10.3.1.2', true);
  const svc = (ipFamilies?: string[]): Service => ({ metadata: { name: 'w', namespace: 'demo', uid: 'u' }, spec: { selector: { app: 'w' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }], ...(ipFamilies ? { ipFamilies } : {}) } });
  const v4only = desiredEndpointSlices(svc(), [p1, p2]);
  assert.deepEqual(v4only.map((x) => [x.addressType, x.endpoints.map((e) => e.addresses[0])]), [['IPv4', ['10.3.1.1', '10.3.1.2']]]);
  assert.deepEqual(desiredEndpointSlices(svc(['IPv4']), [p1, p2]).map((x) => x.metadata.name), v4only.map((x) => x.metadata.name), 'IPv4 slice names as before');
  const dual = desiredEndpointSlices(svc(['IPv6', 'IPv4']), [p1, p2]);
  assert.deepEqual(dual.map((x) => [x.addressType, x.endpoints.map((e) => e.addresses[0])]), [['IPv6', ['fd00:10:3::1:1']], ['IPv4', ['10.3.1.1', '10.3.1.2']]]);
  assert.notEqual(dual[0]!.metadata.name, dual[1]!.metadata.name);
  const six = desiredEndpointSlices(svc(['IPv6']), [p2]);
  assert.deepEqual(six.map((x) => [x.addressType, x.endpoints.length]), [['IPv6', 0]], 'a pod without an IPv6 address is in no IPv6 slice');
});
