// PROXY protocol v2 (src/api/proxy-protocol.ts): the encoder against the spec's byte layout, our parser, and
// a real parser (haproxy with `accept-proxy`) reading what the encoder writes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  encodeProxyV2,
  parseProxyV2,
  callerTlvs,
  callerOfHeader,
  PP2_SIGNATURE,
  PP2_TYPE_MESH_CALLER_ID,
  PP2_TYPE_MESH_CALLER_CLUSTER,
  PP2_TYPE_MESH_CALLER_FLAGS,
  ProxyProtocolError,
} from '../../src/api/index.js';
import { startProcess, stopAll } from '../helpers/process.js';
import { freePort } from '../helpers/ports.js';

const dirs: string[] = [];
after(async () => {
  await stopAll();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const caller = { id: 'spiffe://mesh.local/ns/demo/sa/frontend', cluster: 'cluster-a', unknown: false };

test('IPv4 header: signature, version/command, family, length, addresses, ports and the mesh TLVs as the spec lays them out', () => {
  const b = encodeProxyV2({ address: '10.1.2.3', port: 40000 }, { address: '10.9.8.7', port: 8080 }, callerTlvs(caller));
  assert.deepEqual(b.subarray(0, 12), PP2_SIGNATURE);
  assert.equal(b[12], 0x21, 'version 2, PROXY command');
  assert.equal(b[13], 0x11, 'AF_INET, STREAM');
  assert.equal(b.readUInt16BE(14), b.length - 16);
  assert.deepEqual([...b.subarray(16, 20)], [10, 1, 2, 3]);
  assert.deepEqual([...b.subarray(20, 24)], [10, 9, 8, 7]);
  assert.equal(b.readUInt16BE(24), 40000);
  assert.equal(b.readUInt16BE(26), 8080);
  // First TLV right after the address block: type, u16 length, value.
  assert.equal(b[28], PP2_TYPE_MESH_CALLER_ID);
  assert.equal(b.readUInt16BE(29), Buffer.byteLength(caller.id));
  assert.equal(b.subarray(31, 31 + Buffer.byteLength(caller.id)).toString(), caller.id);
  const p = parseProxyV2(b);
  assert.equal(p.kind, 'header');
  if (p.kind !== 'header') return;
  assert.equal(p.length, b.length);
  assert.deepEqual(p.header.source, { address: '10.1.2.3', port: 40000 });
  assert.deepEqual(p.header.destination, { address: '10.9.8.7', port: 8080 });
  assert.deepEqual(p.header.tlvs.map((t) => t.type), [PP2_TYPE_MESH_CALLER_ID, PP2_TYPE_MESH_CALLER_CLUSTER, PP2_TYPE_MESH_CALLER_FLAGS]);
  assert.deepEqual(callerOfHeader(p.header), caller);
});

test('IPv6 and IPv4-mapped addresses; the unknown flag round-trips', () => {
  const b = encodeProxyV2({ address: 'fd00::1:2', port: 1 }, { address: '::1', port: 2 }, callerTlvs({ ...caller, unknown: true }));
  assert.equal(b[13], 0x21, 'AF_INET6, STREAM');
  assert.equal(b.readUInt16BE(14), 36 + (b.length - 16 - 36));
  const p = parseProxyV2(b);
  assert.ok(p.kind === 'header');
  assert.deepEqual(p.header.source, { address: 'fd00::1:2', port: 1 });
  assert.deepEqual(p.header.destination, { address: '::1', port: 2 });
  assert.equal(callerOfHeader(p.header)?.unknown, true);
  const mapped = encodeProxyV2({ address: '::ffff:127.0.0.5', port: 3 }, { address: '127.0.0.6', port: 4 });
  assert.equal(mapped[13], 0x11);
  const mixed = parseProxyV2(encodeProxyV2({ address: '10.0.0.1', port: 1 }, { address: 'fd00::2', port: 2 }));
  assert.ok(mixed.kind === 'header');
  assert.equal(mixed.header.source?.address, '::ffff:a00:1', 'IPv4 written IPv4-mapped beside an IPv6 address');
  assert.throws(() => encodeProxyV2({ address: 'host.example', port: 1 }, { address: '::1', port: 2 }), ProxyProtocolError);
});

test('parser: incomplete prefixes wait, no signature is absent, malformed headers throw', () => {
  const b = encodeProxyV2({ address: '10.0.0.1', port: 1 }, { address: '10.0.0.2', port: 2 }, callerTlvs(caller));
  for (const n of [1, 11, 12, 15, 16, b.length - 1]) assert.equal(parseProxyV2(b.subarray(0, n)).kind, 'incomplete', `prefix of ${n}`);
  assert.equal(parseProxyV2(Buffer.from('GET / HTTP/1.1\r\n')).kind, 'absent');
  assert.equal(parseProxyV2(Buffer.from('\r\n\r\nX')).kind, 'absent');
  const badVersion = Buffer.from(b);
  badVersion[12] = 0x11;
  assert.throws(() => parseProxyV2(badVersion), ProxyProtocolError);
  const overrun = Buffer.from(b);
  overrun.writeUInt16BE(0xffff, 29); // the first TLV claims more bytes than the header holds
  assert.throws(() => parseProxyV2(overrun), /runs past the header/);
});

function haproxyAvailable(): boolean {
  return spawnSync('haproxy', ['-v']).status === 0;
}

/** Sends `header` + an HTTP request to haproxy and returns the answer (or '' when haproxy closes). */
function ask(port: number, header: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let out = '';
    s.setEncoding('utf8');
    s.on('connect', () => s.write(Buffer.concat([header, Buffer.from('GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n')])));
    s.on('data', (d: string) => (out += d));
    s.on('end', () => resolve(out));
    s.on('close', () => resolve(out));
    s.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? resolve(out) : reject(e)));
    s.setTimeout(5000, () => s.destroy(new Error('haproxy did not answer')));
  });
}

test('haproxy (accept-proxy) reads the header: the source and destination it reports are the encoded ones; a broken TLV is refused', async (t) => {
  if (!haproxyAvailable()) {
    console.log('SKIP: haproxy is not installed');
    t.skip('haproxy is not installed');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'pp2-haproxy-'));
  dirs.push(dir);
  const port = await freePort();
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(
    cfg,
    [
      'global',
      '  log stderr format raw local0',
      'defaults',
      '  mode http',
      '  timeout client 5s',
      '  timeout connect 5s',
      '  timeout server 5s',
      'frontend pp',
      `  bind 127.0.0.1:${port} accept-proxy`,
      '  http-request return status 200 content-type text/plain lf-string "src=%[src]:%[src_port] dst=%[dst]:%[dst_port]\\n"',
      '',
    ].join('\n'),
  );
  const h = startProcess('haproxy', ['-db', '-f', cfg]);
  // Ready when it accepts a connection (a bounded wait for a start, not a negative).
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (up) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const good = encodeProxyV2({ address: '10.1.2.3', port: 40000 }, { address: '10.9.8.7', port: 8080 }, callerTlvs(caller));
  const answer = await ask(port, good);
  assert.match(answer, /^HTTP\/1\.1 200/);
  assert.match(answer, /src=10\.1\.2\.3:40000 dst=10\.9\.8\.7:8080/);
  const v6 = await ask(port, encodeProxyV2({ address: 'fd00::7', port: 7 }, { address: 'fd00::8', port: 8 }, callerTlvs(caller)));
  assert.match(v6, /src=fd00::7:7 dst=fd00::8:8/);
  const broken = Buffer.from(good);
  broken.writeUInt16BE(0x0fff, 29);
  assert.doesNotMatch(await ask(port, broken), /HTTP\/1\.1 200/, 'haproxy must refuse a TLV that runs past the header');
  await h.stop();
});
