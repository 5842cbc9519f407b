// The work queue's keys, typed. A key names what to reconcile, never what happened (controller-runtime's
// reconcile.Request): `link` (one Link: lifecycle, finalizer, remote watch, probe, status), `shadow` (one
// shadow Service of a remote cluster with its slices and per-pod Services), `renew` (the link token) and
// `routes` (the outbound route table the gateway reads).
// Event handlers build keys from names and labels only; encodeKey/decodeKey are the one string form.

export type MirrorKey =
  | { kind: 'link'; name: string }
  | { kind: 'renew'; link: string }
  /** The outbound route table (one for the controller: routes.ts). */
  | { kind: 'routes' }
  /** `name` is the shadow's own (local) name: `shadowName(remote name, cluster)`. */
  | { kind: 'shadow'; cluster: string; namespace: string; name: string }
  /** MCS: the ServiceImport namespace/name, its derived Service and slices (import-reconciler.ts). */
  | { kind: 'import'; namespace: string; name: string }
  /** MCS: the local ServiceExport namespace/name's status (export-reconciler.ts). */
  | { kind: 'export'; namespace: string; name: string }
  /** A local exported Service's authorization annotations (policy-reconciler.ts: Events when they do not parse). */
  | { kind: 'policy'; namespace: string; name: string }
  /** A Namespace's default-allowed-identities (policy-reconciler.ts: an Event when it does not parse). */
  | { kind: 'nspolicy'; namespace: string };

export class KeyError extends Error {
  readonly name = 'KeyError';
  readonly code = 'BAD_KEY';
}

export const linkKey = (name: string): MirrorKey => ({ kind: 'link', name });
export const renewKey = (link: string): MirrorKey => ({ kind: 'renew', link });
export const routesKey: MirrorKey = { kind: 'routes' };
export const importKey = (namespace: string, name: string): MirrorKey => ({ kind: 'import', namespace, name });
export const exportKey = (namespace: string, name: string): MirrorKey => ({ kind: 'export', namespace, name });
export const policyKey = (namespace: string, name: string): MirrorKey => ({ kind: 'policy', namespace, name });
export const nsPolicyKey = (namespace: string): MirrorKey => ({ kind: 'nspolicy', namespace });
export const shadowKey = (cluster: string, namespace: string, name: string): MirrorKey => ({ kind: 'shadow', cluster, namespace, name });

// Kubernetes names and cluster names never contain ':' or '/', so the separators cannot be ambiguous.
export function encodeKey(k: MirrorKey): string {
  switch (k.kind) {
    case 'link':
      return `link:${k.name}`;
    case 'renew':
      return `renew:${k.link}`;
    case 'routes':
      return 'routes';
    case 'shadow':
      return `shadow:${k.cluster}:${k.namespace}/${k.name}`;
    case 'import':
    case 'export':
    case 'policy':
      return `${k.kind}:${k.namespace}/${k.name}`;
    case 'nspolicy':
      return `nspolicy:${k.namespace}`;
  }
}

export function decodeKey(s: string): MirrorKey {
  if (s === 'routes') return routesKey;
  const i = s.indexOf(':');
  const kind = s.slice(0, i);
  const rest = s.slice(i + 1);
  if (i > 0 && rest) {
    if (kind === 'link') return linkKey(rest);
    if (kind === 'renew') return renewKey(rest);
    if (kind === 'nspolicy' && /^[^:/]+$/.test(rest)) return nsPolicyKey(rest);
    const n = kind === 'import' || kind === 'export' || kind === 'policy' ? /^([^:/]+)\/([^:/]+)$/.exec(rest) : null;
    if (n) return kind === 'import' ? importKey(n[1], n[2]) : kind === 'export' ? exportKey(n[1], n[2]) : policyKey(n[1], n[2]);
    const m = kind === 'shadow' ? /^([^:/]+):([^:/]+)\/([^:/]+)$/.exec(rest) : null;
    if (m) return shadowKey(m[1], m[2], m[3]);
  }
  throw new KeyError(`not a mirror key: ${JSON.stringify(s)}`);
}
