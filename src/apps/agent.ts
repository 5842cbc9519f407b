// traffic-agent: the traffic client as a long-running pod. The end-to-end runner cannot start a process
// inside a real cluster's pod network, so it asks this agent (reached through a NodePort Service) to run
// the client from where a workload of that cluster stands: its DNS, its ClusterIPs, its routes.
//   POST /run   body: client options (url | grpc | tcp, count, intervalMs, timeoutMs) → the ClientReport
//   GET  /healthz
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../log/index.js';
import { ClientUsageError, runClient, type ClientOptions } from './client.js';
import type { RunningApp } from './identity.js';

export const AGENT_LIMITS = {
  /** A run request is a small JSON object. */
  maxBodyBytes: 16 * 1024,
  /** Runs at once; more are answered 429 so a runaway caller cannot pile up sockets. */
  maxConcurrentRuns: 32,
} as const;

export interface TrafficAgentOptions {
  host: string;
  port: number;
  logger: Logger;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > AGENT_LIMITS.maxBodyBytes) {
        reject(new ClientUsageError(`request body over ${AGENT_LIMITS.maxBodyBytes} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export function startTrafficAgent(opts: TrafficAgentOptions): Promise<RunningApp> {
  let running = 0;
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      opts.logger.warn('traffic-agent request failed', { error: err instanceof Error ? err.message : String(err) });
      if (!res.headersSent) send(res, 500, { error: 'internal error' });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method === 'GET' && req.url === '/healthz') return send(res, 200, { ok: true });
    if (req.url !== '/run') return send(res, 404, { error: `no such path ${req.url ?? ''}; use POST /run or GET /healthz` });
    if (req.method !== 'POST') return send(res, 405, { error: 'use POST /run' });
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req));
    } catch (err) {
      return send(res, 400, { error: `invalid run request: ${err instanceof Error ? err.message : String(err)}` });
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return send(res, 400, { error: 'invalid run request: the body must be a JSON object' });
    if (running >= AGENT_LIMITS.maxConcurrentRuns) return send(res, 429, { error: `${running} runs in progress; try again later` });
    running++;
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    try {
      // runClient validates the options (ClientOptionsSchema) and throws ClientUsageError on bad ones.
      const report = await runClient({ ...(body as ClientOptions), signal: abort.signal });
      send(res, 200, report);
    } catch (err) {
      send(res, err instanceof ClientUsageError ? 400 : 500, { error: err instanceof Error ? err.message : String(err) });
    } finally {
      running--;
    }
  }

  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : opts.port;
      opts.logger.info('traffic-agent listening', { host: opts.host, port });
      resolve({
        host: opts.host,
        port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            for (const s of sockets) s.destroy();
          }),
      });
    });
  });
}
