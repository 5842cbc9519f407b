// The inbound authorization step, pure: a tunnel request (target authority) from an authenticated peer
// becomes an AuthorizedTunnel or a refusal. Only authorize() makes an AuthorizedTunnel (a branded type), and
// only an AuthorizedTunnel can dial a backend or open the client's end of a tunnel, so bytes of a request
// that was not authorized never reach the forwarding code (ztunnel's shape).
//
// Order: the caller's own policy (gateway-wide list, then the list of the Link to the caller's cluster)
// before existence, so an unauthorized peer learns nothing about which Services exist; then the target;
// then the Service's own list. Later steps (caller attestation, namespace defaults) slot in here.
import { GatewayError } from '../errors.js';
import { checkPolicy, parseAuthority, resolveTarget, type Caller, type ExportIndex, type Target } from '../routing.js';
import type { Backend, ExportedService, RemoteGateway } from '../types.js';

/** A peer that completed the mTLS handshake with a chain verified against the trust bundle. */
export interface AuthenticatedPeer extends Caller {
  address: string;
}

/** Everything authorization reads, as one snapshot (routing state changes between requests, not during one). */
export interface InboundPolicy {
  trustDomain: string;
  clusterDomain: string;
  /** Gateway-wide allow list (--allowed-identities); empty = no narrowing. */
  allowedIdentities: readonly string[];
  exports: ExportIndex;
  /** The Links of this cluster by target cluster: a Link's gateway.allowedIdentities narrows what callers
   * whose issuer names that cluster may do here. */
  links: ReadonlyMap<string, RemoteGateway>;
}

/** Not exported: no other module can make an AuthorizedTunnel, not even with an object literal. */
const AUTHORIZED: unique symbol = Symbol('authorized');

/** A tunnel request that passed authorization, resolved to an exported Service's ready backends. */
export interface AuthorizedTunnel {
  readonly [AUTHORIZED]: true;
  readonly caller: Caller;
  readonly target: Target;
  readonly service: ExportedService;
  readonly candidates: readonly Backend[];
  /** The caller's cluster when this cluster has a Link to it, else '': a metric label from a bounded set. */
  readonly remoteCluster: string;
}

export type Authorization =
  | { ok: true; tunnel: AuthorizedTunnel }
  /** `service`: the exported Service the request named, if it names one (bounded metric labels). */
  | { ok: false; error: GatewayError; service: ExportedService | undefined; remoteCluster: string };

/** The caller's cluster when this cluster has a Link to it, else '' (metric labels from a bounded set). */
export function linkedCluster(peer: AuthenticatedPeer, p: InboundPolicy): string {
  return (peer.cluster !== undefined && p.links.get(peer.cluster)?.cluster) || '';
}

export function authorize(authority: string | undefined, peer: AuthenticatedPeer, p: InboundPolicy): Authorization {
  const link = peer.cluster === undefined ? undefined : p.links.get(peer.cluster);
  const remoteCluster = linkedCluster(peer, p);
  let target: Target | undefined;
  try {
    target = parseAuthority(authority, p.clusterDomain);
    checkPolicy(peer, p.trustDomain, p.allowedIdentities, link?.allowedIdentities);
    const decision = resolveTarget(target, p.exports);
    checkPolicy(peer, p.trustDomain, decision.service.allowedIdentities);
    const tunnel: AuthorizedTunnel = { [AUTHORIZED]: true, caller: peer, target, service: decision.service, candidates: decision.candidates, remoteCluster };
    return { ok: true, tunnel };
  } catch (err) {
    const error = err instanceof GatewayError ? err : new GatewayError('BAD_AUTHORITY', (err as Error).message);
    const service = target && p.exports.get(`${target.namespace}/${target.service}`);
    return { ok: false, error, service, remoteCluster };
  }
}
