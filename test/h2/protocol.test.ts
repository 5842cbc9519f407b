// RFC 9113 error handling and the limits against hostile peers, with hand-made frames over real mTLS:
// connection errors end in GOAWAY with the right code, stream errors in RST_STREAM while the connection
// carries on; padding, PRIORITY and unknown frame types are accepted; floods and rapid reset are cut off.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, H2Error, type H2Session, type Limits } from '../../src/h2/index.js';
import { FrameType, Flag, PREFACE } from '../../src/h2/constants.js';
import { frame, rstFrame, settingsFrame, windowUpdateFrame, pingFrame } from '../../src/h2/frames.js';
import { ourServer } from './fixtures.js';
import { RawPeer } from './raw.js';

const GET = [':method', 'GET', ':scheme', 'https', ':path', '/live', ':authority', 'gw'];
const CONNECT = [':method', 'CONNECT', ':authority', 'echo.demo.svc.cluster.local:7'];
const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

interface Server {
  port: number;
  opened: number;
  closeErrors: Array<H2Error | undefined>;
}

async function server(limits: Partial<Limits> = {}, streamWindow = 65_535): Promise<Server> {
  const s: Server = { port: 0, opened: 0, closeErrors: [] };
  const sessions = new Set<H2Session>();
  const srv = await ourServer(
    (session) => {
      sessions.add(session);
      session.on('close', (err) => s.closeErrors.push(err));
      session.on('stream', (st, h) => {
        s.opened++;
        st.on('error', () => {});
        if (h[':method'] === 'GET') {
          st.respond({ ':status': 200 });
          st.end('live\n');
        } else st.respond({ ':status': 200 });
      });
    },
    { streamWindow, limits },
  );
  s.port = srv.port;
  cleanups.push(() => {
    for (const x of sessions) x.destroy();
    return srv.close();
  });
  return s;
}

async function peer(port: number, preface?: Buffer): Promise<RawPeer> {
  const p = await RawPeer.open(port, preface);
  cleanups.push(() => p.destroy());
  return p;
}

const { PROTOCOL_ERROR, FRAME_SIZE_ERROR, FLOW_CONTROL_ERROR, COMPRESSION_ERROR, ENHANCE_YOUR_CALM, REFUSED_STREAM } = ErrorCode;

const connectionErrors: Array<[string, (p: RawPeer) => void, number, Buffer?]> = [
  ['a wrong preface', () => {}, PROTOCOL_ERROR, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n\r\n\r\n')],
  ['a first frame other than SETTINGS', () => {}, PROTOCOL_ERROR, Buffer.concat([PREFACE, pingFrame(false, Buffer.alloc(8))])],
  ['DATA on stream 0', (p) => p.send(frame(FrameType.DATA, 0, 0, Buffer.from('x'))), PROTOCOL_ERROR],
  ['DATA on an idle stream', (p) => p.send(frame(FrameType.DATA, 0, 5, Buffer.from('x'))), PROTOCOL_ERROR],
  ['a frame above SETTINGS_MAX_FRAME_SIZE', (p) => p.send(frame(FrameType.DATA, 0, 1, Buffer.alloc(65 * 1024))), FRAME_SIZE_ERROR],
  ['another frame inside a header block', (p) => p.send(p.headers(1, GET, 0), pingFrame(false, Buffer.alloc(8))), PROTOCOL_ERROR],
  ['CONTINUATION without HEADERS', (p) => p.send(frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, Buffer.alloc(0))), PROTOCOL_ERROR],
  ['an HPACK index 0', (p) => p.send(frame(FrameType.HEADERS, Flag.END_HEADERS, 1, Buffer.from([0x80]))), COMPRESSION_ERROR],
  ['SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1', (p) => p.send(settingsFrame([[4, 2 ** 31]])), FLOW_CONTROL_ERROR],
  ['SETTINGS_MAX_FRAME_SIZE below 16384', (p) => p.send(settingsFrame([[5, 100]])), PROTOCOL_ERROR],
  ['a SETTINGS length not a multiple of 6', (p) => p.send(frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(5))), FRAME_SIZE_ERROR],
  ['PING of 7 bytes', (p) => p.send(frame(FrameType.PING, 0, 0, Buffer.alloc(7))), FRAME_SIZE_ERROR],
  ['WINDOW_UPDATE of 0 on the connection', (p) => p.send(windowUpdateFrame(0, 0)), PROTOCOL_ERROR],
  ['RST_STREAM on an idle stream', (p) => p.send(rstFrame(7, 8)), PROTOCOL_ERROR],
  ['PUSH_PROMISE from a client', (p) => p.send(frame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, Buffer.alloc(4))), PROTOCOL_ERROR],
];

for (const [name, act, code, preface] of connectionErrors) {
  test(`connection error: ${name} → GOAWAY(${code}) and the connection closes`, async () => {
    const s = await server();
    const p = await peer(s.port, preface);
    act(p);
    assert.equal(await p.goaway(), code);
    await p.closedAfter();
  });
}

test('stream errors reset the stream and the connection carries on', async () => {
  const s = await server();
  const p = await peer(s.port);
  p.send(p.headers(1, CONNECT));
  p.send(windowUpdateFrame(1, 0));
  assert.equal(await p.rst(1), PROTOCOL_ERROR, 'WINDOW_UPDATE of 0 on a stream');
  p.send(p.headers(3, [':method', 'CONNECT', ':authority', 'x:1', ':path', '/']));
  assert.equal(await p.rst(3), PROTOCOL_ERROR, 'CONNECT with :path is malformed');
  p.send(p.headers(5, [...GET, 'Upper', 'x']));
  assert.equal(await p.rst(5), PROTOCOL_ERROR, 'an upper-case field name is malformed');
  p.send(p.headers(7, [...GET, 'connection', 'keep-alive']));
  assert.equal(await p.rst(7), PROTOCOL_ERROR, 'connection-specific fields are malformed');
  p.send(frame(FrameType.PRIORITY, 0, 9, Buffer.from([0, 0, 0, 9, 16])));
  assert.equal(await p.rst(9), PROTOCOL_ERROR, 'a stream depending on itself');
  // The stream window (64 KiB - 1 here) is exceeded by 40,000 + 40,000 bytes of DATA.
  p.send(p.headers(11, CONNECT), frame(FrameType.DATA, 0, 11, Buffer.alloc(40_000)), frame(FrameType.DATA, 0, 11, Buffer.alloc(40_000)));
  assert.equal(await p.rst(11), FLOW_CONTROL_ERROR);
  // HEADERS below the highest stream id seen: a closed (or skipped) stream. A stream error, not a
  // connection error: trailers racing our reset must not take down every tunnel on the connection.
  const seen = p.frames.length;
  p.send(p.headers(3, GET, Flag.END_HEADERS | Flag.END_STREAM));
  const again = await p.waitFor((f) => f.type === FrameType.RST_STREAM && f.id === 3 && p.frames.indexOf(f) >= seen);
  assert.equal(again?.payload.readUInt32BE(0), ErrorCode.STREAM_CLOSED);
  p.send(pingFrame(false, Buffer.from('stillup!')));
  const pong = await p.waitFor((f) => f.type === FrameType.PING && (f.flags & Flag.ACK) !== 0);
  assert.equal(pong?.payload.toString(), 'stillup!');
  assert.equal(p.frames.some((f) => f.type === FrameType.GOAWAY), false);
});

test('padding, PRIORITY, unknown frame types and SETTINGS are accepted: the request is answered', async () => {
  const s = await server();
  const p = await peer(s.port);
  const block = p.encoder.encode(GET);
  // HEADERS with PADDED and PRIORITY, split over a CONTINUATION; an unknown frame and PRIORITY around it.
  const first = Buffer.concat([Buffer.from([3]), Buffer.from([0, 0, 0, 0, 16]), block.subarray(0, 2), Buffer.alloc(3)]);
  p.send(
    frame(0xfa, 0, 0, Buffer.from('ignored')),
    frame(FrameType.HEADERS, Flag.PADDED | Flag.PRIORITY, 1, first),
    frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, block.subarray(2)),
    frame(FrameType.PRIORITY, 0, 3, Buffer.from([0, 0, 0, 1, 16])),
    frame(FrameType.DATA, Flag.PADDED | Flag.END_STREAM, 1, Buffer.from([2, 0x61, 0, 0])),
  );
  const ack = await p.waitFor((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) !== 0);
  assert.ok(ack, 'our SETTINGS acknowledged');
  const data = await p.waitFor((f) => f.type === FrameType.DATA && f.id === 1 && (f.flags & Flag.END_STREAM) !== 0);
  assert.equal(Buffer.concat(p.frames.filter((f) => f.type === FrameType.DATA && f.id === 1).map((f) => f.payload)).toString(), 'live\n', String(data));
  assert.equal(p.frames.some((f) => f.type === FrameType.GOAWAY || f.type === FrameType.RST_STREAM), false);
});

test('a header list over the limit is answered 431 and the stream closed; the connection carries on', async () => {
  const s = await server({ maxHeaderListSize: 1000 });
  const p = await peer(s.port);
  p.send(p.headers(1, [...GET, 'x-big', 'v'.repeat(1500)], Flag.END_HEADERS | Flag.END_STREAM));
  assert.equal(await p.rst(1), ErrorCode.NO_ERROR);
  const h = p.frames.find((f) => f.type === FrameType.HEADERS && f.id === 1);
  assert.ok(h, '431 sent');
  assert.equal(s.opened, 0, 'the application never saw it');
  p.send(p.headers(3, GET, Flag.END_HEADERS | Flag.END_STREAM));
  assert.ok(await p.waitFor((f) => f.type === FrameType.DATA && f.id === 3));
});

test('CONTINUATION flood: many tiny frames in one header block → GOAWAY(ENHANCE_YOUR_CALM)', async () => {
  const s = await server({ maxContinuations: 32 });
  const p = await peer(s.port);
  const bufs = [frame(FrameType.HEADERS, 0, 1, Buffer.from([0x82]))];
  for (let i = 0; i < 100; i++) bufs.push(frame(FrameType.CONTINUATION, 0, 1, Buffer.alloc(0)));
  p.send(...bufs);
  assert.equal(await p.goaway(), ENHANCE_YOUR_CALM);
  assert.ok(s.closeErrors.some((e) => e?.code === 'ERR_H2_PEER_ABUSE'));
});

test('concurrent stream limit: a stream over it is refused (REFUSED_STREAM, retryable)', async () => {
  const s = await server({ maxConcurrentStreams: 2 });
  const p = await peer(s.port);
  p.send(p.headers(1, CONNECT), p.headers(3, CONNECT), p.headers(5, CONNECT));
  assert.equal(await p.rst(5), REFUSED_STREAM);
  assert.equal(s.opened, 2);
});

test('rapid reset (CVE-2023-44487): open-and-reset in a loop is cut off with GOAWAY(ENHANCE_YOUR_CALM)', async () => {
  const s = await server({ resetBurst: 50, resetRate: 10 });
  const p = await peer(s.port);
  const bufs: Buffer[] = [];
  for (let id = 1; id < 2 * 1000; id += 2) bufs.push(p.headers(id, CONNECT), rstFrame(id, ErrorCode.CANCEL));
  p.send(...bufs);
  assert.equal(await p.goaway(), ENHANCE_YOUR_CALM);
  await p.closedAfter();
  // The application saw the burst and little more, not the 1,000 streams sent.
  assert.ok(s.opened <= 52, `opened ${s.opened}`);
});

test('PING flood, SETTINGS flood and empty DATA frames draw on one budget → GOAWAY(ENHANCE_YOUR_CALM)', async () => {
  for (const make of [
    () => Array.from({ length: 500 }, () => pingFrame(false, Buffer.alloc(8))),
    () => Array.from({ length: 500 }, () => settingsFrame([])),
    (p: RawPeer) => [p.headers(1, CONNECT), ...Array.from({ length: 500 }, () => frame(FrameType.DATA, 0, 1))],
  ]) {
    const s = await server({ controlBurst: 100, controlRate: 10 });
    const p = await peer(s.port);
    p.send(...make(p));
    assert.equal(await p.goaway(), ENHANCE_YOUR_CALM);
    const pongs = p.frames.filter((f) => f.type === FrameType.PING).length;
    assert.ok(pongs <= 101, `answered ${pongs} pings`);
  }
});

test('SETTINGS never acknowledged → GOAWAY(SETTINGS_TIMEOUT) on the shared coarse tick', async () => {
  const s = await server({ settingsTimeoutSec: 1 });
  const p = await peer(s.port); // a raw peer sends no SETTINGS ACK
  assert.equal(await p.goaway(), ErrorCode.SETTINGS_TIMEOUT);
  await p.closedAfter();
});
