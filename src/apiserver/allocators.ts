// ClusterIP and NodePort allocation.

function ipToInt(ip: string): number {
  const p = ip.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) return NaN;
  return ((p[0] << 24) >>> 0) + (p[1] << 16) + (p[2] << 8) + p[3];
}

function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export class IpAllocator {
  readonly base: number;
  readonly size: number;
  private readonly used = new Set<number>();
  private nextOffset = 10;

  constructor(readonly cidr: string) {
    const m = cidr.match(/^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/);
    const bits = m ? Number(m[2]) : NaN;
    const base = m ? ipToInt(m[1]) : NaN;
    if (!m || Number.isNaN(base) || bits < 8 || bits > 30) throw new Error(`service CIDR ${cidr} is not an IPv4 CIDR between /8 and /30`);
    this.size = 2 ** (32 - bits);
    this.base = base - (base % this.size);
  }

  /** The first usable address, reserved for the `kubernetes` Service. */
  get first(): string {
    return intToIp(this.base + 1);
  }

  contains(ip: string): boolean {
    const n = ipToInt(ip);
    return !Number.isNaN(n) && n > this.base && n < this.base + this.size - 1;
  }

  isUsed(ip: string): boolean {
    return this.used.has(ipToInt(ip));
  }

  reserve(ip: string): void {
    this.used.add(ipToInt(ip));
  }

  release(ip: string): void {
    this.used.delete(ipToInt(ip));
  }

  allocate(): string | undefined {
    const usable = this.size - 2;
    for (let i = 0; i < usable; i++) {
      const off = 1 + ((this.nextOffset + i) % usable);
      const n = this.base + off;
      if (!this.used.has(n)) {
        this.used.add(n);
        this.nextOffset = off;
        return intToIp(n);
      }
    }
    return undefined;
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
