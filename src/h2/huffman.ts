// HPACK Huffman coding (RFC 7541 §5.2, Appendix B). The code is canonical (codes of one length are
// consecutive, in symbol order), so only each symbol's code length is listed; the codes are derived and
// checked against the RFC in the tests. Decoding runs a 4-bit state machine built once from the code tree
// (as nghttp2 does): two table lookups per input byte, no per-bit branching.

/** Code length in bits of symbols 0..255 and EOS (256). */
// prettier-ignore
const LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];

const EOS = 256;
/** Code of each symbol (right-aligned in its length). */
export const CODES: number[] = new Array<number>(257).fill(0);
export const CODE_LENGTHS: readonly number[] = LENGTHS;

(function assignCodes() {
  const order = LENGTHS.map((len, sym) => ({ len, sym })).sort((a, b) => a.len - b.len || a.sym - b.sym);
  let code = 0;
  let prev = order[0]!.len;
  for (const { len, sym } of order) {
    code *= 2 ** (len - prev);
    prev = len;
    CODES[sym] = code;
    code++;
  }
})();

// The decoding state machine: states are the tree's internal nodes (root = 0). For a state and a nibble:
// the next state, and the symbol completed on the way (-1 none, -2 EOS = error). ACCEPT marks states in
// which the input may end: the path from the root is at most 7 bits, all ones (valid padding).
const NEXT = new Uint16Array(256 * 16);
const EMIT = new Int16Array(256 * 16);
const ACCEPT = new Uint8Array(256);

(function buildDecoder() {
  // Tree as child indices; a leaf is stored as -(symbol + 1).
  const child: number[] = [0, 0];
  let nodes = 1;
  const depth = [0];
  const allOnes = [true];
  for (let sym = 0; sym <= EOS; sym++) {
    const len = LENGTHS[sym]!;
    const code = CODES[sym]!;
    let node = 0;
    for (let i = len - 1; i >= 0; i--) {
      const bit = Math.floor(code / 2 ** i) & 1;
      const at = node * 2 + bit;
      if (i === 0) {
        child[at] = -(sym + 1);
        break;
      }
      if (!child[at]) {
        child[at] = nodes;
        child[nodes * 2] = 0;
        child[nodes * 2 + 1] = 0;
        depth[nodes] = depth[node]! + 1;
        allOnes[nodes] = allOnes[node]! && bit === 1;
        nodes++;
      }
      node = child[at]!;
    }
  }
  for (let s = 0; s < nodes; s++) {
    ACCEPT[s] = allOnes[s] && depth[s]! <= 7 ? 1 : 0;
    for (let n = 0; n < 16; n++) {
      let node = s;
      let emit = -1;
      for (let i = 3; i >= 0; i--) {
        const c = child[node * 2 + ((n >> i) & 1)]!;
        if (c < 0) {
          const sym = -c - 1;
          emit = sym === EOS ? -2 : sym;
          node = 0;
          if (sym === EOS) break;
        } else node = c;
      }
      NEXT[s * 16 + n] = node;
      EMIT[s * 16 + n] = emit;
    }
  }
})();

export class HuffmanError extends Error {}

let scratch = Buffer.allocUnsafe(4096);

/** Decodes `src[start, end)`; throws HuffmanError on EOS in the string or invalid padding. */
export function huffmanDecode(src: Buffer, start: number, end: number): string {
  // The shortest code is 5 bits: at most 8/5 symbols per byte.
  const max = Math.ceil(((end - start) * 8) / 5);
  if (scratch.length < max) scratch = Buffer.allocUnsafe(Math.max(max, scratch.length * 2));
  const out = scratch;
  let n = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const b = src[i]!;
    let t = state * 16 + (b >> 4);
    let e = EMIT[t]!;
    if (e !== -1) {
      if (e === -2) throw new HuffmanError('EOS symbol inside a Huffman-coded string');
      out[n++] = e;
    }
    state = NEXT[t]!;
    t = state * 16 + (b & 15);
    e = EMIT[t]!;
    if (e !== -1) {
      if (e === -2) throw new HuffmanError('EOS symbol inside a Huffman-coded string');
      out[n++] = e;
    }
    state = NEXT[t]!;
  }
  if (!ACCEPT[state]) throw new HuffmanError('invalid Huffman padding');
  return out.toString('latin1', 0, n);
}

/** Bytes the Huffman coding of `s` (latin1) takes. */
export function huffmanLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += LENGTHS[s.charCodeAt(i) & 0xff]!;
  return Math.ceil(bits / 8);
}

/** Writes the Huffman coding of `s` at `dst[at]`; returns the offset after it. */
export function huffmanEncode(s: string, dst: Buffer, at: number): number {
  let acc = 0; // pending bits, at most 7 between symbols
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const sym = s.charCodeAt(i) & 0xff;
    const len = LENGTHS[sym]!;
    // acc < 2^7 and codes < 2^30: below 2^53, so plain arithmetic is exact (bit operators are 32-bit).
    acc = acc * 2 ** len + CODES[sym]!;
    bits += len;
    while (bits >= 8) {
      bits -= 8;
      const d = 2 ** bits;
      dst[at++] = Math.floor(acc / d);
      acc %= d;
    }
  }
  // Pad with the most significant bits of EOS (all ones).
  if (bits > 0) dst[at++] = (acc << (8 - bits)) | (0xff >> bits);
  return at;
}
