// `mesh dashboard`'s web server: the pages (one HTML shell, browser modules, a stylesheet), a JSON endpoint
// per page, and a server-sent event stream that says which of them changed. Read-only, loopback by
// default, and every request vetted (security.ts) before anything else.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { hostPort } from '../api/index.js';
import type { Logger } from '../log/index.js';
import { loadAssets, type Asset } from './assets.js';
import { Collector, type RunChecks } from './collector.js';
import { DashboardError } from './errors.js';
import { SECURITY_HEADERS, isLoopback, policyFor, vet, type Policy } from './security.js';

export interface DashboardOptions {
  contexts: string[];
  kubeconfig?: string;
  address: string;
  port: number;
  /** How often clusters are sampled (gateway metrics, pods, API reachability). */
  intervalMs: number;
  /** How much traffic history is kept and shown. */
  windowMs: number;
  checkIntervalMs: number;
  timeoutMs?: number;
  runChecks?: RunChecks;
  logger: Logger;
}

export interface RunningDashboard {
  url: string;
  port: number;
  /** The address is not loopback: anyone who reaches it sees the clusterset. */
  exposed: boolean;
  collector: Collector;
  close(): Promise<void>;
}

/** Pages of the single-page app; each serves index.html, which renders the one the path names. */
export const PAGES = ['/', '/topology', '/services', '/traffic', '/identity', '/check'] as const;
const MAX_STREAMS = 32;
const HEARTBEAT_MS = 15_000;

const noQuery = z.object({}).strict();
const QUERIES = {
  overview: noQuery,
  topology: noQuery,
  services: noQuery,
  identity: noQuery,
  traffic: z.object({ minutes: z.coerce.number().int().min(1).max(15).optional() }).strict(),
  check: z.object({ run: z.enum(['true']).optional() }).strict(),
  events: noQuery,
} as const;
type Endpoint = keyof typeof QUERIES;

function send(res: http.ServerResponse, status: number, type: string, body: string | Buffer, head: boolean): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(head ? undefined : body);
}

function sendJson(res: http.ServerResponse, status: number, value: unknown, head: boolean): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value), head);
}

/** Routes and answers requests; holds the open event streams. */
class Handler {
  readonly streams = new Set<http.ServerResponse>();
  policy: Policy;

  constructor(
    private readonly collector: Collector,
    private readonly assets: Map<string, Asset>,
    private readonly logger: Logger,
    address: string,
    port: number,
  ) {
    this.policy = policyFor(address, port);
  }

  handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    const path = url.pathname;
    const page = (PAGES as readonly string[]).includes(path);
    const verdict = vet(req.method, req.headers, this.policy, page);
    if (!verdict.ok) {
      this.logger.warn('request refused', { path, status: verdict.status, reason: verdict.reason });
      if (verdict.status === 405) res.setHeader('Allow', 'GET, HEAD');
      return sendJson(res, verdict.status, { error: verdict.reason }, false);
    }
    const head = req.method === 'HEAD';
    if (page) return this.asset(res, this.assets.get('index.html'), head);
    if (path.startsWith('/assets/')) return this.asset(res, this.assets.get(path.slice('/assets/'.length)), head);
    const m = /^\/api\/([a-z]+)$/.exec(path);
    if (!m || !(m[1] in QUERIES)) return sendJson(res, 404, { error: `no such page or endpoint: ${path}` }, head);
    const endpoint = m[1] as Endpoint;
    const q = QUERIES[endpoint].safeParse(Object.fromEntries(url.searchParams));
    if (!q.success) return sendJson(res, 400, { error: q.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`).join('; ') }, head);
    if (endpoint === 'events') return this.stream(req, res);
    sendJson(res, 200, this.answer(endpoint, q.data), head);
  }

  private answer(endpoint: Exclude<Endpoint, 'events'>, q: Record<string, unknown>): unknown {
    const c = this.collector;
    switch (endpoint) {
      case 'overview': return c.overview();
      case 'topology': return c.topology();
      case 'services': return c.services();
      case 'identity': return c.identity();
      case 'traffic': return c.trafficView(typeof q.minutes === 'number' ? q.minutes * 60_000 : undefined);
      case 'check':
        if (q.run === 'true') void c.runCheck();
        return c.checkView();
    }
  }

  private asset(res: http.ServerResponse, a: Asset | undefined, head: boolean): void {
    if (!a) return sendJson(res, 404, { error: 'no such asset' }, head);
    send(res, 200, a.type, a.body, head);
  }

  /** Server-sent events: the versions now, then on every change, and a comment now and then to keep it open. */
  private stream(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.streams.size >= MAX_STREAMS) return sendJson(res, 503, { error: `too many open event streams (${MAX_STREAMS})` }, false);
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
    const write = (v: unknown) => res.write(`event: versions\ndata: ${JSON.stringify(v)}\n\n`);
    res.write('retry: 2000\n\n');
    write(this.collector.versions());
    this.streams.add(res);
    const unsubscribe = this.collector.subscribe(write);
    const beat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    req.on('close', () => {
      clearInterval(beat);
      unsubscribe();
      this.streams.delete(res);
    });
  }
}

export async function startDashboard(o: DashboardOptions): Promise<RunningDashboard> {
  const assets = loadAssets();
  const collector = new Collector({
    contexts: o.contexts,
    kubeconfig: o.kubeconfig,
    intervalMs: o.intervalMs,
    windowMs: o.windowMs,
    checkIntervalMs: o.checkIntervalMs,
    timeoutMs: o.timeoutMs ?? Math.min(5_000, Math.max(1_000, o.intervalMs)),
    ...(o.runChecks ? { runChecks: o.runChecks } : {}),
    logger: o.logger,
  });
  const handler = new Handler(collector, assets, o.logger, o.address, o.port);
  const server = http.createServer((req, res) => {
    try {
      handler.handle(req, res);
    } catch (err) {
      o.logger.error('request failed', { url: req.url, error: (err as Error).message });
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' }, false);
      else res.destroy();
    }
  });
  await listen(server, o.address, o.port);
  const port = (server.address() as AddressInfo).port;
  // With --port 0 the Host header names the port the system picked.
  handler.policy = policyFor(o.address, port);
  await collector.start();
  return {
    url: `http://${hostPort(o.address, port)}/`,
    port,
    exposed: !isLoopback(o.address),
    collector,
    async close() {
      collector.stop();
      for (const s of handler.streams) s.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function listen(server: http.Server, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(new DashboardError('PortInUse', `port ${port} on ${address} is in use`, 'pass --port with another port, or --port 0 for any free one'));
      else reject(new DashboardError('Listen', `cannot listen on ${address}:${port}: ${err.message}`));
    });
    server.listen(port, address, () => resolve());
  });
}
