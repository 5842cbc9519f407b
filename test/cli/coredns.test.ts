// clusterset.local in real clusters: `mesh install` deploys mesh-dns and prints the CoreDNS stanza, or with
// --patch-coredns edits kube-system/coredns (idempotently, replacing an older clusterset block).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { stopAll } from '../helpers/process.js';
import type { KubeClient } from '../../src/kube/index.js';
import { corednsStanza, patchCorefile, unpatchCorefile } from '../../src/cli/coredns.js';
import { startClusters, getOrNull, type TestClusters } from './clusters.js';

// kind's default Corefile (CoreDNS 1.11), abridged to what matters: one server block with `reload`.
const KIND_COREFILE = `.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30
    loop
    reload
    loadbalance
}
`;

test('patchCorefile: appends once, then unchanged; replaces an older clusterset block, ours or not', () => {
  const s1 = corednsStanza('10.96.0.53');
  const first = patchCorefile(KIND_COREFILE, s1);
  assert.equal(first.changed, true);
  assert.ok(first.corefile.startsWith(KIND_COREFILE), 'the existing server block is kept as it was');
  assert.match(first.corefile, /clusterset\.local:53 \{\n {4}errors\n {4}cache 5\n {4}forward \. 10\.96\.0\.53\n\}/);
  assert.deepEqual(patchCorefile(first.corefile, s1), { corefile: first.corefile, changed: false });
  // The Service IP changed (reinstall): the block is replaced, not duplicated.
  const second = patchCorefile(first.corefile, corednsStanza('10.96.0.99'));
  assert.equal(second.corefile.match(/clusterset\.local/g)?.length, 2, 'marker comment + one server block');
  assert.match(second.corefile, /forward \. 10\.96\.0\.99/);
  assert.doesNotMatch(second.corefile, /10\.96\.0\.53/);
  // Someone else's block for the zone (nested braces) is replaced whole.
  const foreign = `${KIND_COREFILE}clusterset.local {\n    forward . 10.0.0.1 {\n       max_concurrent 10\n    }\n}\n`;
  const third = patchCorefile(foreign, s1);
  assert.doesNotMatch(third.corefile, /10\.0\.0\.1|max_concurrent 10\n/);
  assert.ok(third.corefile.startsWith(KIND_COREFILE));
});

test('unpatchCorefile: takes out only the block under our marker', () => {
  const ours = patchCorefile(KIND_COREFILE, corednsStanza('10.96.0.53')).corefile;
  assert.deepEqual(unpatchCorefile(ours), { corefile: KIND_COREFILE, changed: true });
  assert.deepEqual(unpatchCorefile(KIND_COREFILE), { corefile: KIND_COREFILE, changed: false });
  const foreign = `${KIND_COREFILE}clusterset.local {\n    forward . 10.0.0.1\n}\n`;
  assert.equal(unpatchCorefile(foreign).changed, false, 'a block someone else wrote stays');
});

let t: TestClusters;
let a: KubeClient;
before(async () => {
  t = await startClusters(['cluster-a']);
  a = await t.client('cluster-a');
});
after(async () => {
  await stopAll();
  await t?.cleanup();
});

test('install deploys mesh-dns and prints the stanza; --patch-coredns applies it, then is unchanged', async () => {
  const printed = await t.mesh(['install', 'cluster-a', '--trust-root', t.rootDir, '--no-wait']);
  assert.equal(printed.code, 0, printed.stderr);
  for (const path of ['/apis/apps/v1/namespaces/mesh-system/deployments/mesh-dns', '/api/v1/namespaces/mesh-system/services/mesh-dns', '/apis/rbac.authorization.k8s.io/v1/clusterroles/mesh-dns']) {
    assert.ok(await getOrNull(a, path), `${path} missing`);
  }
  const svc = (await getOrNull(a, '/api/v1/namespaces/mesh-system/services/mesh-dns')) as { spec: { clusterIP: string } };
  const ip = svc.spec.clusterIP;
  assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/);
  assert.ok(printed.stderr.includes(`forward . ${ip}`), printed.stderr);
  assert.match(printed.stderr, /or run install with --patch-coredns/);

  // No CoreDNS ConfigMap (not kubeadm/kind): a warning with the stanza, install still succeeds.
  const none = await t.mesh(['install', 'cluster-a', '--trust-root', t.rootDir, '--no-wait', '--patch-coredns']);
  assert.equal(none.code, 0, none.stderr);
  assert.match(none.stderr, /--patch-coredns: cannot read kube-system\/coredns.*add this server block/s);

  await a.create('/api/v1/namespaces/kube-system/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'coredns', namespace: 'kube-system' }, data: { Corefile: KIND_COREFILE } });
  const patched = await t.mesh(['install', 'cluster-a', '--trust-root', t.rootDir, '--no-wait', '--patch-coredns']);
  assert.equal(patched.code, 0, patched.stderr);
  assert.match(patched.stderr, new RegExp(`CoreDNS forwards clusterset.local to mesh-dns \\(${ip.replace(/\./g, '\\.')}\\): kube-system/coredns updated`));
  const cm = (await getOrNull(a, '/api/v1/namespaces/kube-system/configmaps/coredns')) as { data: { Corefile: string } };
  assert.equal(cm.data.Corefile, patchCorefile(KIND_COREFILE, corednsStanza(ip)).corefile);
  const again = await t.mesh(['install', 'cluster-a', '--trust-root', t.rootDir, '--no-wait', '--patch-coredns']);
  assert.match(again.stderr, /kube-system\/coredns unchanged/);

  // Uninstall takes mesh-dns away, and with it the forward to its address.
  const un = await t.mesh(['uninstall', 'cluster-a', '--wait-timeout', '5s']);
  assert.equal(un.code, 0, un.stderr);
  assert.match(un.stderr, /clusterset\.local block install added is removed/);
  const after = (await getOrNull(a, '/api/v1/namespaces/kube-system/configmaps/coredns')) as { data: { Corefile: string } };
  assert.equal(after.data.Corefile, KIND_COREFILE);
  assert.equal(await getOrNull(a, '/apis/rbac.authorization.k8s.io/v1/clusterroles/mesh-dns'), null);
});

test('install --dry-run prints the stanza with a placeholder for the Service IP', async () => {
  const r = await t.mesh(['install', 'nowhere', '--cluster-name', 'east', '--trust-root', t.rootDir, '--dry-run'], { KUBECONFIG: '/nonexistent' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /forward \. <mesh-dns ClusterIP>/);
  assert.match(r.stdout, /kind: Deployment\nmetadata:\n {2}name: mesh-dns/);
});
