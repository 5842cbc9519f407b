// ClusterIP and NodePort allocation. ClusterIPs come from one range per IP family (kube-apiserver's
// `--service-cluster-ip-range=<primary>[,<secondary>]`); addresses are BigInts so one allocator serves both.
import { isIPv4, isIPv6 } from 'node:net';

export type IpFamily = 'IPv4' | 'IPv6';

export function familyOf(ip: string): IpFamily | undefined {
  return isIPv4(ip) ? 'IPv4' : isIPv6(ip) ? 'IPv6' : undefined;
}

function v6ToBig(ip: string): bigint {
  let text = ip;
  // An embedded dotted quad (::ffff:1.2.3.4) becomes two hextets.
  const q = text.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (q) {
    const n = v4ToBig(q[1]!);
    text = text.slice(0, -q[1]!.length) + `${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) + BigInt(parseInt(g, 16)), 0n);
}

function v4ToBig(ip: string): bigint {
  return ip.split('.').reduce((acc, p) => (acc << 8n) + BigInt(Number(p)), 0n);
}

/** The canonical text form (RFC 5952 for IPv6), so an IP compares equal however it was written. */
export function canonicalIp(ip: string): string {
  const fam = familyOf(ip);
  if (fam === 'IPv4') return ip.split('.').map(Number).join('.');
  if (fam === 'IPv6') return bigToIp(v6ToBig(ip), 'IPv6');
  return ip;
}

function ipToBig(ip: string, family: IpFamily): bigint | undefined {
  if (familyOf(ip) !== family) return undefined;
  return family === 'IPv4' ? v4ToBig(ip) : v6ToBig(ip);
}

function bigToIp(n: bigint, family: IpFamily): string {
  if (family === 'IPv4') return [24n, 16n, 8n, 0n].map((s) => Number((n >> s) & 255n)).join('.');
  const g = [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n].map((s) => Number((n >> s) & 0xffffn));
  // RFC 5952: the longest run (≥ 2) of zero groups becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

export class IpAllocator {
  readonly family: IpFamily;
  readonly base: bigint;
  readonly size: bigint;
  private readonly used = new Set<bigint>();
  private nextOffset = 10n;

  constructor(readonly cidr: string) {
    const m = cidr.match(/^([0-9a-fA-F:.]+)\/(\d+)$/);
    const family = m ? familyOf(m[1]!) : undefined;
    const bits = m ? Number(m[2]) : NaN;
    // kube-apiserver's limits: an IPv4 range of /8 or smaller, an IPv6 range of /108 or smaller (2^20 addresses).
    if (!m || !family) throw new Error(`service CIDR ${cidr} is not an IPv4 or IPv6 CIDR`);
    if (family === 'IPv4' && (bits < 8 || bits > 30)) throw new Error(`service CIDR ${cidr}: an IPv4 range must be between /8 and /30`);
    if (family === 'IPv6' && (bits < 108 || bits > 126)) throw new Error(`service CIDR ${cidr}: an IPv6 range must be between /108 and /126`);
    this.family = family;
    this.size = 2n ** BigInt((family === 'IPv4' ? 32 : 128) - bits);
    const base = ipToBig(m[1]!, family)!;
    this.base = base - (base % this.size);
  }

  /** The first usable address, reserved for the `kubernetes` Service. */
  get first(): string {
    return bigToIp(this.base + 1n, this.family);
  }

  contains(ip: string): boolean {
    const n = ipToBig(ip, this.family);
    return n !== undefined && n > this.base && n < this.base + this.size - 1n;
  }

  isUsed(ip: string): boolean {
    const n = ipToBig(ip, this.family);
    return n !== undefined && this.used.has(n);
  }

  reserve(ip: string): void {
    const n = ipToBig(ip, this.family);
    if (n !== undefined) this.used.add(n);
  }

  release(ip: string): void {
    const n = ipToBig(ip, this.family);
    if (n !== undefined) this.used.delete(n);
  }

  allocate(): string | undefined {
    const usable = this.size - 2n;
    // Bounded scan: at most the whole range once (2^20 for the largest IPv6 range).
    for (let i = 0n; i < usable; i++) {
      const off = 1n + ((this.nextOffset + i) % usable);
      const n = this.base + off;
      if (!this.used.has(n)) {
        this.used.add(n);
        this.nextOffset = off;
        return bigToIp(n, this.family);
      }
    }
    return undefined;
  }
}

/** The cluster's Service IP ranges: the primary (first CIDR, the default family) and, dual-stack, a secondary. */
export class ServiceIpRanges {
  readonly primary: IpAllocator;
  readonly secondary: IpAllocator | undefined;

  /** `cidrs` as kube-apiserver's flag: `<cidr>` or `<cidr>,<cidr of the other family>`. */
  constructor(cidrs: string) {
    const parts = cidrs.split(',').map((s) => s.trim()).filter(Boolean);
    if (parts.length === 0 || parts.length > 2) throw new Error(`service CIDR "${cidrs}": expected one CIDR or two (one per IP family) separated by a comma`);
    this.primary = new IpAllocator(parts[0]!);
    this.secondary = parts[1] !== undefined ? new IpAllocator(parts[1]) : undefined;
    if (this.secondary && this.secondary.family === this.primary.family)
      throw new Error(`service CIDR "${cidrs}": --service-cluster-ip-range[0] and --service-cluster-ip-range[1] must be of different IP family`);
  }

  get dualStack(): boolean {
    return this.secondary !== undefined;
  }

  get defaultFamily(): IpFamily {
    return this.primary.family;
  }

  byFamily(f: IpFamily): IpAllocator | undefined {
    return this.primary.family === f ? this.primary : this.secondary?.family === f ? this.secondary : undefined;
  }

  /** The allocator whose range holds `ip` (by its family). */
  forIp(ip: string): IpAllocator | undefined {
    const f = familyOf(ip);
    return f ? this.byFamily(f) : undefined;
  }

  get cidrs(): string {
    return [this.primary.cidr, ...(this.secondary ? [this.secondary.cidr] : [])].join(',');
  }
}

export class PortAllocator {
  private readonly used = new Set<number>();
  constructor(
    private readonly lo = 30000,
    private readonly hi = 32767,
  ) {}
  inRange(p: number): boolean {
    return p >= this.lo && p <= this.hi;
  }
  reserve(p: number): void {
    this.used.add(p);
  }
  release(p: number): void {
    this.used.delete(p);
  }
  isUsed(p: number): boolean {
    return this.used.has(p);
  }
  allocate(): number | undefined {
    for (let p = this.lo; p <= this.hi; p++) if (!this.used.has(p)) return this.used.add(p), p;
    return undefined;
  }
}
