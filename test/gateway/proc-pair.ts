// Gateways as their own processes (`mesh gateway`, static routes and credential files): cluster-b
// exports services of this test process; cluster-a has one outbound port per (service, transport).
import http from 'node:http';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMesh, type Proc } from '../helpers/process.js';
import { freePort } from '../helpers/ports.js';
import type { RouteFile, Transport, Credentials } from '../../src/gateway/index.js';
import { createPki, writeCredentials, type Pki } from './fixtures.js';

export interface Upstream {
  name: string;
  port: number;
  /** Service port named by the tunnel (the Service's port, not the backend's). */
  servicePort?: number;
}

export interface ProcPair {
  pki: Pki;
  dir: string;
  a: Proc;
  b: Proc;
  bTunnelPort: number;
  bAdminPort: number;
  aAdminPort: number;
  /** outbound port on A for (service, transport). */
  port(service: string, transport: Transport): number;
  bCreds: ReturnType<typeof writeCredentials>;
  aCreds: ReturnType<typeof writeCredentials>;
  startB(): Promise<Proc>;
  cleanup(): void;
}

export async function startProcPair(upstreams: Upstream[], extraArgs: { a?: string[]; b?: string[] } = {}, env: NodeJS.ProcessEnv = {}): Promise<ProcPair> {
  const pki = createPki();
  const dir = mkdtempSync(join(tmpdir(), 'gw-proc-'));
  const bCreds = writeCredentials(pki.leaf('cluster-b'), mkdtempSync(join(dir, 'b-')));
  const aCreds = writeCredentials(pki.leaf('cluster-a'), mkdtempSync(join(dir, 'a-')));
  const bRoutes: RouteFile = {
    exported: upstreams.map((u) => ({ namespace: 'demo', name: u.name, ports: [{ port: u.servicePort ?? 80, backends: [{ address: '127.0.0.1', port: u.port }] }] })),
  };
  writeFileSync(join(dir, 'b.yaml'), JSON.stringify(bRoutes));
  const bTunnelPort = await freePort();
  const common = ['--host', '127.0.0.1', '--outbound-ports', '1024-65535', '--idle-timeout-ms', '60000'];
  const startB = async () => {
    const b = startMesh(['gateway', '--cluster-name', 'cluster-b', '--tunnel-port', String(bTunnelPort), '--admin-port', '0', '--cert', bCreds.cert, '--key', bCreds.key, '--bundle', bCreds.bundle, '--routes', join(dir, 'b.yaml'), ...common, ...(extraArgs.b ?? [])], env);
    // Ready, not just listening: /ready is 200 once every worker runs the routes (a tunnel sent before
    // that is refused, as a kubelet would keep the pod out of the Service until then).
    await waitReady(Number((await b.waitFor(/gateway listening tunnel=\d+ admin=(\d+)/))[1]));
    return b;
  };
  const b = await startB();
  const bAdminPort = Number((await b.waitFor(/admin=(\d+)/))[1]);
  const ports = new Map<string, number>();
  const outbound: NonNullable<RouteFile['outbound']> = [];
  const remotes: NonNullable<RouteFile['remotes']> = [];
  for (const t of ['connect', 'tls-pipe'] as const) {
    // One "cluster" name per transport, both pointing at B, so each route picks its transport.
    remotes.push({ cluster: `cluster-b-${t}`, clusterDomain: 'cluster.local', addresses: ['127.0.0.1'], port: bTunnelPort, transport: t });
    for (const u of upstreams) {
      const p = await freePort();
      ports.set(`${u.name}/${t}`, p);
      outbound.push({ outboundPort: p, remoteCluster: `cluster-b-${t}`, namespace: 'demo', service: u.name, port: u.servicePort ?? 80 });
    }
  }
  writeFileSync(join(dir, 'a.yaml'), JSON.stringify({ outbound, remotes } satisfies RouteFile));
  const a = startMesh(['gateway', '--cluster-name', 'cluster-a', '--tunnel-port', '0', '--admin-port', '0', '--cert', aCreds.cert, '--key', aCreds.key, '--bundle', aCreds.bundle, '--routes', join(dir, 'a.yaml'), ...common, ...(extraArgs.a ?? [])], env);
  const aAdminPort = Number((await a.waitFor(/gateway listening tunnel=\d+ admin=(\d+)/))[1]);
  await a.waitFor(new RegExp(`outbound listener open.*"outboundPort":${[...ports.values()].at(-1)}`));
  await waitReady(aAdminPort);
  return {
    pki,
    dir,
    a,
    b,
    bTunnelPort,
    bAdminPort,
    aAdminPort,
    bCreds,
    aCreds,
    startB,
    port: (service, t) => {
      const p = ports.get(`${service}/${t}`);
      if (p === undefined) throw new Error(`no outbound port for ${service}/${t}`);
      return p;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Polls the admin port's /ready until it answers 200 (bounded: 30 s). */
export async function waitReady(adminPort: number): Promise<void> {
  const until = Date.now() + 30_000;
  for (;;) {
    const status = await new Promise<number>((resolve) => {
      http.get({ host: '127.0.0.1', port: adminPort, path: '/ready' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', () => resolve(0));
    });
    if (status === 200) return;
    if (Date.now() > until) throw new Error(`gateway admin port ${adminPort}: /ready not 200 after 30 s (last ${status})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function renew(pki: Pki, cluster: string, files: { cert: string; key: string }): Credentials {
  const c = pki.leaf(cluster);
  // Key first, then cert: the watcher reloads when both parse; a torn pair is rejected and retried.
  writeFileSync(files.key, c.key);
  writeFileSync(files.cert, c.certChain);
  return c;
}
