// `mesh dns` as its own process against the embedded API server over HTTPS, asked by the real `dig`:
// the clusterset zone follows ServiceImports and MCS EndpointSlices as they are written, starting from a
// cluster that has no MCS CRD at all.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { KubeClient } from '../../src/kube/index.js';
import { startApiServer, type TestApiServer } from '../helpers/apiserver.js';
import { startMesh, stopAll, type Proc } from '../helpers/process.js';
import { importSlice, installServiceImportCrd, serviceImport } from '../helpers/mcs-upstream.js';

const execFileP = promisify(execFile);
const hasDig = spawnSync('dig', ['-v'], { encoding: 'utf8' }).error === undefined;
const noDig = 'dig is not installed (apt-get install -y dnsutils); skipping';

let api: TestApiServer;
let client: KubeClient;
let dns: Proc;
let port = 0;

before(async () => {
  if (!hasDig) return;
  api = await startApiServer({ clusterName: 'cluster-a' });
  client = await KubeClient.create(api.kubeConfig);
  dns = startMesh(['dns', '--listen', '127.0.0.1:0', '--kubeconfig', api.kubeconfigPath], { MESH_LOG_LEVEL: 'info' });
  const m = await dns.waitFor(/^(\{"ready":true.*\})$/m, 30_000);
  port = (JSON.parse(m[1] ?? '{}') as { port: number }).port;
});

after(async () => {
  client?.close();
  await stopAll();
  await api?.stop();
});

interface Dig { status: string; answers: string[][]; out: string }
async function dig(...args: string[]): Promise<Dig> {
  const res = await execFileP('dig', ['@127.0.0.1', '-p', String(port), '+tries=1', '+time=3', ...args], { encoding: 'utf8', timeout: 15_000 }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
  const out = res.stdout ?? '';
  const section = /;; ANSWER SECTION:\n([\s\S]*?)(\n\n|$)/.exec(out)?.[1] ?? '';
  return { out, status: /status: (\w+)/.exec(out)?.[1] ?? 'NONE', answers: section.split('\n').filter(Boolean).map((l) => l.split(/\s+/)) };
}
const data = (d: Dig) => d.answers.map((a) => a.slice(4).join(' ')).sort();

/** Polls dig until `ok` holds (bounded: 100 tries, 10 s); returns the last answer either way. */
async function digUntil(ok: (d: Dig) => boolean, ...args: string[]): Promise<Dig> {
  let d = await dig(...args);
  for (let i = 0; i < 100 && !ok(d); i++) {
    await new Promise((r) => setTimeout(r, 100));
    d = await dig(...args);
  }
  return d;
}

test('without the MCS CRD: ready, dns-version answers, service names are NXDOMAIN, other zones REFUSED', async (t) => {
  if (!hasDig) return t.skip(noDig);
  assert.match(dns.stdout() + dns.stderr(), /ServiceImport CRD not installed/);
  const v = await dig('dns-version.clusterset.local', 'TXT');
  assert.equal(v.status, 'NOERROR');
  assert.deepEqual(data(v), ['"1.0.0"']);
  assert.equal((await dig('web.demo.svc.clusterset.local', 'A')).status, 'NXDOMAIN');
  assert.equal((await dig('kubernetes.default.svc.cluster.local', 'A')).status, 'REFUSED');
});

test('imports written after start: A, AAAA, SRV, headless, per-pod names, then unexport → NXDOMAIN', async (t) => {
  if (!hasDig) return t.skip(noDig);
  await installServiceImportCrd(client);
  await client.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'demo' } });
  const si = '/apis/multicluster.x-k8s.io/v1beta1/namespaces/demo/serviceimports';
  await client.create(si, serviceImport('demo', 'web', { type: 'ClusterSetIP', ips: ['10.96.7.7'], ports: [{ name: 'http', protocol: 'TCP', port: 8080 }] }, ['cluster-a', 'cluster-b']));
  const pg = [{ name: 'pg', protocol: 'TCP' as const, port: 5432 }];
  await client.create(si, serviceImport('demo', 'db', { type: 'Headless', ports: pg }, ['cluster-a', 'cluster-b']));
  const slices = '/apis/discovery.k8s.io/v1/namespaces/demo/endpointslices';
  await client.create(slices, importSlice('demo', 'db', 'cluster-a', [{ ip: '10.1.0.5', hostname: 'db-0' }, { ip: '10.1.0.6', hostname: 'db-1', ready: false }], pg));
  await client.create(slices, importSlice('demo', 'db', 'cluster-b', [{ ip: '10.2.0.5', hostname: 'db-0' }], pg));

  const a = await digUntil((d) => d.status === 'NOERROR', 'web.demo.svc.clusterset.local', 'A');
  assert.equal(a.status, 'NOERROR', a.out);
  assert.match(a.out, /flags: qr aa/);
  assert.deepEqual(data(a), ['10.96.7.7']);
  const aaaa = await dig('web.demo.svc.clusterset.local', 'AAAA');
  assert.equal(aaaa.status, 'NOERROR');
  assert.deepEqual(aaaa.answers, []);
  assert.deepEqual(data(await dig('_http._tcp.web.demo.svc.clusterset.local', 'SRV')), ['0 100 8080 web.demo.svc.clusterset.local.']);

  const headless = await digUntil((d) => d.answers.length === 2, 'db.demo.svc.clusterset.local', 'A');
  assert.deepEqual(data(headless), ['10.1.0.5', '10.2.0.5']);
  assert.deepEqual(data(await dig('db-0.cluster-b.db.demo.svc.clusterset.local', 'A')), ['10.2.0.5']);
  assert.equal((await dig('db-1.cluster-a.db.demo.svc.clusterset.local', 'A')).status, 'NXDOMAIN');
  assert.deepEqual(data(await dig('+tcp', '_pg._tcp.db.demo.svc.clusterset.local', 'SRV')), [
    '0 50 5432 db-0.cluster-a.db.demo.svc.clusterset.local.',
    '0 50 5432 db-0.cluster-b.db.demo.svc.clusterset.local.',
  ]);

  // A StatefulSet pod becomes ready in cluster-a: its name appears.
  await client.replace(`${slices}/db-cluster-a`, {
    ...importSlice('demo', 'db', 'cluster-a', [{ ip: '10.1.0.5', hostname: 'db-0' }, { ip: '10.1.0.6', hostname: 'db-1' }], pg),
    metadata: { ...importSlice('demo', 'db', 'cluster-a', [], pg).metadata, resourceVersion: (await client.get<{ metadata: { resourceVersion: string } }>(`${slices}/db-cluster-a`)).metadata.resourceVersion },
  });
  const pod = await digUntil((d) => d.status === 'NOERROR', 'db-1.cluster-a.db.demo.svc.clusterset.local', 'A');
  assert.deepEqual(data(pod), ['10.1.0.6']);

  // Unexport: the import goes, and so do its names.
  await client.delete(`${si}/web`);
  assert.equal((await digUntil((d) => d.status === 'NXDOMAIN', 'web.demo.svc.clusterset.local', 'A')).status, 'NXDOMAIN');
  assert.equal((await dig('nope.demo.svc.clusterset.local', 'A')).status, 'NXDOMAIN');
});
