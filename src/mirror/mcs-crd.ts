// The MCS CRDs (ServiceExport, ServiceImport: multicluster.x-k8s.io v1beta1 storage + v1alpha1 served,
// conversion None) and ClusterProperty (about.k8s.io), generated from the zod schemas of src/api/mcs.ts like
// the Link CRD. `node scripts/gen-link-crd.mjs` writes manifests/crds/; test/mirror/crd.test.ts fails when
// a file differs.
import { stringify } from 'yaml';
import { z } from 'zod';
import {
  ABOUT_GROUP,
  ABOUT_VERSION,
  CLUSTER_PROPERTY_KIND,
  CLUSTER_PROPERTY_PLURAL,
  MCS_GROUP,
  MCS_SERVED_VERSIONS,
  MCS_STORAGE_VERSION,
  PART_OF,
  PART_OF_LABEL,
  SERVICE_EXPORT_KIND,
  SERVICE_EXPORT_PLURAL,
  SERVICE_EXPORT_SHORT_NAMES,
  SERVICE_IMPORT_KIND,
  SERVICE_IMPORT_PLURAL,
  SERVICE_IMPORT_SHORT_NAMES,
  clusterPropertySpecSchema,
  serviceExportSpecSchema,
  serviceImportSpecSchema,
  serviceImportStatusSchema,
} from '../api/index.js';
import { LINK_STATUS_SCHEMA, toStructural, type StructuralSchema } from './crd.js';

const open = (schema: z.ZodType, path: string): StructuralSchema => toStructural(z.toJSONSchema(schema, { io: 'input' }) as Record<string, unknown>, path);

/** metav1.Condition, as on the Link. */
const CONDITIONS: StructuralSchema = LINK_STATUS_SCHEMA.properties?.conditions ?? { type: 'array' };

interface CrdParts {
  plural: string;
  kind: string;
  group: string;
  shortNames: readonly string[];
  scope: 'Namespaced' | 'Cluster';
  versions: readonly string[];
  storage: string;
  schema: StructuralSchema;
  status: boolean;
  columns: Array<{ name: string; type: string; jsonPath: string; priority?: number }>;
}

function crd(p: CrdParts): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${p.plural}.${p.group}`, labels: { [PART_OF_LABEL]: PART_OF } },
    spec: {
      group: p.group,
      scope: p.scope,
      names: { kind: p.kind, listKind: `${p.kind}List`, plural: p.plural, singular: p.kind.toLowerCase(), ...(p.shortNames.length ? { shortNames: [...p.shortNames] } : {}) },
      versions: p.versions.map((name) => ({
        name,
        served: true,
        storage: name === p.storage,
        ...(p.status ? { subresources: { status: {} } } : {}),
        // Copies per version: YAML would otherwise print anchors and aliases.
        additionalPrinterColumns: structuredClone([...p.columns, { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' }]),
        schema: { openAPIV3Schema: structuredClone(p.schema) },
      })),
    },
  };
}

const cond = (t: string) => `.status.conditions[?(@.type=="${t}")].status`;

export function serviceExportCrd(): Record<string, unknown> {
  return crd({
    plural: SERVICE_EXPORT_PLURAL,
    kind: SERVICE_EXPORT_KIND,
    group: MCS_GROUP,
    shortNames: SERVICE_EXPORT_SHORT_NAMES,
    scope: 'Namespaced',
    versions: MCS_SERVED_VERSIONS,
    storage: MCS_STORAGE_VERSION,
    status: true,
    columns: [
      { name: 'Valid', type: 'string', jsonPath: cond('Valid') },
      { name: 'Ready', type: 'string', jsonPath: cond('Ready') },
      { name: 'Conflict', type: 'string', jsonPath: cond('Conflict') },
    ],
    schema: {
      type: 'object',
      description: 'ServiceExport declares that the Service with the same name and namespace as this export should be consumable from other clusters.',
      properties: { spec: open(serviceExportSpecSchema, 'spec'), status: { type: 'object', properties: { conditions: CONDITIONS } } },
    },
  });
}

export function serviceImportCrd(): Record<string, unknown> {
  return crd({
    plural: SERVICE_IMPORT_PLURAL,
    kind: SERVICE_IMPORT_KIND,
    group: MCS_GROUP,
    shortNames: SERVICE_IMPORT_SHORT_NAMES,
    scope: 'Namespaced',
    versions: MCS_SERVED_VERSIONS,
    storage: MCS_STORAGE_VERSION,
    status: true,
    columns: [
      { name: 'Type', type: 'string', jsonPath: '.spec.type' },
      { name: 'IP', type: 'string', jsonPath: '.spec.ips' },
    ],
    schema: {
      type: 'object',
      description: 'ServiceImport describes a service imported from clusters in a ClusterSet.',
      properties: { spec: open(serviceImportSpecSchema, 'spec'), status: open(serviceImportStatusSchema, 'status') },
    },
  });
}

export function clusterPropertyCrd(): Record<string, unknown> {
  return crd({
    plural: CLUSTER_PROPERTY_PLURAL,
    kind: CLUSTER_PROPERTY_KIND,
    group: ABOUT_GROUP,
    shortNames: [],
    scope: 'Cluster',
    versions: [ABOUT_VERSION],
    storage: ABOUT_VERSION,
    status: false,
    columns: [{ name: 'Value', type: 'string', jsonPath: '.spec.value' }],
    schema: {
      type: 'object',
      required: ['spec'],
      description: 'ClusterProperty is a property about a cluster (KEP-2149): cluster.clusterset.k8s.io is its id, clusterset.k8s.io its clusterset.',
      properties: { spec: { ...open(clusterPropertySpecSchema, 'spec'), required: ['value'] } },
    },
  });
}

/** File name (under manifests/crds/) → YAML. */
export function mcsCrdFiles(): Record<string, string> {
  const header = (what: string) =>
    [`# ${what}`, '# GENERATED from the zod schemas in src/api/mcs.ts by src/mirror/mcs-crd.ts: do not edit; run', '# `npm run build && node scripts/gen-link-crd.mjs` (test/mirror/crd.test.ts fails while this file differs).'].join('\n');
  const y = (o: Record<string, unknown>) => stringify(o, { lineWidth: 0 });
  return {
    'serviceexport.yaml': `${header('ServiceExport (KEP-1645): export the Service of the same name to the clusterset.')}\n${y(serviceExportCrd())}`,
    'serviceimport.yaml': `${header('ServiceImport (KEP-1645): written by the mirror in every cluster of the clusterset.')}\n${y(serviceImportCrd())}`,
    'clusterproperty.yaml': `${header('ClusterProperty (KEP-2149): the cluster id and clusterset id, written by `mesh install`.')}\n${y(clusterPropertyCrd())}`,
  };
}
