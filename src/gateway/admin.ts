// Admin port (4191): /live (the process serves), /ready (identity loaded, watches synced, tunnel port
// listening), /metrics (Prometheus text: one registry, or every worker's aggregated by the primary). Never
// reachable through a tunnel (targets are exported Services only).
import http from 'node:http';
import { GATEWAY_LIVE_PATH, GATEWAY_READY_PATH, METRICS_PATH } from '../api/index.js';
import { listenEach } from './listen.js';

/** Where /metrics comes from: a registry, or the primary's aggregate of its workers' registries. */
export interface MetricsSource {
  metrics(): Promise<string>;
  readonly contentType: string;
}

export interface AdminDeps {
  registry: MetricsSource;
  /** Empty when ready, else what is missing. */
  notReady: () => string[];
}

export function createAdminServer(d: AdminDeps): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET' }).end('method not allowed\n');
      return;
    }
    if (path === GATEWAY_LIVE_PATH) {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('live\n');
    } else if (path === GATEWAY_READY_PATH) {
      const missing = d.notReady();
      if (missing.length === 0) res.writeHead(200, { 'content-type': 'text/plain' }).end('ready\n');
      else res.writeHead(503, { 'content-type': 'text/plain' }).end(`not ready: ${missing.join('; ')}\n`);
    } else if (path === METRICS_PATH) {
      d.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': d.registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${err.message}\n`),
      );
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: try ${GATEWAY_LIVE_PATH}, ${GATEWAY_READY_PATH}, ${METRICS_PATH}\n`);
    }
  });
}

/** The admin port on every address (listen.ts), one http.Server each with the same handlers. */
export interface AdminServers {
  port: number;
  /** Closes every listener and connection. */
  close(): Promise<void>;
}

/** Listens on port (0: any free port) at each of `hosts`; rejects on a bind error. */
export async function listenAdmin(d: AdminDeps, port: number, hosts: readonly string[]): Promise<AdminServers> {
  const bound = await listenEach(hosts, port, () => createAdminServer(d));
  return {
    port: bound.port,
    close: () =>
      Promise.all(bound.servers.map((s) => new Promise<void>((r) => {
        s.closeAllConnections();
        s.close(() => r());
      }))).then(() => undefined),
  };
}
