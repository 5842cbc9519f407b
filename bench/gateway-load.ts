// The gateway bench's measuring side: the subjects' common shape, the workloads (gateway-workloads.ts) run
// through each two-hop setup, and the CPU and RSS of the hops from /proc. Each figure is the median of
// interleaved rounds (measureAll).
import { readFileSync } from 'node:fs';
import { cpuSeconds } from './proc.js';
import { loadavg } from 'node:os';
import { CONN_CONCURRENCY, CONN_CONCURRENCY_HIGH, IDLE_CONNS, ROUND_TRIP_CONNS, bulk, connLatency, latency, newConns, openIdle, parallelRoundTrips, roundTrips, sleep } from './gateway-workloads.js';

export { CONN_CONCURRENCY, CONN_CONCURRENCY_HIGH, CONN_LATENCY_RATE, IDLE_CONNS, LATENCY_RATE, ROUND_TRIP_CONNS, SECONDS, connect, sleep } from './gateway-workloads.js';

export interface Subject {
  name: string;
  echoPort: number;
  sinkPort: number;
  /** The first hop's processes (for RSS). */
  hopA?: () => number[];
  hopB?: () => number[];
}

/** CPU cost of the work, summed over both hops' processes (all threads, nginx/HAProxy workers included):
 * what other load on this shared machine does not distort, unlike rates. */
export interface Cpu {
  /** CPU-µs per 64 B round trip. */
  rtUs?: number;
  /** CPU-ms per MB of bulk upload. */
  bulkMs?: number;
  /** CPU-µs per new connection (8 and 64 loops). */
  connUs?: number;
  connHighUs?: number;
  /** CPU-µs per round trip with ROUND_TRIP_CONNS connections at once. */
  rtParUs?: number;
}

export interface Figures {
  rt: number;
  /** Round trips/s over ROUND_TRIP_CONNS connections at once. */
  rtPar: number;
  bulk: number;
  conns: number;
  connsHigh: number;
  /** 1 KiB requests on kept-alive connections at a fixed rate. */
  p50: number;
  p99: number;
  /** New connections at a fixed rate (open, 64 B each way, close). */
  connP50: number;
  connP99: number;
  idleRss?: number;
  /** RSS per idle tunnel once settled, and 0.5 s after opening them. */
  perConnKb?: number;
  perConnBurstKb?: number;
  cpu: Cpu;
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

export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Runs a workload and returns its result with the CPU seconds the hops spent meanwhile. */
async function withCpu<T>(subject: Subject, work: () => Promise<T>): Promise<[T, number | undefined]> {
  if (!subject.hopA) return [await work(), undefined];
  const pids = [...subject.hopA(), ...(subject.hopB?.() ?? [])];
  const before = cpuSeconds(pids);
  const r = await work();
  return [r, cpuSeconds(pids) - before];
}

/** How long a Node process idles before V8's memory reducer has collected what a burst left behind (it
 * starts 8 s after the allocation rate drops). nginx and HAProxy have no garbage: the wait changes nothing. */
export const SETTLE_MS = Number(process.env.GATEWAY_BENCH_SETTLE_MS ?? 10_000);

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

export const ROUNDS = Number(process.env.GATEWAY_BENCH_ROUNDS ?? 3);

function median(xs: number[]): number {
  const a = [...xs].sort((x, y) => x - y);
  return a[Math.floor(a.length / 2)]!;
}

/** One round's figures of one subject. */
export type RoundFigures = Omit<Figures, 'idleRss' | 'perConnKb' | 'perConnBurstKb'>;
type Run = RoundFigures;

/** One round of every workload on one subject. */
async function round(s: Subject): Promise<Run> {
  const per = (cpu: number | undefined, units: number, scale: number) => (cpu === undefined || units === 0 ? undefined : (cpu * scale) / units);
  const [rt, rtCpu] = await withCpu(s, () => roundTrips(s.echoPort));
  const [rtPar, rtParCpu] = await withCpu(s, () => parallelRoundTrips(s.echoPort, ROUND_TRIP_CONNS));
  const [b, bCpu] = await withCpu(s, () => bulk(s.sinkPort));
  const [conns, cCpu] = await withCpu(s, () => newConns(s.echoPort, CONN_CONCURRENCY));
  const [connsHigh, chCpu] = await withCpu(s, () => newConns(s.echoPort, CONN_CONCURRENCY_HIGH));
  const lat = await latency(s.echoPort);
  const connLat = await connLatency(s.echoPort);
  const cpu: Cpu = {};
  const put = (k: keyof Cpu, v: number | undefined) => {
    if (v !== undefined) cpu[k] = v;
  };
  put('rtUs', per(rtCpu, rt.units, 1e6));
  put('rtParUs', per(rtParCpu, rtPar.units, 1e6));
  put('bulkMs', per(bCpu, b.units, 1e3));
  put('connUs', per(cCpu, conns.units, 1e6));
  put('connHighUs', per(chCpu, connsHigh.units, 1e6));
  return { rt: rt.rate, rtPar: rtPar.rate, bulk: b.rate, conns: conns.rate, connsHigh: connsHigh.rate, p50: lat.p50, p99: lat.p99, connP50: connLat.p50, connP99: connLat.p99, cpu };
}

/** Each figure is the median of ROUNDS runs, the subjects interleaved within a round, so that load from
 * other processes on this shared machine falls on all of them alike. `rounds` keeps every round's figures
 * (for the spread). */
export async function measureAll(subjects: Subject[], rounds?: Map<string, Run[]>): Promise<Map<string, Figures>> {
  const runs = rounds ?? new Map<string, Run[]>();
  for (const s of subjects) runs.set(s.name, []);
  const memory = new Map<string, Awaited<ReturnType<typeof idleMemory>>>();
  await sleep(SETTLE_MS);
  for (const s of subjects) if (s.hopA) memory.set(s.name, await idleMemory(s));
  for (let r = 0; r < ROUNDS; r++) {
    for (const s of subjects) {
      const f = await round(s);
      runs.get(s.name)!.push(f);
      // GATEWAY_BENCH_VERBOSE=1: every round's bulk figures on stderr (the spread behind a median).
      if (process.env.GATEWAY_BENCH_VERBOSE) console.error(`round ${r} ${s.name}: bulk ${f.bulk.toFixed(0)} MB/s, ${f.cpu.bulkMs?.toFixed(2) ?? '-'} CPU-ms/MB, load ${loadavg()[0]!.toFixed(1)}`);
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
    for (const k of ['rtUs', 'rtParUs', 'bulkMs', 'connUs', 'connHighUs'] as const) {
      const v = med(rs.map((x) => x.cpu[k]));
      if (v !== undefined) cpu[k] = v;
    }
    const m = (k: Exclude<keyof Run, 'cpu'>) => median(rs.map((x) => x[k]));
    const f: Figures = { rt: m('rt'), rtPar: m('rtPar'), bulk: m('bulk'), conns: m('conns'), connsHigh: m('connsHigh'), p50: m('p50'), p99: m('p99'), connP50: m('connP50'), connP99: m('connP99'), cpu };
    const mem = memory.get(s.name);
    if (mem) {
      f.idleRss = mem.idleKb;
      f.perConnKb = mem.perConnKb;
      f.perConnBurstKb = mem.burstKb;
    }
    out.set(s.name, f);
  }
  return out;
}
