// What a platform engineer types against a sandbox cluster, with the real kubectl (every version on the
// machine where it matters: exec and port-forward switched protocols between 1.29 and 1.31) and Debian's
// python3-kubernetes: create deployment|service|job (protobuf bodies), tables, rollout history/undo, logs
// (-c, --previous, -f; RBAC), exec (WebSocket v5 as the API server saw it, SPDY; RBAC), port-forward, explain.
// One sandbox for the file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import tls from 'node:tls';
import { join } from 'node:path';
import { startProcess, stopAll } from '../helpers/process.js';
import { sandboxUp, eventually, type UpResult } from './sandbox-helpers.js';

const kubectlBin = '/usr/bin/kubectl';
const haveKubectl = existsSync(kubectlBin);
if (!haveKubectl) console.log('# kubectl-sandbox tests skipped: kubectl is not installed (/usr/bin/kubectl)');
/** Other kubectl versions on the machine (the Cloud SDK ships kubectl.1.27 … kubectl.1.33 beside kubectl). */
const sdkDir = '/usr/lib/google-cloud-sdk/bin';
const versions = existsSync(sdkDir) ? readdirSync(sdkDir).filter((f) => /^kubectl\.1\.\d+$/.test(f)).map((f) => join(sdkDir, f)) : [];
const python = '/usr/bin/python3';
const havePythonClient = existsSync(python) && spawnSync(python, ['-c', 'import kubernetes'], { stdio: 'ignore' }).status === 0;

let sb: UpResult;
let ctx: string;

interface Run {
  code: number;
  out: string;
  err: string;
}

function run(bin: string, args: string[], input?: string, timeout = 30_000): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(bin, ['--kubeconfig', sb.kubeconfig, '--context', ctx, ...args], { timeout, maxBuffer: 64 * 1024 * 1024 }, (error, out, err) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out, err });
    });
    child.stdin?.end(input ?? '');
  });
}

const k = (args: string[], input?: string) => run(kubectlBin, args, input);

async function ok(args: string[], input?: string): Promise<string> {
  const r = await k(args, input);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed: ${r.err}`);
  return r.out;
}

/** The header and rows of a kubectl table, split on runs of 2+ spaces. */
function table(text: string): string[][] {
  return text.trim().split('\n').map((l) => l.trim().split(/\s{2,}/));
}

const twoContainers = `
apiVersion: v1
kind: Pod
metadata: {name: duo, namespace: kc}
spec:
  containers:
  - {name: first, image: mesh-federation:dev, args: [app, http-echo, --port, "8081"]}
  - {name: second, image: mesh-federation:dev, args: [app, http-echo, --port, "8082"]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: crash, namespace: kc}
spec:
  selector: {matchLabels: {app: crash}}
  template:
    metadata: {labels: {app: crash}}
    spec:
      containers:
      - {name: crash, image: mesh-federation:dev, args: [app, http-echo, --port, "99999"]}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: viewer, namespace: kc}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: viewer, namespace: kc}
rules:
- {apiGroups: [""], resources: [pods, pods/log], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: viewer, namespace: kc}
subjects: [{kind: ServiceAccount, name: viewer, namespace: kc}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: viewer}
`;

before(async () => {
  if (!haveKubectl) return;
  sb = await sandboxUp(['kc'], 'loopback');
  ctx = 'kc';
  await ok(['create', 'namespace', 'kc']);
  // kubectl create sends protobuf bodies (typed clients): this is the create deployment|service test.
  await ok(['-n', 'kc', 'create', 'deployment', 'web', '--image=mesh-federation:dev', '--replicas=2', '--port=8080', '--', 'mesh', 'app', 'http-echo', '--port', '8080']);
  await ok(['-n', 'kc', 'create', 'service', 'clusterip', 'web', '--tcp=80:8080']);
  await ok(['apply', '-f', '-'], twoContainers);
  await ok(['-n', 'kc', 'rollout', 'status', 'deployment/web', '--timeout=60s']);
  await ok(['-n', 'kc', 'wait', '--for=condition=Ready', 'pod/duo', '--timeout=60s']);
});

after(async () => {
  await sb?.proc.stop(15_000);
  await stopAll();
});

async function webPod(): Promise<string> {
  return (await ok(['-n', 'kc', 'get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[0].metadata.name}'])).trim();
}

test('create deployment and service clusterip (protobuf bodies) make a Deployment with its ReplicaSet and pods, and a Service', { skip: !haveKubectl }, async () => {
  const svc = JSON.parse(await ok(['-n', 'kc', 'get', 'svc', 'web', '-o', 'json'])) as { spec: { type: string; clusterIP: string; ports: Array<{ port: number; targetPort: number }> } };
  assert.equal(svc.spec.type, 'ClusterIP');
  assert.deepEqual([svc.spec.ports[0]?.port, svc.spec.ports[0]?.targetPort], [80, 8080]);
  const rs = table(await ok(['-n', 'kc', 'get', 'rs', '-l', 'app=web']));
  assert.deepEqual(rs[0], ['NAME', 'DESIRED', 'CURRENT', 'READY', 'AGE']);
  assert.match(rs[1]?.[0] ?? '', /^web-[0-9a-f]{10}$/);
  assert.deepEqual(rs[1]?.slice(1, 4), ['2', '2', '2']);
  const pod = JSON.parse(await ok(['-n', 'kc', 'get', 'pod', await webPod(), '-o', 'json'])) as { metadata: { ownerReferences: Array<{ kind: string }> } };
  assert.equal(pod.metadata.ownerReferences[0]?.kind, 'ReplicaSet');
});

test('tables: pods READY/STATUS/RESTARTS/AGE and -o wide IP/NODE, nodes STATUS/ROLES/VERSION', { skip: !haveKubectl }, async () => {
  const pods = table(await ok(['-n', 'kc', 'get', 'pods', '-o', 'wide', '-l', 'app=web']));
  assert.deepEqual(pods[0], ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', 'IP', 'NODE', 'NOMINATED NODE', 'READINESS GATES']);
  assert.equal(pods[1]?.[1], '1/1');
  assert.equal(pods[1]?.[2], 'Running');
  assert.equal(pods[1]?.[3], '0');
  assert.match(pods[1]?.[5] ?? '', /^127\.\d+\.\d+\.\d+$/);
  assert.equal(pods[1]?.[6], 'kc-node');
  // Between two crashes the container runs for a moment (STATUS Running, as kubectl shows it too): wait for
  // a moment it is down.
  const crash = await eventually('the crashing pod to show its restarts and why it is down', async () => {
    const rows = table(await ok(['-n', 'kc', 'get', 'pods', '-l', 'app=crash']));
    return rows[1] && /^[1-9]\d* \(.+ ago\)$/.test(rows[1][3] ?? '') && /^(CrashLoopBackOff|Error)$/.test(rows[1][2] ?? '') ? rows[1] : undefined;
  }, 60_000);
  assert.equal(crash[1], '0/1');
  const nodes = table(await ok(['get', 'nodes']));
  assert.deepEqual(nodes[0], ['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION']);
  assert.deepEqual([nodes[1]?.[1], nodes[1]?.[2]], ['Ready', 'control-plane']);
  assert.match(nodes[1]?.[4] ?? '', /^v1\.\d+/);
});

test('a deleted pod held by a finalizer shows Terminating', { skip: !haveKubectl }, async () => {
  await ok(['-n', 'kc', 'run', 'held', '--image=mesh-federation:dev', '--overrides={"metadata":{"finalizers":["test.mesh.io/hold"]}}', '--', 'app', 'http-echo', '--port', '8083']);
  await ok(['-n', 'kc', 'delete', 'pod', 'held', '--wait=false']);
  const rows = await eventually('Terminating', async () => {
    const t = table(await ok(['-n', 'kc', 'get', 'pod', 'held']));
    return t[1]?.[2] === 'Terminating' ? t : undefined;
  });
  assert.equal(rows[1]?.[0], 'held');
  await ok(['-n', 'kc', 'patch', 'pod', 'held', '--type=json', '-p=[{"op":"remove","path":"/metadata/finalizers"}]']);
});

test('rollout: set image makes revision 2, rollout undo brings the first template back as revision 3', { skip: !haveKubectl }, async () => {
  await ok(['-n', 'kc', 'set', 'image', 'deployment/web', 'mesh-federation=mesh-federation:v2']);
  await ok(['-n', 'kc', 'rollout', 'status', 'deployment/web', '--timeout=60s']);
  assert.match(await ok(['-n', 'kc', 'rollout', 'history', 'deployment/web']), /^1\s.*\n2\s/m);
  await ok(['-n', 'kc', 'rollout', 'undo', 'deployment/web']);
  await ok(['-n', 'kc', 'rollout', 'status', 'deployment/web', '--timeout=60s']);
  const history = await ok(['-n', 'kc', 'rollout', 'history', 'deployment/web']);
  assert.match(history, /^2\s.*\n3\s/m);
  assert.doesNotMatch(history, /^1\s/m);
  assert.equal(await ok(['-n', 'kc', 'get', 'deploy', 'web', '-o', 'jsonpath={.spec.template.spec.containers[0].image}']), 'mesh-federation:dev');
  const rs = table(await ok(['-n', 'kc', 'get', 'rs', '-l', 'app=web']));
  assert.equal(rs.length - 1, 2, 'undo reuses the first ReplicaSet instead of making a third');
});

test('scale: kubectl scale goes through deployments/scale and the ReplicaSet follows', { skip: !haveKubectl }, async () => {
  await ok(['-n', 'kc', 'scale', 'deployment/web', '--replicas=3']);
  await ok(['-n', 'kc', 'rollout', 'status', 'deployment/web', '--timeout=60s']);
  assert.equal(table(await ok(['-n', 'kc', 'get', 'pods', '-l', 'app=web', '--field-selector=status.phase=Running'])).length - 1, 3);
  await ok(['-n', 'kc', 'scale', 'deployment/web', '--replicas=2']);
  await ok(['-n', 'kc', 'rollout', 'status', 'deployment/web', '--timeout=60s']);
});

test('create job runs to completion; jobs print STATUS/COMPLETIONS/DURATION', { skip: !haveKubectl }, async () => {
  await ok(['-n', 'kc', 'create', 'job', 'once', '--image=mesh-federation:dev', '--', 'mesh', '--version']);
  await ok(['-n', 'kc', 'wait', '--for=condition=complete', 'job/once', '--timeout=60s']);
  const jobs = table(await ok(['-n', 'kc', 'get', 'jobs']));
  assert.deepEqual(jobs[0], ['NAME', 'STATUS', 'COMPLETIONS', 'DURATION', 'AGE']);
  assert.deepEqual(jobs[1]?.slice(0, 3), ['once', 'Complete', '1/1']);
  assert.match(await ok(['-n', 'kc', 'logs', 'job/once']), /^\d+\.\d+\.\d+/);
});

test('logs: one container, -c of two, --previous of a restarted container, -f follows', { skip: !haveKubectl }, async () => {
  assert.match(await ok(['-n', 'kc', 'logs', await webPod()]), /"message":"http-echo listening".*"port":8080/);
  assert.match(await ok(['-n', 'kc', 'logs', 'duo', '-c', 'second']), /"port":8082/);
  const noC = await k(['-n', 'kc', 'logs', 'duo', '-c', 'third']);
  assert.notEqual(noC.code, 0);
  assert.match(noC.err, /container third is not valid for pod duo/);
  const crash = (await ok(['-n', 'kc', 'get', 'pods', '-l', 'app=crash', '-o', 'jsonpath={.items[0].metadata.name}'])).trim();
  const prev = await eventually('a previous instance', async () => { const r = await k(['-n', 'kc', 'logs', crash, '--previous']); return r.code === 0 ? r.out : undefined; }, 60_000);
  assert.match(prev, /invalid flag --port/);
  const f = startProcess(kubectlBin, ['--kubeconfig', sb.kubeconfig, '--context', ctx, '-n', 'kc', 'logs', '-f', 'duo', '-c', 'first']);
  try {
    await f.waitFor(/"port":8081/, 20_000);
    assert.equal(f.child.exitCode, null, 'logs -f keeps following while the container runs');
    // The container ends (pod deleted): the follow ends by itself, as with a real kubelet.
    await ok(['-n', 'kc', 'delete', 'pod', 'duo', '--wait=false']);
    assert.equal(await f.exited, 0, f.stderr());
  } finally {
    await f.stop();
  }
});

test('exec: stdout, stderr, exit code and stdin over WebSocket v5 (kubectl 1.32) and every other kubectl version on the machine', { skip: !haveKubectl }, async () => {
  const pod = await webPod();
  for (const bin of [kubectlBin, ...versions]) {
    const r = await run(bin, ['-n', 'kc', 'exec', '-i', pod, '--', 'sh', '-c', 'read x; echo "out:$x:$POD_IP"; echo err >&2; exit 3'], 'hello\n');
    assert.equal(r.code, 3, `${bin}: ${r.err}`);
    assert.match(r.out, /^out:hello:127\.\d+\.\d+\.\d+$/m, bin);
    assert.match(r.err, /err/, bin);
    const big = await run(bin, ['-n', 'kc', 'exec', pod, '--', 'head', '-c', '3000000', '/dev/zero']);
    assert.equal(big.out.length, 3_000_000, `${bin}: large output arrives whole`);
  }
  const mesh = await ok(['-n', 'kc', 'exec', pod, '--', 'mesh', '--version']);
  assert.match(mesh, /^\d+\.\d+\.\d+/);
});

/** The API server's `remote command session` log lines (cluster.log) for one pod, in order. */
function remoteCommandSessions(pod: string): { protocol: string; user: string; subresource: string }[] {
  return readFileSync(join(sb.dir, ctx, 'cluster.log'), 'utf8').split('\n').filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { message?: string; pod?: string; protocol: string; user: string; subresource: string })
    .filter((e) => e.message === 'remote command session' && e.pod === pod);
}

test('exec: kubectl 1.32 uses WebSocket v5 (what the API server negotiated), SPDY only when told to', { skip: !haveKubectl }, async () => {
  const pod = await webPod();
  const version = JSON.parse(await ok(['version', '--client', '-o', 'json'])) as { clientVersion: { gitVersion: string } };
  assert.match(version.clientVersion.gitVersion, /^v1\.32\./, 'the machine kubectl is 1.32');
  const before = remoteCommandSessions(pod).length;
  assert.equal((await ok(['-n', 'kc', 'exec', pod, '--', 'echo', 'ws'])).trim(), 'ws');
  const ws = await eventually('the session in the API server log', () => remoteCommandSessions(pod).slice(before)[0]);
  assert.deepEqual({ protocol: ws.protocol, subresource: ws.subresource }, { protocol: 'WebSocket+v5.channel.k8s.io', subresource: 'exec' });
  assert.match(ws.user, /\S/, 'the log says who');
  // The same kubectl with WebSockets turned off falls back to SPDY, and the log tells the two apart.
  const spdy = await new Promise<string>((resolve, reject) => execFile(kubectlBin, ['--kubeconfig', sb.kubeconfig, '--context', ctx, '-n', 'kc', 'exec', pod, '--', 'echo', 'spdy'],
    { env: { ...process.env, KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' }, timeout: 30_000 }, (err, out) => (err ? reject(err) : resolve(out))));
  assert.equal(spdy.trim(), 'spdy');
  const fallback = await eventually('the SPDY session in the API server log', () => remoteCommandSessions(pod).slice(before + 1)[0]);
  assert.equal(fallback.protocol, 'SPDY/3.1+v4.channel.k8s.io');
});

test('logs need get on pods/log: a user who may read pods but not their logs gets 403 from kubectl logs', { skip: !haveKubectl }, async () => {
  const pod = await webPod();
  await ok(['-n', 'kc', 'create', 'serviceaccount', 'podreader']);
  await ok(['-n', 'kc', 'create', 'role', 'podreader', '--verb=get,list,watch', '--resource=pods']);
  await ok(['-n', 'kc', 'create', 'rolebinding', 'podreader', '--role=podreader', '--serviceaccount=kc:podreader']);
  const as = ['--as=system:serviceaccount:kc:podreader', '-n', 'kc'];
  assert.equal((await k([...as, 'get', 'pod', pod])).code, 0, 'the pod itself may be read');
  const r = await k([...as, 'logs', pod]);
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /Error from server \(Forbidden\): pods "[^"]+" is forbidden: User "system:serviceaccount:kc:podreader" cannot get resource "pods\/log" in API group "" in the namespace "kc"/);
  assert.equal(r.out, '', 'no log line got through');
  const f = await k([...as, 'logs', '-f', pod]);
  assert.match(f.err, /cannot get resource "pods\/log"/, 'following is refused the same way');
});

test('exec and port-forward need create on pods/exec and pods/portforward (403 otherwise)', { skip: !haveKubectl }, async () => {
  const pod = await webPod();
  const as = ['--as=system:serviceaccount:kc:viewer', '-n', 'kc'];
  assert.equal((await k([...as, 'logs', pod])).code, 0, 'the viewer may read logs');
  const r = await k([...as, 'exec', pod, '--', 'true']);
  assert.notEqual(r.code, 0);
  assert.match(r.err, /cannot create resource "pods\/exec" in API group "" in the namespace "kc"/);
  const pf = await k([...as, 'port-forward', pod, ':8080'], undefined);
  assert.notEqual(pf.code, 0);
  assert.match(pf.err, /cannot create resource "pods\/portforward"/);
});

test('bad input after an upgrade (garbage SPDY frames, a huge frame length) ends that session only', { skip: !haveKubectl }, async () => {
  const pod = await webPod();
  const kc = JSON.parse(await ok(['config', 'view', '--raw', '--minify', '-o', 'json'])) as { clusters: Array<{ cluster: { server: string; 'certificate-authority-data': string } }>; users: Array<{ user: { token: string } }> };
  const server = new URL(kc.clusters[0]!.cluster.server);
  const ca = Buffer.from(kc.clusters[0]!.cluster['certificate-authority-data'], 'base64');
  const token = kc.users[0]!.user.token;
  for (const junk of [Buffer.from('not a frame at all, just bytes'), Buffer.from([0x80, 0x03, 0x00, 0x01, 0x00, 0xff, 0xff, 0xff])]) {
    const closed = await new Promise<string>((resolve, reject) => {
      const s = tls.connect({ host: server.hostname, port: Number(server.port), ca, servername: 'localhost' }, () => {
        s.write(`POST /api/v1/namespaces/kc/pods/${pod}/exec?command=cat&stdin=true&stdout=true HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n`);
      });
      let head = '';
      s.on('data', (d: Buffer) => {
        if (!head) {
          head = d.toString('latin1').split('\r\n')[0] ?? '';
          s.write(junk);
        }
      });
      s.on('close', () => resolve(head));
      s.on('error', reject);
    });
    assert.match(closed, /^HTTP\/1\.1 101/);
  }
  // The API server and the pod's exec keep working.
  assert.match(await ok(['-n', 'kc', 'exec', pod, '--', 'echo', 'still here']), /still here/);
});

test('port-forward: WebSocket tunnel (kubectl 1.31+) and SPDY (older), large bodies both ways', { skip: !haveKubectl }, async () => {
  const pod = await webPod();
  for (const bin of [kubectlBin, ...versions]) {
    const pf = startProcess(bin, ['--kubeconfig', sb.kubeconfig, '--context', ctx, '-n', 'kc', 'port-forward', pod, ':8080', '--address', '127.0.0.1']);
    try {
      const m = await pf.waitFor(/Forwarding from 127\.0\.0\.1:(\d+) -> 8080/, 20_000);
      const body = Buffer.alloc(2_000_000, 'x');
      const res = await fetch(`http://127.0.0.1:${m[1]}/pf`, { method: 'POST', body });
      const echo = (await res.json()) as { path: string; bodyBytes: number; podIP: string };
      assert.equal(echo.path, '/pf', bin);
      assert.equal(echo.bodyBytes, body.length, bin);
    } finally {
      await pf.stop();
    }
  }
});

test('explain: built-in kinds (schemas from the client-node models) and CRDs (their openAPIV3Schema)', { skip: !haveKubectl }, async () => {
  const out = await ok(['explain', 'deployment.spec.strategy']);
  assert.match(out, /KIND:\s+Deployment/);
  assert.match(out, /FIELD: strategy <DeploymentStrategy>/);
  assert.match(out, /rollingUpdate\s+<RollingUpdateDeployment>/);
  assert.match(await ok(['explain', 'pods.spec.containers.ports.containerPort']), /Number of port to expose on the pod's IP address/);
  // kubectl 1.29+ read OpenAPI v3; 1.27/1.28 want v2 as protobuf, which is not served (README).
  for (const bin of versions.filter((v) => Number(v.split('.').pop()) >= 29)) {
    const r = await run(bin, ['explain', 'deployment.spec.paused']);
    assert.equal(r.code, 0, `${bin}: ${r.err}`);
    assert.match(r.out, /paused\s+<boolean>/, bin);
  }
  await ok(['apply', '-f', '-'], `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.test.mesh.io}
spec:
  group: test.mesh.io
  names: {plural: widgets, kind: Widget}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            description: What the widget should be.
            properties:
              size: {type: integer, description: How big the widget is.}
`);
  const crd = await eventually('explain widgets', async () => { const r = await k(['explain', 'widgets.spec']); return r.code === 0 ? r.out : undefined; });
  assert.match(crd, /What the widget should be/);
  assert.match(crd, /size\s+<integer>\s+How big the widget is/);
  const v2 = JSON.parse(await ok(['get', '--raw', '/openapi/v2'])) as { swagger: string; definitions: Record<string, unknown> };
  assert.equal(v2.swagger, '2.0');
  assert.ok(v2.definitions['io.k8s.api.apps.v1.Deployment'] ?? v2.definitions['io.k8s.api.v1.Deployment']);
});

test('the python client (python3-kubernetes) lists, watches, creates, execs and port-forwards', { skip: !haveKubectl || !havePythonClient ? 'needs kubectl and /usr/bin/python3 with the kubernetes package (apt-get install python3-kubernetes)' : false }, async () => {
  const script = join(sb.dir, 'client.py');
  writeFileSync(script, `
import sys
from kubernetes import client, config, watch
from kubernetes.stream import stream, portforward
config.load_kube_config(config_file=sys.argv[1], context='kc')
v1 = client.CoreV1Api()
pods = v1.list_namespaced_pod('kc', label_selector='app=web')
print('pods', len(pods.items))
cms = v1.list_namespaced_config_map('kc')
cm = v1.create_namespaced_config_map('kc', client.V1ConfigMap(metadata=client.V1ObjectMeta(name='from-python'), data={'a': 'b'}))
print('created', cm.metadata.name)
w = watch.Watch()
for ev in w.stream(v1.list_namespaced_config_map, 'kc', resource_version=cms.metadata.resource_version, timeout_seconds=20):
    if ev['object'].metadata.name == 'from-python':
        print('watched', ev['type'], ev['object'].data['a'])
        w.stop()
p = pods.items[0].metadata.name
print('exec', stream(v1.connect_get_namespaced_pod_exec, p, 'kc', command=['sh', '-c', 'echo out-$POD_IP'], stderr=True, stdin=False, stdout=True, tty=False).strip())
pf = portforward(v1.connect_get_namespaced_pod_portforward, p, 'kc', ports='8080')
s = pf.socket(8080)
s.sendall(b'GET /py HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')
data = b''
while True:
    c = s.recv(65536)
    if not c:
        break
    data += c
print('portforward', data.split(b'\\r\\n')[0].decode())
`);
  const p = startProcess(python, [script, sb.kubeconfig]);
  const code = await p.exited;
  assert.equal(code, 0, p.stderr());
  const out = p.stdout();
  assert.match(out, /^pods 2$/m);
  assert.match(out, /^created from-python$/m);
  assert.match(out, /^watched ADDED b$/m);
  assert.match(out, /^exec out-127\.\d+\.\d+\.\d+$/m);
  assert.match(out, /^portforward HTTP\/1\.1 200 OK$/m);
});
