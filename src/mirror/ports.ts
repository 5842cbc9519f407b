// Outbound port allocation for gateway mode: one local gateway port per (shadow, port[, pod hostname]).
// A port is never handed to a second key while the first holds it; freed ports go to the back of the line
// (a cursor walks the range) so a gateway that still listens on a just-freed port is not confused by reuse.
// At start-up the allocations are recovered from the port maps of the shadows that exist.

export class PortsExhaustedError extends Error {
  readonly name = 'PortsExhaustedError';
  readonly code = 'PORTS_EXHAUSTED';
}

export class PortRangeError extends Error {
  readonly name = 'PortRangeError';
  readonly code = 'BAD_PORT_RANGE';
}

export function parsePortRange(s: string): { min: number; max: number } {
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(s.trim());
  if (!m) throw new PortRangeError(`port range ${JSON.stringify(s)} must look like 14000-15999`);
  const min = Number(m[1]);
  const max = Number(m[2]);
  if (min < 1 || max > 65535 || min > max) throw new PortRangeError(`port range ${s} must be within 1-65535 with min <= max`);
  return { min, max };
}

/** Allocation key: the shadow (ns/name), its port/protocol, and a pod hostname for per-pod entries. */
export function portKey(shadowKey: string, port: number, protocol: string, hostname?: string): string {
  return `${shadowKey}|${port}/${protocol}|${hostname ?? ''}`;
}

export class PortAllocator {
  private readonly byKey = new Map<string, number>();
  private readonly byPort = new Map<number, string>();
  private cursor: number;

  constructor(
    readonly min: number,
    readonly max: number,
  ) {
    this.cursor = min;
  }

  get(key: string): number | undefined {
    return this.byKey.get(key);
  }

  /** Records an allocation found on an existing shadow; false if the port is out of range or taken. */
  recover(key: string, port: number): boolean {
    if (port < this.min || port > this.max) return false;
    const holder = this.byPort.get(port);
    if (holder !== undefined && holder !== key) return false;
    if (this.byKey.has(key) && this.byKey.get(key) !== port) return false;
    this.byKey.set(key, port);
    this.byPort.set(port, key);
    return true;
  }

  /** The key's port, allocating the next free one if it has none. */
  allocate(key: string): number {
    const have = this.byKey.get(key);
    if (have !== undefined) return have;
    const size = this.max - this.min + 1;
    if (this.byPort.size >= size) throw new PortsExhaustedError(`all ${size} outbound ports (${this.min}-${this.max}) are in use`);
    for (let i = 0; i < size; i++) {
      const p = this.cursor;
      this.cursor = p >= this.max ? this.min : p + 1;
      if (!this.byPort.has(p)) {
        this.byKey.set(key, p);
        this.byPort.set(p, key);
        return p;
      }
    }
    throw new PortsExhaustedError(`all outbound ports (${this.min}-${this.max}) are in use`);
  }

  release(key: string): void {
    const p = this.byKey.get(key);
    if (p === undefined) return;
    this.byKey.delete(key);
    this.byPort.delete(p);
  }

  /** Releases every key of a shadow except those in `keep`. */
  releaseShadow(shadowKey: string, keep: Set<string> = new Set()): void {
    const prefix = `${shadowKey}|`;
    for (const k of [...this.byKey.keys()]) if (k.startsWith(prefix) && !keep.has(k)) this.release(k);
  }

  keysOf(shadowKey: string): string[] {
    const prefix = `${shadowKey}|`;
    return [...this.byKey.keys()].filter((k) => k.startsWith(prefix));
  }

  inUse(): number {
    return this.byPort.size;
  }
}
