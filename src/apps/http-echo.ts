// http-echo: answers who it is (cluster, pod) and what it saw, over HTTP/1.1 and cleartext HTTP/2
// (prior knowledge, as gRPC and `curl --http2-prior-knowledge` speak it) on one port. The protocol is
// picked per connection by peeking at the client preface. A PROXY v2 header in front of it (the mesh
// gateway sends one to Services annotated `mirror.mesh.io/proxy-protocol: v2`) is read first, and the
// caller it names is shown in every answer on that connection (callerIdentity, callerCluster).
import { createServer as createHttp1, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttp2, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { createServer as createTcp, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { callerOfHeader, parseProxyV2, ProxyProtocolError } from '../api/index.js';
import type { Logger } from '../log/index.js';
import { identityFromEnv, type AppIdentity, type RunningApp } from './identity.js';

export const HTTP_ECHO_LIMITS = { maxDelayMs: 30_000, maxBytes: 64 * 1024 * 1024, maxHeaders: 32 } as const;
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

export interface HttpEchoOptions {
  host: string;
  port: number;
  identity?: AppIdentity;
  logger: Logger;
}

type Req = IncomingMessage | Http2ServerRequest;

/** The caller a connection's PROXY header named, kept on the socket (HTTP/2 requests reach it through
 * their session's socket proxy, which forwards property reads). */
const CALLER = Symbol('mesh-caller');
interface ConnectionCaller {
  callerIdentity: string;
  callerCluster: string;
  callerUnknown?: true;
  callerAddress?: string;
}

function callerOf(req: Req): ConnectionCaller | undefined {
  const c: unknown = Reflect.get(req.socket, CALLER);
  return typeof c === 'object' && c !== null && 'callerIdentity' in c ? (c as ConnectionCaller) : undefined;
}
type Res = ServerResponse | Http2ServerResponse;

const delayQuery = z.object({ ms: z.coerce.number().int().min(0).max(HTTP_ECHO_LIMITS.maxDelayMs) });
const bytesQuery = z.object({ n: z.coerce.number().int().min(0).max(HTTP_ECHO_LIMITS.maxBytes) });

/** The headers worth echoing: who the client thinks it talks to, and tracing/mesh headers. */
export function headerSubset(headers: Req['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (Object.keys(out).length >= HTTP_ECHO_LIMITS.maxHeaders) break;
    if (v === undefined) continue;
    const key = k.toLowerCase();
    if (['host', ':authority', 'user-agent', 'content-type', 'forwarded'].includes(key) || key.startsWith('x-') || key.startsWith('l5d-')) {
      out[key] = (Array.isArray(v) ? v.join(', ') : String(v)).slice(0, 512);
    }
  }
  return out;
}

function send(res: Res, status: number, body: unknown): void {
  const text = JSON.stringify(body) + '\n';
  (res as ServerResponse).writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function startHttpEcho(opts: HttpEchoOptions): Promise<RunningApp> {
  const me = opts.identity ?? identityFromEnv();
  const log = opts.logger;

  const describe = (req: Req, extra: Record<string, unknown> = {}) => {
    const url = new URL(req.url ?? '/', 'http://x');
    return {
      cluster: me.cluster,
      namespace: me.namespace,
      pod: me.pod,
      podIP: me.podIP,
      path: url.pathname,
      method: req.method ?? 'GET',
      protocol: req.httpVersion === '2.0' ? 'HTTP/2' : `HTTP/${req.httpVersion}`,
      headers: headerSubset(req.headers),
      ...callerOf(req),
      ...extra,
    };
  };

  const handle = (req: Req, res: Res): void => {
    const url = new URL(req.url ?? '/', 'http://x');
    // Bodies are counted and dropped: the echo is about who answered, not about storing data.
    let bodyBytes = 0;
    req.on('data', (d: Buffer) => (bodyBytes += d.length));
    req.on('error', () => undefined);
    req.on('end', () => {
      const q = Object.fromEntries(url.searchParams);
      switch (url.pathname) {
        case '/healthz':
          send(res, 200, { status: 'ok', cluster: me.cluster, pod: me.pod });
          return;
        case '/delay': {
          const p = delayQuery.safeParse(q);
          if (!p.success) return send(res, 400, { error: `ms must be an integer from 0 to ${HTTP_ECHO_LIMITS.maxDelayMs}` });
          const timer = setTimeout(() => send(res, 200, describe(req, { delayMs: p.data.ms, bodyBytes })), p.data.ms);
          res.on('close', () => clearTimeout(timer));
          return;
        }
        case '/bytes': {
          const p = bytesQuery.safeParse(q);
          if (!p.success) return send(res, 400, { error: `n must be an integer from 0 to ${HTTP_ECHO_LIMITS.maxBytes}` });
          (res as ServerResponse).writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': p.data.n, 'x-mesh-pod': me.pod, 'x-mesh-cluster': me.cluster });
          Readable.from(chunks(p.data.n)).pipe(res as ServerResponse);
          return;
        }
        default:
          send(res, 200, describe(req, { bodyBytes }));
      }
    });
  };

  const h1 = createHttp1({ keepAliveTimeout: 5_000 }, handle);
  const h2 = createHttp2({}, handle);
  h1.on('clientError', (_err, socket: Socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });
  h2.on('sessionError', (err) => log.debug('http2 session error', { error: err.message }));
  const sockets = new Set<Socket>();

  // Peek until we know the protocol: 'PRI' starts only the HTTP/2 preface, never an HTTP/1 method.
  const tcp = createTcp({ pauseOnConnect: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let head: Buffer = Buffer.alloc(0);
    let proxyDone = false;
    const onReadable = () => {
      let chunk: Buffer | null;
      while ((chunk = socket.read() as Buffer | null) !== null) head = Buffer.concat([head, chunk]);
      if (!proxyDone) {
        const rest = readProxyHeader(socket, head, log);
        if (rest === undefined) return;
        head = rest;
        proxyDone = true;
      }
      const n = Math.min(head.length, 3);
      if (head.length < 3 && H2_PREFACE.subarray(0, n).equals(head.subarray(0, n))) return;
      socket.off('readable', onReadable);
      socket.unshift(head);
      const isH2 = head.subarray(0, 3).equals(H2_PREFACE.subarray(0, 3));
      (isH2 ? h2 : h1).emit('connection', socket);
    };
    socket.on('readable', onReadable);
    socket.setTimeout(60_000, () => socket.destroy());
  });

  return new Promise((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(opts.port, opts.host, () => {
      tcp.off('error', reject);
      const port = (tcp.address() as { port: number }).port;
      log.info('http-echo listening', { host: opts.host, port, cluster: me.cluster, pod: me.pod });
      resolve({
        host: opts.host,
        port,
        close: async () => {
          await new Promise<void>((r) => {
            tcp.close(() => r());
            h1.closeAllConnections();
            for (const s of sockets) s.destroy();
          });
        },
      });
    });
  });
}

/** Reads a PROXY v2 header at the start of `head`, if there is one: returns the bytes after it, or undefined
 * while more are needed (or when the header was malformed and the connection closed). */
function readProxyHeader(socket: Socket, head: Buffer, log: Logger): Buffer | undefined {
  try {
    const p = parseProxyV2(head);
    if (p.kind === 'incomplete') return undefined;
    if (p.kind === 'absent') return head;
    const caller = callerOfHeader(p.header);
    if (caller) {
      const c: ConnectionCaller = { callerIdentity: caller.id, callerCluster: caller.cluster, ...(caller.unknown ? { callerUnknown: true as const } : {}), ...(p.header.source ? { callerAddress: p.header.source.address } : {}) };
      Reflect.set(socket, CALLER, c);
    }
    return head.subarray(p.length);
  } catch (err) {
    if (!(err instanceof ProxyProtocolError)) throw err;
    log.warn('malformed PROXY header; connection closed', { remoteAddress: socket.remoteAddress, error: err.message });
    socket.destroy();
    return undefined;
  }
}

function* chunks(total: number): Generator<Buffer> {
  const block = Buffer.alloc(64 * 1024, 'abcdefghijklmnopqrstuvwxyz0123456789\n');
  let left = total;
  while (left > 0) {
    const n = Math.min(left, block.length);
    yield n === block.length ? block : block.subarray(0, n);
    left -= n;
  }
}
