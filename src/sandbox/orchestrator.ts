// `mesh sandbox up|down|status|logs|route|exec`: plans the clusters, creates their networks, starts one
// `mesh sandbox cluster` process per cluster and supervises it, writes D/kubeconfig and D/state.json, and
// removes everything it created on the way out — or, via `down`, after a crashed `up`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { KubeClient, kubeConfigFromString, errorMessage } from '../kube/index.js';
import type { Logger } from '../log/index.js';
import { SandboxError } from './errors.js';
import { createClusterNetns, createUnderlay, deleteNetns, flatRoute, hasUnshare, isolatedUnsupported, listNetns, netnsPids, underlayName } from './netns.js';
import { planCluster, type ClusterPlan, type NetworkMode } from './plan.js';
import { claimLoopbackOctets, claimsOf, pidAlive, processesOfSandbox, readState, releaseLoopbackOctets, statePath, writeState, type ClusterState, type SandboxState } from './state.js';

export interface UpOptions {
  clusters: string[];
  network: NetworkMode;
  dir: string;
  domains: Map<string, string>;
  meshBin: string;
  repoRoot: string;
  log: Logger;
  /** How long to wait for every cluster to report ready. */
  readyTimeoutMs?: number;
  /** Aborting stops the sandbox, also while it is still starting (Ctrl-C during `up`). */
  signal?: AbortSignal;
  /** Isolated network: route every pair of clusters' pod CIDRs to each other from the start (flat mode). */
  flatRoutes?: boolean;
}

export interface ReadyLine {
  ready: true;
  name: string;
  apiUrl: string;
  apiPort: number;
  kubeconfig: string;
  dns: string;
  apiSocket?: string;
}

export interface Sandbox {
  state: SandboxState;
  kubeconfigPath: string;
  /** Resolves when the sandbox was stopped (signal, `down`, or stop()). */
  done: Promise<void>;
  stop(): Promise<void>;
}

function netnsPrefix(id: string): string {
  return `msb${id}`;
}

export async function up(o: UpOptions): Promise<Sandbox> {
  const dir = resolve(o.dir);
  mkdirSync(dir, { recursive: true });
  if (existsSync(statePath(dir))) {
    const old = readState(dir);
    if (pidAlive(old.upPid) && old.upPid !== process.pid) throw new SandboxError('AlreadyRunning', `a sandbox is already running in ${dir} (pid ${old.upPid})`, `stop it first: mesh sandbox down --dir ${dir}`);
    o.log.info('cleaning up after an earlier sandbox that did not stop cleanly', { dir, sandboxId: old.sandboxId });
    await cleanup(old, o.log);
  }
  if (o.network === 'isolated') {
    const why = isolatedUnsupported();
    if (why) throw new SandboxError('NotRoot', why, 'use --network loopback (the default), which needs no privileges');
  }
  const sandboxId = randomBytes(3).toString('hex');
  const state: SandboxState = { version: 1, sandboxId, upPid: process.pid, mode: o.network, dir, createdAt: new Date().toISOString(), netns: [], clusters: [], flatRoutes: [] };
  const children = new Map<string, ChildProcess>();
  const forwarders: net.Server[] = [];
  let stopped = false;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const f of forwarders) f.close();
    await Promise.all([...children.values()].map((c) => stopChild(c, 10_000)));
    await cleanup(state, o.log);
    resolveDone();
  };

  o.signal?.addEventListener('abort', () => void stop(), { once: true });
  try {
    let plans: ClusterPlan[];
    if (o.network === 'loopback') {
      const octets = claimLoopbackOctets(o.clusters.length, sandboxId, process.pid);
      const dnsPort = isRoot() && hasUnshare() ? 53 : 0;
      plans = o.clusters.map((name, i) => planCluster({ name, index: i + 1, domain: o.domains.get(name) ?? 'cluster.local', mode: 'loopback', loopbackOctet: octets[i]!, loopbackDnsPort: dnsPort }));
      state.clusters = plans.map((plan) => ({ plan }));
      writeState(state);
    } else {
      const prefix = netnsPrefix(sandboxId);
      plans = o.clusters.map((name, i) => planCluster({ name, index: i + 1, domain: o.domains.get(name) ?? 'cluster.local', mode: 'isolated', netnsPrefix: prefix }));
      state.underlay = underlayName(prefix);
      state.clusters = plans.map((plan) => ({ plan }));
      // Record names before creating anything, so a crash midway still leaves `down` a list.
      state.netns = [state.underlay, ...plans.map((p) => p.netns!)];
      writeState(state);
      createUnderlay(state.underlay);
      for (const p of plans) createClusterNetns(p, state.underlay);
      if (o.flatRoutes) {
        // As a flat CNI would: every cluster routes every other cluster's pod CIDR via that cluster's node.
        for (const [i, a] of plans.entries()) {
          for (const b of plans.slice(i + 1)) {
            flatRoute(a, b, false);
            state.flatRoutes.push([a.name, b.name].sort().join(':'));
          }
        }
        writeState(state);
      }
    }

    const readyTimeout = o.readyTimeoutMs ?? 60_000;
    // A fresh sandbox starts from empty API servers (snapshots are only for restarts of this run).
    for (const p of plans) rmSync(join(dir, p.name, 'apiserver'), { recursive: true, force: true });
    const launch = (plan: ClusterPlan): Promise<ReadyLine> => {
      const { child, ready } = startClusterProcess(plan, dir, sandboxId, o);
      children.set(plan.name, child);
      child.on('exit', (code, sig) => {
        if (stopped || children.get(plan.name) !== child) return;
        o.log.error('cluster process exited; restarting it', { cluster: plan.name, code, signal: sig, log: join(dir, plan.name, 'cluster.log') });
        void restart(plan);
      });
      return withTimeout(ready, readyTimeout, `cluster ${plan.name} did not become ready in ${readyTimeout} ms (see ${join(dir, plan.name, 'cluster.log')})`);
    };
    const backoff = new Map<string, number>();
    const restart = async (plan: ClusterPlan) => {
      const wait = Math.min(30_000, (backoff.get(plan.name) ?? 500) * 2);
      backoff.set(plan.name, wait);
      // Its pods lost their kubelet: stop them, the restarted kubelet starts them again.
      for (const pid of processesOfSandbox(sandboxId, plan.name)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      await sleep(wait);
      if (stopped) return;
      try {
        const r = await launch(plan);
        const cs = state.clusters.find((c) => c.plan.name === plan.name)!;
        cs.pid = children.get(plan.name)?.pid;
        cs.dns = r.dns;
        writeState(state);
        o.log.info('cluster restarted', { cluster: plan.name, pid: cs.pid });
        setTimeout(() => backoff.delete(plan.name), 60_000).unref();
      } catch (err) {
        o.log.error('cluster restart failed', { cluster: plan.name, err: errorMessage(err) });
      }
    };
    const ready = await Promise.all(plans.map((plan) => launch(plan)));

    for (const [i, r] of ready.entries()) {
      const cs = state.clusters[i]!;
      cs.pid = children.get(r.name)?.pid;
      // A restarted cluster process binds the same ports, so kubeconfigs and pods keep working.
      cs.plan.apiPort = r.apiPort;
      cs.plan.dnsPort = Number(r.dns.slice(r.dns.lastIndexOf(':') + 1));
      cs.apiUrl = `https://${cs.plan.nodeAddress}:${r.apiPort}`;
      cs.dns = r.dns;
      if (r.apiSocket) {
        // The host reaches an isolated cluster's API server through its unix socket.
        cs.apiSocket = r.apiSocket;
        const f = await socketForwarder(r.apiSocket);
        forwarders.push(f.server);
        cs.hostApiUrl = `https://127.0.0.1:${f.port}`;
      } else {
        cs.hostApiUrl = cs.apiUrl;
      }
    }
    writeKubeconfig(dir, state.clusters, ready);
    writeState(state);
    if (o.signal?.aborted) throw new SandboxError('ClusterFailed', 'interrupted while starting; everything started was removed');
  } catch (err) {
    await stop();
    if (o.signal?.aborted) throw new SandboxError('ClusterFailed', 'interrupted while starting; everything started was removed');
    throw err;
  }
  return { state, kubeconfigPath: join(dir, 'kubeconfig'), done, stop };
}

function startClusterProcess(plan: ClusterPlan, dir: string, sandboxId: string, o: UpOptions): { child: ChildProcess; ready: Promise<ReadyLine> } {
  const cdir = join(dir, plan.name);
  mkdirSync(cdir, { recursive: true });
  // The lean entry (same code as the hidden `mesh sandbox cluster`), compiled beside this file.
  const entry = fileURLToPath(new URL('./cluster-main.js', import.meta.url));
  const args = ['--enable-source-maps', entry, '--dir', dir, '--name', plan.name];
  const [cmd, argv] = plan.mode === 'isolated' ? ['ip', ['netns', 'exec', plan.netns!, process.execPath, ...args]] : [process.execPath, args];
  const logStream = createWriteStream(join(cdir, 'cluster.log'), { flags: 'a' });
  const child = spawn(cmd, argv, { cwd: o.repoRoot, env: { ...process.env, MESH_SANDBOX_ID: sandboxId }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.pipe(logStream);
  const ready = new Promise<ReadyLine>((res, rej) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          const v = JSON.parse(line) as Partial<ReadyLine>;
          if (v.ready === true && v.name === plan.name) res(v as ReadyLine);
        } catch { /* not the ready line */ }
      }
    });
    child.on('exit', (code, sig) => rej(new SandboxError('ClusterFailed', `cluster ${plan.name} exited (${code ?? sig}) before it was ready; see ${join(cdir, 'cluster.log')}`)));
    child.on('error', (err) => rej(new SandboxError('ClusterFailed', `cannot start cluster ${plan.name}: ${err.message}`)));
  });
  return { child, ready };
}

function stopChild(c: ChildProcess, graceMs: number): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((res) => {
    const t = setTimeout(() => c.kill('SIGKILL'), graceMs);
    c.once('exit', () => { clearTimeout(t); res(); });
    c.kill('SIGTERM');
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, msg: string): Promise<T> {
  return new Promise((res, rej) => {
    const t = setTimeout(() => rej(new SandboxError('ClusterFailed', msg)), ms);
    p.then((v) => { clearTimeout(t); res(v); }, (e: unknown) => { clearTimeout(t); rej(e instanceof Error ? e : new Error(String(e))); });
  });
}

async function socketForwarder(path: string): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer((c) => {
    const u = net.connect(path);
    c.pipe(u).pipe(c);
    const end = () => { c.destroy(); u.destroy(); };
    c.on('error', end);
    u.on('error', end);
  });
  await new Promise<void>((res, rej) => { server.once('error', rej); server.listen(0, '127.0.0.1', () => res()); });
  const addr = server.address();
  return { server, port: typeof addr === 'object' && addr ? addr.port : 0 };
}

/** D/kubeconfig: one context per cluster; context, cluster and user all named after the cluster. */
function writeKubeconfig(dir: string, clusters: ClusterState[], ready: ReadyLine[]): void {
  const entries = clusters.map((cs, i) => {
    const kc = kubeConfigFromString(readFileSync(ready[i]!.kubeconfig, 'utf8'));
    const c = kc.getCurrentCluster();
    const u = kc.getCurrentUser();
    const ca = c?.caData ?? (c?.caFile ? readFileSync(c.caFile).toString('base64') : undefined);
    return { name: cs.plan.name, server: cs.hostApiUrl!, ca, token: u?.token };
  });
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': entries[0]?.name,
    clusters: entries.map((e) => ({ name: e.name, cluster: { server: e.server, 'certificate-authority-data': e.ca } })),
    users: entries.map((e) => ({ name: e.name, user: { token: e.token } })),
    contexts: entries.map((e) => ({ name: e.name, context: { cluster: e.name, user: e.name } })),
    preferences: {},
  };
  writeFileSync(join(dir, 'kubeconfig'), stringify(doc), { mode: 0o600 });
}

/** Removes what a sandbox created: its processes, namespaces, claims and state. Idempotent. */
export async function cleanup(s: SandboxState, log: Logger): Promise<void> {
  let pids = processesOfSandbox(s.sandboxId);
  for (const p of pids) try { process.kill(p, 'SIGTERM'); } catch { /* gone */ }
  for (let i = 0; i < 30 && pids.length; i++) {
    await sleep(100);
    pids = pids.filter(pidAlive);
  }
  for (const p of pids) try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
  const prefix = `${netnsPrefix(s.sandboxId)}-`;
  const names = new Set([...s.netns, ...listNetns().filter((n) => n.startsWith(prefix))]);
  for (const ns of names) {
    for (const p of netnsPids(ns)) try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
    deleteNetns(ns);
  }
  releaseLoopbackOctets([...new Set([...s.clusters.flatMap((c) => (c.plan.loopbackOctet ? [c.plan.loopbackOctet] : [])), ...claimsOf(s.sandboxId)])], s.sandboxId);
  for (const c of s.clusters) {
    rmSync(join(s.dir, c.plan.name, 'pods'), { recursive: true, force: true });
    rmSync(join(s.dir, c.plan.name, 'api.sock'), { force: true });
    rmSync(join(s.dir, c.plan.name, 'apiserver'), { recursive: true, force: true });
  }
  rmSync(join(s.dir, 'kubeconfig'), { force: true });
  rmSync(statePath(s.dir), { force: true });
  log.info('sandbox removed', { sandboxId: s.sandboxId, killed: pids.length, netns: [...names] });
}

export async function down(dir: string, log: Logger, timeoutMs = 30_000): Promise<{ sandboxId: string; graceful: boolean }> {
  const s = readState(resolve(dir));
  let graceful = false;
  if (s.upPid !== process.pid && pidAlive(s.upPid) && isSandboxUp(s.upPid)) {
    process.kill(s.upPid, 'SIGTERM');
    const until = Date.now() + timeoutMs;
    while (Date.now() < until && pidAlive(s.upPid)) await sleep(100);
    graceful = !pidAlive(s.upPid);
  }
  await cleanup(s, log);
  return { sandboxId: s.sandboxId, graceful };
}

function isSandboxUp(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('sandbox');
  } catch {
    return false;
  }
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// --- status ------------------------------------------------------------------------------------------
export interface PodSummary {
  namespace: string;
  name: string;
  phase: string;
  ip: string;
  ready: string;
  restarts: number;
  reason?: string;
}

export interface ClusterStatus {
  name: string;
  running: boolean;
  pid?: number;
  healthy: boolean;
  error?: string;
  apiUrl?: string;
  hostApiUrl?: string;
  nodeAddress: string;
  podCIDR: string;
  serviceCIDR: string;
  domain: string;
  dns?: string;
  /** Whether the cluster DNS answered `kubernetes.default.svc.<domain>` (loopback mode; isolated DNS is inside the netns). */
  dnsHealthy?: boolean;
  netns?: string;
  pods: PodSummary[];
}

export interface SandboxStatus {
  dir: string;
  sandboxId: string;
  mode: NetworkMode;
  upPid: number;
  upRunning: boolean;
  kubeconfig: string;
  flatRoutes: string[];
  clusters: ClusterStatus[];
}

export async function status(dir: string): Promise<SandboxStatus> {
  const s = readState(resolve(dir));
  const kcText = existsSync(join(s.dir, 'kubeconfig')) ? readFileSync(join(s.dir, 'kubeconfig'), 'utf8') : undefined;
  const clusters = await Promise.all(
    s.clusters.map(async (c): Promise<ClusterStatus> => {
      const base: ClusterStatus = {
        name: c.plan.name, running: c.pid !== undefined && pidAlive(c.pid), healthy: false,
        ...(c.pid !== undefined ? { pid: c.pid } : {}), ...(c.apiUrl ? { apiUrl: c.apiUrl } : {}), ...(c.hostApiUrl ? { hostApiUrl: c.hostApiUrl } : {}),
        nodeAddress: c.plan.nodeAddress, podCIDR: c.plan.podCIDR, serviceCIDR: c.plan.serviceCIDR, domain: c.plan.domain,
        ...(c.dns ? { dns: c.dns } : {}), ...(c.plan.netns ? { netns: c.plan.netns } : {}), pods: [],
      };
      if (!kcText || !base.running) return base;
      let client: KubeClient | undefined;
      try {
        client = await KubeClient.create(kubeConfigFromString(kcText, c.plan.name), { timeoutMs: 5_000 });
        const list = await client.list<{ metadata: { name: string; namespace: string }; status?: { phase?: string; podIP?: string; conditions?: Array<{ type: string; status: string }>; containerStatuses?: Array<{ restartCount: number; state?: { waiting?: { reason?: string } } }> } }>('/api/v1/pods');
        base.healthy = true;
        if (c.dns && !c.plan.netns) base.dnsHealthy = await dnsAnswers(c.dns, `kubernetes.default.svc.${c.plan.domain}`);
        base.pods = list.items.map((p) => {
          const cs = p.status?.containerStatuses ?? [];
          const reason = cs.map((x) => x.state?.waiting?.reason).find((r) => r);
          return {
            namespace: p.metadata.namespace, name: p.metadata.name, phase: p.status?.phase ?? 'Pending', ip: p.status?.podIP ?? '',
            ready: `${cs.filter((x) => (x as { ready?: boolean }).ready).length}/${cs.length}`,
            restarts: cs.reduce((a, x) => a + (x.restartCount ?? 0), 0), ...(reason ? { reason } : {}),
          };
        });
      } catch (err) {
        base.error = errorMessage(err);
      } finally {
        client?.close();
      }
      return base;
    }),
  );
  return { dir: s.dir, sandboxId: s.sandboxId, mode: s.mode, upPid: s.upPid, upRunning: pidAlive(s.upPid), kubeconfig: join(s.dir, 'kubeconfig'), flatRoutes: s.flatRoutes, clusters };
}

function dnsAnswers(addr: string, name: string): Promise<boolean> {
  const i = addr.lastIndexOf(':');
  return new Promise((res) => {
    const sock = dgram.createSocket('udp4');
    const t = setTimeout(() => { sock.close(); res(false); }, 2000);
    sock.on('error', () => { clearTimeout(t); sock.close(); res(false); });
    sock.on('message', (m) => {
      clearTimeout(t);
      sock.close();
      try {
        res((dnsPacket.decode(m).answers ?? []).some((a) => a.type === 'A'));
      } catch {
        res(false);
      }
    });
    sock.send(dnsPacket.encode({ type: 'query', id: 1, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] }), Number(addr.slice(i + 1)), addr.slice(0, i));
  });
}

export function renderStatus(st: SandboxStatus): string {
  const lines = [`sandbox ${st.sandboxId} in ${st.dir} (${st.mode} network, up pid ${st.upPid}${st.upRunning ? '' : ', NOT RUNNING'})`, `kubeconfig: ${st.kubeconfig}`];
  if (st.flatRoutes.length) lines.push(`flat routes: ${st.flatRoutes.join(', ')}`);
  for (const c of st.clusters) {
    lines.push('', `${c.name}: ${c.running ? (c.healthy ? 'healthy' : `unhealthy (${c.error ?? 'no answer'})`) : 'not running'}`);
    lines.push(`  api ${c.hostApiUrl ?? '-'} (from other clusters: ${c.apiUrl ?? '-'})  node ${c.nodeAddress}  dns ${c.dns ?? '-'}${c.dnsHealthy === undefined ? '' : c.dnsHealthy ? ' (answers)' : ' (NOT answering)'}  domain ${c.domain}`);
    lines.push(`  pods ${c.podCIDR}  services ${c.serviceCIDR}${c.netns ? `  netns ${c.netns}` : ''}`);
    if (c.pods.length) {
      const rows = [['NAMESPACE', 'NAME', 'READY', 'STATUS', 'RESTARTS', 'IP'], ...c.pods.map((p) => [p.namespace, p.name, p.ready, p.reason ?? p.phase, String(p.restarts), p.ip])];
      const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      for (const r of rows) lines.push('  ' + r.map((x, i) => x.padEnd(w[i]!)).join('  ').trimEnd());
    }
  }
  return lines.join('\n') + '\n';
}

// --- logs, route, exec -------------------------------------------------------------------------------
export function clusterOf(s: SandboxState, name: string): ClusterState {
  const c = s.clusters.find((x) => x.plan.name === name);
  if (!c) throw new SandboxError('UnknownCluster', `no cluster "${name}" in this sandbox (it has ${s.clusters.map((x) => x.plan.name).join(', ')})`);
  return c;
}

export function logPath(dir: string, cluster: string, pod: string): string {
  const s = readState(resolve(dir));
  clusterOf(s, cluster);
  const [ns, name] = pod.includes('/') ? pod.split('/', 2) : ['default', pod];
  if (!ns || !name || !/^[a-z0-9.-]+$/.test(ns) || !/^[a-z0-9.-]+$/.test(name)) throw new SandboxError('BadFlag', `pod "${pod}": expected <namespace>/<name>`);
  return join(s.dir, cluster, ns, `${name}.log`);
}

export function route(dir: string, a: string, b: string, remove: boolean): { changed: boolean; message: string } {
  const s = readState(resolve(dir));
  const ca = clusterOf(s, a);
  const cb = clusterOf(s, b);
  if (a === b) throw new SandboxError('BadFlag', 'route --flat needs two different clusters');
  const pair = [a, b].sort().join(':');
  if (s.mode === 'loopback') {
    return { changed: false, message: `loopback network: ${a} and ${b} already reach each other's pods (nothing to ${remove ? 'remove' : 'add'})` };
  }
  flatRoute(ca.plan, cb.plan, remove);
  s.flatRoutes = remove ? s.flatRoutes.filter((r) => r !== pair) : [...new Set([...s.flatRoutes, pair])];
  writeState(s);
  return {
    changed: true,
    message: remove
      ? `removed routes ${ca.plan.podCIDR} <-> ${cb.plan.podCIDR}`
      : `added routes: ${a} ${cb.plan.podCIDR} via ${cb.plan.nodeAddress}; ${b} ${ca.plan.podCIDR} via ${ca.plan.nodeAddress}`,
  };
}

/** Runs a command inside a cluster's network (its netns in isolated mode) with MESH_CLUSTER_DNS set. */
export function execIn(dir: string, cluster: string, argv: string[]): number {
  const s = readState(resolve(dir));
  const c = clusterOf(s, cluster);
  if (argv.length === 0) throw new SandboxError('BadFlag', 'exec needs a command after --');
  const env = { ...process.env, MESH_CLUSTER_DNS: c.dns ?? '', KUBECONFIG: join(s.dir, 'kubeconfig') };
  const [cmd, args] = c.plan.netns ? ['ip', ['netns', 'exec', c.plan.netns, ...argv]] : [argv[0]!, argv.slice(1)];
  const r = spawnSync(cmd, args, { stdio: 'inherit', env });
  if (r.error) throw new SandboxError('Command', `${argv[0]}: ${r.error.message}`);
  return r.status ?? 1;
}
