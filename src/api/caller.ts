// The caller-identity contract (issue 15): what a source gateway says about who opened a tunnel, and what
// the remote gateway hands the target. Shared by the gateway (both ends), the demo echo app (reads PROXY v2)
// and the policy code (authorize(target, caller)).
/** HTTP/2 CONNECT header (and tls-pipe header field): the SPIFFE id of the calling pod's ServiceAccount. */
export const CALLER_ID_HEADER = 'mesh-caller-id';
/** HTTP/2 CONNECT header (and tls-pipe header field): the source cluster's name. */
export const CALLER_CLUSTER_HEADER = 'mesh-caller-cluster';
/** The caller-id value when the source gateway cannot attest its client (host network, a pod it does not
 * know yet): the caller is then the source gateway itself, flagged unknown, never someone else. */
export const UNKNOWN_CALLER = 'unknown-caller';
/** Longest claim value accepted (a SPIFFE id may be 2048 bytes; ours are far shorter). */
export const MAX_CLAIM_LENGTH = 512;

/** What a source gateway claims about its client; absent fields = no claim (an older gateway, a workload). */
export interface CallerClaim {
  id: string | undefined;
  cluster: string | undefined;
}

/** Values of `mirror.mesh.io/proxy-protocol` on an exported Service. */
export const PROXY_PROTOCOL_VERSIONS = ['v2'] as const;
export type ProxyProtocolVersion = (typeof PROXY_PROTOCOL_VERSIONS)[number];

export function parseProxyProtocolAnnotation(v: string | undefined): ProxyProtocolVersion | undefined {
  return (PROXY_PROTOCOL_VERSIONS as readonly string[]).includes(v ?? '') ? (v as ProxyProtocolVersion) : undefined;
}

/** The SPIFFE id of a ServiceAccount (the shape src/trust issues workload certificates for). */
export function serviceAccountId(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}
