// The kind rig without Docker: shellcheck, every script's --dry-run plan, usage errors, and the kind
// configs validated against a schema with non-overlapping CIDRs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from '../helpers/process.js';
import { KindClusterSchema, cidrsOverlap, type KindCluster } from './kind-config.js';

const kindDir = resolve(repoRoot, 'kind-clusters');
const scripts = readdirSync(kindDir).filter((f) => f.endsWith('.sh'));

function sh(script: string, args: string[], env: NodeJS.ProcessEnv = {}): { code: number; out: string; err: string; plan: string[] } {
  // PATH without kind/docker proves --dry-run never needs them.
  const r = spawnSync('bash', [resolve(kindDir, script), ...args], {
    cwd: repoRoot,
    env: { PATH: '/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: process.env.HOME ?? '/tmp', MESH_VERSION: '9.9.9', ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  const out = r.stdout;
  return { code: r.status ?? -1, out, err: r.stderr, plan: out.split('\n').filter((l) => l.startsWith('+ ')).map((l) => l.slice(2)) };
}

test('kind rig scripts are shellcheck-clean', (t) => {
  const which = spawnSync('shellcheck', ['--version'], { encoding: 'utf8' });
  if (which.status !== 0) {
    t.skip('shellcheck is not installed (apt-get install -y shellcheck)');
    return;
  }
  const r = spawnSync('shellcheck', ['-x', ...scripts.map((s) => resolve(kindDir, s))], { cwd: kindDir, encoding: 'utf8' });
  assert.equal(r.status, 0, `shellcheck findings:\n${r.stdout}${r.stderr}`);
});

test('every script has --help (exit 0) and refuses unknown flags with exit 2', () => {
  for (const s of scripts.filter((x) => x !== 'lib.sh')) {
    const help = sh(s, ['--help']);
    assert.equal(help.code, 0, `${s} --help: ${help.err}`);
    assert.match(help.out, /Usage: /);
    assert.match(help.out, /--dry-run/);
    const bad = sh(s, ['--dry-run', '--no-such-flag']);
    assert.equal(bad.code, 2, `${s} with an unknown flag`);
    assert.match(bad.err, /unknown flag: --no-such-flag/);
    assert.equal(bad.plan.length, 0, `${s} ran steps before refusing its flags`);
  }
  assert.equal(sh('create.sh', ['--dry-run', '--clusters', '1']).code, 2);
  assert.equal(sh('create.sh', ['--dry-run', '--clusters', 'x']).code, 2);
  assert.equal(sh('link.sh', ['--dry-run', '--mode', 'warp']).code, 2);
});

test('create.sh --dry-run plans one kind cluster per config and writes nothing', () => {
  const r = sh('create.sh', ['--dry-run', '--clusters', '3']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(r.plan.filter((l) => l.startsWith('kind ')), [
    `kind create cluster --name cluster-a --config ${kindDir}/cluster-a.yaml --wait 120s`,
    `kind create cluster --name cluster-b --config ${kindDir}/cluster-b.yaml --wait 120s`,
    `kind create cluster --name cluster-c --config ${kindDir}/cluster-c.yaml --wait 120s`,
  ]);
  assert.ok(r.plan.includes(`write ${kindDir}/cluster-c.yaml`));
  assert.ok(!existsSync(resolve(kindDir, 'cluster-c.yaml')), 'dry-run wrote a file');
});

test('load-image, install, link, e2e and teardown plans', () => {
  const load = sh('load-image.sh', ['--dry-run']);
  assert.deepEqual(load.plan, [`docker build -t mesh-federation:9.9.9 ${repoRoot}`, 'kind load docker-image mesh-federation:9.9.9 --name cluster-a', 'kind load docker-image mesh-federation:9.9.9 --name cluster-b']);
  const inst = sh('install.sh', ['--dry-run', '--clusters', '2'], { MESH_TRUST_DIR: '/tmp/trust-x' });
  const mesh = `node ${repoRoot}/bin/mesh.js`;
  assert.deepEqual(inst.plan.slice(-2), [
    `${mesh} install kind-cluster-a --cluster-name cluster-a --trust-root /tmp/trust-x --gateway-service-type NodePort --image mesh-federation:9.9.9 --patch-coredns`,
    `${mesh} install kind-cluster-b --cluster-name cluster-b --trust-root /tmp/trust-x --gateway-service-type NodePort --image mesh-federation:9.9.9 --patch-coredns`,
  ]);
  assert.ok(inst.plan.some((l) => l.includes('trust') && l.includes('/tmp/trust-x')), 'one shared root is made first');
  const link = sh('link.sh', ['--dry-run', '--clusters', '3', '--mode', 'flat']);
  const pair = (a: string, b: string) => `${mesh} link kind-cluster-${a} kind-cluster-${b} --mode flat --api-server-address https://cluster-${b}-control-plane:6443`;
  assert.deepEqual(link.plan, [pair('a', 'b'), pair('b', 'a'), pair('a', 'c'), pair('c', 'a'), pair('b', 'c'), pair('c', 'b')]);
  const e2e = sh('e2e.sh', ['--dry-run'], { MESH_TRUST_DIR: '/tmp/trust-x' });
  assert.deepEqual(e2e.plan, [`node ${repoRoot}/dist/test/e2e/run.js --env kind --context-a kind-cluster-a --context-b kind-cluster-b --mode gateway --image mesh-federation:9.9.9 --trust-root /tmp/trust-x`]);
  assert.deepEqual(sh('check.sh', ['--dry-run', '--clusters', '3']).plan, [`${mesh} check kind-cluster-a kind-cluster-b kind-cluster-c`]);
  const down = sh('teardown.sh', ['--dry-run', '--clusters', '2']);
  assert.deepEqual(down.plan, ['kind delete cluster --name cluster-a', 'kind delete cluster --name cluster-b']);
});

test('flat-routes.sh routes each cluster\'s pod subnet via the other\'s node, both ways', () => {
  const r = sh('flat-routes.sh', ['--dry-run']);
  assert.equal(r.code, 0, r.err);
  const routes = r.plan.filter((l) => l.includes('ip route'));
  assert.deepEqual(routes, [
    'docker exec <nodes-of-cluster-a> ip route replace 10.241.0.0/16 via <ip-of-cluster-b-control-plane>',
    'docker exec <nodes-of-cluster-b> ip route replace 10.240.0.0/16 via <ip-of-cluster-a-control-plane>',
  ]);
  // The addresses come from docker inspect of the kind nodes, printed as commands too.
  assert.ok(r.plan.some((l) => l.startsWith('docker inspect') && l.endsWith('cluster-b-control-plane')));
});

test('up.sh runs the steps in order and tears down at the end (flat adds routes)', () => {
  const g = sh('up.sh', ['--dry-run']);
  assert.equal(g.code, 0, g.err);
  const steps = g.err.split('\n').filter((l) => l.startsWith('== ')).map((l) => l.slice(3));
  assert.deepEqual(steps, ['create.sh', 'load-image.sh', 'install.sh', 'link.sh', 'check.sh', 'e2e.sh', 'teardown.sh']);
  const f = sh('up.sh', ['--dry-run', '--mode', 'flat', '--keep']);
  const fsteps = f.err.split('\n').filter((l) => l.startsWith('== ')).map((l) => l.slice(3));
  assert.deepEqual(fsteps, ['create.sh', 'load-image.sh', 'install.sh', 'link.sh', 'flat-routes.sh', 'check.sh', 'e2e.sh']);
  const kindCreate = f.plan.findIndex((l) => l.startsWith('kind create'));
  const e2e = f.plan.findIndex((l) => l.includes('e2e/run.js'));
  assert.ok(kindCreate >= 0 && e2e > kindCreate);
});

test('mcs-conformance.sh: both modes on fresh clusters, the pinned suite with --contexts, report.yaml kept per mode', () => {
  const r = sh('mcs-conformance.sh', ['--dry-run'], { MESH_CONFORMANCE_OUT: '/tmp/conf', KUBECONFIG: '/tmp/kc' });
  assert.equal(r.code, 0, r.err);
  const steps = r.err.split('\n').filter((l) => l.startsWith('== ')).map((l) => l.slice(3).trim());
  assert.deepEqual(steps, [
    'mode gateway', 'create.sh', 'load-image.sh', 'install.sh', 'link.sh --mode gateway', 'check.sh', 'teardown.sh',
    'mode flat', 'create.sh', 'load-image.sh', 'install.sh', 'link.sh --mode flat', 'flat-routes.sh', 'check.sh', 'teardown.sh',
  ]);
  const src = `${kindDir}/.mcs-api-v0.5.2`;
  assert.equal(r.plan[0], `git clone --depth 1 --branch v0.5.2 https://github.com/kubernetes-sigs/mcs-api ${src}`);
  const suites = r.plan.filter((l) => l.startsWith('go '));
  assert.equal(suites.length, 2);
  for (const [i, mode] of ['gateway', 'flat'].entries()) {
    const line = suites[i] ?? '';
    assert.ok(line.startsWith(`go -C ${src}/conformance test . -count=1 -timeout=60m -v -args -kubeconfig=/tmp/kc -contexts=kind-cluster-a,kind-cluster-b `), line);
    assert.ok(line.includes(`'-project=mesh-federation (${mode} mode)' -version=9.9.9`), line);
    assert.ok(line.includes(`-ginkgo.json-report=/tmp/conf/${mode}/ginkgo-report.json`), line);
    assert.ok(r.plan.includes(`mv -f ${src}/conformance/report.yaml /tmp/conf/${mode}/report.yaml`), `${mode}: report.yaml kept`);
  }
  // CoreDNS forwards clusterset.local to mesh-dns in every cluster, or the suite's DNS specs cannot pass.
  assert.equal(r.plan.filter((l) => l.includes(' install kind-cluster-') && l.endsWith('--patch-coredns')).length, 4);
  // The suite runs after the mesh is checked, and flat routes exist before the flat run.
  const flatGo = r.plan.indexOf(suites[1] ?? '');
  assert.ok(r.plan.findIndex((l) => l.includes('ip route replace')) < flatGo);

  const one = sh('mcs-conformance.sh', ['--dry-run', '--mode', 'flat', '--clusters', '3', '--ref', 'v0.5.0', '--keep']);
  assert.equal(one.code, 0, one.err);
  assert.equal(one.plan.filter((l) => l.startsWith('go ')).length, 1);
  assert.match(one.plan.find((l) => l.startsWith('go ')) ?? '', /\.mcs-api-v0\.5\.0\/conformance .*-contexts=kind-cluster-a,kind-cluster-b,kind-cluster-c /);
  assert.ok(!one.plan.some((l) => l.startsWith('kind delete')), '--keep leaves the clusters');
  const badRef = sh('mcs-conformance.sh', ['--dry-run', '--ref', 'main']);
  assert.equal(badRef.code, 2);
  assert.match(badRef.err, /--ref must be a release tag/);
  assert.equal(badRef.plan.length, 0);
});

function parseKind(text: string, where: string): KindCluster[] {
  return parseAllDocuments(text).map((d) => {
    const r = KindClusterSchema.safeParse(d.toJS());
    assert.ok(r.success, `${where}: ${r.success ? '' : r.error.message}`);
    return r.data;
  });
}

test('kind configs match the schema, the generator, and never overlap (pods, services, node network)', () => {
  const checkedIn = ['cluster-a.yaml', 'cluster-b.yaml'].flatMap((f) => parseKind(readFileSync(resolve(kindDir, f), 'utf8'), f));
  const gen = sh('gen-config.sh', ['--stdout', '--clusters', '16']);
  assert.equal(gen.code, 0, gen.err);
  const all = parseKind(gen.out, 'gen-config.sh --stdout');
  assert.equal(all.length, 16);
  assert.deepEqual(checkedIn, all.slice(0, 2), 'checked-in configs differ from gen-config.sh (run it again)');
  const nets = all.flatMap((c) => [
    { who: `${c.name} pods`, cidr: c.networking.podSubnet },
    { who: `${c.name} services`, cidr: c.networking.serviceSubnet },
  ]);
  nets.push({ who: 'kind docker network', cidr: '172.18.0.0/16' });
  for (let i = 0; i < nets.length; i++) {
    for (let j = i + 1; j < nets.length; j++) assert.ok(!cidrsOverlap(nets[i].cidr, nets[j].cidr), `${nets[i].who} ${nets[i].cidr} overlaps ${nets[j].who} ${nets[j].cidr}`);
  }
  assert.equal(new Set(all.map((c) => c.name)).size, 16);
});

test('the kind schema refuses a misspelt field and the overlap check sees an overlap', () => {
  const bad = { kind: 'Cluster', apiVersion: 'kind.x-k8s.io/v1alpha4', name: 'x', networking: { podSubnet: '10.0.0.0/16', serviceSubnet: '10.1.0.0/16', podSubnett: 'x' }, nodes: [{ role: 'control-plane' }] };
  assert.equal(KindClusterSchema.safeParse(bad).success, false);
  assert.equal(KindClusterSchema.safeParse({ ...bad, networking: { podSubnet: '10.0.0.0/16', serviceSubnet: '10.1.0.0/16' }, nodes: [{ role: 'worker' }] }).success, false);
  assert.equal(cidrsOverlap('10.240.0.0/16', '10.240.128.0/17'), true);
  assert.equal(cidrsOverlap('10.240.0.0/16', '10.241.0.0/16'), false);
});
