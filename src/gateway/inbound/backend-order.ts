// How far an inbound tunnel looks for a backend that accepts (issue 14: skip backends that refuse, before
// any byte is sent). Candidates are tried in round-robin order from the tunnel's own position (a gateway-
// wide counter: per tunnel, never per pooled connection). A refused connect costs a round trip inside the
// cluster, so every candidate is tried once, up to MAX_ATTEMPTS; one that times out costs the connect
// timeout, so at most MAX_TIMEOUTS of those (the caller's CONNECT deadline is of the same order).

export const MAX_ATTEMPTS = 8;
export const MAX_TIMEOUTS = 2;

/** After `failed` dials (`timeouts` of them timed out) among `candidates`: try the next one? */
export function tryAnother(failed: number, candidates: number, timeouts: number): boolean {
  return failed < Math.min(candidates, MAX_ATTEMPTS) && timeouts < MAX_TIMEOUTS;
}
