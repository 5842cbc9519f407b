// Unknown fields of built-in kinds, found against their OpenAPI schemas (openapi/builtin-schemas.json, the
// client-node models'). kube-apiserver decodes built-ins into typed structs: a field they lack is dropped,
// or refused when the client asks for fieldValidation=Strict, as kubectl does by default. Without this a
// typo in a manifest (`replica: 3`, `metadata.lables`) was stored and silently meant nothing.
import { builtin, SCHEMA_REF as REF } from './openapi/builtin.js';
import { isObject, type Json, type JsonObject } from './patch.js';

const { schemas, kinds } = builtin;
/** Enough to act on; a wholly wrong object does not make a message of thousands of paths. */
const MAX_REPORTED = 20;

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

function walk(schema: Json | undefined, value: Json, path: string, out: string[]): void {
  if (!isObject(schema) || out.length >= MAX_REPORTED) return;
  const s = resolve(schema);
  if (s['x-kubernetes-preserve-unknown-fields'] === true) return;
  if (Array.isArray(value)) {
    value.forEach((item, i) => walk(s['items'], item, `${path}[${i}]`, out));
    return;
  }
  if (!isObject(value)) return;
  const props = isObject(s['properties']) ? s['properties'] : undefined;
  const extra = s['additionalProperties'];
  // An object with neither (RawExtension, FieldsV1): any content.
  if (!props && !isObject(extra)) return;
  for (const [k, v] of Object.entries(value)) {
    const p = path ? `${path}.${k}` : k;
    if (props && Object.hasOwn(props, k)) walk(props[k], v, p, out);
    else if (isObject(extra)) walk(extra, v, p, out);
    else if (out.length < MAX_REPORTED) out.push(p);
  }
}

/** Paths (`spec.template.spec.containers[0].imagee`) of the fields the kind's schema lacks; [] for a kind
 * without a schema here. */
export function unknownBuiltinFields(group: string, version: string, kind: string, obj: object): string[] {
  const name = kinds[`${group}/${version}/${kind}`];
  const schema = name ? schemas[name] : undefined;
  if (!schema) return [];
  const out: string[] = [];
  walk(schema, obj as JsonObject, '', out);
  return out;
}
