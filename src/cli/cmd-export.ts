// `mesh export SERVICE -n NS --context C [--mode gateway|flat]` and `mesh unexport SERVICE -n NS --context C`.
import { Command, Option } from 'commander';
import { z } from 'zod';
import { isNotFound } from '../kube/index.js';
import { EXPORT_LABEL, MIRRORED_LABEL } from '../api/index.js';
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
  mode: z.enum(['gateway', 'flat']).default('gateway'),
  output: OutputFormatSchema,
  dryRun: z.boolean().default(false),
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
}

/** Exactly what export changes: the export label on the named Service (server-side apply owns just that). */
export function exportObject(namespace: string, service: string, value: string): KubeObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name: service, namespace, labels: { [EXPORT_LABEL]: value } } };
}

export async function setExport(service: string, o: ExportOptions, value: string | null): Promise<ExportResult> {
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
  const what = r.exported === null ? 'not exported' : `exported (${EXPORT_LABEL}=${r.exported})`;
  return `${r.context}: Service ${r.namespace}/${r.service} ${what}${r.changed ? '' : ' (unchanged)'}\n`;
}

export function registerExport(program: Command): void {
  const ex = common(program.command('export'))
    .summary('export a Service so that linked clusters mirror it')
    .description(`Label a Service ${EXPORT_LABEL} so that every cluster linked to this one mirrors it.`)
    .addOption(new Option('--mode <mode>', 'gateway: reached through the mTLS gateways; flat: pod to pod').choices(['gateway', 'flat']).default('gateway'))
    .option('--dry-run', 'print what it would apply (-o yaml, the default, or json); change nothing', false)
    .action(async (service: string, raw: unknown) => {
      const o = parseOptions(ExportOptionsSchema, raw);
      const r = await setExport(service, o, EXPORT_VALUE[o.mode]);
      if (r.object) {
        process.stdout.write(renderDryRun([{ context: r.context, objects: [r.object] }], o.output === 'json' ? 'json' : 'yaml'));
        return;
      }
      process.stdout.write(render(r, o.output, () => summary(r)));
    });
  helpText(
    ex,
    `Sets the label ${EXPORT_LABEL} on the Service: "true" (gateway mode: other clusters reach it through
their gateway and this cluster's, over mTLS) or "flat" (other clusters get this Service's pod addresses
and need routes between the clusters' pod networks). Linked clusters then keep a shadow Service
<name>-<this cluster> in step (mesh links CONTEXT -o wide lists them).

--dry-run writes nothing and prints what export applies, after a "# cluster: <context>" line: the
Service's name and the label only. Apply it with server-side apply (which then owns just that label),
or put the label into your own Service manifest in Git.`,
    [
      'mesh export web -n shop --context cluster-b',
      'mesh export db -n data --context cluster-b --mode flat',
      'mesh export web -n shop --context cluster-b --dry-run -o yaml | kubectl --context cluster-b apply --server-side -f -',
    ],
  );

  const un = common(program.command('unexport'))
    .summary('stop exporting a Service (linked clusters remove their shadows)')
    .description(`Remove the ${EXPORT_LABEL} label from a Service.`)
    .action(async (service: string, raw: unknown) => {
      const o = parseOptions(ExportOptionsSchema, raw);
      const r = await setExport(service, o, null);
      process.stdout.write(render(r, o.output, () => summary(r)));
    });
  helpText(un, 'Linked clusters delete their shadow of this Service on their next reconcile.', ['mesh unexport web -n shop --context cluster-b']);
}
