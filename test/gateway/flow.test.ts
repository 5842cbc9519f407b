// Flow control end to end through two gateway processes: a client that stops reading behind the gateway
// (and a target that stops reading) holds the writer at the far end after a bounded number of bytes (the
// HTTP/2 windows and the socket buffers), the gateways' memory stays flat while it is stalled, and the bytes
// flow again, complete, once the reader resumes.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { stopAll } from '../helpers/process.js';
import { TRANSPORTS } from '../../src/gateway/index.js';
import { startProcPair, type ProcPair } from './proc-pair.js';

/** Most a stalled path may hold (windows of 4 MiB per stream, socket buffers on loopback). */
const BOUND = 48 * 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 0x5a);

function rssKb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
}

/** Resolves once `value()` has not changed for `quietMs` (checked every 100 ms, at most `maxMs`). */
async function settled(value: () => number, quietMs = 600, maxMs = 20_000): Promise<number> {
  let last = value();
  let since = Date.now();
  const until = Date.now() + maxMs;
  while (Date.now() < until) {
    await new Promise((r) => setTimeout(r, 100));
    const v = value();
    if (v !== last) {
      last = v;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return v;
  }
  throw new Error(`still moving after ${maxMs} ms (at ${last})`);
}

/** A target that writes as fast as its socket takes it, counting what it wrote. */
function startSource(): Promise<{ port: number; written: () => number; close: () => void }> {
  let written = 0;
  const socks = new Set<net.Socket>();
  const server = net.createServer((s) => {
    socks.add(s);
    s.on('error', () => {});
    const pump = () => {
      while (!s.destroyed) {
        written += CHUNK.length;
        if (!s.write(CHUNK)) return void s.once('drain', pump);
      }
    };
    pump();
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as net.AddressInfo).port,
        written: () => written,
        close: () => {
          for (const s of socks) s.destroy();
          server.close();
        },
      }),
    ),
  );
}

/** A target that reads nothing, counting nothing: the client's writes must stop. */
function startStalledSink(): Promise<{ port: number; socks: Set<net.Socket>; close: () => void }> {
  const socks = new Set<net.Socket>();
  const server = net.createServer({ pauseOnConnect: true }, (s) => {
    socks.add(s);
    s.on('error', () => {});
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ port: (server.address() as net.AddressInfo).port, socks, close: () => { for (const s of socks) s.destroy(); server.close(); } })));
}

describe('a stalled reader behind the gateways', () => {
  let pair: ProcPair;
  let source: Awaited<ReturnType<typeof startSource>>;
  let sink: Awaited<ReturnType<typeof startStalledSink>>;

  before(async () => {
    source = await startSource();
    sink = await startStalledSink();
    pair = await startProcPair([{ name: 'source', port: source.port }, { name: 'sink', port: sink.port }], { a: ['--workers', '1'], b: ['--workers', '1'] });
  });

  after(async () => {
    await stopAll();
    source?.close();
    sink?.close();
    pair?.cleanup();
  });

  for (const t of TRANSPORTS) {
    test(`${t}: a client that stops reading stops the target's writes; the gateways hold bounded, flat memory; all bytes arrive once it reads`, async () => {
      const before = source.written();
      const client = net.connect({ port: pair.port('source', t), host: '127.0.0.1' });
      client.on('error', () => {});
      let received = 0;
      // Read a little, so the tunnel is open end to end, then stall.
      await new Promise<void>((resolve) => {
        client.once('data', (c: Buffer) => {
          received += c.length;
          client.pause();
          resolve();
        });
      });
      const held = (await settled(() => source.written())) - before;
      assert.ok(held < BOUND, `${t}: the target wrote ${held} bytes into a stalled path`);
      const rss = [rssKb(pair.a.pid), rssKb(pair.b.pid)];
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(source.written() - before, held, `${t}: the target wrote more while the client was stalled`);
      const grown = [rssKb(pair.a.pid) - rss[0]!, rssKb(pair.b.pid) - rss[1]!];
      assert.ok(grown.every((kb) => kb < 4096), `${t}: RSS grew by ${grown.join(' / ')} KB while stalled`);
      // Resume: everything the target wrote arrives, and more follows.
      client.on('data', (c: Buffer) => (received += c.length));
      client.resume();
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${t}: received ${received} of ${held}`)), 20_000);
        const check = () => {
          if (received > held) {
            clearTimeout(timer);
            client.off('data', check);
            resolve();
          }
        };
        client.on('data', check);
      });
      client.destroy();
    });

    test(`${t}: a target that reads nothing stops the client's writes after a bounded number of bytes`, async () => {
      const client = net.connect({ port: pair.port('sink', t), host: '127.0.0.1' });
      client.on('error', () => {});
      let accepted = 0;
      let stop = false;
      await new Promise<void>((resolve) => client.once('connect', () => resolve()));
      const pump = () => {
        while (!stop && accepted < 2 * BOUND) {
          accepted += CHUNK.length;
          if (!client.write(CHUNK)) return void client.once('drain', pump);
        }
      };
      pump();
      // What the client's socket took; its own buffer is one chunk at most beyond the kernel's.
      const taken = await settled(() => client.bytesWritten);
      stop = true;
      assert.ok(taken < BOUND, `${t}: ${taken} bytes went into a path whose target reads nothing`);
      client.destroy();
    });
  }
});
