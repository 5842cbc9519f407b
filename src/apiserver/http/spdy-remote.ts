// Remote command (exec, attach) and port-forward over SPDY/3.1: the 101 answer with the negotiated stream protocol, then
// the streams kubectl opens (by their `streamType` header) wired to the command or to the pod's port.
import type { IncomingMessage } from 'node:http';
import { Writable, type Duplex } from 'node:stream';
import { badRequest } from '../errors.js';
import { errorStatus, pipeOut, resize, type RemoteSession } from './remote-command.js';
import type { PodStreams } from './pod-streams.js';
import { SpdySession, type SpdyStream } from './spdy.js';
import type { Obj } from '../store.js';

const execStreamProtocols = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];
/** How long the expected streams may take to arrive after the upgrade. */
const STREAM_WAIT_MS = 30_000;

function isSpdyUpgrade(req: IncomingMessage): boolean {
  return String(req.headers['upgrade'] ?? '').toLowerCase().startsWith('spdy/3.1');
}

/** Answers 101 for SPDY/3.1 with the first stream protocol (server preference) the client offered. */
function switchToSpdy(req: IncomingMessage, socket: Duplex, supported: string[]): string {
  if (!isSpdyUpgrade(req)) throw badRequest(`unsupported upgrade ${JSON.stringify(req.headers['upgrade'] ?? '')}: use WebSocket or SPDY/3.1`);
  const offered = String(req.headers['x-stream-protocol-version'] ?? '').split(',').map((s) => s.trim());
  const protocol = supported.find((p) => offered.includes(p));
  if (!protocol) throw badRequest(`unable to upgrade: unable to negotiate protocol: client supports ${JSON.stringify(offered)}, server supports ${JSON.stringify(supported)}`);
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${protocol}\r\n\r\n`);
  return protocol;
}

/** Collects the streams of one exec (by streamType) until every expected one is there. */
function expectStreams(session: SpdySession, types: string[]): Promise<Map<string, SpdyStream>> {
  return new Promise((resolve, reject) => {
    const got = new Map<string, SpdyStream>();
    const timer = setTimeout(() => reject(new Error(`timed out waiting for streams ${types.filter((t) => !got.has(t)).join(', ')}`)), STREAM_WAIT_MS);
    session.on('stream', (s: SpdyStream) => {
      got.set(s.headers['streamtype'] ?? '', s);
      if (types.every((t) => got.has(t))) {
        clearTimeout(timer);
        resolve(got);
      }
    });
    session.once('close', () => {
      clearTimeout(timer);
      reject(new Error('connection closed before the streams arrived'));
    });
  });
}

export async function serveSpdyRemoteCommand(req: IncomingMessage, socket: Duplex, s: RemoteSession, negotiated: (protocol: string) => void): Promise<void> {
  const protocol = switchToSpdy(req, socket, execStreamProtocols);
  negotiated(protocol);
  const session = new SpdySession(socket);
  const types = ['error', ...(s.stdin ? ['stdin'] : []), ...(s.stdout ? ['stdout'] : []), ...(s.stderr ? ['stderr'] : []), ...(s.tty && protocol !== 'channel.k8s.io' && protocol !== 'v2.channel.k8s.io' ? ['resize'] : [])];
  let streams: Map<string, SpdyStream>;
  try {
    streams = await expectStreams(session, types);
  } catch {
    session.close();
    return;
  }
  const errStream = streams.get('error') as SpdyStream;
  const finish = (payload: string | undefined) => {
    if (payload) errStream.write(payload);
    for (const st of streams.values()) st.end();
    setTimeout(() => session.close(), 100).unref();
  };
  const v4 = protocol === 'v4.channel.k8s.io';
  let proc;
  try {
    proc = await s.start();
  } catch (err) {
    const st = errorStatus(err);
    return finish(v4 ? JSON.stringify(st) : st.message);
  }
  streams.get('stdin')?.on('data', (c: Buffer) => proc.stdin?.write(c));
  streams.get('stdin')?.on('end', () => proc.stdin?.end());
  streams.get('resize')?.on('data', (c: Buffer) => { for (const line of c.toString('utf8').split('\n')) if (line.trim()) resize(proc, Buffer.from(line)); });
  session.once('close', () => proc.kill());
  // Into the client's stream at its pace; the stream itself is ended by finish(), after the error stream.
  const out = (to: SpdyStream | undefined) => new Writable({ write: (c: Buffer, _e, cb) => (to && !to.destroyed ? to.write(c, () => cb()) : cb()) });
  const [code] = await Promise.all([proc.exited, pipeOut(proc.stdout, out(streams.get('stdout'))), pipeOut(proc.stderr, out(streams.get('stderr')))]);
  const f = s.final(code);
  finish(v4 ? JSON.stringify(f.status) : f.legacy);
}

/**
 * Port-forward over a SPDY session (SPDY/3.1 directly, or tunneled in a WebSocket): each forwarded
 * connection is a pair of streams, `error` and `data`, with the same `requestID` and `port` headers.
 */
export function servePortForwardSession(session: SpdySession, pod: Obj, podStreams: PodStreams): void {
  const pairs = new Map<string, { error?: SpdyStream; data?: SpdyStream }>();
  session.on('stream', (s: SpdyStream) => {
    const id = s.headers['requestid'] ?? '';
    const pair = pairs.get(id) ?? {};
    if (s.headers['streamtype'] === 'error') pair.error = s;
    else if (s.headers['streamtype'] === 'data') pair.data = s;
    else return s.reset();
    pairs.set(id, pair);
    if (pair.error && pair.data) {
      pairs.delete(id);
      void forward(pair.error, pair.data, pod, podStreams);
    }
  });
}

async function forward(errStream: SpdyStream, data: SpdyStream, pod: Obj, podStreams: PodStreams): Promise<void> {
  const port = Number(data.headers['port']);
  errStream.resume();
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    errStream.end(`invalid port ${JSON.stringify(data.headers['port'] ?? '')}`);
    data.end();
    return;
  }
  let conn: Duplex;
  try {
    conn = await podStreams.portForward(pod, port);
  } catch (err) {
    errStream.end(`error forwarding port ${port} to pod ${pod.metadata.name}: ${err instanceof Error ? err.message : String(err)}`);
    data.end();
    return;
  }
  data.pipe(conn);
  conn.pipe(data);
  conn.on('error', (e) => {
    errStream.end(`error forwarding port ${port} to pod ${pod.metadata.name}: ${e.message}`);
    data.destroy();
  });
  data.on('error', () => conn.destroy());
  data.on('close', () => conn.destroy());
}

export function serveSpdyPortForward(req: IncomingMessage, socket: Duplex, pod: Obj, podStreams: PodStreams): void {
  switchToSpdy(req, socket, ['portforward.k8s.io']);
  servePortForwardSession(new SpdySession(socket), pod, podStreams);
}
