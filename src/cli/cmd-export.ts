// `mesh export SERVICE -n NS --context C` (a ServiceExport, the MCS API) or `--label [--mode gateway|flat]`
// (the export label of the Linkerd-compatible shadow path), and `mesh unexport` for either.
import { Command, Option } from 'commander';
import { z } from 'zod';
import { isNotFound } from '../kube/index.js';
import { EXPORT_LABEL, EXPORT_TO_ANNOTATION, parseExportTo, MCS_API_VERSION, MCS_GROUP, MCS_STORAGE_VERSION, MIRRORED_LABEL, SERVICE_EXPORT_KIND, SERVICE_EXPORT_PLURAL } from '../api/index.js';
import { CliError, ExitCode } from './errors.js';
import { connect, helpText, kubeconfigOption, outputOption, parseOptions, kubeError } from './common.js';
import { render, OutputFormatSchema } from './output.js';
import { renderDryRun } from './dry-run.js';
import type { KubeObject } from './render.js';

/** Label value per mode (design card): `true` = through gateways, `flat` = pod to pod. */
export const EXPORT_VALUE = { gateway: 'true', flat: 'flat' } as const;

const dnsLabel = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS label').max(63);
const ExportOptionsSchema = z.object({
  namespace: dnsLabel.default('default'),
  context: z.string().optional(),
  kubeconfig: z.string().optional(),
  /** Given: the label export in this mode (implies --label). */
  mode: z.enum(['gateway', 'flat']).optional(),
  label: z.boolean().default(false),
  output: OutputFormatSchema,
  dryRun: z.boolean().default(false),
  /** --to: the clusters the Service is exported to (mirror.mesh.io/export-to on the Service). */
  to: z.string().optional(),
});
type ExportOptions = z.infer<typeof ExportOptionsSchema>;

export interface ExportResult {
  context: string;
  namespace: string;
  service: string;
  exported: string | null;
  changed: boolean;
  /** --dry-run: what export applies (the Service's name and the label only, for server-side apply). */
  object?: KubeObject;
  /** --to: the clusters it is exported to (absent: every linked cluster, or not asked). */
  exportTo?: string[];
  /** --dry-run with --to on the ServiceExport path: the Service's export-to annotation, apart. */
  scopeObject?: KubeObject;
}

/** --to, validated by src/api's parser: a bad cluster name is a usage error. */
export function exportScope(to: string | undefined): string[] | undefined {
  if (to === undefined) return undefined;
  const p = parseExportTo(to);
  if (!p.ok) throw new CliError(`--to ${p.message}`, ExitCode.Usage, 'list cluster names: --to cluster-a,cluster-c');
  return p.clusters;
}

/** The Service's export-to annotation alone (server-side apply owns just that). */
export function scopeObject(namespace: string, service: string, clusters: string[]): KubeObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name: service, namespace, annotations: { [EXPORT_TO_ANNOTATION]: clusters.join(',') } } };
}

/** `mesh export --to`: the export (either way), then its scope on the Service. */
async function exportWithScope(service: string, o: ExportOptions, value: string): Promise<ExportResult> {
  const clusters = exportScope(o.to);
  const r = o.label || o.mode ? await setExportLabel(service, o, value) : await setServiceExport(service, o, true);
  if (!clusters) return r;
  if (o.dryRun) {
    if (r.object?.kind === 'Service') return { ...r, exportTo: clusters, object: { ...r.object, metadata: { ...r.object.metadata, annotations: scopeObject(o.namespace, service, clusters).metadata?.annotations } } };
    return { ...r, exportTo: clusters, scopeObject: scopeObject(o.namespace, service, clusters) };
  }
  const c = await connect(o.context ?? '', o.kubeconfig);
  try {
    const path = `/api/v1/namespaces/${o.namespace}/services/${service}`;
    const live = await c.client.get(path);
    const text = clusters.join(',');
    if (live.metadata?.annotations?.[EXPORT_TO_ANNOTATION] === text) return { ...r, exportTo: clusters };
    await c.client.patch(path, { metadata: { annotations: { [EXPORT_TO_ANNOTATION]: text } } });
    return { ...r, exportTo: clusters, changed: true };
  } catch (err) {
    throw kubeError(err, o.context ?? 'current context', `annotating Service ${o.namespace}/${service} with ${EXPORT_TO_ANNOTATION}`);
  } finally {
    c.client.close();
  }
}

/** The ServiceExport `mesh export` writes (MCS): named like the Service, in its namespace. */
export function serviceExportObject(namespace: string, service: string): KubeObject {
  return { apiVersion: MCS_API_VERSION, kind: SERVICE_EXPORT_KIND, metadata: { name: service, namespace } };
}

const serviceExportPath = (ns: string, name?: string) => `/apis/${MCS_GROUP}/${MCS_STORAGE_VERSION}/namespaces/${ns}/${SERVICE_EXPORT_PLURAL}${name ? `/${name}` : ''}`;

/** Exactly what export changes: the export label on the named Service (server-side apply owns just that). */
export function exportObject(namespace: string, service: string, value: string): KubeObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name: service, namespace, labels: { [EXPORT_LABEL]: value } } };
}

/** What `mesh export` (or unexport, `value` null) does to the Service and its ServiceExport. */
export async function setExport(service: string, o: ExportOptions, value: string | null): Promise<ExportResult> {
  if (value !== null) return exportWithScope(service, o, value);
  if (o.label || o.mode) return setExportLabel(service, o, value);
  // Unexport stops both ways of exporting: the ServiceExport, and the label if the Service still has it.
  const mcs = await setServiceExport(service, o, false);
  let label: ExportResult | undefined;
  try {
    label = await setExportLabel(service, o, null);
  } catch (err) {
    if (!(err instanceof CliError) || !/not found/.test(err.message)) throw err;
  }
  return { ...mcs, changed: mcs.changed || (label?.changed ?? false) };
}

async function setServiceExport(service: string, o: ExportOptions, exported: boolean): Promise<ExportResult> {
  const name = dnsLabel.safeParse(service);
  if (!name.success) throw new CliError(`service name ${JSON.stringify(service)} must be a DNS label`, ExitCode.Usage);
  const c = await connect(o.context ?? '', o.kubeconfig);
  const ctxName = o.context ?? 'current context';
  const base = { context: ctxName, namespace: o.namespace, service };
  try {
    const live = await c.client.get(serviceExportPath(o.namespace, service)).catch((err: unknown) => {
      if (isNotFound(err)) return null;
      throw err;
    });
    if (!exported) {
      if (!live) return { ...base, exported: null, changed: false };
      await c.client.delete(serviceExportPath(o.namespace, service));
      return { ...base, exported: null, changed: true };
    }
    const svc = await c.client.get(`/api/v1/namespaces/${o.namespace}/services/${service}`).catch((err: unknown) => {
      if (isNotFound(err)) throw new CliError(`${ctxName}: Service ${o.namespace}/${service} not found`, ExitCode.Failure, `kubectl --context ${ctxName} -n ${o.namespace} get services`);
      throw err;
    });
    if (svc.metadata?.labels?.[MIRRORED_LABEL] === 'true') {
      throw new CliError(`${o.namespace}/${service} is a shadow or an import of a remote Service; export the original in its own cluster`, ExitCode.Failure);
    }
    const object = serviceExportObject(o.namespace, service);
    if (o.dryRun) return { ...base, context: o.context ?? c.client.kc.getCurrentContext(), exported: SERVICE_EXPORT_KIND, changed: !live, object };
    if (live) return { ...base, exported: SERVICE_EXPORT_KIND, changed: false };
    await c.client.create(serviceExportPath(o.namespace), object);
    return { ...base, exported: SERVICE_EXPORT_KIND, changed: true };
  } catch (err) {
    if (isNotFound(err)) throw new CliError(`${ctxName}: the ServiceExport CRD (${SERVICE_EXPORT_PLURAL}.${MCS_GROUP}) is not installed`, ExitCode.Failure, `mesh install ${ctxName} --trust-root DIR`);
    throw kubeError(err, ctxName, `${exported ? 'creating' : 'deleting'} ServiceExport ${o.namespace}/${service}`);
  } finally {
    c.client.close();
  }
}

async function setExportLabel(service: string, o: ExportOptions, value: string | null): Promise<ExportResult> {
  const name = dnsLabel.safeParse(service);
  if (!name.success) throw new CliError(`service name ${JSON.stringify(service)} must be a DNS label`, ExitCode.Usage);
  const context = o.context ?? '';
  const c = await connect(context, o.kubeconfig);
  const ctxName = o.context ?? 'current context';
  const path = `/api/v1/namespaces/${o.namespace}/services/${service}`;
  try {
    let svc;
    try {
      svc = await c.client.get(path);
    } catch (err) {
      if (isNotFound(err)) throw new CliError(`${ctxName}: Service ${o.namespace}/${service} not found`, ExitCode.Failure, `kubectl --context ${ctxName} -n ${o.namespace} get services`);
      throw err;
    }
    if (svc.metadata?.labels?.[MIRRORED_LABEL] === 'true') {
      throw new CliError(`${o.namespace}/${service} is a shadow of a remote Service; export the original in its own cluster`, ExitCode.Failure);
    }
    const current = svc.metadata?.labels?.[EXPORT_LABEL] ?? null;
    if (o.dryRun && value !== null) {
      return { context: o.context ?? c.client.kc.getCurrentContext(), namespace: o.namespace, service, exported: value, changed: current !== value, object: exportObject(o.namespace, service, value) };
    }
    if (current === value) return { context: ctxName, namespace: o.namespace, service, exported: value, changed: false };
    await c.client.patch(path, { metadata: { labels: { [EXPORT_LABEL]: value } } });
    return { context: ctxName, namespace: o.namespace, service, exported: value, changed: true };
  } catch (err) {
    throw kubeError(err, ctxName, `labelling Service ${o.namespace}/${service}`);
  } finally {
    c.client.close();
  }
}

function common(cmd: Command): Command {
  return cmd
    .argument('<service>', 'name of the Service')
    .option('-n, --namespace <ns>', 'namespace of the Service', 'default')
    .option('--context <context>', 'kubeconfig context of the cluster (default: the current context)')
    .addOption(kubeconfigOption())
    .addOption(outputOption());
}

function summary(r: ExportResult): string {
  const what = r.exported === null ? 'not exported' : r.exported === SERVICE_EXPORT_KIND ? 'exported (ServiceExport)' : `exported (${EXPORT_LABEL}=${r.exported})`;
  const scope = r.exportTo ? ` to ${r.exportTo.join(', ')} only` : '';
  return `${r.context}: Service ${r.namespace}/${r.service} ${what}${scope}${r.changed ? '' : ' (unchanged)'}\n`;
}

export function registerExport(program: Command): void {
  const ex = common(program.command('export'))
    .summary('export a Service to the clusterset (a ServiceExport), or with --label to linked clusters as shadows')
    .description(`Create a ServiceExport for a Service (Multi-Cluster Services API): every cluster of the clusterset imports it.`)
    .option('--label', `label the Service ${EXPORT_LABEL} instead (the shadow path: <name>-<cluster> in linked clusters)`, false)
    .addOption(new Option('--mode <mode>', 'with --label (implied): gateway = through the mTLS gateways (default); flat = pod to pod').choices(['gateway', 'flat']))
    .option('--dry-run', 'print what it would apply (-o yaml, the default, or json); change nothing', false)
    .option('--to <clusters>', `export to these clusters only (comma-separated; ${EXPORT_TO_ANNOTATION} on the Service)`)
    .action(async (service: string, raw: unknown) => {
      const o = parseOptions(ExportOptionsSchema, raw);
      const r = await setExport(service, o, EXPORT_VALUE[o.mode ?? 'gateway']);
      if (r.object) {
        const objects = [r.object, ...(r.scopeObject ? [r.scopeObject] : [])];
        process.stdout.write(renderDryRun([{ context: r.context, objects }], o.output === 'json' ? 'json' : 'yaml'));
        return;
      }
      process.stdout.write(render(r, o.output, () => summary(r)));
    });
  helpText(
    ex,
    `By default creates a ServiceExport (multicluster.x-k8s.io) named like the Service: every cluster of the
clusterset (this one and the clusters linked to it, both ways) gets a ServiceImport with a clusterset VIP
and the endpoints of every exporting cluster (mesh imports CONTEXT lists them; the ServiceExport's
conditions Valid, Ready and Conflict say how it went). How a cluster reaches another is its Link's: through
the gateways if the Link has one, else pod to pod.

--label (or --mode) sets the label ${EXPORT_LABEL} on the Service instead: "true" (gateway mode: other
clusters reach it through their gateway and this cluster's, over mTLS) or "flat" (other clusters get this
Service's pod addresses and need routes between the clusters' pod networks). Linked clusters then keep a
shadow Service <name>-<this cluster> in step (mesh links CONTEXT -o wide lists them).

--dry-run writes nothing and prints what export applies, after a "# cluster: <context>" line: the
ServiceExport, or with --label the Service's name and the label only. Apply it with kubectl (server-side
apply for the label, which then owns just that label), or keep it in Git.

--to cluster-a,cluster-c exports to those clusters only (either way of exporting): the annotation
${EXPORT_TO_ANNOTATION} on the Service. Another cluster gets no shadow and no ServiceImport from this
one, and this cluster's gateway refuses its tunnels to the Service even when it asks by name. Who may call
it within those clusters: mesh authz.`,
    [
      'mesh export web -n shop --context cluster-b',
      'mesh export db -n data --context cluster-b --label --mode flat',
      'mesh export web -n demo --context cluster-b --label --to cluster-a,cluster-c',
      'mesh export web -n shop --context cluster-b --dry-run -o yaml | kubectl --context cluster-b apply -f -',
    ],
  );

  const un = common(program.command('unexport'))
    .summary('stop exporting a Service (its ServiceExport and its export label; --label: the label only)')
    .description(`Delete the Service's ServiceExport and remove its ${EXPORT_LABEL} label; with --label only the label.`)
    .option('--label', `only remove the ${EXPORT_LABEL} label (the shadow path)`, false)
    .action(async (service: string, raw: unknown) => {
      const o = parseOptions(ExportOptionsSchema, raw);
      const r = await setExport(service, o, null);
      process.stdout.write(render(r, o.output, () => summary(r)));
    });
  helpText(
    un,
    'Once no cluster exports the name any more, every cluster of the clusterset removes its ServiceImport, and linked clusters delete their shadow of this Service.',
    ['mesh unexport web -n shop --context cluster-b', 'mesh unexport web -n shop --context cluster-b --label'],
  );
}
