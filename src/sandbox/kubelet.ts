// The sandbox kubelet: runs this node's Pods as real processes. Level-triggered: the pod informer only
// enqueues keys; reconcile(key) compares the Pod object with the processes it has and fixes the difference
// (start, restart with backoff, stop on delete), then writes the Pod status that follows from them.
// Pods get a finalizer so that a delete waits for the process to be stopped (grace period, then SIGKILL).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync, writeFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import http from 'node:http';
import net from 'node:net';
import type { Controller, Informer, KubeClient } from '../kube/index.js';
import { isNotFound, isConflict, errorMessage } from '../kube/index.js';
import type { Logger } from '../log/index.js';
import type { Recorder } from './events.js';
import { IpAllocator, type ClusterPlan } from './plan.js';
import { buildEnv, podStatus, resolveContainer, EnvError, expandVars, rewriteMountPaths } from './podspec.js';
import type { Container, ContainerState, ContainerStatus, Pod, Probe } from './types.js';
import { splitKey } from './types.js';

export const KUBELET_FINALIZER = 'sandbox.mesh.io/kubelet';
const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** Restart backoff: shorter than Kubernetes' 10 s .. 5 min so tests and demos recover quickly. */
export const BACKOFF_INITIAL_MS = 1_000;
export const BACKOFF_MAX_MS = 20_000;
/** A container that ran this long has its backoff reset. */
const BACKOFF_RESET_MS = 30_000;
const TOKEN_SECONDS = 3600;
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

interface ContainerRt {
  spec: Container;
  proc?: ChildProcess;
  startedAt?: string;
  startedMs: number;
  restartCount: number;
  waiting?: { reason: string; message?: string };
  lastTerminated?: ContainerState['terminated'];
  terminated?: ContainerState['terminated'];
  backoffMs: number;
  nextStartMs: number;
  ready: boolean;
  probeTimers: NodeJS.Timeout[];
  /** Bumped on every start so late probe results of an old process are ignored. */
  generation: number;
}

interface PodRt {
  key: string;
  uid: string;
  ip: string;
  root: string;
  startTime: string;
  containers: Map<string, ContainerRt>;
  lastWritten?: string;
  tokenTimer?: NodeJS.Timeout;
  tokenReady: boolean;
  stopping?: Promise<void>;
  pod: Pod;
}

export class Kubelet {
  private readonly pods = new Map<string, PodRt>();
  private readonly ips: IpAllocator;
  private stopped = false;

  constructor(private readonly o: KubeletOptions) {
    this.ips = new IpAllocator(o.plan.podFirst, o.plan.podLast);
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
      const ok = await this.refreshToken(rt);
      if (!ok) soon(2_000);
    }
    try {
      await this.materializeVolumes(rt);
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
    const resolved = resolveContainer(c.spec, this.o.meshBin);
    if (!resolved.ok) {
      const already = c.waiting?.reason === 'ErrImagePull' || c.waiting?.reason === 'ImagePullBackOff';
      c.waiting = { reason: already ? 'ImagePullBackOff' : resolved.reason, message: resolved.message };
      if (!already || resolved.reason !== 'ErrImagePull') this.o.recorder.event(podObj(pod), 'Warning', 'Failed', resolved.message);
      c.nextStartMs = Date.now() + 10_000;
      return;
    }
    const base: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      HOSTNAME: pod.spec.hostname ?? pod.metadata.name,
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
    let env: Record<string, string>;
    try {
      env = buildEnv(c.spec, { pod, podIP: rt.ip, hostIP: this.o.plan.nodeAddress, base, lookup: (kind, name, key) => this.lookupCached(rt, kind, name, key) });
    } catch (err) {
      c.waiting = { reason: err instanceof EnvError ? err.code : 'RunContainerError', message: errorMessage(err) };
      this.o.recorder.event(podObj(pod), 'Warning', 'Failed', `Error: ${errorMessage(err)}`);
      c.nextStartMs = Date.now() + 3_000;
      return;
    }
    const root = join(rt.root, 'fs');
    const mounts = [...(c.spec.volumeMounts ?? []).map((m) => m.mountPath), ...(pod.spec.automountServiceAccountToken !== false ? [SA_DIR] : [])];
    for (const [k, v] of Object.entries(env)) if (!(k in base)) env[k] = rewriteMountPaths(v, mounts, root);
    const argv = resolved.argv.map((a) => rewriteMountPaths(expandVars(a, env), mounts, root));
    const logPath = join(this.o.clusterDir, pod.metadata.namespace ?? 'default', `${pod.metadata.name}.log`);
    const fd = openSync(logPath, 'a');
    let child: ChildProcess;
    try {
      // unshare and sh both exec, so the pid is the container's node process either way.
      let resolvConf: string | undefined;
      if (this.o.podDns) {
        const { nameserver, domain } = this.o.podDns;
        const ns = pod.metadata.namespace ?? 'default';
        resolvConf = join(rt.root, 'resolv.conf');
        writeAtomic(resolvConf, `nameserver ${nameserver}\nsearch ${ns}.svc.${domain} svc.${domain} ${domain}\noptions ndots:5\n`);
      }
      const [cmd, args] = resolvConf
        ? ['unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount --bind "$0" /etc/resolv.conf && exec "$@"', resolvConf, process.execPath, ...argv]]
        : [process.execPath, argv];
      child = spawn(cmd, args, { cwd: this.o.repoRoot, env, stdio: ['ignore', fd, fd], detached: true });
    } finally {
      closeSync(fd);
    }
    const gen = ++c.generation;
    c.proc = child;
    c.startedMs = Date.now();
    c.startedAt = new Date().toISOString();
    c.waiting = undefined;
    c.terminated = undefined;
    c.ready = !c.spec.readinessProbe;
    this.o.log.info('container started', { pod: rt.key, container: c.spec.name, pid: child.pid, ip: rt.ip, restartCount: c.restartCount });
    child.on('error', (err) => this.o.log.warn('container spawn error', { pod: rt.key, container: c.spec.name, err: err.message }));
    child.on('exit', (code, signal) => {
      if (c.generation !== gen) return;
      this.clearProbes(c);
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
    });
    this.startProbes(rt, c, gen);
  }

  // --- probes ------------------------------------------------------------------------------------------
  private startProbes(rt: PodRt, c: ContainerRt, gen: number): void {
    const run = (probe: Probe, kind: 'readiness' | 'liveness') => {
      const period = Math.max(1, probe.periodSeconds ?? 10) * 1000;
      const failureThreshold = Math.max(1, probe.failureThreshold ?? 3);
      const successThreshold = Math.max(1, probe.successThreshold ?? 1);
      let fails = 0;
      let oks = 0;
      const tick = async () => {
        if (c.generation !== gen || !c.proc) return;
        const ok = await this.probeOnce(probe, rt, c.spec);
        if (c.generation !== gen || !c.proc) return;
        if (ok) { oks++; fails = 0; } else { fails++; oks = 0; }
        if (kind === 'readiness') {
          const was = c.ready;
          if (!c.ready && oks >= successThreshold) c.ready = true;
          if (c.ready && fails >= failureThreshold) c.ready = false;
          if (was !== c.ready) this.o.controller.enqueue(rt.key);
        } else if (fails >= failureThreshold) {
          this.o.recorder.event(podObj(rt.pod), 'Warning', 'Unhealthy', `Liveness probe failed ${fails} times; restarting container ${c.spec.name}`);
          this.o.log.info('liveness probe failed, killing container', { pod: rt.key, container: c.spec.name });
          fails = 0;
          killGroup(c.proc, 'SIGKILL');
          return;
        }
        if (!ok && kind === 'readiness' && oks === 0 && fails === 1) {
          this.o.recorder.event(podObj(rt.pod), 'Warning', 'Unhealthy', `Readiness probe failed for container ${c.spec.name}`);
        }
        c.probeTimers.push(setTimeout(() => void tick(), period));
        if (c.probeTimers.length > 8) c.probeTimers.splice(0, c.probeTimers.length - 2);
      };
      c.probeTimers.push(setTimeout(() => void tick(), Math.max(0, probe.initialDelaySeconds ?? 0) * 1000 || 200));
    };
    if (c.spec.readinessProbe) run(c.spec.readinessProbe, 'readiness');
    if (c.spec.livenessProbe) run(c.spec.livenessProbe, 'liveness');
  }

  private clearProbes(c: ContainerRt): void {
    for (const t of c.probeTimers) clearTimeout(t);
    c.probeTimers = [];
  }

  private probeOnce(p: Probe, rt: PodRt, c: Container): Promise<boolean> {
    const timeout = Math.max(1, p.timeoutSeconds ?? 1) * 1000;
    const portOf = (port: number | string): number | undefined => {
      if (typeof port === 'number') return port;
      if (/^\d+$/.test(port)) return Number(port);
      return c.ports?.find((x) => x.name === port)?.containerPort;
    };
    if (p.httpGet) {
      const port = portOf(p.httpGet.port);
      if (port === undefined) return Promise.resolve(false);
      return new Promise((res) => {
        const req = http.get({ host: p.httpGet!.host ?? rt.ip, port, path: p.httpGet!.path ?? '/', timeout, headers: { 'User-Agent': 'kube-probe/1.32' } }, (r) => {
          r.resume();
          res((r.statusCode ?? 0) >= 200 && (r.statusCode ?? 0) < 400);
        });
        req.on('timeout', () => req.destroy());
        req.on('error', () => res(false));
      });
    }
    if (p.tcpSocket) {
      const port = portOf(p.tcpSocket.port);
      if (port === undefined) return Promise.resolve(false);
      return new Promise((res) => {
        const s = net.connect({ host: p.tcpSocket!.host ?? rt.ip, port, timeout });
        s.on('connect', () => { s.destroy(); res(true); });
        s.on('timeout', () => { s.destroy(); res(false); });
        s.on('error', () => res(false));
      });
    }
    // exec probes need a container runtime; the sandbox has none, so they count as passing.
    return Promise.resolve(true);
  }

  // --- service account token and volumes ---------------------------------------------------------------
  private async refreshToken(rt: PodRt): Promise<boolean> {
    const pod = rt.pod;
    const ns = pod.metadata.namespace ?? 'default';
    const sa = pod.spec.serviceAccountName ?? 'default';
    const dir = join(rt.root, 'fs', SA_DIR);
    mkdirSync(dir, { recursive: true });
    writeAtomic(join(dir, 'ca.crt'), this.o.caPem);
    writeAtomic(join(dir, 'namespace'), ns);
    try {
      const tr = await this.o.client.create<{ status?: { token?: string; expirationTimestamp?: string } }>(
        `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`,
        { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: TOKEN_SECONDS, boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod.metadata.name, uid: pod.metadata.uid } } },
      );
      const token = tr.status?.token;
      if (!token) throw new Error('TokenRequest returned no token');
      writeAtomic(join(dir, 'token'), token);
      rt.tokenReady = true;
      const exp = tr.status?.expirationTimestamp ? Date.parse(tr.status.expirationTimestamp) : Date.now() + TOKEN_SECONDS * 1000;
      // Renew at 80% of the lifetime, as the kubelet does.
      const inMs = Math.max(5_000, (exp - Date.now()) * 0.8);
      if (rt.tokenTimer) clearTimeout(rt.tokenTimer);
      rt.tokenTimer = setTimeout(() => { if (this.pods.get(rt.key) === rt) void this.refreshToken(rt); }, inMs);
      rt.tokenTimer.unref();
      return true;
    } catch (err) {
      this.o.log.warn('service account token request failed; will retry', { pod: rt.key, serviceAccount: sa, err: errorMessage(err) });
      // Start the containers anyway: a process that needs the token crash-loops until it appears.
      return false;
    }
  }

  private readonly objCache = new Map<string, Record<string, string> | null>();
  /** Projected serviceAccountToken volume sources, per pod key + volume/path: renewed at 80% of their life. */
  private readonly projected = new Map<string, { token: string; renewAt: number }>();

  private async projectedToken(rt: PodRt, id: string, audience: string | undefined, seconds: number | undefined): Promise<string> {
    const k = `${rt.uid}/${id}`;
    const have = this.projected.get(k);
    if (have && Date.now() < have.renewAt) return have.token;
    const ns = rt.pod.metadata.namespace ?? 'default';
    const sa = rt.pod.spec.serviceAccountName ?? 'default';
    const life = Math.max(600, seconds ?? TOKEN_SECONDS);
    const tr = await this.o.client.create<{ status?: { token?: string; expirationTimestamp?: string } }>(
      `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`,
      { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { ...(audience ? { audiences: [audience] } : {}), expirationSeconds: life, boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: rt.pod.metadata.name, uid: rt.pod.metadata.uid } } },
    );
    const token = tr.status?.token;
    if (!token) throw new Error(`TokenRequest for ${ns}/${sa} (audience ${audience ?? 'default'}) returned no token`);
    const exp = tr.status?.expirationTimestamp ? Date.parse(tr.status.expirationTimestamp) : Date.now() + life * 1000;
    this.projected.set(k, { token, renewAt: Date.now() + (exp - Date.now()) * 0.8 });
    return token;
  }

  private lookupCached(rt: PodRt, kind: 'secret' | 'configmap', name: string, key: string): string | undefined {
    return this.objCache.get(`${rt.pod.metadata.namespace}/${kind}/${name}`)?.[key];
  }

  private async fetchData(ns: string, kind: 'secret' | 'configmap', name: string): Promise<Record<string, string> | null> {
    try {
      const o = await this.o.client.get<{ data?: Record<string, string>; binaryData?: Record<string, string> }>(`/api/v1/namespaces/${ns}/${kind === 'secret' ? 'secrets' : 'configmaps'}/${name}`);
      const out: Record<string, string> = {};
      if (kind === 'secret') for (const [k, v] of Object.entries(o.data ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8');
      else {
        Object.assign(out, o.data ?? {});
        for (const [k, v] of Object.entries(o.binaryData ?? {})) out[k] = Buffer.from(v, 'base64').toString('latin1');
      }
      this.objCache.set(`${ns}/${kind}/${name}`, out);
      return out;
    } catch (err) {
      if (isNotFound(err)) { this.objCache.set(`${ns}/${kind}/${name}`, null); return null; }
      throw err;
    }
  }

  /** Secrets/ConfigMaps referenced by env or volumes, written under `<pod root>/fs<mountPath>`. */
  private async materializeVolumes(rt: PodRt): Promise<void> {
    const pod = rt.pod;
    const ns = pod.metadata.namespace ?? 'default';
    for (const c of pod.spec.containers) {
      for (const e of c.env ?? []) {
        const r = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
        if (r) await this.fetchData(ns, e.valueFrom?.secretKeyRef ? 'secret' : 'configmap', r.name);
      }
    }
    const vols = new Map((pod.spec.volumes ?? []).map((v) => [v.name, v]));
    for (const c of pod.spec.containers) {
      for (const m of c.volumeMounts ?? []) {
        const v = vols.get(m.name);
        if (!v) throw new Error(`volume "${m.name}" mounted by container ${c.name} is not in spec.volumes`);
        const files = new Map<string, string>();
        const take = async (kind: 'secret' | 'configmap', name: string, items: Array<{ key: string; path: string }> | undefined, optional: boolean | undefined) => {
          const data = await this.fetchData(ns, kind, name);
          if (!data) {
            if (optional) return;
            throw new Error(`${kind} "${name}" not found (volume ${v.name})`);
          }
          if (items) for (const it of items) { if (data[it.key] !== undefined) files.set(it.path, data[it.key]!); }
          else for (const [k, val] of Object.entries(data)) files.set(k, val);
        };
        if (v.secret) await take('secret', v.secret.secretName, v.secret.items, v.secret.optional);
        else if (v.configMap) await take('configmap', v.configMap.name, v.configMap.items, v.configMap.optional);
        else if (v.projected) {
          for (const s of v.projected.sources ?? []) {
            if (s.secret) await take('secret', s.secret.name, s.secret.items, s.secret.optional);
            if (s.configMap) await take('configmap', s.configMap.name, s.configMap.items, s.configMap.optional);
            if (s.serviceAccountToken) files.set(s.serviceAccountToken.path, await this.projectedToken(rt, `${v.name}/${s.serviceAccountToken.path}`, s.serviceAccountToken.audience, s.serviceAccountToken.expirationSeconds));
          }
        }
        const target = join(rt.root, 'fs', m.mountPath);
        if (m.subPath) {
          const content = files.get(m.subPath);
          if (content !== undefined) { mkdirSync(dirname(target), { recursive: true }); writeAtomic(target, content); }
          continue;
        }
        mkdirSync(target, { recursive: true });
        for (const [p, content] of files) {
          const f = join(target, p);
          mkdirSync(dirname(f), { recursive: true });
          writeAtomic(f, content);
        }
      }
    }
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
    const status = podStatus(pod, this.containerStatuses(rt), { podIP: rt.ip, hostIP: this.o.plan.nodeAddress, startTime: rt.startTime, now: new Date().toISOString() });
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
      for (const k of [...this.projected.keys()]) if (k.startsWith(`${rt.uid}/`)) this.projected.delete(k);
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

const osSignals: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15, SIGSEGV: 11, SIGABRT: 6 };

function podObj(p: Pod): Pod {
  return { ...p, apiVersion: 'v1', kind: 'Pod' };
}

function killGroup(proc: ChildProcess | undefined, sig: NodeJS.Signals): void {
  if (!proc?.pid) return;
  try {
    process.kill(-proc.pid, sig);
  } catch {
    try { proc.kill(sig); } catch { /* already gone */ }
  }
}

function stopContainer(c: ContainerRt, graceMs: number): Promise<void> {
  for (const t of c.probeTimers) clearTimeout(t);
  c.probeTimers = [];
  const proc = c.proc;
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => killGroup(proc, 'SIGKILL'), graceMs);
    proc.once('exit', () => {
      clearTimeout(timer);
      // The pod's own children (its process group) go with it.
      killGroup(proc, 'SIGKILL');
      resolve();
    });
    killGroup(proc, graceMs === 0 ? 'SIGKILL' : 'SIGTERM');
  });
}

function writeAtomic(path: string, content: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, content, { mode: 0o600 });
  renameSync(tmp, path);
}
