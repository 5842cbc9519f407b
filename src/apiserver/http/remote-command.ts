// The remote-command protocols pods/exec and pods/attach share: stdin/stdout/stderr/resize and a final
// status over WebSocket `v5.channel.k8s.io` (kubectl 1.30+), the `v4`…`v1` channel protocols (python
// client, older tools), and SPDY/3.1 (kubectl before 1.30, see spdy-remote.ts). What differs between exec
// and attach (what starts the session, what its end reports) comes in a RemoteSession.
import { Writable, type Duplex, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { WebSocket } from 'ws';
import { ApiError, badRequest, toStatus } from '../errors.js';
import type { Obj } from '../store.js';
import { acceptWebSocket, CLOSE_CHANNEL, isWebSocketUpgrade, pickProtocol, sendChannel, splitMessage } from './channels.js';
import type { UpgradeRequest } from './context.js';
import type { ExecProcess } from './pod-streams.js';
import { queryBool } from './paths.js';
import { serveSpdyRemoteCommand } from './spdy-remote.js';

export const remoteCommandProtocols = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'] as const;

export const STDIN = 0;
export const STDOUT = 1;
export const STDERR = 2;
export const ERROR = 3;
export const RESIZE = 4;

/** The final word on the error channel: a Status (v4+) and the plain message older protocols carry, if any. */
export interface FinalStatus {
  status: object;
  legacy: string | undefined;
}

/** One exec or attach: which streams the client asked for, how to start it, what its end reports. */
export interface RemoteSession {
  pod: Obj;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
  start(): Promise<ExecProcess>;
  /** From the code `exited` resolved with. */
  final(code: number): FinalStatus;
}

export const SUCCESS: FinalStatus = { status: { metadata: {}, status: 'Success' }, legacy: undefined };

/** stdin/stdout/stderr/tty from the query; with a tty stderr is merged into stdout, as the kubelet does. */
export function streamFlags(q: URLSearchParams): { stdin: boolean; stdout: boolean; stderr: boolean; tty: boolean } {
  const stdin = queryBool(q, 'stdin');
  const stdout = queryBool(q, 'stdout');
  const tty = queryBool(q, 'tty');
  const stderr = queryBool(q, 'stderr') && !tty;
  if (!stdin && !stdout && !stderr) throw badRequest('you must specify at least 1 of stdin, stdout, stderr');
  return { stdin, stdout, stderr, tty };
}

export function errorStatus(err: unknown): ReturnType<typeof toStatus> {
  return toStatus(err instanceof ApiError ? err : new ApiError('InternalError', err instanceof Error ? err.message : String(err)));
}

export async function serveRemoteCommand(r: UpgradeRequest, socket: Duplex, head: Buffer, s: RemoteSession): Promise<void> {
  // Who got a shell in which pod, and over what: the protocol tells a client's fallback (WebSocket v5 → SPDY) apart.
  const started = (protocol: string) =>
    r.deps.log.info('remote command session', { subresource: r.target.subresource, namespace: r.ns, pod: s.pod.metadata?.name, user: r.user.username, protocol });
  if (!isWebSocketUpgrade(r.req)) return serveSpdyRemoteCommand(r.req, socket, s, (protocol) => started(`SPDY/3.1+${protocol}`));
  const protocol = pickProtocol(r.req, remoteCommandProtocols);
  if (!protocol) throw badRequest(`unsupported WebSocket subprotocol ${JSON.stringify(r.req.headers['sec-websocket-protocol'] ?? '')}; this server speaks ${remoteCommandProtocols.join(', ')}`);
  started(`WebSocket+${protocol}`);
  const ws = await acceptWebSocket(r.req, socket, head, protocol);
  const v4 = protocol.startsWith('v4') || protocol.startsWith('v5');
  let proc: ExecProcess;
  try {
    proc = await s.start();
  } catch (err) {
    const st = errorStatus(err);
    sendChannel(ws, ERROR, Buffer.from(v4 ? JSON.stringify(st) : st.message));
    ws.close(1000);
    return;
  }
  runOverWebSocket(ws, v4, s, proc);
}

function runOverWebSocket(ws: WebSocket, v4: boolean, s: RemoteSession, proc: ExecProcess): void {
  ws.on('message', (data) => {
    const m = splitMessage(data as Buffer);
    if (!m) return;
    if (m.channel === STDIN) proc.stdin?.write(m.payload);
    else if (m.channel === RESIZE) resize(proc, m.payload);
    else if (m.channel === CLOSE_CHANNEL && m.payload[0] === STDIN) proc.stdin?.end();
  });
  ws.on('close', () => proc.kill());
  ws.on('error', () => proc.kill());
  const outputs = [pipeOut(proc.stdout, channelSink(ws, STDOUT, s.stdout)), pipeOut(proc.stderr, channelSink(ws, STDERR, s.stderr))];
  void Promise.all([proc.exited, ...outputs]).then(([code]) => {
    const f = s.final(code);
    if (v4) sendChannel(ws, ERROR, Buffer.from(JSON.stringify(f.status)));
    else if (f.legacy) sendChannel(ws, ERROR, Buffer.from(f.legacy));
    ws.close(1000);
  });
}

/**
 * Every chunk of `from` into `sink`, at the pace the sink takes them (a slow client holds back the
 * command, or, for attach, fills that attacher's buffer only); resolves once all is handed over or failed.
 */
export function pipeOut(from: Readable, sink: Writable): Promise<void> {
  return pipeline(from, sink).catch(() => undefined);
}

/** One output channel of a WebSocket session; a chunk is done when the socket took it. Unwanted output is dropped. */
function channelSink(ws: WebSocket, channel: number, wanted: boolean): Writable {
  return new Writable({
    write(c: Buffer, _enc, cb) {
      if (!wanted || ws.readyState !== ws.OPEN) return cb();
      ws.send(Buffer.concat([Buffer.from([channel]), c]), { binary: true }, () => cb());
    },
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
