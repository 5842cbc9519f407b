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
// gateway-peers.ts starts the subjects, gateway-load.ts runs the workloads and reads /proc; this file
// turns the figures into rows and notes.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProcess, stopAll, repoRoot } from '../test/helpers/process.js';
import { createPki } from '../test/gateway/fixtures.js';
import type { BenchResult, BenchRow } from './report.js';
import { CONN_CONCURRENCY, CONN_CONCURRENCY_HIGH, IDLE_CONNS, LATENCY_RATE, ROUNDS, SECONDS, SETTLE_MS, measureAll, type Figures, type Subject } from './gateway-load.js';
import { NODE_FLOOR, startHaproxy, startNginx, startNodeRelay, startOurs, which, writeCreds, type Started } from './gateway-peers.js';

export async function run(): Promise<BenchResult> {
  const notes: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'gw-bench-'));
  chmodSync(dir, 0o755);
  const results = new Map<string, Figures>();
  try {
    for (const [k, v] of await measureAll(await startSubjects(dir, notes))) results.set(k, v);
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
  return { name: 'gateway: client → A → B → server (loopback)', notes: [...notes, ...notesOn(results)], rows: rowsOf(results) };
}

/** The load server, then every subject that can start (GATEWAY_BENCH_ONLY narrows them). */
async function startSubjects(dir: string, notes: string[]): Promise<Subject[]> {
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
  const optional = async (name: string, start: () => Started) => {
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
  return subjects;
}

/** Every figure beside its same-run baseline (nginx if it ran, else direct; the floor for ours too). */
function rowsOf(results: Map<string, Figures>): BenchRow[] {
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
  return rows;
}

function notesOn(results: Map<string, Figures>): string[] {
  const notes: string[] = [];
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
  return notes;
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

