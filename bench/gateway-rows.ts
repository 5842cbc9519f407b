// The gateway bench's figures as rows: every subject beside nginx (or direct), ours beside the Node floor
// with the targets, the added latency against direct, two workers against one, and notes with the
// spread of the per-round ratios.
import { execFileSync } from 'node:child_process';
import type { BenchRow } from './report.js';
import { CONN_CONCURRENCY, CONN_CONCURRENCY_HIGH, CONN_LATENCY_RATE, IDLE_CONNS, LATENCY_RATE, ROUNDS, ROUND_TRIP_CONNS, SECONDS, SETTLE_MS, type Figures, type RoundFigures } from './gateway-load.js';
import { NODE_FLOOR, POLICY_SUBJECT } from './gateway-peers.js';

export const CONNECT = 'mesh gateway (connect)';
export const PIPE = 'mesh gateway (tls-pipe)';
export const WORKERS_RR = 'mesh gateway (connect, 2 workers, SCHED_RR)';
export const WORKERS_NONE = 'mesh gateway (connect, 2 workers, SCHED_NONE)';
export const ATTESTED_LABEL = 'attested + PROXY v2';
export const BASELINE_LABEL = 'baseline build';
export const ATTESTED_ONLY_LABEL = 'attested';
export const ATTESTED = `mesh gateway (connect, ${ATTESTED_LABEL})`;
export const ATTESTED_ONLY = `mesh gateway (connect, ${ATTESTED_ONLY_LABEL})`;
export const BASELINE = `mesh gateway (connect, ${BASELINE_LABEL})`;

type Get = (f: Figures) => number | undefined;
const ours = (n: string) => n.startsWith('mesh gateway');
const single = (n: string) => n === CONNECT || n === PIPE;

/** Every figure beside its same-run baseline (nginx if it ran, else direct; the floor for ours too). */
export function rowsOf(results: Map<string, Figures>): BenchRow[] {
  const rows: BenchRow[] = [];
  const peer = results.has('nginx (stream)') ? 'nginx (stream)' : 'direct';
  const base = results.get(peer)!;
  const direct = results.get('direct')!;
  const metric = (name: string, unit: string, get: Get) => {
    for (const [subject, f] of results) {
      const v = get(f);
      if (v === undefined) continue;
      const b = subject === 'direct' ? undefined : subject === peer ? get(direct) : get(base);
      rows.push({ metric: name, subject, value: v, unit, ...(b !== undefined ? { baseline: { name: subject === peer ? 'direct' : peer, value: b } } : {}) });
    }
  };
  metric('64 B round trips, 1 conn', 'rt/s', (f) => f.rt);
  metric(`64 B round trips, ${ROUND_TRIP_CONNS} conns at once`, 'rt/s', (f) => f.rtPar);
  metric('bulk upload, 1 conn, client writes 64 KiB chunks as fast as it can', 'MB/s', (f) => f.bulk);
  metric(`new connections (64 B each way), ${CONN_CONCURRENCY} concurrent`, 'conn/s', (f) => f.conns);
  metric(`new connections (64 B each way), ${CONN_CONCURRENCY_HIGH} concurrent`, 'conn/s', (f) => f.connsHigh);
  metric('CPU per 64 B round trip (both hops)', 'CPU-µs', (f) => f.cpu.rtUs);
  metric(`CPU per 64 B round trip, ${ROUND_TRIP_CONNS} conns (both hops)`, 'CPU-µs', (f) => f.cpu.rtParUs);
  metric('CPU per MB bulk (both hops)', 'CPU-ms', (f) => f.cpu.bulkMs);
  metric(`CPU per new connection, ${CONN_CONCURRENCY} concurrent (both hops)`, 'CPU-µs', (f) => f.cpu.connUs);
  metric(`CPU per new connection, ${CONN_CONCURRENCY_HIGH} concurrent (both hops)`, 'CPU-µs', (f) => f.cpu.connHighUs);
  rows.push(...againstFloor(results), ...latencyRows(results, peer), ...workerRows(results), ...attestationRows(results), ...memoryRows(results, peer));
  return rows;
}

/** Ours against the Node floor (same run): our own overhead on top of Node's net/tls. The targets
 * apply to the default transport. */
function againstFloor(results: Map<string, Figures>): BenchRow[] {
  const floor = results.get(NODE_FLOOR);
  if (!floor) return [];
  const rows: BenchRow[] = [];
  const against: Array<[string, string, Get, number, boolean]> = [
    ['64 B round trips, 1 conn', 'rt/s', (f) => f.rt, 1, true],
    ['bulk upload, 1 conn, client writes 64 KiB chunks as fast as it can', 'MB/s', (f) => f.bulk, 1, true],
    ['CPU per 64 B round trip (both hops)', 'CPU-µs', (f) => f.cpu.rtUs, 1.05, false],
    ['CPU per MB bulk (both hops)', 'CPU-ms', (f) => f.cpu.bulkMs, 1.05, false],
  ];
  for (const [m, unit, get, factor, higher] of against) {
    const fv = get(floor);
    for (const [name, f] of results) {
      const v = get(f);
      if (!single(name) || v === undefined || fv === undefined) continue;
      const row: BenchRow = { metric: `${m}, against the Node floor`, subject: name, value: v, unit, baseline: { name: NODE_FLOOR, value: fv } };
      if (name === CONNECT) {
        row.target = `${higher ? '>=' : '<='} ${factor.toFixed(2)}x floor`;
        row.met = higher ? v >= factor * fv : v <= factor * fv;
      }
      rows.push(row);
    }
  }
  return rows;
}

/** Latency at fixed rates, and what each setup adds to the direct path (Istio publishes the added figures
 * for ambient multicluster: +2.2 ms per new connection, +0.13 ms per reused one, on its hardware). */
function latencyRows(results: Map<string, Figures>, peer: string): BenchRow[] {
  const rows: BenchRow[] = [];
  const direct = results.get('direct')!;
  const kept = `1 KiB request on a kept-alive connection @ ${LATENCY_RATE}/s`;
  const fresh = `new connection (open, 64 B each way) @ ${CONN_LATENCY_RATE}/s`;
  const sets: Array<[string, Get]> = [
    [`${kept}, p50`, (f) => f.p50],
    [`${kept}, p99`, (f) => f.p99],
    [`${fresh}, p50`, (f) => f.connP50],
    [`${fresh}, p99`, (f) => f.connP99],
  ];
  for (const [m, get] of sets) for (const [name, f] of results) rows.push({ metric: `latency, ${m}`, subject: name, value: get(f)!, unit: 'ms' });
  const added = (f: Figures, get: Get) => get(f)! - get(direct)!;
  const peerFig = results.get(peer);
  for (const [m, get] of sets) {
    for (const [name, f] of results) {
      if (name === 'direct') continue;
      const row: BenchRow = { metric: `added latency, ${m}`, subject: name, value: added(f, get), unit: 'ms' };
      if (peerFig && name !== peer) row.baseline = { name: peer, value: added(peerFig, get) };
      if (name === CONNECT && m === `${kept}, p99` && peerFig) {
        row.target = `<= ${peer}`;
        row.met = row.value <= added(peerFig, get);
      }
      rows.push(row);
    }
  }
  return rows;
}

/** Issue 15: caller attestation + PROXY v2 on every tunnel against the build before it (GATEWAY_BENCH_BASE),
 * else against this build's plain connect subject; ≤ 5 % more CPU per new tunnel and per round trip. */
function attestationRows(results: Map<string, Figures>): BenchRow[] {
  const baseName = results.has(BASELINE) ? BASELINE : CONNECT;
  const base = results.get(baseName);
  if (!base) return [];
  return [ATTESTED_ONLY, ATTESTED].flatMap((name) => {
    const f = results.get(name);
    return f ? attestationRowsOf(name, f, baseName, base) : [];
  });
}

function attestationRowsOf(name: string, f: Figures, baseName: string, base: Figures): BenchRow[] {
  const checks: Array<[string, Get]> = [
    [`CPU per new connection, ${CONN_CONCURRENCY} concurrent (both hops)`, (x) => x.cpu.connUs],
    [`CPU per new connection, ${CONN_CONCURRENCY_HIGH} concurrent (both hops)`, (x) => x.cpu.connHighUs],
    ['CPU per 64 B round trip (both hops)', (x) => x.cpu.rtUs],
  ];
  const rows: BenchRow[] = [];
  for (const [m, get] of checks) {
    const v = get(f);
    const b = get(base);
    if (v === undefined || b === undefined) continue;
    rows.push({ metric: `${m}, caller attestation against ${baseName === BASELINE ? 'the build before it' : 'no attestation'}`, subject: name, value: v, unit: 'CPU-µs', baseline: { name: baseName, value: b }, target: '<= 1.05x', met: v <= 1.05 * b });
  }
  return rows;
}

/** Two workers per hop against one (the default transport), in the same run. */
function workerRows(results: Map<string, Figures>): BenchRow[] {
  const one = results.get(CONNECT);
  if (!one) return [];
  const rows: BenchRow[] = [];
  const checks: Array<[string, string, Get, number, boolean]> = [
    [`new connections, ${CONN_CONCURRENCY_HIGH} concurrent`, 'conn/s', (f) => f.connsHigh, 1.3, true],
    [`CPU per new connection, ${CONN_CONCURRENCY_HIGH} concurrent (both hops)`, 'CPU-µs', (f) => f.cpu.connHighUs, 1, false],
    [`64 B round trips, ${ROUND_TRIP_CONNS} conns at once`, 'rt/s', (f) => f.rtPar, 1.3, true],
    [`CPU per 64 B round trip, ${ROUND_TRIP_CONNS} conns (both hops)`, 'CPU-µs', (f) => f.cpu.rtParUs, 1, false],
  ];
  for (const name of [WORKERS_RR, WORKERS_NONE]) {
    const f = results.get(name);
    if (!f) continue;
    for (const [m, unit, get, factor, higher] of checks) {
      const v = get(f);
      const b = get(one);
      if (v === undefined || b === undefined) continue;
      rows.push({ metric: `${m}, 2 workers against 1`, subject: name, value: v, unit, baseline: { name: CONNECT, value: b }, target: `${higher ? '>=' : '<='} ${factor.toFixed(1)}x 1 worker`, met: higher ? v >= factor * b : v <= factor * b });
    }
  }
  return rows;
}

function memoryRows(results: Map<string, Figures>, peer: string): BenchRow[] {
  const rows: BenchRow[] = [];
  const peerRss = results.get(peer)?.idleRss;
  for (const [name, f] of results) {
    if (f.idleRss === undefined) continue;
    const row: BenchRow = { metric: 'first hop RSS idle (all its processes)', subject: name, value: f.idleRss / 1024, unit: 'MB', ...(peerRss !== undefined && name !== peer ? { baseline: { name: peer, value: peerRss / 1024 } } : {}) };
    if (single(name)) {
      row.target = '<= 40 MB';
      row.met = row.value <= 40;
    }
    rows.push(row);
  }
  for (const [name, f] of results) {
    if (f.perConnKb === undefined) continue;
    rows.push({ metric: `first hop RSS per idle tunneled conn (${IDLE_CONNS} open, settled ${SETTLE_MS / 1000} s)`, subject: name, value: f.perConnKb, unit: 'KB', ...(ours(name) ? { target: '<= 20 KB', met: f.perConnKb <= 20 } : {}) });
    // Only a garbage-collected hop can differ between the two moments.
    if (f.perConnBurstKb !== undefined && (ours(name) || name === NODE_FLOOR)) rows.push({ metric: `first hop RSS per idle tunneled conn (${IDLE_CONNS} open, 0.5 s after)`, subject: name, value: f.perConnBurstKb, unit: 'KB' });
  }
  return rows;
}

/** Min–max across rounds of ours ÷ the floor (each round's figures interleaved, so both saw the same load). */
function spread(rounds: Map<string, RoundFigures[]>, name: string, get: (r: RoundFigures) => number | undefined, base = NODE_FLOOR): string {
  const a = rounds.get(name);
  const f = rounds.get(base);
  if (!a || !f) return '?';
  const ratios = a.map((r, i) => {
    const x = get(r);
    const y = f[i] ? get(f[i]!) : undefined;
    return x !== undefined && y ? x / y : undefined;
  }).filter((x): x is number => x !== undefined);
  return ratios.length ? `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}×` : '?';
}

export function notesOn(rounds: Map<string, RoundFigures[]>): string[] {
  const notes: string[] = [];
  const s = (get: (r: RoundFigures) => number | undefined) => spread(rounds, CONNECT, get);
  notes.push(`Per-round ratios of connect to the Node floor (min–max of ${ROUNDS}): round trips ${s((r) => r.rt)}, bulk ${s((r) => r.bulk)}, CPU per round trip ${s((r) => r.cpu.rtUs)}, CPU per MB ${s((r) => r.cpu.bulkMs)}.`);
  if (rounds.has(POLICY_SUBJECT) && rounds.has(CONNECT)) {
    const p = (get: (r: RoundFigures) => number | undefined) => spread(rounds, POLICY_SUBJECT, get, CONNECT);
    notes.push(
      `Authorization (issue 15; target ≤ 1.05×): ${POLICY_SUBJECT} against connect without rules, per round (min–max of ${ROUNDS}): CPU per new connection ${p((r) => r.cpu.connUs)} (8 at once), ${p((r) => r.cpu.connHighUs)} (64 at once); CPU per 64 B round trip ${p((r) => r.cpu.rtUs)}; new connections/s ${p((r) => r.conns)}. Every new tunnel checks export-to (10 clusters) and walks all 50 entries (the match is last).`,
    );
  }
  for (const name of [ATTESTED_ONLY, ATTESTED]) {
    if (!rounds.has(name) || !rounds.has(CONNECT)) continue;
    const p = (get: (r: RoundFigures) => number | undefined) => spread(rounds, name, get, CONNECT);
    notes.push(
      `Attestation (issue 15; target ≤ 1.05×): ${name} against connect (unknown-caller claims, no header), per round (min–max of ${ROUNDS}): CPU per new connection ${p((r) => r.cpu.connUs)} (8 at once), ${p((r) => r.cpu.connHighUs)} (64 at once); CPU per 64 B round trip ${p((r) => r.cpu.rtUs)} (1 connection), ${p((r) => r.cpu.rtParUs)} (16).`,
    );
  }
  notes.push(
    `Node ${process.version}, median of ${ROUNDS} interleaved rounds of ${SECONDS} s per figure, on this machine (${cpuCount()} cores shared by client, two hops and server; none pinned). Single-process subjects: every hop one process with one worker/thread (nginx worker_processes 1, HAProxy nbthread 1, ours --workers 1); "2 workers": ours with --workers 2 on both hops (node:cluster; SCHED_RR = the primary accepts and hands connections round-robin, SCHED_NONE = the workers accept). ` +
      "TLS 1.3 TLS_AES_128_GCM_SHA256 everywhere; B verifies A's client certificate against the root in every setup; nginx/HAProxy do not verify B's name (SPIFFE URI SAN only), ours checks B's SPIFFE identity.",
  );
  notes.push(
    `${NODE_FLOOR}: the same two hops written with nothing but Node's net/tls and stream.pipe (bench/node-relay.ts: no routing, policy, pool, metrics or timers; a new mTLS connection per client connection, so its new-connection figures pay a handshake each). Ours against it is our own overhead; it against nginx is what Node's data path costs.`,
  );
  notes.push(`Bulk: a separate client process (bench/bulk-client.ts) writes 64 KiB chunks as fast as the socket takes them, up to 512 MiB or ${SECONDS} s, into the sink, which must count every byte. Latency: kept-alive = 1 KiB requests at ${LATENCY_RATE}/s over 8 connections; new connection = open, 64 B, its echo, close, started at ${CONN_LATENCY_RATE}/s; from the scheduled start (queueing counts); "added" = the subject's percentile minus direct's.`);
  notes.push("CPU rows: utime+stime of both hops (all threads and processes; nginx master+worker, our primary+workers) during that workload divided by its units (/proc/<pid>/stat, 10 ms ticks): the cost of the work, which the machine's other load does not distort as it does rates.");
  return notes;
}

function cpuCount(): number {
  try {
    return Number(execFileSync('nproc').toString().trim());
  } catch {
    return 0;
  }
}
