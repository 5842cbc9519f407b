// Writes a Headless import's per-pod Services and their EndpointSlices (import-pods.ts decides them) and
// removes the ones no longer wanted: a pod gone from its cluster, a cluster no longer exporting or linked,
// the import switched to ClusterSetIP, or the import gone. Only objects that are exactly the mirror's
// (ownedImportPod / samePodService) are changed or deleted; a name held by anything else is reported.
import { SHADOW_OF_ANNOTATION, SLICE_SERVICE_LABEL } from '../api/index.js';
import { apply, deleteObject, mergeForUpdate, needsUpdate, resourcePath, type ReconcileContext } from '../kube/index.js';
import type { Logger } from '../log/index.js';
import type { MirrorEnv } from './env.js';
import { ownedImportPod, samePodService, type ImportPodService } from './import-pods.js';
import type { EndpointSlice, Service } from './types.js';

const svcPath = (ns: string) => resourcePath({ version: 'v1', plural: 'services', namespace: ns });
const slicePath = (ns: string) => resourcePath({ group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespace: ns });

export interface PodWriteRun {
  ns: string;
  name: string;
  ctx: Pick<ReconcileContext, 'signal'>;
  log: () => Logger;
}

/** The live per-pod Services of an import that are the mirror's, by name: the world's `podServices`. */
export function livePodServices(env: Pick<MirrorEnv, 'caches'>, ns: string, name: string): Map<string, { clusterIP: string; of: string }> {
  const out = new Map<string, { clusterIP: string; of: string }>();
  for (const s of env.caches.importPodServicesOf(ns, name)) {
    if (!ownedImportPod(s, name)) continue;
    out.set(s.metadata?.name ?? '', { clusterIP: s.spec?.clusterIP ?? '', of: s.metadata?.annotations?.[SHADOW_OF_ANNOTATION] ?? '' });
  }
  return out;
}

/**
 * Brings the per-pod Services and slices in line with `desired`; returns the names held by objects that
 * are not the mirror's (for the caller's Event) and whether anything was written.
 */
export async function applyImportPods(env: MirrorEnv, r: PodWriteRun, desired: ImportPodService[]): Promise<{ conflicts: string[]; wrote: boolean }> {
  const { caches, client, metrics } = env;
  const conflicts: string[] = [];
  let wrote = false;
  const liveSlices = new Map(caches.importPodSlicesOf(r.ns, r.name).map((s) => [s.metadata?.name ?? '', s]));
  for (const p of desired) {
    const svcName = p.service.metadata?.name ?? '';
    const live = caches.service(r.ns, svcName);
    if (!live || needsUpdate(live, p.service)) {
      const res = await apply<Service>(client, svcPath(r.ns), p.service, {
        existing: live ?? null,
        owns: (l) => samePodService(l, p.service, r.name),
        // The server's clusterIP stays (immutable; a per-pod Service is never headless).
        merge: (l, d) => ({ ...mergeForUpdate(l, d), spec: { ...(l.spec ?? {}), ...(d.spec ?? {}) } }),
        signal: r.ctx.signal,
      });
      if (res.result === 'conflict') {
        r.log().warn('a per-pod Service name of a headless import is held by a Service the mirror does not own', { object: `Service ${r.ns}/${svcName}`, hostname: p.hostname, remoteCluster: p.cluster });
        conflicts.push(`Service ${r.ns}/${svcName}`);
        continue;
      }
      if (res.result !== 'unchanged') {
        wrote = true;
        metrics.writes.inc({ kind: 'service', result: res.result });
      }
    }
    for (const want of p.slices) {
      const sliceName = want.metadata?.name ?? '';
      const ls = liveSlices.get(sliceName);
      if (ls && !needsUpdate(ls, want)) continue;
      const res = await apply<EndpointSlice>(client, slicePath(r.ns), want, { ...(ls ? { existing: ls } : {}), owns: (l) => ownedImportPod(l, r.name) && l.metadata?.labels?.[SLICE_SERVICE_LABEL] === svcName, signal: r.ctx.signal });
      if (res.result === 'conflict') conflicts.push(`EndpointSlice ${r.ns}/${sliceName}`);
      else if (res.result !== 'unchanged') {
        wrote = true;
        metrics.writes.inc({ kind: 'endpointslice', result: res.result });
      }
    }
  }
  const wantedSvcs = new Set(desired.map((p) => p.service.metadata?.name ?? ''));
  const wantedSlices = new Set(desired.flatMap((p) => p.slices.map((s) => s.metadata?.name ?? '')));
  wrote = (await removeImportPods(env, r, wantedSvcs, wantedSlices)) || wrote;
  return { conflicts, wrote };
}

/** Deletes the import's per-pod Services and slices of the mirror's that are not wanted (all of them by default). */
export async function removeImportPods(env: Pick<MirrorEnv, 'caches' | 'client' | 'metrics'>, r: PodWriteRun, wantedSvcs = new Set<string>(), wantedSlices = new Set<string>()): Promise<boolean> {
  const { caches, client, metrics } = env;
  let removed = false;
  for (const s of caches.importPodSlicesOf(r.ns, r.name)) {
    const n = s.metadata?.name ?? '';
    if (wantedSlices.has(n) || !ownedImportPod(s, r.name)) continue;
    if (await deleteObject(client, `${slicePath(r.ns)}/${n}`, { uid: s.metadata?.uid, signal: r.ctx.signal })) {
      removed = true;
      metrics.writes.inc({ kind: 'endpointslice', result: 'deleted' });
    }
  }
  for (const s of caches.importPodServicesOf(r.ns, r.name)) {
    const n = s.metadata?.name ?? '';
    if (wantedSvcs.has(n) || !ownedImportPod(s, r.name)) continue;
    if (await deleteObject(client, `${svcPath(r.ns)}/${n}`, { uid: s.metadata?.uid, signal: r.ctx.signal })) {
      removed = true;
      metrics.writes.inc({ kind: 'service', result: 'deleted' });
      r.log().info('removed a per-pod Service of a headless import', { object: `Service ${r.ns}/${n}` });
    }
  }
  return removed;
}
