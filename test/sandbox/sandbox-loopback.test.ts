// Two clusters on the loopback network, driven as a user would: `mesh sandbox up` as its own process,
// demo apps applied with kubectl, traffic by Service name through the cluster DNS and the ClusterIP,
// scaling, a killed pod process, a bad image, logs, status, and a `down` that leaves nothing behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stopAll, startMesh } from '../helpers/process.js';
import type { KubeClient } from '../../src/kube/index.js';
import { client, echoApp, eventually, hasKubectl, kubectl, markedProcesses, runClient, sandboxDown, sandboxUp, writeManifest, type UpResult } from './sandbox-helpers.js';

interface PodLite {
  metadata: { name: string; namespace: string; uid: string };
  status?: { podIP?: string; phase?: string; conditions?: Array<{ type: string; status: string }>; containerStatuses?: Array<{ restartCount: number; containerID?: string; ready: boolean; state: { waiting?: { reason?: string } } }> };
}
interface SliceLite { endpoints: Array<{ addresses: string[]; conditions?: { ready?: boolean } }> }

let sb: UpResult | undefined;
let a: KubeClient;
let b: KubeClient;

const pods = async (c: KubeClient, ns: string, app: string) => (await c.list<PodLite>(`/api/v1/namespaces/${ns}/pods`, { labelSelector: `app=${app}` })).items;
const readyEndpoints = async (c: KubeClient, ns: string, svc: string) => {
  const l = await c.list<SliceLite>(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, { labelSelector: `kubernetes.io/service-name=${svc}` });
  return l.items.flatMap((s) => s.endpoints.filter((e) => e.conditions?.ready).flatMap((e) => e.addresses)).sort();
};

before(async () => {
  sb = await sandboxUp(['cluster-a', 'cluster-b'], 'loopback');
  a = await client(sb.kubeconfig, 'cluster-a');
  b = await client(sb.kubeconfig, 'cluster-b');
});

after(async () => {
  a?.close();
  b?.close();
  if (sb && existsSync(join(sb.dir, 'state.json'))) await sandboxDown(sb.dir).catch(() => undefined);
  await stopAll();
});

test('up: each cluster has its own range, API server, DNS; the kubeconfig has one context per cluster', { skip: !hasKubectl() && 'kubectl is not installed' }, () => {
  assert.ok(sb);
  const [ca, cb] = sb.clusters;
  assert.equal(ca!.name, 'cluster-a');
  assert.notEqual(ca!.podCIDR, cb!.podCIDR);
  assert.notEqual(ca!.serviceCIDR, cb!.serviceCIDR);
  assert.match(ca!.node, /^127\.\d+\.0\.1$/);
  const contexts = kubectl(sb.kubeconfig, 'cluster-a', ['config', 'get-contexts', '-o', 'name']).split('\n').filter(Boolean).sort();
  assert.deepEqual(contexts, ['cluster-a', 'cluster-b']);
  const out = kubectl(sb.kubeconfig, 'cluster-b', ['get', 'serviceaccount', 'default', '-n', 'default', '-o', 'name']);
  assert.equal(out.trim(), 'serviceaccount/default');
  // One node per cluster, with the node address other clusters use.
  const ip = kubectl(sb.kubeconfig, 'cluster-b', ['get', 'node', 'cluster-b-node', '-o', 'jsonpath={.status.addresses[?(@.type=="InternalIP")].address}']);
  assert.equal(ip, cb!.node);
});

test('apps applied with kubectl answer by Service name through cluster DNS and the ClusterIP, spread across pods', async () => {
  assert.ok(sb);
  const m = writeManifest(sb.dir, 'web-a.yaml', echoApp({ name: 'web', ns: 'demo', replicas: 2, cluster: 'cluster-a' }));
  kubectl(sb.kubeconfig, 'cluster-a', ['apply', '-f', m]);
  await eventually('2 ready web pods in cluster-a', async () => (await readyEndpoints(a, 'demo', 'web')).length === 2, 60_000);
  const dep = await a.get<{ status: { readyReplicas?: number; updatedReplicas?: number; observedGeneration?: number } }>('/apis/apps/v1/namespaces/demo/deployments/web');
  assert.equal(dep.status.updatedReplicas, 2);
  await eventually('deployment readyReplicas 2', async () => (await a.get<{ status: { readyReplicas?: number } }>('/apis/apps/v1/namespaces/demo/deployments/web')).status.readyReplicas === 2, 15_000);
  const dns = sb.clusters[0]!.dns;
  const r = runClient(['--url', 'http://web.demo.svc.cluster.local/', '--count', '8'], { dns });
  assert.equal(r.code, 0, r.out);
  assert.equal(r.results.length, 8);
  assert.ok(r.results.every((x) => x.ok && x.cluster === 'cluster-a'), r.out);
  const answered = new Set(r.results.map((x) => x.pod));
  assert.equal(answered.size, 2, `both pods answer: ${[...answered].join(',')}`);
  // The pod's in-cluster configuration: a projected token and the cluster's CA, under the pod root.
  const p = (await pods(a, 'demo', 'web'))[0]!;
  const root = join(sb.dir, 'cluster-a', 'pods', `demo_${p.metadata.name}_${p.metadata.uid.slice(0, 8)}`, 'fs', 'var/run/secrets/kubernetes.io/serviceaccount');
  assert.equal(readFileSync(join(root, 'namespace'), 'utf8'), 'demo');
  assert.match(readFileSync(join(root, 'ca.crt'), 'utf8'), /BEGIN CERTIFICATE/);
  assert.equal(readFileSync(join(root, 'token'), 'utf8').split('.').length, 3);
});

test('loopback network is flat: another cluster reaches a pod IP directly', async () => {
  const ip = (await pods(a, 'demo', 'web'))[0]!.status!.podIP!;
  const r = runClient(['--url', `http://${ip}:8080/`, '--count', '1'], {});
  assert.equal(r.code, 0, r.out);
  assert.equal(r.results[0]!.cluster, 'cluster-a');
});

test('scaling a Deployment: endpoints follow up and down', async () => {
  assert.ok(sb);
  // (kubectl scale needs the scale subresource, which the embedded API server does not serve yet.)
  kubectl(sb.kubeconfig, 'cluster-a', ['patch', 'deployment/web', '-n', 'demo', '--type=merge', '-p', '{"spec":{"replicas":3}}']);
  await eventually('3 ready endpoints', async () => (await readyEndpoints(a, 'demo', 'web')).length === 3, 60_000);
  kubectl(sb.kubeconfig, 'cluster-a', ['patch', 'deployment/web', '-n', 'demo', '--type=merge', '-p', '{"spec":{"replicas":1}}']);
  await eventually('1 pod and 1 ready endpoint', async () => (await readyEndpoints(a, 'demo', 'web')).length === 1 && (await pods(a, 'demo', 'web')).length === 1, 60_000);
  const ip = (await pods(a, 'demo', 'web'))[0]!.status!.podIP!;
  assert.deepEqual(await readyEndpoints(a, 'demo', 'web'), [ip]);
});

test('a killed pod process is restarted with a restartCount, and its endpoint goes not-ready then ready', async () => {
  const p = (await pods(a, 'demo', 'web'))[0]!;
  const cs = p.status!.containerStatuses![0]!;
  const pid = Number(/^sandbox:\/\/(\d+)$/.exec(cs.containerID ?? '')?.[1]);
  assert.ok(pid > 0, `containerID names the pid: ${cs.containerID}`);
  const before = cs.restartCount;
  process.kill(pid, 'SIGKILL');
  await eventually('endpoint not ready after the kill', async () => (await readyEndpoints(a, 'demo', 'web')).length === 0, 15_000, 50);
  const after = await eventually('restarted and ready again', async () => {
    const q = (await pods(a, 'demo', 'web')).find((x) => x.metadata.uid === p.metadata.uid);
    const s = q?.status?.containerStatuses?.[0];
    return s && s.restartCount > before && s.ready ? s : undefined;
  }, 30_000);
  assert.notEqual(after.containerID, cs.containerID);
  assert.deepEqual(await readyEndpoints(a, 'demo', 'web'), [p.status!.podIP!]);
});

test('bad input: an unknown image gets ErrImagePull and a Warning Event, and the cluster keeps working', async () => {
  await a.create('/api/v1/namespaces/demo/pods', {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'bad-image', namespace: 'demo', labels: { app: 'bad' } },
    spec: { containers: [{ name: 'c', image: 'nginx:1.27' }] },
  });
  const reason = await eventually('ErrImagePull status', async () => {
    const p = await a.get<PodLite>('/api/v1/namespaces/demo/pods/bad-image');
    return p.status?.containerStatuses?.[0]?.state.waiting?.reason;
  }, 20_000);
  assert.match(reason, /^(ErrImagePull|ImagePullBackOff)$/);
  const ev = await eventually('a Failed event for the pod', async () => {
    const l = await a.list<{ involvedObject: { name: string }; reason: string; type: string; message: string }>('/api/v1/namespaces/demo/events');
    return l.items.find((e) => e.involvedObject.name === 'bad-image' && e.reason === 'Failed');
  }, 10_000);
  assert.equal(ev.type, 'Warning');
  assert.match(ev.message, /nginx:1\.27/);
  // Deleting it works (the kubelet finalizes pods it never started).
  await a.delete('/api/v1/namespaces/demo/pods/bad-image');
  await eventually('bad pod gone', async () => !(await a.list<PodLite>('/api/v1/namespaces/demo/pods', { labelSelector: 'app=bad' })).items.length, 15_000);
});

test('status and logs: status -o json reports healthy clusters and pods; logs show a pod\'s output', async () => {
  assert.ok(sb);
  const st = startMesh(['sandbox', 'status', '--dir', sb.dir, '-o', 'json']);
  assert.equal(await st.exited, 0, st.stderr());
  const s = JSON.parse(st.stdout()) as { clusters: Array<{ name: string; healthy: boolean; dnsHealthy?: boolean; pods: Array<{ name: string; namespace: string }> }> };
  assert.deepEqual(s.clusters.map((c) => [c.name, c.healthy, c.dnsHealthy]), [['cluster-a', true, true], ['cluster-b', true, true]]);
  const web = s.clusters[0]!.pods.find((p) => p.namespace === 'demo' && p.name.startsWith('web-'));
  assert.ok(web);
  const lg = startMesh(['sandbox', 'logs', '--dir', sb.dir, 'cluster-a', `demo/${web.name}`]);
  assert.equal(await lg.exited, 0, lg.stderr());
  assert.ok(lg.stdout().length > 0, 'the log has content');
  const bad = startMesh(['sandbox', 'logs', '--dir', sb.dir, 'cluster-z', 'demo/x']);
  assert.equal(await bad.exited, 2);
  assert.match(bad.stderr(), /no cluster "cluster-z"/);
});

test('a crashed cluster process is restarted by up with its objects, the same API address, and its pods running again', async () => {
  assert.ok(sb);
  const state = JSON.parse(readFileSync(join(sb.dir, 'state.json'), 'utf8')) as { clusters: Array<{ pid: number; plan: { name: string } }> };
  const pid = state.clusters.find((c) => c.plan.name === 'cluster-a')!.pid;
  const oldPod = (await pods(a, 'demo', 'web'))[0]!;
  process.kill(pid, 'SIGKILL');
  await eventually('a new cluster-a process in the state file', () => {
    const s = JSON.parse(readFileSync(join(sb!.dir, 'state.json'), 'utf8')) as typeof state;
    const p = s.clusters.find((c) => c.plan.name === 'cluster-a')!.pid;
    return p !== pid ? p : undefined;
  }, 60_000, 500);
  // Same kubeconfig, same client: the API server came back on its address with its objects.
  const ready = await eventually('web ready again after the restart', async () => {
    const l = await pods(a, 'demo', 'web');
    const p = l.find((x) => x.metadata.uid === oldPod.metadata.uid);
    return p?.status?.containerStatuses?.[0]?.ready && (await readyEndpoints(a, 'demo', 'web')).length === 1 ? p : undefined;
  }, 60_000, 500);
  assert.equal(ready.metadata.name, oldPod.metadata.name);
  const r = runClient(['--url', 'http://web.demo.svc.cluster.local/', '--count', '2'], { dns: sb.clusters[0]!.dns });
  assert.equal(r.code, 0, r.out);
});

test('down stops every process, closes every port and removes the state', async () => {
  assert.ok(sb);
  const apis = sb.clusters.map((c) => new URL(c.api));
  assert.ok(markedProcesses(sb.sandboxId).length >= 2, 'cluster and pod processes carry the marker');
  const out = await sandboxDown(sb.dir);
  assert.match(out, /removed/);
  await sb.proc.exited;
  assert.deepEqual(markedProcesses(sb.sandboxId), []);
  assert.equal(existsSync(join(sb.dir, 'state.json')), false);
  for (const u of apis) {
    const refused = await new Promise<boolean>((res) => {
      const s = net.connect({ host: u.hostname, port: Number(u.port) });
      s.on('connect', () => { s.destroy(); res(false); });
      s.on('error', () => res(true));
    });
    assert.ok(refused, `${u.host} is closed`);
  }
});
