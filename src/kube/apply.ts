// The one idempotent write: create-or-update that reports what it did, `created | updated | unchanged |
// conflict`. The desired object owns its labels, annotations and every top-level field it sets (spec,
// endpoints, ports…); other fields of the live object are kept. Updates carry the live resourceVersion, so
// a write based on a stale read fails with 409 (and the caller's reconcile is retried) instead of
// clobbering a newer change. An object the caller does not own is never written: that is a `conflict`.
import type { CallOptions, KubeClient, KubeObject } from './client.js';
import { isConflict, isNotFound } from './errors.js';

export type ApplyResult = 'created' | 'updated' | 'unchanged' | 'conflict';

export interface ApplyOptions<T extends KubeObject> {
  /** The live object if the caller already has it (e.g. from an informer; null = known absent); otherwise it is read. */
  existing?: T | null;
  /** A live object this returns false for is not ours: left untouched and reported as `conflict`. */
  owns?: (live: T) => boolean;
  /** An immutable field differs (e.g. a Service's clusterIP): delete the live object (uid precondition) and create. */
  recreate?: (live: T, desired: T) => boolean;
  /** How the update is built from the live and desired objects (default mergeForUpdate). */
  merge?: (live: T, desired: T) => T;
  signal?: AbortSignal;
}

export interface Applied<T extends KubeObject> {
  result: ApplyResult;
  /** The object as the server returned it; the live one when unchanged; the foreign one on a conflict. */
  object: T;
  /** `updated` by deleting and creating the object (an immutable field changed). */
  recreated?: boolean;
}

/** The live object is not ours (applyObject without `owns` never raises it). */
export class NotOwnedError extends Error {
  readonly name = 'NotOwnedError';
  readonly code = 'NOT_OWNED';
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => deepEqual(x, bb[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const ak = Object.keys(ao).filter((k) => ao[k] !== undefined);
  const bk = Object.keys(bo).filter((k) => bo[k] !== undefined);
  return ak.length === bk.length && ak.every((k) => deepEqual(ao[k], bo[k]));
}

/** `desired` differs from `live` in a field that `desired` owns. Server defaults on fields it does not set are ignored. */
export function needsUpdate(live: KubeObject, desired: KubeObject): boolean {
  const lm = live.metadata ?? {};
  const dm = desired.metadata ?? {};
  if (!deepEqual(lm.labels ?? {}, dm.labels ?? {})) return true;
  if (!deepEqual(lm.annotations ?? {}, dm.annotations ?? {})) return true;
  for (const k of Object.keys(desired)) {
    if (k === 'metadata' || k === 'status' || k === 'apiVersion' || k === 'kind') continue;
    if (!containedIn(desired[k], live[k])) return true;
  }
  return false;
}

/** Every field set in `want` has the same value in `have` (objects recursively; arrays element-wise). */
function containedIn(want: unknown, have: unknown): boolean {
  if (want === undefined) return true;
  if (want === null || typeof want !== 'object') return want === have;
  if (have === null || typeof have !== 'object') return false;
  if (Array.isArray(want)) {
    if (!Array.isArray(have) || want.length !== have.length) return false;
    return want.every((x, i) => containedIn(x, have[i]));
  }
  const w = want as Record<string, unknown>;
  const h = have as Record<string, unknown>;
  return Object.keys(w).every((k) => containedIn(w[k], h[k]));
}

/** The live object with desired's top-level fields, labels and annotations, at the live resourceVersion. */
export function mergeForUpdate<T extends KubeObject>(live: T, desired: T): T {
  const out: KubeObject = { ...live };
  for (const k of Object.keys(desired)) if (k !== 'metadata' && k !== 'status') out[k] = desired[k];
  out.metadata = {
    ...live.metadata,
    labels: desired.metadata?.labels ?? {},
    annotations: desired.metadata?.annotations ?? {},
    resourceVersion: live.metadata?.resourceVersion,
  };
  return out as T;
}

async function getOrNull<T extends KubeObject>(client: KubeClient, path: string, call: CallOptions): Promise<T | null> {
  try {
    return await client.get<T>(path, call);
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

/**
 * Creates `desired` at `collectionPath` or brings the object of the same name there in line with it.
 * A create that finds the name taken (a cache behind the server) reads the live object and goes on from it.
 */
export async function apply<T extends KubeObject>(client: KubeClient, collectionPath: string, desired: T, opts: ApplyOptions<T> = {}): Promise<Applied<T>> {
  const name = desired.metadata?.name;
  if (!name) throw new Error('apply: desired object has no metadata.name');
  const itemPath = `${collectionPath}/${encodeURIComponent(name)}`;
  const call: CallOptions = { signal: opts.signal };
  let live = opts.existing === undefined ? await getOrNull<T>(client, itemPath, call) : opts.existing;
  if (!live) {
    try {
      return { result: 'created', object: await client.create<T>(collectionPath, desired, call) };
    } catch (err) {
      if (!isConflict(err)) throw err;
      live = await getOrNull<T>(client, itemPath, call);
      if (!live) throw err; // created and deleted again meanwhile: the retry sees the world as it is
    }
  }
  if (opts.owns && !opts.owns(live)) return { result: 'conflict', object: live };
  if (opts.recreate?.(live, desired)) {
    await deleteObject(client, itemPath, { uid: live.metadata?.uid, signal: opts.signal });
    return { result: 'updated', object: await client.create<T>(collectionPath, desired, call), recreated: true };
  }
  if (!needsUpdate(live, desired)) return { result: 'unchanged', object: live };
  const merged = (opts.merge ?? mergeForUpdate)(live, desired);
  return { result: 'updated', object: await client.replace<T>(itemPath, merged, call) };
}

/**
 * The first-wave helper, kept for its callers (install, link, demo): apply without ownership, and with
 * `canUpdate` a NotOwnedError instead of a `conflict` result.
 */
export async function applyObject<T extends KubeObject>(
  client: KubeClient,
  collectionPath: string,
  desired: T,
  opts: { existing?: T | null; canUpdate?: (live: T) => boolean } = {},
): Promise<{ result: Exclude<ApplyResult, 'conflict'>; object: T }> {
  const r = await apply(client, collectionPath, desired, { existing: opts.existing, owns: opts.canUpdate });
  if (r.result === 'conflict') throw new NotOwnedError(`${collectionPath}/${desired.metadata?.name} exists and is not ours`);
  return { result: r.result, object: r.object };
}

/**
 * Deletes one object; `uid` makes it a precondition (never delete a newer object of the same name).
 * @returns false if it was already gone.
 */
export async function deleteObject(client: KubeClient, itemPath: string, opts: { uid?: string; signal?: AbortSignal } = {}): Promise<boolean> {
  const body = opts.uid ? { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: opts.uid } } : undefined;
  try {
    await client.delete(itemPath, body, { signal: opts.signal });
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}
