// The Multi-Cluster Services API (KEP-1645, multicluster.x-k8s.io) and cluster ids (KEP-2149, about.k8s.io)
// as the mesh reads and writes them: the one schema of ServiceExport, ServiceImport and ClusterProperty, read
// by the mirror (export/import reconcilers), the CLI (`mesh export`, `mesh imports`), the DNS server and the
// CRDs (src/mirror/mcs-crd.ts generates manifests/crds/ from these). Upstream shapes exactly: a v1beta1 and a
// v1alpha1 object have the same fields (conversion None).
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { portSchema } from './link.js';
import { CLUSTERSET_DOMAIN, MANAGED_BY_LABEL, MCS_GROUP, MCS_STORAGE_VERSION } from './names.js';

export const MCS_API_VERSION = `${MCS_GROUP}/${MCS_STORAGE_VERSION}`;
export const SERVICE_EXPORT_KIND = 'ServiceExport';
export const SERVICE_IMPORT_KIND = 'ServiceImport';
export const CLUSTER_PROPERTY_KIND = 'ClusterProperty';
export const ABOUT_VERSION = 'v1alpha1';
/** The short names of upstream's CRDs (kubectl get svcex / svcim). */
export const SERVICE_EXPORT_SHORT_NAMES = ['svcex'] as const;
export const SERVICE_IMPORT_SHORT_NAMES = ['svcim'] as const;

// --- ServiceExport --------------------------------------------------------------------------------------
const labelMap = z.record(z.string().max(317), z.string().max(63));
const annotationMap = z.record(z.string().max(317), z.string().max(262_144));

export const serviceExportSpecSchema = z.object({
  /** Labels the import carries on its ServiceImport (KEP: exported labels; a conflict if exporters differ). */
  exportedLabels: labelMap.optional(),
  exportedAnnotations: annotationMap.optional(),
});
export type ServiceExportSpec = z.infer<typeof serviceExportSpecSchema>;

/** ServiceExport condition types (upstream's, plus what the KEP's conflict rule needs). */
export const SERVICE_EXPORT_CONDITIONS = ['Valid', 'Ready', 'Conflict', 'TrafficPolicy'] as const;
export type ServiceExportConditionType = (typeof SERVICE_EXPORT_CONDITIONS)[number];

/** Reasons of `Valid`. */
export const EXPORT_VALID_REASONS = { valid: 'Valid', noService: 'NoService', invalidType: 'InvalidServiceType' } as const;
/** Reasons of `Ready`. */
export const EXPORT_READY_REASONS = {
  ready: 'Ready',
  pending: 'Pending',
  notImported: 'NotImported',
  invalid: 'Invalid',
  unreachable: 'RemoteUnreachable',
} as const;
/** Reasons of `Conflict` (joined with commas when several hold), in this order. */
export const EXPORT_CONFLICT_REASONS = [
  'PortConflict',
  'TypeConflict',
  'SessionAffinityConflict',
  'SessionAffinityConfigConflict',
  'InternalTrafficPolicyConflict',
  'TrafficDistributionConflict',
  'IPFamilyConflict',
  'LabelsConflict',
  'AnnotationsConflict',
  'TrafficPolicyConflict',
] as const;
export type ExportConflictReason = (typeof EXPORT_CONFLICT_REASONS)[number];
export const NO_CONFLICTS_REASON = 'NoConflicts';

// --- ServiceImport --------------------------------------------------------------------------------------
export const MCS_PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;
export type McsProtocol = (typeof MCS_PROTOCOLS)[number];
export const IP_FAMILIES = ['IPv4', 'IPv6'] as const;
export type IpFamily = (typeof IP_FAMILIES)[number];
export const SERVICE_IMPORT_TYPES = ['ClusterSetIP', 'Headless'] as const;
export type ServiceImportType = (typeof SERVICE_IMPORT_TYPES)[number];

export const importPortSchema = z.object({
  name: z.string().max(63).optional(),
  protocol: z.enum(MCS_PROTOCOLS).optional(),
  appProtocol: z.string().max(253).optional(),
  port: portSchema,
});
export type ImportPort = z.infer<typeof importPortSchema>;

export const sessionAffinityConfigSchema = z.object({
  clientIP: z.object({ timeoutSeconds: z.number().int().min(1).max(86_400).optional() }).optional(),
});
export type SessionAffinityConfig = z.infer<typeof sessionAffinityConfigSchema>;

export const serviceImportSpecSchema = z.object({
  ports: z.array(importPortSchema).max(1024).optional(),
  /** One clusterset VIP per IP family (none for Headless). */
  ips: z.array(z.string().max(45)).max(2).optional(),
  type: z.enum(SERVICE_IMPORT_TYPES),
  sessionAffinity: z.enum(['ClientIP', 'None']).optional(),
  sessionAffinityConfig: sessionAffinityConfigSchema.optional(),
  ipFamilies: z.array(z.enum(IP_FAMILIES)).max(2).optional(),
  internalTrafficPolicy: z.enum(['Cluster', 'Local']).optional(),
  trafficDistribution: z.string().max(63).optional(),
});
export type ServiceImportSpec = z.infer<typeof serviceImportSpecSchema>;

/**
 * One exporting cluster in the import's status. `cluster` is upstream's; the rest is the mesh's (issue 14):
 * what the traffic policy made of the cluster, computed from what is observed. `eligibleSince` (when the
 * cluster last became able to serve: healthy, at least min-ready ready endpoints) is the hold-down's clock.
 */
export const importClusterStatusSchema = z.object({
  cluster: z.string().max(253),
  readyEndpoints: z.number().int().min(0).max(1_000_000).optional(),
  serving: z.boolean().optional(),
  /** A SERVING_REASONS value (src/api/traffic-policy.ts). */
  reason: z.string().max(63).optional(),
  message: z.string().max(1024).optional(),
  /** False while the cluster's API server cannot be watched: its last known endpoints are served. */
  apiReachable: z.boolean().optional(),
  eligibleSince: z.string().max(64).optional(),
  /** When `serving` last changed. */
  lastTransitionTime: z.string().max(64).optional(),
});
export type ImportClusterStatus = z.infer<typeof importClusterStatusSchema>;

export const serviceImportStatusSchema = z.object({
  clusters: z.array(importClusterStatusSchema).optional(),
  /** The merged traffic policy in effect (the oldest export's), as `describePolicy` prints it. */
  trafficPolicy: z.string().max(4400).optional(),
});
export type ServiceImportStatus = z.infer<typeof serviceImportStatusSchema>;

// --- ClusterProperty (KEP-2149) --------------------------------------------------------------------------
export const clusterPropertySpecSchema = z.object({ value: z.string().min(1).max(128_000) });
export type ClusterPropertySpec = z.infer<typeof clusterPropertySpecSchema>;

/** A cluster id as the source-cluster label carries it: a label value (KEP-2149 asks for an RFC 1123 DNS label). */
export const clusterIdSchema = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS label (lowercase letters, digits, -)').max(63);

// --- what the mirror writes for an import -----------------------------------------------------------------
// Import EndpointSlices carry MCS_SERVICE_NAME_LABEL (the import), MCS_SOURCE_CLUSTER_LABEL (the cluster id
// whose endpoints they hold), `kubernetes.io/service-name` = the derived Service and
// `endpointslice.kubernetes.io/managed-by: mirror.mesh.io` (SLICE_MANAGED_BY, like the shadows' slices).
/** On ServiceImports the mirror writes (a ServiceImport without it is someone else's: reported, never touched). */
export const MCS_MANAGED_BY_LABEL = MANAGED_BY_LABEL;
export const MCS_MANAGED_BY = 'mesh-mirror';

/**
 * The derived Service backing an import's VIP (the reference implementation's "derived Service"): `mcs`
 * followed by 12 hex digits of a hash of the import's name. Every name the mirror gives a shadow
 * (`<svc>-<cluster>`) or a per-pod Service (`<hostname>-<shadow>`), truncated or not, contains a '-'; this
 * one never does, so the two schemes cannot collide. A user's Service holding the name is reported.
 * It carries MIRRORED_LABEL and MCS_SERVICE_NAME_LABEL, and (gateway mode) the port map whose entries name
 * their `cluster`: the gateway's outbound routes.
 */
export function derivedServiceName(importName: string): string {
  return `mcs${createHash('sha256').update(importName).digest('hex').slice(0, 12)}`;
}

/**
 * A Headless import's per-pod Service for one remote pod reached through the gateways (`<hostname>` of an
 * endpoint of `cluster`): `mcs<12 hex of the import name>-<8 hex of cluster/hostname>-<hostname>`, cut to 63
 * characters (the hostname's end goes first; the 8 hex digits keep it unique). Distinct from every other
 * name the mirror gives: derived Services have no '-', shadows and their per-pod Services end in a cluster
 * name and start with a remote Service's name or pod hostname, and another import's start with its own hash.
 */
export function importPodServiceName(importName: string, cluster: string, hostname: string): string {
  const full = `${derivedServiceName(importName)}-${createHash('sha256').update(`${cluster}/${hostname}`).digest('hex').slice(0, 8)}-${hostname}`;
  return full.length <= 63 ? full : full.slice(0, 63).replace(/-+$/, '');
}

/** On a per-pod Service of an import and its EndpointSlice: the import's name (they are found and collected by it). */
export const IMPORT_POD_LABEL = 'multicluster.mesh.io/import-pod-of';

/** On a Headless import's slice for a gateway-mode cluster: how many of its endpoints have no hostname and are left out. */
export const UNNAMED_ENDPOINTS_ANNOTATION = 'multicluster.mesh.io/endpoints-without-hostname';

/** The `mirror.mesh.io/shadow-of` value of an import's per-pod Service: the remote pod it stands for, exactly. */
export const importPodOf = (namespace: string, name: string, cluster: string, hostname: string): string => `import-pod/${namespace}/${name}/${cluster}/${hostname}`;

/** The per-cluster name of a pod of a Headless import (KEP-1645 DNS): `<hostname>.<cluster>.<svc>.<ns>.svc.clusterset.local`. */
export const clustersetPodFqName = (hostname: string, cluster: string, name: string, namespace: string): string => `${hostname}.${cluster}.${clustersetFqName(name, namespace)}`;

/** The remote FQDN a derived Service's port map routes to (namespace sameness: the same name everywhere). */
export const clustersetFqName = (name: string, namespace: string): string => `${name}.${namespace}.svc.${CLUSTERSET_DOMAIN}`;
