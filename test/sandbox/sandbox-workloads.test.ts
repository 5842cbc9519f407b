// Workloads in one loopback cluster: a rolling update that `kubectl rollout status` follows, a StatefulSet
// whose pods answer at <pod>.<service>.<ns>.svc.<domain>, Secret/ConfigMap volumes materialised under the
// pod's MESH_VOLUME_ROOT, graceful pod deletion, and `down` after a killed `up`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stopAll } from '../helpers/process.js';
import type { KubeClient } from '../../src/kube/index.js';
import { client, echoApp, eventually, kubectl, markedProcesses, runClient, sandboxDown, sandboxUp, writeManifest, type UpResult } from './sandbox-helpers.js';

interface PodLite {
  metadata: { name: string; uid: string; labels?: Record<string, string> };
  spec: { hostname?: string; subdomain?: string };
  status?: { podIP?: string; conditions?: Array<{ type: string; status: string }> };
}

let sb: UpResult | undefined;
let c: KubeClient;

before(async () => {
  sb = await sandboxUp(['solo'], 'loopback');
  c = await client(sb.kubeconfig, 'solo');
});

after(async () => {
  c?.close();
  if (sb && existsSync(join(sb.dir, 'state.json'))) await sandboxDown(sb.dir).catch(() => undefined);
  await stopAll();
});

const isReady = (p: PodLite) => !!p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True');

test('rolling update: a template change replaces every pod and kubectl rollout status completes', async () => {
  assert.ok(sb);
  kubectl(sb.kubeconfig, 'solo', ['apply', '-f', writeManifest(sb.dir, 'web.yaml', echoApp({ name: 'web', ns: 'demo', replicas: 2, cluster: 'solo' }))]);
  kubectl(sb.kubeconfig, 'solo', ['rollout', 'status', 'deployment/web', '-n', 'demo', '--timeout=90s']);
  const before = (await c.list<PodLite>('/api/v1/namespaces/demo/pods', { labelSelector: 'app=web' })).items.map((p) => p.metadata.uid).sort();
  assert.equal(before.length, 2);
  kubectl(sb.kubeconfig, 'solo', ['set', 'env', 'deployment/web', '-n', 'demo', 'ROLL=2']);
  kubectl(sb.kubeconfig, 'solo', ['rollout', 'status', 'deployment/web', '-n', 'demo', '--timeout=90s']);
  const now = await eventually('two new ready pods and no old ones', async () => {
    const l = (await c.list<PodLite>('/api/v1/namespaces/demo/pods', { labelSelector: 'app=web' })).items;
    return l.length === 2 && l.every(isReady) && l.every((p) => !before.includes(p.metadata.uid)) ? l : undefined;
  }, 60_000);
  assert.equal(new Set(now.map((p) => p.metadata.labels?.['pod-template-hash'])).size, 1);
  const dep = await c.get<{ status: { updatedReplicas: number; readyReplicas: number; replicas: number } }>('/apis/apps/v1/namespaces/demo/deployments/web');
  assert.deepEqual([dep.status.replicas, dep.status.updatedReplicas, dep.status.readyReplicas], [2, 2, 2]);
});

test('statefulset: ordinal pods with hostname/subdomain answer at their own DNS names', async () => {
  assert.ok(sb);
  const yaml = `apiVersion: v1
kind: Service
metadata: {name: db, namespace: demo}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{name: http, port: 8080}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: demo}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - name: echo
        image: mesh-federation:dev
        args: ["app", "http-echo", "--port", "8080"]
        ports: [{name: http, containerPort: 8080}]
        env:
        - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
        - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: CLUSTER_NAME, value: solo}
        readinessProbe: {tcpSocket: {port: http}, periodSeconds: 1}
`;
  kubectl(sb.kubeconfig, 'solo', ['apply', '-f', writeManifest(sb.dir, 'db.yaml', yaml)]);
  const pods = await eventually('db-0 and db-1 ready', async () => {
    const l = (await c.list<PodLite>('/api/v1/namespaces/demo/pods', { labelSelector: 'app=db' })).items;
    return l.length === 2 && l.every(isReady) ? l : undefined;
  }, 60_000);
  assert.deepEqual(pods.map((p) => [p.metadata.name, p.spec.hostname, p.spec.subdomain]).sort(), [['db-0', 'db-0', 'db'], ['db-1', 'db-1', 'db']]);
  const dns = sb.clusters[0]!.dns;
  for (const name of ['db-0', 'db-1']) {
    const r = await eventually(`${name} answers by its own name`, () => {
      const x = runClient(['--url', `http://${name}.db.demo.svc.cluster.local:8080/`, '--count', '1'], { dns });
      return x.code === 0 ? x : undefined;
    }, 20_000, 500);
    assert.equal(r.results[0]!.pod, name);
  }
});

test('volumes: Secret and ConfigMap mounts appear under the pod root at MESH_VOLUME_ROOT + mountPath', async () => {
  assert.ok(sb);
  const yaml = `apiVersion: v1
kind: Secret
metadata: {name: issuer, namespace: demo}
type: Opaque
stringData: {tls.crt: CERT, tls.key: KEY}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: roots, namespace: demo}
data: {ca-bundle.crt: ROOTS}
---
apiVersion: v1
kind: Pod
metadata: {name: mounts, namespace: demo}
spec:
  containers:
  - name: echo
    image: mesh-federation:dev
    args: ["app", "tcp-echo", "--port", "7070"]
    env:
    - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: KEY, valueFrom: {secretKeyRef: {name: issuer, key: tls.key}}}
    - {name: BUNDLE, value: /var/run/mesh/roots/bundle.pem}
    volumeMounts:
    - {name: identity, mountPath: /var/run/secrets/mesh.io/identity, readOnly: true}
    - {name: issuer, mountPath: /var/run/mesh/issuer, readOnly: true}
    - {name: roots, mountPath: /var/run/mesh/roots, readOnly: true}
  volumes:
  - {name: issuer, secret: {secretName: issuer}}
  - {name: roots, configMap: {name: roots, items: [{key: ca-bundle.crt, path: bundle.pem}]}}
  - name: identity
    projected:
      sources:
      - serviceAccountToken: {path: token, audience: identity.mesh.io, expirationSeconds: 3600}
`;
  kubectl(sb.kubeconfig, 'solo', ['apply', '-f', writeManifest(sb.dir, 'mounts.yaml', yaml)]);
  const pod = await eventually('mounts pod running', async () => {
    const p = await c.get<PodLite & { status?: { phase?: string } }>('/api/v1/namespaces/demo/pods/mounts');
    return p.status?.phase === 'Running' ? p : undefined;
  }, 30_000);
  const root = join(sb.dir, 'solo', 'pods', `demo_mounts_${pod.metadata.uid.slice(0, 8)}`, 'fs');
  assert.equal(readFileSync(join(root, 'var/run/mesh/issuer/tls.crt'), 'utf8'), 'CERT');
  assert.equal(readFileSync(join(root, 'var/run/mesh/issuer/tls.key'), 'utf8'), 'KEY');
  assert.equal(readFileSync(join(root, 'var/run/mesh/roots/bundle.pem'), 'utf8'), 'ROOTS');
  // The process got the root in its environment.
  const cs = (await c.get<{ status: { containerStatuses: Array<{ containerID: string }> } }>('/api/v1/namespaces/demo/pods/mounts')).status.containerStatuses[0]!;
  const pid = Number(cs.containerID.replace('sandbox://', ''));
  const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  assert.ok(env.includes(`MESH_VOLUME_ROOT=${root}`), 'MESH_VOLUME_ROOT is set');
  assert.ok(env.includes('KEY=KEY'), 'secretKeyRef env is set');
  assert.ok(env.includes(`BUNDLE=${root}/var/run/mesh/roots/bundle.pem`), 'a value naming a mounted path points at the real file');
  // A projected token for its own audience, next to the pod's default token.
  const tok = readFileSync(join(root, 'var/run/secrets/mesh.io/identity/token'), 'utf8');
  const claims = JSON.parse(Buffer.from(tok.split('.')[1]!, 'base64url').toString()) as { aud: string[] | string };
  assert.deepEqual([claims.aud].flat(), ['identity.mesh.io']);
  // Deleting the pod stops the process (SIGTERM) and then removes the object and its files.
  await c.delete('/api/v1/namespaces/demo/pods/mounts');
  await eventually('pod object gone', async () => (await c.list<PodLite>('/api/v1/namespaces/demo/pods', { fieldSelector: 'metadata.name=mounts' })).items.length === 0, 30_000);
  assert.equal(existsSync(`/proc/${pid}`), false, 'the process is gone');
  assert.equal(existsSync(root), false, 'the pod root (token, secrets) is removed');
});

test('liveness: a failing liveness probe restarts the container and records an Unhealthy event', async () => {
  await c.create('/api/v1/namespaces/demo/pods', {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'sick', namespace: 'demo' },
    spec: { containers: [{ name: 'echo', image: 'mesh-federation:dev', args: ['app', 'tcp-echo', '--port', '7070'],
      env: [{ name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }],
      livenessProbe: { tcpSocket: { port: 7999 }, periodSeconds: 1, failureThreshold: 2 } }] },
  });
  const restarts = await eventually('a liveness restart', async () => {
    const p = await c.get<{ status?: { containerStatuses?: Array<{ restartCount: number }> } }>('/api/v1/namespaces/demo/pods/sick');
    const n = p.status?.containerStatuses?.[0]?.restartCount ?? 0;
    return n > 0 ? n : undefined;
  }, 30_000);
  assert.ok(restarts >= 1);
  const ev = await eventually('Unhealthy event', async () => (await c.list<{ involvedObject: { name: string }; reason: string }>('/api/v1/namespaces/demo/events')).items.find((e) => e.involvedObject.name === 'sick' && e.reason === 'Unhealthy'), 10_000);
  assert.equal(ev.reason, 'Unhealthy');
});

test('deleting a Deployment removes its pods and their processes (owner-reference GC)', async () => {
  assert.ok(sb);
  const before = (await c.list<PodLite & { status?: { containerStatuses?: Array<{ containerID?: string }> } }>('/api/v1/namespaces/demo/pods', { labelSelector: 'app=web' })).items;
  assert.ok(before.length > 0);
  const pids = before.map((p) => Number((p.status?.containerStatuses?.[0]?.containerID ?? '').replace('sandbox://', ''))).filter((n) => n > 0);
  kubectl(sb.kubeconfig, 'solo', ['delete', 'deployment/web', '-n', 'demo', '--wait=true']);
  await eventually('web pods gone', async () => (await c.list<PodLite>('/api/v1/namespaces/demo/pods', { labelSelector: 'app=web' })).items.length === 0, 60_000);
  for (const pid of pids) assert.equal(existsSync(`/proc/${pid}`), false, `process ${pid} stopped`);
});

test('down after a killed up: leftover cluster and pod processes are found and stopped', async () => {
  assert.ok(sb);
  assert.ok(markedProcesses(sb.sandboxId).length > 0);
  sb.proc.child.kill('SIGKILL');
  await sb.proc.exited;
  const out = await sandboxDown(sb.dir);
  assert.match(out, /removed/);
  await eventually('no marked process left', () => markedProcesses(sb!.sandboxId).length === 0, 10_000);
  assert.equal(existsSync(join(sb.dir, 'state.json')), false);
});
