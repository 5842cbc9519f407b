// The sandbox kubelet: runs this node's Pods as real processes. Level-triggered: the pod informer only
// enqueues keys; reconcile(key) compares the Pod object with the processes it has and fixes the difference
// (start, restart with backoff, stop on delete), then writes the Pod status that follows from them.
// Pods get a finalizer so that a delete waits for the process to be stopped (grace period, then SIGKILL).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import type { Controller, Informer, KubeClient } from '../kube/index.js';
import { isNotFound, isConflict, errorMessage } from '../kube/index.js';
import type { Logger } from '../log/index.js';
import type { Recorder } from './events.js';
import { IpAllocator, podIPv6, type ClusterPlan } from './plan.js';

/** A dual-stack isolated cluster's pods also have an IPv6 address (status.podIPs[1]). */
function ipv6Of(plan: ClusterPlan, ip: string): { podIPv6?: string } {
  const v6 = podIPv6(plan, ip);
  return v6 ? { podIPv6: v6 } : {};
}
import { buildEnv, podStatus, resolveContainer, EnvError, expandVars, rewriteMountPaths } from './podspec.js';
import { debugImage, hostTools, resolveDebugContainer } from './debug-images.js';
import { osSignals, podObj, SA_DIR, stopContainer, writeAtomic, type ContainerRt, type PodRt } from './kubelet-runtime.js';
import { clearProbes, startProbes } from './kubelet-probes.js';
import { ContainerStdio, hostPython, ptyArgv, spawnWithStdio, wantsStdio } from './kubelet-attach.js';
import { PodVolumes } from './kubelet-volumes.js';
import type { ContainerState, ContainerStatus, Pod } from './types.js';
import { splitKey } from './types.js';

export const KUBELET_FINALIZER = 'sandbox.mesh.io/kubelet';
/** Restart backoff: shorter than Kubernetes' 10 s .. 5 min so tests and demos recover quickly. */
export const BACKOFF_INITIAL_MS = 1_000;
export const BACKOFF_MAX_MS = 20_000;
/** A container that ran this long has its backoff reset. */
const BACKOFF_RESET_MS = 30_000;
const MAX_GRACE_S = 30;

export interface KubeletOptions {
  client: KubeClient;
  pods: Informer;
  controller: Controller;
  plan: ClusterPlan;
  nodeName: string;
  /** D/<cluster>: logs go to D/<cluster>/<ns>/<pod>.log, pod roots under D/<cluster>/pods. */
  clusterDir: string;
  /** bin/mesh.js of this checkout. */
  meshBin: string;
  repoRoot: string;
  apiHost: string;
  apiPort: number;
  caPem: string;
  /** ip:port of the cluster DNS, handed to pods as MESH_CLUSTER_DNS. */
  dns: string;
  /** Marks every process the sandbox starts so `down` finds leftovers after a crash. */
  sandboxId: string;
  recorder: Recorder;
  log: Logger;
  /** Loopback mode as root: each pod gets its own mount namespace with a resolv.conf naming the cluster DNS (port 53). */
  podDns?: { nameserver: string; domain: string };
}

export class Kubelet {
  private readonly pods = new Map<string, PodRt>();
  private readonly ips: IpAllocator;
  private stopped = false;

  private readonly volumes: PodVolumes;

  constructor(private readonly o: KubeletOptions) {
    this.ips = new IpAllocator(o.plan.podFirst, o.plan.podLast);
    this.volumes = new PodVolumes({ client: o.client, caPem: o.caPem, log: o.log, isCurrent: (rt) => this.pods.get(rt.key) === rt });
  }

  /** The runtime of a pod this kubelet runs, for pods/log, exec and portforward. */
  runtime(key: string): PodRt | undefined {
    return this.pods.get(key);
  }

  /** Pods currently running as processes (for status). */
  runningPods(): Array<{ key: string; ip: string; pids: number[] }> {
    return [...this.pods.values()].map((p) => ({ key: p.key, ip: p.ip, pids: [...p.containers.values()].flatMap((c) => (c.proc?.pid ? [c.proc.pid] : [])) }));
  }

  async reconcile(key: string): Promise<{ requeueAfter?: number } | void> {
    if (this.stopped) return;
    const pod = this.o.pods.get(key) as Pod | undefined;
    let rt = this.pods.get(key);
    if (rt && (!pod || pod.metadata.uid !== rt.uid)) {
      await this.stopPod(rt, 'deleted');
      rt = undefined;
    }
    if (!pod) return;
    const { namespace, name } = splitKey(key);
    if (!pod.spec.nodeName) {
      // No scheduler: this node is the only node, so bind here.
      await this.o.client.patch(`/api/v1/namespaces/${namespace}/pods/${name}`, { spec: { nodeName: this.o.nodeName } });
      return;
    }
    if (pod.spec.nodeName !== this.o.nodeName) return;
    if (pod.metadata.deletionTimestamp) {
      if (rt) await this.stopPod(rt, 'deleted', pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds);
      if ((pod.metadata.finalizers ?? []).includes(KUBELET_FINALIZER)) {
        await this.o.client
          .patch(`/api/v1/namespaces/${namespace}/pods/${name}`, { metadata: { finalizers: (pod.metadata.finalizers ?? []).filter((f) => f !== KUBELET_FINALIZER), resourceVersion: pod.metadata.resourceVersion } })
          .catch((err: unknown) => { if (!isNotFound(err)) throw err; });
      }
      return;
    }
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') {
      if (!rt) return;
    }
    if (!(pod.metadata.finalizers ?? []).includes(KUBELET_FINALIZER)) {
      await this.o.client.patch(`/api/v1/namespaces/${namespace}/pods/${name}`, { metadata: { finalizers: [...(pod.metadata.finalizers ?? []), KUBELET_FINALIZER], resourceVersion: pod.metadata.resourceVersion } });
      return;
    }
    if (!rt) {
      const ip = this.ips.allocate(pod.metadata.uid ?? key);
      const root = join(this.o.clusterDir, 'pods', `${namespace}_${name}_${(pod.metadata.uid ?? '').slice(0, 8)}`);
      mkdirSync(join(root, 'fs'), { recursive: true });
      mkdirSync(join(this.o.clusterDir, namespace), { recursive: true });
      rt = { key, uid: pod.metadata.uid ?? '', ip, root, startTime: new Date().toISOString(), containers: new Map(), tokenReady: false, pod };
      for (const c of pod.spec.containers) {
        rt.containers.set(c.name, { spec: c, startedMs: 0, restartCount: 0, backoffMs: 0, nextStartMs: 0, ready: false, probeTimers: [], generation: 0, waiting: { reason: 'ContainerCreating' } });
      }
      this.pods.set(key, rt);
      this.o.log.info('pod admitted', { pod: key, ip });
    }
    rt.pod = pod;
    let requeueAfter: number | undefined;
    const soon = (ms: number) => { requeueAfter = requeueAfter === undefined ? ms : Math.min(requeueAfter, ms); };

    if (!rt.tokenReady && pod.spec.automountServiceAccountToken !== false) {
      const ok = await this.volumes.refreshToken(rt);
      if (!ok) soon(2_000);
    }
    try {
      await this.volumes.materialize(rt);
    } catch (err) {
      for (const c of rt.containers.values()) if (!c.proc) c.waiting = { reason: 'CreateContainerConfigError', message: errorMessage(err) };
      this.o.recorder.event(podObj(pod), 'Warning', 'FailedMount', errorMessage(err));
      soon(3_000);
    }

    const policy = pod.spec.restartPolicy ?? 'Always';
    for (const c of rt.containers.values()) {
      if (c.proc) continue;
      if (c.terminated && (policy === 'Never' || (policy === 'OnFailure' && c.terminated.exitCode === 0))) continue;
      const now = Date.now();
      if (now < c.nextStartMs) { soon(c.nextStartMs - now); continue; }
      if (c.waiting?.reason === 'CreateContainerConfigError' && requeueAfter !== undefined) continue;
      this.startContainer(rt, c, pod);
      if (c.waiting?.reason === 'ErrImagePull') soon(10_000);
    }
    await this.writeStatus(rt, pod);
    // Periodic resync refreshes mounted Secrets/ConfigMaps, as a kubelet does.
    return { requeueAfter: requeueAfter ?? 30_000 };
  }

  private startContainer(rt: PodRt, c: ContainerRt, pod: Pod): void {
    const img = debugImage(c.spec.image);
    const resolved = img ? resolveDebugContainer(c.spec, img, hostTools()) : { ...resolveContainer(c.spec, this.o.meshBin), host: false, busybox: false };
    if (!resolved.ok) {
      const already = c.waiting?.reason === 'ErrImagePull' || c.waiting?.reason === 'ImagePullBackOff';
      c.waiting = { reason: already ? 'ImagePullBackOff' : resolved.reason, message: resolved.message };
      if (!already || resolved.reason !== 'ErrImagePull') this.o.recorder.event(podObj(pod), 'Warning', 'Failed', resolved.message);
      c.nextStartMs = Date.now() + 10_000;
      return;
    }
    if (c.spec.tty && !hostPython()) {
      c.waiting = { reason: 'RunContainerError', message: 'tty: true needs python3 on the host for the pseudo-terminal (apt-get install python3)' };
      this.o.recorder.event(podObj(pod), 'Warning', 'Failed', `Error: ${c.waiting.message}`);
      c.nextStartMs = Date.now() + 10_000;
      return;
    }
    const launch = this.launchSpec(rt, c, pod, resolved.argv);
    if (!launch) return;
    if (resolved.busybox) launch.env.PATH = `${this.appletDir()}:${launch.env.PATH ?? ''}`;
    // As Docker does for a container with a terminal.
    if (c.spec.tty) launch.env.TERM ??= 'xterm';
    const logPath = this.instanceLog(rt, c, pod);
    const child = this.spawnProcess(rt, pod, c, launch.argv, launch.env, logPath, resolved.host);
    c.stdio = wantsStdio(c.spec) ? new ContainerStdio(child, logPath, c.spec, this.o.log) : undefined;
    if (c.logPath !== logPath) c.prevLogPath = c.logPath;
    c.logPath = logPath;
    c.env = launch.env;
    const gen = ++c.generation;
    c.proc = child;
    c.startedMs = Date.now();
    c.startedAt = new Date().toISOString();
    c.waiting = undefined;
    c.terminated = undefined;
    c.ready = !c.spec.readinessProbe;
    this.o.log.info('container started', { pod: rt.key, container: c.spec.name, pid: child.pid, ip: rt.ip, restartCount: c.restartCount });
    child.on('error', (err) => this.o.log.warn('container spawn error', { pod: rt.key, container: c.spec.name, err: err.message }));
    child.on('exit', (code, signal) => this.onExit(rt, c, pod, gen, code, signal));
    startProbes({ recorder: this.o.recorder, log: this.o.log, enqueue: (k) => this.o.controller.enqueue(k) }, rt, c, gen);
  }

  /** The base environment every container of the pod gets (before the spec's env). */
  podBaseEnv(rt: PodRt, pod: Pod): Record<string, string> {
    return {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      HOSTNAME: pod.spec.hostname ?? pod.metadata.name,
      // Pods share the host's ports in loopback mode: servers that bind POD_IP (ours do) get the pod's own
      // address even when the spec does not ask for it (kubectl create deployment).
      POD_IP: rt.ip,
      KUBERNETES_SERVICE_HOST: this.o.apiHost,
      KUBERNETES_SERVICE_PORT: String(this.o.apiPort),
      KUBERNETES_SERVICE_PORT_HTTPS: String(this.o.apiPort),
      MESH_SERVICEACCOUNT_ROOT: join(rt.root, 'fs'),
      MESH_VOLUME_ROOT: join(rt.root, 'fs'),
      MESH_CLUSTER_DNS: this.o.dns,
      MESH_SANDBOX_ID: this.o.sandboxId,
      MESH_SANDBOX_CLUSTER: this.o.plan.name,
      ...(process.env.MESH_LOG_LEVEL ? { MESH_LOG_LEVEL: process.env.MESH_LOG_LEVEL } : {}),
    };
  }

  /** The container's argv and env with `$(VAR)`s expanded and mount paths rewritten; undefined (waiting set) when env fails. */
  private launchSpec(rt: PodRt, c: ContainerRt, pod: Pod, argv0: string[]): { argv: string[]; env: Record<string, string> } | undefined {
    const base = this.podBaseEnv(rt, pod);
    let env: Record<string, string>;
    try {
      const v6 = podIPv6(this.o.plan, rt.ip);
      env = buildEnv(c.spec, { pod, podIP: rt.ip, podIPs: v6 ? [rt.ip, v6] : [rt.ip], hostIP: this.o.plan.nodeAddress, base, lookup: (kind, name, key) => this.volumes.lookupCached(rt, kind, name, key) });
    } catch (err) {
      c.waiting = { reason: err instanceof EnvError ? err.code : 'RunContainerError', message: errorMessage(err) };
      this.o.recorder.event(podObj(pod), 'Warning', 'Failed', `Error: ${errorMessage(err)}`);
      c.nextStartMs = Date.now() + 3_000;
      return undefined;
    }
    const root = join(rt.root, 'fs');
    const mounts = [...(c.spec.volumeMounts ?? []).map((m) => m.mountPath), ...(pod.spec.automountServiceAccountToken !== false ? [SA_DIR] : [])];
    for (const [k, v] of Object.entries(env)) if (!(k in base)) env[k] = rewriteMountPaths(v, mounts, root);
    return { argv: argv0.map((a) => rewriteMountPaths(expandVars(a, env), mounts, root)), env };
  }

  /**
   * One log file per container instance, as the kubelet keeps them: `<ns>/logs/<pod>_<uid8>/<container>/<restart>.log`.
   * `<ns>/<pod>.log` links to the first container's current one (`mesh sandbox logs`).
   */
  private instanceLog(rt: PodRt, c: ContainerRt, pod: Pod): string {
    const ns = pod.metadata.namespace ?? 'default';
    const dir = join(this.o.clusterDir, ns, 'logs', `${pod.metadata.name}_${rt.uid.slice(0, 8)}`, c.spec.name);
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `${c.restartCount}.log`);
    if (pod.spec.containers[0]?.name === c.spec.name) {
      const link = join(this.o.clusterDir, ns, `${pod.metadata.name}.log`);
      const tmp = `${link}.tmp-${process.pid}`;
      rmSync(tmp, { force: true });
      symlinkSync(relative(dirname(link), path), tmp);
      renameSync(tmp, link);
    }
    return path;
  }

  /** A directory of busybox applet links: PATH of busybox-image containers, so `sh -c 'nslookup …'` finds applets. */
  private appletDir(): string {
    const dir = join(this.o.clusterDir, 'images', 'busybox', 'bin');
    const bb = hostTools().paths.busybox;
    if (!bb || existsSync(join(dir, 'sh'))) return dir;
    mkdirSync(dir, { recursive: true });
    for (const a of hostTools().applets) if (!a.includes('/')) { try { symlinkSync(bb, join(dir, a)); } catch { /* exists */ } }
    return dir;
  }

  /**
   * Starts `node <argv>` (or a debug image's host command) in its own process group, output appended to
   * `logPath` (and, as root, with the pod's resolv.conf). A container with `stdin`/`tty` gets pipes the
   * kubelet keeps for attach (kubelet-attach.ts) and, with a tty, runs on a pseudo-terminal.
   */
  private spawnProcess(rt: PodRt, pod: Pod, c: ContainerRt, argv: string[], env: Record<string, string>, logPath: string, host: boolean): ChildProcess {
    const fd = wantsStdio(c.spec) ? undefined : openSync(logPath, 'a');
    try {
      // unshare and sh both exec, so the pid is the container's node process either way.
      let resolvConf: string | undefined;
      if (this.o.podDns) {
        const { nameserver, domain } = this.o.podDns;
        const ns = pod.metadata.namespace ?? 'default';
        resolvConf = join(rt.root, 'resolv.conf');
        writeAtomic(resolvConf, `nameserver ${nameserver}\nsearch ${ns}.svc.${domain} svc.${domain} ${domain}\noptions ndots:5\n`);
      }
      // Debug images run a host command (argv[0]); everything else is node running the mesh binary.
      const plain = host ? argv : [process.execPath, ...argv];
      const py = hostPython();
      const full = c.spec.tty && py ? ptyArgv(py, plain) : plain;
      const [cmd, args] = resolvConf
        ? ['unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount --bind "$0" /etc/resolv.conf && exec "$@"', resolvConf, ...full]]
        : [full[0] as string, full.slice(1)];
      if (fd === undefined) return spawnWithStdio(cmd, args, { cwd: this.o.repoRoot, env, tty: c.spec.tty === true });
      return spawn(cmd, args, { cwd: this.o.repoRoot, env, stdio: ['ignore', fd, fd], detached: true });
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  /** A container process ended: record it, and schedule a restart with backoff when the policy says so. */
  private onExit(rt: PodRt, c: ContainerRt, pod: Pod, gen: number, code: number | null, signal: NodeJS.Signals | null): void {
    if (c.generation !== gen) return;
    clearProbes(c);
    c.proc = undefined;
    c.ready = false;
    const ran = Date.now() - c.startedMs;
    const exitCode = code ?? 128 + (signal ? (osSignals[signal] ?? 9) : 9);
    c.terminated = { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt: c.startedAt, finishedAt: new Date().toISOString(), ...(signal ? { signal: osSignals[signal] ?? 9 } : {}) };
    if (this.stopped || this.pods.get(rt.key) !== rt || rt.stopping) return;
    c.lastTerminated = c.terminated;
    const policy = pod.spec.restartPolicy ?? 'Always';
    const restart = policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0);
    if (restart) {
      c.backoffMs = ran > BACKOFF_RESET_MS ? BACKOFF_INITIAL_MS : Math.min(BACKOFF_MAX_MS, c.backoffMs ? c.backoffMs * 2 : BACKOFF_INITIAL_MS);
      c.nextStartMs = Date.now() + c.backoffMs;
      c.restartCount++;
      c.waiting = { reason: 'CrashLoopBackOff', message: `back-off ${Math.round(c.backoffMs / 1000)}s restarting failed container=${c.spec.name} pod=${pod.metadata.name}` };
      this.o.recorder.event(podObj(pod), 'Warning', 'BackOff', 'Back-off restarting failed container');
      c.terminated = undefined;
    }
    this.o.log.info('container exited', { pod: rt.key, container: c.spec.name, exitCode, signal, restart, backoffMs: restart ? c.backoffMs : undefined });
    this.o.controller.enqueue(rt.key);
  }

  // --- status ------------------------------------------------------------------------------------------
  private containerStatuses(rt: PodRt): ContainerStatus[] {
    return [...rt.containers.values()].map((c) => {
      let state: ContainerState;
      if (c.proc) state = { running: { startedAt: c.startedAt } };
      else if (c.terminated) state = { terminated: c.terminated };
      else state = { waiting: c.waiting ?? { reason: 'ContainerCreating' } };
      return {
        name: c.spec.name,
        image: c.spec.image ?? '',
        imageID: c.waiting?.reason === 'ErrImagePull' || c.waiting?.reason === 'ImagePullBackOff' ? '' : `sandbox://${c.spec.image ?? ''}`,
        ready: !!c.proc && c.ready,
        started: !!c.proc,
        restartCount: c.restartCount,
        state,
        ...(c.lastTerminated ? { lastState: { terminated: c.lastTerminated } } : {}),
        ...(c.proc?.pid ? { containerID: `sandbox://${c.proc.pid}` } : {}),
      };
    });
  }

  private async writeStatus(rt: PodRt, pod: Pod): Promise<void> {
    const status = podStatus(pod, this.containerStatuses(rt), { podIP: rt.ip, ...ipv6Of(this.o.plan, rt.ip), hostIP: this.o.plan.nodeAddress, startTime: rt.startTime, now: new Date().toISOString() });
    const sig = JSON.stringify(status);
    if (sig === rt.lastWritten) return;
    const { namespace, name } = splitKey(rt.key);
    try {
      // A merge patch of the whole status: the kubelet owns it, so no resourceVersion precondition (no 409 churn).
      await this.o.client.patch(`/api/v1/namespaces/${namespace}/pods/${name}/status`, { status });
      rt.lastWritten = sig;
    } catch (err) {
      rt.lastWritten = undefined;
      if (isNotFound(err)) return;
      if (isConflict(err)) throw err; // requeued; the informer will bring the newer object
      throw err;
    }
  }

  // --- stopping ----------------------------------------------------------------------------------------
  private stopPod(rt: PodRt, why: string, graceSeconds?: number): Promise<void> {
    if (rt.stopping) return rt.stopping;
    const grace = Math.min(MAX_GRACE_S, Math.max(0, graceSeconds ?? 30)) * 1000;
    rt.stopping = (async () => {
      this.o.log.info('stopping pod', { pod: rt.key, why, graceMs: grace });
      if (rt.tokenTimer) clearTimeout(rt.tokenTimer);
      await Promise.all([...rt.containers.values()].map((c) => stopContainer(c, grace)));
      this.ips.release(rt.uid || rt.key);
      this.volumes.forget(rt.uid);
      if (this.pods.get(rt.key) === rt) this.pods.delete(rt.key);
      rmSync(rt.root, { recursive: true, force: true });
    })();
    return rt.stopping;
  }

  /** Stops every pod process (cluster shutdown). */
  async stop(graceMs = 5_000): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.pods.values()].map((rt) => this.stopPod(rt, 'kubelet stopping', graceMs / 1000)));
  }
}
