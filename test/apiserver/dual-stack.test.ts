// Dual-stack Services as kube-apiserver serves them: `mesh apiserver --service-cidr <v4>,<v6>` (a process),
// driven by the real @kubernetes/client-node and kubectl. ipFamilyPolicy / ipFamilies / clusterIP(s) defaults
// and allocation per family, headless, Kubernetes' error texts for invalid combinations, upgrade and
// downgrade on update, release on delete, allocations kept across a restart; a single-stack server refuses
// what needs a second family.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { ApiException, CoreV1Api, type V1Service, type V1ServiceSpec } from '@kubernetes/client-node';
import { startApiServer, type TestApiServer } from '../helpers/apiserver.js';
import { startMesh, stopAll } from '../helpers/process.js';

const V4 = '10.96.0.0/16';
const V6 = 'fd00:10:96::/108';
let dual: TestApiServer;
let single: TestApiServer;
let core: CoreV1Api;
let coreSingle: CoreV1Api;
const NS = 'default';

before(async () => {
  [dual, single] = await Promise.all([startApiServer({ args: ['--service-cidr', `${V4},${V6}`] }), startApiServer()]);
  core = dual.kubeConfig.makeApiClient(CoreV1Api);
  coreSingle = single.kubeConfig.makeApiClient(CoreV1Api);
});
after(async () => {
  await dual?.stop();
  await single?.stop();
  await stopAll();
});

const svc = (name: string, spec: V1ServiceSpec): V1Service => ({ metadata: { name }, spec: { ports: [{ port: 80 }], selector: { app: name }, ...spec } });

async function create(name: string, spec: V1ServiceSpec, api = core): Promise<V1ServiceSpec> {
  const s = await api.createNamespacedService({ namespace: NS, body: svc(name, spec) });
  return s.spec!;
}

/** The API's answer to a write that must fail: HTTP code and the Status message. */
async function refused(p: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ApiException) return { code: e.code, message: (JSON.parse(String(e.body)) as { message: string }).message };
    throw e;
  }
  assert.fail('the write was accepted');
}

async function refusedCreate(name: string, spec: V1ServiceSpec, api = core): Promise<string> {
  const r = await refused(api.createNamespacedService({ namespace: NS, body: svc(name, spec) }));
  assert.equal(r.code, 422, r.message);
  return r.message;
}

test('defaults on a dual-stack cluster: SingleStack of the primary family, PreferDualStack/RequireDualStack take both, ipFamilies order is the primary', async () => {
  const plain = await create('plain', {});
  assert.equal(plain.ipFamilyPolicy, 'SingleStack');
  assert.deepEqual(plain.ipFamilies, ['IPv4']);
  assert.equal(plain.clusterIPs!.length, 1);
  assert.ok(isIPv4(plain.clusterIP!) && plain.clusterIPs![0] === plain.clusterIP);

  const prefer = await create('prefer', { ipFamilyPolicy: 'PreferDualStack' });
  assert.deepEqual(prefer.ipFamilies, ['IPv4', 'IPv6']);
  assert.ok(isIPv4(prefer.clusterIPs![0]!) && isIPv6(prefer.clusterIPs![1]!), String(prefer.clusterIPs));
  assert.ok(prefer.clusterIPs![1]!.startsWith('fd00:10:96::'));

  const six = await create('six-first', { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv6'] });
  assert.deepEqual(six.ipFamilies, ['IPv6', 'IPv4']);
  assert.ok(isIPv6(six.clusterIP!) && isIPv4(six.clusterIPs![1]!));

  const only6 = await create('only-six', { ipFamilies: ['IPv6'] });
  assert.equal(only6.ipFamilyPolicy, 'SingleStack');
  assert.deepEqual(only6.ipFamilies, ['IPv6']);
  assert.ok(isIPv6(only6.clusterIP!) && only6.clusterIPs!.length === 1);

  // Two families and no policy: RequireDualStack, as kube-apiserver infers it.
  const both = await create('both', { ipFamilies: ['IPv6', 'IPv4'] });
  assert.equal(both.ipFamilyPolicy, 'RequireDualStack');
  assert.ok(isIPv6(both.clusterIPs![0]!) && isIPv4(both.clusterIPs![1]!));

  // Requested IPs: families inferred from them, in their order.
  const asked = await create('asked', { clusterIP: 'fd00:10:96::77', clusterIPs: ['fd00:10:96::77', '10.96.7.7'] });
  assert.deepEqual(asked.clusterIPs, ['fd00:10:96::77', '10.96.7.7']);
  assert.deepEqual(asked.ipFamilies, ['IPv6', 'IPv4']);
  assert.equal(asked.ipFamilyPolicy, 'RequireDualStack');

  // An old client setting only clusterIP gets clusterIPs filled.
  const old = await create('old-client', { clusterIP: 'fd00:10:96::78' });
  assert.deepEqual(old.clusterIPs, ['fd00:10:96::78']);
  assert.deepEqual(old.ipFamilies, ['IPv6']);
});

test('headless: no IPs, families by policy; selectorless headless may ask for both', async () => {
  const h = await create('hl', { clusterIP: 'None', ipFamilyPolicy: 'PreferDualStack' });
  assert.deepEqual(h.clusterIPs, ['None']);
  assert.deepEqual(h.ipFamilies, ['IPv4', 'IPv6']);
  const h1 = await create('hl-single', { clusterIP: 'None' });
  assert.deepEqual(h1.ipFamilies, ['IPv4']);
  assert.equal(h1.ipFamilyPolicy, 'SingleStack');
  const sel = await core.createNamespacedService({ namespace: NS, body: { metadata: { name: 'hl-nosel' }, spec: { clusterIP: 'None', ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv6'], ports: [{ port: 80 }] } } });
  assert.deepEqual(sel.spec!.ipFamilies, ['IPv6', 'IPv4']);
  // On a single-stack cluster too (its endpoints are not the cluster's to allocate).
  const s = await coreSingle.createNamespacedService({ namespace: NS, body: { metadata: { name: 'hl-nosel' }, spec: { clusterIP: 'None', ipFamilyPolicy: 'PreferDualStack', ports: [{ port: 80 }] } } });
  assert.deepEqual(s.spec!.ipFamilies, ['IPv4', 'IPv6']);
  assert.match(await refusedCreate('hl-two', { clusterIP: 'None', clusterIPs: ['None', '10.96.9.9'] }), /spec\.clusterIPs: Invalid value: \[\]string\{"None", "10\.96\.9\.9"\}: 'None' must be the first and only value/);
});

test("invalid combinations are refused with Kubernetes' messages", async () => {
  const cases: Array<[string, V1ServiceSpec, RegExp]> = [
    ['x1', { ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv4', 'IPv6'] }, /spec\.ipFamilyPolicy: Invalid value: "SingleStack": must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified/],
    ['x2', { ipFamilyPolicy: 'SingleStack', clusterIP: '10.96.8.1', clusterIPs: ['10.96.8.1', 'fd00:10:96::81'] }, /must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified/],
    ['x3', { clusterIP: '10.96.8.2', clusterIPs: ['10.96.8.2', '10.96.8.3'] }, /spec\.clusterIPs: Invalid value: \[\]string\{"10\.96\.8\.2", "10\.96\.8\.3"\}: may specify no more than one IP for each IP family/],
    ['x4', { clusterIP: '10.96.8.4', clusterIPs: ['10.96.8.5'] }, /spec\.clusterIPs: Invalid value: \[\]string\{"10\.96\.8\.5"\}: first value must match `clusterIP`/],
    ['x5', { clusterIPs: ['10.96.8.6'] }, /must be empty when `clusterIP` is not specified/],
    ['x6', { ipFamilies: ['IPv4'], clusterIP: 'fd00:10:96::86' }, /spec\.clusterIPs\[0\]: Invalid value: "fd00:10:96::86": expected an IPv4 value as indicated by `ipFamilies\[0\]`/],
    ['x7', { ipFamilies: ['IPv6', 'IPv6'] }, /spec\.ipFamilies\[1\]: Duplicate value: "IPv6"/],
    ['x8', { ipFamilies: ['IPv5' as never] }, /spec\.ipFamilies\[0\]: Unsupported value: "IPv5": supported values: "IPv4", "IPv6"/],
    ['x9', { ipFamilyPolicy: 'DualStack' as never }, /spec\.ipFamilyPolicy: Unsupported value: "DualStack": supported values: "PreferDualStack", "RequireDualStack", "SingleStack"/],
    ['x10', { clusterIP: 'fd00:10:97::1' }, /spec\.clusterIPs: Invalid value: \[\]string\{"fd00:10:97::1"\}: failed to allocate IP fd00:10:97::1: the provided IP \(fd00:10:97::1\) is not in the valid range\. The range of valid IPs is fd00:10:96::\/108/],
    ['x11', { clusterIP: '10.96.7.7' }, /failed to allocate IP 10\.96\.7\.7: provided IP is already allocated/],
    ['x12', { clusterIP: 'not-an-ip' }, /spec\.clusterIPs\[0\]: Invalid value: "not-an-ip": must be a valid IP address/],
  ];
  for (const [name, spec, re] of cases) assert.match(await refusedCreate(name, spec), re, name);
});

test('a single-stack cluster refuses what needs the second family; PreferDualStack stays single', async () => {
  assert.match(await refusedCreate('req', { ipFamilyPolicy: 'RequireDualStack' }, coreSingle), /spec\.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services/);
  assert.match(await refusedCreate('v6', { ipFamilies: ['IPv6'] }, coreSingle), /spec\.ipFamilies\[0\]: Invalid value: "IPv6": not configured on this cluster/);
  assert.match(await refusedCreate('v6ip', { clusterIP: 'fd00::5' }, coreSingle), /spec\.clusterIPs\[0\]: Invalid value: \[\]string\{"fd00::5"\}: IPv6 is not configured on this cluster/);
  const p = await create('prefer', { ipFamilyPolicy: 'PreferDualStack' }, coreSingle);
  assert.deepEqual(p.ipFamilies, ['IPv4']);
  assert.equal(p.clusterIPs!.length, 1);
  assert.equal(p.ipFamilyPolicy, 'PreferDualStack');
});

test('update: SingleStack → PreferDualStack adds the second IP, back to SingleStack releases it; the rules of kube-apiserver', async () => {
  const name = 'updown';
  const first = await create(name, {});
  const v4 = first.clusterIP!;
  const read = () => core.readNamespacedService({ name, namespace: NS });
  let live = await read();
  live.spec!.ipFamilyPolicy = 'PreferDualStack';
  const up = (await core.replaceNamespacedService({ name, namespace: NS, body: live })).spec!;
  assert.equal(up.clusterIP, v4, 'the primary stays');
  assert.deepEqual(up.ipFamilies, ['IPv4', 'IPv6']);
  const v6 = up.clusterIPs![1]!;
  assert.ok(isIPv6(v6));

  // Dropping the secondary without SingleStack, or changing the primary, is refused.
  live = await read();
  live.spec!.clusterIPs = [v4];
  live.spec!.ipFamilies = ['IPv4'];
  assert.match((await refused(core.replaceNamespacedService({ name, namespace: NS, body: live }))).message, /spec\.ipFamilyPolicy: Invalid value: "PreferDualStack": must be 'SingleStack' to release the secondary cluster IP/);
  live = await read();
  live.spec!.ipFamilies = ['IPv6', 'IPv4'];
  live.spec!.clusterIP = v6;
  live.spec!.clusterIPs = [v6, v4];
  assert.match((await refused(core.replaceNamespacedService({ name, namespace: NS, body: live }))).message, /may not change once set/);

  live = await read();
  live.spec!.ipFamilyPolicy = 'SingleStack';
  const down = (await core.replaceNamespacedService({ name, namespace: NS, body: live })).spec!;
  assert.deepEqual(down.clusterIPs, [v4]);
  assert.deepEqual(down.ipFamilies, ['IPv4']);
  // The released IPv6 address is free again: another Service may ask for it.
  const other = await create('takes-released', { clusterIP: v6 });
  assert.deepEqual(other.clusterIPs, [v6]);
});

test('delete releases both families; allocations survive a restart', async () => {
  const s = await create('gone', { ipFamilyPolicy: 'RequireDualStack' });
  const ips = s.clusterIPs!;
  await core.deleteNamespacedService({ name: 'gone', namespace: NS });
  const again = await create('again', { clusterIP: ips[0], clusterIPs: ips, ipFamilyPolicy: 'RequireDualStack' });
  assert.deepEqual(again.clusterIPs, ips);
  await dual.restart();
  core = dual.kubeConfig.makeApiClient(CoreV1Api);
  assert.match(await refusedCreate('dup-after-restart', { clusterIP: ips[1] }), /provided IP is already allocated/);
  const fresh = await create('fresh', { ipFamilyPolicy: 'PreferDualStack' });
  assert.ok(!fresh.clusterIPs!.some((ip) => ips.includes(ip)));
});

const kubectlBin = '/usr/bin/kubectl';
function kubectl(srv: TestApiServer, args: string[], input?: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = execFile(kubectlBin, ['--kubeconfig', srv.kubeconfigPath, ...args], { timeout: 20_000 }, (error, out, err) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out, err });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

test('kubectl: apply a dual-stack Service, patch the policy, and see the error of a bad one', { skip: !existsSync(kubectlBin) && 'kubectl is not installed' }, async () => {
  const doc = 'apiVersion: v1\nkind: Service\nmetadata: {name: kc, namespace: default}\nspec:\n  ipFamilyPolicy: RequireDualStack\n  ipFamilies: [IPv6, IPv4]\n  selector: {app: kc}\n  ports: [{port: 8080}]\n';
  const r = await kubectl(dual, ['apply', '-f', '-'], doc);
  assert.equal(r.code, 0, r.err);
  const ips = await kubectl(dual, ['get', 'svc', 'kc', '-o', 'jsonpath={.spec.clusterIPs}']);
  const list = JSON.parse(ips.out) as string[];
  assert.ok(isIPv6(list[0]!) && isIPv4(list[1]!), ips.out);
  const wide = await kubectl(dual, ['get', 'svc', 'kc']);
  assert.match(wide.out, new RegExp(`kc\\s+ClusterIP\\s+${list[0]!.replace(/[.:]/g, '\\$&')}\\s`));
  const down = await kubectl(dual, ['patch', 'svc', 'kc', '-p', '{"spec":{"ipFamilyPolicy":"SingleStack"}}']);
  assert.equal(down.code, 0, down.err);
  assert.equal((await kubectl(dual, ['get', 'svc', 'kc', '-o', 'jsonpath={.spec.clusterIPs}'])).out, JSON.stringify([list[0]]));
  const bad = await kubectl(single, ['create', '-f', '-'], doc.replace('name: kc', 'name: kc2'));
  assert.notEqual(bad.code, 0);
  // Both causes, as kubectl lists them.
  assert.match(bad.err, /The Service "kc2" is invalid: \n\* spec\.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services\n\* spec\.ipFamilies\[0\]: Invalid value: "IPv6": not configured on this cluster/);
});

test('mesh apiserver refuses a bad --service-cidr with exit 2', async () => {
  for (const cidr of ['10.96.0.0/16,10.97.0.0/16', 'fd00::/64', '10.96.0.0/16,fd00::/108,fd01::/108']) {
    const p = startMesh(['apiserver', '--data-dir', '/tmp/never-used-ipv6', '--port', '0', '--service-cidr', cidr]);
    const code = await p.exited;
    assert.equal(code, 2, `${cidr}: ${p.stderr()}`);
    assert.match(p.stderr(), /--service-cidr/);
  }
});
