// Pure planning for Deployments over ReplicaSets and for Jobs, as kube-controller-manager does it: a
// Deployment owns one ReplicaSet per pod template (named `<deployment>-<template hash>`, with the
// `deployment.kubernetes.io/revision` annotation that `kubectl rollout history|undo` read), scales the new
// one up and the old ones down within maxSurge/maxUnavailable, and keeps revisionHistoryLimit old ones.
// ReplicaSets and Jobs own their pods. The controller manager does the I/O.
import { randomBytes } from 'node:crypto';
import type { Deployment, Job, Pod, ReplicaSet } from './types.js';
import { isPodReady } from './types.js';
import { ownerRef, podFromTemplate, scaled, templateHash, TEMPLATE_HASH_LABEL, type Plan } from './workloads.js';

export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';

export interface DeploymentPlan {
  /** A ReplicaSet for the current template, when none exists yet. */
  create?: ReplicaSet;
  /** spec.replicas (and the revision annotation, when it moves) per ReplicaSet name. */
  update: Array<{ name: string; replicas: number; revision?: string }>;
  /** Old ReplicaSets beyond revisionHistoryLimit. */
  delete: string[];
  /** The Deployment's own revision annotation. */
  revision: string;
  status: Record<string, unknown>;
}

const revisionOf = (rs: ReplicaSet): number => Number(rs.metadata.annotations?.[REVISION_ANNOTATION] ?? 0) || 0;
const specReplicas = (rs: ReplicaSet): number => rs.spec.replicas ?? 0;
const num = (v: unknown): number => (typeof v === 'number' ? v : 0);

function newReplicaSet(d: Deployment, hash: string, replicas: number, revision: number): ReplicaSet {
  const labels = { ...(d.spec.template.metadata?.labels ?? {}), [TEMPLATE_HASH_LABEL]: hash };
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name: `${d.metadata.name.slice(0, 52)}-${hash}`,
      namespace: d.metadata.namespace ?? 'default',
      labels,
      annotations: { [REVISION_ANNOTATION]: String(revision), 'deployment.kubernetes.io/desired-replicas': String(d.spec.replicas ?? 1) },
      ownerReferences: [ownerRef('Deployment', d)],
    },
    spec: {
      replicas,
      selector: { ...d.spec.selector, matchLabels: { ...(d.spec.selector.matchLabels ?? {}), [TEMPLATE_HASH_LABEL]: hash } },
      template: { ...structuredClone(d.spec.template), metadata: { ...(d.spec.template.metadata ?? {}), labels } },
      ...(d.spec.minReadySeconds !== undefined ? { minReadySeconds: d.spec.minReadySeconds } : {}),
    },
  };
}

/** How many replicas the new ReplicaSet should have now. */
function newReplicas(d: Deployment, cur: number, olds: ReplicaSet[], maxSurge: number): number {
  const replicas = d.spec.replicas ?? 1;
  const oldSpec = olds.reduce((a, rs) => a + specReplicas(rs), 0);
  if (d.spec.strategy?.type === 'Recreate') {
    const oldPods = olds.reduce((a, rs) => a + specReplicas(rs) + num(rs.status?.['replicas']), 0);
    return oldPods > 0 ? cur : replicas;
  }
  if (cur >= replicas || oldSpec === 0) return replicas;
  return Math.min(replicas, cur + Math.max(0, replicas + maxSurge - oldSpec - cur));
}

/** Old ReplicaSets' replicas after scaling down: unavailable pods first, then available ones while enough stay available. */
function scaleDownOlds(d: Deployment, newRs: { spec: number; available: number }, olds: ReplicaSet[], maxUnavailable: number): Map<string, number> {
  const out = new Map<string, number>();
  if (d.spec.strategy?.type === 'Recreate') {
    for (const rs of olds) out.set(rs.metadata.name, 0);
    return out;
  }
  const replicas = d.spec.replicas ?? 1;
  const minAvailable = Math.max(0, replicas - maxUnavailable);
  let available = newRs.available + olds.reduce((a, rs) => a + num(rs.status?.['availableReplicas']), 0);
  for (const rs of [...olds].sort((a, b) => revisionOf(a) - revisionOf(b))) {
    let want = specReplicas(rs);
    const avail = Math.min(want, num(rs.status?.['availableReplicas']));
    want -= want - avail; // pods that are not available go at once
    const canRemove = Math.max(0, available - minAvailable);
    const remove = Math.min(want, canRemove);
    want -= remove;
    available -= remove;
    out.set(rs.metadata.name, want);
  }
  return out;
}

function deploymentStatus(d: Deployment, all: ReplicaSet[], newRs: ReplicaSet | undefined, maxUnavailable: number): Record<string, unknown> {
  const replicas = d.spec.replicas ?? 1;
  const sum = (f: string) => all.reduce((a, rs) => a + num(rs.status?.[f]), 0);
  const available = sum('availableReplicas');
  const updated = newRs ? num(newRs.status?.['replicas']) : 0;
  const total = sum('replicas');
  const done = updated === replicas && total === replicas && available === replicas;
  const newName = newRs?.metadata.name ?? '';
  return {
    observedGeneration: d.metadata.generation ?? 1,
    replicas: total,
    updatedReplicas: updated,
    readyReplicas: sum('readyReplicas'),
    availableReplicas: available,
    ...(total - available > 0 ? { unavailableReplicas: total - available } : {}),
    conditions: [
      { type: 'Available', status: available >= replicas - maxUnavailable ? 'True' : 'False', reason: available >= replicas - maxUnavailable ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable', message: available >= replicas - maxUnavailable ? 'Deployment has minimum availability.' : 'Deployment does not have minimum availability.' },
      { type: 'Progressing', status: 'True', reason: done ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated', message: done ? `ReplicaSet "${newName}" has successfully progressed.` : `ReplicaSet "${newName}" is progressing.` },
    ],
  };
}

export function planDeploymentRollout(d: Deployment, owned: ReplicaSet[]): DeploymentPlan {
  const replicas = d.spec.replicas ?? 1;
  const hash = templateHash(d.spec.template);
  const live = owned.filter((rs) => !rs.metadata.deletionTimestamp);
  const cur = live.find((rs) => rs.metadata.labels?.[TEMPLATE_HASH_LABEL] === hash);
  const olds = live.filter((rs) => rs !== cur);
  const maxRevision = Math.max(0, ...live.map(revisionOf));
  let maxSurge = scaled(d.spec.strategy?.rollingUpdate?.maxSurge, replicas, '25%', true);
  const maxUnavailable = scaled(d.spec.strategy?.rollingUpdate?.maxUnavailable, replicas, '25%', false);
  if (maxSurge === 0 && maxUnavailable === 0) maxSurge = 1;
  // A template that matches an old ReplicaSet (rollout undo) makes that one the newest revision again.
  const revision = cur && revisionOf(cur) === maxRevision ? maxRevision : maxRevision + 1;
  const update: DeploymentPlan['update'] = [];
  let create: ReplicaSet | undefined;
  const curSpec = cur ? specReplicas(cur) : 0;
  const target = d.spec.paused ? curSpec : newReplicas(d, curSpec, olds, maxSurge);
  if (!cur) create = newReplicaSet(d, hash, target, revision);
  else if (target !== curSpec || revisionOf(cur) !== revision) update.push({ name: cur.metadata.name, replicas: target, ...(revisionOf(cur) !== revision ? { revision: String(revision) } : {}) });
  if (!d.spec.paused) {
    const scaledOlds = scaleDownOlds(d, { spec: target, available: cur ? num(cur.status?.['availableReplicas']) : 0 }, olds, maxUnavailable);
    for (const rs of olds) {
      const want = scaledOlds.get(rs.metadata.name) ?? specReplicas(rs);
      if (want !== specReplicas(rs)) update.push({ name: rs.metadata.name, replicas: want });
    }
  }
  const limit = d.spec.revisionHistoryLimit ?? 10;
  const idle = olds.filter((rs) => specReplicas(rs) === 0 && num(rs.status?.['replicas']) === 0).sort((a, b) => revisionOf(a) - revisionOf(b));
  const del = idle.slice(0, Math.max(0, idle.length - limit)).map((rs) => rs.metadata.name);
  return { ...(create ? { create } : {}), update, delete: del, revision: String(revision), status: deploymentStatus(d, live, cur, maxUnavailable) };
}

const randomName = (base: string): string => `${base.slice(0, 57)}-${randomBytes(4).toString('hex').slice(0, 5)}`;
const live = (pods: Pod[]): Pod[] => pods.filter((p) => !p.metadata.deletionTimestamp && p.status?.phase !== 'Failed' && p.status?.phase !== 'Succeeded');

/** A ReplicaSet keeps spec.replicas pods: not-ready and newest go first on scale down; finished pods are replaced. */
export function planReplicaSet(rs: ReplicaSet, owned: Pod[]): Plan {
  const ns = rs.metadata.namespace ?? 'default';
  const replicas = rs.spec.replicas ?? 1;
  const running = live(owned);
  const finished = owned.filter((p) => !p.metadata.deletionTimestamp && (p.status?.phase === 'Failed' || p.status?.phase === 'Succeeded'));
  const create: Pod[] = [];
  const del = finished.map((p) => p.metadata.name);
  for (let i = running.length; i < replicas; i++) create.push(podFromTemplate(rs.spec.template, randomName(rs.metadata.name), ns, {}, ownerRef('ReplicaSet', rs)));
  if (running.length > replicas) {
    const order = [...running].sort((a, b) => Number(isPodReady(a)) - Number(isPodReady(b)) || (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? ''));
    del.push(...order.slice(0, running.length - replicas).map((p) => p.metadata.name));
  }
  const ready = running.filter(isPodReady).length;
  return {
    create,
    delete: del,
    status: { observedGeneration: rs.metadata.generation ?? 1, replicas: running.length, fullyLabeledReplicas: running.length, readyReplicas: ready, availableReplicas: ready },
  };
}

/** A Job runs pods until `completions` succeeded (Complete) or more than `backoffLimit` failed (Failed). */
export function planJob(j: Job, owned: Pod[], now: string): Plan {
  const ns = j.metadata.namespace ?? 'default';
  const completions = j.spec.completions ?? 1;
  const parallelism = j.spec.parallelism ?? 1;
  const backoffLimit = j.spec.backoffLimit ?? 6;
  const active = live(owned);
  const succeeded = owned.filter((p) => p.status?.phase === 'Succeeded').length;
  const failed = owned.filter((p) => p.status?.phase === 'Failed').length;
  const prev = j.status ?? {};
  const conds = (prev['conditions'] as Array<{ type: string; status: string }> | undefined) ?? [];
  const finished = conds.some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
  const create: Pod[] = [];
  const del: string[] = [];
  const status: Record<string, unknown> = { startTime: prev['startTime'] ?? now, active: active.length, succeeded, failed, ready: active.filter(isPodReady).length };
  if (finished) return { create, delete: del, status: { ...prev, active: active.length, succeeded, failed } };
  if (succeeded >= completions) {
    status['completionTime'] = now;
    status['conditions'] = [{ type: 'SuccessCriteriaMet', status: 'True', reason: 'CompletionsReached', lastTransitionTime: now }, { type: 'Complete', status: 'True', reason: 'CompletionsReached', lastTransitionTime: now }];
  } else if (failed > backoffLimit) {
    del.push(...active.map((p) => p.metadata.name));
    status['conditions'] = [{ type: 'FailureTarget', status: 'True', reason: 'BackoffLimitExceeded', lastTransitionTime: now }, { type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit', lastTransitionTime: now }];
  } else if (!j.spec.suspend) {
    const want = Math.min(parallelism, completions - succeeded);
    for (let i = active.length; i < want; i++) create.push(podFromTemplate(j.spec.template, randomName(j.metadata.name), ns, {}, ownerRef('Job', j)));
  }
  return { create, delete: del, status };
}
