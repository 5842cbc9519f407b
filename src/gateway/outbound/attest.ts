// Caller attestation, the sending end (issue 15): a client's source address (kept by kube-proxy's DNAT)
// → its Pod → ServiceAccount → the SPIFFE id the tunnel request claims, from the pods in the routing
// snapshot (the primary's informer; workers get it with the routes). An address it does not know (host
// network, a pod not in the cache yet, an address two pods share) is `unknown-caller`: the remote gateway
// then sees this gateway itself, flagged unknown, never someone else. One map lookup per new tunnel.
import { UNKNOWN_CALLER, serviceAccountId } from '../../api/index.js';
import { canonicalIp } from '../hosts.js';
import type { PodCaller } from '../types.js';

export interface AttestedClaim {
  id: string;
  cluster: string;
}

export class CallerAttestation {
  private byAddress = new Map<string, AttestedClaim>();
  private readonly unknown: AttestedClaim;

  constructor(
    private readonly trustDomain: string,
    private readonly cluster: string,
  ) {
    this.unknown = { id: UNKNOWN_CALLER, cluster };
  }

  /** The pods of a new snapshot (ids built here, once, not per tunnel). */
  update(callers: readonly PodCaller[] | undefined): void {
    const next = new Map<string, AttestedClaim>();
    for (const c of callers ?? []) {
      // Keyed by the text Node gives a socket's remote address (a routes file may spell IPv6 another way).
      const address = canonicalIp(c.address);
      if (address !== undefined) next.set(address, { id: serviceAccountId(this.trustDomain, c.namespace, c.serviceAccount), cluster: this.cluster });
    }
    this.byAddress = next;
  }

  /** The claim for a client at `address`, as Node prints it (an IPv4-mapped IPv6 address is looked up as
   * IPv4: a listener on `::` shows IPv4 clients so; the gateway binds its pod's addresses, so they show as IPv4). */
  claimFor(address: string | undefined): AttestedClaim {
    if (address === undefined) return this.unknown;
    const found = this.byAddress.get(address) ?? (address.startsWith('::ffff:') ? this.byAddress.get(address.slice(7)) : undefined);
    return found ?? this.unknown;
  }

  /** Pods known now (tests, logs). */
  size(): number {
    return this.byAddress.size;
  }
}
