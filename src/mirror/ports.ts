// Outbound port allocation for gateway mode: one local gateway port per (shadow, port[, pod hostname]).
// A port is never handed to a second key while the first holds it; freed ports go to the back of the line
// (a cursor walks the range) so a gateway that still listens on a just-freed port is not confused by reuse.
// At start-up the allocations are recovered from the port maps of the shadows that exist.
//
// Three steps, so that the decision stays pure: claimPorts() picks ports from a read-only PortView;
// reserve() holds the new ones while the shadow is written (no concurrent reconcile can pick them); the
// reservation is committed once the write succeeded (the shadow's port map records it) or released.

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

/**
 * The last part of an MCS import's allocation key (its shadow key is the derived Service): the exporting
 * cluster (`@<cluster>`), and for a Headless import's per-pod port the remote pod too (`@<cluster>/<hostname>`).
 */
export function importPortSuffix(cluster: string, hostname?: string): string {
  return hostname ? `@${cluster}/${hostname}` : `@${cluster}`;
}

/** A port a shadow wants: the one it holds, or (`fresh`) a free one picked for it. */
export interface PortClaim {
  key: string;
  port: number;
  fresh: boolean;
}

/** The allocations as the pure core reads them. */
export interface PortView {
  readonly min: number;
  readonly max: number;
  /** Where the search for a free port starts. */
  readonly cursor: number;
  /** The port `key` holds (committed). */
  get(key: string): number | undefined;
  /** Held by a key, or reserved by a write in flight. */
  isTaken(port: number): boolean;
}

/** The ports for `keys`: held ones kept, new ones picked from the cursor on. Pure. */
export function claimPorts(keys: string[], view: PortView): PortClaim[] {
  const size = view.max - view.min + 1;
  const picked = new Set<number>();
  let cursor = view.cursor;
  return keys.map((key) => {
    const have = view.get(key);
    if (have !== undefined) return { key, port: have, fresh: false };
    for (let i = 0; i < size; i++) {
      const p = cursor;
      cursor = p >= view.max ? view.min : p + 1;
      if (!view.isTaken(p) && !picked.has(p)) {
        picked.add(p);
        return { key, port: p, fresh: true };
      }
    }
    throw new PortsExhaustedError(`all ${size} outbound ports (${view.min}-${view.max}) are in use`);
  });
}

export interface PortReservation {
  /** The write succeeded: the claims are the shadow's allocations now; its other ports are freed. */
  commit(): void;
  /** The write failed or was refused: the fresh ports go back. */
  release(): void;
}

export class PortAllocator implements PortView {
  private readonly byKey = new Map<string, number>();
  private readonly byPort = new Map<number, string>();
  /** Keys by shadow, so that releasing one shadow's ports does not walk every allocation. */
  private readonly byShadow = new Map<string, Set<string>>();
  private readonly reserved = new Set<number>();
  private next: number;

  constructor(
    readonly min: number,
    readonly max: number,
  ) {
    this.next = min;
  }

  get cursor(): number {
    return this.next;
  }

  get(key: string): number | undefined {
    return this.byKey.get(key);
  }

  isTaken(port: number): boolean {
    return this.byPort.has(port) || this.reserved.has(port);
  }

  /** Records an allocation found on an existing shadow; false if the port is out of range or taken. */
  recover(key: string, port: number): boolean {
    if (port < this.min || port > this.max) return false;
    const holder = this.byPort.get(port);
    if (holder !== undefined && holder !== key) return false;
    if (this.byKey.has(key) && this.byKey.get(key) !== port) return false;
    this.hold(key, port);
    return true;
  }

  private hold(key: string, port: number): void {
    this.byKey.set(key, port);
    this.byPort.set(port, key);
    const shadow = key.slice(0, key.indexOf('|'));
    let keys = this.byShadow.get(shadow);
    if (!keys) this.byShadow.set(shadow, (keys = new Set()));
    keys.add(key);
  }

  /**
   * Holds the fresh ports of `claims` (picked by claimPorts from this allocator, with no await in between)
   * until the shadow `shadowKey` is written.
   */
  reserve(shadowKey: string, claims: PortClaim[]): PortReservation {
    const fresh = claims.filter((c) => c.fresh);
    for (const c of fresh) {
      if (this.isTaken(c.port)) throw new Error(`port ${c.port} was claimed for ${c.key} but is taken: claims must be reserved right after claimPorts`);
    }
    for (const c of fresh) this.reserved.add(c.port);
    let settled = false;
    return {
      commit: () => {
        if (settled) return;
        settled = true;
        for (const c of fresh) this.reserved.delete(c.port);
        this.releaseShadow(shadowKey, new Set(claims.map((c) => c.key)));
        for (const c of claims) this.hold(c.key, c.port);
        const last = fresh[fresh.length - 1];
        if (last) this.next = last.port >= this.max ? this.min : last.port + 1;
      },
      release: () => {
        if (settled) return;
        settled = true;
        for (const c of fresh) this.reserved.delete(c.port);
      },
    };
  }

  release(key: string): void {
    const p = this.byKey.get(key);
    if (p === undefined) return;
    this.byKey.delete(key);
    this.byPort.delete(p);
    const shadow = key.slice(0, key.indexOf('|'));
    const keys = this.byShadow.get(shadow);
    keys?.delete(key);
    if (keys?.size === 0) this.byShadow.delete(shadow);
  }

  /** Releases every key of a shadow (`ns/name`) except those in `keep`. */
  releaseShadow(shadowKey: string, keep: Set<string> = new Set()): void {
    for (const k of [...(this.byShadow.get(shadowKey) ?? [])]) if (!keep.has(k)) this.release(k);
  }

  inUse(): number {
    return this.byPort.size;
  }
}
