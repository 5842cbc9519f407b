// Two in-process gateways back to back: cluster-a's outbound port → cluster-b's tunnel port → an echo
// service exported by cluster-b. Real sockets, real mTLS; both gateways on loopback.
import { freePort } from '../helpers/ports.js';
import { startGateway, MemoryRouteSource, MemoryCredentials, GatewayMetrics, type Gateway, type Transport, type RouteFile, type GatewayConfigInput, type GatewayDeps } from '../../src/gateway/index.js';
import { createPki, startEchoServer, type Pki } from './fixtures.js';

export interface Pair {
  pki: Pki;
  a: Gateway;
  b: Gateway;
  aRoutes: MemoryRouteSource;
  bRoutes: MemoryRouteSource;
  aCreds: MemoryCredentials;
  bCreds: MemoryCredentials;
  echo: Awaited<ReturnType<typeof startEchoServer>>;
  /** cluster-a's outbound port for echo.demo:7 in cluster-b. */
  port: number;
  bRouteFile(extra?: Partial<RouteFile>): RouteFile;
  close(): Promise<void>;
}

/** `aDeps`: e.g. a logger for cluster-a's gateway, whose lines the test reads. */
export async function startPair(transport: Transport, over: Partial<GatewayConfigInput> = {}, pki = createPki(), aDeps: Pick<GatewayDeps, 'logger'> = {}): Promise<Pair> {
  const started: { close(): Promise<void> }[] = [];
  try {
    const echo = await startEchoServer();
    started.push(echo);
    const bCreds = new MemoryCredentials(pki.leaf('cluster-b'));
    const aCreds = new MemoryCredentials(pki.leaf('cluster-a'));
    const bRouteFile = (extra: Partial<RouteFile> = {}): RouteFile => ({
      exported: [{ namespace: 'demo', name: 'echo', ports: [{ port: 7, name: 'tcp', backends: [{ address: '127.0.0.1', port: echo.port }] }] }],
      ...extra,
    });
    const bRoutes = new MemoryRouteSource();
    bRoutes.set(bRouteFile());
    const common = { host: '127.0.0.1', tunnelPort: 0, adminPort: 0, outboundPorts: { min: 1024, max: 65535 }, ...over };
    const b = await startGateway({ clusterName: 'cluster-b', ...common }, { credentials: bCreds, routes: bRoutes, metrics: new GatewayMetrics() });
    started.unshift(b);
    const port = await freePort();
    const aRoutes = new MemoryRouteSource();
    aRoutes.set({
      outbound: [{ outboundPort: port, remoteCluster: 'cluster-b', namespace: 'demo', service: 'echo', port: 7 }],
      remotes: [{ cluster: 'cluster-b', addresses: ['127.0.0.1'], port: b.tunnelPort, transport }],
    });
    const a = await startGateway({ clusterName: 'cluster-a', ...common }, { credentials: aCreds, routes: aRoutes, metrics: new GatewayMetrics(), ...aDeps });
    started.unshift(a);
    // An upper bound only (it returns as soon as A listens and has a pooled connection): a CI machine
    // running every test file at once once took over 5 s here.
    await waitUntil(() => a.outboundPorts().includes(port) && a.poolReady('cluster-b') > 0, 30_000, 'gateway A ready');
    return {
      pki, a, b, aRoutes, bRoutes, aCreds, bCreds, echo, port, bRouteFile,
      close: () => closeAll(started),
    };
  } catch (err) {
    // Whatever did start is stopped, or its sockets keep the test file alive until the runner's timeout.
    await closeAll(started);
    throw err;
  }
}

async function closeAll(parts: { close(): Promise<void> }[]): Promise<void> {
  for (const part of parts) await part.close();
}

export async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
