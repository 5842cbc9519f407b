// `mesh sandbox up --detach`: the same `up`, started in its own session with its output in DIR/up.log,
// and this process returns once it printed its ready line. The README's steps and scripts need the
// clusters running while the shell goes on; `mesh sandbox down` stops it as it stops a foreground `up`.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CliError, ExitCode } from './errors.js';

export interface DetachedUp {
  pid: number;
  readyLine: string;
  kubeconfig: string;
  logPath: string;
}

const READY_TIMEOUT_MS = 180_000;

function readyLineIn(text: string): string | undefined {
  return text.split('\n').find((l) => l.startsWith('{"ready":true'));
}

/** Starts `mesh sandbox up <args> --dir DIR` detached and waits for its ready line (or its exit). */
export async function detachUp(o: { meshBin: string; dir: string; args: string[] }): Promise<DetachedUp> {
  const dir = resolve(o.dir);
  mkdirSync(dir, { recursive: true });
  const logPath = join(dir, 'up.log');
  const fd = openSync(logPath, 'w');
  // Its own session (detached): Ctrl-C in this terminal no longer reaches it; only `down` or a signal to its pid.
  const child = spawn(process.execPath, [o.meshBin, 'sandbox', 'up', ...o.args, '--dir', dir], { detached: true, stdio: ['ignore', fd, fd], env: process.env });
  closeSync(fd);
  const pid = child.pid;
  if (pid === undefined) throw new CliError('could not start mesh sandbox up in the background', ExitCode.Failure);
  let exited: number | string | undefined;
  child.on('exit', (code, sig) => { exited = code ?? sig ?? -1; });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  try {
    for (;;) {
      const text = readFileSync(logPath, 'utf8');
      const line = readyLineIn(text);
      if (line) {
        const ready = JSON.parse(line) as { kubeconfig: string };
        return { pid, readyLine: line, kubeconfig: ready.kubeconfig, logPath };
      }
      if (exited !== undefined) {
        const tail = text.trim().split('\n').slice(-6).join('\n');
        throw new CliError(`mesh sandbox up exited (${exited}) before it was ready:\n${tail}`, ExitCode.Failure, `the whole log: ${logPath}`);
      }
      if (Date.now() > deadline) {
        process.kill(pid, 'SIGTERM');
        throw new CliError(`the sandbox was not ready after ${READY_TIMEOUT_MS / 1000}s; stopped it`, ExitCode.Failure, `see ${logPath}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    // This process may now exit; the sandbox goes on in its own session.
    child.unref();
  }
}
