// The built-in types the project writes, through client-node's typed APIs: pods (status subresource,
// finalizer-held deletion), deployments (generation), leases, events, PDBs, Services (allocation rules),
// server-side apply, deletecollection, dry-run, and custom resources with strict field validation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  ApiException,
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  ApiextensionsV1Api,
  EventsV1Api,
  PatchStrategy,
  PolicyV1Api,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { startApiServer, type TestApiServer } from '../helpers/apiserver.js';
import { stopAll } from '../helpers/process.js';

let srv: TestApiServer;
let core: CoreV1Api;
const ns = 'res';
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const apply = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);

before(async () => {
  srv = await startApiServer({ args: ['--service-cidr', '10.100.0.0/24'] });
  core = srv.kubeConfig.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: ns } } });
});
after(async () => {
  await srv?.stop();
  await stopAll();
});

async function code(p: Promise<unknown>): Promise<{ code: number; body: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ApiException) return { code: e.code, body: String(e.body) };
    throw e;
  }
  return { code: 200, body: '' };
}

test('pods: defaults, status subresource, and a finalizer-held graceful delete', async () => {
  const pod = await core.createNamespacedPod({ namespace: ns, body: { metadata: { name: 'p1' }, spec: { containers: [{ name: 'c', image: 'mesh-federation:dev' }] } } });
  assert.equal(pod.status?.phase, 'Pending');
  assert.equal(pod.spec?.restartPolicy, 'Always');
  assert.equal(pod.spec?.serviceAccountName, 'default');
  const running = await core.replaceNamespacedPodStatus({ namespace: ns, name: 'p1', body: { ...pod, status: { phase: 'Running', podIP: '127.0.0.5' }, spec: { ...pod.spec!, nodeName: 'ignored' } } });
  assert.equal(running.status?.phase, 'Running');
  assert.equal(running.spec?.nodeName, undefined, 'a status write changes status only');
  assert.equal(running.metadata?.generation, pod.metadata?.generation);
  assert.ok(Number(running.metadata?.resourceVersion) > Number(pod.metadata?.resourceVersion), 'a status write gets a new resourceVersion');
  assert.equal((await core.readNamespacedPod({ namespace: ns, name: 'p1' })).metadata?.resourceVersion, running.metadata?.resourceVersion);
  const spec = await core.patchNamespacedPod({ namespace: ns, name: 'p1', body: { metadata: { finalizers: ['sandbox.mesh.io/kubelet'] }, status: { phase: 'Failed' } } }, merge);
  assert.equal(spec.status?.phase, 'Running', 'the main resource ignores status');
  await core.deleteNamespacedPod({ namespace: ns, name: 'p1' });
  const terminating = await core.readNamespacedPod({ namespace: ns, name: 'p1' });
  assert.ok(terminating.metadata?.deletionTimestamp);
  assert.equal(terminating.metadata?.deletionGracePeriodSeconds, 30, 'the pod\'s terminationGracePeriodSeconds');
  await core.patchNamespacedPod({ namespace: ns, name: 'p1', body: { metadata: { finalizers: null } } }, merge);
  assert.equal((await code(core.readNamespacedPod({ namespace: ns, name: 'p1' }))).code, 404);
  const bad = await code(core.createNamespacedPod({ namespace: ns, body: { metadata: { name: 'p2' }, spec: { containers: [] } } }));
  assert.equal(bad.code, 422);
});

test('deployments: replicas defaulted, generation moves on spec changes only', async () => {
  const apps = srv.kubeConfig.makeApiClient(AppsV1Api);
  const d = await apps.createNamespacedDeployment({ namespace: ns, body: { metadata: { name: 'd' }, spec: { selector: { matchLabels: { app: 'd' } }, template: { metadata: { labels: { app: 'd' } }, spec: { containers: [{ name: 'c', image: 'x' }] } } } } });
  assert.equal(d.spec?.replicas, 1);
  assert.equal(d.metadata?.generation, 1);
  const labelled = await apps.patchNamespacedDeployment({ namespace: ns, name: 'd', body: { metadata: { labels: { a: 'b' } } } }, merge);
  assert.equal(labelled.metadata?.generation, 1, 'metadata changes keep generation');
  const scaled = await apps.patchNamespacedDeployment({ namespace: ns, name: 'd', body: { spec: { replicas: 3 } } }, merge);
  assert.equal(scaled.metadata?.generation, 2);
  const st = await apps.patchNamespacedDeploymentStatus({ namespace: ns, name: 'd', body: { status: { readyReplicas: 3, replicas: 3, observedGeneration: 2 } } }, merge);
  assert.equal(st.status?.readyReplicas, 3);
  assert.equal(st.metadata?.generation, 2);
  const mismatch = await code(apps.createNamespacedDeployment({ namespace: ns, body: { metadata: { name: 'bad' }, spec: { selector: { matchLabels: { app: 'x' } }, template: { metadata: { labels: { app: 'y' } }, spec: { containers: [{ name: 'c', image: 'x' }] } } } } }));
  assert.equal(mismatch.code, 422);
  assert.match(mismatch.body, /selector/);
});

test('leases, events (core and events.k8s.io), PDBs round-trip', async () => {
  const coord = srv.kubeConfig.makeApiClient(CoordinationV1Api);
  const lease = await coord.createNamespacedLease({ namespace: ns, body: { metadata: { name: 'leader' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15 } } });
  const renewed = await coord.replaceNamespacedLease({ namespace: ns, name: 'leader', body: { ...lease, spec: { ...lease.spec, holderIdentity: 'b' } } });
  assert.equal(renewed.spec?.holderIdentity, 'b');
  assert.equal((await code(coord.replaceNamespacedLease({ namespace: ns, name: 'leader', body: { ...lease, spec: { ...lease.spec, holderIdentity: 'c' } } }))).code, 409, 'a stale lease write loses');
  await core.createNamespacedEvent({ namespace: ns, body: { metadata: { name: 'e1' }, involvedObject: { kind: 'Service', name: 'web', namespace: ns }, reason: 'Mirrored', message: 'ok', type: 'Normal' } });
  const evs = await core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=web,involvedObject.kind=Service' });
  assert.equal(evs.items.length, 1);
  const ev2 = srv.kubeConfig.makeApiClient(EventsV1Api);
  const e = await ev2.createNamespacedEvent({ namespace: ns, body: { metadata: { name: 'e2' }, eventTime: new Date(), reason: 'Linked', action: 'Link', reportingController: 'mesh', reportingInstance: 'mesh-1', type: 'Normal', regarding: { kind: 'Link', name: 'l' } } });
  assert.equal(e.reason, 'Linked');
  const pdb = await srv.kubeConfig.makeApiClient(PolicyV1Api).createNamespacedPodDisruptionBudget({ namespace: ns, body: { metadata: { name: 'pdb' }, spec: { minAvailable: 1, selector: { matchLabels: { app: 'd' } } } } });
  assert.equal(pdb.spec?.minAvailable, 1);
});

test('Services: NodePort allocation, chosen ClusterIPs, duplicates, immutability, release on delete', async () => {
  const np = await core.createNamespacedService({ namespace: ns, body: { metadata: { name: 'np' }, spec: { type: 'NodePort', ports: [{ port: 80 }] } } });
  const nodePort = np.spec?.ports?.[0].nodePort ?? 0;
  assert.ok(nodePort >= 30000 && nodePort <= 32767);
  const fixed = await core.createNamespacedService({ namespace: ns, body: { metadata: { name: 'fixed' }, spec: { clusterIP: '10.100.0.77', ports: [{ port: 80 }] } } });
  assert.equal(fixed.spec?.clusterIP, '10.100.0.77');
  const dup = await code(core.createNamespacedService({ namespace: ns, body: { metadata: { name: 'dup' }, spec: { clusterIP: '10.100.0.77', ports: [{ port: 80 }] } } }));
  assert.equal(dup.code, 422);
  assert.match(dup.body, /already allocated/);
  const outside = await code(core.createNamespacedService({ namespace: ns, body: { metadata: { name: 'outside' }, spec: { clusterIP: '10.200.0.1', ports: [{ port: 80 }] } } }));
  assert.equal(outside.code, 422);
  const moved = await code(core.patchNamespacedService({ namespace: ns, name: 'fixed', body: { spec: { clusterIP: '10.100.0.78' } } }, merge));
  assert.equal(moved.code, 422);
  // kube-apiserver's text since dual-stack (1.20): the primary cluster IP "may not change once set".
  assert.match(moved.body, /spec\.clusterIPs\[0\]: Invalid value: \[\]string\{\\"10\.100\.0\.78\\"\}: may not change once set/);
  await core.deleteNamespacedService({ namespace: ns, name: 'fixed' });
  const again = await core.createNamespacedService({ namespace: ns, body: { metadata: { name: 'again' }, spec: { clusterIP: '10.100.0.77', ports: [{ port: 80 }] } } });
  assert.equal(again.spec?.clusterIP, '10.100.0.77', 'the address was released');
  const twoPortsNoNames = await code(core.createNamespacedService({ namespace: ns, body: { metadata: { name: 'twoports' }, spec: { ports: [{ port: 80 }, { port: 81 }] } } }));
  assert.equal(twoPortsNoNames.code, 422);
});

test('server-side apply through client-node records managedFields and detects conflicts', async () => {
  const cfg = (v: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'applied', namespace: ns }, data: { k: v } });
  const a = await core.patchNamespacedConfigMap({ namespace: ns, name: 'applied', body: cfg('1'), fieldManager: 'mirror' }, apply);
  assert.equal(a.data?.k, '1');
  assert.ok(a.metadata?.managedFields?.some((m) => m.manager === 'mirror' && m.operation === 'Apply'));
  const again = await core.patchNamespacedConfigMap({ namespace: ns, name: 'applied', body: cfg('1'), fieldManager: 'mirror' }, apply);
  assert.equal(again.metadata?.resourceVersion, a.metadata?.resourceVersion, 'an identical apply is a no-op');
  await core.patchNamespacedConfigMap({ namespace: ns, name: 'applied', body: { data: { k: 'edited' } }, fieldManager: 'human' }, merge);
  const c = await code(core.patchNamespacedConfigMap({ namespace: ns, name: 'applied', body: cfg('2'), fieldManager: 'mirror' }, apply));
  assert.equal(c.code, 409);
  assert.match(c.body, /conflict with \\"human\\"/);
  const forced = await core.patchNamespacedConfigMap({ namespace: ns, name: 'applied', body: cfg('2'), fieldManager: 'mirror', force: true }, apply);
  assert.equal(forced.data?.k, '2');
});

test('deletecollection by label, and dry-run creates nothing', async () => {
  for (const [n, l] of [['dc1', 'x'], ['dc2', 'x'], ['dc3', 'y']]) await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: n, labels: { grp: l } } } });
  await core.deleteCollectionNamespacedConfigMap({ namespace: ns, labelSelector: 'grp=x' });
  const left = await core.listNamespacedConfigMap({ namespace: ns, labelSelector: 'grp' });
  assert.deepEqual(left.items.map((c) => c.metadata?.name), ['dc3']);
  const dry = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'dry' } }, dryRun: 'All' });
  assert.equal(dry.metadata?.name, 'dry');
  assert.equal((await code(core.readNamespacedConfigMap({ namespace: ns, name: 'dry' }))).code, 404);
});

test('custom resources: status subresource, defaults, pruning, and fieldValidation=Strict', async () => {
  const ext = srv.kubeConfig.makeApiClient(ApiextensionsV1Api);
  await ext.createCustomResourceDefinition({
    body: {
      metadata: { name: 'links.multicluster.mesh.io' },
      spec: {
        group: 'multicluster.mesh.io',
        scope: 'Namespaced',
        names: { plural: 'links', singular: 'link', kind: 'Link', listKind: 'LinkList' },
        versions: [{ name: 'v1alpha1', served: true, storage: true, subresources: { status: {} }, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', required: ['targetClusterName'], properties: { targetClusterName: { type: 'string' }, probePeriodSeconds: { type: 'integer', _default: 3 } } }, status: { type: 'object', x_kubernetes_preserve_unknown_fields: true } } } } }],
      },
    } as never,
  });
  const co = srv.kubeConfig.makeApiClient(CustomObjectsApi);
  const group = 'multicluster.mesh.io';
  const version = 'v1alpha1';
  const link = (await co.createNamespacedCustomObject({ group, version, namespace: ns, plural: 'links', body: { apiVersion: `${group}/${version}`, kind: 'Link', metadata: { name: 'b' }, spec: { targetClusterName: 'cluster-b', extra: 1 } } })) as { spec: Record<string, unknown>; metadata: { generation: number } };
  assert.equal(link.spec['probePeriodSeconds'], 3, 'schema default applied');
  assert.equal(link.spec['extra'], undefined, 'unknown field pruned');
  const strict = await code(co.createNamespacedCustomObject({ group, version, namespace: ns, plural: 'links', body: { apiVersion: `${group}/${version}`, kind: 'Link', metadata: { name: 'c' }, spec: { targetClusterName: 'x', extra: 1 } }, fieldValidation: 'Strict' }));
  assert.equal(strict.code, 400);
  assert.match(strict.body, /unknown field \\"spec.extra\\"/);
  const st = (await co.patchNamespacedCustomObjectStatus({ group, version, namespace: ns, plural: 'links', name: 'b', body: { status: { conditions: [{ type: 'Ready', status: 'True' }] } } }, merge)) as { status: { conditions: { type: string }[] }; metadata: { generation: number } };
  assert.equal(st.status.conditions[0].type, 'Ready');
  assert.equal(st.metadata.generation, 1);
  const missing = await code(co.createNamespacedCustomObject({ group, version, namespace: ns, plural: 'links', body: { apiVersion: `${group}/${version}`, kind: 'Link', metadata: { name: 'd' }, spec: {} } }));
  assert.equal(missing.code, 422);
  assert.match(missing.body, /spec.targetClusterName/);
});
