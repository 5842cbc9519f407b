// `npm run bench -- h2`: the HTTP/2 tunnel layer alone. Client → hop A → mTLS → hop B → upstream on
// loopback, two hops as in the gateway, three subjects in the same run: the Node floor (bench/node-relay.ts:
// bare TLS, a connection per client connection, stream.pipe), our src/h2 and Node's http2 (both: each
// client connection a CONNECT stream over ONE pooled mTLS connection, relayed with the same stream.pipe;
// bench/h2-relay.ts). Figures: 64 B round trips on one connection, bulk with a client writing 64 KiB chunks
// as fast as it can (up to 512 MiB or H2_BENCH_SECONDS), and the CPU both hops spend per round trip / MB.
// Median of H2_BENCH_ROUNDS interleaved rounds (default 5 × 2 s per figure); about 2 min.
import net from 'node:net';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { cpuSeconds } from './proc.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProcess, stopAll, repoRoot } from '../test/helpers/process.js';
import { createPki } from '../test/gateway/fixtures.js';
import type { BenchResult, BenchRow } from './report.js';

const SECONDS = Number(process.env.H2_BENCH_SECONDS ?? 2);
const ROUNDS = Number(process.env.H2_BENCH_ROUNDS ?? 5);
const BULK_MAX = 512 * 1024 * 1024;
const FLOOR = 'Node floor (bare TLS relay)';
const OURS = 'src/h2 (CONNECT, pooled)';
const NODE = 'node:http2 (CONNECT, pooled)';

interface Subject {
  name: string;
  echo: number;
  sink: number;
  pids: number[];
}
interface Round {
  rt: number;
  rtUs: number;
  bulk: number;
  bulkMs: number;
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', noDelay: true });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** 64 B request/response on one connection for SECONDS. */
async function roundTrips(port: number): Promise<number[]> {
  const s = await connect(port);
  const msg = Buffer.alloc(64, 7);
  let count = 0;
  let got = 0;
  const start = performance.now();
  const until = start + SECONDS * 1000;
  await new Promise<void>((resolve, reject) => {
    s.on('error', reject);
    s.on('data', (c: Buffer) => {
      got += c.length;
      while (got >= 64) {
        got -= 64;
        count++;
        if (performance.now() >= until) return resolve();
        s.write(msg);
      }
    });
    s.write(msg);
  });
  const secs = (performance.now() - start) / 1000;
  s.destroy();
  return [count / secs, count];
}

/** 64 KiB writes as fast as the connection takes them, up to BULK_MAX or SECONDS; the sink's count must match. */
async function bulk(port: number): Promise<number[]> {
  const s = await connect(port);
  const chunk = Buffer.alloc(64 * 1024, 1);
  let sent = 0;
  let reply = '';
  const start = performance.now();
  const until = start + SECONDS * 1000;
  const done = new Promise<void>((resolve, reject) => {
    s.on('error', reject);
    s.on('data', (c: Buffer) => (reply += c.toString()));
    s.on('end', () => resolve());
  });
  await new Promise<void>((resolve) => {
    const pump = () => {
      while (sent < BULK_MAX && performance.now() < until) {
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
  if (Number(reply) !== sent) throw new Error(`bulk: the sink counted ${reply} bytes, ${sent} were sent`);
  return [sent / 1e6 / secs, sent / 1e6];
}

async function measure(s: Subject): Promise<Round> {
  let c0 = cpuSeconds(s.pids);
  const [rt, n] = await roundTrips(s.echo);
  const rtUs = ((cpuSeconds(s.pids) - c0) * 1e6) / n!;
  c0 = cpuSeconds(s.pids);
  const [mbs, mb] = await bulk(s.sink);
  const bulkMs = ((cpuSeconds(s.pids) - c0) * 1e3) / mb!;
  return { rt: rt!, rtUs, bulk: mbs!, bulkMs };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function startSubjects(dir: string): Promise<Subject[]> {
  const pki = createPki();
  const files = (name: string, c: { certChain: string; key: string }) => {
    writeFileSync(join(dir, `${name}.crt`), c.certChain);
    writeFileSync(join(dir, `${name}.key`), c.key);
    return [join(dir, `${name}.crt`), join(dir, `${name}.key`)] as const;
  };
  const bundle = join(dir, 'ca.crt');
  writeFileSync(bundle, pki.bundle);
  const [aCert, aKey] = files('a', pki.leaf('cluster-a'));
  const [bCert, bKey] = files('b', pki.leaf('cluster-b'));
  const node = process.execPath;
  const up = startProcess(node, [join(repoRoot, 'dist/test/gateway/load-server.js')]);
  const u = await up.waitFor(/\{"echo":(\d+),"sink":(\d+)\}/);
  const subjects: Subject[] = [];
  const floor = join(repoRoot, 'dist/bench/node-relay.js');
  const fb = startProcess(node, [floor, 'b', bCert, bKey, bundle, u[1]!, u[2]!]);
  const fbp = await fb.waitFor(/\{"echo":(\d+),"sink":(\d+)\}/);
  const fa = startProcess(node, [floor, 'a', aCert, aKey, bundle, fbp[1]!, fbp[2]!]);
  const fap = await fa.waitFor(/\{"echo":(\d+),"sink":(\d+)\}/);
  subjects.push({ name: FLOOR, echo: Number(fap[1]), sink: Number(fap[2]), pids: [fa.pid, fb.pid] });
  const relay = join(repoRoot, 'dist/bench/h2-relay.js');
  for (const [name, impl] of [[OURS, 'ours'], [NODE, 'node']] as const) {
    const b = startProcess(node, [relay, 'b', impl, bCert, bKey, bundle, u[1]!, u[2]!]);
    const bp = await b.waitFor(/\{"port":(\d+)\}/);
    const a = startProcess(node, [relay, 'a', impl, aCert, aKey, bundle, bp[1]!]);
    const ap = await a.waitFor(/\{"echo":(\d+),"sink":(\d+)\}/);
    subjects.push({ name, echo: Number(ap[1]), sink: Number(ap[2]), pids: [a.pid, b.pid] });
  }
  return subjects;
}

export async function run(): Promise<BenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'h2-bench-'));
  const rounds = new Map<string, Round[]>();
  try {
    const subjects = await startSubjects(dir);
    for (const s of subjects) rounds.set(s.name, []);
    // Warm-up: JIT and the pools' first streams, not measured.
    for (const s of subjects) await roundTrips(s.echo);
    for (let r = 0; r < ROUNDS; r++) {
      for (const s of subjects) {
        const m = await measure(s);
        rounds.get(s.name)!.push(m);
        if (process.env.H2_BENCH_VERBOSE) console.error(r, s.name, JSON.stringify(m));
      }
    }
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
  const med = (name: string, k: keyof Round) => median(rounds.get(name)!.map((x) => x[k]));
  const rows: BenchRow[] = [];
  const metrics: Array<[string, keyof Round, string, boolean, number]> = [
    ['64 B round trips, 1 conn', 'rt', 'rt/s', true, 1],
    ['bulk, client writes 64 KiB chunks as fast as it can, 1 conn', 'bulk', 'MB/s', true, 1],
    ['CPU per 64 B round trip (both hops)', 'rtUs', 'CPU-µs', false, 1.05],
    ['CPU per MB bulk (both hops)', 'bulkMs', 'CPU-ms', false, 1.05],
  ];
  for (const [metric, k, unit, higher, factor] of metrics) {
    const floor = med(FLOOR, k);
    rows.push({ metric, subject: FLOOR, value: floor, unit });
    for (const name of [OURS, NODE]) {
      const v = med(name, k);
      const row: BenchRow = { metric, subject: name, value: v, unit, baseline: { name: FLOOR, value: floor } };
      if (name === OURS) {
        row.target = `${higher ? '>=' : '<='} ${factor.toFixed(2)}x floor`;
        row.met = higher ? v >= factor * floor : v <= factor * floor;
      }
      rows.push(row);
    }
    rows.push({ metric: `${metric}, ours against node:http2`, subject: OURS, value: med(OURS, k), unit, baseline: { name: NODE, value: med(NODE, k) } });
  }
  const spread = (name: string, k: keyof Round) => {
    const ratios = rounds.get(name)!.map((x, i) => x[k] / rounds.get(FLOOR)![i]![k]);
    return `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}×`;
  };
  const notes = [
    `Node ${process.version}; median of ${ROUNDS} interleaved rounds, ${SECONDS} s per figure; every hop its own process with one event loop, none pinned, on a shared ${2}-core machine. TLS 1.3 TLS_AES_128_GCM_SHA256, ECDSA P-256 leaves from src/trust; B requires and verifies A's client certificate.`,
    `Per-round ratios to the floor (min–max): round trips ours ${spread(OURS, 'rt')}, node:http2 ${spread(NODE, 'rt')}; bulk ours ${spread(OURS, 'bulk')}, node:http2 ${spread(NODE, 'bulk')}; CPU/round trip ours ${spread(OURS, 'rtUs')}, node:http2 ${spread(NODE, 'rtUs')}; CPU/MB ours ${spread(OURS, 'bulkMs')}, node:http2 ${spread(NODE, 'bulkMs')}.`,
    'HTTP/2 subjects: windows 4 MiB per stream / 64 MiB per connection, 64 KiB frames (the gateway\'s settings); the streams are opened on one connection made before the measurement (the pool), the floor dials a TLS connection per client connection (not measured here: both workloads use one long connection).',
  ];
  return { name: 'h2: CONNECT tunnel layer, client → A → B → upstream (loopback)', notes, rows };
}
