// Interoperability with Node's own http2 (nghttp2 inside) over real TLS on loopback, ALPN h2, both ways:
// CONNECT tunnels (echo, half-close, resets each way, GOAWAY drain, many streams, bulk beyond every
// window) and plain GET requests.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { createHash, randomBytes } from 'node:crypto';
import { ErrorCode, H2Error, type H2Session, type H2Stream } from '../../src/h2/index.js';
import { bundle, clientCreds, collect, ourClient, ourServer, serverCreds, tlsConnect } from './fixtures.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const AUTH = 'echo.demo.svc.cluster.local:7';
const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Node's http2 server: CONNECT → echo (ends after the client ends), GET /live → 200 "live". */
async function nodeServer(onStream?: (s: http2.ServerHttp2Stream, h: http2.IncomingHttpHeaders) => boolean) {
  const server = http2.createSecureServer({ cert: serverCreds.certChain, key: serverCreds.key, ca: bundle, requestCert: true, rejectUnauthorized: true, allowHTTP1: false });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    if (onStream?.(stream, headers)) return;
    if (headers[':method'] === 'GET') {
      stream.respond({ ':status': 200, 'content-type': 'text/plain' });
      stream.end('live\n');
      return;
    }
    stream.respond({ ':status': 200 });
    stream.pipe(stream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const close = () => new Promise<void>((r) => {
    for (const s of sessions) s.destroy();
    server.close(() => r());
  });
  cleanups.push(close);
  return { server, port, sessions, close };
}

function nodeClient(port: number): http2.ClientHttp2Session {
  const c = http2.connect(`https://127.0.0.1:${port}`, { ca: bundle, cert: clientCreds.certChain, key: clientCreds.key, checkServerIdentity: () => undefined });
  c.on('error', () => {});
  cleanups.push(() => void c.destroy());
  return c;
}

/** Our server: CONNECT → echo; GET /live → 200 "live"; `onStream` may take a stream first. */
async function oursServer(onStream?: (s: H2Stream, session: H2Session) => boolean, options = {}) {
  const sessions = new Set<H2Session>();
  const srv = await ourServer((session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
    session.on('stream', (st, h) => {
      st.on('error', () => {});
      if (onStream?.(st, session)) return;
      if (h[':method'] === 'GET') {
        st.respond({ ':status': 200, 'content-type': 'text/plain' });
        st.end('live\n');
        return;
      }
      st.respond({ ':status': 200 });
      st.pipe(st);
    });
  }, options);
  cleanups.push(() => srv.close());
  return { ...srv, sessions };
}

function response(st: H2Stream): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    st.once('response', resolve);
    st.once('error', reject);
    st.once('close', () => reject(new Error(`closed before a response (rst ${String(st.rstCode)})`)));
  });
}

test('our client → Node server: CONNECT echo with half-close, then GET /live', async () => {
  const { port } = await nodeServer();
  const c = await ourClient(port);
  const st = c.request({ ':method': 'CONNECT', ':authority': AUTH });
  assert.equal((await response(st))[':status'], '200');
  const data = randomBytes(100_000);
  st.end(data);
  assert.equal(sha(await collect(st)), sha(data));
  const get = c.request({ ':method': 'GET', ':scheme': 'https', ':path': '/live', ':authority': 'gw' }, { endStream: true });
  const h = await response(get);
  assert.deepEqual([h[':status'], h['content-type']], ['200', 'text/plain']);
  assert.equal((await collect(get)).toString(), 'live\n');
  // PING: Node's server acknowledges ours; the round trip is a number of ms.
  assert.equal(typeof (await c.ping()), 'number');
  c.close();
});

test('Node client → our server: CONNECT echo with half-close, then GET /live', async () => {
  const { port } = await oursServer();
  const c = nodeClient(port);
  const t = c.request({ ':method': 'CONNECT', ':authority': AUTH });
  const data = randomBytes(100_000);
  t.end(data);
  const [headers] = await Promise.all([new Promise<http2.IncomingHttpHeaders>((r) => t.once('response', r))]);
  assert.equal(headers[':status'], 200);
  assert.equal(sha(await collect(t)), sha(data));
  const g = c.request({ ':path': '/live' });
  const gh = await new Promise<http2.IncomingHttpHeaders>((r) => g.once('response', r));
  assert.equal(gh[':status'], 200);
  assert.equal((await collect(g)).toString(), 'live\n');
  c.close();
});

test('bulk beyond every window, both directions, many concurrent tunnels (both pairings)', async () => {
  // Small windows on our side so that WINDOW_UPDATEs (ours and nghttp2's) carry the transfer.
  const small = { streamWindow: 65_535, connectionWindow: 131_072 };
  const node = await nodeServer();
  const ours = await oursServer(undefined, small);
  const c1 = await ourClient(node.port, small);
  const c2 = nodeClient(ours.port);
  const one = async (open: () => NodeJS.ReadWriteStream, size: number) => {
    const data = randomBytes(size);
    const st = open();
    st.end(data);
    assert.equal(sha(await collect(st)), sha(data));
  };
  const big = 8 * 1024 * 1024;
  await Promise.all([
    one(() => c1.request({ ':method': 'CONNECT', ':authority': AUTH }), big),
    one(() => c2.request({ ':method': 'CONNECT', ':authority': AUTH }), big),
    ...Array.from({ length: 50 }, (_, i) => one(() => c1.request({ ':method': 'CONNECT', ':authority': AUTH }), 1000 + i * 997)),
    ...Array.from({ length: 50 }, (_, i) => one(() => c2.request({ ':method': 'CONNECT', ':authority': AUTH }), 1000 + i * 997)),
  ]);
  c1.close();
  c2.close();
});

test('resets both ways: our RST reaches Node as a reset, Node\'s reaches us as rstCode', async () => {
  let serverSide: http2.ServerHttp2Stream | undefined;
  const node = await nodeServer((s, h) => {
    if (h[':authority'] !== 'reset-me:1') return false;
    serverSide = s;
    s.respond({ ':status': 200 });
    return true;
  });
  const c = await ourClient(node.port);
  const a = c.request({ ':method': 'CONNECT', ':authority': 'reset-me:1' });
  a.on('error', () => {});
  await response(a);
  const closed = new Promise<number>((r) => serverSide!.once('close', () => r(serverSide!.rstCode)));
  a.reset(ErrorCode.CONNECT_ERROR);
  assert.equal(await closed, ErrorCode.CONNECT_ERROR);
  // Node resets one of ours.
  const b = c.request({ ':method': 'CONNECT', ':authority': 'reset-me:1' });
  const bErr = new Promise<unknown>((r) => b.once('error', r));
  await response(b);
  serverSide!.close(http2.constants.NGHTTP2_CONNECT_ERROR);
  const e = await bErr;
  assert.ok(e instanceof H2Error && e.code === 'ERR_H2_STREAM_RESET' && e.h2Code === ErrorCode.CONNECT_ERROR, String(e));
  assert.equal(b.rstCode, ErrorCode.CONNECT_ERROR);
  // The connection carries on.
  const ok = c.request({ ':method': 'CONNECT', ':authority': AUTH });
  ok.end('still here');
  assert.equal((await collect(ok)).toString(), 'still here');
  c.close();
});

test('Node client resets our stream; we reset Node\'s; the connection carries on', async () => {
  let ourSide: H2Stream | undefined;
  const ours = await oursServer((st) => {
    if (st.headers?.[':authority'] !== 'reset-me:1') return false;
    ourSide = st;
    st.respond({ ':status': 200 });
    return true;
  });
  const c = nodeClient(ours.port);
  const a = c.request({ ':method': 'CONNECT', ':authority': 'reset-me:1' });
  a.on('error', () => {});
  await new Promise((r) => a.once('response', r));
  const closed = new Promise<number | undefined>((r) => ourSide!.once('close', () => r(ourSide!.rstCode)));
  a.close(http2.constants.NGHTTP2_CANCEL);
  assert.equal(await closed, ErrorCode.CANCEL);
  const b = c.request({ ':method': 'CONNECT', ':authority': 'reset-me:1' });
  b.on('error', () => {});
  await new Promise((r) => b.once('response', r));
  const bClosed = new Promise<number>((r) => b.once('close', () => r(b.rstCode!)));
  ourSide!.reset(ErrorCode.CONNECT_ERROR);
  assert.equal(await bClosed, ErrorCode.CONNECT_ERROR);
  const ok = c.request({ ':method': 'CONNECT', ':authority': AUTH });
  ok.end('still here');
  assert.equal((await collect(ok)).toString(), 'still here');
  c.close();
});

test('GOAWAY from Node: open tunnels finish, streams above last-stream-id are refused (retryable), no new streams', async () => {
  const node = await nodeServer();
  const c = await ourClient(node.port);
  const open = c.request({ ':method': 'CONNECT', ':authority': AUTH });
  await response(open);
  const above = c.request({ ':method': 'CONNECT', ':authority': AUTH });
  above.on('error', () => {});
  await response(above);
  const aboveErr = new Promise<unknown>((r) => above.once('error', r));
  const goaway = new Promise<[number, number]>((r) => c.once('goaway', (code, last) => r([code, last])));
  // Drain with last-stream-id = the first stream: the second one is declared never processed.
  for (const s of node.sessions) s.goaway(http2.constants.NGHTTP2_NO_ERROR, open.id);
  assert.deepEqual(await goaway, [0, open.id]);
  const e = await aboveErr;
  assert.ok(e instanceof H2Error && e.code === 'ERR_H2_REFUSED', String(e));
  assert.throws(() => c.request({ ':method': 'CONNECT', ':authority': AUTH }), (x: unknown) => x instanceof H2Error && x.code === 'ERR_H2_UNAVAILABLE');
  open.end('finishing');
  assert.equal((await collect(open)).toString(), 'finishing');
  await new Promise((r) => (c.closed ? r(undefined) : c.once('close', r)));
});

test("regression: a GOAWAY that refuses the session's last streams emits 'goaway' before 'close' (a pool reconnects on 'goaway')", async () => {
  const node = await nodeServer();
  const c = await ourClient(node.port);
  const first = c.request({ ':method': 'CONNECT', ':authority': AUTH });
  await response(first);
  first.end();
  await collect(first);
  const above = c.request({ ':method': 'CONNECT', ':authority': AUTH });
  above.on('error', () => {});
  await response(above);
  const order: string[] = [];
  c.once('goaway', () => order.push(c.closed ? 'goaway after close' : 'goaway'));
  const closed = new Promise((r) => c.once('close', () => r(order.push('close'))));
  // Every stream left is above the last-stream-id: refusing them empties the session.
  for (const s of node.sessions) s.goaway(http2.constants.NGHTTP2_NO_ERROR, first.id);
  await closed;
  assert.deepEqual(order, ['goaway', 'close']);
});

test('GOAWAY from us: Node\'s open tunnel finishes, Node opens no new stream, the connection closes', async () => {
  const ours = await oursServer();
  const c = nodeClient(ours.port);
  const t = c.request({ ':method': 'CONNECT', ':authority': AUTH });
  await new Promise((r) => t.once('response', r));
  const gone = new Promise<number>((r) => c.once('goaway', (code: number) => r(code)));
  for (const s of ours.sessions) s.close();
  assert.equal(await gone, 0);
  t.end('after goaway');
  assert.equal((await collect(t)).toString(), 'after goaway');
  await new Promise((r) => (c.closed || c.destroyed ? r(undefined) : c.once('close', r)));
  assert.equal(ours.sessions.size, 0);
});

test('our client speaks to the TLS socket only after ALPN h2 (tlsConnect refuses another protocol)', async () => {
  const { port } = await nodeServer();
  const sock = await tlsConnect(port);
  assert.equal(sock.alpnProtocol, 'h2');
  sock.destroy();
});

test('the peer\'s MAX_CONCURRENT_STREAMS: request() refuses past it (ERR_H2_UNAVAILABLE), `available` says so, a closed stream frees a slot', async () => {
  const server = http2.createSecureServer({ cert: serverCreds.certChain, key: serverCreds.key, ca: bundle, requestCert: true, settings: { maxConcurrentStreams: 2 } });
  server.on('stream', (s) => {
    s.on('error', () => {});
    s.respond({ ':status': 200 });
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  const c = await ourClient((server.address() as { port: number }).port);
  const a = c.request({ ':method': 'CONNECT', ':authority': AUTH });
  const b = c.request({ ':method': 'CONNECT', ':authority': AUTH });
  assert.equal(c.available, false);
  assert.throws(() => c.request({ ':method': 'CONNECT', ':authority': AUTH }), (x: unknown) => x instanceof H2Error && x.code === 'ERR_H2_UNAVAILABLE');
  a.end('one');
  assert.equal((await collect(a)).toString(), 'one');
  await new Promise((r) => (a.destroyed ? r(undefined) : a.once('close', r)));
  assert.equal(c.available, true);
  const d = c.request({ ':method': 'CONNECT', ':authority': AUTH });
  d.end('three');
  b.end('two');
  assert.deepEqual([(await collect(b)).toString(), (await collect(d)).toString()], ['two', 'three']);
  c.close();
});
