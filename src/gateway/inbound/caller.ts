// Caller attestation, the receiving end (issue 15), pure: what the source gateway claims about its client
// (mesh-caller-id, mesh-caller-cluster) becomes a VerifiedCaller, or a refusal. A claim counts only from a
// peer whose certificate is the gateway identity of a cluster linked with this one, for that cluster and for
// an id of the trust domain; a workload peer (--allow-direct-workloads) is its own caller and cannot claim
// another. The verified caller is what the authorization rules (authorize.ts: checkCaller) judge.
import { CALLER_CLUSTER_HEADER, CALLER_ID_HEADER, GATEWAY_NAME, MAX_CLAIM_LENGTH, MESH_NAMESPACE, UNKNOWN_CALLER, serviceAccountId, type CallerClaim, type VerifiedCaller } from '../../api/index.js';
import { parseSpiffeId } from '../../trust/index.js';
import { GatewayError } from '../errors.js';
import type { AuthenticatedPeer, InboundPolicy } from './authorize.js';

/** The identity every mesh gateway has (its ServiceAccount in the mesh namespace). */
export function gatewayIdentity(trustDomain: string): string {
  return serviceAccountId(trustDomain, MESH_NAMESPACE, GATEWAY_NAME);
}

/** No claim at all (a tunnel request without the headers). */
export const NO_CLAIM: CallerClaim = { id: undefined, cluster: undefined };

const CLAIM_TEXT = /^[\x21-\x7e]+$/;

function refuse(peer: AuthenticatedPeer, why: string): never {
  throw new GatewayError('FORBIDDEN', `caller claim refused: ${why} (peer ${peer.id?.uri ?? '(no SPIFFE id)'}${peer.cluster ? ` of cluster ${peer.cluster}` : ''})`);
}

function checkText(peer: AuthenticatedPeer, what: string, v: string | undefined): void {
  if (v === undefined) return;
  if (v.length > MAX_CLAIM_LENGTH) refuse(peer, `${what} is longer than ${MAX_CLAIM_LENGTH} characters`);
  if (!CLAIM_TEXT.test(v)) refuse(peer, `${what} has characters other than printable ASCII`);
}

/**
 * The verified caller of a tunnel request. Runs after checkPeerKind (so a gateway peer is one of a linked
 * cluster) and before the target is looked up (a refused claim learns nothing about Services).
 */
export function verifyCaller(claim: CallerClaim, peer: AuthenticatedPeer, p: InboundPolicy): VerifiedCaller {
  checkText(peer, CALLER_ID_HEADER, claim.id);
  checkText(peer, CALLER_CLUSTER_HEADER, claim.cluster);
  const peerId = peer.id?.uri;
  if (peerId === undefined) refuse(peer, 'the peer certificate has no SPIFFE id');
  const cluster = peer.cluster ?? '';
  if (peerId !== gatewayIdentity(p.trustDomain)) {
    // A workload connected straight here (opt-in): it speaks only for itself.
    if ((claim.id !== undefined && claim.id !== peerId) || (claim.cluster !== undefined && claim.cluster !== cluster)) {
      refuse(peer, `a workload cannot claim another caller (claimed ${claim.id ?? '-'} of cluster ${claim.cluster ?? '-'})`);
    }
    return { id: peerId, cluster, unknown: false };
  }
  // A gateway: only for its own cluster (the issuer of its certificate), only if that cluster is linked here,
  // and, when this cluster's Link to it names the remote gateway's identity, only that identity.
  if (claim.cluster !== undefined && claim.cluster !== cluster) refuse(peer, `a gateway of cluster ${cluster || '(unnamed)'} cannot speak for cluster ${claim.cluster}`);
  if (p.linkedClusters && !p.linkedClusters.has(cluster)) refuse(peer, `cluster ${cluster || '(unnamed)'} is not linked with this cluster`);
  const expected = p.links.get(cluster)?.identity;
  if (expected !== undefined && expected !== peerId) refuse(peer, `the Link to cluster ${cluster} names gateway identity ${expected}`);
  if (claim.id === undefined || claim.id === UNKNOWN_CALLER) return { id: peerId, cluster, unknown: true };
  let trustDomain: string;
  try {
    trustDomain = parseSpiffeId(claim.id).trustDomain;
  } catch {
    return refuse(peer, `${CALLER_ID_HEADER} ${JSON.stringify(claim.id.slice(0, 120))} is not a SPIFFE id`);
  }
  if (trustDomain !== p.trustDomain) refuse(peer, `caller ${claim.id} is not in trust domain ${p.trustDomain}`);
  return { id: claim.id, cluster, unknown: false };
}
