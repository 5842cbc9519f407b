// Limits against hostile peers and the one coarse timer every session shares (no timer per stream or per
// session: a 1 s tick refills the budgets and checks the deadlines).

export interface Limits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS we advertise; streams past it are refused (REFUSED_STREAM). */
  maxConcurrentStreams: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE: decoded names + values + 32 per field. */
  maxHeaderListSize: number;
  /** Compressed bytes of one header block (HEADERS + CONTINUATION) before the connection is closed. */
  maxHeaderBlockBytes: number;
  /** CONTINUATION frames in one header block (CVE-2024-27316-style floods send many tiny ones). */
  maxContinuations: number;
  /** Resets (by the peer, or by us for its errors) allowed in a burst, and refilled per second
   * (rapid reset, CVE-2023-44487; "made you reset"). */
  resetBurst: number;
  resetRate: number;
  /** Frames that cost us work for no payload (PING, SETTINGS, PRIORITY, empty DATA, unknown types,
   * WINDOW_UPDATE) in a burst and per second (CVE-2019-9512/9515/9518). */
  controlBurst: number;
  controlRate: number;
  /** Bytes queued on the socket past which a control frame we must answer means the peer is not
   * reading (ping/settings flood with a stalled reader). */
  maxOutboundQueue: number;
  /** Seconds to wait for the peer's preface/SETTINGS and for the ACK of ours. */
  settingsTimeoutSec: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxConcurrentStreams: 10_000,
  maxHeaderListSize: 16 * 1024,
  maxHeaderBlockBytes: 32 * 1024,
  maxContinuations: 32,
  resetBurst: 1000,
  resetRate: 500,
  controlBurst: 2000,
  controlRate: 1000,
  maxOutboundQueue: 4 * 1024 * 1024,
  settingsTimeoutSec: 10,
};

/** A token bucket refilled by the shared tick. */
export class Budget {
  private tokens: number;

  constructor(
    private readonly burst: number,
    private readonly rate: number,
  ) {
    this.tokens = burst;
  }

  /** Takes one token; false when the budget is spent. */
  take(): boolean {
    if (this.tokens <= 0) return false;
    this.tokens--;
    return true;
  }

  refill(seconds: number): void {
    this.tokens = Math.min(this.burst, this.tokens + this.rate * seconds);
  }
}

export interface Ticking {
  /** Called about once a second with the seconds since the last call. */
  tick(nowSec: number, elapsedSec: number): void;
}

const members = new Set<Ticking>();
let timer: NodeJS.Timeout | undefined;
let last = 0;

/** Seconds on a monotonic clock. */
export function nowSec(): number {
  return performance.now() / 1000;
}

export function register(t: Ticking): void {
  members.add(t);
  if (timer) return;
  last = nowSec();
  timer = setInterval(() => {
    const now = nowSec();
    const elapsed = now - last;
    last = now;
    for (const m of members) m.tick(now, elapsed);
  }, 1000);
  // The tick never keeps a process alive on its own.
  timer.unref();
}

export function unregister(t: Ticking): void {
  members.delete(t);
  if (members.size === 0 && timer) {
    clearInterval(timer);
    timer = undefined;
  }
}
