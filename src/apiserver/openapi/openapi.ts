// /openapi/v3 (a document per group/version) and /openapi/v2 (one Swagger 2.0 document), for `kubectl
// explain` and other clients: the built-in kinds' schemas (generated from @kubernetes/client-node's
// models by scripts/gen-openapi.mjs: builtin-schemas.json), and every CRD's openAPIV3Schema. Each
// group/version's document also declares a PATCH operation per kind with the `fieldValidation`
// parameter: kubectl reads it to know the server validates fields itself.
import { isObject, type Json, type JsonObject } from '../patch.js';
import type { Registry, ResourceDef } from '../resources.js';
import type { CrdInfo } from '../crd.js';
import { connectKinds, versionInfo } from '../discovery.js';
import { encodeOpenApiV2 } from './v2-protobuf.js';
import { builtin, SCHEMA_REF as REF } from './builtin.js';



/** Names of every schema `roots` reference, transitively. */
function closure(all: Record<string, JsonObject>, roots: string[]): Set<string> {
  const out = new Set<string>();
  const walk = (v: Json | undefined): void => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (!isObject(v)) return;
    const ref = v['$ref'];
    if (typeof ref === 'string' && ref.startsWith(REF)) add(ref.slice(REF.length));
    for (const x of Object.values(v)) walk(x);
  };
  const add = (name: string): void => {
    if (out.has(name) || !all[name]) return;
    out.add(name);
    walk(all[name]);
  };
  roots.forEach(add);
  return out;
}

/** A CRD version's schema as a component: the user's openAPIV3Schema with metadata as ObjectMeta. */
function crdSchema(info: CrdInfo, version: string): JsonObject | undefined {
  const v = info.versions.find((x) => x.name === version);
  if (!v?.schema) return undefined;
  const props = isObject(v.schema['properties']) ? v.schema['properties'] : {};
  return {
    ...v.schema,
    properties: {
      ...props,
      apiVersion: { type: 'string', description: 'APIVersion defines the versioned schema of this representation of an object.' },
      kind: { type: 'string', description: 'Kind is a string value representing the REST resource this object represents.' },
      metadata: { allOf: [{ $ref: `${REF}io.k8s.api.v1.ObjectMeta` }], description: "Standard object's metadata." },
    },
    'x-kubernetes-group-version-kind': [{ group: info.group, version, kind: info.kind }],
  };
}

const crdSchemaName = (info: CrdInfo, version: string): string => `${info.group.split('.').reverse().join('.')}.${version}.${info.kind}`;

function patchPath(d: ResourceDef, gvPath: string, version: string): [string, JsonObject] {
  const path = `/${gvPath}${d.namespaced ? '/namespaces/{namespace}' : ''}/${d.resource}/{name}`;
  return [
    path,
    {
      patch: {
        operationId: `patch${d.kind}`,
        'x-kubernetes-action': 'patch',
        'x-kubernetes-group-version-kind': { group: d.group, version, kind: d.kind },
        parameters: [
          { name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } },
          { name: 'fieldManager', in: 'query', schema: { type: 'string', uniqueItems: true } },
          { name: 'dryRun', in: 'query', schema: { type: 'string', uniqueItems: true } },
          { name: 'force', in: 'query', schema: { type: 'boolean', uniqueItems: true } },
        ],
        responses: { '200': { description: 'OK' } },
      },
    },
  ];
}

/** Query parameters of the connect subresources (kube-apiserver's PodExecOptions, PodAttachOptions…). */
const connectParams: Record<string, string[]> = {
  exec: ['command', 'container', 'stderr', 'stdin', 'stdout', 'tty'],
  attach: ['container', 'stderr', 'stdin', 'stdout', 'tty'],
  portforward: ['ports'],
};

/** GET/POST `…/pods/{name}/<sub>` for the connection subresources (exec, attach, portforward), as kube-apiserver lists them. */
function connectPaths(d: ResourceDef, gvPath: string, version: string): Array<[string, JsonObject]> {
  return d.subresources.flatMap((sub): Array<[string, JsonObject]> => {
    const params = connectParams[sub];
    const kind = connectKinds[sub];
    if (!params || !kind) return [];
    const scope = d.namespaced ? 'Namespaced' : '';
    const op = (method: string): JsonObject => ({
      operationId: `connect${method}${scope}${d.kind}${sub.charAt(0).toUpperCase()}${sub.slice(1)}`,
      'x-kubernetes-action': 'connect',
      'x-kubernetes-group-version-kind': { group: d.group, version, kind },
      parameters: params.map((name) => ({ name, in: 'query', schema: { type: name === 'command' || name === 'container' ? 'string' : name === 'ports' ? 'integer' : 'boolean', uniqueItems: true } })),
      responses: { '101': { description: 'Switching Protocols' } },
    });
    return [[`/${gvPath}${d.namespaced ? '/namespaces/{namespace}' : ''}/${d.resource}/{name}/${sub}`, { get: op('Get'), post: op('Post') }]];
  });
}

export interface OpenApi {
  /** /openapi/v3: the group/version documents and their URLs. */
  root(): string;
  /** /openapi/v3/<api/v1 | apis/g/v>, or undefined when not served. */
  gv(path: string): string | undefined;
  /** /openapi/v2 as JSON. */
  v2(): string;
  /** /openapi/v2 as gnostic protobuf (what kubectl up to 1.28 asks for). */
  v2Protobuf(): Buffer;
}

/**
 * A v3 schema as Swagger 2.0 writes it: a reference with siblings (a description) is `allOf: [{$ref}]` in v3
 * and a plain `$ref` in v2. kubectl's v2 model (kube-openapi's proto package) reads no allOf: such a field
 * would be an arbitrary value, and a strategic merge through it finds no schema below.
 */
function v2Schema(v: Json): Json {
  if (Array.isArray(v)) return v.map(v2Schema);
  if (!isObject(v)) return v;
  const out: JsonObject = {};
  for (const [k, x] of Object.entries(v)) out[k] = v2Schema(x);
  const all = out['allOf'];
  if (Array.isArray(all) && all.length === 1 && isObject(all[0]) && typeof all[0]['$ref'] === 'string' && out['$ref'] === undefined) {
    delete out['allOf'];
    out['$ref'] = all[0]['$ref'];
  }
  return out;
}

/** A v3 PATCH path's parameters in Swagger 2.0's shape (type on the parameter, no schema). */
function v2Paths(paths: Array<[string, JsonObject]>): Record<string, JsonObject> {
  const out: Record<string, JsonObject> = {};
  for (const [path, item] of paths) {
    const patch = item['patch'];
    if (!isObject(patch)) continue;
    const params = Array.isArray(patch['parameters']) ? patch['parameters'].filter(isObject) : [];
    const v2Params = params.map((p): JsonObject => {
      const sch = isObject(p['schema']) ? p['schema'] : {};
      return { name: p['name'] ?? '', in: p['in'] ?? 'query', type: sch['type'] ?? 'string', uniqueItems: sch['uniqueItems'] ?? false };
    });
    // No `consumes`: kubectl then computes strategic merge patches from its compiled-in types, whose patch
    // metadata (merge keys, strategies) the generated schemas here do not carry.
    out[path] = { patch: { ...patch, parameters: v2Params } };
  }
  return out;
}

export function createOpenApi(registry: Registry, crds: () => CrdInfo[]): OpenApi {
  /** The v2 document (both encodings) for one registry version: kubectl fetches it on every apply. */
  let v2Cache: { version: number; json: string; protobuf?: Buffer } | undefined;
  const byGv = (): Map<string, ResourceDef[]> => {
    const m = new Map<string, ResourceDef[]>();
    for (const d of registry.all()) {
      if (d.virtual) continue;
      for (const v of d.versions) {
        const k = d.group ? `apis/${d.group}/${v}` : `api/${v}`;
        m.set(k, [...(m.get(k) ?? []), d]);
      }
    }
    return m;
  };
  /** The schemas of the kinds in `defs` (at `version`), with what they reference. */
  const schemasFor = (defs: ResourceDef[], version: string): Record<string, JsonObject> => {
    const b = builtin;
    const out: Record<string, JsonObject> = {};
    const roots: string[] = [];
    const infos = crds();
    for (const d of defs) {
      const name = b.kinds[`${d.group}/${version}/${d.kind}`];
      if (name) roots.push(name);
      const info = d.custom ? infos.find((i) => i.group === d.group && i.plural === d.resource) : undefined;
      const s = info ? crdSchema(info, version) : undefined;
      if (info && s) {
        out[crdSchemaName(info, version)] = s;
        roots.push('io.k8s.api.v1.ObjectMeta');
      }
    }
    for (const n of closure(b.schemas, roots)) out[n] = b.schemas[n] as JsonObject;
    return out;
  };
  return {
    root() {
      const paths: Record<string, { serverRelativeURL: string }> = {};
      for (const gvPath of byGv().keys()) paths[gvPath] = { serverRelativeURL: `/openapi/v3/${gvPath}?hash=${registry.version}` };
      return JSON.stringify({ paths });
    },
    gv(path) {
      const defs = byGv().get(path);
      if (!defs) return undefined;
      const version = path.split('/').pop() as string;
      const paths = Object.fromEntries(defs.flatMap((d) => [patchPath(d, path, version), ...connectPaths(d, path, version)]));
      return JSON.stringify({ openapi: '3.0.0', info: { title: 'Kubernetes', version: versionInfo.gitVersion }, paths, components: { schemas: schemasFor(defs, version) } });
    },
    v2,
    v2Protobuf() {
      const at = registry.version;
      if (v2Cache?.version === at && v2Cache.protobuf) return v2Cache.protobuf;
      const json = v2();
      const protobuf = encodeOpenApiV2(JSON.parse(json) as JsonObject);
      v2Cache = { version: at, json, protobuf };
      return protobuf;
    },
  };
  /** One Swagger 2.0 document: every kind's definition, and the PATCH paths that say the server validates fields. */
  function v2(): string {
    const at = registry.version;
    if (v2Cache?.version === at) return v2Cache.json;
    const definitions: Record<string, JsonObject> = {};
    const paths: Array<[string, JsonObject]> = [];
    for (const [gvPath, defs] of byGv()) {
      const version = gvPath.split('/').pop() as string;
      Object.assign(definitions, schemasFor(defs, version));
      paths.push(...defs.map((d) => patchPath(d, gvPath, version)));
    }
    const text = JSON.stringify({ swagger: '2.0', info: { title: 'Kubernetes', version: versionInfo.gitVersion }, paths: v2Paths(paths), definitions: v2Schema(definitions) });
    // Swagger 2.0 keeps definitions under #/definitions and has no int-or-string extension of v3.
    const json = text.replaceAll(`"${REF}`, '"#/definitions/').replaceAll('"x-kubernetes-int-or-string":true', '"type":"string","format":"int-or-string"');
    v2Cache = { version: at, json };
    return json;
  }
}

