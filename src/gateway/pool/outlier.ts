// Passive health of one remote cluster's gateway addresses (outlier detection), shared by its pool's
// connections: an address whose new tunnels fail `consecutiveFailures` times in a row (its session drops,
// a tunnel request is reset or unanswered) is ejected: no connection is made to it and no tunnel is sent to
// it until its ejection ends. A failed dial (refused, timed out, TLS) ejects at once: no tunnel can use an
// address that takes no connection, and the pool's reconnects would otherwise just move past it (never
// reaching the count, never trying it again when it comes back). The ejection doubles with each repeated
// ejection (base, 2×base, … up to max) and the count is forgotten once the address has stayed healthy for
// `maxEjectionMs`. An address back from ejection is on probation: its first failure ejects it again.
//
// The last eligible address is never ejected: with no address left every tunnel would fail for certain,
// while the failing one may still carry some (and the pool already fails fast and keeps reconnecting).
// So with one address (a Service VIP in front of replicas) nothing is ever ejected; retries go to a new
// connection, which may reach another replica.
//
// The decisions are plain functions of (state, event, now, options); the class holds the state per
// address and the timers that end ejections, on an injected clock (unit tests drive it by hand).

export interface OutlierOptions {
  /** Failures in a row that eject an address. */
  consecutiveFailures: number;
  /** First ejection; each repeated one doubles it. */
  baseEjectionMs: number;
  /** Cap of an ejection, and how long an address must stay healthy for its ejection count to reset. */
  maxEjectionMs: number;
}

/** Why an attempt on an address counts as a failure (a bounded metric label). */
export type FailureKind = 'connect' | 'closed' | 'reset' | 'timeout';

export interface AddressHealth {
  /** Failures in a row. */
  failures: number;
  /** Ejections so far (decides the next ejection's length). */
  ejections: number;
  /** Ejected until this time; 0 = not ejected. */
  ejectedUntil: number;
  /** Back from an ejection with no success since: the next failure ejects it again. */
  probation: boolean;
  /** When it last came back from an ejection. */
  returnedAt: number;
}

export const HEALTHY: AddressHealth = { failures: 0, ejections: 0, ejectedUntil: 0, probation: false, returnedAt: 0 };

/** How long the n-th ejection (1-based) lasts. */
export function ejectionMs(n: number, o: OutlierOptions): number {
  return Math.min(o.maxEjectionMs, o.baseEjectionMs * 2 ** Math.min(30, Math.max(0, n - 1)));
}

export type FailureDecision =
  | { action: 'count'; next: AddressHealth }
  | { action: 'eject'; next: AddressHealth; forMs: number }
  /** It reached the threshold but is the last eligible address: kept (and counted on). */
  | { action: 'keep-last'; next: AddressHealth };

/** A failure on an address that is not ejected now. `othersEligible`: the remote's other addresses not
 * ejected now. */
export function onFailure(h: AddressHealth, now: number, othersEligible: number, o: OutlierOptions, kind: FailureKind = 'reset'): FailureDecision {
  const failures = h.failures + 1;
  if (failures < o.consecutiveFailures && !h.probation && kind !== 'connect') return { action: 'count', next: { ...h, failures } };
  if (othersEligible === 0) return { action: 'keep-last', next: { ...h, failures } };
  const ejections = h.ejections + 1;
  const forMs = ejectionMs(ejections, o);
  return { action: 'eject', next: { ...h, failures: 0, ejections, ejectedUntil: now + forMs, probation: false }, forMs };
}

/** A tunnel opened through the address (any answer from the remote gateway counts). */
export function onSuccess(h: AddressHealth, now: number, o: OutlierOptions): AddressHealth {
  // Healthy for a whole max interval since it came back: its history is forgotten.
  const forgotten = h.ejections > 0 && h.returnedAt > 0 && now - h.returnedAt >= o.maxEjectionMs;
  if (h.failures === 0 && !h.probation && !forgotten) return h;
  return { ...h, failures: 0, probation: false, ejections: forgotten ? 0 : h.ejections };
}

/** The ejection is over: back in the pool, on probation. */
export function onReturn(h: AddressHealth, now: number): AddressHealth {
  return { ...h, ejectedUntil: 0, failures: 0, probation: true, returnedAt: now };
}

export type OutlierEvent =
  | { kind: 'ejected'; address: string; forMs: number; ejections: number; failure: FailureKind; detail: string }
  | { kind: 'returned'; address: string }
  | { kind: 'kept-last'; address: string; failures: number; failure: FailureKind; detail: string };

export interface OutlierClock {
  now(): number;
  /** Runs `f` after `ms`; returns a cancel function. */
  after(ms: number, f: () => void): () => void;
}

export const REAL_CLOCK: OutlierClock = {
  now: () => Date.now(),
  after: (ms, f) => {
    const t = setTimeout(f, ms);
    t.unref();
    return () => clearTimeout(t);
  },
};

/** The health of one remote's addresses; `onEvent` hears every ejection, return and kept last address. */
export class OutlierDetector {
  private readonly health = new Map<string, AddressHealth>();
  private readonly timers = new Map<string, () => void>();
  /** Addresses kept as the last one in their current failure streak (reported once). */
  private readonly keptReported = new Set<string>();
  private addresses: readonly string[] = [];

  constructor(
    addresses: readonly string[],
    private readonly o: OutlierOptions,
    private readonly onEvent: (e: OutlierEvent) => void,
    private readonly clock: OutlierClock = REAL_CLOCK,
  ) {
    this.setAddresses(addresses);
  }

  /** The remote's addresses changed: state is kept for those that stay. */
  setAddresses(addresses: readonly string[]): void {
    this.addresses = [...addresses];
    for (const a of [...this.keptReported]) if (!addresses.includes(a)) this.keptReported.delete(a);
    for (const a of [...this.health.keys()]) {
      if (addresses.includes(a)) continue;
      this.health.delete(a);
      this.timers.get(a)?.();
      this.timers.delete(a);
    }
  }

  isEjected(address: string): boolean {
    return (this.health.get(address)?.ejectedUntil ?? 0) > 0;
  }

  ejectedCount(): number {
    return this.addresses.filter((a) => this.isEjected(a)).length;
  }

  /** The first address not ejected, looking from `index` on (wrapping), and its index. */
  eligibleFrom(index: number, avoid?: string): { address: string; index: number } {
    const n = this.addresses.length;
    let fallback: { address: string; index: number } | undefined;
    for (let i = 0; i < n; i++) {
      const j = (index + i) % n;
      const address = this.addresses[j]!;
      if (this.isEjected(address)) continue;
      if (address !== avoid) return { address, index: j };
      fallback ??= { address, index: j };
    }
    // Never every address ejected (the last is kept), but a table change may leave that for a moment.
    return fallback ?? { address: this.addresses[index % n]!, index: index % n };
  }

  success(address: string): void {
    this.keptReported.delete(address);
    const h = this.health.get(address);
    if (!h || this.isEjected(address)) return;
    const next = onSuccess(h, this.clock.now(), this.o);
    if (next.failures === 0 && next.ejections === 0 && !next.probation) this.health.delete(address);
    else this.health.set(address, next);
  }

  failure(address: string, kind: FailureKind, detail: string): void {
    if (!this.addresses.includes(address) || this.isEjected(address)) return;
    const h = this.health.get(address) ?? HEALTHY;
    const others = this.addresses.filter((a) => a !== address && !this.isEjected(a)).length;
    const d = onFailure(h, this.clock.now(), others, this.o, kind);
    this.health.set(address, d.next);
    if (d.action === 'keep-last') {
      // Once per streak, not per failure: a dead last address fails every tunnel.
      if (!this.keptReported.has(address)) this.onEvent({ kind: 'kept-last', address, failures: d.next.failures, failure: kind, detail });
      this.keptReported.add(address);
      return;
    }
    if (d.action !== 'eject') return;
    this.timers.set(address, this.clock.after(d.forMs, () => this.restore(address)));
    this.onEvent({ kind: 'ejected', address, forMs: d.forMs, ejections: d.next.ejections, failure: kind, detail });
  }

  private restore(address: string): void {
    this.timers.delete(address);
    const h = this.health.get(address);
    if (!h) return;
    this.health.set(address, onReturn(h, this.clock.now()));
    this.onEvent({ kind: 'returned', address });
  }

  stop(): void {
    for (const cancel of this.timers.values()) cancel();
    this.timers.clear();
  }
}
