// The pure core of the MCS import: which exports are valid, how they merge into one ServiceImport (the KEP's
// rule: the oldest export wins every conflicting property; ports are the union), and which conflicts every
// exporter is told about. No I/O: the import and export reconcilers read the caches, call these, and write.
import { DEFAULT_POLICY, EXPORT_CONFLICT_REASONS, EXPORT_VALID_REASONS, parseTrafficPolicy, type ExportConflictReason, type TrafficPolicy, type ImportPort, type IpFamily, type McsProtocol, type ServiceImportSpec, type SessionAffinityConfig } from '../api/index.js';
import { deepEqual } from '../kube/index.js';
import type { Exporter } from './mcs-types.js';
import type { Service } from './types.js';

export interface Validity {
  valid: boolean;
  reason: string;
  message: string;
}

/** The `Valid` condition of one export, from its Service as observed. */
export function exportValidity(e: Pick<Exporter, 'service' | 'export'>): Validity {
  const name = `${e.export.metadata?.namespace}/${e.export.metadata?.name}`;
  if (!e.service) return { valid: false, reason: EXPORT_VALID_REASONS.noService, message: `no Service ${name} in this cluster` };
  if (e.service.spec?.type === 'ExternalName') return { valid: false, reason: EXPORT_VALID_REASONS.invalidType, message: `Service ${name} is of type ExternalName, which cannot be exported` };
  return { valid: true, reason: EXPORT_VALID_REASONS.valid, message: 'the Service exists and can be exported' };
}

/** Oldest export first (creationTimestamp), then by cluster name: the KEP's conflict resolution order. */
export function byAge(a: Exporter, b: Exporter): number {
  const ta = a.export.metadata?.creationTimestamp ?? '';
  const tb = b.export.metadata?.creationTimestamp ?? '';
  return ta < tb ? -1 : ta > tb ? 1 : a.cluster.localeCompare(b.cluster);
}

/** The properties of one export that take part in the merge. */
export interface ExportProperties {
  type: ServiceImportSpec['type'];
  ports: ImportPort[];
  sessionAffinity: 'ClientIP' | 'None';
  sessionAffinityConfig?: SessionAffinityConfig;
  internalTrafficPolicy?: 'Cluster' | 'Local';
  trafficDistribution?: string;
  ipFamilies: IpFamily[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Issue 14: from the export's annotations; an invalid one counts as the default (its condition says why). */
  trafficPolicy: TrafficPolicy;
}

/** The traffic policy of one export, or the default with the reason its annotations were refused. */
export function exportPolicy(e: Pick<Exporter, 'export'>): { policy: TrafficPolicy; error?: string } {
  const p = parseTrafficPolicy(e.export.metadata?.annotations);
  return p.ok ? { policy: p.policy } : { policy: DEFAULT_POLICY, error: p.error };
}

const PROTOCOLS: readonly string[] = ['TCP', 'UDP', 'SCTP'];

export function propertiesOf(e: Exporter): ExportProperties {
  const spec = (e.service?.spec ?? {}) as Service['spec'] & {
    sessionAffinity?: string;
    sessionAffinityConfig?: SessionAffinityConfig;
    internalTrafficPolicy?: string;
    trafficDistribution?: string;
    ipFamilies?: string[];
  };
  const ports = (spec?.ports ?? []).map((p) => {
    const protocol = (PROTOCOLS.includes(p.protocol ?? 'TCP') ? (p.protocol ?? 'TCP') : 'TCP') as McsProtocol;
    return { port: p.port, protocol, ...(p.name ? { name: p.name } : {}), ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}) };
  });
  const families = (spec?.ipFamilies ?? []).filter((f): f is IpFamily => f === 'IPv4' || f === 'IPv6');
  return {
    type: spec?.clusterIP === 'None' ? 'Headless' : 'ClusterSetIP',
    ports,
    sessionAffinity: spec?.sessionAffinity === 'ClientIP' ? 'ClientIP' : 'None',
    ...(spec?.sessionAffinity === 'ClientIP' && spec.sessionAffinityConfig ? { sessionAffinityConfig: spec.sessionAffinityConfig } : {}),
    ...(spec?.internalTrafficPolicy === 'Local' || spec?.internalTrafficPolicy === 'Cluster' ? { internalTrafficPolicy: spec.internalTrafficPolicy } : {}),
    ...(spec?.trafficDistribution ? { trafficDistribution: spec.trafficDistribution } : {}),
    ipFamilies: families.length ? families : ['IPv4'],
    labels: e.export.spec?.exportedLabels ?? {},
    annotations: e.export.spec?.exportedAnnotations ?? {},
    trafficPolicy: exportPolicy(e).policy,
  };
}

export interface MergedImport {
  /** The oldest valid export: its properties win every conflict. */
  winner: Exporter;
  /** Valid exporters, oldest first. */
  exporters: Exporter[];
  props: ExportProperties;
  /** The union of the exporters' ports (port/protocol), the oldest's name and appProtocol. */
  ports: ImportPort[];
  /** Conflict reasons, in EXPORT_CONFLICT_REASONS order, each with the clusters that disagree with the winner. */
  conflicts: Array<{ reason: ExportConflictReason; clusters: string[] }>;
}

const portKey = (p: ImportPort) => `${p.port}/${p.protocol ?? 'TCP'}`;

function portsConflict(winner: ImportPort[], other: ImportPort[]): boolean {
  const byKey = new Map(winner.map((p) => [portKey(p), p]));
  const byName = new Map(winner.filter((p) => p.name).map((p) => [p.name, p]));
  return other.some((p) => {
    const w = byKey.get(portKey(p));
    if (w && ((w.name ?? '') !== (p.name ?? '') || (w.appProtocol ?? '') !== (p.appProtocol ?? ''))) return true;
    const n = p.name ? byName.get(p.name) : undefined;
    return n !== undefined && portKey(n) !== portKey(p);
  });
}

const CHECKS: Record<ExportConflictReason, (w: ExportProperties, o: ExportProperties) => boolean> = {
  PortConflict: (w, o) => portsConflict(w.ports, o.ports),
  TypeConflict: (w, o) => w.type !== o.type,
  SessionAffinityConflict: (w, o) => w.sessionAffinity !== o.sessionAffinity,
  SessionAffinityConfigConflict: (w, o) => !deepEqual(w.sessionAffinityConfig ?? null, o.sessionAffinityConfig ?? null),
  InternalTrafficPolicyConflict: (w, o) => (w.internalTrafficPolicy ?? 'Cluster') !== (o.internalTrafficPolicy ?? 'Cluster'),
  TrafficDistributionConflict: (w, o) => (w.trafficDistribution ?? '') !== (o.trafficDistribution ?? ''),
  IPFamilyConflict: (w, o) => !deepEqual(w.ipFamilies, o.ipFamilies),
  LabelsConflict: (w, o) => !deepEqual(w.labels, o.labels),
  AnnotationsConflict: (w, o) => !deepEqual(w.annotations, o.annotations),
  TrafficPolicyConflict: (w, o) => !deepEqual(w.trafficPolicy, o.trafficPolicy),
};

/** Merges the valid exports of one name; undefined when there is none (no import). */
export function mergeExports(all: Exporter[]): MergedImport | undefined {
  const exporters = all.filter((e) => exportValidity(e).valid).sort(byAge);
  const winner = exporters[0];
  if (!winner) return undefined;
  const props = propertiesOf(winner);
  const ports = new Map<string, ImportPort>();
  const conflicts = new Map<ExportConflictReason, string[]>();
  for (const e of exporters) {
    const p = e === winner ? props : propertiesOf(e);
    // A conflicting port (same number, other name) is still served by the exporter that has it: the union
    // keeps the oldest's name for each port/protocol, and a port only the younger has is added.
    for (const port of p.ports) if (!ports.has(portKey(port))) ports.set(portKey(port), port);
    if (e === winner) continue;
    for (const reason of EXPORT_CONFLICT_REASONS) {
      if (!CHECKS[reason](props, p)) continue;
      const list = conflicts.get(reason) ?? [];
      list.push(e.cluster);
      conflicts.set(reason, list);
    }
  }
  // A Headless winner has no VIP; the union of ports stays in the import either way.
  return {
    winner,
    exporters,
    props,
    ports: [...ports.values()].sort((a, b) => a.port - b.port || (a.protocol ?? 'TCP').localeCompare(b.protocol ?? 'TCP')),
    conflicts: EXPORT_CONFLICT_REASONS.filter((r) => conflicts.has(r)).map((reason) => ({ reason, clusters: conflicts.get(reason) ?? [] })),
  };
}

/** The ServiceImport spec (ips from the derived Service, none for Headless). */
export function importSpec(m: MergedImport, derivedIPs: string[]): ServiceImportSpec {
  const p = m.props;
  return {
    type: p.type,
    ports: m.ports,
    ...(p.type === 'ClusterSetIP' && derivedIPs.length ? { ips: [...derivedIPs] } : {}),
    ipFamilies: p.ipFamilies,
    sessionAffinity: p.sessionAffinity,
    ...(p.sessionAffinityConfig ? { sessionAffinityConfig: p.sessionAffinityConfig } : {}),
    ...(p.internalTrafficPolicy ? { internalTrafficPolicy: p.internalTrafficPolicy } : {}),
    ...(p.trafficDistribution ? { trafficDistribution: p.trafficDistribution } : {}),
  };
}

/** The Conflict condition of one exporter's export: the same reasons on every exporter (KEP). */
export function conflictCondition(m: MergedImport | undefined): { conflict: boolean; reason: string; message: string } {
  if (!m || m.conflicts.length === 0) return { conflict: false, reason: 'NoConflicts', message: 'no conflicting exports' };
  const detail = m.conflicts.map((c) => `${c.reason} (${c.clusters.join(', ')})`).join('; ');
  return {
    conflict: true,
    reason: m.conflicts.map((c) => c.reason).join(','),
    message: `exports of clusters differ from the oldest export (cluster ${m.winner.cluster}), whose properties are used: ${detail}`,
  };
}
