// A standalone probe of bulk cost, per hop: client (bench/bulk-client.ts: 64 KiB writes as fast as the socket
// takes them, its own process) → A → B → sink, for ours (connect, both hops started as the gateway bench
// starts them), the bare src/h2 relay (bench/h2-relay.ts) and the Node floor (bench/node-relay.ts), rounds
// interleaved. Prints each round's MB/s and CPU-ms per MB of hop A and hop B (/proc), then the medians and
// ratios to the floor. Not a `npm run bench` entry: a tool to find where the gateway's per-byte cost goes.
//   node dist/bench/gateway-bulk.js                  (GATEWAY_BENCH_SECONDS, default 2; BULK_ROUNDS, default 5)
//   BULK_PROF=<dir> node dist/bench/gateway-bulk.js  (every hop with --cpu-prof: <dir>/<subject>/*.cpuprofile)
//   BULK_SUBJECTS=floor,h2,ours,ours2 (default floor,h2,ours; ours2 a second instance of ours, for A/B runs)
//   BULK_NODE_ARGS_OURS2='--flag …' (node flags of that instance instead of startMesh's --enable-source-maps)
//   BULK_SUBJECTS=floor,ours,base BULK_BASE=<other build>/bin/mesh.js (before/after a change, same run)
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { startProcess, stopAll, repoRoot, type Proc } from '../test/helpers/process.js';
import { createPki } from '../test/gateway/fixtures.js';
import { startOurs, writeCreds } from './gateway-peers.js';
import { cpuSeconds } from './proc.js';
import { bulk, connLatency, latency, newConns, openIdle, parallelRoundTrips, roundTrips, sleep } from './gateway-workloads.js';

interface Hop {
  name: string;
  echo: number;
  sink: number;
  a: () => number[];
  b: () => number[];
}

/** What the gateway bench does to a subject besides bulk (BULK_PRELUDE=idle,rt,rt16,conns,lat;
 * BULK_PRELUDE_WHEN=once|each), to find why bulk costs more inside the full bench than alone. */
async function prelude(s: Hop, when: 'once' | 'each'): Promise<void> {
  if ((process.env.BULK_PRELUDE_WHEN ?? 'once') !== when) return;
  const on = process.env.BULK_PRELUDE_ON?.split(',');
  if (on && !on.includes(s.name)) return;
  const steps = (process.env.BULK_PRELUDE ?? '').split(',').filter(Boolean);
  for (const step of steps) {
    if (step === 'idle') {
      const socks = await openIdle({ name: s.name, echoPort: s.echo, sinkPort: s.sink });
      await sleep(500);
      for (const x of socks) x.destroy();
      await sleep(300);
    } else if (step === 'rt16') await parallelRoundTrips(s.echo, 16);
    else if (step === 'conns') await newConns(s.echo, 64);
    else if (step === 'rt') await roundTrips(s.echo);
    else if (step === 'lat') {
      await latency(s.echo);
      await connLatency(s.echo);
    }
    else throw new Error(`unknown prelude step ${step}`);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const rounds = Number(process.env.BULK_ROUNDS ?? 5);
  const want = (process.env.BULK_SUBJECTS ?? 'floor,h2,ours').split(',');
  const prof = process.env.BULK_PROF;
  const dir = mkdtempSync(join(tmpdir(), 'gw-bulk-'));
  chmodSync(dir, 0o755);
  const subjects: Hop[] = [];
  const gateways: Proc[] = [];
  try {
    const pki = createPki();
    const bundle = join(dir, 'ca.crt');
    writeFileSync(bundle, pki.bundle);
    const a = writeCreds(dir, 'a', pki.leaf('cluster-a'));
    const b = writeCreds(dir, 'b', pki.leaf('cluster-b'));
    const server = startProcess(process.execPath, [join(repoRoot, 'dist/test/gateway/load-server.js')]);
    const m = await server.waitFor(/\{"echo":(\d+),"sink":(\d+)\}/);
    const upstream = { echo: Number(m[1]), sink: Number(m[2]) };
    const profArgs = (name: string) => (prof ? ['--cpu-prof', `--cpu-prof-dir=${join(prof, name)}`] : []);
    if (want.includes('floor')) {
      const floor = join(repoRoot, 'dist/bench/node-relay.js');
      const fb = startProcess(process.execPath, [...profArgs('floor'), floor, 'b', b.cert, b.key, bundle, String(upstream.echo), String(upstream.sink)]);
      const fbp = await fb.waitFor(/\{"echo":(\d+),"sink":(\d+)\}/);
      const fa = startProcess(process.execPath, [...profArgs('floor'), floor, 'a', a.cert, a.key, bundle, fbp[1]!, fbp[2]!]);
      const fap = await fa.waitFor(/\{"echo":(\d+),"sink":(\d+)\}/);
      subjects.push({ name: 'floor', echo: Number(fap[1]), sink: Number(fap[2]), a: () => [fa.pid], b: () => [fb.pid] });
    }
    if (want.includes('h2')) {
      const relay = join(repoRoot, 'dist/bench/h2-relay.js');
      const hb = startProcess(process.execPath, [...profArgs('h2-relay'), relay, 'b', 'ours', b.cert, b.key, bundle, String(upstream.echo), String(upstream.sink)]);
      const bp = await hb.waitFor(/\{"port":(\d+)\}/);
      const ha = startProcess(process.execPath, [...profArgs('h2-relay'), relay, 'a', 'ours', a.cert, a.key, bundle, bp[1]!]);
      const ap = await ha.waitFor(/\{"echo":(\d+),"sink":(\d+)\}/);
      subjects.push({ name: 'h2-relay', echo: Number(ap[1]), sink: Number(ap[2]), a: () => [ha.pid], b: () => [hb.pid] });
    }
    // `ours2`: a second instance of the same build (an A/B within one run, e.g. with BULK_PRELUDE_ON=ours2).
    // `base`: the build at BULK_BASE (a bin/mesh.js), started with the same node flags: before/after a change.
    for (const name of ['ours', 'ours2', 'base']) {
      if (!want.includes(name)) continue;
      const bin = name === 'base' ? process.env.BULK_BASE : undefined;
      if (name === 'base' && !bin) throw new Error('BULK_SUBJECTS has base: set BULK_BASE to the bin/mesh.js of the build to compare with');
      const nodeArgs = process.env[`BULK_NODE_ARGS_${name.toUpperCase()}`]?.split(' ').filter(Boolean) ?? ['--enable-source-maps', ...profArgs(name)];
      const started = await startOurs(dir, 'connect', a, b, bundle, upstream, 1, undefined, { label: name, nodeArgs, ...(bin ? { bin } : {}) });
      gateways.push(...started.procs);
      const o = started.subject;
      subjects.push({ name, echo: o.echoPort, sink: o.sinkPort, a: o.hopA!, b: o.hopB! });
    }
    const res = new Map<string, Array<{ mbs: number; a: number; b: number }>>();
    for (const s of subjects) res.set(s.name, []);
    for (const s of subjects) await bulk(s.sink); // warm-up (JIT, pools)
    for (const s of subjects) await prelude(s, 'once');
    for (let r = 0; r < rounds; r++) {
      for (const s of subjects) {
        await prelude(s, 'each');
        const pa = s.a();
        const pb = s.b();
        const ca = cpuSeconds(pa);
        const cb = cpuSeconds(pb);
        const x = await bulk(s.sink);
        const row = { mbs: x.rate, a: ((cpuSeconds(pa) - ca) * 1e3) / x.units, b: ((cpuSeconds(pb) - cb) * 1e3) / x.units };
        res.get(s.name)!.push(row);
        console.log(`round ${r} ${s.name.padEnd(9)} ${x.rate.toFixed(0).padStart(5)} MB/s  A ${row.a.toFixed(2)}  B ${row.b.toFixed(2)}  A+B ${(row.a + row.b).toFixed(2)} CPU-ms/MB  load ${loadavg()[0]!.toFixed(1)}`);
      }
    }
    const floor = res.get('floor');
    const fm = floor ? median(floor.map((x) => x.a + x.b)) : undefined;
    for (const [name, xs] of res) {
      const ab = xs.map((x) => x.a + x.b);
      const ratios = floor ? xs.map((x, i) => (x.a + x.b) / (floor[i]!.a + floor[i]!.b)) : [];
      console.log(
        `${name.padEnd(9)} median ${median(xs.map((x) => x.mbs)).toFixed(0)} MB/s, A ${median(xs.map((x) => x.a)).toFixed(2)} B ${median(xs.map((x) => x.b)).toFixed(2)} A+B ${median(ab).toFixed(2)} CPU-ms/MB` +
          (fm ? `, ×floor ${(median(ab) / fm).toFixed(2)} (rounds ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})` : ''),
      );
    }
  } finally {
    // A gateway drains for its grace (5 s) on SIGTERM before it exits and writes its profile.
    const t0 = performance.now();
    for (const p of gateways) await p.stop(40_000);
    if (prof) console.log(`gateways stopped in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${(await Promise.all(gateways.map((p) => p.exited))).join(', ')} (A, then B)`);
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
