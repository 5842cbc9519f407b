// `mesh imports CONTEXT`: the ServiceImports of a cluster (MCS API) with their ports, VIPs, traffic policy,
// exporting clusters (ready endpoints, serving or not and why, issue 14), endpoints and the conditions of this
// cluster's own ServiceExport of the same name.
import type { Command } from 'commander';
import { z } from 'zod';
import {
  MCS_GROUP,
  MCS_SERVICE_NAME_LABEL,
  MCS_SOURCE_CLUSTER_LABEL,
  MCS_STORAGE_VERSION,
  SERVICE_EXPORT_PLURAL,
  SERVICE_IMPORT_PLURAL,
  type Condition,
  type ServiceImportSpec,
  type ServiceImportStatus,
} from '../api/index.js';
import { isNotFound, type KubeClient, type KubeObject } from '../kube/index.js';
import { CliError, ExitCode } from './errors.js';
import { connect, helpText, kubeconfigOption, kubeError, outputOption, parseOptions } from './common.js';
import { formatTable, render, OutputFormatSchema } from './output.js';

interface ImportObject extends KubeObject {
  spec?: ServiceImportSpec;
  status?: ServiceImportStatus;
}
interface ExportObject extends KubeObject {
  status?: { conditions?: Condition[] };
}
interface SliceObject extends KubeObject {
  endpoints?: Array<{ addresses: string[]; conditions?: { ready?: boolean } }> | null;
}

export interface ImportInfo {
  namespace: string;
  name: string;
  type: string;
  ips: string[];
  ports: string[];
  clusters: string[];
  /** The traffic policy in effect (the oldest export's), as the import's status says. */
  policy?: string;
  /** Per exporting cluster, from the import's status: ready endpoints there, serving under the policy or not, and why. */
  serving: Record<string, { readyEndpoints?: number; serving?: boolean; reason?: string; message?: string; apiReachable?: boolean }>;
  /** Ready / all endpoints in the import's slices, per source cluster. */
  endpoints: Record<string, { ready: number; total: number }>;
  /** This cluster's own ServiceExport's conditions, when it exports the name too. */
  exportConditions?: Array<Pick<Condition, 'type' | 'status' | 'reason' | 'message'>>;
}

const mcsPath = (plural: string) => `/apis/${MCS_GROUP}/${MCS_STORAGE_VERSION}/${plural}`;

/** Pure: the view of each import from the objects listed. */
export function importInfos(imports: ImportObject[], slices: SliceObject[], exports: ExportObject[]): ImportInfo[] {
  const key = (o: KubeObject) => `${o.metadata?.namespace}/${o.metadata?.name}`;
  const ex = new Map(exports.map((e) => [key(e), e]));
  return imports
    .map((i) => {
      const ns = i.metadata?.namespace ?? '';
      const name = i.metadata?.name ?? '';
      const endpoints: ImportInfo['endpoints'] = {};
      for (const s of slices) {
        const l = s.metadata?.labels ?? {};
        if (s.metadata?.namespace !== ns || l[MCS_SERVICE_NAME_LABEL] !== name) continue;
        const cl = l[MCS_SOURCE_CLUSTER_LABEL] ?? '?';
        const e = (endpoints[cl] ??= { ready: 0, total: 0 });
        for (const x of s.endpoints ?? []) {
          e.total++;
          if (x.conditions?.ready !== false) e.ready++;
        }
      }
      const own = ex.get(`${ns}/${name}`);
      return {
        namespace: ns,
        name,
        type: i.spec?.type ?? '?',
        ips: i.spec?.ips ?? [],
        ports: (i.spec?.ports ?? []).map((p) => `${p.name ? `${p.name}:` : ''}${p.port}/${p.protocol ?? 'TCP'}`),
        clusters: (i.status?.clusters ?? []).map((c) => c.cluster),
        ...(i.status?.trafficPolicy ? { policy: i.status.trafficPolicy } : {}),
        serving: Object.fromEntries((i.status?.clusters ?? []).map(({ cluster, ...rest }) => [cluster, { ...rest }])),
        endpoints,
        ...(own ? { exportConditions: (own.status?.conditions ?? []).map((c) => ({ type: c.type, status: c.status, reason: c.reason, message: c.message })) } : {}),
      };
    })
    .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
}

/** Lists imports, their slices and the local exports; a cluster without the MCS CRDs is a clear error. */
export async function listImports(client: KubeClient, context: string): Promise<ImportInfo[]> {
  try {
    const [imports, slices, exports] = await Promise.all([
      client.list<ImportObject>(mcsPath(SERVICE_IMPORT_PLURAL)),
      client.list<SliceObject>('/apis/discovery.k8s.io/v1/endpointslices', { labelSelector: MCS_SERVICE_NAME_LABEL }),
      client.list<ExportObject>(mcsPath(SERVICE_EXPORT_PLURAL)),
    ]);
    return importInfos(imports.items, slices.items, exports.items);
  } catch (err) {
    if (isNotFound(err)) throw new CliError(`${context}: the MCS resources (${SERVICE_IMPORT_PLURAL}.${MCS_GROUP}) are not installed`, ExitCode.Failure, `mesh install ${context} --trust-root DIR`);
    throw kubeError(err, context, 'listing ServiceImports');
  }
}

/** `cluster-b 2 ready serving`, `cluster-a 0 ready NoReadyEndpoints`, `(API unreachable: last known)`. */
function clusterCell(cluster: string, s: ImportInfo['serving'][string] | undefined): string {
  if (!s || s.serving === undefined) return cluster;
  const api = s.apiReachable === false ? ' (API unreachable: last known)' : '';
  return `${cluster} ${s.readyEndpoints ?? '?'} ready ${s.serving ? 'serving' : s.reason ?? 'not serving'}${api}`;
}

export function importsTable(infos: ImportInfo[]): string {
  if (infos.length === 0) return 'no ServiceImports (export a Service in a linked cluster: mesh export SERVICE -n NS --context CLUSTER)\n';
  return formatTable({
    columns: ['NAMESPACE', 'NAME', 'TYPE', 'IPS', 'PORTS', 'POLICY', 'CLUSTERS', 'ENDPOINTS', 'EXPORT HERE'],
    rows: infos.map((i) => [
      i.namespace,
      i.name,
      i.type,
      i.ips.join(',') || '-',
      i.ports.join(',') || '-',
      i.policy ?? '-',
      i.clusters.map((c) => clusterCell(c, i.serving[c])).join(', ') || '-',
      Object.entries(i.endpoints).map(([c, e]) => `${c} ${e.ready}/${e.total}`).join(', ') || 'none',
      i.exportConditions ? i.exportConditions.map((c) => `${c.type}=${c.status}${c.status !== (c.type === 'Conflict' ? 'False' : 'True') ? ` (${c.reason})` : ''}`).join(',') : '-',
    ]),
  });
}

const Options = z.object({ kubeconfig: z.string().optional(), output: OutputFormatSchema });

export function registerImports(program: Command): void {
  const cmd = program
    .command('imports')
    .summary('list the ServiceImports of a cluster (Multi-Cluster Services API)')
    .description('List the ServiceImports in CONTEXT: type, VIPs, ports, exporting clusters, ready endpoints per cluster, and this cluster\'s own export conditions.')
    .argument('<context>', 'kubeconfig context of the cluster')
    .addOption(kubeconfigOption())
    .addOption(outputOption())
    .action(async (context: string, raw: unknown) => {
      const o = parseOptions(Options, raw);
      const c = await connect(context, o.kubeconfig);
      try {
        const infos = await listImports(c.client, context);
        process.stdout.write(render(infos, o.output, () => importsTable(infos)));
      } finally {
        c.client.close();
      }
    });
  helpText(
    cmd,
    `One ServiceImport per Service name exported anywhere in the clusterset (this cluster and the clusters it
has Links to). IPS are the clusterset VIPs (none for Headless); POLICY the traffic policy (the oldest export's
multicluster.mesh.io/traffic-policy); CLUSTERS each exporting cluster with its ready endpoints and whether the
policy serves it now, else why not (NoReadyEndpoints, ProbeFailing, Policy, HoldDown; -o yaml has the
message); ENDPOINTS counts ready/all endpoints per
exporting cluster as the import's EndpointSlices carry them (the local gateway for a cluster reached through
the gateways); EXPORT HERE shows the conditions of this cluster's own ServiceExport of that name, if any.`,
    ['mesh imports cluster-a', 'mesh imports cluster-a -o yaml'],
  );
}
