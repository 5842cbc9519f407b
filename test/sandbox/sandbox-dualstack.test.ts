// A dual-stack sandbox cluster (`mesh sandbox up --dual-stack`, loopback network: any user): Services get
// IPv6 ClusterIPs from the cluster's fd00:127:X::/108 range as kube-apiserver gives them, and the cluster
// DNS, asked by the real `dig`, answers AAAA with the IPv6 ClusterIP and A with the IPv4 one, for
// cluster.local and (from a ServiceImport) clusterset.local. Loopback mode has no IPv6 service data path
// (only ::1 is local): the proxy says so in its status rather than failing to bind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { isIPv4, isIPv6 } from 'node:net';
import { stopAll } from '../helpers/process.js';
import type { KubeClient } from '../../src/kube/index.js';
import { installServiceImportCrd, serviceImport } from '../helpers/mcs-upstream.js';
import { client, hasKubectl, kubectl, sandboxDown, sandboxUp, type UpResult } from './sandbox-helpers.js';

const execFileP = promisify(execFile);
const hasDig = spawnSync('dig', ['-v'], { encoding: 'utf8' }).error === undefined;
const why = (!hasKubectl() && 'kubectl is not installed') || (!hasDig && 'dig is not installed (apt-get install -y dnsutils)') || undefined;
if (why) console.log(`# dual-stack sandbox tests skipped: ${why}`);

const C = 'cluster-a';
let sb: UpResult | undefined;
let k: KubeClient | undefined;

before(async () => {
  if (why) return;
  sb = await sandboxUp([C], 'loopback', {}, ['--dual-stack']);
  k = await client(sb.kubeconfig, C);
});
after(async () => {
  k?.close();
  if (sb) await sandboxDown(sb.dir);
  await stopAll();
});

async function dig(name: string, type: string): Promise<string[]> {
  const [host, port] = sb!.clusters[0]!.dns.split(':') as [string, string];
  const res = await execFileP('dig', [`@${host}`, '-p', port, '+tries=1', '+time=3', '+short', name, type], { encoding: 'utf8', timeout: 15_000 });
  return res.stdout.split('\n').filter(Boolean).sort();
}

/** Polls dig (bounded: 100 tries) until it answers `want`; returns the last answer. */
async function digUntil(name: string, type: string, want: string[]): Promise<string[]> {
  let got = await dig(name, type);
  for (let i = 0; i < 100 && JSON.stringify(got) !== JSON.stringify([...want].sort()); i++) {
    await new Promise((r) => setTimeout(r, 100));
    got = await dig(name, type);
  }
  return got;
}

const svcDoc = (name: string, spec: string) => `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: default}\nspec:\n${spec}  selector: {app: ${name}}\n  ports: [{name: http, port: 8080}]\n`;

test('the cluster is dual-stack: its service range has an IPv6 part and Services get IPv6 ClusterIPs as asked', { skip: why }, async () => {
  const c = sb!.clusters[0]!;
  const [v4, v6] = c.serviceCIDR.split(',');
  assert.match(v4!, /^127\.\d+\.128\.0\/17$/);
  assert.match(v6!, /^fd00:127:\d+::\/108$/);
  kubectl(sb!.kubeconfig, C, ['apply', '-f', '-'], svcDoc('web', '  ipFamilyPolicy: PreferDualStack\n') + '---\n' + svcDoc('six', '  ipFamilies: [IPv6]\n') + '---\n' + svcDoc('four', ''));
  const ips = (name: string) => JSON.parse(kubectl(sb!.kubeconfig, C, ['get', 'svc', name, '-o', 'jsonpath={.spec.clusterIPs}'])) as string[];
  const web = ips('web');
  assert.ok(isIPv4(web[0]!) && isIPv6(web[1]!) && web[1]!.startsWith(v6!.split('::')[0]!), String(web));
  assert.ok(isIPv6(ips('six')[0]!) && ips('six').length === 1);
  assert.ok(isIPv4(ips('four')[0]!) && ips('four').length === 1, 'the default stays single-stack IPv4');
});

test('cluster DNS: cluster.local A → the IPv4 ClusterIP, AAAA → the IPv6 one', { skip: why }, async () => {
  const ips = (name: string) => JSON.parse(kubectl(sb!.kubeconfig, C, ['get', 'svc', name, '-o', 'jsonpath={.spec.clusterIPs}'])) as string[];
  const web = ips('web');
  assert.deepEqual(await digUntil('web.default.svc.cluster.local', 'A', [web[0]!]), [web[0]]);
  assert.deepEqual(await digUntil('web.default.svc.cluster.local', 'AAAA', [web[1]!]), [web[1]]);
  const six = ips('six');
  assert.deepEqual(await digUntil('six.default.svc.cluster.local', 'AAAA', six), six);
  assert.deepEqual(await dig('six.default.svc.cluster.local', 'A'), [], 'an IPv6-only Service has no A record');
  assert.deepEqual(await dig('four.default.svc.cluster.local', 'AAAA'), [], 'an IPv4-only Service has no AAAA record');
});

test('cluster DNS: clusterset.local A/AAAA from a dual-stack ServiceImport', { skip: why }, async () => {
  await installServiceImportCrd(k!);
  const vips = ['127.99.0.7', 'fd00:127:99::7'];
  await k!.create('/apis/multicluster.x-k8s.io/v1beta1/namespaces/default/serviceimports', serviceImport('default', 'shop', { type: 'ClusterSetIP', ips: vips, ports: [{ name: 'http', protocol: 'TCP', port: 8080 }] }, [C]));
  assert.deepEqual(await digUntil('shop.default.svc.clusterset.local', 'AAAA', [vips[1]!]), [vips[1]]);
  assert.deepEqual(await digUntil('shop.default.svc.clusterset.local', 'A', [vips[0]!]), [vips[0]]);
});
