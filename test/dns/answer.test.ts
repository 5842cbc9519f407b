import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as packet from 'dns-packet';
import type { Packet, RecordType, SrvAnswer, StringAnswer } from 'dns-packet';
import { DnsRecordSource, handleQuery, type Outcome } from '../../src/dns/index.js';

function source(): DnsRecordSource {
  const src = new DnsRecordSource('cluster.local');
  src.setService('demo', 'web', { clusterIPs: ['127.1.128.10', 'fd00::a'], ports: [{ name: 'http', port: 8080 }], endpoints: [{ ip: '127.1.0.5' }] });
  src.setService('demo', 'v4only', { clusterIPs: ['127.1.128.11'] });
  // 80 endpoints: an A answer of ~1.3 KB, more than 512 bytes and more than 1232.
  src.setService('demo', 'big', { headless: true, ports: [{ name: 'http', port: 80 }], endpoints: Array.from({ length: 80 }, (_, i) => ({ ip: `127.1.${Math.floor(i / 200)}.${(i % 200) + 1}` })) });
  src.setService('demo', 'db', { headless: true, ports: [{ name: 'pg', port: 5432 }], endpoints: [{ ip: '127.1.0.7', hostname: 'db-0' }] });
  return src;
}

function query(name: string, type: RecordType, extra: Partial<Packet> = {}): Buffer {
  return packet.encode({ type: 'query', id: 4242, flags: packet.RECURSION_DESIRED, questions: [{ name, type, class: 'IN' }], ...extra });
}

function reply(out: Outcome) {
  assert.equal(out.kind, 'reply');
  if (out.kind !== 'reply') throw new Error('unreachable');
  return { ...out, p: packet.decode(out.bytes) };
}

const src = source();
const opts = { source: src };

test('A and AAAA for a ClusterIP service: authoritative, TTL 5, id and question echoed', () => {
  const { p, rcode } = reply(handleQuery(query('Web.demo.svc.cluster.local', 'A'), 'udp', opts));
  assert.equal(rcode, 'NOERROR');
  assert.equal(p.id, 4242);
  assert.equal(p.flag_aa, true);
  assert.equal(p.flag_rd, true);
  assert.deepEqual((p.answers as StringAnswer[]).map((a) => [a.type, a.data, a.ttl]), [['A', '127.1.128.10', 5]]);
  assert.equal(p.questions?.[0]?.name, 'Web.demo.svc.cluster.local');
  const v6 = reply(handleQuery(query('web.demo.svc.cluster.local', 'AAAA'), 'udp', opts)).p;
  assert.deepEqual((v6.answers as StringAnswer[]).map((a) => a.data), ['fd00::a']);
});

test('NODATA: a name that exists without the asked type answers NOERROR, no answers, SOA in authority', () => {
  const { p, rcode } = reply(handleQuery(query('v4only.demo.svc.cluster.local', 'AAAA'), 'udp', opts));
  assert.equal(rcode, 'NOERROR');
  assert.equal(p.answers?.length, 0);
  assert.equal(p.authorities?.[0]?.type, 'SOA');
});

test('NXDOMAIN with SOA in authority for unknown names in the domain', () => {
  const { p, rcode } = reply(handleQuery(query('nope.demo.svc.cluster.local', 'A'), 'udp', opts));
  assert.equal(rcode, 'NXDOMAIN');
  assert.equal((p as unknown as { rcode: string }).rcode, 'NXDOMAIN');
  assert.equal(p.authorities?.[0]?.type, 'SOA');
  assert.equal(p.authorities?.[0]?.name, 'cluster.local');
});

test('SRV for a named port, with the target address in additionals; headless SRV points at pods', () => {
  const { p } = reply(handleQuery(query('_http._tcp.web.demo.svc.cluster.local', 'SRV'), 'udp', opts));
  assert.deepEqual((p.answers as SrvAnswer[]).map((a) => a.data), [{ priority: 0, weight: 100, port: 8080, target: 'web.demo.svc.cluster.local' }]);
  assert.ok((p.additionals as StringAnswer[]).some((a) => a.type === 'A' && a.data === '127.1.128.10'));
  const db = reply(handleQuery(query('_pg._tcp.db.demo.svc.cluster.local', 'SRV'), 'udp', opts)).p;
  assert.deepEqual((db.answers as SrvAnswer[]).map((a) => a.data.target), ['db-0.db.demo.svc.cluster.local']);
  assert.deepEqual((db.additionals as StringAnswer[]).filter((a) => a.type === 'A').map((a) => a.data), ['127.1.0.7']);
});

test('names outside the domain: REFUSED without an upstream, a forward decision with one', () => {
  const { rcode, p } = reply(handleQuery(query('example.com', 'A'), 'udp', opts));
  assert.equal(rcode, 'REFUSED');
  assert.equal(p.flag_aa, false);
  const fwd = handleQuery(query('example.com', 'A'), 'udp', { source: src, forwarding: true });
  assert.equal(fwd.kind, 'forward');
});

test('UDP truncation at 512 bytes without EDNS: TC set, no answers; TCP carries the whole answer', () => {
  const udp = reply(handleQuery(query('big.demo.svc.cluster.local', 'A'), 'udp', opts));
  assert.equal(udp.truncated, true);
  assert.equal(udp.p.flag_tc, true);
  assert.equal(udp.p.answers?.length, 0);
  assert.ok(udp.bytes.length <= 512);
  const tcp = reply(handleQuery(query('big.demo.svc.cluster.local', 'A'), 'tcp', opts));
  assert.equal(tcp.truncated, false);
  assert.equal(tcp.p.answers?.length, 80);
});

test('UDP with EDNS uses the advertised size (capped at 1232) and answers with an OPT record', () => {
  const withEdns = (size: number) =>
    query('_http._tcp.big.demo.svc.cluster.local', 'SRV', { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: size, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] });
  // 80 SRV records plus 80 additional A records are several KB: truncated even when the client offers 4096.
  const small = reply(handleQuery(withEdns(4096), 'udp', opts));
  assert.equal(small.truncated, true);
  assert.ok(small.bytes.length <= 1232);
  assert.ok(small.p.additionals?.some((a) => a.type === 'OPT'));
  // About 900 bytes (dns-packet does not compress names) fits a 1232 EDNS buffer but not 512.
  const mid = new DnsRecordSource();
  mid.setService('demo', 'mid', { headless: true, endpoints: Array.from({ length: 20 }, (_, i) => ({ ip: `127.2.0.${i + 1}` })) });
  const q = packet.encode({ type: 'query', id: 1, questions: [{ name: 'mid.demo.svc.cluster.local', type: 'A' }], additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] });
  const fits = reply(handleQuery(q, 'udp', { source: mid }));
  assert.equal(fits.truncated, false);
  assert.ok(fits.bytes.length > 512);
  assert.equal(fits.p.answers?.length, 20);
  const noEdns = reply(handleQuery(packet.encode({ type: 'query', id: 1, questions: [{ name: 'mid.demo.svc.cluster.local', type: 'A' }] }), 'udp', { source: mid }));
  assert.equal(noEdns.truncated, true);
});

test('malformed input: garbage after a header → FORMERR with the same id; short packets and responses dropped', () => {
  const garbage = Buffer.concat([Buffer.from([0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0]), Buffer.from([0xff, 0xff, 0xff])]);
  const fe = reply(handleQuery(garbage, 'udp', opts));
  assert.equal(fe.rcode, 'FORMERR');
  assert.equal(fe.bytes.readUInt16BE(0), 0x1234);
  assert.equal(fe.bytes.readUInt16BE(2) & 0xf, 1);
  assert.equal(fe.bytes.readUInt16BE(2) & 0x8000, 0x8000);
  assert.equal(handleQuery(Buffer.from([1, 2, 3]), 'udp', opts).kind, 'drop');
  const resp = packet.encode({ type: 'response', id: 1, questions: [{ name: 'web.demo.svc.cluster.local', type: 'A' }] });
  assert.equal(handleQuery(resp, 'udp', opts).kind, 'drop');
  // Trailing bytes after a well-formed query are malformed too.
  assert.equal(reply(handleQuery(Buffer.concat([query('web.demo.svc.cluster.local', 'A'), Buffer.from([0])]), 'udp', opts)).rcode, 'FORMERR');
});

test('two questions → FORMERR; a non-QUERY opcode → NOTIMP; class CH → REFUSED', () => {
  const two = packet.encode({ type: 'query', id: 7, questions: [{ name: 'a.cluster.local', type: 'A' }, { name: 'b.cluster.local', type: 'A' }] });
  assert.equal(reply(handleQuery(two, 'udp', opts)).rcode, 'FORMERR');
  const notify = Buffer.from(query('web.demo.svc.cluster.local', 'A'));
  notify.writeUInt16BE(notify.readUInt16BE(2) | (4 << 11), 2);
  assert.equal(reply(handleQuery(notify, 'udp', opts)).rcode, 'NOTIMP');
  const ch = packet.encode({ type: 'query', id: 8, questions: [{ name: 'version.bind', type: 'TXT', class: 'CH' }] });
  assert.equal(reply(handleQuery(ch, 'udp', opts)).rcode, 'REFUSED');
});

test('SOA at the zone apex; CNAME for ExternalName services', () => {
  const s = new DnsRecordSource('cluster.local');
  s.setService('demo', 'ext', { externalName: 'web.demo.svc.cluster.local' });
  s.setService('demo', 'web', { clusterIPs: ['127.1.128.10'] });
  s.setService('demo', 'outside', { externalName: 'example.com' });
  const soa = reply(handleQuery(query('cluster.local', 'SOA'), 'udp', { source: s })).p;
  assert.equal(soa.answers?.[0]?.type, 'SOA');
  const cname = reply(handleQuery(query('ext.demo.svc.cluster.local', 'A'), 'udp', { source: s })).p;
  assert.deepEqual((cname.answers as StringAnswer[]).map((a) => [a.type, a.name, a.data]), [
    ['CNAME', 'ext.demo.svc.cluster.local', 'web.demo.svc.cluster.local'],
    ['A', 'web.demo.svc.cluster.local', '127.1.128.10'],
  ]);
  const outside = reply(handleQuery(query('outside.demo.svc.cluster.local', 'A'), 'udp', { source: s })).p;
  assert.deepEqual((outside.answers as StringAnswer[]).map((a) => [a.type, a.data]), [['CNAME', 'example.com']]);
});

test('fuzz: 3000 mutated and random packets never throw and always give a reply or a drop', () => {
  // A fixed-seed PRNG (mulberry32) so a failure reproduces.
  let seed = 0x5eed;
  const rand = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const bases = [
    query('web.demo.svc.cluster.local', 'A'),
    query('_http._tcp.web.demo.svc.cluster.local', 'SRV', { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] }),
    query('big.demo.svc.cluster.local', 'A'),
  ];
  const kinds = new Map<string, number>();
  for (let i = 0; i < 3000; i++) {
    let buf: Buffer;
    if (i % 4 === 0) {
      buf = Buffer.from(Array.from({ length: Math.floor(rand() * 80) }, () => Math.floor(rand() * 256)));
    } else {
      buf = Buffer.from(bases[i % bases.length] as Buffer);
      const flips = 1 + Math.floor(rand() * 4);
      for (let f = 0; f < flips; f++) buf[Math.floor(rand() * buf.length)] = Math.floor(rand() * 256);
      if (rand() < 0.2) buf = buf.subarray(0, Math.floor(rand() * buf.length));
    }
    const out = handleQuery(buf, i % 2 ? 'udp' : 'tcp', opts);
    const kind = out.kind === 'reply' ? out.rcode : out.kind;
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    if (out.kind === 'reply') {
      assert.ok(out.bytes.length >= 12);
      if (buf.length >= 2) assert.equal(out.bytes.readUInt16BE(0), buf.readUInt16BE(0), 'the reply carries the query id');
      if (i % 2) assert.ok(out.bytes.length <= 1232, 'UDP replies stay within the limit');
    }
  }
  assert.ok((kinds.get('FORMERR') ?? 0) > 0 && (kinds.get('drop') ?? 0) > 0, JSON.stringify(Object.fromEntries(kinds)));
});
