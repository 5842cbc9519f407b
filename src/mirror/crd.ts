// The Link CRD, generated: its spec's openAPIV3Schema is the zod schema of src/api (linkSpecSchema) turned
// into the structural subset Kubernetes accepts. `node scripts/gen-link-crd.mjs` writes
// manifests/crds/link.yaml from linkCrdYaml(); test/mirror/crd.test.ts fails when the file differs.
import { stringify } from 'yaml';
import { z } from 'zod';
import { LINK_GROUP, LINK_KIND, LINK_PLURAL, LINK_VERSION, PART_OF, PART_OF_LABEL, linkSpecSchema } from '../api/index.js';

export interface StructuralSchema {
  type?: string;
  description?: string;
  format?: string;
  properties?: Record<string, StructuralSchema>;
  required?: string[];
  items?: StructuralSchema;
  additionalProperties?: StructuralSchema;
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
}

export class CrdSchemaError extends Error {
  readonly name = 'CrdSchemaError';
  readonly code = 'CRD_SCHEMA';
}

/** Keywords carried over as they are. */
const KEPT = ['type', 'description', 'required', 'enum', 'minimum', 'maximum', 'minLength', 'maxLength', 'minItems', 'maxItems', 'pattern'] as const;
/**
 * Keywords dropped on purpose: `$schema`; `format` (zod's `starts_with` is no OpenAPI format, its pattern
 * says the same); `propertyNames` (map keys are strings anyway); `additionalProperties: false` (structural
 * schemas may not say it: the API server prunes unknown fields instead).
 */
const DROPPED = ['$schema', 'format', 'propertyNames'];

/** Fields the zod schema does not describe, for `kubectl explain`. */
const DESCRIPTIONS: Record<string, string> = {
  clusterCredentialsSecret: 'Secret in mesh-system whose `kubeconfig` key reaches the target cluster.',
  'gateway.allowedIdentities':
    "Callers from the target cluster that this cluster's gateway admits over this Link (exact SPIFFE ids, spiffe://<td>/ns/<ns>/* prefixes, cluster:<name>, or a trust domain).",
};

/**
 * A JSON Schema from z.toJSONSchema as a Kubernetes structural schema. Only scalar defaults are kept: an
 * object default would have the API server write the whole object into every Link (zod fills it when
 * the Link is read). Anything that cannot be expressed (unions, refs, constants) is an error, so that a
 * change to the zod schema that the CRD cannot follow is noticed here.
 */
export function toStructural(js: Record<string, unknown>, path = 'spec'): StructuralSchema {
  const out: StructuralSchema = {};
  for (const [k, v] of Object.entries(js)) {
    if (DROPPED.includes(k)) continue;
    if (k === 'type' && typeof v !== 'string') throw new CrdSchemaError(`${path}: a value of several types (${JSON.stringify(v)}) has no structural-schema form`);
    if ((KEPT as readonly string[]).includes(k)) (out as Record<string, unknown>)[k] = v;
    else if (k === 'default') {
      if (v === null || typeof v !== 'object') out.default = v;
    } else if (k === 'properties') {
      out.properties = Object.fromEntries(Object.entries(v as Record<string, Record<string, unknown>>).map(([p, s]) => [p, toStructural(s, `${path}.${p}`)]));
    } else if (k === 'items') {
      out.items = toStructural(v as Record<string, unknown>, `${path}[]`);
    } else if (k === 'additionalProperties') {
      if (typeof v === 'object' && v !== null) out.additionalProperties = toStructural(v as Record<string, unknown>, `${path}{}`);
    } else {
      throw new CrdSchemaError(`${path}: JSON Schema keyword ${k} has no structural-schema form; change the zod schema or teach toStructural`);
    }
  }
  return out;
}

function describe(s: StructuralSchema, path: string[] = []): StructuralSchema {
  const d = DESCRIPTIONS[path.join('.')];
  const props = s.properties && Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k, describe(v, [...path, k])]));
  return { ...(d ? { description: d } : {}), ...s, ...(props ? { properties: props } : {}) };
}

/** The Link spec's openAPIV3Schema, from linkSpecSchema. */
export function linkSpecOpenApi(): StructuralSchema {
  return describe(toStructural(z.toJSONSchema(linkSpecSchema, { io: 'input' }) as Record<string, unknown>));
}

const str: StructuralSchema = { type: 'string' };
const int: StructuralSchema = { type: 'integer' };

/** What the mirror writes (LinkStatus in src/api); test/mirror/crd.test.ts checks nothing it writes is pruned. */
export const LINK_STATUS_SCHEMA: StructuralSchema = {
  type: 'object',
  properties: {
    observedGeneration: int,
    conditions: {
      type: 'array',
      items: {
        type: 'object',
        required: ['type', 'status'],
        properties: {
          type: str,
          status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
          reason: str,
          message: str,
          lastTransitionTime: { type: 'string', format: 'date-time' },
          observedGeneration: int,
        },
      },
    },
    mirroredServices: {
      type: 'object',
      properties: {
        count: int,
        services: { type: 'array', items: { type: 'object', properties: { namespace: str, name: str, shadow: str, mode: str, problem: str } } },
      },
    },
    lastProbe: {
      type: 'object',
      properties: { time: { type: 'string', format: 'date-time' }, latencyMs: { type: 'number' }, success: { type: 'boolean' }, message: str },
    },
  },
};

export function linkCrd(): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${LINK_PLURAL}.${LINK_GROUP}`, labels: { [PART_OF_LABEL]: PART_OF } },
    spec: {
      group: LINK_GROUP,
      scope: 'Namespaced',
      names: { kind: LINK_KIND, listKind: `${LINK_KIND}List`, plural: LINK_PLURAL, singular: LINK_KIND.toLowerCase() },
      versions: [
        {
          name: LINK_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Target', type: 'string', jsonPath: '.spec.targetClusterName' },
            { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
            { name: 'Services', type: 'integer', jsonPath: '.status.mirroredServices.count' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          // A Link without a spec links nothing: refused at the API instead of stored and then misreported.
          schema: { openAPIV3Schema: { type: 'object', required: ['spec'], properties: { spec: linkSpecOpenApi(), status: LINK_STATUS_SCHEMA } } },
        },
      ],
    },
  };
}

export function linkCrdYaml(): string {
  const header = [
    '# The Link resource: one per remote cluster this cluster mirrors from (created by `mesh link`).',
    '# GENERATED from the zod schema in src/api/link.ts by src/mirror/crd.ts: do not edit; run',
    '# `npm run build && node scripts/gen-link-crd.mjs` (test/mirror/crd.test.ts fails while this file differs).',
  ];
  return `${header.join('\n')}\n${stringify(linkCrd(), { lineWidth: 0 })}`;
}
