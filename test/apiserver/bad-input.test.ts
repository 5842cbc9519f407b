// Bad input gets the right Status where the client sees it, and never a crash: raw HTTPS requests
// with broken bodies, wrong kinds, oversize payloads, bad names, unknown resources, bad patches.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { startApiServer, type TestApiServer } from '../helpers/apiserver.js';
import { startMesh, stopAll } from '../helpers/process.js';

let srv: TestApiServer;

interface Reply {
  code: number;
  body: { kind?: string; reason?: string; code?: number; message?: string; details?: { causes?: { field?: string; reason?: string }[] } };
}

function raw(method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}, token: string | null = srv.adminToken): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const u = new URL(path, srv.url);
    const req = https.request(
      u,
      {
        method,
        ca: srv.caPem,
        headers: { ...(token !== null ? { Authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => {
          let parsed: Reply['body'] = {};
          try {
            parsed = JSON.parse(text) as Reply['body'];
          } catch {
            parsed = { message: text };
          }
          resolve({ code: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function isStatus(r: Reply, code: number, reason: string): void {
  assert.equal(r.code, code, JSON.stringify(r.body));
  assert.equal(r.body.kind, 'Status');
  assert.equal(r.body.code, code);
  assert.equal(r.body.reason, reason);
}

before(async () => {
  srv = await startApiServer();
  const r = await raw('POST', '/api/v1/namespaces', JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bad' } }));
  assert.equal(r.code, 201);
});
after(async () => {
  await srv?.stop();
  await stopAll();
});

test('no token or an unknown token is 401 Unauthorized', async () => {
  isStatus(await raw('GET', '/api/v1/namespaces', undefined, {}, null), 401, 'Unauthorized');
  isStatus(await raw('GET', '/api/v1/namespaces', undefined, {}, 'not-a-token'), 401, 'Unauthorized');
});

test('malformed JSON, empty bodies and non-objects are 400 BadRequest', async () => {
  isStatus(await raw('POST', '/api/v1/namespaces/bad/configmaps', '{"metadata": {"name": "x"'), 400, 'BadRequest');
  isStatus(await raw('POST', '/api/v1/namespaces/bad/configmaps', ''), 400, 'BadRequest');
  isStatus(await raw('POST', '/api/v1/namespaces/bad/configmaps', '[1,2,3]'), 400, 'BadRequest');
  isStatus(await raw('POST', '/api/v1/namespaces/bad/configmaps', '{"metadata":"nope"}'), 400, 'BadRequest');
  isStatus(await raw('POST', '/api/v1/namespaces/bad/configmaps', 'metadata: [unclosed', { 'Content-Type': 'application/yaml' }), 400, 'BadRequest');
  assert.equal((await raw('POST', '/api/v1/namespaces/bad/configmaps', 'metadata: {name: from-yaml}\ndata: {a: b}\n', { 'Content-Type': 'application/yaml' })).code, 201, 'YAML bodies are accepted');
  isStatus(await raw('POST', '/api/v1/namespaces/bad/configmaps', '<xml/>', { 'Content-Type': 'application/xml' }), 415, 'UnsupportedMediaType');
  isStatus(await raw('POST', '/api/v1/namespaces/bad/configmaps', '{"metadata":{"name":"p"},"__proto__":{"polluted":1}}'), 400, 'BadRequest');
  isStatus(await raw('GET', '/api/v1/namespaces/%E0%A4%A/configmaps'), 400, 'BadRequest');
});

test('a body of the wrong kind or apiVersion, or another namespace, is 400', async () => {
  isStatus(await raw('POST', '/api/v1/namespaces/bad/services', JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' } })), 400, 'BadRequest');
  isStatus(await raw('POST', '/api/v1/namespaces/bad/services', JSON.stringify({ apiVersion: 'apps/v1', kind: 'Service', metadata: { name: 'p' } })), 400, 'BadRequest');
  isStatus(await raw('POST', '/api/v1/namespaces/bad/configmaps', JSON.stringify({ metadata: { name: 'p', namespace: 'other' } })), 400, 'BadRequest');
});

test('names that are not DNS labels/subdomains are 422 Invalid on metadata.name', async () => {
  for (const [path, name] of [['/api/v1/namespaces/bad/services', 'Bad_Name'], ['/api/v1/namespaces', 'UPPER'], ['/api/v1/namespaces/bad/configmaps', 'x'.repeat(300)], ['/api/v1/namespaces/bad/services', '1starts-with-digit']] as const) {
    const r = await raw('POST', path, JSON.stringify({ metadata: { name }, spec: { ports: [{ port: 80 }] } }));
    isStatus(r, 422, 'Invalid');
    assert.equal(r.body.details?.causes?.[0]?.field, 'metadata.name');
  }
  const noName = await raw('POST', '/api/v1/namespaces/bad/configmaps', JSON.stringify({ metadata: {} }));
  isStatus(noName, 422, 'Invalid');
});

test('an oversize body is 413, and the server keeps serving', async () => {
  const big = JSON.stringify({ metadata: { name: 'big' }, data: { blob: 'x'.repeat(4 * 1024 * 1024) } });
  isStatus(await raw('POST', '/api/v1/namespaces/bad/configmaps', big), 413, 'RequestEntityTooLarge');
  const ok = await raw('GET', '/api/v1/namespaces/bad');
  assert.equal(ok.code, 200);
});

test('unknown resources, groups and versions are 404; wrong methods are 405; missing namespace is 404', async () => {
  isStatus(await raw('GET', '/api/v1/namespaces/bad/gizmos'), 404, 'NotFound');
  isStatus(await raw('GET', '/apis/nope.example.com/v1/things'), 404, 'NotFound');
  isStatus(await raw('GET', '/api/v2/pods'), 404, 'NotFound');
  isStatus(await raw('GET', '/api/v1/namespaces/bad/configmaps/a/b/c'), 404, 'NotFound');
  isStatus(await raw('POST', '/api/v1/namespaces/bad/configmaps/named', JSON.stringify({ metadata: { name: 'named' } })), 405, 'MethodNotAllowed');
  isStatus(await raw('POST', '/api/v1/namespaces/missing/configmaps', JSON.stringify({ metadata: { name: 'x' } })), 404, 'NotFound');
  isStatus(await raw('DELETE', '/api/v1/namespaces/default'), 403, 'Forbidden');
  isStatus(await raw('DELETE', '/api/v1/namespaces/bad/configmaps/never-existed'), 404, 'NotFound');
});

test('patches: malformed → 400, not applicable → 422, unknown patch type → 415, strategic on a CR → 415', async () => {
  const made = await raw('POST', '/api/v1/namespaces/bad/configmaps', JSON.stringify({ metadata: { name: 'p' }, data: { a: '1' } }));
  assert.equal(made.code, 201);
  const path = '/api/v1/namespaces/bad/configmaps/p';
  isStatus(await raw('PATCH', path, '{not json', { 'Content-Type': 'application/merge-patch+json' }), 400, 'BadRequest');
  isStatus(await raw('PATCH', path, '{"op":"add"}', { 'Content-Type': 'application/json-patch+json' }), 400, 'BadRequest');
  isStatus(await raw('PATCH', path, '[{"op":"remove","path":"/data/missing"}]', { 'Content-Type': 'application/json-patch+json' }), 422, 'Invalid');
  isStatus(await raw('PATCH', path, '[{"op":"test","path":"/data/a","value":"2"}]', { 'Content-Type': 'application/json-patch+json' }), 422, 'Invalid');
  isStatus(await raw('PATCH', path, '{}', { 'Content-Type': 'text/plain' }), 415, 'UnsupportedMediaType');
  isStatus(await raw('PATCH', path, '{"data":{"a":5}}', { 'Content-Type': 'application/merge-patch+json' }), 422, 'Invalid');
  isStatus(await raw('PATCH', '/api/v1/namespaces/bad/configmaps/nope', '{}', { 'Content-Type': 'application/merge-patch+json' }), 404, 'NotFound');
  isStatus(await raw('PATCH', path, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: p}\n', { 'Content-Type': 'application/apply-patch+yaml' }), 400, 'BadRequest');
  const crd = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'gadgets.example.mesh.io' },
    spec: { group: 'example.mesh.io', scope: 'Namespaced', names: { plural: 'gadgets', kind: 'Gadget' }, versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { n: { type: 'integer' } } } } } } }] },
  };
  assert.equal((await raw('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', JSON.stringify(crd))).code, 201);
  assert.equal((await raw('POST', '/apis/example.mesh.io/v1/namespaces/bad/gadgets', JSON.stringify({ apiVersion: 'example.mesh.io/v1', kind: 'Gadget', metadata: { name: 'g' }, spec: { n: 1 } }))).code, 201);
  isStatus(await raw('PATCH', '/apis/example.mesh.io/v1/namespaces/bad/gadgets/g', '{"spec":{"n":2}}', { 'Content-Type': 'application/strategic-merge-patch+json' }), 415, 'UnsupportedMediaType');
  isStatus(await raw('PATCH', '/apis/example.mesh.io/v1/namespaces/bad/gadgets/g', '{"spec":{"n":"two"}}', { 'Content-Type': 'application/merge-patch+json' }), 422, 'Invalid');
});

test('invalid CRDs, selectors and resourceVersions are rejected with a Status', async () => {
  const r = await raw('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', JSON.stringify({ metadata: { name: 'wrong.example.mesh.io' }, spec: { group: 'example.mesh.io', scope: 'Sideways', names: { plural: 'things', kind: 'Thing' }, versions: [] } }));
  isStatus(r, 422, 'Invalid');
  const fields = (r.body.details?.causes ?? []).map((c) => c.field);
  assert.ok(fields.includes('spec.scope') && fields.includes('metadata.name') && fields.includes('spec.versions'), JSON.stringify(fields));
  isStatus(await raw('GET', '/api/v1/namespaces/bad/configmaps?labelSelector=a%20in%20(('), 400, 'BadRequest');
  isStatus(await raw('GET', '/api/v1/namespaces/bad/configmaps?fieldSelector=spec.nope%3D1'), 400, 'BadRequest');
  isStatus(await raw('GET', '/api/v1/namespaces/bad/configmaps?watch=true&resourceVersion=abc'), 400, 'BadRequest');
  isStatus(await raw('GET', '/api/v1/namespaces/bad/configmaps?limit=1&continue=%%%'), 400, 'BadRequest');
});

test('protobuf bodies the server cannot read are 400/415, never a crash', async () => {
  isStatus(await raw('POST', '/api/v1/namespaces/bad/configmaps', Buffer.from([1, 2, 3, 4, 5]), { 'Content-Type': 'application/vnd.kubernetes.protobuf' }), 400, 'BadRequest');
  isStatus(await raw('POST', '/api/v1/namespaces/bad/configmaps', Buffer.from([0x6b, 0x38, 0x73, 0x00, 0x0a, 0xff, 0xff]), { 'Content-Type': 'application/vnd.kubernetes.protobuf' }), 400, 'BadRequest');
  for (const path of ['/healthz', '/livez', '/readyz']) {
    const health = await raw('GET', path, undefined, {}, null);
    assert.equal(health.code, 200, path);
  }
  assert.equal(srv.proc.child.exitCode, null, 'the server process is still running');
});

test('mesh apiserver refuses bad flags with a usage error (exit 2) that names the flag', async () => {
  const p = startMesh(['apiserver', '--data-dir', '/tmp/never-used-by-this-test', '--port', '99999']);
  assert.equal(await p.exited, 2);
  assert.match(p.stderr(), /--port/);
  const q = startMesh(['apiserver', '--data-dir', '/tmp/never-used-by-this-test', '--service-cidr', 'ten.96/16']);
  assert.equal(await q.exited, 2);
  assert.match(q.stderr(), /--service-cidr/);
});

test('incomplete owner references, bad finalizers, and edits of immutable ConfigMaps are 422', async () => {
  const noUid = await raw('POST', '/api/v1/namespaces/bad/configmaps', JSON.stringify({ metadata: { name: 'orphan-ref', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'x' }] } }));
  isStatus(noUid, 422, 'Invalid');
  assert.equal(noUid.body.details?.causes?.[0]?.field, 'metadata.ownerReferences[0].uid');
  isStatus(await raw('POST', '/api/v1/namespaces/bad/configmaps', JSON.stringify({ metadata: { name: 'badfin', finalizers: [''] } })), 422, 'Invalid');
  assert.equal((await raw('POST', '/api/v1/namespaces/bad/configmaps', JSON.stringify({ metadata: { name: 'frozen' }, data: { a: '1' }, immutable: true }))).code, 201);
  isStatus(await raw('PATCH', '/api/v1/namespaces/bad/configmaps/frozen', '{"data":{"a":"2"}}', { 'Content-Type': 'application/merge-patch+json' }), 422, 'Invalid');
  const labelled = await raw('PATCH', '/api/v1/namespaces/bad/configmaps/frozen', '{"metadata":{"labels":{"ok":"yes"}}}', { 'Content-Type': 'application/merge-patch+json' });
  assert.equal(labelled.code, 200, 'metadata of an immutable ConfigMap may still change');
});

/** An upgrade request over raw TLS; resolves with the status line and body the server answered. */
function upgrade(path: string, headers: Record<string, string>, token: string | null = srv.adminToken): Promise<{ status: string; text: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(path, srv.url);
    const req = https.request(u, { method: 'GET', ca: srv.caPem, headers: { Connection: 'Upgrade', ...(token !== null ? { Authorization: `Bearer ${token}` } : {}), ...headers } });
    req.on('upgrade', (res) => resolve({ status: String(res.statusCode), text: '' }));
    req.on('response', (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: String(res.statusCode), text }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('pod subresources on a server without a kubelet, and bad upgrades, get Status errors (no crash)', async () => {
  const pod = await raw('POST', '/api/v1/namespaces/bad/pods', JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'mesh-federation:dev' }] } }));
  assert.equal(pod.code, 201);
  const log = await raw('GET', '/api/v1/namespaces/bad/pods/p/log');
  isStatus(log, 400, 'BadRequest');
  assert.match(log.body.message ?? '', /does not have a host assigned/);
  isStatus(await raw('GET', '/api/v1/namespaces/bad/pods/p/log?container=nope'), 400, 'BadRequest');
  isStatus(await raw('GET', '/api/v1/namespaces/bad/pods/p/log?tailLines=-1'), 400, 'BadRequest');
  isStatus(await raw('POST', '/api/v1/namespaces/bad/pods/p/exec?command=true&stdout=true'), 400, 'BadRequest');
  const ws = { Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Protocol': 'v5.channel.k8s.io' };
  const noKubelet = await upgrade('/api/v1/namespaces/bad/pods/p/exec?command=true&stdout=true', ws);
  assert.equal(noKubelet.status, '400');
  assert.match(noKubelet.text, /does not have a host assigned/);
  assert.equal((await upgrade('/api/v1/namespaces/bad/pods/p/exec?stdout=true', ws)).status, '400', 'no command');
  assert.equal((await upgrade('/api/v1/namespaces/bad/pods/p/exec?command=true', ws)).status, '400', 'no stream asked for');
  assert.equal((await upgrade('/api/v1/namespaces/bad/pods/missing/exec?command=true&stdout=true', ws)).status, '404');
  assert.equal((await upgrade('/api/v1/namespaces/bad/pods/p/exec?command=true&stdout=true', ws, null)).status, '401');
  assert.equal((await upgrade('/api/v1/namespaces/bad/configmaps/x', ws)).status, '400', 'only exec and portforward upgrade');
  assert.equal((await raw('GET', '/api/v1/namespaces/bad/pods/p')).code, 200, 'the server still answers');
});
