// Interoperability with nghttp2's own tools over real TLS on loopback (ALPN h2): nghttp and h2load as
// clients of our server (GET, a request body echoed, a response larger than nghttp's windows, h2load's
// many streams on few connections), and our client against nghttpd (Huffman-coded, dynamically indexed
// response headers; bodies beyond our window). Debian: nghttp2-client (nghttp, h2load), nghttp2-server
// (nghttpd); .ci/run installs both.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { startProcess, stopAll, type Proc } from '../helpers/process.js';
import { freePort } from '../helpers/ports.js';
import type { H2Session } from '../../src/h2/index.js';
import { collect, ourClient, ourServer, serverCreds } from './fixtures.js';

const which = (cmd: string) => ['/usr/bin', '/usr/sbin', '/usr/local/bin', '/bin'].map((d) => join(d, cmd)).find(existsSync);
const nghttp = which('nghttp');
const h2load = which('h2load');
const nghttpd = which('nghttpd');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const dir = mkdtempSync(join(tmpdir(), 'h2-nghttp2-'));
// Text: the process helper reads a tool's stdout as UTF-8.
const BIG = Buffer.from(randomBytes(800_000).toString('base64'));
const sessions = new Set<H2Session>();
let closeServer: (() => Promise<void>) | undefined;
let port = 0;

after(async () => {
  await stopAll();
  for (const s of sessions) s.destroy();
  await closeServer?.();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs a tool to its end (bounded), returns stdout; the process is stopped by pid on timeout. */
async function run(bin: string, args: string[], timeoutMs = 30_000): Promise<{ code: number | string; out: string; err: string; proc: Proc }> {
  const proc = startProcess(bin, args);
  const timer = setTimeout(() => void proc.stop(), timeoutMs);
  const code = await proc.exited;
  clearTimeout(timer);
  return { code, out: proc.stdout(), err: proc.stderr(), proc };
}

async function server(): Promise<number> {
  if (port) return port;
  // nghttp2's tools present no client certificate: this server does not ask for one.
  const srv = await ourServer(
    (s) => {
      sessions.add(s);
      s.on('close', () => sessions.delete(s));
      s.on('stream', (st, h) => {
        st.on('error', () => {});
        const path = h[':path'];
        if (h[':method'] === 'POST' && path === '/echo') {
          st.respond({ ':status': 200, 'content-type': 'application/octet-stream' });
          st.pipe(st);
        } else if (path === '/live') {
          st.respond({ ':status': 200, 'content-type': 'text/plain' });
          st.end('live\n');
        } else if (path === '/big') {
          st.respond({ ':status': 200, 'content-length': BIG.length });
          st.end(BIG);
        } else st.respond({ ':status': 404 }, { endStream: true });
      });
    },
    {},
    false,
  );
  closeServer = () => srv.close();
  port = srv.port;
  return port;
}

test('nghttp GETs /live from our server', { skip: !nghttp && 'nghttp not installed (apt-get install nghttp2-client)' }, async () => {
  const p = await server();
  const r = await run(nghttp!, [`https://127.0.0.1:${p}/live`]);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, 'live\n');
});

test('nghttp POSTs a body that our server echoes, and reads a body past its 64 KiB windows', { skip: !nghttp && 'nghttp not installed' }, async () => {
  const p = await server();
  const body = Buffer.from(randomBytes(225_000).toString('base64'));
  const file = join(dir, 'body');
  writeFileSync(file, body);
  const echo = await run(nghttp!, ['-d', file, `https://127.0.0.1:${p}/echo`]);
  assert.equal(echo.code, 0, echo.err);
  assert.equal(sha(Buffer.from(echo.out)), sha(body));
  // -w/-W 16: 64 KiB stream and connection windows; our sender waits for nghttp's WINDOW_UPDATEs.
  const big = await run(nghttp!, ['-w', '16', '-W', '16', `https://127.0.0.1:${p}/big`]);
  assert.equal(big.code, 0, big.err);
  assert.equal(sha(Buffer.from(big.out)), sha(BIG));
});

test('h2load: 4,000 requests, 2 connections, 100 concurrent streams each — every one succeeds', { skip: !h2load && 'h2load not installed' }, async () => {
  const p = await server();
  const r = await run(h2load!, ['-n', '4000', '-c', '2', '-m', '100', `https://127.0.0.1:${p}/live`], 60_000);
  assert.equal(r.code, 0, r.err + r.out);
  assert.match(r.out, /requests: 4000 total, 4000 started, 4000 done, 4000 succeeded, 0 failed, 0 errored/);
  assert.match(r.out, /status codes: 4000 2xx/);
  assert.match(r.out, /Application protocol: h2/);
});

test('our client GETs from nghttpd: headers it Huffman-codes and indexes, bodies past our window', { skip: !nghttpd && 'nghttpd not installed (apt-get install nghttp2-server)' }, async () => {
  const docs = join(dir, 'docs');
  rmSync(docs, { recursive: true, force: true });
  (await import('node:fs')).mkdirSync(docs);
  const files = ['a.bin', 'b.bin', 'c.txt'].map((name, i) => {
    const data = i === 2 ? Buffer.from('hello from nghttpd\n') : randomBytes(700_000 + i);
    writeFileSync(join(docs, name), data);
    return { name, data };
  });
  const keyFile = join(dir, 'srv.key');
  const certFile = join(dir, 'srv.crt');
  writeFileSync(keyFile, serverCreds.key);
  writeFileSync(certFile, serverCreds.certChain);
  const p = await freePort();
  startProcess(nghttpd!, ['-a', '127.0.0.1', '-d', docs, String(p), keyFile, certFile]);
  let c: H2Session | undefined;
  for (let i = 0; i < 100 && !c; i++) {
    try {
      c = await ourClient(p, { streamWindow: 65_535, connectionWindow: 65_535 });
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  assert.ok(c, 'nghttpd did not come up');
  sessions.add(c);
  // Twice each, concurrently: the second responses reuse the dynamic table entries of the first.
  const get = async (name: string) => {
    const st = c!.request({ ':method': 'GET', ':scheme': 'https', ':authority': `127.0.0.1:${p}`, ':path': `/${name}` }, { endStream: true });
    const h = await new Promise<Record<string, string>>((resolve, reject) => {
      st.once('response', resolve);
      st.once('error', reject);
    });
    return { h, body: await collect(st) };
  };
  const results = await Promise.all([...files, ...files].map((f) => get(f.name)));
  results.forEach((r, i) => {
    const f = files[i % files.length]!;
    assert.equal(r.h[':status'], '200');
    assert.equal(r.h['content-length'], String(f.data.length));
    assert.match(r.h.server ?? '', /nghttpd/);
    assert.equal(sha(r.body), sha(f.data), f.name);
  });
  c.close();
});
