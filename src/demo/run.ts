// Running `mesh …` and other commands as child processes, bounded in time, with output kept for errors.
// The demo drives the mesh exactly as a user would type it, so every step it shows is a real command.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { DemoError } from './errors.js';

export const repoRoot = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
export const meshBin = resolve(repoRoot, 'bin/mesh.js');

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (killed after `timeoutMs`); never throws on a non-zero exit. */
export function runCommand(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): Promise<CommandResult> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { cwd: repoRoot, env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${opts.timeoutMs} ms)`;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 120_000);
    child.on('error', (err) => { clearTimeout(timer); rej(new DemoError('Command', `${cmd}: ${err.message}`)); });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      res({ code: code ?? (sig ? 128 : 1), stdout, stderr });
    });
    // A command that exits before reading its input (ip, kubectl, a failing mesh) closes the pipe: the EPIPE
    // is no error of ours (the exit code says what happened), and unheard it would crash the caller.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** `mesh <args>` with this kubeconfig. */
export function runMesh(args: string[], kubeconfig: string, timeoutMs = 180_000): Promise<CommandResult> {
  return runCommand(process.execPath, [meshBin, ...args], { env: { KUBECONFIG: kubeconfig, MESH_LOG_LEVEL: 'warn' }, timeoutMs });
}

/** `mesh <args>`, throwing a DemoError that carries the command's own message when it fails. */
export async function mustMesh(args: string[], kubeconfig: string, timeoutMs?: number): Promise<CommandResult> {
  const r = await runMesh(args, kubeconfig, timeoutMs);
  if (r.code !== 0) {
    const tail = r.stderr.split('\n').filter((l) => l.trim() && !/ unchanged$/.test(l)).slice(-8).join('\n');
    throw new DemoError('Command', `mesh ${args.join(' ')} failed (exit ${r.code}):\n${tail}`);
  }
  return r;
}
