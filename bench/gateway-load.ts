// The gateway bench's measuring side: the subjects' common shape, the workloads a client runs through a
// two-hop setup (round trips, bulk, new connections, latency at a fixed rate, idle tunnels) and the CPU and
// RSS of the hops from /proc. Each figure is the median of interleaved rounds (measureAll).
import net from 'node:net';
import { readFileSync } from 'node:fs';

export const SECONDS = Number(process.env.GATEWAY_BENCH_SECONDS ?? 1.5);
export const IDLE_CONNS = 1000;
export const LATENCY_RATE = 1000; // requests/s, over LATENCY_CONNS connections
const LATENCY_CONNS = 8;
/** New-connection loops: 8 (bound by each connection's round trips through both hops: every setup here
 * leaves CPU idle) and 64 (bound by CPU: the capacity a busy gateway pair has for new connections). */
export const CONN_CONCURRENCY = 8;
export const CONN_CONCURRENCY_HIGH = 64;

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
  /** CPU-µs per new connection. */
  connUs?: number;
}

export interface Figures {
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

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function connect(port: number): Promise<net.Socket> {
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

/** Each figure is the median of ROUNDS runs, the subjects interleaved within a round, so that load from
 * other processes on this shared machine falls on all of them alike. */
export async function measureAll(subjects: Subject[]): Promise<Map<string, Figures>> {
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
