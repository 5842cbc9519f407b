// HPACK (RFC 7541): a complete decoder (every representation, dynamic table with size updates, Huffman,
// bounded integers and header list size) and an encoder that indexes what repeats (:authority of tunnels
// to the same service) and Huffman-codes strings when that is shorter.
import { DEFAULT_TABLE_SIZE } from './constants.js';
import { huffmanDecode, huffmanEncode, huffmanLength, HuffmanError } from './huffman.js';
import { DynamicTable, ENTRY_OVERHEAD, STATIC, STATIC_COUNT, STATIC_FULL, STATIC_NAME } from './hpack-table.js';

/** A header block that cannot be decoded: a connection error COMPRESSION_ERROR. */
export class HpackError extends Error {}

export interface DecodedBlock {
  /** Fields as a flat list: name, value, name, value, … */
  fields: string[];
  /** Whether the list passed the size limit; the block was still decoded (the table must stay in step)
   * but fields past the limit were dropped. */
  tooLarge: boolean;
}

export class Decoder {
  private readonly table: DynamicTable;

  /** `maxTableSize` is our SETTINGS_HEADER_TABLE_SIZE; `maxListSize` bounds a decoded list (RFC 9113
   * SETTINGS_MAX_HEADER_LIST_SIZE: names + values + 32 per field). */
  constructor(
    private readonly maxTableSize = DEFAULT_TABLE_SIZE,
    private readonly maxListSize = 64 * 1024,
  ) {
    this.table = new DynamicTable(maxTableSize);
  }

  decode(block: Buffer): DecodedBlock {
    const fields: string[] = [];
    let listSize = 0;
    let tooLarge = false;
    let pos = 0;
    const end = block.length;
    let fieldSeen = false;
    const push = (name: string, value: string) => {
      fieldSeen = true;
      listSize += name.length + value.length + ENTRY_OVERHEAD;
      if (listSize > this.maxListSize) tooLarge = true;
      if (!tooLarge) fields.push(name, value);
    };
    while (pos < end) {
      const b = block[pos]!;
      if (b & 0x80) {
        // Indexed field (§6.1).
        const [index, next] = readInt(block, pos, 7);
        pos = next;
        push(this.nameAt(index), this.valueAt(index));
      } else if (b & 0x40) {
        // Literal with incremental indexing (§6.2.1).
        const [name, value, next] = this.literal(block, pos, 6);
        pos = next;
        this.table.add(name, value);
        push(name, value);
      } else if (b & 0x20) {
        // Dynamic table size update (§6.3): only before the first field of a block.
        if (fieldSeen) throw new HpackError('dynamic table size update after a field');
        const [size, next] = readInt(block, pos, 5);
        pos = next;
        if (size > this.maxTableSize) throw new HpackError(`dynamic table size update to ${size} above the limit ${this.maxTableSize}`);
        this.table.setMaxSize(size);
      } else {
        // Literal without indexing (0000) or never indexed (0001) (§6.2.2, §6.2.3).
        const [name, value, next] = this.literal(block, pos, 4);
        pos = next;
        push(name, value);
      }
    }
    return { fields, tooLarge };
  }

  private literal(block: Buffer, pos: number, prefix: number): [string, string, number] {
    const [index, afterIndex] = readInt(block, pos, prefix);
    let name: string;
    let next = afterIndex;
    if (index === 0) [name, next] = readString(block, next);
    else name = this.nameAt(index);
    const [value, end] = readString(block, next);
    return [name, value, end];
  }

  private nameAt(index: number): string {
    if (index === 0) throw new HpackError('index 0');
    if (index <= STATIC_COUNT) return STATIC[index]![0];
    const n = this.table.name(index - STATIC_COUNT - 1);
    if (n === undefined) throw new HpackError(`index ${index} beyond the dynamic table`);
    return n;
  }

  private valueAt(index: number): string {
    if (index <= STATIC_COUNT) return STATIC[index]![1];
    return this.table.value(index - STATIC_COUNT - 1);
  }
}

/** Integers past 2^28 are refused: no field or table size needs them, and it keeps the sum exact. */
const MAX_INT_SHIFT = 28;

export function readInt(buf: Buffer, pos: number, prefix: number): [number, number] {
  const mask = (1 << prefix) - 1;
  let value = buf[pos]! & mask;
  pos++;
  if (value < mask) return [value, pos];
  let shift = 0;
  for (;;) {
    if (pos >= buf.length) throw new HpackError('truncated integer');
    const b = buf[pos++]!;
    value += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return [value, pos];
    shift += 7;
    if (shift > MAX_INT_SHIFT) throw new HpackError('integer too large');
  }
}

function readString(buf: Buffer, pos: number): [string, number] {
  if (pos >= buf.length) throw new HpackError('truncated string');
  const huffman = (buf[pos]! & 0x80) !== 0;
  const [len, start] = readInt(buf, pos, 7);
  const end = start + len;
  if (end > buf.length) throw new HpackError('string longer than the block');
  if (!huffman) return [buf.toString('latin1', start, end), end];
  try {
    return [huffmanDecode(buf, start, end), end];
  } catch (err) {
    if (err instanceof HuffmanError) throw new HpackError(err.message);
    throw err;
  }
}

/** Writes an HPACK integer with a `prefix`-bit prefix; `first` holds the representation's high bits. */
export function writeInt(dst: Buffer, at: number, value: number, prefix: number, first: number): number {
  const mask = (1 << prefix) - 1;
  if (value < mask) {
    dst[at++] = first | value;
    return at;
  }
  dst[at++] = first | mask;
  value -= mask;
  while (value >= 128) {
    dst[at++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  dst[at++] = value;
  return at;
}

function writeString(dst: Buffer, at: number, s: string): number {
  const h = huffmanLength(s);
  if (h <= s.length) {
    at = writeInt(dst, at, h, 7, 0x80);
    return huffmanEncode(s, dst, at);
  }
  at = writeInt(dst, at, s.length, 7, 0);
  return at + dst.write(s, at, 'latin1');
}

/** Fields never put in the dynamic table (and sent "never indexed" so intermediaries keep them out too). */
const SENSITIVE = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie']);
/** Values this long are sent without indexing: they would evict the small fields that repeat. */
const MAX_INDEXED_VALUE = 256;
/** Our encoder's table size: the peer may allow more, which buys a tunnel gateway nothing. */
const ENCODER_TABLE_SIZE = 4096;

export class Encoder {
  private readonly full = new Map<string, number>();
  private readonly names = new Map<string, number>();
  private readonly table = new DynamicTable(ENCODER_TABLE_SIZE, (seq, n, v) => {
    const k = `${n}\0${v}`;
    if (this.full.get(k) === seq) this.full.delete(k);
    if (this.names.get(n) === seq) this.names.delete(n);
  });
  /** A size update owed at the start of the next block (after the peer lowered its table size). */
  private pendingSize = -1;
  private buf = Buffer.allocUnsafe(1024);

  /** The peer's SETTINGS_HEADER_TABLE_SIZE. */
  setPeerMaxSize(n: number): void {
    const size = Math.min(n, ENCODER_TABLE_SIZE);
    if (size === this.table.maxSize) return;
    this.table.setMaxSize(size);
    this.pendingSize = size;
  }

  /** Encodes a flat name/value list into a new Buffer, leaving `reserve` bytes in front (a frame header). */
  encode(fields: readonly string[], reserve = 0): Buffer {
    let need = reserve + 8;
    for (let i = 0; i < fields.length; i++) need += fields[i]!.length + 12;
    if (this.buf.length < need) this.buf = Buffer.allocUnsafe(need * 2);
    const dst = this.buf;
    let at = reserve;
    if (this.pendingSize >= 0) {
      at = writeInt(dst, at, this.pendingSize, 5, 0x20);
      this.pendingSize = -1;
    }
    for (let i = 0; i < fields.length; i += 2) at = this.field(dst, at, fields[i]!, fields[i + 1]!);
    return Buffer.from(dst.subarray(0, at));
  }

  private field(dst: Buffer, at: number, name: string, value: string): number {
    const key = `${name}\0${value}`;
    const s = STATIC_FULL.get(key);
    if (s !== undefined) return writeInt(dst, at, s, 7, 0x80);
    const d = this.full.get(key);
    if (d !== undefined) return writeInt(dst, at, this.indexOf(d), 7, 0x80);
    const sensitive = SENSITIVE.has(name);
    const indexing = !sensitive && value.length <= MAX_INDEXED_VALUE && name.length + value.length + ENTRY_OVERHEAD <= this.table.maxSize;
    const nameSeq = this.names.get(name);
    const nameIndex = STATIC_NAME.get(name) ?? (nameSeq !== undefined ? this.indexOf(nameSeq) : 0);
    if (indexing) at = writeInt(dst, at, nameIndex, 6, 0x40);
    else at = writeInt(dst, at, nameIndex, 4, sensitive ? 0x10 : 0);
    if (nameIndex === 0) at = writeString(dst, at, name);
    at = writeString(dst, at, value);
    if (indexing) {
      this.table.add(name, value);
      const seq = this.table.inserted - 1;
      this.full.set(key, seq);
      this.names.set(name, seq);
    }
    return at;
  }

  private indexOf(seq: number): number {
    return STATIC_COUNT + (this.table.inserted - seq);
  }
}
