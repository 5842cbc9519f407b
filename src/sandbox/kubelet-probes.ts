// Readiness and liveness probes (httpGet, tcpSocket; exec probes pass: there is no container runtime).
import http from 'node:http';
import net from 'node:net';
import type { Logger } from '../log/index.js';
import type { Recorder } from './events.js';
import { killGroup, podObj, type ContainerRt, type PodRt } from './kubelet-runtime.js';
import type { Container, Probe } from './types.js';

export interface ProbeDeps {
  recorder: Recorder;
  log: Logger;
  /** Asks for the pod's status to be written again (readiness changed). */
  enqueue(key: string): void;
}

/** Starts the container's probes; they stop by themselves when the container's generation moves on. */
export function startProbes(d: ProbeDeps, rt: PodRt, c: ContainerRt, gen: number): void {
  const run = (probe: Probe, kind: 'readiness' | 'liveness') => {
    const period = Math.max(1, probe.periodSeconds ?? 10) * 1000;
    const failureThreshold = Math.max(1, probe.failureThreshold ?? 3);
    const successThreshold = Math.max(1, probe.successThreshold ?? 1);
    let fails = 0;
    let oks = 0;
    const tick = async () => {
      if (c.generation !== gen || !c.proc) return;
      const ok = await probeOnce(probe, rt, c.spec);
      if (c.generation !== gen || !c.proc) return;
      if (ok) { oks++; fails = 0; } else { fails++; oks = 0; }
      if (kind === 'readiness') {
        const was = c.ready;
        if (!c.ready && oks >= successThreshold) c.ready = true;
        if (c.ready && fails >= failureThreshold) c.ready = false;
        if (was !== c.ready) d.enqueue(rt.key);
      } else if (fails >= failureThreshold) {
        d.recorder.event(podObj(rt.pod), 'Warning', 'Unhealthy', `Liveness probe failed ${fails} times; restarting container ${c.spec.name}`);
        d.log.info('liveness probe failed, killing container', { pod: rt.key, container: c.spec.name });
        fails = 0;
        killGroup(c.proc, 'SIGKILL');
        return;
      }
      if (!ok && kind === 'readiness' && oks === 0 && fails === 1) {
        d.recorder.event(podObj(rt.pod), 'Warning', 'Unhealthy', `Readiness probe failed for container ${c.spec.name}`);
      }
      c.probeTimers.push(setTimeout(() => void tick(), period));
      if (c.probeTimers.length > 8) c.probeTimers.splice(0, c.probeTimers.length - 2);
    };
    c.probeTimers.push(setTimeout(() => void tick(), Math.max(0, probe.initialDelaySeconds ?? 0) * 1000 || 200));
  };
  if (c.spec.readinessProbe) run(c.spec.readinessProbe, 'readiness');
  if (c.spec.livenessProbe) run(c.spec.livenessProbe, 'liveness');
}

export function clearProbes(c: ContainerRt): void {
  for (const t of c.probeTimers) clearTimeout(t);
  c.probeTimers = [];
}

function probeOnce(p: Probe, rt: PodRt, c: Container): Promise<boolean> {
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
