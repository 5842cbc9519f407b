// Pure planning for StatefulSets, and what every workload shares (template hash, owner references, pods
// from a template): given the owner and the pods it owns, what to create, what to delete, and the status
// to report. Deployments, ReplicaSets and Jobs: rollout.ts. The controller manager does the I/O.
import { createHash } from 'node:crypto';
import type { Pod, PodTemplate, StatefulSet, OwnerReference } from './types.js';
import { isPodReady } from './types.js';

export const TEMPLATE_HASH_LABEL = 'pod-template-hash';
export const STS_REVISION_LABEL = 'controller-revision-hash';
export const STS_POD_NAME_LABEL = 'statefulset.kubernetes.io/pod-name';

/**
 * The hash of a pod template, as the `pod-template-hash` label: canonical (keys sorted, the label itself
 * and empty metadata left out), so a template copied back from a ReplicaSet (`kubectl rollout undo`)
 * hashes as the one it came from.
 */
export function templateHash(t: PodTemplate): string {
  const labels = { ...(t.metadata?.labels ?? {}) };
  delete labels[TEMPLATE_HASH_LABEL];
  const meta = { ...(t.metadata ?? {}), labels } as Record<string, unknown>;
  delete meta['creationTimestamp'];
  return createHash('sha256').update(canonical({ ...t, metadata: meta })).digest('hex').slice(0, 10);
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined && x !== null).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

export function ownerRef(kind: 'Deployment' | 'StatefulSet' | 'ReplicaSet' | 'Job', o: { metadata: { name: string; uid?: string } }): OwnerReference {
  return { apiVersion: kind === 'Job' ? 'batch/v1' : 'apps/v1', kind, name: o.metadata.name, uid: o.metadata.uid ?? '', controller: true, blockOwnerDeletion: true };
}

export function ownedBy(p: Pod, uid: string | undefined): boolean {
  return !!uid && (p.metadata.ownerReferences ?? []).some((r) => r.controller && r.uid === uid);
}

export function podFromTemplate(t: PodTemplate, name: string, ns: string, labels: Record<string, string>, owner: OwnerReference, extra: Partial<Pod['spec']> = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: ns,
      labels: { ...(t.metadata?.labels ?? {}), ...labels },
      ...(t.metadata?.annotations ? { annotations: t.metadata.annotations } : {}),
      ownerReferences: [owner],
    },
    spec: { ...structuredClone(t.spec), ...extra },
  };
}

/** `25%` of n rounded up (surge) or down (unavailable), or an absolute number. */
export function scaled(v: number | string | undefined, n: number, fallback: string, roundUp: boolean): number {
  const x = v ?? fallback;
  if (typeof x === 'number') return x;
  const m = /^(\d+)%$/.exec(x);
  if (!m) return Number(x) || 0;
  const f = (Number(m[1]) * n) / 100;
  return roundUp ? Math.ceil(f) : Math.floor(f);
}

export interface Plan {
  create: Pod[];
  delete: string[];
  status: Record<string, unknown>;
}

/**
 * StatefulSet pods `<name>-<i>` with hostname/subdomain for per-pod DNS; scale down removes the highest
 * ordinals; a template change replaces one pod at a time, highest ordinal first, once all are ready.
 */
export function planStatefulSet(s: StatefulSet, owned: Pod[]): Plan {
  const ns = s.metadata.namespace ?? 'default';
  const replicas = s.spec.replicas ?? 1;
  const hash = templateHash(s.spec.template);
  const rev = `${s.metadata.name}-${hash}`;
  const owner = ownerRef('StatefulSet', s);
  const byName = new Map(owned.map((p) => [p.metadata.name, p]));
  const create: Pod[] = [];
  const del: string[] = [];
  const ordered = s.spec.podManagementPolicy !== 'Parallel';
  for (let i = 0; i < replicas; i++) {
    const name = `${s.metadata.name}-${i}`;
    const p = byName.get(name);
    if (!p) {
      create.push(podFromTemplate(s.spec.template, name, ns, { [STS_REVISION_LABEL]: rev, [STS_POD_NAME_LABEL]: name }, owner, { hostname: name, ...(s.spec.serviceName ? { subdomain: s.spec.serviceName } : {}) }));
      if (ordered) break;
      continue;
    }
    if (ordered && !p.metadata.deletionTimestamp && !isPodReady(p)) break;
  }
  for (const p of owned) {
    const m = new RegExp(`^${s.metadata.name}-(\\d+)$`).exec(p.metadata.name);
    if (!m || Number(m[1]) >= replicas) if (!p.metadata.deletionTimestamp) del.push(p.metadata.name);
  }
  const live = owned.filter((p) => !p.metadata.deletionTimestamp);
  const allReady = live.length === replicas && live.every(isPodReady);
  if (allReady && create.length === 0 && del.length === 0) {
    const stale = live
      .filter((p) => p.metadata.labels?.[STS_REVISION_LABEL] !== rev)
      .sort((a, b) => b.metadata.name.localeCompare(a.metadata.name, undefined, { numeric: true }));
    if (stale[0]) del.push(stale[0].metadata.name);
  }
  const ready = live.filter(isPodReady).length;
  const updated = live.filter((p) => p.metadata.labels?.[STS_REVISION_LABEL] === rev).length;
  return {
    create,
    delete: del,
    status: {
      observedGeneration: s.metadata.generation ?? 1,
      replicas: live.length,
      readyReplicas: ready,
      availableReplicas: ready,
      currentReplicas: updated,
      updatedReplicas: updated,
      currentRevision: rev,
      updateRevision: rev,
    },
  };
}
