// The SPDY/3.1 server session without kubectl: a minimal client in the test (frames by hand, header blocks
// through zlib with the SPDY/3 dictionary) opens streams, sends data with FIN, and reads the replies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import net from 'node:net';
import zlib from 'node:zlib';
import { SpdySession, type SpdyStream } from '../../src/apiserver/http/spdy.js';

const require = createRequire(import.meta.url);
const dictionary = (require('spdy-transport/lib/spdy-transport/protocol/spdy/dictionary.js') as Record<number, Buffer>)[3] as Buffer;

function headerBlock(h: Record<string, string>): Buffer {
  const parts: Buffer[] = [Buffer.from([0, 0, 0, Object.keys(h).length])];
  for (const [k, v] of Object.entries(h)) for (const s of [k, v]) {
    const l = Buffer.alloc(4);
    l.writeUInt32BE(Buffer.byteLength(s));
    parts.push(l, Buffer.from(s));
  }
  return Buffer.concat(parts);
}

function control(type: number, flags: number, body: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x8003, 0);
  h.writeUInt16BE(type, 2);
  h[4] = flags;
  h.writeUIntBE(body.length, 5, 3);
  return Buffer.concat([h, body]);
}

function data(id: number, fin: boolean, body: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(id, 0);
  h[4] = fin ? 1 : 0;
  h.writeUIntBE(body.length, 5, 3);
  return Buffer.concat([h, body]);
}

/** A client-side compression context: each header block is a sync-flushed piece of one zlib stream. */
function compressor(): (b: Buffer) => Promise<Buffer> {
  const z = zlib.createDeflate({ dictionary });
  return (b) => new Promise((resolve) => {
    const out: Buffer[] = [];
    const on = (c: Buffer) => out.push(c);
    z.on('data', on);
    z.write(b);
    z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
      z.off('data', on);
      resolve(Buffer.concat(out));
    });
  });
}

async function pair(): Promise<{ client: net.Socket; session: SpdySession; close(): void }> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const client = net.connect(port, '127.0.0.1');
  const session = new SpdySession(await accepted);
  return { client, session, close: () => { client.destroy(); server.close(); } };
}

test('spdy: streams open with their headers, data flows both ways with FIN, PING is echoed', async () => {
  const { client, session, close } = await pair();
  try {
    const received: Buffer[] = [];
    client.on('data', (c: Buffer) => received.push(c));
    const streams: SpdyStream[] = [];
    session.on('stream', (s: SpdyStream) => {
      streams.push(s);
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => chunks.push(c));
      s.on('end', () => s.end(Buffer.concat([Buffer.from('echo:'), ...chunks])));
    });
    const compress = compressor();
    const syn = Buffer.alloc(10);
    syn.writeUInt32BE(1, 0);
    client.write(control(1, 0, Buffer.concat([syn, await compress(headerBlock({ streamtype: 'data', port: '8080', requestid: '0' }))])));
    client.write(data(1, false, Buffer.from('hello ')));
    client.write(data(1, true, Buffer.from('world')));
    client.write(control(6, 0, Buffer.from([0, 0, 0, 7])));
    const all = await new Promise<Buffer>((resolve) => {
      const check = () => {
        const b = Buffer.concat(received);
        if (b.includes(Buffer.from('echo:hello world')) && b.includes(control(6, 0, Buffer.from([0, 0, 0, 7])))) resolve(b);
        else client.once('data', check);
      };
      check();
    });
    assert.equal(streams[0]?.headers['streamtype'], 'data');
    assert.equal(streams[0]?.headers['port'], '8080');
    // SYN_REPLY for stream 1 came first.
    assert.equal(all.readUInt16BE(0), 0x8003);
    assert.equal(all.readUInt16BE(2), 2);
    assert.equal(all.readUInt32BE(8), 1);
  } finally {
    close();
  }
});

test('spdy: a frame for a stream never opened, or of another version, ends the session', async () => {
  for (const junk of [data(9, false, Buffer.from('x')), Buffer.from([0x80, 0x02, 0, 1, 0, 0, 0, 0])]) {
    const { client, session, close } = await pair();
    try {
      const ended = new Promise<void>((r) => session.once('close', () => r()));
      client.write(junk);
      await ended;
    } finally {
      close();
    }
  }
});
