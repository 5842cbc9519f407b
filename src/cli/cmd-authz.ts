// `mesh authz [SERVICE] -n NS --context C`: who may call an export through the gateway. Shows the Service's
// own list (mirror.mesh.io/allowed-identities), its Namespace's default and the export scope, and edits the
// lists with src/api's one parser, so nothing the gateway would refuse to parse is ever written.
import { Command } from 'commander';
import { z } from 'zod';
import { isNotFound, type KubeObject } from '../kube/index.js';
import {
  ALLOWED_IDENTITIES_ANNOTATION, DEFAULT_ALLOWED_IDENTITIES_ANNOTATION, EXPORT_TO_ANNOTATION, dnsLabelSchema, formatAllowList, parseAllowList, parseExportTo, type AllowRule,
} from '../api/index.js';
import { CliError, ExitCode } from './errors.js';
import { connect, helpText, kubeconfigOption, kubeError, outputOption, parseOptions, type Cluster } from './common.js';
import { render, OutputFormatSchema } from './output.js';

const AuthzOptionsSchema = z.object({
  namespace: dnsLabelSchema.default('default'),
  context: z.string().optional(),
  kubeconfig: z.string().optional(),
  output: OutputFormatSchema,
  allow: z.string().optional(),
  set: z.string().optional(),
  remove: z.string().optional(),
  clear: z.boolean().default(false),
  namespaceDefault: z.string().optional(),
  clearNamespaceDefault: z.boolean().default(false),
});
type AuthzOptions = z.infer<typeof AuthzOptionsSchema>;

/** One list as shown: as written, or why it cannot be parsed (the gateway then admits nobody). */
export interface ListView {
  entries: string[];
  error?: string;
}

export interface AuthzView {
  context: string;
  namespace: string;
  service?: string;
  /** The Service's own list; absent: none. */
  allowedIdentities?: ListView;
  namespaceDefault?: ListView;
  /** Which list the gateway applies: the Service's, the Namespace default, or none (every linked cluster's gateway). */
  effective: 'service' | 'namespace' | 'everyone';
  exportTo?: ListView;
  changed: boolean;
}

function view(text: string | undefined, exportScope = false): ListView | undefined {
  if (text === undefined || (!exportScope && text.trim() === '')) return undefined;
  if (exportScope) {
    const p = parseExportTo(text);
    return p.ok ? { entries: p.clusters } : { entries: [], error: p.message };
  }
  const p = parseAllowList(text);
  return p.ok ? { entries: p.rules.map((r) => r.text) } : { entries: text.split(',').map((e) => e.trim()).filter(Boolean), error: p.message };
}

/** Parses entries given on the command line: a bad one is a usage error naming it. */
export function parseEntries(flag: string, text: string): AllowRule[] {
  const p = parseAllowList(text);
  if (!p.ok) throw new CliError(`${flag}: ${p.message}`, ExitCode.Usage, 'entries: cluster:<name>, spiffe://<td>/ns/<ns>/sa/<sa>, spiffe://<td>/ns/<ns>/*, or a trust domain');
  if (p.rules.length === 0) throw new CliError(`${flag}: no entries given`, ExitCode.Usage);
  return p.rules;
}

/** The Service's new list (its annotation text, or null to remove it) from the edit flags; pure. */
export function editedList(current: string | undefined, o: Pick<AuthzOptions, 'allow' | 'set' | 'remove' | 'clear'>): string | null | undefined {
  const edits = [o.allow, o.set, o.remove].filter((x) => x !== undefined).length + (o.clear ? 1 : 0);
  if (edits === 0) return undefined;
  if (edits > 1) throw new CliError('give one of --allow, --set, --remove, --clear', ExitCode.Usage);
  if (o.clear) return null;
  if (o.set !== undefined) return formatAllowList(parseEntries('--set', o.set));
  const have = parseAllowList(current ?? '');
  if (!have.ok) throw new CliError(`the Service's ${ALLOWED_IDENTITIES_ANNOTATION} is unparsable (${have.message}): replace it with --set`, ExitCode.Failure);
  const rules = have.rules;
  if (o.allow !== undefined) {
    const add = parseEntries('--allow', o.allow).filter((r) => !rules.some((x) => x.text === r.text));
    return formatAllowList([...rules, ...add]);
  }
  const drop = new Set(parseEntries('--remove', o.remove ?? '').map((r) => r.text));
  const missing = [...drop].filter((d) => !rules.some((r) => r.text === d));
  if (missing.length > 0) throw new CliError(`--remove: not in the list: ${missing.join(', ')}`, ExitCode.Failure);
  const left = rules.filter((r) => !drop.has(r.text));
  // Safe by default: an empty list is no list, which admits every caller (or the Namespace default).
  if (left.length === 0) throw new CliError('--remove would empty the list, which admits every caller (or the Namespace default): use --clear for that', ExitCode.Failure);
  return formatAllowList(left);
}

function editedDefault(o: Pick<AuthzOptions, 'namespaceDefault' | 'clearNamespaceDefault'>): string | null | undefined {
  if (o.namespaceDefault !== undefined && o.clearNamespaceDefault) throw new CliError('give one of --namespace-default, --clear-namespace-default', ExitCode.Usage);
  if (o.clearNamespaceDefault) return null;
  return o.namespaceDefault === undefined ? undefined : formatAllowList(parseEntries('--namespace-default', o.namespaceDefault));
}

async function getOr404(c: Cluster, path: string, what: string, ctx: string): Promise<KubeObject> {
  try {
    return await c.client.get(path);
  } catch (err) {
    if (isNotFound(err)) throw new CliError(`${ctx}: ${what} not found`, ExitCode.Failure);
    throw err;
  }
}

export async function authz(service: string | undefined, o: AuthzOptions): Promise<AuthzView> {
  if (service !== undefined && !dnsLabelSchema.safeParse(service).success) throw new CliError(`service name ${JSON.stringify(service)} must be a DNS label`, ExitCode.Usage);
  const newDefault = editedDefault(o);
  if (service === undefined && (o.allow !== undefined || o.set !== undefined || o.remove !== undefined || o.clear)) throw new CliError('--allow, --set, --remove and --clear edit a Service: name it', ExitCode.Usage);
  const ctx = o.context ?? 'current context';
  const c = await connect(o.context ?? '', o.kubeconfig);
  try {
    const nsPath = `/api/v1/namespaces/${o.namespace}`;
    const svcPath = `${nsPath}/services/${service}`;
    let ns = await getOr404(c, nsPath, `Namespace ${o.namespace}`, ctx);
    let svc = service === undefined ? undefined : await getOr404(c, svcPath, `Service ${o.namespace}/${service}`, ctx);
    const newList = svc ? editedList(svc.metadata?.annotations?.[ALLOWED_IDENTITIES_ANNOTATION], o) : undefined;
    if (newDefault !== undefined) ns = await c.client.patch(nsPath, { metadata: { annotations: { [DEFAULT_ALLOWED_IDENTITIES_ANNOTATION]: newDefault } } });
    if (svc && newList !== undefined) svc = await c.client.patch(svcPath, { metadata: { annotations: { [ALLOWED_IDENTITIES_ANNOTATION]: newList } } });
    const own = view(svc?.metadata?.annotations?.[ALLOWED_IDENTITIES_ANNOTATION]);
    const dflt = view(ns.metadata?.annotations?.[DEFAULT_ALLOWED_IDENTITIES_ANNOTATION]);
    const scope = view(svc?.metadata?.annotations?.[EXPORT_TO_ANNOTATION], true);
    return {
      context: ctx,
      namespace: o.namespace,
      ...(service !== undefined ? { service } : {}),
      ...(own ? { allowedIdentities: own } : {}),
      ...(dflt ? { namespaceDefault: dflt } : {}),
      effective: own ? 'service' : dflt ? 'namespace' : 'everyone',
      ...(scope ? { exportTo: scope } : {}),
      changed: newDefault !== undefined || newList !== undefined,
    };
  } catch (err) {
    throw kubeError(err, ctx, `reading or editing the authorization of ${service ? `Service ${o.namespace}/${service}` : `namespace ${o.namespace}`}`);
  } finally {
    c.client.close();
  }
}

function line(label: string, v: ListView | undefined, none: string): string {
  if (!v) return `  ${label}: ${none}\n`;
  return `  ${label}: ${v.entries.join(', ') || '(empty)'}${v.error ? `\n    ✘ unparsable, admits nobody: ${v.error}` : ''}\n`;
}

export function formatAuthz(v: AuthzView): string {
  const head = v.service ? `${v.context}: Service ${v.namespace}/${v.service}` : `${v.context}: namespace ${v.namespace}`;
  let out = `${head}${v.changed ? ' (updated)' : ''}\n`;
  if (v.service) out += line('allowed identities', v.allowedIdentities, '(none: the namespace default applies)');
  out += line('namespace default', v.namespaceDefault, '(none)');
  if (v.service) {
    out += line('exported to', v.exportTo, 'every linked cluster');
    const eff = v.effective === 'service' ? "the Service's list" : v.effective === 'namespace' ? 'the namespace default' : "every caller that the gateway admits (linked clusters' gateways)";
    out += `  who may call: ${eff}\n`;
  }
  return out;
}

export function registerAuthz(program: Command): void {
  const cmd = program
    .command('authz')
    .summary('show or edit who may call an exported Service through the gateway')
    .description('Show the allow lists of an exported Service (and its namespace default and export scope), or edit them.')
    .argument('[service]', 'name of the Service (omit to show or edit the namespace default only)')
    .option('-n, --namespace <ns>', 'namespace of the Service', 'default')
    .option('--context <context>', 'kubeconfig context of the exporting cluster (default: the current context)')
    .addOption(kubeconfigOption())
    .addOption(outputOption())
    .option('--allow <entries>', "add comma-separated entries to the Service's list")
    .option('--set <entries>', "replace the Service's list")
    .option('--remove <entries>', "remove entries from the Service's list (alias: --deny)")
    .option('--deny <entries>', 'the same as --remove')
    .option('--clear', "remove the Service's list (the namespace default, or every caller, applies)", false)
    .option('--namespace-default <entries>', `set the namespace's ${DEFAULT_ALLOWED_IDENTITIES_ANNOTATION}`)
    .option('--clear-namespace-default', "remove the namespace's default list", false)
    .action(async (service: string | undefined, raw: unknown) => {
      const r = raw as Record<string, unknown>;
      if (r.deny !== undefined) {
        if (r.remove !== undefined) throw new CliError('give one of --remove, --deny', ExitCode.Usage);
        r.remove = r.deny;
      }
      delete r.deny;
      const o = parseOptions(AuthzOptionsSchema, r);
      const v = await authz(service, o);
      process.stdout.write(render(v, o.output, () => formatAuthz(v)));
    });
  helpText(
    cmd,
    `The exporting cluster's gateway admits a tunnel to a Service only if the caller passes every list that
applies: the export scope (${EXPORT_TO_ANNOTATION}, set with mesh export --to), the Link to the caller's
cluster (spec.gateway.allowedIdentities, if this cluster has one), and the Service's own list
(${ALLOWED_IDENTITIES_ANNOTATION}) or, when it has none, its namespace's default
(${DEFAULT_ALLOWED_IDENTITIES_ANNOTATION}). Entries, comma-separated:
  cluster:<name>                               any caller from that cluster
  spiffe://<td>/ns/<ns>/sa/<sa>                exactly that workload identity
  spiffe://<td>/ns/<ns>/*                      any identity under that prefix
  <trust domain>                               any identity of the trust domain
A list that does not parse admits nobody, and the gateway logs why. --remove never empties a list (an
empty list admits every caller): use --clear for that.`,
    [
      'mesh authz web -n demo --context cluster-b',
      'mesh authz web -n demo --context cluster-b --allow cluster:cluster-a,spiffe://mesh.local/ns/web/sa/frontend',
      'mesh authz web -n demo --context cluster-b --remove cluster:cluster-a',
      'mesh authz -n demo --context cluster-b --namespace-default cluster:cluster-a',
    ],
  );
}
