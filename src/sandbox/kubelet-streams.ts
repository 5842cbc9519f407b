// What the API server's pods/log, pods/exec, pods/attach and pods/portforward reach on this node: the
// container's log files, a command run in the pod's environment, the container's own stdio, a TCP
// connection to the pod's address.
//
// exec runs a host command with the container's environment (POD_IP, service-account and volume roots,
// KUBERNETES_SERVICE_*), in the cluster's network namespace (isolated mode: the kubelet runs inside it)
// and, as root, in a mount namespace with the pod's resolv.conf. `mesh` means this checkout's binary.
// attach reaches the stdio the kubelet keeps for containers with `stdin`/`tty` (kubelet-attach.ts); other
// containers write straight to their log file, so an attach reads what the file gets from now on.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { PassThrough, type Duplex, type Readable } from 'node:stream';
import { ApiError, type AttachOptions, type ExecOptions, type ExecProcess, type PodLogOptions, type PodStreams } from '../apiserver/index.js';
import { killGroup, osSignals, type ContainerRt, type PodRt } from './kubelet-runtime.js';
import { debugExecArgv, hostTools } from './debug-images.js';
import { hostPython, ignorePipeErrors, ptyArgv, writeWinsize } from './kubelet-attach.js';

/** How often a followed log is checked for new bytes. */
const FOLLOW_POLL_MS = 200;

export interface KubeletStreamsOptions {
  /** The runtime of a pod this kubelet runs (by `namespace/name`). */
  runtime(key: string): PodRt | undefined;
  meshBin: string;
  repoRoot: string;
  podDns?: { nameserver: string; domain: string };
}

interface PodLike {
  metadata: { name: string; namespace?: string; uid?: string };
}

const badRequest = (m: string): ApiError => new ApiError('BadRequest', m);

export class KubeletStreams implements PodStreams {
  constructor(private readonly o: KubeletStreamsOptions) {}

  private container(pod: PodLike, name: string): { rt: PodRt; c: ContainerRt } {
    const rt = this.o.runtime(`${pod.metadata.namespace ?? 'default'}/${pod.metadata.name}`);
    if (!rt || (pod.metadata.uid && rt.uid !== pod.metadata.uid)) throw badRequest(`container "${name}" in pod "${pod.metadata.name}" is waiting to start: ContainerCreating`);
    const c = rt.containers.get(name);
    if (!c) throw badRequest(`container ${name} is not valid for pod ${pod.metadata.name}`);
    return { rt, c };
  }

  async log(pod: PodLike, o: PodLogOptions, signal: AbortSignal): Promise<Readable> {
    const { c } = this.container(pod, o.container);
    const path = o.previous ? c.prevLogPath : c.logPath;
    if (o.previous && !path) throw badRequest(`previous terminated container "${o.container}" in pod "${pod.metadata.name}" not found`);
    if (!path || !existsSync(path)) throw badRequest(`container "${o.container}" in pod "${pod.metadata.name}" is waiting to start: ${c.waiting?.reason ?? 'ContainerCreating'}`);
    const out = new PassThrough();
    let text: Buffer = readFileSync(path);
    const offset = text.length;
    if (o.tailLines !== undefined) text = tail(text, o.tailLines);
    if (o.limitBytes !== undefined) text = text.subarray(0, o.limitBytes);
    out.write(text);
    if (!o.follow || o.previous) {
      out.end();
      return out;
    }
    followLog(c, path, offset, out, signal);
    return out;
  }

  async attach(pod: PodLike, o: AttachOptions): Promise<ExecProcess> {
    const { c } = this.container(pod, o.container);
    const notRunning = () => badRequest(`unable to upgrade connection: container not found ("${o.container}")`);
    if (!c.proc) throw notRunning();
    if (c.stdio) return c.stdio.attach(o) ?? Promise.reject(notRunning());
    // No stdio kept: the output is the log file from now on (stdout and stderr are one file); stdin goes
    // nowhere, as with containerd for a container without stdin.
    const path = c.logPath;
    if (!path) throw notRunning();
    const ac = new AbortController();
    const out = new PassThrough();
    const exited = new Promise<number>((resolve) => out.once('end', () => resolve(0)));
    followLog(c, path, existsSync(path) ? statSync(path).size : 0, out, ac.signal);
    const none = new PassThrough();
    none.end();
    const sink = new PassThrough();
    sink.resume();
    return { stdin: sink, stdout: o.stdout || !o.stderr ? out : none, stderr: o.stdout || !o.stderr ? none : out, exited, resize: () => undefined, kill: () => ac.abort() };
  }

  async exec(pod: PodLike, o: ExecOptions): Promise<ExecProcess> {
    const { rt, c } = this.container(pod, o.container);
    if (!c.proc || !c.env) throw badRequest(`unable to upgrade connection: container not found ("${o.container}")`);
    const argv = this.execArgv(debugExecArgv(c.spec.image, o.command, hostTools()));
    // A pty from the python helper takes window sizes on fd 3; script(1) is the fallback without python3.
    const py = o.tty ? hostPython() : null;
    const withTty = py ? ptyArgv(py, argv) : o.tty ? ['script', '-qefc', argv.map(shellQuote).join(' '), '/dev/null'] : argv;
    const [cmd, ...args] = this.o.podDns ? ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount --bind "$0" /etc/resolv.conf && exec "$@"', join(rt.root, 'resolv.conf'), ...withTty] : withTty;
    const child = spawn(cmd as string, args, { cwd: this.o.repoRoot, env: { ...c.env, ...(o.tty ? { TERM: 'xterm' } : {}) }, stdio: py ? ['pipe', 'pipe', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe'], detached: true });
    const exited = new Promise<number>((resolve) => {
      child.on('error', (err) => {
        child.stderr.push(`exec: ${o.command[0] ?? ''}: ${err.message}\n`);
        resolve(127);
      });
      child.on('exit', (code, sig) => resolve(code ?? 128 + (sig ? (osSignals[sig] ?? 9) : 9)));
    });
    child.stdin.on('error', () => undefined);
    ignorePipeErrors(child);
    if (!o.stdin) child.stdin.end();
    return {
      stdin: o.stdin ? child.stdin : undefined,
      stdout: child.stdout,
      stderr: child.stderr,
      resize: (w, h) => { if (py) writeWinsize(child.stdio[3], w, h); },
      exited,
      kill: () => killGroup(child, 'SIGKILL'),
    };
  }

  /** The host command for an exec: `mesh …` runs this checkout's binary; anything else runs as named. */
  private execArgv(command: string[]): string[] {
    const [first, ...rest] = command;
    if (first === 'mesh' || first === '/app/bin/mesh.js') return [process.execPath, this.o.meshBin, ...rest];
    return command;
  }

  async portForward(pod: PodLike, port: number): Promise<Duplex> {
    const rt = this.o.runtime(`${pod.metadata.namespace ?? 'default'}/${pod.metadata.name}`);
    if (!rt) throw badRequest(`pod ${pod.metadata.name} is not running on this node`);
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: rt.ip, port });
      s.once('connect', () => {
        s.off('error', reject);
        resolve(s);
      });
      s.once('error', reject);
    });
  }
}

/**
 * Writes the bytes `path` gets past `offset` to `out` as the file grows (read in order, synchronously),
 * until the container instance writing it has ended and everything is sent, or `signal` aborts.
 */
function followLog(c: ContainerRt, path: string, offset: number, out: PassThrough, signal: AbortSignal): void {
  let done = false;
  const stop = () => {
    if (done) return;
    done = true;
    clearInterval(timer);
    out.end();
  };
  const timer = setInterval(() => {
    const running = c.logPath === path && c.proc !== undefined;
    const size = existsSync(path) ? statSync(path).size : offset;
    if (size > offset) {
      out.write(readRange(path, offset, size));
      offset = size;
    }
    if (!running) stop();
  }, FOLLOW_POLL_MS);
  signal.addEventListener('abort', stop, { once: true });
}

function readRange(path: string, from: number, to: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(to - from);
    const n = readSync(fd, b, 0, b.length, from);
    return b.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

function tail(b: Buffer, lines: number): Buffer {
  if (lines === 0) return Buffer.alloc(0);
  let end = b.length;
  if (end > 0 && b[end - 1] === 0x0a) end--;
  let pos = end;
  for (let n = 0; n < lines; n++) {
    const i = b.lastIndexOf(0x0a, pos - 1);
    if (i < 0) return b;
    pos = i;
  }
  return b.subarray(pos + 1);
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
