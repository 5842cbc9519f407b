// CRDs and custom resources: CRD validation, and OpenAPI v3 schema pruning and validation (ajv) of CRs.
import { Ajv, type ValidateFunction, type ErrorObject } from 'ajv';
import { invalid, type StatusCause } from './errors.js';
import { clone, isObject, type Json, type JsonObject } from './patch.js';
import type { Obj } from './store.js';
import { dns1123Label, dns1123Subdomain, labelCauses } from './validation.js';


export interface CrdVersion {
  name: string;
  served: boolean;
  storage: boolean;
  schema?: JsonObject;
  status: boolean;
  /** additionalPrinterColumns (kubectl get columns). */
  columns: PrinterColumn[];
}

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  priority: number;
}

export interface CrdInfo {
  group: string;
  plural: string;
  singular: string;
  kind: string;
  listKind: string;
  shortNames: string[];
  categories: string[];
  namespaced: boolean;
  versions: CrdVersion[];
}

/** Validates a CRD object and returns what the registry needs; throws 422 with field causes. */
export function parseCrd(obj: Obj): CrdInfo {
  const causes: StatusCause[] = [];
  const spec = isObject(obj['spec'] as Json) ? (obj['spec'] as JsonObject) : {};
  const names = isObject(spec['names']) ? spec['names'] : {};
  const group = spec['group'];
  const plural = names['plural'];
  const kind = names['kind'];
  if (typeof group !== 'string' || !dns1123Subdomain.test(group) || !group.includes('.')) causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(group ?? '')}: should be a domain with at least one dot`, field: 'spec.group' });
  if (typeof plural !== 'string' || !dns1123Label.test(plural)) causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.names.plural' });
  if (typeof kind !== 'string' || !/^[A-Z][A-Za-z0-9]*$/.test(kind)) causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.names.kind' });
  const scope = spec['scope'];
  if (scope !== 'Namespaced' && scope !== 'Cluster') causes.push({ reason: 'FieldValueNotSupported', message: `Unsupported value: ${JSON.stringify(scope ?? '')}: supported values: "Cluster", "Namespaced"`, field: 'spec.scope' });
  if (typeof plural === 'string' && typeof group === 'string' && obj.metadata.name !== `${plural}.${group}`)
    causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "${obj.metadata.name}": must be spec.names.plural+"."+spec.group`, field: 'metadata.name' });
  const versions: CrdVersion[] = [];
  const vs = spec['versions'];
  if (!Array.isArray(vs) || vs.length === 0) causes.push({ reason: 'FieldValueRequired', message: 'Required value: must have exactly one version marked as storage version', field: 'spec.versions' });
  else {
    vs.forEach((v, i) => {
      if (!isObject(v) || typeof v['name'] !== 'string' || !dns1123Label.test(v['name'])) {
        causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: version name must be a DNS label', field: `spec.versions[${i}].name` });
        return;
      }
      const schemaWrap = v['schema'];
      const schema = isObject(schemaWrap) && isObject(schemaWrap['openAPIV3Schema']) ? schemaWrap['openAPIV3Schema'] : undefined;
      if (!schema) causes.push({ reason: 'FieldValueRequired', message: 'Required value: schemas are required', field: `spec.versions[${i}].schema.openAPIV3Schema` });
      else {
        try {
          compileSchema(schema);
        } catch (e) {
          causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: ${e instanceof Error ? e.message : String(e)}`, field: `spec.versions[${i}].schema.openAPIV3Schema` });
        }
      }
      const sub = v['subresources'];
      const cols = Array.isArray(v['additionalPrinterColumns']) ? v['additionalPrinterColumns'] : [];
      const columns: PrinterColumn[] = cols.filter(isObject).filter((c) => typeof c['name'] === 'string' && typeof c['jsonPath'] === 'string').map((c) => ({ name: c['name'] as string, type: typeof c['type'] === 'string' ? c['type'] : 'string', jsonPath: c['jsonPath'] as string, priority: typeof c['priority'] === 'number' ? c['priority'] : 0 }));
      versions.push({ name: v['name'], served: v['served'] !== false, storage: v['storage'] === true, ...(schema ? { schema } : {}), status: isObject(sub) && isObject(sub['status']), columns });
    });
    if (versions.filter((v) => v.storage).length !== 1) causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: must have exactly one version marked as storage version', field: 'spec.versions' });
  }
  if (causes.length) throw invalid('CustomResourceDefinition', 'apiextensions.k8s.io', obj.metadata.name, causes);
  const strArr = (x: Json | undefined): string[] => (Array.isArray(x) ? x.filter((s): s is string => typeof s === 'string') : []);
  return {
    group: group as string,
    plural: plural as string,
    singular: typeof names['singular'] === 'string' ? names['singular'] : (kind as string).toLowerCase(),
    kind: kind as string,
    listKind: typeof names['listKind'] === 'string' ? names['listKind'] : `${kind as string}List`,
    shortNames: strArr(names['shortNames']),
    categories: strArr(names['categories']),
    namespaced: scope === 'Namespaced',
    versions,
  };
}

const ajv = new Ajv({ strict: false, allErrors: true, useDefaults: true, validateFormats: false, coerceTypes: false });
const compiled = new WeakMap<object, ValidateFunction>();

/** The CR schema minus the metadata part (the server owns metadata validation). */
function compileSchema(schema: JsonObject): ValidateFunction {
  let fn = compiled.get(schema);
  if (fn) return fn;
  const s = structuredClone(schema);
  if (isObject(s['properties'])) {
    delete s['properties']['metadata'];
    delete s['properties']['apiVersion'];
    delete s['properties']['kind'];
  }
  fn = ajv.compile(s);
  compiled.set(schema, fn);
  return fn;
}

function fieldOf(e: ErrorObject): string {
  const base = e.instancePath.replace(/^\//, '').split('/').filter((x) => x !== '').join('.');
  if (e.keyword === 'required') {
    const missing = (e.params as { missingProperty: string }).missingProperty;
    return base ? `${base}.${missing}` : missing;
  }
  return base;
}

/** Removes fields the schema does not declare (as Kubernetes prunes), unless it preserves unknown fields. */
function prune(schema: Json | undefined, value: Json, path: string, pruned: string[]): void {
  if (!isObject(schema)) return;
  if (schema['x-kubernetes-preserve-unknown-fields'] === true) return;
  if (isObject(value)) {
    const props = isObject(schema['properties']) ? schema['properties'] : undefined;
    const addl = schema['additionalProperties'];
    for (const k of Object.keys(value)) {
      const p = path ? `${path}.${k}` : k;
      if (props && k in props) prune(props[k], value[k], p, pruned);
      else if (isObject(addl)) prune(addl, value[k], p, pruned);
      else if (addl !== true && (props || schema['type'] === 'object')) {
        delete value[k];
        pruned.push(p);
      }
    }
  } else if (Array.isArray(value) && isObject(schema['items'])) {
    value.forEach((item, i) => prune(schema['items'], item, `${path}[${i}]`, pruned));
  }
}

/**
 * Prunes and validates a custom resource against its version's schema; throws 422 with field causes.
 * `onPruned` gets the paths of the unknown fields it dropped before anything is validated, so that
 * fieldValidation=Strict refuses them first (400), as Kubernetes' decoding does before validation.
 */
export function admitCustom(kind: string, group: string, schema: JsonObject | undefined, obj: Obj, onPruned: (pruned: string[]) => void): void {
  const causes = labelCauses(obj.metadata);
  if (schema) {
    // Pruning and the schema's defaults change the body in place, and part of it may be the stored version's
    // (a spec update carries the stored status over): the body is a copy, written back below.
    const body: JsonObject = {};
    for (const [k, v] of Object.entries(obj)) if (k !== 'apiVersion' && k !== 'kind' && k !== 'metadata') body[k] = clone(v as Json);
    const props = isObject(schema['properties']) ? schema['properties'] : {};
    const pruned: string[] = [];
    prune({ ...schema, properties: { ...props, apiVersion: {}, kind: {}, metadata: {} } }, body, '', pruned);
    onPruned(pruned);
    const fn = compileSchema(schema);
    if (!fn(body)) {
      for (const e of fn.errors ?? []) {
        const field = fieldOf(e);
        if (e.keyword === 'required') causes.push({ reason: 'FieldValueRequired', message: 'Required value', field });
        else {
          const bad = JSON.stringify(e.instancePath.split('/').slice(1).reduce<Json | undefined>((cur, p) => (isObject(cur) ? cur[p] : Array.isArray(cur) ? cur[Number(p)] : undefined), body) ?? null);
          const reason = e.keyword === 'enum' ? 'FieldValueNotSupported' : 'FieldValueInvalid';
          causes.push({ reason, message: `Invalid value: ${bad}: ${field || '<root>'} in body ${e.message ?? 'is invalid'}`, field: field || '<root>' });
        }
      }
    }
    for (const k of Object.keys(obj)) if (k !== 'apiVersion' && k !== 'kind' && k !== 'metadata' && !(k in body)) delete obj[k];
    for (const [k, v] of Object.entries(body)) obj[k] = v;
  } else onPruned([]);
  if (causes.length) throw invalid(kind, group, obj.metadata.name, causes);
}
