// Shared by the sandbox's end-to-end tests: start `mesh sandbox up` as a process, talk to its clusters with
// the real client and kubectl, render demo manifests, poll for a condition, and check nothing is left.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeClient, kubeConfigFromString } from '../../src/kube/index.js';
import { startMesh, meshBin, type Proc } from '../helpers/process.js';

export interface UpResult {
  proc: Proc;
  dir: string;
  kubeconfig: string;
  sandboxId: string;
  clusters: Array<{ name: string; api: string; apiFromClusters: string; node: string; dns: string; podCIDR: string; serviceCIDR: string; netns?: string }>;
}

export async function sandboxUp(names: string[], network: 'loopback' | 'isolated', env: NodeJS.ProcessEnv = {}, extraArgs: string[] = []): Promise<UpResult> {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-sb-'));
  const proc = startMesh(['sandbox', 'up', '--clusters', names.join(','), '--network', network, '--dir', dir, ...extraArgs], env);
  const m = await proc.waitFor(/^(\{"ready":true.*\})$/m, 90_000);
  const ready = JSON.parse(m[1]!) as Omit<UpResult, 'proc' | 'dir' | 'sandboxId'>;
  const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { sandboxId: string };
  return { proc, dir, sandboxId: state.sandboxId, ...ready };
}

export async function sandboxDown(dir: string): Promise<string> {
  const p = startMesh(['sandbox', 'down', '--dir', dir]);
  const code = await p.exited;
  if (code !== 0) throw new Error(`sandbox down exited ${code}: ${p.stderr()}`);
  return p.stdout();
}

export async function client(kubeconfig: string, context: string): Promise<KubeClient> {
  return KubeClient.create(kubeConfigFromString(readFileSync(kubeconfig, 'utf8'), context));
}

export function kubectl(kubeconfig: string, context: string, args: string[], input?: string): string {
  return execFileSync('kubectl', ['--kubeconfig', kubeconfig, '--context', context, ...args], { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'], timeout: 30_000 });
}

export function hasKubectl(): boolean {
  return spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;
}

/** Polls `fn` until it returns a value that is not undefined/false, or throws after `timeoutMs`. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000, everyMs = 250): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}${last ? `: ${last instanceof Error ? last.message : String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Namespace `demo` with a dual-stack Service `dual` (port 8080) in front of one pod: socat on the pod's IPv4
 * address and an IPv6-only socat on the wildcard, both at 9090, each answering its own line (`four`, `six`).
 * `extraContainers` (YAML list items, indented as containers) go beside them.
 */
export function dualStackBackend(answers: { four: string; six: string }, extraContainers = ''): string {
  return `apiVersion: v1
kind: Namespace
metadata: {name: demo}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: dual, namespace: demo}
spec:
  replicas: 1
  selector: {matchLabels: {app: dual}}
  template:
    metadata: {labels: {app: dual}}
    spec:
      containers:
      - name: four
        image: alpine/socat
        args: ["TCP4-LISTEN:9090,reuseaddr,fork", "SYSTEM:echo ${answers.four}"]
      - name: six
        image: alpine/socat
        args: ["TCP6-LISTEN:9090,reuseaddr,fork,ipv6only=1,bind=[::]", "SYSTEM:echo ${answers.six}"]
${extraContainers}---
apiVersion: v1
kind: Service
metadata: {name: dual, namespace: demo}
spec:
  ipFamilyPolicy: PreferDualStack
  selector: {app: dual}
  ports: [{name: tcp, port: 8080, targetPort: 9090}]
`;
}

export function echoApp(opts: { name: string; ns: string; replicas: number; cluster: string; image?: string; port?: number; serviceType?: string }): string {
  const port = opts.port ?? 8080;
  return `apiVersion: v1
kind: Namespace
metadata: {name: ${opts.ns}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ${opts.name}, namespace: ${opts.ns}}
spec:
  replicas: ${opts.replicas}
  selector: {matchLabels: {app: ${opts.name}}}
  template:
    metadata: {labels: {app: ${opts.name}}}
    spec:
      containers:
      - name: echo
        image: ${opts.image ?? 'mesh-federation:dev'}
        args: ["app", "http-echo", "--port", "${port}"]
        ports: [{name: http, containerPort: ${port}}]
        env:
        - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
        - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: POD_NAMESPACE, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
        - {name: CLUSTER_NAME, value: ${opts.cluster}}
        readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 1, failureThreshold: 1}
---
apiVersion: v1
kind: Service
metadata: {name: ${opts.name}, namespace: ${opts.ns}}
spec:
  type: ${opts.serviceType ?? 'ClusterIP'}
  selector: {app: ${opts.name}}
  ports: [{name: http, port: 80, targetPort: http}]
`;
}

export function writeManifest(dir: string, name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

export interface Answer { ok: boolean; cluster?: string; pod?: string; error?: string }

/** Runs `mesh app client` (in a cluster's network when `inCluster` is given) and returns its per-request results. */
export function runClient(args: string[], opts: { dir?: string; inCluster?: string; dns?: string } = {}): { code: number; results: Answer[]; out: string } {
  const base = [meshBin, 'app', 'client', ...args, '-o', 'json'];
  const r = opts.inCluster
    ? spawnSync(process.execPath, [meshBin, 'sandbox', 'exec', '--dir', opts.dir!, opts.inCluster, '--', process.execPath, ...base], { encoding: 'utf8', timeout: 60_000 })
    : spawnSync(process.execPath, base, { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...(opts.dns ? { MESH_CLUSTER_DNS: opts.dns } : {}) } });
  const out = `${r.stdout ?? ''}`;
  const results: Answer[] = [];
  for (const line of out.split('\n')) {
    if (!line.trim().startsWith('{')) continue;
    try {
      const v = JSON.parse(line) as Record<string, unknown>;
      if (Array.isArray(v.results)) for (const x of v.results as Answer[]) results.push(x);
      else if (typeof v.ok === 'boolean') results.push(v as unknown as Answer);
    } catch { /* not JSON */ }
  }
  return { code: r.status ?? -1, results, out: out + (r.stderr ?? '') };
}

/** Processes whose environment carries the sandbox's marker. */
export function markedProcesses(sandboxId: string): number[] {
  const out: number[] = [];
  const marker = `MESH_SANDBOX_ID=${sandboxId}\0`;
  for (const pid of execFileSync('ls', ['/proc'], { encoding: 'utf8' }).split('\n').filter((x) => /^\d+$/.test(x))) {
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'latin1').includes(marker)) out.push(Number(pid));
    } catch { /* gone */ }
  }
  return out;
}

export function fileExists(p: string): boolean {
  return existsSync(p);
}
