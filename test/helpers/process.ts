// Start a component as its own process, the way a cluster would, and always stop it by pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';

export const repoRoot = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
export const meshBin = resolve(repoRoot, 'bin/mesh.js');

export interface Proc {
  child: ChildProcess;
  pid: number;
  /** Everything written so far to stdout / stderr. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `pattern` on stdout or stderr; rejects on exit or timeout. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. Safe to call twice. */
  stop(graceMs?: number): Promise<void>;
}

const running = new Set<Proc>();

/** `stdin: true` gives the process a pipe (`child.stdin`) for tests that type into it. */
export function startProcess(command: string, args: string[], env: NodeJS.ProcessEnv = {}, cwd = repoRoot, o: { stdin?: boolean } = {}): Proc {
  const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: [o.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  const notify = () => waiters.forEach((w) => w());
  child.stdout?.on('data', (d: Buffer) => { out += d.toString(); notify(); });
  child.stderr?.on('data', (d: Buffer) => { err += d.toString(); notify(); });
  const exited = new Promise<number | string>((res) => child.on('exit', (code, sig) => { running.delete(proc); notify(); res(code ?? sig ?? -1); }));
  let exitedValue: number | string | undefined;
  void exited.then((v) => { exitedValue = v; });
  const proc: Proc = {
    child,
    pid: child.pid,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(pattern, timeoutMs = 20_000) {
      return new Promise((res, rej) => {
        const check = () => {
          const m = out.match(pattern) ?? err.match(pattern);
          if (m) { done(); res(m); return; }
          if (exitedValue !== undefined) { done(); rej(new Error(`process ${command} ${args.join(' ')} exited (${exitedValue}) before ${pattern}\nstderr: ${err.slice(-2000)}`)); }
        };
        const timer = setTimeout(() => { done(); rej(new Error(`timed out waiting for ${pattern}\nstdout: ${out.slice(-2000)}\nstderr: ${err.slice(-2000)}`)); }, timeoutMs);
        const done = () => { clearTimeout(timer); waiters.delete(check); };
        waiters.add(check);
        check();
      });
    },
    async stop(graceMs = 5_000) {
      if (exitedValue !== undefined) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  running.add(proc);
  return proc;
}

/** Runs `mesh <args>` as its own process. */
export function startMesh(args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  return startProcess(process.execPath, ['--enable-source-maps', meshBin, ...args], env);
}

/** Stops every process this test file started and has not stopped; call from an `after` hook. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
}

// A test file that crashes, or that the runner stops on its timeout (SIGTERM), still must not leak children.
process.on('exit', () => {
  for (const p of running) p.child.kill('SIGKILL');
});
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    for (const p of running) p.child.kill('SIGKILL');
    process.exit(128 + (signal === 'SIGTERM' ? 15 : 2));
  });
}
