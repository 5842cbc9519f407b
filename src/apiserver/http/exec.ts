// pods/exec: runs a command in the pod (through PodStreams) and carries stdin/stdout/stderr/resize and the
// exit status over the remote-command protocols kubectl and client libraries speak: WebSocket
// `v5.channel.k8s.io` (kubectl 1.30+), `v4`…`v1` channel protocols (python client, older tools), and
// SPDY/3.1 (kubectl before 1.30, see spdy-remote.ts).
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { ApiError, badRequest, toStatus } from '../errors.js';
import type { Obj } from '../store.js';
import { acceptWebSocket, CLOSE_CHANNEL, isWebSocketUpgrade, pickProtocol, sendChannel, splitMessage } from './channels.js';
import type { UpgradeRequest } from './context.js';
import { containerOf, podOf, podStreamsOf } from './pod-log.js';
import type { ExecOptions, ExecProcess } from './pod-streams.js';
import { queryBool } from './paths.js';
import { serveSpdyExec } from './spdy-remote.js';

export const execProtocols = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'] as const;

export const STDIN = 0;
export const STDOUT = 1;
export const STDERR = 2;
export const ERROR = 3;
export const RESIZE = 4;

export interface ExecRequest {
  pod: Obj;
  options: ExecOptions;
  stdout: boolean;
  stderr: boolean;
}

const flag = queryBool;

export function execRequest(r: UpgradeRequest): ExecRequest {
  const q = r.query;
  const pod = podOf(r);
  const command = q.getAll('command');
  if (command.length === 0) throw badRequest('you must specify at least one command for the container');
  const stdin = flag(q, 'stdin');
  const stdout = flag(q, 'stdout');
  const tty = flag(q, 'tty');
  const stderr = flag(q, 'stderr') && !tty;
  if (!stdin && !stdout && !stderr) throw badRequest('you must specify at least 1 of stdin, stdout, stderr');
  return { pod, options: { container: containerOf(pod, q.get('container')), command, stdin, tty }, stdout, stderr };
}

/** The Status the v4+ error channel carries when the command ended. */
export function exitStatus(code: number, command: string[]): object {
  if (code === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${code}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  };
}

export async function serveExecUpgrade(r: UpgradeRequest, socket: Duplex, head: Buffer): Promise<void> {
  const x = execRequest(r);
  const streams = podStreamsOf(r, x.pod);
  if (!isWebSocketUpgrade(r.req)) return serveSpdyExec(r.req, socket, x, streams);
  const protocol = pickProtocol(r.req, execProtocols);
  if (!protocol) throw badRequest(`unsupported WebSocket subprotocol ${JSON.stringify(r.req.headers['sec-websocket-protocol'] ?? '')}; this server speaks ${execProtocols.join(', ')}`);
  const ws = await acceptWebSocket(r.req, socket, head, protocol);
  let proc: ExecProcess;
  try {
    proc = await streams.exec(x.pod, x.options);
  } catch (err) {
    sendError(ws, protocol, err);
    return;
  }
  runOverWebSocket(ws, protocol, x, proc);
}

function sendError(ws: WebSocket, protocol: string, err: unknown): void {
  const st = toStatus(err instanceof ApiError ? err : new ApiError('InternalError', err instanceof Error ? err.message : String(err)));
  const v4 = protocol.startsWith('v4') || protocol.startsWith('v5');
  sendChannel(ws, ERROR, Buffer.from(v4 ? JSON.stringify(st) : st.message));
  ws.close(1000);
}

function runOverWebSocket(ws: WebSocket, protocol: string, x: ExecRequest, proc: ExecProcess): void {
  const v4 = protocol.startsWith('v4') || protocol.startsWith('v5');
  ws.on('message', (data) => {
    const m = splitMessage(data as Buffer);
    if (!m) return;
    if (m.channel === STDIN) proc.stdin?.write(m.payload);
    else if (m.channel === RESIZE) resize(proc, m.payload);
    else if (m.channel === CLOSE_CHANNEL && m.payload[0] === STDIN) proc.stdin?.end();
  });
  ws.on('close', () => proc.kill());
  ws.on('error', () => proc.kill());
  const outputs: Array<Promise<void>> = [];
  const pipe = (from: NodeJS.ReadableStream, channel: number, wanted: boolean) =>
    outputs.push(new Promise((resolve) => {
      from.on('data', (c: Buffer) => { if (wanted) sendChannel(ws, channel, c); });
      from.on('end', resolve);
      from.on('error', () => resolve());
    }));
  pipe(proc.stdout, STDOUT, x.stdout);
  pipe(proc.stderr, STDERR, x.stderr);
  void Promise.all([proc.exited, ...outputs]).then(([code]) => {
    if (v4) sendChannel(ws, ERROR, Buffer.from(JSON.stringify(exitStatus(code, x.options.command))));
    else if (code !== 0) sendChannel(ws, ERROR, Buffer.from(`command terminated with non-zero exit code: ${code}`));
    ws.close(1000);
  });
}

/** `{"Width":80,"Height":24}` from the resize channel. */
export function resize(proc: ExecProcess, payload: Buffer): void {
  try {
    const s = JSON.parse(payload.toString('utf8')) as { Width?: unknown; Height?: unknown };
    if (typeof s.Width === 'number' && typeof s.Height === 'number') proc.resize(s.Width, s.Height);
  } catch {
    // a malformed resize message is ignored, as kubelet does
  }
}

