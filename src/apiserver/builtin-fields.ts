// Unknown fields of built-in kinds, found against their OpenAPI schemas (openapi/builtin-schemas.json, the
// client-node models') and dropped. kube-apiserver decodes built-ins into typed structs: a field they lack
// is dropped (fieldValidation Warn, the default, and Ignore) or refused (Strict, as kubectl asks by default).
// Without this a typo in a manifest (`replica: 3`, `metadata.lables`) was stored and silently meant nothing.
import { builtin, SCHEMA_REF as REF } from './openapi/builtin.js';
import { isObject, type Json, type JsonObject } from './patch.js';

const { schemas, kinds } = builtin;
/** Enough to act on; a wholly wrong object does not make a message of thousands of paths. */
const MAX_REPORTED = 20;
const OBJECT_META = 'io.k8s.api.v1.ObjectMeta';

/** The schema a `$ref`, or a v3 `allOf: [{$ref}]` with siblings, stands for. */
function resolve(s: JsonObject): JsonObject {
  let cur = s;
  for (let hops = 0; hops < 16; hops++) {
    const ref = cur['$ref'];
    const all = cur['allOf'];
    const target = typeof ref === 'string' ? ref : Array.isArray(all) && all.length === 1 && isObject(all[0]) && typeof all[0]['$ref'] === 'string' ? all[0]['$ref'] : undefined;
    if (target === undefined || !target.startsWith(REF)) return cur;
    const next = schemas[target.slice(REF.length)];
    if (!next) return cur;
    cur = next;
  }
  return cur;
}

interface Walk {
  /** The keys and indexes down to the value being walked; a path is written only for a field dropped. */
  at: (string | number)[];
  found: string[];
}

function pathOf(at: (string | number)[], key: string): string {
  let p = '';
  for (const s of at) p += typeof s === 'number' ? `[${s}]` : p ? `.${s}` : s;
  return p ? `${p}.${key}` : key;
}

/** What the walk needs of a schema, read once per schema (the walk meets the same ones on every write). */
interface Shape {
  /** x-kubernetes-preserve-unknown-fields: any content. */
  preserve: boolean;
  /** An object of any content: preserve, or neither properties nor additionalProperties (RawExtension, int-or-string). */
  open: boolean;
  props: JsonObject | undefined;
  extra: JsonObject | undefined;
  items: Json | undefined;
}
const shapes = new WeakMap<JsonObject, Shape>();

function shapeOf(schema: JsonObject): Shape {
  let sh = shapes.get(schema);
  if (sh) return sh;
  const s = resolve(schema);
  const props = isObject(s['properties']) ? s['properties'] : undefined;
  const extra = isObject(s['additionalProperties']) ? s['additionalProperties'] : undefined;
  const preserve = s['x-kubernetes-preserve-unknown-fields'] === true;
  sh = { preserve, open: preserve || (!props && !extra), props, extra, items: s['items'] };
  shapes.set(schema, sh);
  return sh;
}

/**
 * `value` without the fields its schema lacks: `value` itself when it has none, else a copy along the
 * changed paths. It never modifies `value`: parts of a write are shared with the stored version (the
 * status a spec update carries over, the metadata lists of a status write), which must stay as stored.
 */
function prune(schema: Json | undefined, value: Json, w: Walk): Json {
  if (!isObject(schema) || value === null || typeof value !== 'object') return value;
  const sh = shapeOf(schema);
  if (Array.isArray(value)) {
    if (sh.preserve) return value;
    let out: Json[] | undefined;
    for (let i = 0; i < value.length; i++) {
      w.at.push(i);
      const item = value[i] as Json;
      const next = prune(sh.items, item, w);
      w.at.pop();
      if (next !== item) (out ??= value.slice())[i] = next;
    }
    return out ?? value;
  }
  if (sh.open) return value;
  const { props, extra } = sh;
  let out: JsonObject | undefined;
  for (const k of Object.keys(value)) {
    const sub = props && Object.hasOwn(props, k) ? props[k] : extra;
    if (sub === undefined) {
      if (w.found.length < MAX_REPORTED) w.found.push(pathOf(w.at, k));
      delete (out ??= { ...value })[k];
      continue;
    }
    const v = value[k] as Json;
    w.at.push(k);
    const next = prune(sub, v, w);
    w.at.pop();
    if (next !== v) (out ??= { ...value })[k] = next;
  }
  return out ?? value;
}

/**
 * Makes `target` equal to `next`, in place: the write's object and its metadata are its own, and callers
 * hold references to both. Below them the copies stand in (other parts may be the stored version's).
 */
function settle(target: JsonObject, next: JsonObject, inPlace?: string): void {
  for (const k of Object.keys(target)) {
    const t = target[k];
    const n = next[k];
    if (!Object.hasOwn(next, k)) delete target[k];
    else if (n !== t) {
      if (k === inPlace && isObject(t) && isObject(n)) settle(t, n);
      else target[k] = n as Json;
    }
  }
}

function pruneWith(schema: JsonObject, obj: JsonObject, at: string[]): string[] {
  const w: Walk = { at, found: [] };
  const next = prune(schema, obj, w);
  if (next !== obj && isObject(next)) settle(obj, next, 'metadata');
  return w.found;
}

/**
 * Drops from `obj` (in place; the write's own object) the fields the kind's schema lacks, in one walk, and
 * returns their paths (`spec.template.spec.containers[0].imagee`, at most MAX_REPORTED) for Strict's error
 * and Warn's headers. Maps (additionalProperties), x-kubernetes-preserve-unknown-fields, int-or-string and
 * raw objects (no properties) are left as they are. [] for a kind without a schema here.
 */
export function pruneBuiltinFields(group: string, version: string, kind: string, obj: object): string[] {
  const name = kinds[`${group}/${version}/${kind}`];
  const schema = name ? schemas[name] : undefined;
  return schema ? pruneWith(schema, obj as JsonObject, []) : [];
}

/**
 * The same for the metadata of a custom resource (its schema does not describe it): Kubernetes decodes
 * it into ObjectMeta, dropping and, under Strict or Warn, naming what ObjectMeta lacks.
 */
export function pruneObjectMeta(obj: { metadata: object }): string[] {
  const schema = schemas[OBJECT_META];
  return schema ? pruneWith(schema, obj.metadata as JsonObject, ['metadata']) : [];
}
