// The IPv6 data path of a dual-stack isolated sandbox cluster (root: network namespaces): pods get an IPv6
// address too (status.podIPs), the EndpointSlice controller writes an IPv6 slice beside the IPv4 one, and the
// service proxy serves the IPv6 ClusterIP to the IPv6 endpoints only. A netshoot pod in the cluster's netns
// resolves the Service's AAAA through the cluster DNS and reaches socat in the backend pod through the IPv6
// VIP (and the IPv4 listener through the IPv4 VIP), with real bytes. `mesh install` there: the gateway pod
// listens on its IPv6 address too (POD_IPS), and the mesh-gateway Service (PreferDualStack) has an IPv6
// EndpointSlice of it, the slice the mirror reads for imports' IPv6 gateway endpoints.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { join } from 'node:path';
import { startMesh, stopAll } from '../helpers/process.js';
import { createRoot, writeRoot } from '../../src/trust/index.js';
import { isolatedUnsupported } from '../../src/sandbox/index.js';
import { installServiceImportCrd, serviceImport } from '../helpers/mcs-upstream.js';
import { client, dualStackBackend, eventually, hasKubectl, kubectl, sandboxDown, sandboxUp, type UpResult } from './sandbox-helpers.js';

const why = isolatedUnsupported() || (!hasKubectl() && 'kubectl is not installed') || undefined;
if (why) console.log(`# dual-stack isolated sandbox test skipped: ${why}`);

const C = 'cluster-a';
let sb: UpResult | undefined;

// The backend's two listeners say which family reached them; its target port differs from the Service port,
// which the proxy holds on the VIPs.
const manifests = dualStackBackend({ four: 'four', six: 'six' }, `      # The downward API as the gateway's manifest uses it (POD_IPS: every address of the pod).
      - name: env
        image: busybox
        command: ["sh", "-c", 'echo "POD_IPS=$(POD_IPS) HOST_IPS=$(HOST_IPS)"; exec sleep 3600']
        env:
        - name: POD_IPS
          valueFrom: {fieldRef: {fieldPath: status.podIPs}}
        - name: HOST_IPS
          valueFrom: {fieldRef: {fieldPath: status.hostIPs}}
`);

const k = (args: string[], input?: string) => kubectl(sb!.kubeconfig, C, args, input);

before(async () => {
  if (why) return;
  sb = await sandboxUp([C], 'isolated', {}, ['--dual-stack']);
  k(['apply', '-f', '-'], manifests);
  k(['-n', 'demo', 'run', 'netshoot', '--image=nicolaka/netshoot', '--', 'sleep', 'infinity']);
  k(['-n', 'demo', 'wait', '--for=condition=Ready', 'pod/netshoot', '--timeout=60s']);
  k(['-n', 'demo', 'rollout', 'status', 'deployment/dual', '--timeout=60s']);
});

after(async () => {
  if (sb && existsSync(join(sb.dir, 'state.json'))) await sandboxDown(sb.dir).catch(() => undefined);
  await stopAll();
});

test('pods have an IPv6 address too; the Service has an IPv4 and an IPv6 EndpointSlice', { skip: why }, async () => {
  const ips = JSON.parse(k(['-n', 'demo', 'get', 'pods', '-l', 'app=dual', '-o', 'jsonpath={.items[0].status.podIPs}'])) as Array<{ ip: string }>;
  assert.equal(ips.length, 2, JSON.stringify(ips));
  assert.ok(isIPv4(ips[0]!.ip) && isIPv6(ips[1]!.ip) && ips[1]!.ip.startsWith('fd00:10:1::'), JSON.stringify(ips));
  const slices = await eventually('an IPv6 slice with the pod ready', () => {
    const list = JSON.parse(k(['-n', 'demo', 'get', 'endpointslices', '-l', 'kubernetes.io/service-name=dual', '-o', 'json'])) as { items: Array<{ addressType: string; endpoints?: Array<{ addresses: string[]; conditions?: { ready?: boolean } }> }> };
    const six = list.items.find((s) => s.addressType === 'IPv6');
    return six?.endpoints?.[0]?.conditions?.ready ? list.items : undefined;
  });
  assert.deepEqual(slices.map((s) => s.addressType).sort(), ['IPv4', 'IPv6']);
  assert.deepEqual(slices.find((s) => s.addressType === 'IPv6')?.endpoints?.map((e) => e.addresses[0]), [ips[1]!.ip]);
  assert.deepEqual(slices.find((s) => s.addressType === 'IPv4')?.endpoints?.map((e) => e.addresses[0]), [ips[0]!.ip]);
  // fieldRef status.podIPs: both, comma-separated in status order, as Kubernetes gives them (the gateway binds each).
  const hostIP = k(['-n', 'demo', 'get', 'pods', '-l', 'app=dual', '-o', 'jsonpath={.items[0].status.hostIP}']);
  const line = await eventually('the env container has written its line', () => /POD_IPS=.*/.exec(k(['-n', 'demo', 'logs', 'deployment/dual', '-c', 'env']))?.[0]);
  assert.equal(line, `POD_IPS=${ips[0]!.ip},${ips[1]!.ip} HOST_IPS=${hostIP}`);
});

test('a pod reaches the backend through the IPv6 ClusterIP (AAAA from the cluster DNS) and the IPv4 one through A', { skip: why }, async () => {
  const [v4, v6] = JSON.parse(k(['-n', 'demo', 'get', 'svc', 'dual', '-o', 'jsonpath={.spec.clusterIPs}'])) as [string, string];
  assert.ok(isIPv4(v4) && isIPv6(v6));
  const exec = (cmd: string[]) => k(['-n', 'demo', 'exec', 'netshoot', '--', ...cmd]);
  assert.equal(exec(['dig', '+short', 'AAAA', 'dual.demo.svc.cluster.local']).trim(), v6);
  assert.equal(exec(['dig', '+short', 'A', 'dual.demo.svc.cluster.local']).trim(), v4);
  const six = await eventually('an answer through the IPv6 VIP', () => {
    const out = exec(['sh', '-c', `nc -w 3 ${v6} 8080 </dev/null || true`]).trim();
    return out ? out : undefined;
  }, 30_000, 500);
  assert.equal(six, 'six');
  // Several times: an IPv6 VIP never crosses to the IPv4 listener, nor the other way.
  for (let i = 0; i < 3; i++) {
    assert.equal(exec(['sh', '-c', `nc -w 3 ${v6} 8080 </dev/null`]).trim(), 'six');
    assert.equal(exec(['sh', '-c', `nc -w 3 ${v4} 8080 </dev/null`]).trim(), 'four');
  }
});

test('clusterset.local: a dual-stack ServiceImport (its VIPs those of the derived Service) answers AAAA, and its IPv6 VIP carries traffic from a pod', { skip: why }, async () => {
  const vips = JSON.parse(k(['-n', 'demo', 'get', 'svc', 'dual', '-o', 'jsonpath={.spec.clusterIPs}'])) as string[];
  const a = await client(sb!.kubeconfig, C);
  try {
    await installServiceImportCrd(a);
    // The mirror's derived Service would own these VIPs; the dual Service stands in for it here.
    await a.create('/apis/multicluster.x-k8s.io/v1beta1/namespaces/demo/serviceimports', serviceImport('demo', 'dual', { type: 'ClusterSetIP', ips: vips, ports: [{ name: 'tcp', protocol: 'TCP', port: 8080 }] }, [C]));
  } finally {
    a.close();
  }
  const exec = (cmd: string[]) => k(['-n', 'demo', 'exec', 'netshoot', '--', ...cmd]);
  const aaaa = await eventually('AAAA of the clusterset name', () => exec(['dig', '+short', 'AAAA', 'dual.demo.svc.clusterset.local']).trim() || undefined, 20_000, 250);
  assert.equal(aaaa, vips[1]);
  assert.equal(exec(['sh', '-c', `nc -w 3 ${aaaa} 8080 </dev/null`]).trim(), 'six');
});

test('mesh install: the gateway binds its pod\'s IPv6 address too (POD_IPS); the mesh-gateway Service is dual-stack with an IPv6 slice of the pod', { skip: why }, async () => {
  const root = join(sb!.dir, 'trust-root');
  await writeRoot(root, createRoot({ trustDomain: 'mesh.local' }));
  const install = startMesh(['install', C, '--trust-root', root, '--wait-timeout', '120s'], { KUBECONFIG: sb!.kubeconfig, MESH_LOG_LEVEL: 'warn' });
  assert.equal(await install.exited, 0, install.stderr());
  const podIPs = JSON.parse(k(['-n', 'mesh-system', 'get', 'pods', '-l', 'app.kubernetes.io/name=mesh-gateway', '-o', 'jsonpath={.items[0].status.podIPs}'])) as Array<{ ip: string }>;
  const v6 = podIPs[1]?.ip ?? '';
  assert.ok(isIPv6(v6), JSON.stringify(podIPs));
  assert.deepEqual(JSON.parse(k(['-n', 'mesh-system', 'get', 'svc', 'mesh-gateway', '-o', 'jsonpath={.spec.ipFamilies}'])), ['IPv4', 'IPv6']);
  await eventually('an IPv6 EndpointSlice of mesh-gateway with the gateway pod ready', () => {
    const list = JSON.parse(k(['-n', 'mesh-system', 'get', 'endpointslices', '-l', 'kubernetes.io/service-name=mesh-gateway', '-o', 'json'])) as { items: Array<{ addressType: string; endpoints?: Array<{ addresses: string[]; conditions?: { ready?: boolean } }> }> };
    return list.items.some((x) => x.addressType === 'IPv6' && x.endpoints?.some((e) => e.addresses[0] === v6 && e.conditions?.ready));
  });
  // From a pod, to the gateway pod's IPv6 address: the admin port answers, the tunnel port accepts.
  const exec = (cmd: string[]) => k(['-n', 'demo', 'exec', 'netshoot', '--', ...cmd]);
  assert.equal(exec(['curl', '-sS', '-g', `http://[${v6}]:4191/ready`]).trim(), 'ready');
  assert.equal(exec(['sh', '-c', `nc -z -w 3 ${v6} 4143 && echo open`]).trim(), 'open');
});
