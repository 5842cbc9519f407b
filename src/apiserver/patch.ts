// Patch algorithms: JSON merge patch (RFC 7386), JSON patch (RFC 6902, via fast-json-patch), strategic
// merge patch for the core types the project writes (lists merged by key: ports by `port`, containers
// by `name`, env by `name`, conditions by `type` ...), and the field-path sets server-side apply uses.
import jsonpatch from 'fast-json-patch';
import { ApiError, badRequest } from './errors.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

export function isObject(v: unknown): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function clone<T>(v: T): T {
  return structuredClone(v);
}

/** RFC 7386: null deletes, objects merge recursively, everything else (lists too) replaces. */
export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return patch;
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export function applyJsonPatch(target: JsonObject, ops: unknown): JsonObject {
  if (!Array.isArray(ops)) throw badRequest('json patch must be a JSON array of operations');
  const err = jsonpatch.validate(ops as jsonpatch.Operation[], target);
  if (err) throw new ApiError('Invalid', `the server rejected our request due to an error in our request: ${err.name}: ${err.message.split('\n')[0]}`);
  try {
    return jsonpatch.applyPatch(clone(target), ops as jsonpatch.Operation[], true, false).newDocument;
  } catch (e) {
    const m = e instanceof Error ? e.message.split('\n')[0] : String(e);
    throw new ApiError('Invalid', `the server rejected our request due to an error in our request: ${m}`);
  }
}

/** How a list at `path` merges: by a key field, as a set of primitives, or atomically (replaced). */
export type ListKind = { key: string } | 'set' | 'atomic';

export function listKindFor(path: readonly string[]): ListKind {
  const field = path[path.length - 1];
  const parent = path[path.length - 2];
  switch (field) {
    case 'containers':
    case 'initContainers':
    case 'ephemeralContainers':
    case 'env':
    case 'volumes':
    case 'imagePullSecrets':
      return { key: 'name' };
    case 'volumeMounts':
      return { key: 'mountPath' };
    case 'conditions':
      return { key: 'type' };
    case 'ownerReferences':
      return { key: 'uid' };
    case 'hostAliases':
      return { key: 'ip' };
    case 'finalizers':
      return 'set';
    case 'ports':
      // Container ports merge by containerPort; Service ports by port. EndpointSlice ports are atomic.
      if (path.includes('containers') || path.includes('initContainers')) return { key: 'containerPort' };
      if (parent === 'spec' && path.length === 2) return { key: 'port' };
      return 'atomic';
    default:
      return 'atomic';
  }
}

/**
 * Strategic merge patch. Supports `$patch: replace|delete` on maps and list items, `$deleteFromPrimitiveList/<f>`,
 * and ignores `$setElementOrder/<f>` and `$retainKeys` (ordering/retention hints we do not need).
 */
export function strategicMerge(target: Json | undefined, patch: Json, path: string[] = []): Json {
  if (!isObject(patch)) return patch;
  if (patch['$patch'] === 'replace') {
    const rest = { ...patch };
    delete rest['$patch'];
    return rest;
  }
  if (patch['$patch'] === 'delete') return null;
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys' || k.startsWith('$setElementOrder/')) continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const f = k.slice('$deleteFromPrimitiveList/'.length);
      const cur = out[f];
      if (Array.isArray(cur) && Array.isArray(v)) out[f] = cur.filter((x) => !v.some((d) => d === x));
      continue;
    }
    if (v === null) {
      delete out[k];
      continue;
    }
    const childPath = [...path, k];
    if (Array.isArray(v)) {
      out[k] = mergeList(out[k], v, childPath);
    } else if (isObject(v)) {
      const merged = strategicMerge(out[k], v, childPath);
      if (merged === null) delete out[k];
      else out[k] = merged;
    } else out[k] = v;
  }
  return out;
}

function mergeList(cur: Json | undefined, patch: Json[], path: string[]): Json[] {
  const kind = listKindFor(path);
  const base = Array.isArray(cur) ? cur : [];
  if (kind === 'atomic') return patch;
  if (kind === 'set') {
    const out = [...base];
    for (const x of patch) if (!out.some((y) => JSON.stringify(y) === JSON.stringify(x))) out.push(x);
    return out;
  }
  if (patch.some((x) => isObject(x) && x['$patch'] === 'replace')) {
    return patch.filter((x) => !(isObject(x) && x['$patch'] === 'replace'));
  }
  const out = [...base];
  for (const item of patch) {
    if (!isObject(item) || !(kind.key in item)) throw badRequest(`map: ${JSON.stringify(item)} does not contain declared merge key: ${kind.key}`);
    // Ports are keyed by number and protocol (as Kubernetes' list-map keys): DNS serves 53/UDP and 53/TCP.
    const proto = (o: JsonObject) => (kind.key === 'port' || kind.key === 'containerPort' ? (o['protocol'] ?? 'TCP') : undefined);
    const idx = out.findIndex((x) => isObject(x) && x[kind.key] === item[kind.key] && proto(x) === proto(item));
    if (item['$patch'] === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (idx >= 0) out[idx] = strategicMerge(out[idx], item, path);
    else out.push(strategicMerge(undefined, item, path));
  }
  return out;
}

// --- field paths (server-side apply) ---

/** One path segment as fieldsV1 spells it: `f:name`, `k:{"port":80}`, `v:"value"`, or `.` (the list item itself). */
export type PathSeg = string;
const SEP = '\u0001';

/** Leaf field paths of `obj`; keyed list items also get their `.` entry. */
export function leafPaths(obj: Json, path: string[] = [], segs: PathSeg[] = [], out: Set<string> = new Set()): Set<string> {
  walkLeaves(obj, path, segs, out);
  return out;
}

// Mutable path stacks (push/pop) instead of copies: this runs on every write.
function walkLeaves(obj: Json, path: string[], segs: PathSeg[], out: Set<string>): void {
  if (isObject(obj)) {
    let any = false;
    for (const k in obj) {
      any = true;
      path.push(k);
      segs.push(`f:${k}`);
      walkLeaves(obj[k], path, segs, out);
      path.pop();
      segs.pop();
    }
    if (!any && segs.length) out.add(segs.join(SEP));
    return;
  }
  if (Array.isArray(obj)) {
    const kind = listKindFor(path);
    if (kind === 'atomic' || obj.length === 0) {
      out.add(segs.join(SEP));
      return;
    }
    for (const item of obj) {
      if (kind === 'set') out.add(segs.join(SEP) + SEP + `v:${JSON.stringify(item)}`);
      else if (isObject(item) && kind.key in item) {
        segs.push(`k:${JSON.stringify({ [kind.key]: item[kind.key] })}`);
        out.add(segs.join(SEP) + SEP + '.');
        walkLeaves(item, path, segs, out);
        segs.pop();
      } else out.add(segs.join(SEP));
    }
    return;
  }
  out.add(segs.join(SEP));
}

/** Leaf paths of `b` whose value differs from (or is missing in) `a`: the fields a write changed. */
export function changedLeaves(a: Json | undefined, b: Json, path: string[] = [], segs: PathSeg[] = [], out: Set<string> = new Set()): Set<string> {
  if (a === undefined) {
    walkLeaves(b, path, segs, out);
    return out;
  }
  if (isObject(b)) {
    const ao = isObject(a) ? a : undefined;
    let any = false;
    for (const k in b) {
      any = true;
      path.push(k);
      segs.push(`f:${k}`);
      changedLeaves(ao?.[k], b[k], path, segs, out);
      path.pop();
      segs.pop();
    }
    if (!any && segs.length && !(ao && Object.keys(ao).length === 0)) out.add(segs.join(SEP));
    return out;
  }
  if (Array.isArray(b)) {
    const kind = listKindFor(path);
    if (kind === 'atomic' || b.length === 0) {
      if (!deepEqual(a, b)) out.add(segs.join(SEP));
      return out;
    }
    const aa = Array.isArray(a) ? a : [];
    for (const item of b) {
      if (kind === 'set') {
        if (!aa.some((x) => deepEqual(x, item))) out.add(segs.join(SEP) + SEP + `v:${JSON.stringify(item)}`);
      } else if (isObject(item) && kind.key in item) {
        const old = aa.find((x) => isObject(x) && x[kind.key] === item[kind.key]);
        segs.push(`k:${JSON.stringify({ [kind.key]: item[kind.key] })}`);
        if (old === undefined) out.add(segs.join(SEP) + SEP + '.');
        changedLeaves(old, item, path, segs, out);
        segs.pop();
      } else if (!deepEqual(a, b)) out.add(segs.join(SEP));
    }
    return out;
  }
  if (a !== b) out.add(segs.join(SEP));
  return out;
}

/** Structural equality of JSON values (key order ignored). */
export function deepEqual(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (a === null || b === null || a === undefined || b === undefined || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  let n = 0;
  for (const k in a) {
    n++;
    if (!(k in b) || !deepEqual(a[k], b[k])) return false;
  }
  for (const _k in b) n--;
  return n === 0;
}

/** The value at a path, or undefined. */
export function valueAt(obj: Json | undefined, pathStr: string): Json | undefined {
  let cur: Json | undefined = obj;
  for (const seg of pathStr.split(SEP)) {
    if (cur === undefined || cur === null) return undefined;
    if (seg === '.') return cur;
    if (seg.startsWith('f:')) cur = isObject(cur) ? cur[seg.slice(2)] : undefined;
    else if (seg.startsWith('k:')) {
      const key = JSON.parse(seg.slice(2)) as JsonObject;
      const [kn, kv] = Object.entries(key)[0];
      cur = Array.isArray(cur) ? cur.find((x) => isObject(x) && x[kn] === kv) : undefined;
    } else if (seg.startsWith('v:')) {
      const v = seg.slice(2);
      cur = Array.isArray(cur) ? cur.find((x) => JSON.stringify(x) === v) : undefined;
    } else return undefined;
  }
  return cur;
}

/** Removes the field (or list item) at a path from `obj` in place. */
export function removeAt(obj: JsonObject, pathStr: string): void {
  const segs = pathStr.split(SEP);
  if (segs[segs.length - 1] === '.') segs.pop();
  let parent: Json | undefined = obj;
  for (let i = 0; i < segs.length - 1; i++) {
    parent = valueAt(parent, segs[i]);
    if (parent === undefined) return;
  }
  const last = segs[segs.length - 1];
  if (last.startsWith('f:') && isObject(parent)) delete parent[last.slice(2)];
  else if (Array.isArray(parent)) {
    const idx = parent.findIndex((x) => valueAt([x], last) !== undefined);
    if (idx >= 0) parent.splice(idx, 1);
  }
}

/** fieldsV1 tree (as stored in managedFields) from a set of paths. */
export function toFieldsV1(paths: Iterable<string>): JsonObject {
  const root: JsonObject = {};
  for (const p of paths) {
    if (!p) continue;
    let cur = root;
    for (const seg of p.split(SEP)) {
      let next = cur[seg];
      if (!isObject(next)) {
        next = {};
        cur[seg] = next;
      }
      cur = next;
    }
  }
  return root;
}

export function fromFieldsV1(tree: Json | undefined, prefix: string[] = [], out: Set<string> = new Set()): Set<string> {
  if (!isObject(tree)) return out;
  const keys = Object.keys(tree);
  if (keys.length === 0 && prefix.length) out.add(prefix.join(SEP));
  for (const k of keys) fromFieldsV1(tree[k], [...prefix, k], out);
  return out;
}

/** A path as a person reads it in a conflict message: `.spec.ports[port=80].targetPort`. */
export function describePath(pathStr: string): string {
  let s = '';
  for (const seg of pathStr.split(SEP)) {
    if (seg === '.') continue;
    if (seg.startsWith('f:')) s += `.${seg.slice(2)}`;
    else if (seg.startsWith('k:')) {
      const key = JSON.parse(seg.slice(2)) as JsonObject;
      s += `[${Object.entries(key).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}]`;
    } else if (seg.startsWith('v:')) s += `[${seg.slice(2)}]`;
  }
  return s;
}
