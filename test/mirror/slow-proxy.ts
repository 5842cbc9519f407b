// An HTTPS proxy in front of a test API server that makes chosen requests slow: it holds each for `delayMs`
// before passing it on, the way an overloaded API server (or network) holds a request before it is
// committed. A request whose client gives up meanwhile is never passed on. Every held request is logged,
// so a test can tell which writes reached the server and which the client abandoned.
import https from 'node:https';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Cluster } from './env.js';

export interface Held {
  method: string;
  path: string;
  /** `forwarded`: reached the API server; `abandoned`: the client closed it while it was held. */
  outcome: 'held' | 'forwarded' | 'abandoned';
}

export interface SlowProxy {
  url: string;
  /** A kubeconfig for the admin user that goes through the proxy. */
  kubeconfigPath: string;
  held: Held[];
  /** Hold matching requests this long (0: pass everything at once). */
  delayMs: number;
  close(): Promise<void>;
}

export async function startSlowProxy(c: Cluster, slow: (method: string, path: string) => boolean, delayMs: number): Promise<SlowProxy> {
  const upstream = new URL(c.api.url);
  const agent = new https.Agent({ ca: c.api.caPem, keepAlive: true });
  const held: Held[] = [];
  const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const up = https.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy()); // the client went away: so does the watch or request upstream
    up.end(body);
  };
  const server = https.createServer({ cert: readFileSync(join(c.api.dataDir, 'apiserver.crt')), key: readFileSync(join(c.api.dataDir, 'apiserver.key')) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (!proxy.delayMs || !slow(req.method ?? '', req.url ?? '')) {
        forward(req, res, body);
        return;
      }
      const h: Held = { method: req.method ?? '', path: req.url ?? '', outcome: 'held' };
      held.push(h);
      const timer = setTimeout(() => {
        h.outcome = 'forwarded';
        forward(req, res, body);
      }, proxy.delayMs);
      res.on('close', () => {
        if (h.outcome !== 'held') return;
        clearTimeout(timer);
        h.outcome = 'abandoned';
      });
    });
  });
  server.requestTimeout = 0; // watches stay open
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const kubeconfigPath = join(c.api.dataDir, 'kubeconfig-slow-proxy');
  writeFileSync(
    kubeconfigPath,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'proxy', cluster: { server: url, 'certificate-authority-data': Buffer.from(c.api.caPem).toString('base64') } }],
      users: [{ name: 'admin', user: { token: c.api.adminToken } }],
      contexts: [{ name: 'proxy', context: { cluster: 'proxy', user: 'admin' } }],
      'current-context': 'proxy',
    }),
  );
  const proxy: SlowProxy = {
    url,
    kubeconfigPath,
    held,
    delayMs,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        agent.destroy();
        server.close(() => r());
      }),
  };
  return proxy;
}
