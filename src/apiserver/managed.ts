// managedFields bookkeeping and server-side apply: which manager owns which field paths, conflicts
// when an apply would change a field another manager owns, and removal of fields an applier dropped.
import { conflict, type StatusCause } from './errors.js';
import { changedLeaves, describePath, fromFieldsV1, isObject, leafPaths, removeAt, strategicMerge, toFieldsV1, valueAt, type Json, type JsonObject } from './patch.js';
import type { Obj } from './store.js';

export interface ManagedEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time: string;
  fieldsType: 'FieldsV1';
  fieldsV1: JsonObject;
  subresource?: string;
}

/** The part of an object field ownership covers: user-set metadata, and spec-like fields or status. */
export function ownedProjection(obj: Obj | JsonObject, subresource: string | undefined, statusSeparate: boolean): JsonObject {
  const out: JsonObject = {};
  const meta = isObject(obj['metadata'] as Json) ? (obj['metadata'] as JsonObject) : {};
  if (subresource !== 'status') {
    const m: JsonObject = {};
    for (const f of ['labels', 'annotations', 'finalizers', 'ownerReferences']) if (meta[f] !== undefined) m[f] = meta[f];
    if (Object.keys(m).length) out['metadata'] = m;
  }
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'apiVersion' || k === 'kind' || k === 'metadata') continue;
    if (subresource === 'status' ? k !== 'status' : k === 'status' && statusSeparate) continue;
    out[k] = v as Json;
  }
  return out;
}

function readEntries(obj: Obj | undefined): ManagedEntry[] {
  const mf = obj?.metadata['managedFields'];
  return Array.isArray(mf) ? (mf as ManagedEntry[]) : [];
}

function entryPaths(e: ManagedEntry): Set<string> {
  return fromFieldsV1(e.fieldsV1);
}

function sameEntry(e: ManagedEntry, manager: string, operation: string, subresource: string | undefined): boolean {
  return e.manager === manager && e.operation === operation && (e.subresource ?? '') === (subresource ?? '');
}

function finish(entries: { e: ManagedEntry; paths: Set<string> }[]): ManagedEntry[] {
  const out: ManagedEntry[] = [];
  for (const { e, paths } of entries) {
    if (paths.size === 0) continue;
    out.push({ ...e, fieldsV1: toFieldsV1(paths) });
  }
  return out;
}

/**
 * managedFields after a non-apply write by `manager`: it takes the fields it changed; fields that no
 * longer exist leave every set.
 */
export function trackUpdate(prev: Obj | undefined, next: Obj, manager: string, apiVersion: string, subresource: string | undefined, statusSeparate: boolean): ManagedEntry[] {
  const nextProj = ownedProjection(next, subresource, statusSeparate);
  const prevProj = prev ? ownedProjection(prev, subresource, statusSeparate) : undefined;
  const changed = changedLeaves(prevProj, nextProj);
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const entries = readEntries(prev).map((e) => ({ e, paths: entryPaths(e) }));
  if (entries.length) {
    const fullNext = leafPaths(ownedProjection(next, undefined, false));
    for (const x of entries) {
      for (const p of [...x.paths]) if (changed.has(p) || !fullNext.has(p)) x.paths.delete(p);
    }
  }
  if (changed.size) {
    let mine = entries.find((x) => sameEntry(x.e, manager, 'Update', subresource));
    if (!mine) {
      mine = { e: { manager, operation: 'Update', apiVersion, time: now, fieldsType: 'FieldsV1', fieldsV1: {}, ...(subresource ? { subresource } : {}) }, paths: new Set() };
      entries.push(mine);
    }
    for (const p of changed) mine.paths.add(p);
    mine.e = { ...mine.e, apiVersion, time: now };
  }
  return finish(entries);
}

export interface ApplyResult {
  merged: JsonObject;
  managedFields: ManagedEntry[];
}

/**
 * Server-side apply of `config` by `manager` onto `live` (undefined when creating). Throws 409 Conflict
 * listing each field another manager owns with a different value, unless `force`.
 */
export function serverSideApply(
  live: Obj | undefined,
  config: JsonObject,
  manager: string,
  apiVersion: string,
  force: boolean,
  subresource: string | undefined,
  statusSeparate: boolean,
  who: { resource: string; group: string; name: string },
): ApplyResult {
  const configProj = ownedProjection(config, subresource, statusSeparate);
  const configPaths = leafPaths(configProj);
  const entries = readEntries(live).map((e) => ({ e, paths: entryPaths(e) }));
  const liveProj = live ? ownedProjection(live, subresource, statusSeparate) : {};
  const conflicts: StatusCause[] = [];
  const conflicting = new Set<string>();
  for (const x of entries) {
    if (x.e.manager === manager) continue;
    for (const p of configPaths) {
      if (p.endsWith('.') || !x.paths.has(p)) continue;
      if (JSON.stringify(valueAt(liveProj, p)) === JSON.stringify(valueAt(configProj, p))) continue;
      conflicts.push({ reason: 'FieldManagerConflict', message: `conflict with "${x.e.manager}"${x.e.operation === 'Update' ? ' using ' + x.e.apiVersion : ''}`, field: describePath(p) });
      conflicting.add(p);
    }
  }
  if (conflicts.length && !force) {
    const text = conflicts.map((c) => `${c.message}: ${c.field ?? ''}`).join('\n- ');
    throw conflict(who.resource, who.group, who.name, `Apply failed with ${conflicts.length} conflict${conflicts.length > 1 ? 's' : ''}: ${conflicts.length > 1 ? '\n- ' : ''}${text}`, conflicts);
  }
  for (const x of entries) if (x.e.manager !== manager) for (const p of conflicting) x.paths.delete(p);
  const base: JsonObject = live ? structuredClone(live as unknown as JsonObject) : {};
  const merged = strategicMerge(base, configProj) as JsonObject;
  for (const k of ['apiVersion', 'kind']) if (config[k] !== undefined) merged[k] = config[k];
  // Fields this manager applied before and no longer applies are removed, unless someone else owns them.
  const mine = entries.find((x) => sameEntry(x.e, manager, 'Apply', subresource));
  if (mine) {
    for (const p of mine.paths) {
      if (configPaths.has(p)) continue;
      const prefix = p.endsWith('.') ? p.slice(0, -1) : p;
      const ownedElsewhere = entries.some((x) => x !== mine && [...x.paths].some((q) => q === p || q.startsWith(prefix)));
      if (!ownedElsewhere) removeAt(merged, p);
    }
  }
  // Applied fields leave the Update sets of this manager (an apply and an update by one manager are separate).
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const applyEntry = { e: { manager, operation: 'Apply' as const, apiVersion, time: now, fieldsType: 'FieldsV1' as const, fieldsV1: {}, ...(subresource ? { subresource } : {}) }, paths: configPaths };
  const rest = entries.filter((x) => x !== mine);
  return { merged, managedFields: finish([...rest, applyEntry]) };
}
