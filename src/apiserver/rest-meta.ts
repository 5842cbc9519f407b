// Server-owned metadata of writes (uid, timestamps, generation, what a status write may change) and the
// small comparisons the REST core makes. Pure functions over objects; no store here.
import { randomBytes, randomUUID } from 'node:crypto';
import { badRequest } from './errors.js';
import { clone, deepEqual, isObject, type Json, type JsonObject } from './patch.js';
import { apiVersionOf, type ResourceDef } from './resources.js';
import type { Obj } from './store.js';

export type Meta = Record<string, unknown> & Obj['metadata'];

export const stamp = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

export function randomSuffix(): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  const b = randomBytes(5);
  let s = '';
  for (const x of b) s += alphabet[x % alphabet.length];
  return s;
}

/** Checks kind/apiVersion/namespace of a body; `owned` = the caller's private copy (no clone needed). */
export function checkBody(def: ResourceDef, version: string, body: unknown, ns: string | undefined, owned = false): Obj {
  if (!isObject(body as Json)) throw badRequest('the request body must be a JSON object');
  const obj = (owned ? body : clone(body)) as Obj;
  const av = apiVersionOf(def.group, version);
  if (obj.kind !== undefined && obj.kind !== def.kind) throw badRequest(`${String(obj.kind)} in version "${version}" cannot be handled as a ${def.kind}: the kind in the body does not match the resource`);
  if (obj.apiVersion !== undefined && obj.apiVersion !== av) throw badRequest(`the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${av})`);
  obj.kind = def.kind;
  obj.apiVersion = av;
  if (obj.metadata === undefined || obj.metadata === null) (obj as { metadata: unknown }).metadata = {};
  if (!isObject(obj.metadata as unknown as Json)) throw badRequest('metadata must be an object');
  const m = obj.metadata;
  if (m.name !== undefined && typeof m.name !== 'string') throw badRequest('metadata.name must be a string');
  if (def.namespaced) {
    if (m.namespace !== undefined && m.namespace !== '' && m.namespace !== ns) throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    m.namespace = ns as string;
  } else delete m.namespace;
  return obj;
}

/**
 * Sets the metadata the server owns on `obj` (in place) from `prev`, or fresh for a create. A status write
 * keeps everything of `prev` but the status. Returns the object's metadata (a new object after a status write).
 */
export function carryServerMetadata(prev: Obj | undefined, obj: Obj, opts: { track: boolean; subresource?: string }, statusSeparate: boolean): Meta {
  const m = obj.metadata as Meta;
  if (!prev) {
    m.uid = randomUUID();
    m['creationTimestamp'] = stamp();
    delete m['deletionTimestamp'];
    delete m['deletionGracePeriodSeconds'];
    m['generation'] = 1;
    if (opts.track) delete m['managedFields'];
    return m;
  }
  const pm = prev.metadata;
  if (opts.subresource === 'status') {
    // A status write changes status only.
    const status = obj['status'];
    const meta = { ...pm };
    for (const k of Object.keys(obj)) delete obj[k];
    Object.assign(obj, clone(prev), { apiVersion: obj.apiVersion ?? prev.apiVersion });
    obj['status'] = status;
    obj.metadata = { ...meta, ...(m['managedFields'] !== undefined && !opts.track ? { managedFields: m['managedFields'] } : {}) };
    return obj.metadata as Meta;
  }
  if (statusSeparate) {
    if (prev['status'] !== undefined) obj['status'] = prev['status'];
    else delete obj['status'];
  }
  m.uid = pm.uid;
  m['creationTimestamp'] = pm['creationTimestamp'];
  if (pm['deletionTimestamp']) {
    m['deletionTimestamp'] = pm['deletionTimestamp'];
    m['deletionGracePeriodSeconds'] = pm['deletionGracePeriodSeconds'];
  } else {
    delete m['deletionTimestamp'];
    delete m['deletionGracePeriodSeconds'];
  }
  if (opts.track || m['managedFields'] === undefined) m['managedFields'] = pm['managedFields'];
  if (pm['generation'] !== undefined) m['generation'] = pm['generation'];
  else delete m['generation'];
  return m;
}

/** Whether everything but metadata and status is the same (generation moves only when it is not). */
export function sameSpec(a: Obj, b: Obj): boolean {
  const skip = (k: string) => k === 'metadata' || k === 'status' || k === 'apiVersion' || k === 'kind';
  const ka = Object.keys(a).filter((k) => !skip(k));
  const kb = Object.keys(b).filter((k) => !skip(k));
  if (ka.length !== kb.length) return false;
  return ka.every((k) => deepEqual(a[k] as Json, b[k] as Json));
}

/** The object with managedFields times blanked, to tell a write that changes nothing. */
export function withoutTime(o: Obj): Json {
  const mf = o.metadata['managedFields'];
  if (!Array.isArray(mf)) return o as unknown as Json;
  return { ...o, metadata: { ...o.metadata, managedFields: (mf as Record<string, unknown>[]).map((e) => ({ ...e, time: '' })) } } as unknown as Json;
}

export function finalizersOf(o: Obj): string[] {
  const f = o.metadata['finalizers'];
  return Array.isArray(f) ? f.filter((x): x is string => typeof x === 'string') : [];
}

export function nsSpecFinalizers(o: Obj): string[] {
  const spec = o['spec'];
  const f = isObject(spec as Json) ? (spec as JsonObject)['finalizers'] : undefined;
  return Array.isArray(f) ? f.filter((x): x is string => typeof x === 'string') : [];
}

export function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
