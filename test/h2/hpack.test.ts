// HPACK against RFC 7541 Appendix C (requests and responses, with and without Huffman coding, eviction at
// a 256-byte table), the Huffman code against Appendix B, and the decoder's refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Decoder, Encoder, HpackError } from '../../src/h2/hpack.js';
import { CODES, CODE_LENGTHS, huffmanDecode, huffmanEncode, huffmanLength } from '../../src/h2/huffman.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const pairs = (fields: string[]) => Array.from({ length: fields.length / 2 }, (_, i) => [fields[2 * i], fields[2 * i + 1]]);

const REQ = [
  [':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'www.example.com'],
  [':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'www.example.com', 'cache-control', 'no-cache'],
  [':method', 'GET', ':scheme', 'https', ':path', '/index.html', ':authority', 'www.example.com', 'custom-key', 'custom-value'],
];
const RES = [
  [':status', '302', 'cache-control', 'private', 'date', 'Mon, 21 Oct 2013 20:13:21 GMT', 'location', 'https://www.example.com'],
  [':status', '307', 'cache-control', 'private', 'date', 'Mon, 21 Oct 2013 20:13:21 GMT', 'location', 'https://www.example.com'],
  [':status', '200', 'cache-control', 'private', 'date', 'Mon, 21 Oct 2013 20:13:22 GMT', 'location', 'https://www.example.com', 'content-encoding', 'gzip', 'set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
];

const cases: Array<{ name: string; table: number; blocks: string[]; fields: string[][]; encoderExact: number }> = [
  {
    name: 'C.3 requests without Huffman',
    table: 4096,
    blocks: ['828684410f7777772e6578616d706c652e636f6d', '828684be58086e6f2d6361636865', '828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565'],
    fields: REQ,
    encoderExact: 0,
  },
  {
    name: 'C.4 requests with Huffman',
    table: 4096,
    blocks: ['828684418cf1e3c2e5f23a6ba0ab90f4ff', '828684be5886a8eb10649cbf', '828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf'],
    fields: REQ,
    encoderExact: 3,
  },
  {
    name: 'C.5 responses without Huffman, 256-byte table',
    table: 256,
    blocks: [
      '4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d',
      '4803333037c1c0bf',
      '88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31',
    ],
    fields: RES,
    encoderExact: 0,
  },
  {
    name: 'C.6 responses with Huffman, 256-byte table',
    table: 256,
    blocks: [
      '488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3',
      '4883640effc1c0bf',
      '88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007',
    ],
    fields: RES,
    // The third block indexes set-cookie; ours never indexes it (a credential).
    encoderExact: 2,
  },
];

for (const c of cases) {
  test(`RFC 7541 ${c.name}: the decoder yields the fields`, () => {
    const d = new Decoder(4096);
    // The examples' tables start at their size: the peer announced it with a size update we feed first.
    if (c.table !== 4096) d.decode(hex('3fe101'));
    c.blocks.forEach((b, i) => assert.deepEqual(pairs(d.decode(hex(b)).fields), pairs(c.fields[i]!), `block ${i + 1}`));
  });
  if (c.encoderExact > 0) {
    test(`RFC 7541 ${c.name}: the encoder produces the example bytes`, () => {
      const e = new Encoder();
      if (c.table !== 4096) e.setPeerMaxSize(c.table);
      for (let i = 0; i < c.encoderExact; i++) {
        const prefix = i === 0 && c.table !== 4096 ? '3fe101' : '';
        assert.equal(e.encode(c.fields[i]!).toString('hex'), prefix + c.blocks[i], `block ${i + 1}`);
      }
    });
  }
}

test('Huffman codes are RFC 7541 Appendix B (canonical code: lengths give the codes)', () => {
  const spot: Array<[number, number, number]> = [
    [0, 0x1ff8, 13], [9, 0xffffea, 24], [10, 0x3ffffffc, 30], [32, 0x14, 6], [48, 0x0, 5], [97, 0x3, 5], [126, 0x1ffd, 13],
    [127, 0xffffffc, 28], [128, 0xfffe6, 20], [192, 0x3ffffe0, 26], [220, 0xffffffd, 28], [254, 0x7fffff0, 27], [255, 0x3ffffee, 26], [256, 0x3fffffff, 30],
  ];
  for (const [sym, code, len] of spot) assert.deepEqual([CODES[sym], CODE_LENGTHS[sym]], [code, len], `symbol ${sym}`);
  assert.equal(CODE_LENGTHS.reduce((a, l) => a + 2 ** -l, 0), 1, 'a complete prefix code');
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('latin1');
  const buf = Buffer.alloc(huffmanLength(all));
  assert.equal(huffmanEncode(all, buf, 0), buf.length);
  assert.equal(huffmanDecode(buf, 0, buf.length), all);
});

test('the decoder refuses what RFC 7541 forbids', () => {
  const refuse = (block: string, why: RegExp, table = 4096) => assert.throws(() => new Decoder(table).decode(hex(block)), (e: unknown) => e instanceof HpackError && why.test((e as Error).message));
  refuse('80', /index 0/);
  refuse('be', /beyond the dynamic table/);
  refuse('3fe21f', /above the limit/);
  refuse('823f', /size update after a field/);
  // Huffman: 8 bits of padding (more than 7), padding not all ones, EOS inside the string.
  refuse('0081ff', /padding/);
  refuse('008100', /padding/);
  refuse('0084ffffffff', /EOS/);
  refuse('0085f2b24a84ff84', /longer than the block|truncated/);
  refuse('00ff808080808008', /integer too large/);
});

test('decoding keeps the table in step past the header list limit, and says the list was too large', () => {
  const e = new Encoder();
  const big = ['x-a', 'a'.repeat(200), 'x-b', 'b'.repeat(200)];
  const d = new Decoder(4096, 300);
  const r = d.decode(e.encode(big));
  assert.equal(r.tooLarge, true);
  assert.deepEqual(r.fields, ['x-a', 'a'.repeat(200)]);
  // Both fields were indexed by the encoder and are now sent as indices: the decoder indexed both too.
  const second = e.encode(big);
  assert.ok(second.length <= 4, 'sent as two indices');
  assert.deepEqual(d.decode(second).fields, ['x-a', 'a'.repeat(200)]);
  assert.deepEqual(d.decode(e.encode(['x-b', 'b'.repeat(200)])), { fields: ['x-b', 'b'.repeat(200)], tooLarge: false });
});

test('encoder and decoder stay in step over many blocks with eviction (small table)', () => {
  const e = new Encoder();
  e.setPeerMaxSize(200);
  const d = new Decoder(4096);
  for (let i = 0; i < 500; i++) {
    const fields = [':method', 'CONNECT', ':authority', `svc-${i % 7}.ns.svc.cluster.local:${i % 3}`, 'x-n', String(i % 11), 'authorization', `t${i % 5}`];
    assert.deepEqual(d.decode(e.encode(fields)).fields, fields, `block ${i}`);
  }
});
