// The HTTPS front: the server, its timeouts and error handling. Routing and the handlers by verb live in
// http/ (router.ts, read.ts, watch.ts, write.ts, and one file per subresource).
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { Logger } from '../log/index.js';
import type { Security } from './auth/types.js';
import { createDiscovery } from './discovery.js';
import { createOpenApi } from './openapi/openapi.js';
import { toStatus } from './errors.js';
import type { ServerDeps } from './http/context.js';
import { sendError } from './http/respond.js';
import { route } from './http/router.js';
import { WatchHub } from './http/watch.js';
import type { PodStreams } from './http/pod-streams.js';
import { refuseUpgrade, routeUpgrade } from './http/upgrade.js';
import type { Rest } from './rest.js';

export interface ServerOptions {
  certPem: string;
  keyPem: string;
  security: Security;
  rest: Rest;
  log: Logger;
  /** Largest request body accepted (413 above). */
  maxBodyBytes: number;
  /** How often watches that asked for bookmarks get one. */
  bookmarkIntervalMs: number;
}

export interface ApiHttpServer {
  server: https.Server;
  /** Ends every open watch and exec/port-forward session (before close, so keep-alive connections can drain). */
  endWatches(): void;
  /** Where pods/log, pods/exec and pods/portforward go (the sandbox kubelet, once it runs). */
  setPodStreams(p: PodStreams): void;
}

export function createApiHttpServer(o: ServerOptions): ApiHttpServer {
  const { rest, log } = o;
  const deps: ServerDeps = {
    rest,
    security: o.security,
    log,
    maxBodyBytes: o.maxBodyBytes,
    discovery: createDiscovery(rest.registry),
    openapi: createOpenApi(rest.registry, () => rest.crds.all()),
    watches: new WatchHub(rest.store, o.bookmarkIntervalMs),
  };
  const server = https.createServer({ cert: o.certPem, key: o.keyPem, keepAlive: true }, (req, res) => {
    if (log.isDebugEnabled()) {
      const started = performance.now();
      res.on('finish', () => log.debug('request', { method: req.method, path: req.url, code: res.statusCode, ms: Math.round(performance.now() - started) }));
    }
    route(deps, req, res).catch((err: unknown) => {
      const st = toStatus(err);
      if (st.code >= 500) log.error('request failed', { method: req.method, path: req.url, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      sendError(res, err);
    });
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 70_000;
  server.requestTimeout = 0;
  server.on('clientError', (err, socket) => {
    log.debug('client connection error', { error: err.message });
    socket.destroy();
  });
  server.on('tlsClientError', (err) => log.debug('TLS handshake failed', { error: err.message }));
  // WebSocket and SPDY/3.1 upgrades: pods/exec and pods/portforward.
  const upgraded = new Set<Duplex>();
  server.on('upgrade', (req, socket: Duplex, head: Buffer) => {
    upgraded.add(socket);
    socket.on('close', () => upgraded.delete(socket));
    socket.on('error', (err) => log.debug('upgraded connection error', { path: req.url, error: err.message }));
    routeUpgrade(deps, req, socket, head).catch((err: unknown) => {
      const st = toStatus(err);
      if (st.code >= 500) log.error('upgrade failed', { path: req.url, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      refuseUpgrade(socket, err);
    });
  });
  return {
    server,
    endWatches: () => {
      deps.watches.endAll();
      // Exec and port-forward sessions are not the HTTP server's connections any more: end them too.
      for (const s of upgraded) s.destroy();
    },
    setPodStreams: (p) => {
      deps.podStreams = p;
    },
  };
}
