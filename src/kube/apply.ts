// Idempotent create-or-update that reports what it did. The desired object owns its labels, annotations
// and every top-level field it sets (spec, endpoints, ports…); other fields of the live object are kept.
// Updates carry the live resourceVersion, so a write based on a stale read fails with 409 (and the caller's
// reconcile is retried) instead of clobbering a newer change.
import type { KubeClient, KubeObject } from './client.js';
import { isNotFound } from './errors.js';

export type ApplyResult = 'created' | 'updated' | 'unchanged';

export interface ApplyOptions<T extends KubeObject> {
  /** The live object if the caller already has it (e.g. from an informer); otherwise it is read. */
  existing?: T | null;
  /** Refuse to update a live object this returns false for (e.g. not owned by us). */
  canUpdate?: (live: T) => boolean;
}

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

/**
 * Creates `desired` at `collectionPath` or updates the object of the same name there.
 * @returns what happened, and the object as the server returned it (the live one when unchanged).
 */
export async function applyObject<T extends KubeObject>(
  client: KubeClient,
  collectionPath: string,
  desired: T,
  opts: ApplyOptions<T> = {},
): Promise<{ result: ApplyResult; object: T }> {
  const name = desired.metadata?.name;
  if (!name) throw new Error('applyObject: desired object has no metadata.name');
  const itemPath = `${collectionPath}/${encodeURIComponent(name)}`;
  let live = opts.existing;
  if (live === undefined) {
    try {
      live = await client.get<T>(itemPath);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      live = null;
    }
  }
  if (!live) {
    const created = await client.create<T>(collectionPath, desired);
    return { result: 'created', object: created };
  }
  if (opts.canUpdate && !opts.canUpdate(live)) throw new NotOwnedError(`${itemPath} exists and is not ours`);
  if (!needsUpdate(live, desired)) return { result: 'unchanged', object: live };
  const updated = await client.replace<T>(itemPath, mergeForUpdate(live, desired));
  return { result: 'updated', object: updated };
}
