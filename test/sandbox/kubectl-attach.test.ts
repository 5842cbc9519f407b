// pods/attach with the real kubectl against a sandbox cluster (API server over HTTPS, the sandbox kubelet
// running busybox from the host's busybox): `kubectl run -i/-it --rm` typing through stdin, `kubectl
// attach -i` to a running pod, several attachers, stdinOnce, a pseudo-terminal and its size, over
// WebSocket (kubectl 1.30+) and SPDY/3.1 (KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false, kubectl 1.27), busybox
// and nicolaka/netshoot, a reader too slow to keep up; the
// python client; the API's errors, RBAC, discovery and OpenAPI. One sandbox for the file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { WebSocket } from 'ws';
import { startProcess, stopAll, type Proc } from '../helpers/process.js';
import { sandboxUp, eventually, type UpResult } from './sandbox-helpers.js';

const kubectlBin = '/usr/bin/kubectl';
const kubectl127 = '/usr/lib/google-cloud-sdk/bin/kubectl.1.27';
const haveKubectl = existsSync(kubectlBin);
const haveBusybox = spawnSync('sh', ['-c', 'command -v busybox'], { stdio: 'ignore' }).status === 0;
const python = '/usr/bin/python3';
const havePythonClient = existsSync(python) && spawnSync(python, ['-c', 'import kubernetes'], { stdio: 'ignore' }).status === 0;
const skip = !haveKubectl || !haveBusybox;
if (skip) console.log('# kubectl-attach tests skipped: they need kubectl (/usr/bin/kubectl) and busybox on the host');
if (!havePythonClient) console.log('# kubectl-attach: the python client test is skipped: python3-kubernetes is not installed');

/** kubectl 1.32 over WebSocket, the same forced to SPDY/3.1, and kubectl 1.27 (SPDY only) when installed. */
const clients: Array<{ name: string; bin: string; env: NodeJS.ProcessEnv }> = [
  { name: 'websocket', bin: kubectlBin, env: {} },
  { name: 'spdy', bin: kubectlBin, env: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' } },
  ...(existsSync(kubectl127) ? [{ name: 'kubectl 1.27', bin: kubectl127, env: {} }] : []),
];

let sb: UpResult;
const ns = 'ka';

function run(args: string[], input = '', env: NodeJS.ProcessEnv = {}, bin = kubectlBin): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = execFile(bin, ['--kubeconfig', sb.kubeconfig, '--context', 'ka', ...args], { timeout: 60_000, env: { ...process.env, ...env } }, (error, out, err) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out, err });
    });
    child.stdin?.end(input);
  });
}

async function ok(args: string[], input?: string): Promise<string> {
  const r = await run(args, input);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed: ${r.err}`);
  return r.out;
}

/** A kubectl that keeps running with a stdin pipe the test types into (stopped by pid in `after`). */
function start(args: string[], env: NodeJS.ProcessEnv = {}, bin = kubectlBin): Proc {
  return startProcess(bin, ['--kubeconfig', sb.kubeconfig, '--context', 'ka', ...args], env, undefined, { stdin: true });
}

async function gone(pod: string): Promise<void> {
  await eventually(`pod ${pod} deleted`, async () => /NotFound/.test((await run(['-n', ns, 'get', 'pod', pod])).err));
}

function interactivePod(name: string, extra: Record<string, unknown> = {}): string {
  // It prints a line at start: an attach must not replay it.
  return JSON.stringify({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns },
    spec: { restartPolicy: 'Never', containers: [{ name: 'sh', image: 'busybox:1.36', command: ['sh', '-c', 'echo before-attach; exec sh'], stdin: true, ...extra }] },
  });
}

before(async () => {
  if (skip) return;
  sb = await sandboxUp(['ka'], 'loopback');
  await ok(['create', 'namespace', ns]);
});

after(async () => {
  await stopAll();
  await sb?.proc.stop(15_000);
});

test('kubectl run -i --rm: what is typed reaches the shell, its output comes back, the pod is deleted (WebSocket, SPDY, kubectl 1.27)', { skip }, async () => {
  for (const [i, c] of clients.entries()) {
    const pod = `run-i-${i}`;
    const r = await run(['-n', ns, 'run', pod, '-i', '--rm', '--image=busybox', '--restart=Never', '--', 'sh'], 'echo "hi from $HOSTNAME"\nexit\n', c.env, c.bin);
    assert.equal(r.code, 0, `${c.name}: ${r.err}`);
    assert.match(r.out, new RegExp(`^hi from ${pod}$`, 'm'), c.name);
    assert.match(r.out + r.err, new RegExp(`pod "${pod}" deleted`), c.name);
    await gone(pod);
  }
  // The image the MCS connectivity checks and people debugging DNS reach for: the host's dig in the pod.
  const r = await run(['-n', ns, 'run', 'netshoot', '-i', '--rm', '--image=nicolaka/netshoot', '--restart=Never'], 'dig -v 2>&1 | head -c 8; echo\nexit\n');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^DiG 9\./m);
  await gone('netshoot');
});

test('kubectl run -it --rm under a terminal: a pty with TERM=xterm, the terminal size kubectl sends, exit ends it (WebSocket and SPDY)', { skip }, async () => {
  for (const [i, c] of clients.slice(0, 2).entries()) {
    const pod = `run-it-${i}`;
    const cols = 101 + i;
    // script(1) gives kubectl a terminal of a known size, so it sends that size on the resize channel.
    const p = startProcess('script', ['-qec', `stty cols ${cols} rows 37; exec ${kubectlBin} --kubeconfig ${sb.kubeconfig} --context ka -n ${ns} run ${pod} -it --rm --image=busybox --restart=Never -- sh`, '/dev/null'], c.env, undefined, { stdin: true });
    try {
      await p.waitFor(/If you don't see a command prompt/, 60_000);
      // Typed until the shell answers: the first line may arrive before kubectl's raw terminal is set up.
      await eventually(`${c.name}: the shell answers through the pty`, async () => {
        p.child.stdin?.write('echo "tty:$(tty | cut -c1-8):$TERM:$(stty size)"\n');
        await p.waitFor(/tty:\/dev\/pts:xterm:\d+ \d+/, 1_500).catch(() => undefined);
        return /tty:\/dev\/pts:xterm:\d+ \d+/.test(p.stdout());
      }, 30_000, 0);
      await p.waitFor(new RegExp(`tty:/dev/pts:xterm:37 ${cols}`), 10_000);
      p.child.stdin?.write('exit\n');
      assert.equal(await p.exited, 0, `${c.name}: ${p.stdout()}`);
      assert.match(p.stdout(), new RegExp(`pod "${pod}" deleted`));
      await gone(pod);
    } finally {
      await p.stop();
    }
  }
});

test('kubectl exec -it: the same pty, with the terminal size kubectl sends', { skip }, async () => {
  await ok(['apply', '-f', '-'], interactivePod('target'));
  await ok(['-n', ns, 'wait', '--for=condition=Ready', 'pod/target', '--timeout=60s']);
  const p = startProcess('script', ['-qec', `stty cols 77 rows 22; exec ${kubectlBin} --kubeconfig ${sb.kubeconfig} --context ka -n ${ns} exec -it target -- sh`, '/dev/null'], {}, undefined, { stdin: true });
  try {
    await eventually('the exec shell answers', async () => {
      p.child.stdin?.write('echo "size:$(stty size)"\n');
      return p.waitFor(/size:22 77/, 1_500).then(() => true, () => false);
    }, 30_000, 0);
    p.child.stdin?.write('exit\n');
    assert.equal(await p.exited, 0, p.stdout());
  } finally {
    await p.stop();
  }
  await ok(['-n', ns, 'delete', 'pod', 'target', '--grace-period=0']);
});

test('kubectl attach to a running pod with stdin: several attachers see the output, earlier output is not replayed, stdin stays open between attaches', { skip }, async () => {
  await ok(['apply', '-f', '-'], interactivePod('shell'));
  await ok(['-n', ns, 'wait', '--for=condition=Ready', 'pod/shell', '--timeout=60s']);
  await eventually('the pod has started', async () => /before-attach/.test(await ok(['-n', ns, 'logs', 'shell'])));
  const reader = start(['-n', ns, 'attach', 'shell']);
  const writers: Proc[] = [];
  try {
    await reader.waitFor(/If you don't see a command prompt/, 30_000);
    for (const [i, c] of clients.entries()) {
      const w = start(['-n', ns, 'attach', '-i', 'shell'], c.env, c.bin);
      writers.push(w);
      await w.waitFor(/If you don't see a command prompt/, 30_000);
      // A session may be connected a moment after kubectl says so: type until the marker comes back.
      await eventually(`${c.name}: typed line runs`, async () => {
        w.child.stdin?.write(`echo marker-${i}-$((40+2))\n`);
        return w.waitFor(new RegExp(`marker-${i}-42`), 2_000).then(() => true, () => false);
      }, 30_000, 0);
      await reader.waitFor(new RegExp(`marker-${i}-42`), 10_000);
      // The end of this attacher's input ends its session (no stdinOnce); the container keeps running.
      w.child.stdin?.end();
      assert.equal(await w.exited, 0, `${c.name}: ${w.stderr()}`);
    }
    assert.doesNotMatch(reader.stdout(), /before-attach/, 'what the container printed before the attach is not replayed');
    assert.match(await ok(['-n', ns, 'logs', 'shell']), /before-attach[\s\S]*marker-0-42/, 'the log has everything');
    const phase = await ok(['-n', ns, 'get', 'pod', 'shell', '-o', 'jsonpath={.status.phase}']);
    assert.equal(phase, 'Running');
    // A last attacher ends the shell: every attached session ends with the container.
    const last = start(['-n', ns, 'attach', '-i', 'shell']);
    writers.push(last);
    await last.waitFor(/If you don't see a command prompt/, 30_000);
    last.child.stdin?.write('exit\n');
    assert.equal(await reader.exited, 0, reader.stderr());
    await eventually('pod Succeeded', async () => (await ok(['-n', ns, 'get', 'pod', 'shell', '-o', 'jsonpath={.status.phase}'])) === 'Succeeded');
  } finally {
    await reader.stop();
    for (const w of writers) await w.stop();
  }
});

test('stdinOnce: the end of the first attach closes the container stdin (the shell reads EOF and exits); a finished container cannot be attached', { skip }, async () => {
  await ok(['apply', '-f', '-'], interactivePod('once', { stdinOnce: true }));
  await ok(['-n', ns, 'wait', '--for=condition=Ready', 'pod/once', '--timeout=60s']);
  const r = await run(['-n', ns, 'attach', '-i', 'once'], 'echo "once:$((6*7))"\n');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^once:42$/m);
  await eventually('pod Succeeded after stdin closed', async () => (await ok(['-n', ns, 'get', 'pod', 'once', '-o', 'jsonpath={.status.phase}'])) === 'Succeeded');
  const again = await run(['-n', ns, 'attach', '-i', 'once'], 'echo no\n');
  assert.notEqual(again.code, 0);
  assert.match(again.err, /cannot attach a container in a completed pod; current phase is Succeeded/);
});

interface Api { url: URL; ca: Buffer; token: string }

async function api(): Promise<Api> {
  const kc = JSON.parse(await ok(['config', 'view', '--raw', '--minify', '-o', 'json'])) as { clusters: Array<{ cluster: { server: string; 'certificate-authority-data': string } }>; users: Array<{ user: { token: string } }> };
  const cl = kc.clusters[0]!.cluster;
  return { url: new URL(cl.server), ca: Buffer.from(cl['certificate-authority-data'], 'base64'), token: kc.users[0]!.user.token };
}

/** A v4 WebSocket attach: the HTTP refusal (status, body) or what the error channel said. */
function wsAttach(a: Api, path: string): Promise<{ status?: number; body?: string; error?: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://${a.url.host}${path}`, ['v4.channel.k8s.io'], { ca: a.ca, headers: { Authorization: `Bearer ${a.token}` } });
    let error = '';
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.on('message', (d: Buffer) => { if (d[0] === 3) error += d.subarray(1).toString(); });
    ws.on('close', () => resolve({ error }));
    ws.on('error', (e) => { if (!/Unexpected server response/.test(e.message)) reject(e); });
  });
}

test('API errors as kube-apiserver words them: unknown container, no stream asked, a container that is not running; RBAC create on pods/attach', { skip }, async () => {
  const a = await api();
  const base = `/api/v1/namespaces/${ns}/pods`;
  const unknown = await wsAttach(a, `${base}/once/attach?container=nope&stdout=true`);
  assert.equal(unknown.status, 400);
  assert.match(unknown.body ?? '', /container nope is not valid for pod once/);
  const none = await wsAttach(a, `${base}/once/attach?container=sh`);
  assert.equal(none.status, 400);
  assert.match(none.body ?? '', /you must specify at least 1 of stdin, stdout, stderr/);
  const stopped = await wsAttach(a, `${base}/once/attach?container=sh&stdout=true`);
  assert.match(stopped.error ?? '', /unable to upgrade connection: container not found \(\\"sh\\"\)/);
  // RBAC: the view role may not attach; edit (as in real clusters) may.
  await ok(['-n', ns, 'create', 'serviceaccount', 'viewer']);
  await ok(['-n', ns, 'create', 'serviceaccount', 'editor']);
  await ok(['-n', ns, 'create', 'rolebinding', 'viewer', '--clusterrole=view', `--serviceaccount=${ns}:viewer`]);
  await ok(['-n', ns, 'create', 'rolebinding', 'editor', '--clusterrole=edit', `--serviceaccount=${ns}:editor`]);
  await ok(['apply', '-f', '-'], interactivePod('rbac'));
  await ok(['-n', ns, 'wait', '--for=condition=Ready', 'pod/rbac', '--timeout=60s']);
  const denied = await run([`--as=system:serviceaccount:${ns}:viewer`, '-n', ns, 'attach', '-i', 'rbac'], 'echo no\n');
  assert.notEqual(denied.code, 0);
  assert.match(denied.err, /cannot create resource "pods\/attach" in API group "" in the namespace "ka"/);
  const allowed = start([`--as=system:serviceaccount:${ns}:editor`, '-n', ns, 'attach', '-i', 'rbac']);
  try {
    await allowed.waitFor(/If you don't see a command prompt/, 30_000);
    await eventually('the editor attaches', async () => {
      allowed.child.stdin?.write('echo "edit:$((1+1))"\n');
      return allowed.waitFor(/edit:2/, 2_000).then(() => true, () => false);
    }, 30_000, 0);
  } finally {
    await allowed.stop();
  }
});

test('a reader too slow is detached with what it had not read; the container and the other attachers go on', { skip }, async () => {
  const total = 30_000_000;
  await ok(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'flood', namespace: ns },
    spec: { containers: [{ name: 'flood', image: 'busybox', command: ['sh', '-c', `read x; yes | head -c ${total}; echo done-flood; read y; echo "after:$y"; read z`], stdin: true }] },
  }));
  await ok(['-n', ns, 'wait', '--for=condition=Ready', 'pod/flood', '--timeout=60s']);
  const a = await api();
  // A client that reads nothing: its socket stays paused until the flood is over.
  const slow = await new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(`wss://${a.url.host}/api/v1/namespaces/${ns}/pods/flood/attach?container=flood&stdout=true`, ['v5.channel.k8s.io'], { ca: a.ca, headers: { Authorization: `Bearer ${a.token}` } });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
  let slowBytes = 0;
  slow.on('message', (d: Buffer) => { if (d[0] === 1) slowBytes += d.length - 1; });
  const slowClosed = new Promise<void>((resolve) => slow.once('close', () => resolve()));
  slow.pause();
  try {
    const go = await run(['-n', ns, 'attach', '-i', 'flood'], 'go\n');
    assert.equal(go.code, 0, go.err);
    // The container is not held back by the paused reader: its whole output reaches the log.
    await eventually('the flood is written', async () => /done-flood/.test(await ok(['-n', ns, 'logs', 'flood', '--tail=1'])), 60_000, 500);
    slow.resume();
    // Bounded: a server that kept the slow reader would stream it all and leave the session open.
    let timer: NodeJS.Timeout | undefined;
    const cutOff = await Promise.race([slowClosed.then(() => true), new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), 60_000); })]);
    clearTimeout(timer);
    assert.ok(cutOff, `the slow reader's session was not ended (${slowBytes} bytes read)`);
    assert.ok(slowBytes < total, `the slow reader was cut off (${slowBytes} of ${total} bytes)`);
    assert.match(readFileSync(`${sb.dir}/ka/cluster.log`, 'utf8'), /attacher too slow, detached/);
    // Another attacher still talks to the same, running, process.
    const w = start(['-n', ns, 'attach', '-i', 'flood']);
    try {
      await w.waitFor(/If you don't see a command prompt/, 30_000);
      w.child.stdin?.write('still-here\n');
      await w.waitFor(/after:still-here/, 20_000);
    } finally {
      await w.stop();
    }
    assert.equal(await ok(['-n', ns, 'get', 'pod', 'flood', '-o', 'jsonpath={.status.containerStatuses[0].restartCount}']), '0');
  } finally {
    slow.terminate();
    await ok(['-n', ns, 'delete', 'pod', 'flood', '--grace-period=0']);
  }
});

test('discovery lists pods/attach (PodAttachOptions, create/get) and OpenAPI v3 has its connect operations', { skip }, async () => {
  const list = JSON.parse(await ok(['get', '--raw', '/api/v1'])) as { resources: Array<{ name: string; kind: string; verbs: string[] }> };
  const r = list.resources.find((x) => x.name === 'pods/attach');
  assert.deepEqual(r && { kind: r.kind, verbs: r.verbs }, { kind: 'PodAttachOptions', verbs: ['create', 'get'] });
  const doc = JSON.parse(await ok(['get', '--raw', '/openapi/v3/api/v1'])) as { paths: Record<string, Record<string, { operationId: string; parameters: Array<{ name: string }> }>> };
  const p = doc.paths['/api/v1/namespaces/{namespace}/pods/{name}/attach'];
  assert.equal(p?.post?.operationId, 'connectPostNamespacedPodAttach');
  assert.deepEqual(p?.get?.parameters.map((x) => x.name), ['container', 'stderr', 'stdin', 'stdout', 'tty']);
});

test('python client: stream(connect_get_namespaced_pod_attach) writes to and reads from the running shell', { skip: skip || !havePythonClient }, async () => {
  const script = `
import sys, time
from kubernetes import client, config
from kubernetes.stream import stream
config.load_kube_config(config_file=sys.argv[1], context='ka')
r = stream(client.CoreV1Api().connect_get_namespaced_pod_attach, 'rbac', 'ka', container='sh', stdin=True, stdout=True, stderr=True, tty=False, _preload_content=False)
out = ''
deadline = time.time() + 30
while 'py:42' not in out and r.is_open() and time.time() < deadline:
    r.write_stdin('echo "py:$((40+2))"\\n')
    r.update(timeout=1)
    if r.peek_stdout(): out += r.read_stdout()
r.close()
print(out)
`;
  const r = spawnSync(python, ['-c', script, sb.kubeconfig], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^py:42$/m);
});
