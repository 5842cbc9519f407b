// reconcile(export key): the status of one local ServiceExport, computed from what is observed, never
// remembered: Valid (its Service), Conflict (the merge of every exporter of the clusterset, the KEP's
// oldest-wins rule: the same reasons on every exporter) and Ready (every cluster of the clusterset — this
// one and each linked cluster, through its Link's cache of that cluster's ServiceImports — lists this
// cluster among the import's clusters).
import { EXPORT_READY_REASONS, TRAFFIC_POLICY_REASONS, describePolicy, MCS_API_VERSION, MCS_GROUP, MCS_STORAGE_VERSION, SERVICE_EXPORT_KIND, SERVICE_EXPORT_PLURAL, type Condition, type ServiceExportConditionType } from '../api/index.js';
import { deepEqual, type ReconcileContext, type ReconcileResult } from '../kube/index.js';
import { reconcileLog, type MirrorEnv } from './env.js';
import { conflictCondition, exportPolicy, exportValidity, mergeExports } from './imports-desired.js';
import type { Exporter, ServiceExport, ServiceImport } from './mcs-types.js';
import { exportersOf, peers } from './mcs-world.js';

type Cond = Omit<Condition<ServiceExportConditionType>, 'lastTransitionTime' | 'observedGeneration'>;
const status = (ok: boolean | undefined) => (ok === undefined ? 'Unknown' : ok ? 'True' : 'False');

export interface ReadyView {
  /** Clusters whose import lists this cluster. */
  imported: string[];
  /** Clusters that have no such import (yet). */
  missing: string[];
  /** Linked clusters whose caches have not synced. */
  unknown: string[];
}

/** Pure: the TrafficPolicy condition echoes this export's policy, or says which annotation is wrong and why. */
export function trafficPolicyCondition(e: Pick<Exporter, 'export'>): Cond {
  const p = exportPolicy(e);
  if (p.error) return { type: 'TrafficPolicy', status: 'False', reason: TRAFFIC_POLICY_REASONS.invalid, message: `${p.error} (balanced is used)` };
  return { type: 'TrafficPolicy', status: 'True', reason: TRAFFIC_POLICY_REASONS.accepted, message: describePolicy(p.policy) };
}

/** Pure: the Ready condition from the clusters' imports and the export's validity. */
export function readyCondition(valid: boolean, v: ReadyView): Cond {
  if (!valid) return { type: 'Ready', status: 'False', reason: EXPORT_READY_REASONS.invalid, message: 'the export is not valid' };
  if (v.missing.length) return { type: 'Ready', status: 'False', reason: EXPORT_READY_REASONS.notImported, message: `not imported yet in: ${v.missing.join(', ')}` };
  if (v.unknown.length) return { type: 'Ready', status: 'Unknown', reason: EXPORT_READY_REASONS.pending, message: `waiting to observe: ${v.unknown.join(', ')}` };
  return { type: 'Ready', status: 'True', reason: EXPORT_READY_REASONS.ready, message: `imported in every cluster of the clusterset: ${v.imported.join(', ')}` };
}

const lists = (imp: ServiceImport | undefined, cluster: string) => !!imp?.status?.clusters?.some((c) => c.cluster === cluster);

export class ExportReconciler {
  constructor(private readonly env: MirrorEnv) {}

  async reconcile(ns: string, name: string, ctx: ReconcileContext): Promise<ReconcileResult> {
    const { env } = this;
    const se = env.caches.serviceExports.getByName(ns, name);
    if (!se || se.metadata?.deletionTimestamp) return;
    const log = reconcileLog(ctx, { service: `${ns}/${name}`, cluster: env.clusterName });
    const { exporters } = exportersOf(env, ns, name);
    const mine = exporters.find((e) => e.cluster === env.clusterName && e.mode === 'local');
    if (!mine) return;
    const validity = exportValidity(mine);
    const conflict = conflictCondition(validity.valid ? mergeExports(exporters) : undefined);
    const view: ReadyView = { imported: [], missing: [], unknown: [] };
    (lists(env.caches.serviceImports.getByName(ns, name), env.clusterName) ? view.imported : view.missing).push(env.clusterName);
    for (const p of peers(env)) {
      if (!p.remote) view.unknown.push(p.cluster);
      else (lists(p.remote.imports.getByName(ns, name), env.clusterName) ? view.imported : view.missing).push(p.cluster);
    }
    const conds: Cond[] = [
      { type: 'Valid', status: status(validity.valid), reason: validity.reason, message: validity.message },
      readyCondition(validity.valid, view),
      { type: 'Conflict', status: status(conflict.conflict), reason: conflict.reason, message: conflict.message },
      trafficPolicyCondition(mine),
    ];
    const prev = se.status?.conditions ?? [];
    const now = new Date(env.clock.now()).toISOString().replace(/\.\d+Z$/, 'Z');
    const gen = se.metadata?.generation;
    const conditions = conds.map((c): Condition => {
      const old = prev.find((x) => x.type === c.type);
      return { ...c, lastTransitionTime: old && old.status === c.status ? old.lastTransitionTime : now, observedGeneration: gen };
    });
    if (deepEqual(prev, conditions)) return;
    const path = `/apis/${MCS_GROUP}/${MCS_STORAGE_VERSION}/namespaces/${ns}/${SERVICE_EXPORT_PLURAL}/${name}/status`;
    await env.client.replace(path, { ...se, apiVersion: MCS_API_VERSION, kind: SERVICE_EXPORT_KIND, status: { ...(se.status ?? {}), conditions } }, { signal: ctx.signal });
    await this.events(se, prev, conditions, ctx, log);
  }

  /** One Event per change into a bad state (the status already showing it is the memory). */
  private async events(se: ServiceExport, prev: Condition[], next: Condition[], ctx: ReconcileContext, log: ReturnType<typeof reconcileLog>): Promise<void> {
    const changed = (t: string) => {
      const a = prev.find((c) => c.type === t);
      const b = next.find((c) => c.type === t);
      return b && (a?.status !== b.status || a.reason !== b.reason) ? b : undefined;
    };
    const obj = { ...se, apiVersion: MCS_API_VERSION, kind: SERVICE_EXPORT_KIND };
    const valid = changed('Valid');
    if (valid?.status === 'False') await this.env.events.record(obj, 'Warning', valid.reason, valid.message, { signal: ctx.signal, log: log() });
    const conflict = changed('Conflict');
    if (conflict?.status === 'True') await this.env.events.record(obj, 'Warning', 'ExportConflict', `${conflict.reason}: ${conflict.message}`, { signal: ctx.signal, log: log() });
    const policy = changed('TrafficPolicy');
    if (policy?.status === 'False') await this.env.events.record(obj, 'Warning', policy.reason, policy.message, { signal: ctx.signal, log: log() });
  }
}
