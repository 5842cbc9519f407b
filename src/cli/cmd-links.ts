// `mesh links CONTEXT`: the Links of a cluster with their conditions; `-o wide` also lists every shadow.
import { Option, type Command } from 'commander';
import { z } from 'zod';
import { isNotFound, type KubeClient } from '../kube/index.js';
import { LINKS_PATH, linkInfo, type LinkInfo } from '../api/index.js';
import type { Link } from '../mirror/index.js';
import { CliError, ExitCode } from './errors.js';
import { connect, helpText, kubeconfigOption, parseOptions, kubeError } from './common.js';
import { render, formatTable, OutputFormatSchema } from './output.js';

// The Link view lives in src/api so that `mesh dashboard` shows the same facts.
export { LINKS_PATH, linkInfo, type LinkInfo };

export async function listLinks(client: KubeClient, context: string): Promise<Link[]> {
  try {
    return (await client.list<Link>(LINKS_PATH)).items;
  } catch (err) {
    if (isNotFound(err)) throw new CliError(`${context}: the Link resource is not installed`, ExitCode.Failure, `mesh install ${context} --trust-root DIR`);
    throw kubeError(err, context, 'listing Links');
  }
}

const Options = z.object({ kubeconfig: z.string().optional(), output: z.union([OutputFormatSchema, z.literal('wide')]) });

/** Every shadow of every Link: where to find each remote Service here, whatever its (cut) name. */
export function shadowsTable(infos: LinkInfo[]): string {
  const rows = infos.flatMap((i) => i.services.map((m) => [i.name, m.namespace, m.shadow, `${m.name} (${i.target})`, m.mode, m.problem ? `not mirrored: ${m.problem}` : '']));
  if (rows.length === 0) return 'no shadow Services (export a Service in the target: mesh export SERVICE -n NS --context TARGET --label)\n';
  return formatTable({ columns: ['LINK', 'NAMESPACE', 'SHADOW', 'REMOTE SERVICE', 'MODE', 'NOTE'], rows });
}

export function linksTable(infos: LinkInfo[]): string {
  if (infos.length === 0) return 'no Links (mesh link THIS-CONTEXT OTHER-CONTEXT makes one)\n';
  const cond = (i: LinkInfo, t: string) => i.conditions.find((c) => c.type === t);
  const problems = infos.flatMap((i) => i.problems.map((p) => `  ${i.name}: ${p.service} not mirrored: ${p.problem}`));
  return formatTable({
    columns: ['NAME', 'TARGET', 'MODE', 'READY', 'SERVICES', 'CONDITIONS', 'MESSAGE'],
    rows: infos.map((i) => {
      const ready = cond(i, 'Ready');
      const bad = i.conditions.find((c) => c.status !== 'True');
      return [
        i.name,
        i.target,
        i.mode,
        ready?.status ?? 'Unknown',
        String(i.mirroredServices),
        i.conditions.map((c) => `${c.type}=${c.status}`).join(',') || '-',
        bad ? `${bad.type}: ${bad.reason} ${bad.message}`.trim() : '',
      ];
    }),
  }) + (problems.length ? `\nproblems:\n${problems.join('\n')}\n` : '');
}

export function registerLinks(program: Command): void {
  const cmd = program
    .command('links')
    .summary('list the Links of a cluster with their conditions')
    .description('List the Links in CONTEXT: target, mode, readiness, mirrored Service count and every condition.')
    .argument('<context>', 'kubeconfig context of the cluster')
    .addOption(kubeconfigOption())
    .addOption(new Option('-o, --output <format>', 'output format (wide: also every shadow Service)').choices(['table', 'wide', 'json', 'yaml']).default('table'))
    .action(async (context: string, raw: unknown) => {
      const o = parseOptions(Options, raw);
      const c = await connect(context, o.kubeconfig);
      try {
        const infos = (await listLinks(c.client, context)).map(linkInfo);
        if (o.output === 'wide') process.stdout.write(linksTable(infos) + (infos.length ? '\n' + shadowsTable(infos) : ''));
        else process.stdout.write(render(infos, o.output, () => linksTable(infos)));
      } finally {
        c.client.close();
      }
    });
  helpText(
    cmd,
    `The conditions are the controller's: Ready, RemoteAPIReachable, CredentialsValid, GatewayReachable, SpecValid.
-o wide also lists every shadow Service with the remote Service it mirrors: a shadow is named
<service>-<cluster>, but a name longer than 63 characters is cut and ends in a hash instead of the
cluster name, so look it up here (-o json|yaml carry the same list as "services").`,
    ['mesh links cluster-a', 'mesh links cluster-a -o wide', 'mesh links cluster-a -o yaml'],
  );
}
