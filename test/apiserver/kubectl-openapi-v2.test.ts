// kubectl up to 1.28 reads OpenAPI v2 only in its protobuf encoding (client-go's OpenAPISchema): for
// `apply` (does the server validate fields? the patch type) and `explain`. With /openapi/v2 served as JSON
// only, both failed with a bare "Error from server (NotFound)". Every kubectl on the machine (the Cloud SDK
// ships kubectl.1.27 … kubectl.1.33 beside kubectl) applies, re-applies unchanged, changes, applies server
// side and explains built-in and custom kinds; and the content negotiation of /openapi/v2 itself.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { startApiServer, type TestApiServer } from '../helpers/apiserver.js';
import { stopAll } from '../helpers/process.js';

const sdkDir = '/usr/lib/google-cloud-sdk/bin';
const bins = [
  ...(existsSync('/usr/bin/kubectl') ? ['/usr/bin/kubectl'] : []),
  ...(existsSync(sdkDir) ? readdirSync(sdkDir).filter((f) => /^kubectl\.1\.\d+$/.test(f)).sort().map((f) => join(sdkDir, f)) : []),
];
const old = bins.filter((b) => /kubectl\.1\.(2[0-8])$/.test(b));
let srv: TestApiServer;
const OPENAPI_V2_PB = 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf';

function kubectl(bin: string, args: string[], input?: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = execFile(bin, ['--kubeconfig', srv.kubeconfigPath, ...args], { timeout: 30_000 }, (error, out, err) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out, err }),
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

async function ok(bin: string, args: string[], input?: string): Promise<string> {
  const r = await kubectl(bin, args, input);
  assert.equal(r.code, 0, `${bin} ${args.join(' ')} failed: ${r.err}`);
  return r.out;
}

function get(path: string, accept: string): Promise<{ code: number; type: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = https.get(new URL(path, srv.url), { ca: srv.caPem, headers: { Authorization: `Bearer ${srv.adminToken}`, Accept: accept } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ code: res.statusCode ?? 0, type: String(res.headers['content-type']), body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
  });
}

const crd = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.example.mesh.io}
spec:
  group: example.mesh.io
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, minimum: 1, description: How big the gadget is.}
              port: {x-kubernetes-int-or-string: true}
`;

const deployment = (name: string, image: string) => `
apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: v2}
spec:
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec: {containers: [{name: c, image: ${image}, ports: [{containerPort: 80}]}]}
`;

before(async () => {
  if (!bins.length) return;
  srv = await startApiServer();
  await ok(bins[0]!, ['create', 'namespace', 'v2']);
  await ok(bins[0]!, ['apply', '-f', '-'], crd);
});
after(async () => {
  await srv?.stop();
  await stopAll();
});

test('/openapi/v2: JSON by default, gnostic protobuf when asked for it (either spelling), 406 for anything else', async (t) => {
  if (!bins.length) return t.skip('no kubectl on this machine (the test starts the API server only for kubectl)');
  const json = await get('/openapi/v2', 'application/json');
  assert.equal(json.code, 200);
  const doc = JSON.parse(json.body.toString()) as { swagger: string; paths: Record<string, { patch?: { parameters: Array<{ name: string; type: string }> } }>; definitions: Record<string, { properties?: Record<string, { $ref?: string; allOf?: unknown }> }> };
  assert.equal(doc.swagger, '2.0');
  const patch = doc.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}']?.patch;
  assert.ok(patch?.parameters.some((p) => p.name === 'fieldValidation' && p.type === 'string'), 'the PATCH path says the server validates fields, in v2 shape');
  const template = Object.entries(doc.definitions).find(([n]) => n.endsWith('.PodTemplateSpec'))?.[1];
  assert.ok(template?.properties?.['metadata']?.$ref?.startsWith('#/definitions/') && !template.properties['metadata'].allOf, 'v2 references with a plain $ref (kubectl reads no allOf)');
  for (const accept of [OPENAPI_V2_PB, 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf, application/json']) {
    const pb = await get('/openapi/v2', accept);
    assert.equal(pb.code, 200, accept);
    // The content type as kube-openapi spells it: Go's mime parser (kubectl) refuses the '@'.
    assert.equal(pb.type, 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf');
    assert.deepEqual([...pb.body.subarray(0, 5)], [0x0a, 3, ...Buffer.from('2.0')], 'Document.swagger (field 1) = "2.0" first');
  }
  const none = await get('/openapi/v2', 'text/html');
  assert.equal(none.code, 406);
  // Both encodings are cached per registry version: a CRD created after a fetch is in the next one.
  await ok(bins[0]!, ['apply', '-f', '-'], crd.replaceAll('gadget', 'sprocket').replaceAll('Gadget', 'Sprocket'));
  const after = JSON.parse((await get('/openapi/v2', 'application/json')).body.toString()) as { definitions: Record<string, unknown> };
  assert.ok('io.mesh.example.v1.Sprocket' in after.definitions, Object.keys(after.definitions).filter((k) => k.includes('example')).join(', '));
  assert.ok((await get('/openapi/v2', OPENAPI_V2_PB)).body.includes('io.mesh.example.v1.Sprocket'), 'the protobuf document has it too');
  for (const bin of old) assert.match(await ok(bin, ['explain', 'sprocket.spec.size']), /How big the sprocket is/, `${bin}: explains the new CRD`);
});

test('every kubectl applies, re-applies unchanged, changes, applies server side and explains (old ones through protobuf OpenAPI v2)', async (t) => {
  if (!bins.length) return t.skip('no kubectl on this machine');
  if (!old.length) t.diagnostic('no kubectl older than 1.29 here: only the JSON/v3 path is exercised');
  for (const bin of bins) {
    const v = bin.split('kubectl').pop() || 'default';
    const name = `d${v.replace(/\D/g, '') || 'x'}`;
    assert.match(await ok(bin, ['apply', '-f', '-'], deployment(name, 'busybox:1.36')), /created/, v);
    assert.match(await ok(bin, ['apply', '-f', '-'], deployment(name, 'busybox:1.36')), /unchanged/, `${v}: re-apply`);
    assert.match(await ok(bin, ['apply', '-f', '-'], deployment(name, 'busybox:1.37')), /configured/, `${v}: change`);
    assert.equal(await ok(bin, ['get', 'deploy', name, '-n', 'v2', '-o', 'jsonpath={.spec.template.spec.containers[0].image}']), 'busybox:1.37');
    assert.match(await ok(bin, ['apply', '--server-side', '-f', '-'], deployment(name, 'busybox:1.38')), /serverside-applied/, `${v}: server side`);
    assert.match(await ok(bin, ['explain', 'deployment.spec.replicas']), /replicas\s+<integer>/, `${v}: explain a built-in`);
    assert.match(await ok(bin, ['explain', 'gadget.spec.size']), /How big the gadget is/, `${v}: explain a CRD field`);
    const g = `apiVersion: example.mesh.io/v1\nkind: Gadget\nmetadata: {name: g${name}, namespace: v2}\nspec: {size: SIZE, port: http}\n`;
    assert.match(await ok(bin, ['apply', '-f', '-'], g.replace('SIZE', '2')), /created/, `${v}: custom resource`);
    const bad = await kubectl(bin, ['apply', '-f', '-'], g.replace('SIZE', '0'));
    assert.notEqual(bad.code, 0, `${v}: a schema violation is refused`);
    assert.match(bad.err, /spec\.size/, `${v}: and the message names the field`);
  }
});

test('a typo in a built-in manifest is refused by name with kubectl\'s default strict validation, as kube-apiserver does; --validate=false stores the rest', async (t) => {
  if (!bins.length) return t.skip('no kubectl on this machine');
  const typo = `apiVersion: apps/v1
kind: Deployment
metadata: {name: typo, namespace: v2, lables: {a: b}}
spec:
  replica: 2
  selector: {matchLabels: {app: typo}}
  template:
    metadata: {labels: {app: typo}}
    spec: {containers: [{name: c, image: busybox, imagee: busybox, env: [{name: A, value: "1"}]}]}
`;
  for (const bin of bins) {
    const r = await kubectl(bin, ['apply', '-f', '-'], typo);
    assert.notEqual(r.code, 0, `${bin}: refused`);
    assert.match(r.err, /Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "metadata\.lables", unknown field "spec\.replica", unknown field "spec\.template\.spec\.containers\[0\]\.imagee"/, bin);
  }
  // Maps (labels), int-or-string, lists of objects and arbitrary fields (managedFields) are not unknown.
  assert.match(await ok(bins[0]!, ['apply', '--validate=false', '-f', '-'], typo), /created/);
  assert.match(await ok(bins[0]!, ['apply', '-f', '-'], typo.replace(', lables: {a: b}', '').replace('replica:', 'replicas:').replace(', imagee: busybox', '')), /configured/);
  const svc = 'apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: v2, labels: {tier: web}}\nspec: {ports: [{port: 80, targetPort: http}], selector: {app: typo}}\n';
  assert.match(await ok(bins[0]!, ['apply', '-f', '-'], svc), /created/);
  assert.match(await ok(bins[0]!, ['apply', '--server-side', '-f', '-'], svc.replace('tier: web', 'tier: api')), /serverside-applied/);
});
