// Pure planning for Deployments and StatefulSets: given the owner and the pods it owns, what to create,
// what to delete, and the status to report. The controller manager does the I/O.
import { createHash, randomBytes } from 'node:crypto';
import type { Deployment, Pod, PodTemplate, StatefulSet, OwnerReference } from './types.js';
import { isPodReady } from './types.js';

export const TEMPLATE_HASH_LABEL = 'pod-template-hash';
export const STS_REVISION_LABEL = 'controller-revision-hash';
export const STS_POD_NAME_LABEL = 'statefulset.kubernetes.io/pod-name';

export function templateHash(t: PodTemplate): string {
  return createHash('sha256').update(JSON.stringify(t)).digest('hex').slice(0, 10);
}

export function ownerRef(kind: 'Deployment' | 'StatefulSet', o: { metadata: { name: string; uid?: string } }): OwnerReference {
  return { apiVersion: 'apps/v1', kind, name: o.metadata.name, uid: o.metadata.uid ?? '', controller: true, blockOwnerDeletion: true };
}

export function ownedBy(p: Pod, uid: string | undefined): boolean {
  return !!uid && (p.metadata.ownerReferences ?? []).some((r) => r.controller && r.uid === uid);
}

function podFromTemplate(t: PodTemplate, name: string, ns: string, labels: Record<string, string>, owner: OwnerReference, extra: Partial<Pod['spec']> = {}): Pod {
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
 * A rolling update without ReplicaSets (the sandbox's API server serves none): pods carry the template
 * hash; new pods are created up to replicas + maxSurge, old pods are deleted while enough pods stay ready
 * (replicas - maxUnavailable). Repeated calls converge, so one reconcile per change is enough.
 */
export function planDeployment(d: Deployment, owned: Pod[]): Plan {
  const ns = d.metadata.namespace ?? 'default';
  const replicas = d.spec.replicas ?? 1;
  const hash = templateHash(d.spec.template);
  const live = owned.filter((p) => !p.metadata.deletionTimestamp && p.status?.phase !== 'Failed' && p.status?.phase !== 'Succeeded');
  const failed = owned.filter((p) => !p.metadata.deletionTimestamp && (p.status?.phase === 'Failed' || p.status?.phase === 'Succeeded'));
  const cur = live.filter((p) => p.metadata.labels?.[TEMPLATE_HASH_LABEL] === hash);
  const old = live.filter((p) => p.metadata.labels?.[TEMPLATE_HASH_LABEL] !== hash);
  let maxSurge = scaled(d.spec.strategy?.rollingUpdate?.maxSurge, replicas, '25%', true);
  const maxUnavailable = scaled(d.spec.strategy?.rollingUpdate?.maxUnavailable, replicas, '25%', false);
  if (maxSurge === 0 && maxUnavailable === 0) maxSurge = 1;
  const recreate = d.spec.strategy?.type === 'Recreate';
  const create: Pod[] = [];
  const del: string[] = failed.map((p) => p.metadata.name);
  const owner = ownerRef('Deployment', d);
  const readyCur = cur.filter(isPodReady);
  const readyOld = old.filter(isPodReady);

  if (!d.spec.paused) {
    // Too many current pods: remove the not-ready ones first, then the newest.
    if (cur.length > replicas) {
      const order = [...cur].sort((a, b) => Number(isPodReady(a)) - Number(isPodReady(b)) || (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? ''));
      del.push(...order.slice(0, cur.length - replicas).map((p) => p.metadata.name));
    }
    if (recreate) {
      if (old.length > 0) del.push(...old.map((p) => p.metadata.name));
      else for (let i = cur.length; i < replicas; i++) create.push(newDeploymentPod(d, hash, owner, ns));
    } else {
      const budget = replicas + maxSurge - live.length;
      for (let i = 0; i < Math.min(replicas - cur.length, Math.max(0, budget)); i++) create.push(newDeploymentPod(d, hash, owner, ns));
      // Old pods may go while ready pods stay at or above replicas - maxUnavailable.
      const minReady = Math.max(0, replicas - maxUnavailable);
      let canRemove = readyCur.length + readyOld.length - minReady;
      const oldOrder = [...old].sort((a, b) => Number(isPodReady(a)) - Number(isPodReady(b)));
      for (const p of oldOrder) {
        if (!isPodReady(p)) { del.push(p.metadata.name); continue; }
        if (canRemove <= 0) break;
        del.push(p.metadata.name);
        canRemove--;
      }
    }
  }
  const available = readyCur.length + readyOld.length;
  const conditions = [
    { type: 'Available', status: available >= replicas - maxUnavailable ? 'True' : 'False', reason: available >= replicas - maxUnavailable ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable' },
    { type: 'Progressing', status: 'True', reason: cur.length === replicas && old.length === 0 && readyCur.length === replicas ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated' },
  ];
  return {
    create,
    delete: [...new Set(del)],
    status: {
      observedGeneration: d.metadata.generation ?? 1,
      replicas: live.length,
      updatedReplicas: cur.length,
      readyReplicas: available,
      availableReplicas: available,
      ...(live.length - available > 0 ? { unavailableReplicas: live.length - available } : {}),
      conditions,
    },
  };
}

function newDeploymentPod(d: Deployment, hash: string, owner: OwnerReference, ns: string): Pod {
  const name = `${d.metadata.name.slice(0, 40)}-${hash}-${randomBytes(3).toString('hex').slice(0, 5)}`;
  return podFromTemplate(d.spec.template, name, ns, { [TEMPLATE_HASH_LABEL]: hash }, owner);
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
