// clusterset.local and debug images in an isolated sandbox cluster (root), the way the MCS conformance
// suite uses a cluster: an alpine/socat "hello" Deployment behind a Service, a busybox "request" pod and a
// netshoot pod, ServiceImports written by hand in the upstream shape; the real kubectl execs nslookup, dig
// and nc inside the pods, which resolve through their resolv.conf (the cluster DNS, the namespace's search
// path) and send real bytes through the ClusterIP to socat.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { stopAll } from '../helpers/process.js';
import type { KubeClient } from '../../src/kube/index.js';
import { isolatedUnsupported } from '../../src/sandbox/index.js';
import { importSlice, installServiceImportCrd, serviceImport } from '../helpers/mcs-upstream.js';
import { client, eventually, hasKubectl, kubectl, sandboxDown, sandboxUp, type UpResult } from './sandbox-helpers.js';

const why = isolatedUnsupported() || (!hasKubectl() && 'kubectl is not installed') || undefined;
if (why) console.log(`# sandbox MCS DNS / debug image tests skipped: ${why}`);

const C = 'cluster-a';
let sb: UpResult | undefined;
let a: KubeClient | undefined;
let vip = '';

const manifests = `apiVersion: v1
kind: Namespace
metadata: {name: demo}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: hello, namespace: demo}
spec:
  replicas: 2
  selector: {matchLabels: {app: hello}}
  template:
    metadata: {labels: {app: hello}}
    spec:
      containers:
      - name: hello-tcp
        image: alpine/socat
        args: ["-v", "-v", "TCP-LISTEN:42,crlf,reuseaddr,fork", "SYSTEM:echo pod ip $(MY_POD_IP)"]
        env: [{name: MY_POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}]
      - name: hello-udp
        image: alpine/socat
        args: ["-v", "-v", "UDP-LISTEN:42,crlf,reuseaddr,fork", "SYSTEM:echo pod ip $(MY_POD_IP)"]
        env: [{name: MY_POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}]
---
apiVersion: v1
kind: Service
metadata: {name: hello, namespace: demo}
spec:
  selector: {app: hello}
  ports:
  - {name: tcp, port: 42, protocol: TCP}
  - {name: udp, port: 42, protocol: UDP}
---
apiVersion: v1
kind: Pod
metadata: {name: request, namespace: demo, labels: {app: request}}
spec:
  containers:
  - name: request
    image: busybox
    args: ["/bin/sh", "-ec", "while :; do echo '.'; sleep 5 ; done"]
`;

const k = (args: string[], input?: string) => kubectl(sb!.kubeconfig, C, args, input);
const exec = (pod: string, cmd: string[]) => k(['-n', 'demo', 'exec', pod, '--', ...cmd]);

before(async () => {
  if (why) return;
  sb = await sandboxUp([C], 'isolated');
  a = await client(sb.kubeconfig, C);
  await installServiceImportCrd(a);
  k(['apply', '-f', '-'], manifests);
  k(['-n', 'demo', 'run', 'netshoot', '--image=nicolaka/netshoot', '--', 'sleep', 'infinity']);
  for (const pod of ['request', 'netshoot']) k(['-n', 'demo', 'wait', '--for=condition=Ready', `pod/${pod}`, '--timeout=60s']);
  k(['-n', 'demo', 'rollout', 'status', 'deployment/hello', '--timeout=60s']);
  vip = k(['-n', 'demo', 'get', 'svc', 'hello', '-o', 'jsonpath={.spec.clusterIP}']).trim();
  // The MCS core's derived Service would own the VIP; here hello's ClusterIP stands in for it.
  const si = '/apis/multicluster.x-k8s.io/v1beta1/namespaces/demo/serviceimports';
  const ports = [{ name: 'tcp', protocol: 'TCP' as const, port: 42 }, { name: 'udp', protocol: 'UDP' as const, port: 42 }];
  await a.create(si, serviceImport('demo', 'hello', { type: 'ClusterSetIP', ips: [vip], ports }, [C, 'cluster-b']));
  const pg = [{ name: 'pg', protocol: 'TCP' as const, port: 5432 }];
  await a.create(si, serviceImport('demo', 'db', { type: 'Headless', ports: pg }, [C, 'cluster-b']));
  await a.create('/apis/discovery.k8s.io/v1/namespaces/demo/endpointslices', importSlice('demo', 'db', 'cluster-b', [{ ip: '10.2.0.5', hostname: 'db-0' }, { ip: '10.2.0.6', hostname: 'db-1' }], pg));
});

after(async () => {
  a?.close();
  if (sb && existsSync(join(sb.dir, 'state.json'))) await sandboxDown(sb.dir).catch(() => undefined);
  await stopAll();
});

test('busybox nslookup inside a pod: clusterset.local → the VIP, cluster.local still answers, SRV as the suite parses it', { skip: why }, async () => {
  const out = await eventually('the clusterset name from the request pod', () => {
    const o = exec('request', ['sh', '-c', 'nslookup hello.demo.svc.clusterset.local']);
    return o.includes(vip) ? o : undefined;
  }, 20_000, 500);
  assert.match(out, new RegExp(`Name:\\s*hello\\.demo\\.svc\\.clusterset\\.local\\s*Address:\\s*${vip.replace(/\./g, '\\.')}`));
  assert.match(exec('request', ['sh', '-c', 'nslookup hello.demo.svc.cluster.local']), new RegExp(vip.replace(/\./g, '\\.')));
  // The conformance suite's SRV check: exactly one record, port 42, target the service name.
  const srv = exec('request', ['sh', '-c', 'nslookup -type=SRV hello.demo.svc.clusterset.local']);
  const recs = [...srv.matchAll(/=\s*\d+\s+\d+\s+(\d+)\s+([a-zA-Z0-9.-]+)/g)].map((m) => `${m[1]} ${m[2]}`);
  assert.deepEqual(recs, ['42 hello.demo.svc.clusterset.local'], srv);
});

test('netshoot dig inside a pod: A, SRV, headless, per-pod names, NXDOMAIN; resolv.conf names the cluster DNS', { skip: why }, () => {
  const resolv = exec('netshoot', ['cat', '/etc/resolv.conf']);
  assert.match(resolv, /^search demo\.svc\.cluster\.local svc\.cluster\.local cluster\.local$/m);
  assert.match(resolv, /^nameserver \d+\.\d+\.\d+\.\d+$/m);
  assert.equal(exec('netshoot', ['dig', '+short', 'hello.demo.svc.clusterset.local']).trim(), vip);
  assert.equal(exec('netshoot', ['dig', '+short', 'SRV', '_tcp._tcp.hello.demo.svc.clusterset.local']).trim(), '0 100 42 hello.demo.svc.clusterset.local.');
  assert.deepEqual(exec('netshoot', ['dig', '+short', 'db.demo.svc.clusterset.local']).trim().split('\n').sort(), ['10.2.0.5', '10.2.0.6']);
  assert.equal(exec('netshoot', ['dig', '+short', 'db-1.cluster-b.db.demo.svc.clusterset.local']).trim(), '10.2.0.6');
  assert.match(exec('netshoot', ['dig', 'nope.demo.svc.clusterset.local']), /status: NXDOMAIN/);
  assert.match(exec('netshoot', ['dig', 'dns-version.clusterset.local', 'TXT']), /"1\.0\.0"/);
});

test('connectivity: busybox nc to the clusterset name reaches socat in a hello pod through the VIP', { skip: why }, async () => {
  const podIPs = k(['-n', 'demo', 'get', 'pods', '-l', 'app=hello', '-o', 'jsonpath={.items[*].status.podIP}']).trim().split(/\s+/);
  assert.equal(podIPs.length, 2);
  // The proxy accepts as soon as the Service exists; the first answer waits for socat's endpoints.
  await eventually('a first answer through the VIP', () => /pod ip /.test(exec('request', ['sh', '-c', 'echo hi | nc -w 3 hello.demo.svc.clusterset.local 42'])) || undefined, 20_000, 500);
  const seen = new Set<string>();
  let empty = 0;
  // Bounded: at most 40 connections, until both pods answered (the proxy spreads connections). The pods
  // have no readiness probe, so a connection may reach a socat that is still starting: it is counted, not
  // taken as an answer.
  for (let i = 0; i < 40 && seen.size < 2; i++) {
    const out = exec('request', ['sh', '-c', 'echo hi | nc -w 3 hello.demo.svc.clusterset.local 42']);
    const m = /pod ip (\S+)/.exec(out);
    if (!m) {
      empty++;
      await new Promise((r) => setTimeout(r, 250));
      continue;
    }
    assert.ok(podIPs.includes(m[1] ?? ''), `${m[1]} is not a hello pod (${podIPs.join(', ')})`);
    seen.add(m[1] ?? '');
  }
  if (seen.size < 2) console.log(k(['-n', 'demo', 'logs', '-l', 'app=hello', '--all-containers', '--prefix', '--tail=20']));
  assert.equal(seen.size, 2, `both hello pods answered (${empty} connections got no answer)`);
  // The UDP container of the same pod listens too (its own socat, bound to the pod address).
  const udp = exec('netshoot', ['sh', '-c', `echo hi | socat -T2 - UDP:${podIPs[0]}:42`]);
  assert.match(udp, new RegExp(`pod ip ${(podIPs[0] ?? '').replace(/\./g, '\\.')}`));
});

test('unexport: deleting the ServiceImport makes the name NXDOMAIN inside pods', { skip: why }, async () => {
  await a!.delete('/apis/multicluster.x-k8s.io/v1beta1/namespaces/demo/serviceimports/hello');
  await eventually('NXDOMAIN after unexport', () => /status: NXDOMAIN/.test(exec('netshoot', ['dig', 'hello.demo.svc.clusterset.local'])) || undefined, 10_000, 250);
});
