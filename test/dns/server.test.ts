// The DNS server on real UDP and TCP sockets, asked by `dig` (dnsutils) and by raw sockets.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import * as packet from 'dns-packet';
import type { StringAnswer } from 'dns-packet';
import { silentLogger } from '../../src/log/index.js';
import { DnsError, DnsRecordSource, startDnsServer, type DnsServer } from '../../src/dns/index.js';

const execFileP = promisify(execFile);
const hasDig = spawnSync('dig', ['-v'], { encoding: 'utf8' }).error === undefined;
const noDig = 'dig is not installed (apt-get install -y dnsutils); skipping the dig checks';

let server: DnsServer;
let upstream: DnsServer;
const source = new DnsRecordSource('cluster.local');

before(async () => {
  source.setService('demo', 'web', { clusterIPs: ['127.1.128.10'], ports: [{ name: 'http', port: 8080 }], endpoints: [{ ip: '127.1.0.5' }] });
  source.setService('demo', 'db', {
    headless: true,
    ports: [{ name: 'pg', port: 5432 }],
    endpoints: [
      { ip: '127.1.0.7', hostname: 'db-0' },
      { ip: '127.1.0.8', hostname: 'db-1' },
      { ip: '127.1.0.9', hostname: 'db-2', ready: false },
    ],
  });
  source.setService('demo', 'big', { headless: true, endpoints: Array.from({ length: 100 }, (_, i) => ({ ip: `127.1.1.${i + 1}` })) });
  const upstreamSource = new DnsRecordSource('example.test');
  upstreamSource.setService('up', 'thing', { clusterIPs: ['127.9.9.9'] });
  upstream = await startDnsServer(upstreamSource, {}, silentLogger());
  server = await startDnsServer(source, { address: '127.0.0.1', port: 0, upstream: `127.0.0.1:${upstream.port}` }, silentLogger());
});

after(async () => {
  await server?.close();
  await upstream?.close();
});

// Asynchronous on purpose: the server runs in this process, so a blocking spawn would starve it.
async function dig(...args: string[]): Promise<{ out: string; status: string; answers: string[][] }> {
  const res = await execFileP('dig', [`@${server.address}`, '-p', String(server.port), '+tries=1', '+time=3', ...args], { encoding: 'utf8', timeout: 15_000 }).catch(
    (err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }),
  );
  const out = res.stdout ?? '';
  const status = /status: (\w+)/.exec(out)?.[1] ?? 'NONE';
  const section = /;; ANSWER SECTION:\n([\s\S]*?)(\n\n|$)/.exec(out)?.[1] ?? '';
  const answers = section
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(/\s+/));
  return { out, status, answers };
}

test('dig: A for a ClusterIP service, case-insensitive, authoritative', async (t) => {
  if (!hasDig) return t.skip(noDig);
  const r = await dig('WEB.demo.svc.Cluster.Local', 'A');
  assert.equal(r.status, 'NOERROR', r.out);
  assert.match(r.out, /flags: qr aa rd/);
  assert.deepEqual(r.answers.map((a) => [a[3], a[4]]), [['A', '127.1.128.10']]);
});

test('dig: SRV for a named port and for a headless service', async (t) => {
  if (!hasDig) return t.skip(noDig);
  const r = await dig('_http._tcp.web.demo.svc.cluster.local', 'SRV');
  assert.equal(r.status, 'NOERROR', r.out);
  assert.deepEqual(r.answers.map((a) => a.slice(3)), [['SRV', '0', '100', '8080', 'web.demo.svc.cluster.local.']]);
  const h = await dig('_pg._tcp.db.demo.svc.cluster.local', 'SRV');
  assert.deepEqual(h.answers.map((a) => a[7]).sort(), ['db-0.db.demo.svc.cluster.local.', 'db-1.db.demo.svc.cluster.local.']);
  assert.match(h.out, /ADDITIONAL SECTION:[\s\S]*db-0\.db\.demo\.svc\.cluster\.local\.\s+5\s+IN\s+A\s+127\.1\.0\.7/);
});

test('dig: headless service → ready endpoint IPs; per-pod hostname names', async (t) => {
  if (!hasDig) return t.skip(noDig);
  const r = await dig('db.demo.svc.cluster.local', 'A');
  assert.deepEqual(r.answers.map((a) => a[4]).sort(), ['127.1.0.7', '127.1.0.8']);
  assert.deepEqual((await dig('db-1.db.demo.svc.cluster.local', 'A')).answers.map((a) => a[4]), ['127.1.0.8']);
  assert.equal((await dig('db-2.db.demo.svc.cluster.local', 'A')).status, 'NXDOMAIN', 'not-ready pods are not published');
});

test('dig: NXDOMAIN with the SOA in authority for unknown names in the domain', async (t) => {
  if (!hasDig) return t.skip(noDig);
  const r = await dig('nope.demo.svc.cluster.local', 'A');
  assert.equal(r.status, 'NXDOMAIN');
  assert.match(r.out, /AUTHORITY SECTION:\ncluster\.local\.\s+5\s+IN\s+SOA\s+ns\.dns\.cluster\.local\. hostmaster\.cluster\.local\./);
});

test('dig: names outside the domain go to the configured upstream (on loopback)', async (t) => {
  if (!hasDig) return t.skip(noDig);
  const r = await dig('thing.up.svc.example.test', 'A');
  assert.equal(r.status, 'NOERROR', r.out);
  assert.deepEqual(r.answers.map((a) => a[4]), ['127.9.9.9']);
  assert.ok(server.stats().forwarded >= 1);
});

test('dig -x: reverse lookups of a ClusterIP and a StatefulSet pod', async (t) => {
  if (!hasDig) return t.skip(noDig);
  assert.deepEqual((await dig('-x', '127.1.128.10')).answers.map((a) => [a[3], a[4]]), [['PTR', 'web.demo.svc.cluster.local.']]);
  assert.deepEqual((await dig('-x', '127.1.0.7')).answers.map((a) => a[4]), ['db-0.db.demo.svc.cluster.local.']);
});

test('dig: a big answer is truncated over UDP and dig retries over TCP and gets all of it', async (t) => {
  if (!hasDig) return t.skip(noDig);
  const before = server.stats().truncated;
  const r = await dig('big.demo.svc.cluster.local', 'A');
  assert.match(r.out, /Truncated, retrying in TCP mode/);
  assert.equal(r.answers.length, 100);
  assert.equal(server.stats().truncated, before + 1);
  const tcp = await dig('+tcp', 'web.demo.svc.cluster.local', 'A');
  assert.deepEqual(tcp.answers.map((a) => a[4]), ['127.1.128.10']);
});

test('malformed UDP and TCP input: FORMERR or a closed connection, and the server keeps answering', async () => {
  const udp = createSocket('udp4');
  const garbage = Buffer.from([0xbe, 0xef, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0x00]);
  const reply = await new Promise<Buffer>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no FORMERR within 3s')), 3000);
    udp.once('message', (m) => {
      clearTimeout(timer);
      resolve(m);
    });
    udp.send(Buffer.from([1, 2, 3]), server.port, server.address); // too short: dropped silently
    udp.send(garbage, server.port, server.address);
  });
  udp.close();
  assert.equal(reply.readUInt16BE(0), 0xbeef);
  assert.equal(reply.readUInt16BE(2) & 0xf, 1, 'rcode FORMERR');

  // TCP: a length prefix promising more than is sent, then close; and a zero-length frame.
  await new Promise<void>((resolve) => {
    const s = connect(server.port, server.address, () => s.end(Buffer.from([0x10, 0x00, 1, 2, 3])));
    s.on('close', () => resolve());
    s.on('error', () => resolve());
    s.resume();
  });
  await new Promise<void>((resolve) => {
    const s = connect(server.port, server.address, () => s.write(Buffer.from([0, 0])));
    s.on('close', () => resolve());
    s.on('error', () => resolve());
    s.resume();
  });
  assert.ok((server.stats().byRcode.FORMERR ?? 0) >= 1);

  // Still serving, over both transports.
  const q = packet.encode({ type: 'query', id: 77, questions: [{ name: 'web.demo.svc.cluster.local', type: 'A' }] });
  const ok = await tcpQuery([q, q]);
  assert.equal(ok.length, 2, 'two pipelined queries on one connection get two answers');
  for (const a of ok) assert.deepEqual((a.answers as StringAnswer[]).map((x) => x.data), ['127.1.128.10']);
  if (hasDig) assert.equal((await dig('web.demo.svc.cluster.local', 'A')).status, 'NOERROR');
});

test('bad options are a DnsError with a stable code; a taken port is DNS_LISTEN_FAILED', async () => {
  await assert.rejects(startDnsServer(source, { address: 'not-an-ip' }, silentLogger()), (e: unknown) => e instanceof DnsError && e.code === 'DNS_INVALID_CONFIG');
  await assert.rejects(startDnsServer(source, { upstream: 'example.com:53' }, silentLogger()), (e: unknown) => e instanceof DnsError && e.code === 'DNS_INVALID_CONFIG');
  await assert.rejects(startDnsServer(source, { port: server.port }, silentLogger()), (e: unknown) => e instanceof DnsError && e.code === 'DNS_LISTEN_FAILED');
});

function tcpQuery(queries: Buffer[]): Promise<packet.DecodedPacket[]> {
  return new Promise((resolve, reject) => {
    const s = connect(server.port, server.address);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('tcp query timed out'));
    }, 3000);
    let buf = Buffer.alloc(0);
    const out: packet.DecodedPacket[] = [];
    s.on('connect', () => s.write(Buffer.concat(queries.map((q) => Buffer.concat([Buffer.from([q.length >> 8, q.length & 0xff]), q])))));
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        out.push(packet.decode(buf.subarray(2, 2 + buf.readUInt16BE(0))));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (out.length === queries.length) {
        clearTimeout(timer);
        s.end();
        resolve(out);
      }
    });
    s.on('error', reject);
  });
}

test('TCP limits: idle connections are closed, connections over the limit are refused, the server keeps serving', async () => {
  const small = await startDnsServer(source, { tcpIdleMs: 200, maxTcpConnections: 2 }, silentLogger());
  try {
    const open = () =>
      new Promise<{ closedAfterMs: Promise<number> }>((resolve, reject) => {
        const s = connect(small.port, small.address);
        const t0 = Date.now();
        const closed = new Promise<number>((r) => s.on('close', () => r(Date.now() - t0)));
        s.on('error', () => undefined);
        s.on('connect', () => resolve({ closedAfterMs: closed }));
        setTimeout(() => reject(new Error('connect timed out')), 3000);
      });
    const a = await open();
    const b = await open();
    const c = await open(); // accepted by the kernel, then dropped by the server (maxConnections)
    assert.ok((await c.closedAfterMs) < 150, 'the third connection is closed at once');
    assert.ok((await a.closedAfterMs) >= 150, 'idle connections live about tcpIdleMs');
    await b.closedAfterMs;
    assert.equal(small.stats().tcpRejected, 1);
  } finally {
    await small.close();
  }
});
