// HPACK tables (RFC 7541 §2.3, Appendix A): the static table and a dynamic table as a ring of entries,
// newest first, evicted by size (name + value + 32 octets each).

// prettier-ignore
export const STATIC: ReadonlyArray<readonly [string, string]> = [
  ['', ''], // index 0 is not used
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''],
  ['etag', ''], ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''],
  ['if-modified-since', ''], ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''],
  ['last-modified', ''], ['link', ''], ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''],
  ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''], ['retry-after', ''],
  ['server', ''], ['set-cookie', ''], ['strict-transport-security', ''], ['transfer-encoding', ''],
  ['user-agent', ''], ['vary', ''], ['via', ''], ['www-authenticate', ''],
];
export const STATIC_COUNT = STATIC.length - 1; // 61

/** Static index of a full (name, value) match, keyed `name\0value`, and of the first entry with a name. */
export const STATIC_FULL = new Map<string, number>();
export const STATIC_NAME = new Map<string, number>();
for (let i = 1; i <= STATIC_COUNT; i++) {
  const [n, v] = STATIC[i]!;
  if (!STATIC_FULL.has(`${n}\0${v}`)) STATIC_FULL.set(`${n}\0${v}`, i);
  if (!STATIC_NAME.has(n)) STATIC_NAME.set(n, i);
}

export const ENTRY_OVERHEAD = 32;

/** The dynamic table. Entries carry an absolute sequence number (insertion count) so an encoder can map
 * a field to its current index without scanning. */
export class DynamicTable {
  private names: string[] = new Array<string>(16);
  private values: string[] = new Array<string>(16);
  /** Ring position of the oldest entry, and the number of entries. */
  private tail = 0;
  length = 0;
  size = 0;
  /** Entries ever inserted; the newest has sequence number inserted - 1. */
  inserted = 0;

  constructor(
    public maxSize: number,
    /** Called with the sequence number of each evicted entry (the encoder's index maps). */
    private readonly onEvict?: (seq: number, name: string, value: string) => void,
  ) {}

  /** Entry `i` (0 = newest) as [name, value]; undefined past the end. */
  name(i: number): string | undefined {
    return i < this.length ? this.names[(this.tail + this.length - 1 - i) & (this.names.length - 1)] : undefined;
  }

  value(i: number): string {
    return this.values[(this.tail + this.length - 1 - i) & (this.values.length - 1)]!;
  }

  add(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    // An entry larger than the table empties it and is not added (RFC 7541 §4.4).
    this.evictTo(this.maxSize - size);
    this.inserted++;
    if (size > this.maxSize) return;
    if (this.length === this.names.length) this.grow();
    const at = (this.tail + this.length) & (this.names.length - 1);
    this.names[at] = name;
    this.values[at] = value;
    this.length++;
    this.size += size;
  }

  setMaxSize(n: number): void {
    this.maxSize = n;
    this.evictTo(n);
  }

  private evictTo(limit: number): void {
    while (this.length > 0 && this.size > Math.max(0, limit)) {
      const n = this.names[this.tail]!;
      const v = this.values[this.tail]!;
      this.size -= n.length + v.length + ENTRY_OVERHEAD;
      this.onEvict?.(this.inserted - this.length, n, v);
      this.tail = (this.tail + 1) & (this.names.length - 1);
      this.length--;
    }
  }

  private grow(): void {
    const cap = this.names.length * 2;
    const names = new Array<string>(cap);
    const values = new Array<string>(cap);
    for (let i = 0; i < this.length; i++) {
      const from = (this.tail + i) & (this.names.length - 1);
      names[i] = this.names[from]!;
      values[i] = this.values[from]!;
    }
    this.names = names;
    this.values = values;
    this.tail = 0;
  }
}
