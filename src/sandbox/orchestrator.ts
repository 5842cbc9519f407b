// `mesh sandbox up|down|status|logs|route|exec`: plans the clusters, creates their networks, starts one
// `mesh sandbox cluster` process per cluster and supervises it, writes D/kubeconfig and D/state.json, and
// removes everything it created on the way out — or, via `down`, after a crashed `up`.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { DEFAULT_CLUSTER_DOMAIN } from '../api/index.js';
import { errorMessage, kubeConfigFromString } from '../kube/index.js';
import type { Logger } from '../log/index.js';
import { SandboxError } from './errors.js';
import { createClusterNetns, createUnderlay, deleteNetns, flatRoute, hasUnshare, isolatedUnsupported, listNetns, netnsPids, underlayName } from './netns.js';
import { claimNetnsOwner, releaseNetnsOwner, removeStaleNetns, STALE_NETNS_MIN_AGE_MS } from './netns-stale.js';
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
  /** Dual-stack clusters: each API server also allocates IPv6 ClusterIPs (default off: IPv4 only). */
  dualStack?: boolean;
  /** Told what `up` did that the user should know (leftovers it removed). */
  notice?: (message: string) => void;
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
  // Namespaces of a sandbox that was killed before it could clean up (root only).
  const minAge = Number(process.env['MESH_SANDBOX_STALE_NETNS_MIN_AGE_MS']);
  const stale = removeStaleNetns(Number.isFinite(minAge) && minAge >= 0 ? minAge : STALE_NETNS_MIN_AGE_MS);
  if (stale.length) {
    o.log.info('removed network namespaces left by a killed sandbox', { netns: stale });
    o.notice?.(`removed network namespaces left by a killed sandbox: ${stale.join(', ')}`);
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
    const plans = createNetworks(o, state);

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

    await recordReady(state, ready, children, forwarders);
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

/** Plans the clusters and creates their networks (isolated: the namespaces, recorded in the state first). */
function createNetworks(o: UpOptions, state: SandboxState): ClusterPlan[] {
  const sandboxId = state.sandboxId;
  if (o.network === 'loopback') {
    const octets = claimLoopbackOctets(o.clusters.length, sandboxId, process.pid);
    const dnsPort = isRoot() && hasUnshare() ? 53 : 0;
    const plans = o.clusters.map((name, i) => planCluster({ name, index: i + 1, domain: o.domains.get(name) ?? DEFAULT_CLUSTER_DOMAIN, mode: 'loopback', loopbackOctet: octets[i]!, loopbackDnsPort: dnsPort, dualStack: o.dualStack === true }));
    state.clusters = plans.map((plan) => ({ plan }));
    writeState(state);
    return plans;
  }
  const prefix = netnsPrefix(sandboxId);
  const plans = o.clusters.map((name, i) => planCluster({ name, index: i + 1, domain: o.domains.get(name) ?? DEFAULT_CLUSTER_DOMAIN, mode: 'isolated', netnsPrefix: prefix, dualStack: o.dualStack === true }));
  const underlay = underlayName(prefix);
  state.underlay = underlay;
  state.clusters = plans.map((plan) => ({ plan }));
  // Record names before creating anything, so a crash midway still leaves `down` a list, and claim them, so
  // another `up` does not take them for a killed run's while they have no process yet.
  state.netns = [underlay, ...plans.map((p) => p.netns!)];
  writeState(state);
  claimNetnsOwner(sandboxId);
  createUnderlay(underlay);
  for (const p of plans) createClusterNetns(p, underlay);
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
  return plans;
}

/** Records what each ready cluster reported; an isolated cluster's API socket gets a host forwarder. */
async function recordReady(state: SandboxState, ready: ReadyLine[], children: Map<string, ChildProcess>, forwarders: net.Server[]): Promise<void> {
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
  releaseNetnsOwner(s.sandboxId);
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
