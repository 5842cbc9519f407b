// The inbound authorization step, pure: a tunnel request (target authority) from an authenticated peer
// becomes an AuthorizedTunnel or a refusal. Only authorize() makes an AuthorizedTunnel (a branded type), and
// only an AuthorizedTunnel can dial a backend or open the client's end of a tunnel, so bytes of a request
// that was not authorized never reach the forwarding code (ztunnel's shape).
//
// Order: the peer's own policy (gateway-wide list, then "gateways of linked clusters only" unless direct
// workloads are allowed) and the caller's claim (caller.ts: verifyCaller, issue 15) before existence, so an
// unauthorized peer learns nothing about which Services exist; then the target; then the verified caller's
// rules for that target (access.ts: export scope, the Link's list, the Service's or its Namespace's list),
// before anything is dialled.
import type { AllowRule, CallerClaim, VerifiedCaller } from '../../api/index.js';
import { GatewayError } from '../errors.js';
import { checkPolicy, parseAuthority, resolveTarget, type Caller, type ExportIndex, type Target } from '../routing.js';
import type { Backend, ExportedService, RemoteGateway } from '../types.js';
import { authorize as authorizeCaller, linkAccess, serviceAccess, type DenySource } from './access.js';
import { gatewayIdentity, verifyCaller } from './caller.js';

export { gatewayIdentity };

/** A peer that completed the mTLS handshake with a chain verified against the trust bundle. */
export interface AuthenticatedPeer extends Caller {
  address: string;
  /** The peer's source port (the PROXY header's source port); absent in pure tests. */
  port?: number;
}

/** Everything authorization reads, as one snapshot (routing state changes between requests, not during one). */
export interface InboundPolicy {
  trustDomain: string;
  clusterDomain: string;
  /** Gateway-wide allow list (--allowed-identities, parsed at startup); empty = no narrowing. */
  allowedIdentities: readonly AllowRule[];
  /** --allow-direct-workloads: any identity of the trust domain may open tunnels, not only gateways. */
  directWorkloads: boolean;
  /** Clusters linked with this one; undefined = not known (static routes): any cluster of the trust domain. */
  linkedClusters: ReadonlySet<string> | undefined;
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
  /** Who is calling, as verified from the source gateway's claim (the peer itself for a direct workload). */
  readonly verified: VerifiedCaller;
  readonly target: Target;
  readonly service: ExportedService;
  readonly candidates: readonly Backend[];
  /** The caller's cluster when it is linked with this one, else '': a metric label from a bounded set. */
  readonly remoteCluster: string;
}

export type Authorization =
  | { ok: true; tunnel: AuthorizedTunnel }
  /** `service`: the exported Service the request named, if it names one (bounded metric labels). */
  | { ok: false; error: GatewayError; service: ExportedService | undefined; remoteCluster: string };

/** The caller's cluster when it is linked with this one (a Link either way), else '': a metric label from a
 * bounded set. (Usually this cluster has no Link back: `mesh link A B` leaves only A's ServiceAccount in B.) */
export function linkedCluster(peer: AuthenticatedPeer, p: InboundPolicy): string {
  const c = peer.cluster;
  if (c === undefined) return '';
  return p.links.get(c)?.cluster ?? (p.linkedClusters?.has(c) ? c : '');
}

/**
 * Who may open tunnels at all (issue 17 item 7). By default only the gateway of a linked cluster: a workload
 * goes through its own gateway (which enforces that cluster's outbound routes and is what a Link admits),
 * never straight here. `--allow-direct-workloads` lets any identity of the trust domain in, for setups that
 * use per-Service allowed-identities with workload ids.
 */
export function checkPeerKind(peer: AuthenticatedPeer, p: InboundPolicy): void {
  if (p.directWorkloads) return;
  const uri = peer.id?.uri ?? '';
  if (uri !== gatewayIdentity(p.trustDomain)) {
    throw new GatewayError('FORBIDDEN', `peer ${uri || '(no SPIFFE id)'} is not a mesh gateway: workloads connect through their own cluster's gateway (this gateway runs without --allow-direct-workloads)`);
  }
  if (p.linkedClusters && (peer.cluster === undefined || !p.linkedClusters.has(peer.cluster))) {
    throw new GatewayError('FORBIDDEN', `peer gateway of cluster ${peer.cluster ?? '(none named by its issuer)'} is not linked with this cluster`);
  }
}

export function authorize(authority: string | undefined, claim: CallerClaim, peer: AuthenticatedPeer, p: InboundPolicy): Authorization {
  const link = peer.cluster === undefined ? undefined : p.links.get(peer.cluster);
  const remoteCluster = linkedCluster(peer, p);
  let target: Target | undefined;
  try {
    target = parseAuthority(authority, p.clusterDomain);
    checkPolicy(peer, p.trustDomain, p.allowedIdentities);
    checkPeerKind(peer, p);
    const verified = verifyCaller(claim, peer, p);
    // The caller's rules before existence too: a caller its Link refuses learns nothing about what exists.
    checkCaller(target, p.exports.get(`${target.namespace}/${target.service}`), link, verified);
    const decision = resolveTarget(target, p.exports);
    const tunnel: AuthorizedTunnel = { [AUTHORIZED]: true, caller: peer, verified, target, service: decision.service, candidates: decision.candidates, remoteCluster };
    return { ok: true, tunnel };
  } catch (err) {
    const error = err instanceof GatewayError ? err : new GatewayError('BAD_AUTHORITY', (err as Error).message);
    const service = target && p.exports.get(`${target.namespace}/${target.service}`);
    return { ok: false, error, service, remoteCluster };
  }
}

/** A refusal by the caller rules: the GatewayError (FORBIDDEN, 403 / reset) plus which list refused and its
 * rule, for the log line and gateway_authz_denied_total. */
export class AccessDenied extends GatewayError {
  constructor(
    readonly source: DenySource,
    readonly rule: string,
    readonly caller: VerifiedCaller,
    message: string,
  ) {
    super('FORBIDDEN', message);
  }
}

/** A peer as its own caller (its certificate identity and issuer cluster), for checks without a claim. The
 * inbound path uses the verified claim (verifyCaller). */
export function callerOfPeer(peer: AuthenticatedPeer): VerifiedCaller {
  return { id: peer.id?.uri ?? '', cluster: peer.cluster ?? '', unknown: false };
}

const NO_RULES = { allow: undefined, exportTo: undefined } as const;

/** The one authorization call of the inbound path: after the target is parsed and looked up (`service`:
 * the exported Service it names, if any), before the dial. */
export function checkCaller(target: Target, service: ExportedService | undefined, link: RemoteGateway | undefined, caller: VerifiedCaller): void {
  const access = service ? serviceAccess(service) : NO_RULES;
  const d = authorizeCaller({ namespace: target.namespace, service: target.service, access, link: linkAccess(link) }, caller);
  if (!d.ok) throw new AccessDenied(d.source, d.rule, caller, d.reason);
}
