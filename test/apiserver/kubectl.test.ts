// The real kubectl as an independent client: apply (client-side and server-side), get/describe/patch/
// delete/create, get -w, api-resources, CRDs with schema validation, conflicts, finalizers and GC.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { startApiServer, type TestApiServer } from '../helpers/apiserver.js';
import { stopAll } from '../helpers/process.js';

const kubectlBin = '/usr/bin/kubectl';
const haveKubectl = existsSync(kubectlBin);
let srv: TestApiServer;

interface Run {
  code: number;
  out: string;
  err: string;
}

function kubectl(args: string[], input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(kubectlBin, ['--kubeconfig', srv.kubeconfigPath, ...args], { timeout: 20_000 }, (error, out, err) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out, err });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

async function ok(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, input);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed: ${r.err}`);
  return r.out;
}

async function waitGone(args: string[], ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await kubectl(args);
    if (r.code !== 0 && /NotFound|not found/.test(r.err)) return;
    if (Date.now() > deadline) assert.fail(`still there: kubectl ${args.join(' ')}: ${r.out}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

before(async () => {
  if (!haveKubectl) return;
  srv = await startApiServer();
  await ok(['create', 'namespace', 'k']);
});
after(async () => {
  await srv?.stop();
  await stopAll();
});

const manifest = `
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: k
  labels: {app: web}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8080}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: k
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: mesh-federation:dev
        env: [{name: A, value: "1"}]
`;

test('kubectl apply creates, re-apply is unchanged, get -o json shows server fields; describe works', async (t) => {
  if (!haveKubectl) return t.skip('kubectl is not installed at /usr/bin/kubectl');
  assert.match(await ok(['apply', '-f', '-'], manifest), /service\/web created[\s\S]*deployment.apps\/web created/);
  assert.match(await ok(['apply', '-f', '-'], manifest), /service\/web unchanged[\s\S]*deployment.apps\/web unchanged/);
  const svc = JSON.parse(await ok(['get', 'svc', 'web', '-n', 'k', '-o', 'json'])) as { spec: { clusterIP: string }; metadata: { annotations: Record<string, string> } };
  assert.match(svc.spec.clusterIP, /^10\.96\./);
  assert.ok(svc.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']);
  assert.match(await ok(['describe', 'svc', 'web', '-n', 'k']), /IP:\s+10\.96\.[\s\S]*TargetPort:\s+8080\/TCP/);
  assert.match(await ok(['get', 'deploy', '-n', 'k']), /web/);
});

test('kubectl patch: strategic merge by container name, merge patch, JSON patch; a failing JSON patch is Invalid', async (t) => {
  if (!haveKubectl) return t.skip('kubectl is not installed at /usr/bin/kubectl');
  await ok(['patch', 'deploy', 'web', '-n', 'k', '-p', '{"spec":{"template":{"spec":{"containers":[{"name":"web","env":[{"name":"B","value":"2"}]}]}}}}']);
  const d = JSON.parse(await ok(['get', 'deploy', 'web', '-n', 'k', '-o', 'json'])) as { metadata: { generation: number }; spec: { template: { spec: { containers: { image: string; env: { name: string }[] }[] } } } };
  const c = d.spec.template.spec.containers;
  assert.equal(c.length, 1, 'merged by name, not replaced');
  assert.equal(c[0].image, 'mesh-federation:dev');
  assert.deepEqual(c[0].env.map((e) => e.name).sort(), ['A', 'B']);
  assert.equal(d.metadata.generation, 2, 'a spec change bumps generation');
  await ok(['scale', 'deploy', 'web', '-n', 'k', '--replicas', '4']);
  assert.equal((await ok(['get', 'deploy', 'web', '-n', 'k', '-o', 'jsonpath={.spec.replicas}'])).trim(), '4', 'the scale subresource');
  await ok(['patch', 'svc', 'web', '-n', 'k', '--type', 'merge', '-p', '{"metadata":{"labels":{"tier":"front"}}}']);
  await ok(['patch', 'svc', 'web', '-n', 'k', '--type', 'json', '-p', '[{"op":"replace","path":"/spec/ports/0/targetPort","value":9090}]']);
  const s = JSON.parse(await ok(['get', 'svc', 'web', '-n', 'k', '-o', 'json'])) as { metadata: { labels: Record<string, string> }; spec: { ports: { targetPort: number }[] } };
  assert.equal(s.metadata.labels['tier'], 'front');
  assert.equal(s.spec.ports[0].targetPort, 9090);
  const bad = await kubectl(['patch', 'svc', 'web', '-n', 'k', '--type', 'json', '-p', '[{"op":"replace","path":"/spec/nothing/here","value":1}]']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.err, /invalid|Invalid/);
});

test('kubectl apply --server-side: conflict with another manager, then --force-conflicts takes ownership', async (t) => {
  if (!haveKubectl) return t.skip('kubectl is not installed at /usr/bin/kubectl');
  const cm = (v: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa, namespace: k}\ndata: {key: "${v}"}\n`;
  assert.match(await ok(['apply', '--server-side', '--field-manager', 'alice', '-f', '-'], cm('a')), /serverside-applied/);
  const conflict = await kubectl(['apply', '--server-side', '--field-manager', 'bob', '-f', '-'], cm('b'));
  assert.notEqual(conflict.code, 0);
  assert.match(conflict.err, /conflict with "alice"[\s\S]*\.data\.key/);
  await ok(['apply', '--server-side', '--field-manager', 'bob', '--force-conflicts', '-f', '-'], cm('b'));
  const got = JSON.parse(await ok(['get', 'cm', 'ssa', '-n', 'k', '-o', 'json', '--show-managed-fields'])) as { data: { key: string }; metadata: { managedFields: { manager: string; operation: string }[] } };
  assert.equal(got.data.key, 'b');
  assert.ok(got.metadata.managedFields.some((m) => m.manager === 'bob' && m.operation === 'Apply'));
  // A field bob stops applying is removed (nobody else owns it).
  await ok(['apply', '--server-side', '--field-manager', 'bob', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa, namespace: k}\ndata: {other: "x"}\n');
  const after2 = JSON.parse(await ok(['get', 'cm', 'ssa', '-n', 'k', '-o', 'json'])) as { data: Record<string, string> };
  assert.deepEqual(after2.data, { other: 'x' });
});

test('kubectl create (protobuf bodies), get -w sees changes, delete', async (t) => {
  if (!haveKubectl) return t.skip('kubectl is not installed at /usr/bin/kubectl');
  const watcher = spawn(kubectlBin, ['--kubeconfig', srv.kubeconfigPath, 'get', 'configmaps', '-n', 'k', '-w', '--output-watch-events'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let seen = '';
  watcher.stdout.on('data', (d: Buffer) => (seen += d.toString()));
  try {
    await ok(['create', 'configmap', 'watched', '-n', 'k', '--from-literal', 'a=b']);
    await ok(['create', 'secret', 'generic', 'sec', '-n', 'k', '--from-literal', 'x=y']);
    const sec = JSON.parse(await ok(['get', 'secret', 'sec', '-n', 'k', '-o', 'json'])) as { type: string; data: { x: string } };
    assert.equal(sec.type, 'Opaque');
    assert.equal(Buffer.from(sec.data.x, 'base64').toString(), 'y');
    await ok(['delete', 'configmap', 'watched', '-n', 'k']);
    const deadline = Date.now() + 8000;
    while (!/DELETED\s+watched/.test(seen) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.match(seen, /EVENT\s+NAME\s+DATA\s+AGE/, 'server-side table columns');
    assert.match(seen, /ADDED\s+watched\s+1\s/);
    assert.match(seen, /DELETED\s+watched/);
  } finally {
    watcher.kill('SIGKILL');
  }
});

test('kubectl with a CRD: api-resources lists it, schema rejects bad objects with field messages, status subresource', async (t) => {
  if (!haveKubectl) return t.skip('kubectl is not installed at /usr/bin/kubectl');
  const crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.mesh.io}
spec:
  group: example.mesh.io
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Ready, type: string, jsonPath: .status.ready}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, minimum: 1, maximum: 10}
              color: {type: string, enum: [red, blue]}
          status:
            type: object
            properties: {ready: {type: boolean}}
`;
  await ok(['apply', '-f', '-'], crd);
  assert.match(await ok(['api-resources', '--api-group', 'example.mesh.io']), /widgets\s+wd\s+example.mesh.io\/v1\s+true\s+Widget/);
  await ok(['apply', '-f', '-'], 'apiVersion: example.mesh.io/v1\nkind: Widget\nmetadata: {name: w1, namespace: k}\nspec: {size: 3, color: red}\n');
  assert.match(await ok(['get', 'widgets', '-n', 'k']), /NAME\s+SIZE\s+READY\s+AGE\s+w1\s+3\s/, 'additionalPrinterColumns as server-side table columns');
  const strict = await kubectl(['apply', '-f', '-'], 'apiVersion: example.mesh.io/v1\nkind: Widget\nmetadata: {name: w4, namespace: k}\nspec: {size: 3, junk: 1}\n');
  assert.match(strict.err, /unknown field "spec.junk"/, 'kubectl\'s default fieldValidation=Strict rejects unknown fields');
  const bad = await kubectl(['apply', '-f', '-'], 'apiVersion: example.mesh.io/v1\nkind: Widget\nmetadata: {name: w2, namespace: k}\nspec: {size: 30, color: green}\n');
  assert.notEqual(bad.code, 0);
  assert.match(bad.err, /spec\.size/);
  assert.match(bad.err, /spec\.color/);
  const missing = await kubectl(['apply', '-f', '-'], 'apiVersion: example.mesh.io/v1\nkind: Widget\nmetadata: {name: w3, namespace: k}\nspec: {color: red}\n');
  assert.match(missing.err, /spec\.size: Required value/);
  await ok(['patch', 'widget', 'w1', '-n', 'k', '--type', 'merge', '--subresource', 'status', '-p', '{"status":{"ready":true}}']);
  await ok(['patch', 'widget', 'w1', '-n', 'k', '--type', 'merge', '-p', '{"status":{"ready":false},"spec":{"size":4}}']);
  const w = JSON.parse(await ok(['get', 'wd', 'w1', '-n', 'k', '-o', 'json'])) as { spec: { size: number }; status: { ready: boolean }; metadata: { generation: number } };
  assert.equal(w.status.ready, true, 'the main resource ignores status when the status subresource is on');
  assert.equal(w.spec.size, 4);
  assert.equal(w.metadata.generation, 2, 'status writes do not bump generation');
  await ok(['delete', 'crd', 'widgets.example.mesh.io']);
  const gone = await kubectl(['get', 'widgets', '-n', 'k']);
  assert.notEqual(gone.code, 0);
});

test('finalizers hold a deleted object until removed; background GC removes dependents; foreground waits; orphan keeps them', async (t) => {
  if (!haveKubectl) return t.skip('kubectl is not installed at /usr/bin/kubectl');
  await ok(['apply', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: held, namespace: k, finalizers: [example.com/hold]}\n');
  await ok(['delete', 'cm', 'held', '-n', 'k', '--wait=false']);
  const held = JSON.parse(await ok(['get', 'cm', 'held', '-n', 'k', '-o', 'json'])) as { metadata: { deletionTimestamp?: string } };
  assert.ok(held.metadata.deletionTimestamp, 'deletionTimestamp is set while a finalizer remains');
  await ok(['patch', 'cm', 'held', '-n', 'k', '--type', 'json', '-p', '[{"op":"remove","path":"/metadata/finalizers"}]']);
  await waitGone(['get', 'cm', 'held', '-n', 'k']);

  const owned = async (owner: string, dep: string) => {
    await ok(['create', 'configmap', owner, '-n', 'k']);
    const uid = (await ok(['get', 'cm', owner, '-n', 'k', '-o', 'jsonpath={.metadata.uid}'])).trim();
    await ok(['apply', '-f', '-'], `apiVersion: v1\nkind: Secret\nmetadata:\n  name: ${dep}\n  namespace: k\n  ownerReferences: [{apiVersion: v1, kind: ConfigMap, name: ${owner}, uid: "${uid}"}]\n`);
  };
  await owned('owner-bg', 'dep-bg');
  await ok(['delete', 'cm', 'owner-bg', '-n', 'k']);
  await waitGone(['get', 'secret', 'dep-bg', '-n', 'k']);

  await owned('owner-fg', 'dep-fg');
  await ok(['delete', 'cm', 'owner-fg', '-n', 'k', '--cascade=foreground']);
  await waitGone(['get', 'secret', 'dep-fg', '-n', 'k']);
  await waitGone(['get', 'cm', 'owner-fg', '-n', 'k']);

  await owned('owner-or', 'dep-or');
  await ok(['delete', 'cm', 'owner-or', '-n', 'k', '--cascade=orphan']);
  await waitGone(['get', 'cm', 'owner-or', '-n', 'k']);
  await new Promise((r) => setTimeout(r, 300));
  const dep = JSON.parse(await ok(['get', 'secret', 'dep-or', '-n', 'k', '-o', 'json'])) as { metadata: { ownerReferences?: unknown[] } };
  assert.equal(dep.metadata.ownerReferences, undefined, 'orphaned dependents lose the owner reference and stay');
});

test('kubectl: update conflict on a stale resourceVersion; deleting a namespace deletes its contents', async (t) => {
  if (!haveKubectl) return t.skip('kubectl is not installed at /usr/bin/kubectl');
  await ok(['create', 'configmap', 'cc', '-n', 'k']);
  const cur = JSON.parse(await ok(['get', 'cm', 'cc', '-n', 'k', '-o', 'json'])) as { metadata: { resourceVersion: string } };
  await ok(['label', 'cm', 'cc', '-n', 'k', 'x=1']);
  const stale = await kubectl(['replace', '-f', '-'], JSON.stringify({ ...cur, data: { a: 'b' } }));
  assert.notEqual(stale.code, 0);
  assert.match(stale.err, /the object has been modified/);
  await ok(['create', 'namespace', 'doomed']);
  await ok(['create', 'configmap', 'inside', '-n', 'doomed']);
  await ok(['delete', 'namespace', 'doomed']);
  await waitGone(['get', 'namespace', 'doomed']);
  const r = await kubectl(['get', 'cm', 'inside', '-n', 'doomed']);
  assert.notEqual(r.code, 0);
});
