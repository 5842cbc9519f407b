// `mesh authz`, `mesh export --to` and mesh check's authorization lines, each `mesh` run its own process
// against an embedded API server: what is written is exactly what src/api's parser accepts; bad entries are
// usage errors (exit 2) that write nothing; check flags unparsable lists, open exports in a locked namespace
// and a Link that refuses its peer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { stopAll } from '../helpers/process.js';
import type { KubeClient } from '../../src/kube/index.js';
import { linkRefusesVerdict, openInLockedVerdict, unparsableVerdict } from '../../src/cli/check-authz.js';
import { parseLinkSpec } from '../../src/api/index.js';
import { startClusters, type TestClusters } from './clusters.js';

let t: TestClusters;
let b: KubeClient;
const B = 'cluster-b';
const SVC = '/api/v1/namespaces/demo/services';
const ann = async (name: string) => (await b.get(`${SVC}/${name}`)).metadata?.annotations ?? {};

before(async () => {
  t = await startClusters([B]);
  b = await t.client(B);
  await b.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'demo' } });
  for (const name of ['web', 'api']) {
    await b.create(SVC, { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'demo' }, spec: { ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } });
  }
});
after(async () => {
  await stopAll();
  await t?.cleanup();
});

test('mesh authz: show, --allow, --remove, --set, --clear, the namespace default; bad entries are usage errors that write nothing', async () => {
  let r = await t.mesh(['authz', 'web', '-n', 'demo', '--context', B, '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { effective: string }).effective, 'everyone');
  r = await t.mesh(['authz', 'web', '-n', 'demo', '--context', B, '--allow', 'cluster:cluster-a, spiffe://mesh.local/ns/web/sa/frontend']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /allowed identities: cluster:cluster-a, spiffe:\/\/mesh.local\/ns\/web\/sa\/frontend/);
  assert.equal((await ann('web'))['mirror.mesh.io/allowed-identities'], 'cluster:cluster-a,spiffe://mesh.local/ns/web/sa/frontend');
  r = await t.mesh(['authz', 'web', '-n', 'demo', '--context', B, '--allow', 'cluster:Bad_Name']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--allow: invalid entry: "cluster:Bad_Name" names no valid cluster/);
  assert.equal((await ann('web'))['mirror.mesh.io/allowed-identities'], 'cluster:cluster-a,spiffe://mesh.local/ns/web/sa/frontend', 'nothing written');
  r = await t.mesh(['authz', 'web', '-n', 'demo', '--context', B, '--deny', 'cluster:cluster-a']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await ann('web'))['mirror.mesh.io/allowed-identities'], 'spiffe://mesh.local/ns/web/sa/frontend');
  // Removing the last entry would admit everyone: refused, --clear says it explicitly.
  r = await t.mesh(['authz', 'web', '-n', 'demo', '--context', B, '--remove', 'spiffe://mesh.local/ns/web/sa/frontend']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /use --clear/);
  r = await t.mesh(['authz', '-n', 'demo', '--context', B, '--namespace-default', 'cluster:cluster-a']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await b.get('/api/v1/namespaces/demo')).metadata?.annotations?.['mirror.mesh.io/default-allowed-identities'], 'cluster:cluster-a');
  r = await t.mesh(['authz', 'web', '-n', 'demo', '--context', B, '--clear', '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const v = JSON.parse(r.stdout) as { effective: string; namespaceDefault: { entries: string[] } };
  assert.equal(v.effective, 'namespace');
  assert.deepEqual(v.namespaceDefault.entries, ['cluster:cluster-a']);
  assert.equal((await ann('web'))['mirror.mesh.io/allowed-identities'], undefined);
  // A list written by hand that does not parse is shown as such.
  await b.patch(`${SVC}/api`, { metadata: { annotations: { 'mirror.mesh.io/allowed-identities': 'cluster:' } } });
  r = await t.mesh(['authz', 'api', '-n', 'demo', '--context', B]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /unparsable, admits nobody: invalid entry: "cluster:" names no valid cluster/);
});

test('mesh export --to writes export-to on the Service (label and ServiceExport paths); a bad cluster name is a usage error', async () => {
  let r = await t.mesh(['export', 'web', '-n', 'demo', '--context', B, '--label', '--to', 'cluster-a,cluster-c']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /exported \(mirror.mesh.io\/exported=true\) to cluster-a, cluster-c only/);
  assert.equal((await ann('web'))['mirror.mesh.io/export-to'], 'cluster-a,cluster-c');
  r = await t.mesh(['export', 'web', '-n', 'demo', '--context', B, '--label', '--to', 'cluster-a,NOPE']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--to "NOPE" is not a cluster name/);
  assert.equal((await ann('web'))['mirror.mesh.io/export-to'], 'cluster-a,cluster-c', 'nothing written');
  r = await t.mesh(['export', 'web', '-n', 'demo', '--context', B, '--label', '--to', 'cluster-a', '--dry-run', '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /"mirror.mesh.io\/export-to": "cluster-a"/);
  assert.equal((await ann('web'))['mirror.mesh.io/export-to'], 'cluster-a,cluster-c', 'a dry run writes nothing');
});

test("mesh check's authorization verdicts: unparsable lists, open exports in a locked namespace, Links refusing their peer", () => {
  const svc = (name: string, annotations: Record<string, string>) => ({ metadata: { name, namespace: 'demo', annotations } });
  const ns = (annotations: Record<string, string>) => ({ metadata: { name: 'demo', annotations } });
  const link = (allowedIdentities?: string[]) => {
    const p = parseLinkSpec({ targetClusterName: 'cluster-a', clusterCredentialsSecret: 'c', gateway: { addresses: ['1.2.3.4'], identity: 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway', ...(allowedIdentities ? { allowedIdentities } : {}) } });
    assert.ok(p.ok);
    return { name: 'cluster-a', spec: p.spec };
  };
  const td = () => 'mesh.local';
  assert.equal(unparsableVerdict({ exports: [svc('web', { 'mirror.mesh.io/allowed-identities': 'cluster:a' })], namespaces: [], links: [] }).ok, true);
  const bad = unparsableVerdict({ exports: [svc('web', { 'mirror.mesh.io/export-to': '' })], namespaces: [ns({ 'mirror.mesh.io/default-allowed-identities': 'x y' })], links: [] });
  assert.equal(bad.ok, false);
  assert.match(bad.detail, /Service demo\/web mirror.mesh.io\/export-to lists no cluster.*Namespace demo/);
  const open = openInLockedVerdict({ exports: [svc('web', { 'mirror.mesh.io/allowed-identities': 'mesh.local' }), svc('api', {})], namespaces: [ns({ 'mirror.mesh.io/default-allowed-identities': 'cluster:cluster-a' })], links: [] });
  assert.equal(open.ok, false);
  assert.match(open.detail, /demo\/web \(mesh.local\)/);
  assert.doesNotMatch(open.detail, /demo\/api/);
  assert.equal(openInLockedVerdict({ exports: [svc('web', { 'mirror.mesh.io/allowed-identities': 'mesh.local' })], namespaces: [ns({})], links: [] }).ok, true);
  assert.equal(linkRefusesVerdict({ exports: [], namespaces: [], links: [link(), link(['cluster:cluster-a']), link(['spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway'])] }, td).ok, true);
  const refuses = linkRefusesVerdict({ exports: [], namespaces: [], links: [link(['cluster:cluster-c'])] }, td);
  assert.equal(refuses.ok, false);
  assert.match(refuses.detail, /admits no caller from cluster-a/);
  assert.match(linkRefusesVerdict({ exports: [], namespaces: [], links: [link(['spiffe://mesh.local/ns/web/*'])] }, td).detail, /refuses cluster-a's gateway itself/);
});

test('mesh check reports an export whose policy does not parse (a process, on an installed cluster)', async () => {
  const inst = await t.mesh(['install', B, '--trust-root', t.rootDir, '--no-wait']);
  assert.equal(inst.code, 0, inst.stderr);
  await b.patch(`${SVC}/api`, { metadata: { labels: { 'mirror.mesh.io/exported': 'true' }, annotations: { 'mirror.mesh.io/allowed-identities': 'cluster:' } } });
  const r = await t.mesh(['check', B, '--no-data-path', '-o', 'json']);
  const lines = JSON.parse(r.stdout) as Array<{ check: string; ok: boolean; detail: string }>;
  const parse = lines.find((l) => l.check === 'export policies parse');
  assert.equal(parse?.ok, false, JSON.stringify(lines));
  assert.match(parse?.detail ?? '', /Service demo\/api mirror.mesh.io\/allowed-identities: invalid entry: "cluster:"/);
  assert.equal(lines.find((l) => l.check === 'Links admit their peers')?.ok, true);
  assert.equal(r.code, 1);
});
