// Deterministic names: the same inputs give the same name on every controller and every restart, so a
// write against a stale cache fails on resourceVersion instead of creating a duplicate.
import { createHash } from 'node:crypto';

export const MAX_NAME = 63;
const HASH_LEN = 8;

export function shortHash(s: string, len = HASH_LEN): string {
  return createHash('sha256').update(s).digest('hex').slice(0, len);
}

/** `name` if it fits in 63 characters, else a prefix of it ending in `-<hash of the whole name>`. */
export function fitName(full: string, max = MAX_NAME): string {
  if (full.length <= max) return full;
  const prefix = full.slice(0, max - HASH_LEN - 1).replace(/[-.]+$/, '');
  return `${prefix}-${shortHash(full)}`;
}

/** Shadow Service name: `<name>-<remote-cluster-name>`, cut to 63 characters ending in a short hash. */
export function shadowName(remoteName: string, remoteCluster: string): string {
  return fitName(`${remoteName}-${remoteCluster}`);
}

/** A gateway-mode headless shadow's per-pod Service for the remote pod `hostname`. */
export function podServiceName(hostname: string, shadow: string): string {
  return fitName(`${hostname}-${shadow}`);
}

/** An EndpointSlice of a shadow; `part` names what it mirrors (gateway, or a remote slice). */
export function sliceName(shadow: string, part: string): string {
  return fitName(`${shadow}-${part}`);
}

export function remoteFqName(name: string, namespace: string, clusterDomain: string): string {
  return `${name}.${namespace}.svc.${clusterDomain}`;
}
