// The gateway bench's subjects, each a two-hop setup on loopback with the same certificates: ours over a
// transport, the Node floor (node-relay.ts), nginx (stream module) and HAProxy. Each returns where a client
// connects (echo and sink ports) and the hops' processes (for CPU and RSS).
import { writeFileSync, chmodSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { startProcess, startMesh, meshBin, repoRoot, type Proc } from '../test/helpers/process.js';
import { freePort } from '../test/helpers/ports.js';
import type { Credentials, RouteFile, Transport } from '../src/gateway/index.js';
import { childrenOf, connect, sleep, type Subject } from './gateway-load.js';

export const NODE_FLOOR = 'Node floor (bare TLS relay)';
/** Ours (connect) with issue 15's authorization rules on every export: compared with connect in the same run. */
export const POLICY_SUBJECT = 'mesh gateway (connect, 50-entry allow list + export-to)';

export type Started = Promise<{ subject: Subject; procs: Proc[] }>;
type Creds = ReturnType<typeof writeCreds>;
type Upstream = { echo: number; sink: number };

export function which(cmd: string): string | undefined {
  for (const d of ['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/sbin', '/usr/local/bin']) if (existsSync(join(d, cmd))) return join(d, cmd);
  return undefined;
}

export function writeCreds(dir: string, name: string, c: Credentials): { cert: string; key: string; pem: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const pem = join(dir, `${name}.pem`);
  writeFileSync(cert, c.certChain);
  writeFileSync(key, c.key);
  writeFileSync(pem, c.certChain + c.key);
  // nginx/haproxy workers may drop privileges: keep the bench's throwaway keys readable.
  for (const f of [cert, key, pem]) chmodSync(f, 0o644);
  return { cert, key, pem };
}

/** Variants of ours: `attested` = the bench client (127.0.0.1) is a known pod, so every tunnel carries a
 * real caller id, and B sends PROXY v2 to the targets (the load server drops it): all of issue 15's work
 * per tunnel. `bin` = another build's bin/mesh.js (GATEWAY_BENCH_BASE: the baseline before a change). */
export interface OursVariant {
  /** B's exports carry benchPolicy() (the authorization bench). */
  policy?: boolean;
  attested?: boolean;
  /** With `attested`: B also sends PROXY v2 to the targets. */
  proxyProtocol?: boolean;
  bin?: string;
  label?: string;
  /** Extra environment for both hops. */
  env?: NodeJS.ProcessEnv;
  /** Node flags for both hops in place of startMesh's (e.g. --cpu-prof for bench/gateway-bulk.ts). */
  nodeArgs?: string[];
}

/** Ours over one transport; `workers` > 1 runs node:cluster workers on both hops, accepting as `sched` says
 * (rr: the primary accepts and hands connections round-robin; none: the workers accept themselves). */
/** Issue 15's bench policy on B's exports: 50 allow-list entries with the one that admits cluster-a's gateway
 * last (every entry is tried), and an export-to of 10 clusters with cluster-a last. */
export function benchPolicy(): { allowedIdentities: string[]; exportTo: string } {
  const allowedIdentities = [
    ...Array.from({ length: 24 }, (_, i) => `spiffe://mesh.local/ns/team-${i}/sa/client`),
    ...Array.from({ length: 15 }, (_, i) => `spiffe://mesh.local/ns/batch-${i}/*`),
    ...Array.from({ length: 10 }, (_, i) => `cluster:other-${i}`),
    'cluster:cluster-a',
  ];
  return { allowedIdentities, exportTo: [...Array.from({ length: 9 }, (_, i) => `other-${i}`), 'cluster-a'].join(',') };
}

export async function startOurs(dir: string, transport: Transport, a: Creds, b: Creds, bundle: string, upstream: Upstream, workers = 1, sched?: 'rr' | 'none', v: OursVariant = {}): Started {
  const policy = v.policy === true;
  const tag = `${workers > 1 ? `${transport}-${workers}w-${sched ?? 'default'}` : transport}${policy ? '-policy' : ''}${v.label ? `-${v.label.replace(/\W+/g, '-')}` : ''}`;
  const base = workers > 1 ? `mesh gateway (${transport}, ${workers} workers${sched ? `, ${sched === 'rr' ? 'SCHED_RR' : 'SCHED_NONE'}` : ''})` : policy ? POLICY_SUBJECT : `mesh gateway (${transport})`;
  const name = v.label ? `${base.slice(0, -1)}, ${v.label})` : base;
  const mesh = (args: string[], env: NodeJS.ProcessEnv) =>
    v.bin || v.nodeArgs ? startProcess(process.execPath, [...(v.nodeArgs ?? []), v.bin ?? meshBin, ...args], env) : startMesh(args, env);
  const rules = { ...(policy ? benchPolicy() : {}), ...(v.attested && v.proxyProtocol ? { proxyProtocol: 'v2' as const } : {}) };
  const env = { MESH_LOG_LEVEL: 'warn', ...(sched ? { NODE_CLUSTER_SCHED_POLICY: sched } : {}), ...v.env };
  const bRoutes = join(dir, `b-${tag}.yaml`);
  const route: RouteFile = {
    exported: [
      { namespace: 'bench', name: 'echo', ...rules, ports: [{ port: 7, backends: [{ address: '127.0.0.1', port: upstream.echo }] }] },
      { namespace: 'bench', name: 'sink', ...rules, ports: [{ port: 9, backends: [{ address: '127.0.0.1', port: upstream.sink }] }] },
    ],
  };
  writeFileSync(bRoutes, JSON.stringify(route));
  const common = ['--host', '127.0.0.1', '--admin-port', '0', '--outbound-ports', '1024-65535', '--bundle', bundle, '--transport', transport, '--workers', String(workers)];
  const gb = mesh(['gateway', '--cluster-name', 'cluster-b', '--tunnel-port', '0', '--cert', b.cert, '--key', b.key, '--routes', bRoutes, ...common], env);
  const m = await gb.waitFor(/gateway listening tunnel=(\d+)/);
  const tunnel = Number(m[1]);
  const echoPort = await freePort();
  const sinkPort = await freePort();
  const aRoutes = join(dir, `a-${tag}.yaml`);
  writeFileSync(
    aRoutes,
    JSON.stringify({
      outbound: [
        { outboundPort: echoPort, remoteCluster: 'cluster-b', namespace: 'bench', service: 'echo', port: 7 },
        { outboundPort: sinkPort, remoteCluster: 'cluster-b', namespace: 'bench', service: 'sink', port: 9 },
      ],
      remotes: [{ cluster: 'cluster-b', addresses: ['127.0.0.1'], port: tunnel, transport }],
      ...(v.attested ? { callers: [{ address: '127.0.0.1', namespace: 'bench', serviceAccount: 'client' }] } : {}),
    } satisfies RouteFile),
  );
  const ga = mesh(['gateway', '--cluster-name', 'cluster-a', '--tunnel-port', '0', '--cert', a.cert, '--key', a.key, '--routes', aRoutes, ...common], env);
  await ga.waitFor(/gateway listening/);
  await waitPort(echoPort);
  await waitPort(sinkPort);
  await sleep(300); // pools warm
  return { subject: { name, echoPort, sinkPort, hopA: () => [ga.pid, ...childrenOf(ga.pid)], hopB: () => [gb.pid, ...childrenOf(gb.pid)] }, procs: [ga, gb] };
}

/** The Node floor (bench/node-relay.ts): the same two hops with only Node's net/tls and stream.pipe. */
export async function startNodeRelay(a: Creds, b: Creds, bundle: string, upstream: Upstream): Started {
  const script = join(repoRoot, 'dist/bench/node-relay.js');
  const nb = startProcess(process.execPath, [script, 'b', b.cert, b.key, bundle, String(upstream.echo), String(upstream.sink)]);
  const pb = await nb.waitFor(/\{"echo":(\d+),"sink":(\d+)\}/);
  const na = startProcess(process.execPath, [script, 'a', a.cert, a.key, bundle, pb[1]!, pb[2]!]);
  const pa = await na.waitFor(/\{"echo":(\d+),"sink":(\d+)\}/);
  return { subject: { name: NODE_FLOOR, echoPort: Number(pa[1]), sinkPort: Number(pa[2]), hopA: () => [na.pid], hopB: () => [nb.pid] }, procs: [na, nb] };
}

async function waitPort(port: number, procs: Proc[] = []): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      (await connect(port)).destroy();
      return;
    } catch {
      await sleep(50);
    }
  }
  throw new Error(`port ${port} never opened\n${procs.map((p) => p.stderr().slice(-1500)).join('\n')}`);
}

export async function startNginx(bin: string, dir: string, a: Creds, b: Creds, bundle: string, upstream: Upstream): Started {
  const [pBe, pBs, pAe, pAs] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const mod = ['/usr/lib/nginx/modules/ngx_stream_module.so', '/usr/share/nginx/modules/ngx_stream_module.so'].find(existsSync);
  const conf = (name: string, servers: string) => {
    const file = join(dir, `nginx-${name}.conf`);
    writeFileSync(
      file,
      `${mod ? `load_module ${mod};` : ''}
daemon off; master_process on; worker_processes 1; pid ${dir}/nginx-${name}.pid; error_log ${dir}/nginx-${name}.err warn;
events { worker_connections 8192; }
stream {
${servers}
}
`,
    );
    return file;
  };
  const bServer = (listen: number, to: number) => `  server {
    listen 127.0.0.1:${listen} ssl; proxy_pass 127.0.0.1:${to}; proxy_half_close on;
    ssl_certificate ${b.cert}; ssl_certificate_key ${b.key};
    ssl_client_certificate ${bundle}; ssl_verify_client on; ssl_verify_depth 3;
    ssl_protocols TLSv1.3; ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256;
  }`;
  // proxy_ssl_verify stays off: nginx checks DNS names, and SPIFFE leaves carry only a URI SAN.
  const aServer = (listen: number, to: number) => `  server {
    listen 127.0.0.1:${listen}; proxy_pass 127.0.0.1:${to}; proxy_half_close on;
    proxy_ssl on; proxy_ssl_certificate ${a.cert}; proxy_ssl_certificate_key ${a.key};
    proxy_ssl_trusted_certificate ${bundle}; proxy_ssl_session_reuse on;
    proxy_ssl_protocols TLSv1.3; proxy_ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256;
  }`;
  const nb = startProcess(bin, ['-p', dir, '-c', conf('b', bServer(pBe, upstream.echo) + '\n' + bServer(pBs, upstream.sink))]);
  const na = startProcess(bin, ['-p', dir, '-c', conf('a', aServer(pAe, pBe) + '\n' + aServer(pAs, pBs))]);
  await waitPort(pAe, [na, nb]);
  await waitPort(pAs, [na, nb]);
  return { subject: { name: 'nginx (stream)', echoPort: pAe, sinkPort: pAs, hopA: () => [na.pid, ...childrenOf(na.pid)], hopB: () => [nb.pid, ...childrenOf(nb.pid)] }, procs: [na, nb] };
}

export async function startHaproxy(bin: string, dir: string, a: Creds, b: Creds, bundle: string, upstream: Upstream): Started {
  const [pBe, pBs, pAe, pAs] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const global = `global
  nbthread 1
  maxconn 8000
  ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256
  ssl-default-server-ciphersuites TLS_AES_128_GCM_SHA256
  ssl-default-bind-options ssl-min-ver TLSv1.3
  ssl-default-server-options ssl-min-ver TLSv1.3
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
`;
  const bCfg = join(dir, 'haproxy-b.cfg');
  writeFileSync(
    bCfg,
    `${global}
listen echo
  bind 127.0.0.1:${pBe} ssl crt ${b.pem} ca-file ${bundle} verify required
  server s 127.0.0.1:${upstream.echo}
listen sink
  bind 127.0.0.1:${pBs} ssl crt ${b.pem} ca-file ${bundle} verify required
  server s 127.0.0.1:${upstream.sink}
`,
  );
  // verify none on the client hop, as for nginx (SPIFFE URI SANs only; no DNS name to check).
  const aCfg = join(dir, 'haproxy-a.cfg');
  writeFileSync(
    aCfg,
    `${global}
listen echo
  bind 127.0.0.1:${pAe}
  server b 127.0.0.1:${pBe} ssl crt ${a.pem} ca-file ${bundle} verify none
listen sink
  bind 127.0.0.1:${pAs}
  server b 127.0.0.1:${pBs} ssl crt ${a.pem} ca-file ${bundle} verify none
`,
  );
  const hb = startProcess(bin, ['-db', '-f', bCfg]);
  const ha = startProcess(bin, ['-db', '-f', aCfg]);
  await waitPort(pAe, [ha, hb]);
  await waitPort(pAs, [ha, hb]);
  return { subject: { name: 'HAProxy', echoPort: pAe, sinkPort: pAs, hopA: () => [ha.pid], hopB: () => [hb.pid] }, procs: [ha, hb] };
}

