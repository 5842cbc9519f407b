// IPv6 through the gateways (issue 13), end to end in a dual-stack isolated sandbox of two clusters (root:
// network namespaces), the mesh installed in both from the rendered manifests and cluster-a linked to
// cluster-b in gateway mode. cluster-b exports a dual-stack Service with a ServiceExport; in cluster-a the
// import gets an IPv4 and an IPv6 VIP, and a pod there reaches cluster-b's backend through each VIP: the
// sandbox proxy sends the IPv6 VIP to the mirror's IPv6 gateway slice, i.e. to the local gateway pod's IPv6
// address (it binds every address of POD_IPS) at the import's outbound port, and the gateway tunnels to
// cluster-b as for IPv4.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { join } from 'node:path';
import { startMesh, stopAll } from '../helpers/process.js';
import { createRoot, writeRoot } from '../../src/trust/index.js';
import { isolatedUnsupported } from '../../src/sandbox/index.js';
import { dualStackBackend, eventually, hasKubectl, kubectl, sandboxDown, sandboxUp, type UpResult } from './sandbox-helpers.js';

const why = isolatedUnsupported() || (!hasKubectl() && 'kubectl is not installed') || undefined;
if (why) console.log(`# IPv6-through-the-gateways sandbox test skipped: ${why}`);

const A = 'cluster-a';
const B = 'cluster-b';
let sb: UpResult | undefined;

// Both listeners answer `from-b`: the exporting gateway may pick an endpoint of either family.
const backend = dualStackBackend({ four: 'from-b', six: 'from-b' });

const k = (cluster: string, args: string[], input?: string) => kubectl(sb!.kubeconfig, cluster, args, input);

async function mesh(args: string[]): Promise<{ code: number | string; out: string }> {
  const p = startMesh(args, { KUBECONFIG: sb!.kubeconfig, MESH_LOG_LEVEL: 'warn' });
  const code = await p.exited;
  return { code, out: `${p.stdout()}\n${p.stderr()}` };
}

before(async () => {
  if (why) return;
  sb = await sandboxUp([A, B], 'isolated', {}, ['--dual-stack']);
  const root = join(sb.dir, 'trust-root');
  await writeRoot(root, createRoot({ trustDomain: 'mesh.local' }));
  const installs = await Promise.all([A, B].map((c) => mesh(['install', c, '--trust-root', root, '--wait-timeout', '120s'])));
  for (const r of installs) assert.equal(r.code, 0, r.out);
  k(B, ['apply', '-f', '-'], backend);
  k(A, ['create', 'namespace', 'demo']);
  k(A, ['-n', 'demo', 'run', 'netshoot', '--image=nicolaka/netshoot', '--', 'sleep', 'infinity']);
  k(A, ['-n', 'demo', 'wait', '--for=condition=Ready', 'pod/netshoot', '--timeout=60s']);
  k(B, ['-n', 'demo', 'rollout', 'status', 'deployment/dual', '--timeout=60s']);
  const link = await mesh(['link', A, B, '--wait-timeout', '90s']);
  assert.equal(link.code, 0, link.out);
  const ex = await mesh(['export', 'dual', '-n', 'demo', '--context', B]);
  assert.equal(ex.code, 0, ex.out);
});

after(async () => {
  if (sb && existsSync(join(sb.dir, 'state.json'))) await sandboxDown(sb.dir).catch(() => undefined);
  await stopAll();
  if (sb) rmSync(sb.dir, { recursive: true, force: true });
});

test('a pod in cluster-a reaches cluster-b\'s backend through the import\'s IPv6 VIP and its IPv4 VIP, both through the gateways', { skip: why }, async () => {
  const ips = await eventually('the ServiceImport in cluster-a has a VIP per family', () => {
    const out = k(A, ['-n', 'demo', 'get', 'serviceimports.multicluster.x-k8s.io', 'dual', '-o', 'jsonpath={.spec.ips}', '--ignore-not-found']).trim();
    const list = out ? (JSON.parse(out) as string[]) : [];
    return list.length === 2 ? list : undefined;
  }, 60_000, 500);
  const v4 = ips.find((ip) => isIPv4(ip));
  const v6 = ips.find((ip) => isIPv6(ip));
  assert.ok(v4 && v6, JSON.stringify(ips));
  const exec = (cmd: string) => k(A, ['-n', 'demo', 'exec', 'netshoot', '--', 'sh', '-c', cmd]).trim();
  // The clusterset name answers each family's VIP (the cluster DNS, from the import).
  assert.equal(await eventually('AAAA of the clusterset name', () => exec('dig +short AAAA dual.demo.svc.clusterset.local') || undefined, 30_000, 500), v6);
  assert.equal(exec('dig +short A dual.demo.svc.clusterset.local'), v4);
  for (const vip of [v6, v4]) {
    const answer = await eventually(`an answer through ${vip}`, () => exec(`nc -w 3 ${vip} 8080 </dev/null || true`) || undefined, 60_000, 500);
    assert.equal(answer, 'from-b', vip);
  }
  // The IPv6 VIP's endpoints are the local gateway pod's IPv6 address (the mirror's IPv6 gateway slice).
  const gw6 = (JSON.parse(k(A, ['-n', 'mesh-system', 'get', 'pods', '-l', 'app.kubernetes.io/name=mesh-gateway', '-o', 'jsonpath={.items[0].status.podIPs}'])) as Array<{ ip: string }>)[1]?.ip;
  const slices = JSON.parse(k(A, ['-n', 'demo', 'get', 'endpointslices', '-o', 'json'])) as { items: Array<{ addressType: string; endpoints?: Array<{ addresses: string[] }> }> };
  assert.ok(slices.items.some((s) => s.addressType === 'IPv6' && s.endpoints?.some((e) => e.addresses[0] === gw6)), `an IPv6 slice names the gateway pod ${gw6}: ${JSON.stringify(slices.items.map((s) => [s.addressType, s.endpoints?.map((e) => e.addresses[0])]))}`);
  for (let i = 0; i < 3; i++) assert.equal(exec(`nc -w 3 ${v6} 8080 </dev/null`), 'from-b');
});
