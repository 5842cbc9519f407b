// Graceful shutdown of a server session (RFC 9113 §6.8, src/h2/shutdown.ts): a stream the client opened
// before it read the server's GOAWAY is still answered, never refused. A raw peer plays the client, so the
// race a pooled client runs into during a drain (issue 17 item 1) is exact: it opens a stream after the
// server shut down but before it reads the GOAWAY, and answers the server's PING only after that.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { gracefulShutdown, type H2Session } from '../../src/h2/index.js';
import { Flag, FrameType, MAX_STREAM_ID } from '../../src/h2/constants.js';
import { frame, pingFrame } from '../../src/h2/frames.js';
import { ourServer } from './fixtures.js';
import { RawPeer, type RawFrame } from './raw.js';

const GET = [':method', 'GET', ':scheme', 'https', ':path', '/live', ':authority', 'gw'];
const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Our server answering every request 200; resolves its port and a way to reach the session of a peer. */
async function server(): Promise<{ port: number; session: () => Promise<H2Session> }> {
  let resolveSession: (s: H2Session) => void = () => {};
  const first = new Promise<H2Session>((r) => (resolveSession = r));
  const sessions = new Set<H2Session>();
  const srv = await ourServer((session) => {
    sessions.add(session);
    resolveSession(session);
    session.on('stream', (st) => {
      st.on('error', () => {});
      st.respond({ ':status': 200 });
      st.end('live\n');
    });
  });
  cleanups.push(() => {
    for (const x of sessions) x.destroy();
    return srv.close();
  });
  return { port: srv.port, session: () => first };
}

/** A raw client that acknowledges the server's SETTINGS and has had stream 1 answered. */
async function client(port: number): Promise<RawPeer> {
  const p = await RawPeer.open(port);
  cleanups.push(() => p.destroy());
  assert.ok(await p.waitFor((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) === 0), 'server SETTINGS');
  p.send(frame(FrameType.SETTINGS, Flag.ACK, 0), p.headers(1, GET, Flag.END_HEADERS | Flag.END_STREAM));
  assert.ok(await p.waitFor((f) => f.type === FrameType.HEADERS && f.id === 1), 'stream 1 answered');
  return p;
}

const goaways = (p: RawPeer): RawFrame[] => p.frames.filter((f) => f.type === FrameType.GOAWAY);
const lastStreamId = (f: RawFrame): number => f.payload.readUInt32BE(0) & 0x7fffffff;

test('graceful shutdown: a stream opened before the client read the GOAWAY is answered; the final GOAWAY follows the PING ACK', async () => {
  const s = await server();
  const p = await client(s.port);
  const done = gracefulShutdown(await s.session());
  const notice = await p.waitFor((f) => f.type === FrameType.GOAWAY);
  assert.ok(notice, 'a GOAWAY arrives');
  // The client opened stream 3 before it read that GOAWAY (it is sent right behind it, ahead of any PING ACK).
  p.send(p.headers(3, GET, Flag.END_HEADERS | Flag.END_STREAM));
  const answer = await p.waitFor((f) => (f.type === FrameType.HEADERS || f.type === FrameType.RST_STREAM) && f.id === 3);
  assert.equal(answer?.type, FrameType.HEADERS, 'stream 3 is answered, not refused or ignored');
  assert.equal(lastStreamId(notice), MAX_STREAM_ID, 'the first GOAWAY is the notice (last-stream-id 2^31-1)');
  const ping = await p.waitFor((f) => f.type === FrameType.PING && (f.flags & Flag.ACK) === 0);
  assert.ok(ping, 'a PING follows the notice');
  assert.equal(goaways(p).length, 1, 'no final GOAWAY before the ACK');
  p.send(pingFrame(true, ping.payload));
  await done;
  const final = await p.waitFor(() => goaways(p).length >= 2);
  assert.ok(final, 'a final GOAWAY after the ACK');
  assert.equal(lastStreamId(goaways(p)[1]!), 3, 'the final GOAWAY names the last stream taken');
  await p.closedAfter();
});

test('graceful shutdown: a client that never acknowledges the PING still gets the final GOAWAY, and the session closes', async () => {
  const s = await server();
  const p = await client(s.port);
  const session = await s.session();
  await gracefulShutdown(session, 200);
  assert.deepEqual(goaways(p).length >= 1 ? [lastStreamId(goaways(p)[0]!)] : [], [MAX_STREAM_ID]);
  const final = await p.waitFor(() => goaways(p).length >= 2);
  assert.ok(final, 'the final GOAWAY without an ACK');
  assert.equal(lastStreamId(goaways(p)[1]!), 1);
  await p.closedAfter();
  assert.equal(session.closed, true);
});
