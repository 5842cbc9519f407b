// Flow control under a stalled reader: the peer writes as fast as it can, the reader reads nothing; the
// writer must stop at the window (backpressure: write() false, no 'drain'), memory stays bounded by the
// window, and everything arrives once the reader reads. Both directions, against Node's http2 (nghttp2).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { createHash, randomBytes } from 'node:crypto';
import type { Writable } from 'node:stream';
import type { H2Session, H2Stream } from '../../src/h2/index.js';
import { bundle, clientCreds, collect, ourClient, ourServer, serverCreds } from './fixtures.js';

const WINDOW = 1024 * 1024;
const TOTAL = 32 * 1024 * 1024;
const CHUNK = 64 * 1024;
const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const turn = () => new Promise((r) => setTimeout(r, 20));

/** Waits (bounded) until `cond` holds; the condition, never the time, is asserted. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await turn();
  assert.ok(cond(), what);
}

/** Writes TOTAL bytes as fast as `w` takes them: write() until false, then 'drain'. */
function fastWriter(w: Writable, data: Buffer) {
  const state = { sent: 0, blocked: false, done: false };
  const pump = () => {
    state.blocked = false;
    while (state.sent < data.length) {
      const n = Math.min(CHUNK, data.length - state.sent);
      const ok = w.write(data.subarray(state.sent, state.sent + n));
      state.sent += n;
      if (!ok) {
        state.blocked = true;
        w.once('drain', pump);
        return;
      }
    }
    state.done = true;
    w.end();
  };
  pump();
  return state;
}

/** Heap + Buffer memory of this process after a full GC when available (run with --expose-gc: no). */
const memory = () => {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

test('Node client writing as fast as it can into our stalled stream: stops at our window; all arrives once read', async () => {
  let stalled: H2Stream | undefined;
  let session: H2Session | undefined;
  const srv = await ourServer(
    (s) => {
      session = s;
      s.on('stream', (st) => {
        st.on('error', () => {});
        st.respond({ ':status': 200 });
        stalled = st; // nobody reads it (yet)
      });
    },
    { streamWindow: WINDOW, connectionWindow: 8 * WINDOW },
  );
  cleanups.push(() => srv.close());
  const c = http2.connect(`https://127.0.0.1:${srv.port}`, { ca: bundle, cert: clientCreds.certChain, key: clientCreds.key, checkServerIdentity: () => undefined });
  c.on('error', () => {});
  cleanups.push(() => c.destroy());
  const data = randomBytes(TOTAL);
  const before = memory();
  const req = c.request({ ':method': 'CONNECT', ':authority': 'sink.demo.svc.cluster.local:9' });
  req.on('error', () => {});
  const w = fastWriter(req, data);
  await until(() => stalled !== undefined && stalled.delivered === WINDOW && w.blocked, 'the writer fills our stream window and blocks');
  // Quiet: a while later nothing more has come (the peer cannot send past the window) and it still waits.
  for (let i = 0; i < 10; i++) await turn();
  assert.equal(stalled!.delivered, WINDOW, 'not one byte past the stream window');
  assert.equal(stalled!.readableLength, WINDOW, 'what arrived waits in the stream, unread');
  assert.ok(w.blocked && !w.done && w.sent < TOTAL / 4, `writer blocked after ${w.sent} bytes`);
  assert.equal(session!.recvWindow, 8 * WINDOW - WINDOW, 'no connection credit for unread data');
  const grown = memory() - before;
  // The sender's 32 MiB of input is allocated up front; what the stall adds is one window here plus the
  // writer's own bounded queue — far below the 32 MiB an unbounded buffer would hold.
  assert.ok(grown < 4 * WINDOW, `memory grew ${grown} bytes while stalled`);
  const got = await collect(stalled!);
  assert.equal(got.length, TOTAL);
  assert.equal(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(data).digest('hex'));
});

test('our client writing as fast as it can into a stalled Node stream: write() false, no drain, bounded queue; all arrives once read', async () => {
  let stalled: http2.ServerHttp2Stream | undefined;
  const server = http2.createSecureServer({ cert: serverCreds.certChain, key: serverCreds.key, ca: bundle, requestCert: true, settings: { initialWindowSize: WINDOW } });
  server.on('stream', (st) => {
    st.on('error', () => {});
    st.respond({ ':status': 200 });
    st.pause();
    stalled = st;
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => server.close(r)));
  const c = await ourClient((server.address() as { port: number }).port);
  cleanups.push(() => c.destroy());
  const data = randomBytes(TOTAL);
  const before = memory();
  const st = c.request({ ':method': 'CONNECT', ':authority': 'sink.demo.svc.cluster.local:9' });
  st.on('error', () => {});
  const w = fastWriter(st, data);
  await until(() => w.blocked && st.sendWindow === 0, 'our stream exhausts the peer window and the writer blocks');
  for (let i = 0; i < 10; i++) await turn();
  assert.ok(w.blocked && !w.done, 'still blocked');
  assert.equal(st.sendWindow, 0);
  // Queued in our stream: at most what the writer put in before write() said false, plus the chunk waiting.
  assert.ok(st.writableLength <= st.writableHighWaterMark + 2 * CHUNK, `queued ${st.writableLength}`);
  assert.ok(w.sent <= WINDOW + st.writableHighWaterMark + 2 * CHUNK, `writer stopped after ${w.sent} bytes`);
  const grown = memory() - before;
  assert.ok(grown < 4 * WINDOW, `memory grew ${grown} bytes while stalled`);
  stalled!.resume();
  const got = await collect(stalled!);
  assert.equal(got.length, TOTAL);
  assert.ok(got.equals(data));
});
