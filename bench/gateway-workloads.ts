// The gateway bench's client workloads, each bounded by SECONDS: 64 B round trips on one connection and on
// ROUND_TRIP_CONNS at once, bulk from a client process writing 64 KiB chunks as fast as it can, new
// connections (8 and 64 loops), latency of 1 KiB requests on kept-alive connections and of new connections,
// each at a fixed rate, and idle tunnels held open.
import net from 'node:net';
import { join } from 'node:path';
import { startProcess, repoRoot } from '../test/helpers/process.js';
import type { Subject } from './gateway-load.js';

export const SECONDS = Number(process.env.GATEWAY_BENCH_SECONDS ?? 1.5);
export const IDLE_CONNS = 1000;
export const LATENCY_RATE = 1000; // requests/s, over LATENCY_CONNS connections
const LATENCY_CONNS = 8;
/** New connections per second for the new-connection latency (open, 64 B each way, close). */
export const CONN_LATENCY_RATE = 200;
/** New-connection loops: 8 (bound by each connection's round trips through both hops: every setup here
 * leaves CPU idle) and 64 (bound by CPU: the capacity a busy gateway pair has for new connections). */
export const CONN_CONCURRENCY = 8;
export const CONN_CONCURRENCY_HIGH = 64;
/** Concurrent connections of the parallel round-trip workload (what a worker per core should speed up). */
export const ROUND_TRIP_CONNS = 16;
/** The bulk client stops at this many bytes or after SECONDS. */
export const BULK_MAX = 512 * 1024 * 1024;

export interface Percentiles {
  p50: number;
  p99: number;
}

function percentiles(samples: number[]): Percentiles {
  samples.sort((a, b) => a - b);
  return { p50: samples[Math.floor(samples.length * 0.5)] ?? NaN, p99: samples[Math.floor(samples.length * 0.99)] ?? NaN };
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
export async function roundTrips(port: number): Promise<{ rate: number; units: number }> {
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

/** New connections: connect, 64 B each way, close; `loops` concurrent loops for SECONDS. */
export async function newConns(port: number, loops: number): Promise<{ rate: number; units: number }> {
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
export async function latency(port: number): Promise<Percentiles> {
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
  return percentiles(samples);
}

/** IDLE_CONNS tunneled connections through the subject, each echoed once, left open. */
export async function openIdle(subject: Subject): Promise<net.Socket[]> {
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


/** 64 B round trips on `conns` connections at once for SECONDS (each connection one message in flight). */
export async function parallelRoundTrips(port: number, conns: number): Promise<{ rate: number; units: number }> {
  const start = performance.now();
  const runs = await Promise.all(Array.from({ length: conns }, () => roundTrips(port)));
  const units = runs.reduce((a, r) => a + r.units, 0);
  return { rate: units / ((performance.now() - start) / 1000), units };
}

/** Bulk upload by the client process (bench/bulk-client.ts): its own core share, as an outside client; the
 * sink's count must match what it sent. */
export async function bulk(port: number): Promise<{ rate: number; units: number }> {
  const p = startProcess(process.execPath, [join(repoRoot, 'dist/bench/bulk-client.js'), String(port), String(BULK_MAX), String(SECONDS)]);
  const m = await p.waitFor(/\{"sent":(\d+),"counted":(\d+),"seconds":([\d.]+)\}/, (SECONDS + 30) * 1000);
  await p.exited;
  const [sent, counted, secs] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (counted !== sent) throw new Error(`bulk: sink counted ${counted} bytes, sent ${sent}`);
  return { rate: sent / 1e6 / secs, units: sent / 1e6 };
}

/** New connections at CONN_LATENCY_RATE/s for SECONDS: connect, 64 B, its echo, close; latency from the
 * scheduled start to the echo (queueing counts). */
export async function connLatency(port: number): Promise<Percentiles> {
  const msg = Buffer.alloc(64, 5);
  const samples: number[] = [];
  const total = Math.floor(SECONDS * CONN_LATENCY_RATE);
  const t0 = performance.now();
  let failed = 0;
  const one = (due: number) =>
    new Promise<void>((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1', noDelay: true });
      let got = 0;
      s.on('connect', () => s.write(msg));
      s.on('data', (c: Buffer) => {
        got += c.length;
        if (got < 64) return;
        samples.push(performance.now() - due);
        s.destroy();
      });
      s.on('error', () => {});
      s.on('close', () => {
        if (got < 64) failed++;
        resolve();
      });
    });
  const pending: Array<Promise<void>> = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / CONN_LATENCY_RATE;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    pending.push(one(Math.min(due, performance.now())));
  }
  await Promise.all(pending);
  if (failed > total / 100) throw new Error(`connection latency: ${failed} of ${total} failed`);
  return percentiles(samples);
}
