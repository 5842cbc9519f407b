// Two clusters in isolated mode (root): each in its own network namespace, joined only through node
// addresses on an underlay. Pod IPs and ClusterIPs of another cluster are unreachable; NodePorts cross;
// `route --flat` opens pod-to-pod and `--remove` closes it again; `down` removes every namespace.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { stopAll, startMesh } from '../helpers/process.js';
import type { KubeClient } from '../../src/kube/index.js';
import { isolatedUnsupported } from '../../src/sandbox/index.js';
import { listNetns } from '../../src/sandbox/netns.js';
import { client, echoApp, eventually, hasKubectl, kubectl, markedProcesses, runClient, sandboxDown, sandboxUp, writeManifest, type UpResult } from './sandbox-helpers.js';

const why = isolatedUnsupported();
if (why) console.log(`# sandbox isolated tests skipped: ${why}`);

let sb: UpResult | undefined;
let b: KubeClient | undefined;
/** Namespaces as a killed sandbox leaves them (no process in them, no process with their sandbox id). */
const leftovers = ['msbdead00-1', 'msbdead00-ul'];

before(async () => {
  if (why) return;
  for (const n of leftovers) if (!listNetns().includes(n)) execFileSync('ip', ['netns', 'add', n]);
  // Age 0: the leftovers were made just now (a real run leaves them alone for a minute: a sandbox may be starting).
  sb = await sandboxUp(['cluster-a', 'cluster-b'], 'isolated', { MESH_SANDBOX_STALE_NETNS_MIN_AGE_MS: '0' });
  b = await client(sb.kubeconfig, 'cluster-b');
});

after(async () => {
  for (const n of leftovers) if (listNetns().includes(n)) execFileSync('ip', ['netns', 'del', n]);
  b?.close();
  if (sb && existsSync(join(sb.dir, 'state.json'))) await sandboxDown(sb.dir).catch(() => undefined);
  await stopAll();
});

test('isolated: up removes network namespaces a killed sandbox left behind, and says so', { skip: why }, () => {
  assert.ok(sb);
  assert.match(sb.proc.stderr(), /removed network namespaces left by a killed sandbox: msbdead00-1, msbdead00-ul/);
  const now = listNetns();
  for (const n of leftovers) assert.ok(!now.includes(n), `${n} is gone`);
  // The running sandbox's own namespaces stay.
  for (const c of sb.clusters) assert.ok(c.netns && now.includes(c.netns), `${c.netns ?? '?'} stays`);
});

async function route(args: string[]): Promise<string> {
  const p = startMesh(['sandbox', 'route', '--flat', ...args, '--dir', sb!.dir]);
  assert.equal(await p.exited, 0, p.stderr());
  return p.stdout();
}

test('isolated: apps answer inside their cluster by name; other clusters reach only NodePorts until flat routes are added', { skip: why }, async (t) => {
  assert.ok(sb && b);
  const m = writeManifest(sb.dir, 'web-b.yaml', echoApp({ name: 'web', ns: 'demo', replicas: 1, cluster: 'cluster-b', serviceType: 'NodePort' }));
  kubectl(sb.kubeconfig, 'cluster-b', ['apply', '-f', m]);
  const pod = await eventually('a ready web pod in cluster-b', async () => {
    const l = await b!.list<{ status?: { podIP?: string; conditions?: Array<{ type: string; status: string }> } }>('/api/v1/namespaces/demo/pods', { labelSelector: 'app=web' });
    return l.items.find((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
  }, 60_000);
  const podIP = pod.status!.podIP!;
  const svc = await b.get<{ spec: { clusterIP: string; ports: Array<{ nodePort: number }> } }>('/api/v1/namespaces/demo/services/web');
  const nodeB = sb.clusters[1]!.node;
  assert.ok(podIP.startsWith('10.2.'), `pod IP from cluster-b's pod CIDR: ${podIP}`);

  await t.test('inside cluster-b: by Service name through the cluster DNS to the ClusterIP', () => {
    const r = runClient(['--url', 'http://web.demo.svc.cluster.local/', '--count', '2'], { dir: sb!.dir, inCluster: 'cluster-b' });
    assert.equal(r.code, 0, r.out);
    assert.ok(r.results.every((x) => x.ok && x.cluster === 'cluster-b'), r.out);
  });
  await t.test('from cluster-a: pod IP and ClusterIP of cluster-b fail, the NodePort works', () => {
    const toPod = runClient(['--url', `http://${podIP}:8080/`, '--count', '1', '--timeout-ms', '2000'], { dir: sb!.dir, inCluster: 'cluster-a' });
    assert.notEqual(toPod.code, 0, toPod.out);
    assert.equal(toPod.results[0]?.ok, false);
    const toClusterIP = runClient(['--url', `http://${svc.spec.clusterIP}/`, '--count', '1', '--timeout-ms', '2000'], { dir: sb!.dir, inCluster: 'cluster-a' });
    assert.notEqual(toClusterIP.code, 0, toClusterIP.out);
    const toNodePort = runClient(['--url', `http://${nodeB}:${svc.spec.ports[0]!.nodePort}/`, '--count', '1'], { dir: sb!.dir, inCluster: 'cluster-a' });
    assert.equal(toNodePort.code, 0, toNodePort.out);
    assert.equal(toNodePort.results[0]?.cluster, 'cluster-b');
  });
  await t.test('route --flat opens pod-to-pod; --remove closes it again', async () => {
    assert.match(await route(['cluster-a', 'cluster-b']), /added routes/);
    const open = runClient(['--url', `http://${podIP}:8080/`, '--count', '1', '--timeout-ms', '3000'], { dir: sb!.dir, inCluster: 'cluster-a' });
    assert.equal(open.code, 0, open.out);
    assert.equal(open.results[0]?.cluster, 'cluster-b');
    assert.match(await route(['cluster-a', 'cluster-b', '--remove']), /removed routes/);
    const closed = runClient(['--url', `http://${podIP}:8080/`, '--count', '1', '--timeout-ms', '2000'], { dir: sb!.dir, inCluster: 'cluster-a' });
    assert.notEqual(closed.code, 0, closed.out);
  });
  await t.test('kubectl exec runs in the cluster\'s network namespace with the pod\'s address and cluster DNS', { skip: !hasKubectl() ? 'kubectl is not installed' : false }, () => {
    const name = kubectl(sb!.kubeconfig, 'cluster-b', ['-n', 'demo', 'get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[0].metadata.name}']).trim();
    const out = kubectl(sb!.kubeconfig, 'cluster-b', ['-n', 'demo', 'exec', name, '--', 'sh', '-c', 'echo "ip=$POD_IP"; ip -4 -o addr show eth0; getent hosts web.demo.svc.cluster.local']);
    assert.match(out, new RegExp(`^ip=${podIP.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(out, new RegExp(`inet ${nodeB.replace(/\./g, '\\.')}/`), 'eth0 of the cluster namespace, not the host');
    assert.match(out, new RegExp(`^${svc.spec.clusterIP.replace(/\./g, '\\.')}\\s+web\\.demo`, 'm'), 'cluster DNS answers');
  });
  await t.test('the other cluster\'s API server is reachable from inside a cluster (as kind nodes are)', () => {
    const api = sb!.clusters[1]!.apiFromClusters;
    const r = startMesh(['sandbox', 'exec', '--dir', sb!.dir, 'cluster-a', '--', process.execPath, '-e', `require('https').get('${api}/version',{rejectUnauthorized:false},(r)=>{console.log('status',r.statusCode);process.exit(0)}).on('error',(e)=>{console.log(e.message);process.exit(1)})`]);
    return r.exited.then((code) => assert.equal(code, 0, r.stdout() + r.stderr()));
  });
});

test('isolated: down removes every namespace and process', { skip: why }, async () => {
  assert.ok(sb);
  const prefix = `msb${sb.sandboxId}-`;
  assert.equal(listNetns().filter((n) => n.startsWith(prefix)).length, 3);
  await sandboxDown(sb.dir);
  await sb.proc.exited;
  assert.deepEqual(listNetns().filter((n) => n.startsWith(prefix)), []);
  assert.deepEqual(markedProcesses(sb.sandboxId), []);
  assert.equal(existsSync(`/etc/netns/${prefix}1`), false);
});
