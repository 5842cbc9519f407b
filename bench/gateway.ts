// `npm run bench -- gateway`: client → gateway A → gateway B → server on loopback, beside (same run, same
// certificates, TLS 1.3 with TLS_AES_128_GCM_SHA256): the direct connection (the limit), nginx (stream
// module, proxy_ssl → ssl + ssl_verify_client), HAProxy (ssl server → ssl bind + verify required), the Node
// floor (bench/node-relay.ts) and ours over both transports (HTTP/2 CONNECT, tls-pipe). Every hop is its
// own process with one worker.
// Figures: 64 B round trips/s on one connection, bulk MB/s on one connection, new connections/s
// (connect, 64 B each way, close; 8 and 64 concurrent), p50/p99 of 1 KiB requests at a fixed rate, gateway
// RSS idle and per 1,000 idle tunneled connections, and the CPU both hops spend per round trip / MB / new
// connection. Bounded: 1.5 s per figure x 3 interleaved rounds (GATEWAY_BENCH_SECONDS,
// GATEWAY_BENCH_ROUNDS; GATEWAY_BENCH_ONLY=nginx,connect picks subjects), about 8 min in all with the build.
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, chmodSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProcess, startMesh, stopAll, repoRoot, type Proc } from '../test/helpers/process.js';
import { freePort } from '../test/helpers/ports.js';
import { createPki } from '../test/gateway/fixtures.js';
import type { Credentials, RouteFile, Transport } from '../src/gateway/index.js';
import type { BenchResult, BenchRow } from './report.js';

const SECONDS = Number(process.env.GATEWAY_BENCH_SECONDS ?? 1.5);
const IDLE_CONNS = 1000;
const LATENCY_RATE = 1000; // requests/s, over LATENCY_CONNS connections
const LATENCY_CONNS = 8;
/** New-connection loops: 8 (bound by each connection's round trips through both hops: every setup here
 * leaves CPU idle) and 64 (bound by CPU: the capacity a busy gateway pair has for new connections). */
const CONN_CONCURRENCY = 8;
const CONN_CONCURRENCY_HIGH = 64;
const NODE_FLOOR = 'Node floor (bare TLS relay)';

interface Subject {
  name: string;
  echoPort: number;
  sinkPort: number;
  /** The first hop's processes (for RSS). */
  hopA?: () => number[];
  hopB?: () => number[];
}

/** CPU cost of the work, summed over both hops' processes (all threads, nginx/HAProxy workers included):
 * what other load on this shared machine does not distort, unlike rates. */
interface Cpu {
  /** CPU-µs per 64 B round trip. */
  rtUs?: number;
  /** CPU-ms per MB of bulk upload. */
  bulkMs?: number;
  /** CPU-µs per new connection. */
  connUs?: number;
}

interface Figures {
  rt: number;
  bulk: number;
  conns: number;
  connsHigh: number;
  p50: number;
  p99: number;
  idleRss?: number;
  /** RSS per idle tunnel once settled, and 0.5 s after opening them. */
  perConnKb?: number;
  perConnBurstKb?: number;
  cpu: Cpu;
}

function which(cmd: string): string | undefined {
  for (const d of ['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/sbin', '/usr/local/bin']) if (existsSync(join(d, cmd))) return join(d, cmd);
  return undefined;
}

function rssKb(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      total += m ? Number(m[1]) : 0;
    } catch {
      // gone
    }
  }
  return total;
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

const CLK_TCK = 100; // USER_HZ on Linux (getconf CLK_TCK)

/** utime + stime (seconds) of the processes, all their threads included. */
function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      // Fields after the ")" of the command name: state is the 3rd field, utime the 14th, stime the 15th.
      const rest = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').pop()!.split(' ');
      ticks += Number(rest[11]) + Number(rest[12]);
    } catch {
      // gone
    }
  }
  return ticks / CLK_TCK;
}

/** Runs a workload and returns its result with the CPU seconds the hops spent meanwhile. */
async function withCpu<T>(subject: Subject, work: () => Promise<T>): Promise<[T, number | undefined]> {
  if (!subject.hopA) return [await work(), undefined];
  const pids = [...subject.hopA(), ...(subject.hopB?.() ?? [])];
  const before = cpuSeconds(pids);
  const r = await work();
  return [r, cpuSeconds(pids) - before];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', noDelay: true });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** 64 B request/response on one connection for SECONDS. */
async function roundTrips(port: number): Promise<{ rate: number; units: number }> {
  const s = await connect(port);
  const msg = Buffer.alloc(64, 7);
  let count = 0;
  let got = 0;
  const until = performance.now() + SECONDS * 1000;
  const start = performance.now();
  await new Promise<void>((resolve, reject) => {
    s.on('error', reject);
    s.on('data', (c: Buffer) => {
      got += c.length;
      if (got < 64) return;
      got -= 64;
      count++;
      if (performance.now() >= until) return resolve();
      s.write(msg);
    });
    s.write(msg);
  });
  const secs = (performance.now() - start) / 1000;
  s.destroy();
  return { rate: count / secs, units: count };
}

/** Upload to the sink for SECONDS on one connection; the sink's byte count must match. */
async function bulk(port: number): Promise<{ rate: number; units: number }> {
  const s = await connect(port);
  const chunk = Buffer.alloc(64 * 1024, 1);
  let sent = 0;
  const start = performance.now();
  const until = start + SECONDS * 1000;
  let reply = '';
  const done = new Promise<void>((resolve, reject) => {
    s.on('error', reject);
    s.on('data', (c: Buffer) => (reply += c.toString()));
    s.on('end', () => resolve());
  });
  await new Promise<void>((resolve) => {
    const pump = () => {
      while (performance.now() < until) {
        sent += chunk.length;
        if (!s.write(chunk)) return void s.once('drain', pump);
      }
      s.end();
      resolve();
    };
    pump();
  });
  await done;
  const secs = (performance.now() - start) / 1000;
  s.destroy();
  if (Number(reply) !== sent) throw new Error(`bulk: sink counted ${reply} bytes, sent ${sent}`);
  return { rate: sent / 1e6 / secs, units: sent / 1e6 };
}

/** New connections: connect, 64 B each way, close; `loops` concurrent loops for SECONDS. */
async function newConns(port: number, loops: number): Promise<{ rate: number; units: number }> {
  const msg = Buffer.alloc(64, 3);
  let count = 0;
  let failed = 0;
  const start = performance.now();
  const until = start + SECONDS * 1000;
  const one = () =>
    new Promise<void>((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1', noDelay: true, allowHalfOpen: false });
      let got = 0;
      s.on('connect', () => s.write(msg));
      s.on('data', (c: Buffer) => {
        got += c.length;
        if (got >= 64) s.end();
      });
      s.on('error', () => {});
      s.on('close', () => {
        if (got >= 64) count++;
        else failed++;
        resolve();
      });
    });
  await Promise.all(
    Array.from({ length: loops }, async () => {
      while (performance.now() < until) await one();
    }),
  );
  if (failed > count / 100) throw new Error(`new connections: ${failed} failed of ${count + failed}`);
  return { rate: count / ((performance.now() - start) / 1000), units: count };
}

/** 1 KiB requests at LATENCY_RATE/s over LATENCY_CONNS connections; latency from the scheduled send. */
async function latency(port: number): Promise<{ p50: number; p99: number }> {
  const socks = await Promise.all(Array.from({ length: LATENCY_CONNS }, () => connect(port)));
  const msg = Buffer.alloc(1024, 9);
  const samples: number[] = [];
  const interval = (1000 * LATENCY_CONNS) / LATENCY_RATE;
  const total = Math.floor((SECONDS * LATENCY_RATE) / LATENCY_CONNS);
  await Promise.all(
    socks.map(
      (s, i) =>
        new Promise<void>((resolve, reject) => {
          let sent = 0;
          let got = 0;
          let sentAt = 0;
          const t0 = performance.now() + (i * interval) / LATENCY_CONNS;
          const sendNext = () => {
            if (sent === total) return resolve();
            const due = t0 + sent * interval;
            const wait = due - performance.now();
            const go = () => {
              // From the scheduled time when late (queueing counts), from the actual send when a timer fired early.
              sentAt = Math.min(due, performance.now());
              sent++;
              s.write(msg);
            };
            if (wait > 0) setTimeout(go, wait);
            else go();
          };
          s.on('error', reject);
          s.on('data', (c: Buffer) => {
            got += c.length;
            while (got >= 1024) {
              got -= 1024;
              samples.push(performance.now() - sentAt);
              sendNext();
            }
          });
          sendNext();
        }),
    ),
  );
  for (const s of socks) s.destroy();
  samples.sort((a, b) => a - b);
  return { p50: samples[Math.floor(samples.length * 0.5)]!, p99: samples[Math.floor(samples.length * 0.99)]! };
}

/** IDLE_CONNS tunneled connections through the subject, each echoed once, left open. */
async function openIdle(subject: Subject): Promise<net.Socket[]> {
  const socks: net.Socket[] = [];
  for (let i = 0; i < IDLE_CONNS; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: 50 }, async () => {
        const s = await connect(subject.echoPort);
        await new Promise<void>((resolve) => {
          s.once('data', () => resolve());
          s.write('x');
        });
        return s;
      }),
    );
    socks.push(...batch);
  }
  return socks;
}

/** How long a Node process idles before V8's memory reducer has collected what a burst left behind (it
 * starts 8 s after the allocation rate drops). nginx and HAProxy have no garbage: the wait changes nothing. */
const SETTLE_MS = Number(process.env.GATEWAY_BENCH_SETTLE_MS ?? 10_000);

/** RSS of the first hop idle, then with IDLE_CONNS tunneled connections open: 0.5 s after opening them
 * (their setup garbage included) and once settled (what holding them costs). Measured on idle processes
 * that have settled, before any other workload. */
async function idleMemory(subject: Subject): Promise<{ idleKb: number; burstKb: number; perConnKb: number }> {
  const pids = subject.hopA!();
  const before = rssKb(pids);
  const socks = await openIdle(subject);
  await sleep(500);
  const burst = rssKb(pids);
  await sleep(SETTLE_MS);
  const settled = rssKb(pids);
  for (const s of socks) s.destroy();
  await sleep(300);
  return { idleKb: before, burstKb: (burst - before) / IDLE_CONNS, perConnKb: (settled - before) / IDLE_CONNS };
}

const ROUNDS = Number(process.env.GATEWAY_BENCH_ROUNDS ?? 3);

function median(xs: number[]): number {
  const a = [...xs].sort((x, y) => x - y);
  return a[Math.floor(a.length / 2)]!;
}

/** Each figure is the median of ROUNDS runs, the subjects interleaved within a round, so that load from
 * other processes on this shared machine falls on all of them alike. */
async function measureAll(subjects: Subject[]): Promise<Map<string, Figures>> {
  type Run = { rt: number; bulk: number; conns: number; connsHigh: number; p50: number; p99: number; cpu: Cpu };
  const runs = new Map<string, Run[]>(subjects.map((s) => [s.name, []]));
  const memory = new Map<string, Awaited<ReturnType<typeof idleMemory>>>();
  await sleep(SETTLE_MS);
  for (const s of subjects) if (s.hopA) memory.set(s.name, await idleMemory(s));
  const per = (cpu: number | undefined, units: number, scale: number) => (cpu === undefined || units === 0 ? undefined : (cpu * scale) / units);
  for (let r = 0; r < ROUNDS; r++) {
    for (const s of subjects) {
      const [rt, rtCpu] = await withCpu(s, () => roundTrips(s.echoPort));
      const [b, bCpu] = await withCpu(s, () => bulk(s.sinkPort));
      const [conns, cCpu] = await withCpu(s, () => newConns(s.echoPort, CONN_CONCURRENCY));
      const connsHigh = await newConns(s.echoPort, CONN_CONCURRENCY_HIGH);
      const lat = await latency(s.echoPort);
      const cpu: Cpu = {};
      const rtUs = per(rtCpu, rt.units, 1e6);
      const bulkMs = per(bCpu, b.units, 1e3);
      const connUs = per(cCpu, conns.units, 1e6);
      if (rtUs !== undefined) cpu.rtUs = rtUs;
      if (bulkMs !== undefined) cpu.bulkMs = bulkMs;
      if (connUs !== undefined) cpu.connUs = connUs;
      runs.get(s.name)!.push({ rt: rt.rate, bulk: b.rate, conns: conns.rate, connsHigh: connsHigh.rate, p50: lat.p50, p99: lat.p99, cpu });
    }
  }
  const out = new Map<string, Figures>();
  const med = (xs: Array<number | undefined>) => {
    const d = xs.filter((x): x is number => x !== undefined);
    return d.length ? median(d) : undefined;
  };
  for (const s of subjects) {
    const rs = runs.get(s.name)!;
    const cpu: Cpu = {};
    const rtUs = med(rs.map((x) => x.cpu.rtUs));
    const bulkMs = med(rs.map((x) => x.cpu.bulkMs));
    const connUs = med(rs.map((x) => x.cpu.connUs));
    if (rtUs !== undefined) cpu.rtUs = rtUs;
    if (bulkMs !== undefined) cpu.bulkMs = bulkMs;
    if (connUs !== undefined) cpu.connUs = connUs;
    const f: Figures = { rt: median(rs.map((x) => x.rt)), bulk: median(rs.map((x) => x.bulk)), conns: median(rs.map((x) => x.conns)), connsHigh: median(rs.map((x) => x.connsHigh)), p50: median(rs.map((x) => x.p50)), p99: median(rs.map((x) => x.p99)), cpu };
    const m = memory.get(s.name);
    if (m) {
      f.idleRss = m.idleKb;
      f.perConnKb = m.perConnKb;
      f.perConnBurstKb = m.burstKb;
    }
    out.set(s.name, f);
  }
  return out;
}

function writeCreds(dir: string, name: string, c: Credentials): { cert: string; key: string; pem: string } {
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

async function startOurs(dir: string, transport: Transport, a: ReturnType<typeof writeCreds>, b: ReturnType<typeof writeCreds>, bundle: string, upstream: { echo: number; sink: number }): Promise<{ subject: Subject; procs: Proc[] }> {
  const bRoutes = join(dir, `b-${transport}.yaml`);
  const route: RouteFile = {
    exported: [
      { namespace: 'bench', name: 'echo', ports: [{ port: 7, backends: [{ address: '127.0.0.1', port: upstream.echo }] }] },
      { namespace: 'bench', name: 'sink', ports: [{ port: 9, backends: [{ address: '127.0.0.1', port: upstream.sink }] }] },
    ],
  };
  writeFileSync(bRoutes, JSON.stringify(route));
  const common = ['--host', '127.0.0.1', '--admin-port', '0', '--outbound-ports', '1024-65535', '--bundle', bundle, '--transport', transport];
  const gb = startMesh(['gateway', '--cluster-name', 'cluster-b', '--tunnel-port', '0', '--cert', b.cert, '--key', b.key, '--routes', bRoutes, ...common], { MESH_LOG_LEVEL: 'warn' });
  const m = await gb.waitFor(/gateway listening tunnel=(\d+)/);
  const tunnel = Number(m[1]);
  const echoPort = await freePort();
  const sinkPort = await freePort();
  const aRoutes = join(dir, `a-${transport}.yaml`);
  writeFileSync(
    aRoutes,
    JSON.stringify({
      outbound: [
        { outboundPort: echoPort, remoteCluster: 'cluster-b', namespace: 'bench', service: 'echo', port: 7 },
        { outboundPort: sinkPort, remoteCluster: 'cluster-b', namespace: 'bench', service: 'sink', port: 9 },
      ],
      remotes: [{ cluster: 'cluster-b', addresses: ['127.0.0.1'], port: tunnel, transport }],
    } satisfies RouteFile),
  );
  const ga = startMesh(['gateway', '--cluster-name', 'cluster-a', '--tunnel-port', '0', '--cert', a.cert, '--key', a.key, '--routes', aRoutes, ...common], { MESH_LOG_LEVEL: 'warn' });
  await ga.waitFor(/gateway listening/);
  await waitPort(echoPort);
  await waitPort(sinkPort);
  await sleep(300); // pools warm
  return { subject: { name: `mesh gateway (${transport})`, echoPort, sinkPort, hopA: () => [ga.pid], hopB: () => [gb.pid] }, procs: [ga, gb] };
}

/** The Node floor (bench/node-relay.ts): the same two hops with only Node's net/tls and stream.pipe. */
async function startNodeRelay(a: ReturnType<typeof writeCreds>, b: ReturnType<typeof writeCreds>, bundle: string, upstream: { echo: number; sink: number }): Promise<{ subject: Subject; procs: Proc[] }> {
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

async function startNginx(bin: string, dir: string, a: ReturnType<typeof writeCreds>, b: ReturnType<typeof writeCreds>, bundle: string, upstream: { echo: number; sink: number }): Promise<{ subject: Subject; procs: Proc[] }> {
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

async function startHaproxy(bin: string, dir: string, a: ReturnType<typeof writeCreds>, b: ReturnType<typeof writeCreds>, bundle: string, upstream: { echo: number; sink: number }): Promise<{ subject: Subject; procs: Proc[] }> {
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

export async function run(): Promise<BenchResult> {
  const notes: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'gw-bench-'));
  chmodSync(dir, 0o755);
  const results = new Map<string, Figures>();
  try {
    const pki = createPki();
    const bundle = join(dir, 'ca.crt');
    writeFileSync(bundle, pki.bundle);
    chmodSync(bundle, 0o644);
    const a = writeCreds(dir, 'a', pki.leaf('cluster-a'));
    const b = writeCreds(dir, 'b', pki.leaf('cluster-b'));
    const server = startProcess(process.execPath, [join(repoRoot, 'dist/test/gateway/load-server.js')]);
    const m = await server.waitFor(/\{"echo":(\d+),"sink":(\d+)\}/);
    const upstream = { echo: Number(m[1]), sink: Number(m[2]) };

    const subjects: Subject[] = [{ name: 'direct', echoPort: upstream.echo, sinkPort: upstream.sink }];
    // A peer that cannot start (e.g. nginx without its stream module) is noted, not fatal.
    const optional = async (name: string, start: () => Promise<{ subject: Subject; procs: Proc[] }>) => {
      try {
        subjects.push((await start()).subject);
      } catch (err) {
        notes.push(`${name} could not be started, no figures for it: ${(err as Error).message.split('\n').slice(0, 4).join(' ')}`);
      }
    };
    const only = process.env.GATEWAY_BENCH_ONLY?.split(',');
    const want = (n: string) => !only || only.some((o) => n.includes(o));
    const nginx = which('nginx');
    if (!nginx) notes.push('nginx or its stream module not installed (apt-get install nginx libnginx-mod-stream): no nginx figures; ratios are against direct.');
    else if (want('nginx')) await optional('nginx', () => startNginx(nginx, dir, a, b, bundle, upstream));
    const haproxy = which('haproxy');
    if (!haproxy) notes.push('haproxy not installed (apt-get install haproxy): no HAProxy figures.');
    else if (want('HAProxy')) await optional('HAProxy', () => startHaproxy(haproxy, dir, a, b, bundle, upstream));
    if (want('floor')) subjects.push((await startNodeRelay(a, b, bundle, upstream)).subject);
    for (const t of ['connect', 'tls-pipe'] as const) if (want(t)) subjects.push((await startOurs(dir, t, a, b, bundle, upstream)).subject);
    for (const [k, v] of await measureAll(subjects)) results.set(k, v);
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }

  const rows: BenchRow[] = [];
  const peer = results.has('nginx (stream)') ? 'nginx (stream)' : 'direct';
  const base = results.get(peer)!;
  const direct = results.get('direct')!;
  const ours = (n: string) => n.startsWith('mesh gateway');
  const metric = (metric: string, unit: string, get: (f: Figures) => number | undefined, target?: { factor: number; higher: boolean }) => {
    for (const [name, f] of results) {
      const v = get(f);
      if (v === undefined) continue;
      const baseline = name === 'direct' ? undefined : name === peer ? { name: 'direct', value: get(direct)! } : { name: peer, value: get(base)! };
      const row: BenchRow = { metric, subject: name, value: v, unit, ...(baseline && baseline.value !== undefined ? { baseline } : {}) };
      if (target && ours(name) && baseline && baseline.value !== undefined) {
        row.target = `${target.higher ? '>=' : '<='} ${target.factor.toFixed(1)}x ${peer}`;
        row.met = target.higher ? v >= target.factor * baseline.value : v <= target.factor * baseline.value;
      }
      rows.push(row);
    }
  };
  metric('64 B round trips, 1 conn', 'rt/s', (f) => f.rt, { factor: 1, higher: true });
  metric('bulk upload, 1 conn', 'MB/s', (f) => f.bulk, { factor: 1, higher: true });
  metric(`new connections (64 B each way), ${CONN_CONCURRENCY} concurrent`, 'conn/s', (f) => f.conns, { factor: 2, higher: true });
  metric(`new connections (64 B each way), ${CONN_CONCURRENCY_HIGH} concurrent`, 'conn/s', (f) => f.connsHigh, { factor: 2, higher: true });
  // CPU per unit of work (both hops): lower is better; the target mirrors the rate target (1/x).
  metric('CPU per 64 B round trip (both hops)', 'CPU-µs', (f) => f.cpu.rtUs, { factor: 1, higher: false });
  metric('CPU per MB bulk (both hops)', 'CPU-ms', (f) => f.cpu.bulkMs, { factor: 1, higher: false });
  metric('CPU per new connection (both hops)', 'CPU-µs', (f) => f.cpu.connUs, { factor: 0.5, higher: false });
  // Ours against the Node floor (same run): what our own code costs on top of what Node's net/tls cost.
  const floor = results.get(NODE_FLOOR);
  if (floor) {
    const against: Array<[string, string, (f: Figures) => number | undefined]> = [
      ['64 B round trips, 1 conn', 'rt/s', (f) => f.rt],
      ['bulk upload, 1 conn', 'MB/s', (f) => f.bulk],
      ['CPU per 64 B round trip (both hops)', 'CPU-µs', (f) => f.cpu.rtUs],
      ['CPU per MB bulk (both hops)', 'CPU-ms', (f) => f.cpu.bulkMs],
    ];
    for (const [m, unit, get] of against) {
      const fv = get(floor);
      for (const [name, f] of results) {
        const v = get(f);
        if (ours(name) && v !== undefined && fv !== undefined) rows.push({ metric: `${m}, against the Node floor`, subject: name, value: v, unit, baseline: { name: NODE_FLOOR, value: fv } });
      }
    }
  }
  metric(`1 KiB latency p50 @ ${LATENCY_RATE}/s`, 'ms', (f) => f.p50);
  metric(`1 KiB latency p99 @ ${LATENCY_RATE}/s`, 'ms', (f) => f.p99);
  metric('first hop RSS idle', 'MB', (f) => (f.idleRss === undefined ? undefined : f.idleRss / 1024));
  for (const [name, f] of results) {
    if (f.perConnKb === undefined) continue;
    rows.push({ metric: `first hop RSS per idle tunneled conn (${IDLE_CONNS} open, settled ${SETTLE_MS / 1000} s)`, subject: name, value: f.perConnKb, unit: 'KB', ...(ours(name) ? { target: '<= 20 KB', met: f.perConnKb <= 20 } : {}) });
    // Only a garbage-collected hop can differ between the two moments.
    if (f.perConnBurstKb !== undefined && (ours(name) || name === NODE_FLOOR)) rows.push({ metric: `first hop RSS per idle tunneled conn (${IDLE_CONNS} open, 0.5 s after)`, subject: name, value: f.perConnBurstKb, unit: 'KB' });
  }
  const c = results.get('mesh gateway (connect)');
  const p = results.get('mesh gateway (tls-pipe)');
  const cmp = c && p ? ` This run: new connections ${c.conns.toFixed(0)} vs ${p.conns.toFixed(0)} conn/s, ${fmtOpt(c.cpu.connUs)} vs ${fmtOpt(p.cpu.connUs)} CPU-µs each; idle tunnel ${fmtOpt(c.perConnKb)} vs ${fmtOpt(p.perConnKb)} KB; round trip ${fmtOpt(c.cpu.rtUs)} vs ${fmtOpt(p.cpu.rtUs)} CPU-µs; bulk ${fmtOpt(c.cpu.bulkMs)} vs ${fmtOpt(p.cpu.bulkMs)} CPU-ms/MB (connect vs tls-pipe).` : '';
  notes.push(
    'Default transport: connect (HTTP/2 CONNECT over warm pooled connections): no handshake per tunnel (new connections/s), a fraction of the memory per idle tunnel of a TLS connection each, and a crashed remote shows as a reset; tls-pipe is selectable per Link (spec.gateway.transport) and costs a little less CPU per byte and per small message, but a full handshake per tunnel (off the critical path only while its warm pool lasts).' + cmp,
  );
  notes.push(
    `Node ${process.version}, median of ${ROUNDS} interleaved runs of ${SECONDS} s per figure, every hop one process with one worker/thread (nginx worker_processes 1, HAProxy nbthread 1, ours one event loop), none pinned to a core, on this machine (${cpuCount()} cores shared by client, two hops and server). ` +
      'TLS 1.3 TLS_AES_128_GCM_SHA256 everywhere; B verifies A\'s client certificate against the root in every setup; nginx/HAProxy do not verify B\'s name (SPIFFE URI SAN only), ours checks B\'s SPIFFE identity.',
  );
  notes.push(
    `${NODE_FLOOR}: the same two hops written with nothing but Node's net/tls and stream.pipe (bench/node-relay.ts: no routing, policy, pool, metrics or timers; a new mTLS connection per client connection, so its new-connection figure pays a handshake each). Ours against it is our own overhead; it against nginx is what Node's data path costs (per 16 KiB TLS record a callback into JavaScript and a Buffer, no kTLS or splice).`,
  );
  notes.push('CPU rows: utime+stime of both hops (all threads; nginx master+worker) during that workload divided by its units (/proc/<pid>/stat, 10 ms ticks): the cost of the work, which the machine\'s other load does not distort as it does rates.');
  return { name: 'gateway: client → A → B → server (loopback)', notes, rows };
}

function fmtOpt(n: number | undefined): string {
  return n === undefined ? '?' : n >= 100 ? n.toFixed(0) : n.toFixed(1);
}

function cpuCount(): number {
  try {
    return Number(execFileSync('nproc').toString().trim());
  } catch {
    return 0;
  }
}
