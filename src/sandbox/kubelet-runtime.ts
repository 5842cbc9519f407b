// What the kubelet keeps per pod and container while their processes run, and the process helpers
// (signals to a pod's process group, graceful stop, atomic file writes).
import type { ChildProcess } from 'node:child_process';
import { renameSync, writeFileSync } from 'node:fs';
import type { ContainerStdio } from './kubelet-attach.js';
import type { Container, ContainerState, Pod } from './types.js';

export const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface ContainerRt {
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
  /** The log of the running (or last) instance, and of the one before it (`kubectl logs --previous`). */
  logPath?: string;
  prevLogPath?: string;
  /** The environment the container was started with (exec runs with it). */
  env?: Record<string, string>;
  /** The running instance's stdio, for attach (containers with `stdin` or `tty`). */
  stdio?: ContainerStdio;
}

export interface PodRt {
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

export const osSignals: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15, SIGSEGV: 11, SIGABRT: 6 };

export function podObj(p: Pod): Pod {
  return { ...p, apiVersion: 'v1', kind: 'Pod' };
}

export function killGroup(proc: ChildProcess | undefined, sig: NodeJS.Signals): void {
  if (!proc?.pid) return;
  try {
    process.kill(-proc.pid, sig);
  } catch {
    try { proc.kill(sig); } catch { /* already gone */ }
  }
}

export function stopContainer(c: ContainerRt, graceMs: number): Promise<void> {
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

export function writeAtomic(path: string, content: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, content, { mode: 0o600 });
  renameSync(tmp, path);
}
