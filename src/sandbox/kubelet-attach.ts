// The stdio of containers started with `stdin: true` or `tty: true`, kept by the kubelet so pods/attach
// reaches the running process: stdin stays open (a pipe the kubelet holds), output goes to the container's
// log file and to whoever is attached at the moment (what was printed before an attach is not replayed:
// `kubectl logs` shows it). Several attachers may read and write. The end of an attacher's input follows
// containerd: with `stdinOnce` and no tty it closes the container's stdin and the session lasts until the
// container ends; otherwise it ends that session. `stdinOnce` closes the container's stdin once the first
// attach that carried stdin is over. With a tty the process runs on a pseudo-terminal (kubelet-pty.ts)
// whose size follows the attacher's resize messages.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { PassThrough, Writable, type Readable } from 'node:stream';
import type { AttachOptions, ExecProcess } from '../apiserver/index.js';
import type { Logger } from '../log/index.js';
import { PTY_HELPER } from './kubelet-pty.js';
import type { Container } from './types.js';

/** An attacher that reads slower than the container writes is detached past this many buffered bytes. */
const MAX_ATTACHER_BUFFER = 8 * 1024 * 1024;

let python: string | null | undefined;
/** The host's python3 (Debian's first), or null: `tty: true` cannot be honoured without it. */
export function hostPython(): string | null {
  if (python !== undefined) return python;
  if (existsSync('/usr/bin/python3')) return (python = '/usr/bin/python3');
  const r = spawnSync('sh', ['-c', 'command -v python3'], { encoding: 'utf8' });
  return (python = r.status === 0 && r.stdout.trim() ? r.stdout.trim() : null);
}

export function wantsStdio(c: Container): boolean {
  return c.stdin === true || c.tty === true;
}

/** `argv` run on a pseudo-terminal by the python helper. */
export function ptyArgv(py: string, argv: string[]): string[] {
  return [py, '-c', PTY_HELPER, ...argv];
}

/** A resize after the helper is gone is EPIPE on fd 3: nothing to tell anyone. */
export function ignorePipeErrors(child: ChildProcess): void {
  const ctl = child.stdio[3];
  if (ctl && 'on' in ctl) ctl.on('error', () => undefined);
}

/** Tells the pty helper (its fd 3) the terminal's new size. */
export function writeWinsize(ctl: ChildProcess['stdio'][number] | undefined, width: number, height: number): void {
  if (!ctl || !('write' in ctl) || !ctl.writable) return;
  const clamp = (n: number) => Math.min(65535, Math.max(1, Math.floor(n)));
  ctl.write(`${clamp(width)} ${clamp(height)}\n`);
}

interface Attacher {
  stdout: PassThrough;
  stderr: PassThrough;
  /** Ends the session; `dropBuffered` discards what the client has not read yet (a reader too slow). */
  detach(dropBuffered?: boolean): void;
}

export class ContainerStdio {
  private readonly attachers = new Set<Attacher>();
  private readonly logFile: WriteStream;
  private stdinOpen: boolean;
  private outputOpen = true;

  constructor(
    private readonly child: ChildProcess,
    logPath: string,
    private readonly spec: Container,
    private readonly log: Logger,
  ) {
    this.logFile = createWriteStream(logPath, { flags: 'a' });
    this.logFile.on('error', (err) => log.warn('container log write failed', { logPath, err: err.message }));
    this.stdinOpen = spec.stdin === true && child.stdin !== null;
    child.stdin?.on('error', () => { this.stdinOpen = false; });
    ignorePipeErrors(child);
    if (!this.stdinOpen) child.stdin?.end();
    const tty = spec.tty === true;
    let open = 2;
    const ended = () => {
      if (--open > 0) return;
      this.outputOpen = false;
      this.logFile.end();
      for (const a of [...this.attachers]) a.detach();
    };
    this.fanOut(child.stdout, 'stdout', ended);
    // With a tty the container has one output; the helper's own errors read as terminal output too.
    this.fanOut(child.stderr, tty ? 'stdout' : 'stderr', ended);
  }

  private fanOut(from: Readable | null, to: 'stdout' | 'stderr', ended: () => void): void {
    if (!from) return ended();
    from.on('data', (c: Buffer) => {
      // The log file is the one reader the container waits for, as a kubelet's log does; attachers never.
      if (!this.logFile.write(c)) {
        from.pause();
        this.logFile.once('drain', () => from.resume());
      }
      for (const a of this.attachers) {
        if (a[to].writableLength > MAX_ATTACHER_BUFFER) {
          this.log.warn('attacher too slow, detached', { container: this.spec.name, buffered: a[to].writableLength });
          a.detach(true);
        } else a[to].write(c);
      }
    });
    from.once('close', ended);
  }

  private closeStdin(): void {
    if (!this.stdinOpen) return;
    this.stdinOpen = false;
    this.child.stdin?.end();
  }

  resize(width: number, height: number): void {
    if (this.spec.tty) writeWinsize(this.child.stdio[3], width, height);
  }

  /** A new session on the container's stdio; undefined once its output has ended (the container is exiting). */
  attach(o: AttachOptions): ExecProcess | undefined {
    if (!this.outputOpen) return undefined;
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let resolveExit: (code: number) => void = () => undefined;
    const exited = new Promise<number>((resolve) => { resolveExit = resolve; });
    const carriesStdin = o.stdin && this.stdinOpen;
    let over = false;
    const a: Attacher = {
      stdout,
      stderr,
      detach: (dropBuffered) => {
        if (over) return;
        over = true;
        this.attachers.delete(a);
        if (dropBuffered) {
          stdout.destroy();
          stderr.destroy();
        } else {
          stdout.end();
          stderr.end();
        }
        if (carriesStdin && this.spec.stdinOnce) this.closeStdin();
        resolveExit(0);
      },
    };
    this.attachers.add(a);
    const stdin = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        const pipe = this.child.stdin;
        if (!carriesStdin || over || !this.stdinOpen || !pipe) return cb();
        if (pipe.write(chunk)) return cb();
        const done = () => { pipe.off('drain', done); pipe.off('close', done); cb(); };
        pipe.once('drain', done);
        pipe.once('close', done);
      },
      final: (cb) => {
        if (carriesStdin && this.spec.stdinOnce && !this.spec.tty) this.closeStdin();
        else if (carriesStdin) a.detach();
        cb();
      },
    });
    stdin.on('error', () => a.detach());
    return { stdin, stdout, stderr, exited, resize: (w, h) => this.resize(w, h), kill: () => a.detach() };
  }
}

/**
 * Spawns a container that keeps its stdio with the kubelet: pipes for stdin/stdout/stderr, plus fd 3 (the
 * pty helper's resize input) with a tty. `argv` is already wrapped by ptyArgv when the spec asks for a tty.
 */
export function spawnWithStdio(cmd: string, args: string[], o: { cwd: string; env: Record<string, string>; tty: boolean }): ChildProcess {
  return spawn(cmd, args, { cwd: o.cwd, env: o.env, stdio: o.tty ? ['pipe', 'pipe', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe'], detached: true });
}
