// Bringing the demo's clusters up: `mesh sandbox up` as a child process (stopped by pid, then `sandbox
// down` for anything left), in the isolated network when this machine allows it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chooseNetwork as chooseSandboxNetwork, isolatedUnsupported, SandboxError, type NetworkChoice as SandboxNetworkChoice } from '../sandbox/index.js';
import { DemoError } from './errors.js';
import { SandboxEnvironment, type SandboxClusterInfo } from './environment.js';
import { meshBin, repoRoot, runMesh } from './run.js';

export type NetworkChoice = SandboxNetworkChoice;

/** Which network to use and why: the sandbox's own rule (isolated when root), as a DemoError when impossible. */
export function chooseNetwork(choice: NetworkChoice, unsupported: string | undefined = isolatedUnsupported()): { network: 'loopback' | 'isolated'; why: string } {
  try {
    return chooseSandboxNetwork(choice, unsupported);
  } catch (err) {
    if (err instanceof SandboxError) throw new DemoError('Usage', err.message, err.hint);
    throw err;
  }
}

export interface Clusters {
  env: SandboxEnvironment;
  why: string;
  pid: number;
  /** Stops the sandbox (SIGTERM to `sandbox up`, then `sandbox down` for leftovers). Safe to call twice. */
  stop(): Promise<void>;
}

const SandboxReady = (line: string): { kubeconfig: string; mode: 'loopback' | 'isolated'; clusters: SandboxClusterInfo[] } | undefined => {
  if (!line.startsWith('{"ready":true')) return undefined;
  return JSON.parse(line) as { kubeconfig: string; mode: 'loopback' | 'isolated'; clusters: SandboxClusterInfo[] };
};

export async function setUpClusters(o: { dir: string; names: string[]; network: NetworkChoice; timeoutMs?: number; signal?: AbortSignal }): Promise<Clusters> {
  const { network, why } = chooseNetwork(o.network);
  const dir = resolve(o.dir);
  if (existsSync(join(dir, 'state.json'))) {
    // A previous run that was killed: clean it up first rather than refuse.
    await runMesh(['sandbox', 'down', '--dir', dir], join(dir, 'kubeconfig'), 60_000);
  }
  const child: ChildProcess = spawn(process.execPath, [meshBin, 'sandbox', 'up', '--clusters', o.names.join(','), '--network', network, '--dir', dir], {
    cwd: repoRoot,
    env: { ...process.env, MESH_LOG_LEVEL: process.env.MESH_LOG_LEVEL ?? 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new DemoError('Sandbox', 'could not start mesh sandbox up');
  const pid = child.pid;
  let errTail = '';
  child.stderr?.on('data', (d: Buffer) => { errTail = (errTail + d.toString()).slice(-4000); });
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= (async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(t);
    }
    if (existsSync(join(dir, 'state.json'))) await runMesh(['sandbox', 'down', '--dir', dir], join(dir, 'kubeconfig'), 60_000);
  })());
  const onAbort = () => void stop();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const ready = await new Promise<NonNullable<ReturnType<typeof SandboxReady>>>((res, rej) => {
      let buf = '';
      const timer = setTimeout(() => rej(new DemoError('Timeout', `the sandbox was not ready after ${(o.timeoutMs ?? 120_000) / 1000}s\n${errTail}`)), o.timeoutMs ?? 120_000);
      child.stdout?.on('data', (d: Buffer) => {
        buf += d.toString();
        for (const line of buf.split('\n')) {
          const r = SandboxReady(line.trim());
          if (r) { clearTimeout(timer); res(r); }
        }
      });
      void exited.then(() => {
        clearTimeout(timer);
        rej(o.signal?.aborted ? new DemoError('Interrupted', 'interrupted while the sandbox was starting') : new DemoError('Sandbox', `mesh sandbox up exited before it was ready:\n${errTail}`));
      });
    });
    return { env: new SandboxEnvironment(ready.kubeconfig, dir, ready.mode, ready.clusters), why, pid, stop };
  } catch (err) {
    await stop();
    throw err;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
}
