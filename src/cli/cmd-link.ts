// `mesh link SOURCE TARGET` (unlink is cmd-unlink.ts): checks both clusters first, then writes TARGET's link
// identity and SOURCE's credentials Secret and Link, undoing every step if one fails; --dry-run prints them.
import { Command, Option } from 'commander';
import { z } from 'zod';
import { applyObject, isNotFound, errorMessage, type KubeObject as ApiObject } from '../kube/index.js';
import { CliError, ExitCode } from './errors.js';
import {
  connect, helpText, kubeconfigOption, outputOption, parseOptions, kubeError, stderrProgress, sleep, durationSeconds, zodArg,
  type Progress,
} from './common.js';
import { LINK_API_VERSION, LINK_KIND, MESH_NAMESPACE, linkServiceAccountName, matchesSelector, parseLinkSpec, type LinkStatus } from '../api/index.js';
import { linkTargetObjects, rollbackPlan, parseSelector, conditionOf, TOKEN_TTL_SECONDS, type DoneStep, type LinkMode, type Side } from './plan.js';
import { collectionPath, objectPath, describe, idOf } from './kinds.js';
import { render, formatTable } from './output.js';
import { meshCluster, type MeshCluster } from './mesh-cluster.js';
import { unlinkOne } from './cmd-unlink.js';
import { LinkOptionsSchema, prepareLink, requestToken, sourceObjects, type LinkOptions } from './link-steps.js';
import { linkDryRun } from './link-dry-run.js';
import { renderDryRun } from './dry-run.js';

export type { LinkOptions } from './link-steps.js';

export interface LinkResult {
  source: string;
  target: string;
  mode: LinkMode;
  gateway?: string;
  ready: boolean;
  mirrored: { namespace: string; name: string; shadow: string; mode: string; problem?: string }[];
  /** What the network must provide (flat mode). */
  notes: string[];
}

/** Test seam: called after each completed step (e.g. to kill a cluster between steps). */
export interface LinkHooks {
  afterStep?: (step: string) => Promise<void>;
}

interface Ctx {
  source: MeshCluster;
  target: MeshCluster;
  done: DoneStep[];
  progress: Progress;
  hooks: LinkHooks;
}

async function applyTracked(ctx: Ctx, side: Side, obj: ApiObject & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }): Promise<void> {
  const c = side === 'source' ? ctx.source : ctx.target;
  const id = idOf(obj);
  try {
    const { result } = await applyObject(c.client, collectionPath(id), obj);
    ctx.done.push({ side, id, created: result === 'created' });
    ctx.progress.ok(`${c.name}: ${describe(id)} ${result}`);
  } catch (err) {
    throw kubeError(err, c.context, `applying ${describe(id)}`);
  }
  await ctx.hooks.afterStep?.(`${side}:${id.kind}`);
}

/** Undoes a failed link; returns what could not be undone (with the reason) so the user can finish it. */
async function rollback(ctx: Ctx): Promise<string[]> {
  const left: string[] = [];
  for (const u of rollbackPlan(ctx.done)) {
    if (u.action === 'keep') continue;
    const c = u.side === 'source' ? ctx.source : ctx.target;
    try {
      await c.client.delete(objectPath(u.id));
      ctx.progress.ok(`rolled back: ${c.name}: ${describe(u.id)} deleted`);
    } catch (err) {
      if (isNotFound(err)) continue;
      left.push(`${c.name}: ${describe(u.id)} (${errorMessage(err)})`);
      ctx.progress.warn(`could not roll back ${c.name}: ${describe(u.id)}: ${errorMessage(err)}`);
    }
  }
  return left;
}

/** The Services of TARGET this Link selects (export label of either mode, or --selector), as namespace/name. */
async function selectedServices(target: MeshCluster, spec: Record<string, unknown>): Promise<string[]> {
  const parsed = parseLinkSpec(spec);
  if (!parsed.ok) return [];
  const all = (await target.client.list('/api/v1/services')).items;
  return all
    .filter((svc) => matchesSelector(svc.metadata?.labels, parsed.spec.selector) || matchesSelector(svc.metadata?.labels, parsed.spec.flatSelector))
    .map((svc) => `${svc.metadata?.namespace ?? ''}/${svc.metadata?.name ?? ''}`);
}

/**
 * Ready, and every Service TARGET exports listed in the Link's status (mirrored, or with its problem):
 * a Link turns Ready before its first shadows are written, and the next command a user types reads them.
 */
async function waitReady(ctx: Ctx, spec: Record<string, unknown>, timeoutS: number): Promise<ApiObject> {
  const path = objectPath({ apiVersion: LINK_API_VERSION, kind: LINK_KIND, name: ctx.target.name, namespace: MESH_NAMESPACE });
  const exported = await selectedServices(ctx.target, spec);
  const deadline = Date.now() + timeoutS * 1000;
  let lastMsg = '';
  for (;;) {
    const link = await ctx.source.client.get(path);
    const ready = conditionOf(link, 'Ready');
    const listed = new Set(((link.status as LinkStatus | undefined)?.mirroredServices?.services ?? []).map((m) => `${m.namespace}/${m.name}`));
    const pending = exported.filter((k) => !listed.has(k));
    if (ready?.status === 'True' && pending.length === 0) return link;
    const msg = ready?.status === 'True'
      ? `Ready; ${exported.length - pending.length}/${exported.length} exported Service(s) mirrored`
      : ready ? `${ready.reason ?? ''}: ${ready.message ?? ''}` : 'no status yet';
    if (msg !== lastMsg) {
      ctx.progress.step(`waiting for Link ${ctx.target.name} in ${ctx.source.name} to be Ready (${msg})`);
      lastMsg = msg;
    }
    if (Date.now() > deadline) throw new CliError(`Link ${ctx.target.name} in ${ctx.source.name} not Ready after ${timeoutS}s (${msg})`, ExitCode.Failure, `mesh check ${ctx.source.context}`);
    await sleep(1000);
  }
}

/** One direction: SOURCE mirrors what TARGET exports. Undoes its own steps if any fails. */
export async function linkOne(source: MeshCluster, target: MeshCluster, o: LinkOptions, progress: Progress, hooks: LinkHooks = {}): Promise<LinkResult> {
  const p = await prepareLink(source, target, o, progress);
  const ctx: Ctx = { source, target, done: [], progress, hooks };
  try {
    // TARGET: a dedicated identity that may read Services/EndpointSlices and renew its own token.
    for (const obj of linkTargetObjects(source.name)) await applyTracked(ctx, 'target', obj);
    const sa = linkServiceAccountName(source.name);
    const token = await requestToken(target, sa);
    progress.ok(`${target.name}: token for ${sa} issued (${TOKEN_TTL_SECONDS / 3600} h; the controller renews it)`);
    await hooks.afterStep?.('target:token');
    // SOURCE: the credentials Secret and the Link.
    for (const obj of await sourceObjects(source, target, o, p, sa, token, progress)) await applyTracked(ctx, 'source', obj);
    let link: ApiObject | null = null;
    if (o.wait) {
      try {
        link = await waitReady(ctx, p.spec, o.waitTimeout);
      } catch (err) {
        throw kubeError(err, source.context, `waiting for Link ${target.name}`);
      }
    }
    const status = (link?.status ?? {}) as LinkStatus;
    const mirrored = (status.mirroredServices?.services ?? []).map((s) => ({ namespace: s.namespace, name: s.name, shadow: s.shadow, mode: s.mode, ...(s.problem ? { problem: s.problem } : {}) }));
    return { source: source.name, target: target.name, mode: o.mode, gateway: p.gateway, ready: link !== null, mirrored, notes: p.notes };
  } catch (err) {
    const cause = err instanceof CliError ? err : kubeError(err, source.context, 'linking');
    progress.warn(`link ${source.name} → ${target.name} failed: ${cause.message}; rolling back`);
    const left = await rollback(ctx);
    if (left.length > 0) {
      throw new CliError(`${cause.message}\nrolled back what could be; still left: ${left.join('; ')}`, ExitCode.Failure, `when ${target.name} is reachable again: mesh unlink ${source.context} ${target.context}`);
    }
    throw new CliError(`${cause.message} (every step was rolled back)`, cause.exitCode, cause.hint);
  }
}

export async function link(sourceCtx: string, targetCtx: string, o: LinkOptions, progress: Progress, hooks: LinkHooks = {}): Promise<LinkResult[]> {
  if (o.both && (o.apiServerAddress || o.gatewayAddress)) {
    // Each address belongs to one cluster; with --both it would be used for the other one too.
    throw new CliError('--both cannot take --api-server-address or --gateway-address (they name one cluster)', ExitCode.Usage, `link each way: mesh link ${sourceCtx} ${targetCtx} … and mesh link ${targetCtx} ${sourceCtx} …`);
  }
  const [s, t] = await Promise.all([connect(sourceCtx, o.kubeconfig), connect(targetCtx, o.kubeconfig)]);
  try {
    const [source, target] = await Promise.all([meshCluster(s), meshCluster(t)]);
    const out = [await linkOne(source, target, o, progress, hooks)];
    if (o.both) {
      try {
        out.push(await linkOne(target, source, o, progress, hooks));
      } catch (err) {
        // Both ways or neither: undo the first direction too.
        progress.warn(`reverse link failed; removing ${source.name} → ${target.name} as well`);
        await unlinkOne(source, target, { waitTimeout: Math.min(o.waitTimeout, 30) }, progress).catch(() => undefined);
        throw err;
      }
    }
    return out;
  } finally {
    s.client.close();
    t.client.close();
  }
}

export function registerLink(program: Command): void {
  const cmd = program
    .command('link')
    .summary('make SOURCE mirror the Services that TARGET exports')
    .description('Link two clusters (kubeconfig contexts): SOURCE mirrors what TARGET exports, through gateways or flat.')
    .argument('<source>', 'context of the cluster that mirrors')
    .argument('<target>', 'context of the cluster whose exported Services are mirrored')
    .addOption(kubeconfigOption())
    .addOption(new Option('--mode <mode>', 'gateway: traffic through the mTLS gateways; flat: pod to pod').choices(['gateway', 'flat']).default('gateway'))
    .option('--both', 'link both ways (TARGET mirrors SOURCE too)', false)
    .option('--selector <k=v,...>', 'mirror only exported Services with these labels', zodArg(z.string().transform((s, ctx) => {
      try {
        return parseSelector(s);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: errorMessage(err) });
        return z.NEVER;
      }
    })))
    .option('--api-server-address <url>', 'TARGET\'s API address as SOURCE\'s controller reaches it (default: the kubeconfig\'s)')
    .option('--gateway-address <host:port>', 'TARGET\'s gateway address (default: from the mesh-gateway Service)')
    .addOption(outputOption())
    .option('--no-wait', 'do not wait for the Link to be Ready')
    .option('--wait-timeout <duration>', 'how long to wait for Ready', durationSeconds, 120)
    .option('--dry-run', 'print the objects it would apply, per cluster (-o yaml, the default, or json); change nothing', false)
    .action(async (source: string, target: string, raw: unknown) => {
      const o = parseOptions(LinkOptionsSchema, raw);
      if (o.dryRun) {
        const r = await linkDryRun(source, target, o, stderrProgress());
        process.stdout.write(renderDryRun(r.parts, o.output === 'json' ? 'json' : 'yaml'));
        if (r.missing.length > 0) {
          const m = r.missing[0];
          throw new CliError(`printed ${m.target}'s part only: ${r.missing.map((x) => x.why).join('; ')}`, ExitCode.Failure, `apply it first (mesh link ${m.source} ${m.target} --dry-run -o yaml | kubectl --context ${m.target} apply --server-side -f -), then run this again for ${m.source}'s part`);
        }
        return;
      }
      const res = await link(source, target, o, stderrProgress());
      process.stdout.write(render(res, o.output, () => res.map(linkTable).join('\n')));
    });
  helpText(
    cmd,
    `In TARGET: creates ServiceAccount mesh-system/mesh-link-<source> allowed only to read Services and
EndpointSlices and to request tokens for itself, and a 24 h token (TokenRequest) that SOURCE's
controller renews. Refuses clusters whose trust bundles share no root, and says which roots each has.
Reads TARGET's gateway address from Service mesh-gateway (LoadBalancer ingress IP or hostname, else
NodePort on the node addresses). In SOURCE: writes Secret cluster-credentials-<target> (a kubeconfig
with the token and TARGET's API address and CA) and Link <target>, then waits until the Link is Ready
and prints what is mirrored. If any step fails, every step done is undone, in both clusters. Running it
again refreshes the token (credential rotation).

Flat mode (--mode flat, or Services exported with --mode flat) sends traffic from SOURCE's pods straight
to TARGET's pod IPs: the network must route the clusters' pod CIDRs to each other (link says which, and
how in a mesh sandbox); mesh check tests that path from a pod in SOURCE.

--dry-run writes nothing and prints the objects per cluster, each part after a "# cluster: <context>"
line, for Git (Argo CD, Flux). SOURCE's credentials Secret carries a 24 h token of TARGET's link identity,
so the first dry run prints TARGET's part only (exit 1): apply it, then run the dry run again. The
controller renews that token in the Secret: let your GitOps tool create the Secret but not revert it
(Flux: kustomize.toolkit.fluxcd.io/ssa: IfNotPresent; Argo CD: ignoreDifferences on its data).`,
    [
      'mesh link cluster-a cluster-b',
      'mesh link cluster-a cluster-b --both',
      'mesh link kind-cluster-a kind-cluster-b --api-server-address https://cluster-b-control-plane:6443',
      'mesh link east west --mode flat --selector app=web',
      'mesh link cluster-a cluster-b --dry-run -o yaml | awk \'/^# cluster: /{f=$3".yaml"} {print > f}\'   # cluster-a.yaml, cluster-b.yaml',
    ],
  );
}

function linkTable(r: LinkResult): string {
  const head = `${r.source} → ${r.target} (${r.mode}${r.gateway ? ` via ${r.gateway}` : ''}): ${r.ready ? 'Ready' : 'created (not waited for)'}\n`;
  if (r.mirrored.length === 0) return head + '  no Services mirrored yet (export one: mesh export SERVICE -n NS --context TARGET --label)\n';
  return head + formatTable({ columns: ['NAMESPACE', 'SERVICE', 'SHADOW', 'MODE', 'NOTE'], rows: r.mirrored.map((m) => [m.namespace, m.name, m.shadow, m.mode, m.problem ? `not mirrored: ${m.problem}` : '']) });
}
