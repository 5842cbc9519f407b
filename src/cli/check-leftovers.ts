// `mesh check`: what a Link leaves behind when it is deleted without `mesh unlink` (kubectl delete link,
// the controller gone): in the source, a credentials Secret no Link names (it holds a valid token of the
// target); in the target, a link ServiceAccount whose source no longer links here, or link RBAC without
// its ServiceAccount. Facts are read here; the verdicts are plain functions.
import { LINK_SOURCE_LABEL, LINK_TARGET_LABEL, MESH_NAMESPACE, linkServiceAccountName } from '../api/index.js';
import type { KubeObject } from '../kube/index.js';
import type { Link } from '../mirror/index.js';
import type { Add } from './check-link.js';
import type { Cluster } from './common.js';

export interface LinkLeftoverFacts {
  /** Clusters this cluster's Links target. */
  linkTargets: string[];
  /** Sources of the link ServiceAccounts in this cluster. */
  linkSources: string[];
}

const RBAC_KINDS = [
  ['ClusterRole', '/apis/rbac.authorization.k8s.io/v1/clusterroles'],
  ['ClusterRoleBinding', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings'],
  ['Role', `/apis/rbac.authorization.k8s.io/v1/namespaces/${MESH_NAMESPACE}/roles`],
  ['RoleBinding', `/apis/rbac.authorization.k8s.io/v1/namespaces/${MESH_NAMESPACE}/rolebindings`],
] as const;

const label = (o: KubeObject, key: string): string | undefined => o.metadata?.labels?.[key];

/** Credentials Secrets (made by `mesh link`) that no Link names. */
export function orphanSecrets(secrets: KubeObject[], links: Link[]): KubeObject[] {
  const used = new Set(links.map((l) => (l.spec as { clusterCredentialsSecret?: unknown } | undefined)?.clusterCredentialsSecret));
  return secrets.filter((s) => label(s, LINK_TARGET_LABEL) && !used.has(s.metadata?.name));
}

/** Link RBAC objects whose ServiceAccount is gone, as `Kind name`. */
export function orphanRbac(rbac: Array<{ kind: string; obj: KubeObject }>, sources: string[]): string[] {
  const have = new Set(sources);
  return rbac.filter(({ obj }) => !have.has(label(obj, LINK_SOURCE_LABEL) ?? '')).map(({ kind, obj }) => `${kind} ${obj.metadata?.name ?? ''}`);
}

export async function checkLeftovers(c: Cluster, links: Link[], add: Add): Promise<LinkLeftoverFacts> {
  const ctx = c.context || '<context>';
  const secrets = (await c.client.list(`/api/v1/namespaces/${MESH_NAMESPACE}/secrets`, { labelSelector: LINK_TARGET_LABEL })).items;
  const orphans = orphanSecrets(secrets, links);
  add(
    'no link credentials without a Link',
    orphans.length === 0,
    orphans.length === 0
      ? `${secrets.length} credentials Secret(s), each named by a Link`
      : `no Link names ${orphans.map((s) => `Secret ${MESH_NAMESPACE}/${s.metadata?.name} (a token of ${label(s, LINK_TARGET_LABEL)})`).join(', ')}`,
    orphans.length === 0 ? undefined : `kubectl --context ${ctx} -n ${MESH_NAMESPACE} delete secret ${orphans.map((s) => s.metadata?.name).join(' ')}; and in the target: mesh unlink ${ctx} <target context>`,
  );
  const sas = (await c.client.list(`/api/v1/namespaces/${MESH_NAMESPACE}/serviceaccounts`, { labelSelector: LINK_SOURCE_LABEL })).items;
  const sources = sas.map((s) => label(s, LINK_SOURCE_LABEL) ?? '').filter(Boolean);
  const rbac: Array<{ kind: string; obj: KubeObject }> = [];
  for (const [kind, path] of RBAC_KINDS) for (const obj of (await c.client.list(path, { labelSelector: LINK_SOURCE_LABEL })).items) rbac.push({ kind, obj });
  const stale = orphanRbac(rbac, sources);
  add(
    'no link RBAC without its ServiceAccount',
    stale.length === 0,
    stale.length === 0 ? `${sources.length} link identit${sources.length === 1 ? 'y' : 'ies'} for other clusters (${sources.join(', ') || 'none'})` : `left by a removed link: ${stale.join(', ')}`,
    stale.length === 0 ? undefined : `kubectl --context ${ctx} delete ${stale.map((s) => s.replace(' ', '/').toLowerCase()).join(' ')} (namespaced ones with -n ${MESH_NAMESPACE})`,
  );
  return { linkTargets: links.map((l) => (l.spec as { targetClusterName?: unknown } | undefined)?.targetClusterName).filter((t): t is string => typeof t === 'string'), linkSources: sources };
}

/** The line for several contexts: every link identity's source still links to its target. */
export function staleIdentitiesLine(facts: Array<{ name: string; context: string } & LinkLeftoverFacts>): { cluster: string; check: string; ok: boolean; detail: string; hint?: string } | undefined {
  if (facts.length < 2) return undefined;
  const stale = staleLinkIdentities(facts);
  const cluster = facts.map((f) => f.name).join(',');
  const check = 'no link identities without a Link';
  if (stale.length === 0) return { cluster, check, ok: true, detail: 'every link ServiceAccount belongs to a Link of its source' };
  return {
    cluster,
    check,
    ok: false,
    detail: stale.map((s) => `${s.target} holds ServiceAccount ${MESH_NAMESPACE}/${linkServiceAccountName(s.source)}, but ${s.source} has no Link to ${s.target}`).join('; '),
    hint: stale.map((s) => `mesh unlink ${s.sourceContext || '<source>'} ${s.context || '<target>'}`).join('; '),
  };
}

/**
 * With several contexts: a link identity in TARGET for a SOURCE that is checked too and has no Link to
 * TARGET any more (its token may still be valid until it expires).
 */
export function staleLinkIdentities(facts: Array<{ name: string; context: string } & LinkLeftoverFacts>): Array<{ target: string; context: string; source: string; sourceContext: string }> {
  const out: Array<{ target: string; context: string; source: string; sourceContext: string }> = [];
  for (const t of facts) {
    for (const source of t.linkSources) {
      const s = facts.find((f) => f.name === source);
      if (s && !s.linkTargets.includes(t.name)) out.push({ target: t.name, context: t.context, source, sourceContext: s.context });
    }
  }
  return out;
}
