// `mesh unlink SOURCE TARGET`: the Link (its shadows go with it), the credentials Secret, and TARGET's
// link identity, in both clusters; what cannot be removed is listed.
import type { Command } from 'commander';
import { z } from 'zod';
import { isNotFound, errorMessage, type KubeObject as ApiObject } from '../kube/index.js';
import { CLUSTER_LABEL, DEFAULT_CLUSTER_DOMAIN, DEFAULT_TRUST_DOMAIN, MIRRORED_LABEL, SLICE_SERVICE_LABEL } from '../api/index.js';
import { CliError, ExitCode } from './errors.js';
import {
  connect, helpText, kubeconfigOption, outputOption, parseOptions, stderrProgress, sleep, durationSeconds, getOrNull,
  type Cluster, type Progress,
} from './common.js';
import { unlinkPlan, type Side } from './plan.js';
import { objectPath, describe, type ObjectId } from './kinds.js';
import { render, OutputFormatSchema } from './output.js';
import { meshCluster, type MeshCluster } from './mesh-cluster.js';

export interface UnlinkResult {
  source: string;
  target: string;
  deleted: string[];
  /** Objects that could not be deleted (e.g. TARGET unreachable), with the reason. */
  left: string[];
}

/** Removes SOURCE's Link (its shadows go with it), the Secret, and TARGET's identity for SOURCE. */
export async function unlinkOne(source: MeshCluster, target: MeshCluster, o: { waitTimeout: number }, progress: Progress): Promise<UnlinkResult> {
  const res: UnlinkResult = { source: source.name, target: target.name, deleted: [], left: [] };
  const del = async (side: Side, id: ObjectId) => {
    const c = side === 'source' ? source : target;
    try {
      await c.client.delete(objectPath(id));
      res.deleted.push(`${c.name}: ${describe(id)}`);
      progress.ok(`${c.name}: ${describe(id)} deleted`);
    } catch (err) {
      if (!isNotFound(err)) {
        res.left.push(`${c.name}: ${describe(id)} (${errorMessage(err)})`);
        progress.warn(`${c.name}: could not delete ${describe(id)}: ${errorMessage(err)}`);
      }
    }
  };
  const plan = unlinkPlan(source.name, target.name);
  const [linkStep, ...rest] = plan;
  await del(linkStep.side, linkStep.id);
  await waitLinkGone(source, linkStep.id, o.waitTimeout, progress);
  await removeShadows(source, target.name, res, progress);
  for (const p of rest) await del(p.side, p.id);
  return res;
}

/** The controller's finalizer removes the Link's shadows; without a controller the Link would hang, so drop it after the wait. */
async function waitLinkGone(c: MeshCluster, id: ObjectId, timeoutS: number, progress: Progress): Promise<void> {
  const deadline = Date.now() + timeoutS * 1000;
  for (;;) {
    const l = await getOrNull(c.client, objectPath(id)).catch(() => null);
    if (!l) return;
    if (Date.now() > deadline) {
      progress.warn(`${c.name}: Link ${id.name} still terminating after ${timeoutS}s (is the controller running?); removing its finalizer`);
      await c.client.patch(objectPath(id), { metadata: { finalizers: null } }).catch(() => undefined);
      return;
    }
    await sleep(500);
  }
}

/** Shadows of `target` the controller did not remove (it was not running): Services and their EndpointSlices. */
async function removeShadows(c: MeshCluster, target: string, res: UnlinkResult, progress: Progress): Promise<void> {
  const sel = `${MIRRORED_LABEL}=true,${CLUSTER_LABEL}=${target}`;
  let shadows: ApiObject[] = [];
  try {
    shadows = (await c.client.list('/api/v1/services', { labelSelector: sel })).items;
  } catch (err) {
    res.left.push(`${c.name}: shadows of ${target} (${errorMessage(err)})`);
    return;
  }
  for (const s of shadows) {
    const ns = s.metadata?.namespace ?? 'default';
    const name = s.metadata?.name ?? '';
    try {
      await c.client.delete(`/api/v1/namespaces/${ns}/services/${name}`);
      const slices = (await c.client.list(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, { labelSelector: `${SLICE_SERVICE_LABEL}=${name}` })).items;
      for (const sl of slices) await c.client.delete(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices/${sl.metadata?.name ?? ''}`).catch(() => undefined);
      res.deleted.push(`${c.name}: shadow Service ${ns}/${name}`);
      progress.ok(`${c.name}: shadow Service ${ns}/${name} deleted`);
    } catch (err) {
      if (!isNotFound(err)) res.left.push(`${c.name}: shadow Service ${ns}/${name} (${errorMessage(err)})`);
    }
  }
}

/** A cluster for unlink: if it is unreachable we still clean the other side, so fall back to the context name. */
async function meshClusterOrContext(c: Cluster, progress: Progress): Promise<MeshCluster> {
  try {
    return await meshCluster(c);
  } catch (err) {
    progress.warn(`${c.context}: ${errorMessage(err)}`);
    return { ...c, name: c.context, clusterDomain: DEFAULT_CLUSTER_DOMAIN, trustDomain: DEFAULT_TRUST_DOMAIN };
  }
}

const UnlinkOptionsSchema = z.object({
  kubeconfig: z.string().optional(),
  both: z.boolean().default(false),
  output: OutputFormatSchema,
  waitTimeout: z.number().int().positive().default(60),
  targetName: z.string().optional(),
});

export async function unlink(sourceCtx: string, targetCtx: string, o: z.infer<typeof UnlinkOptionsSchema>, progress: Progress): Promise<UnlinkResult[]> {
  const [s, t] = await Promise.all([connect(sourceCtx, o.kubeconfig), connect(targetCtx, o.kubeconfig)]);
  try {
    const source = await meshClusterOrContext(s, progress);
    const target = await meshClusterOrContext(t, progress);
    // The Link is named after the target cluster: if TARGET is down, its name comes from SOURCE's Links.
    if (target.name === target.context && o.targetName) target.name = o.targetName;
    const out = [await unlinkOne(source, target, o, progress)];
    if (o.both) out.push(await unlinkOne(target, source, o, progress));
    return out;
  } finally {
    s.client.close();
    t.client.close();
  }
}

export function registerUnlink(program: Command): void {
  const un = program
    .command('unlink')
    .summary('remove a link and everything it made, in both clusters')
    .description('Remove the Link to TARGET from SOURCE (its shadows go with it), the credentials Secret, and TARGET\'s link identity.')
    .argument('<source>', 'context of the mirroring cluster')
    .argument('<target>', 'context of the mirrored cluster')
    .addOption(kubeconfigOption())
    .option('--both', 'also remove the reverse link', false)
    .option('--target-name <name>', 'TARGET\'s cluster name, when TARGET is unreachable and its context name differs')
    .addOption(outputOption())
    .option('--wait-timeout <duration>', 'how long the controller may take to remove the shadows', durationSeconds, 60)
    .action(async (source: string, target: string, raw: unknown) => {
      const o = parseOptions(UnlinkOptionsSchema, raw);
      const res = await unlink(source, target, o, stderrProgress());
      process.stdout.write(render(res, o.output, () => res.map((r) => `${r.source} → ${r.target}: ${r.deleted.length} object(s) removed${r.left.length ? `; left: ${r.left.join('; ')}` : ''}\n`).join('')));
      const left = res.flatMap((r) => r.left);
      if (left.length > 0) throw new CliError(`could not remove ${left.length} object(s): ${left.join('; ')}`, ExitCode.Failure, 'run mesh unlink again when both clusters are reachable');
    });
  helpText(
    un,
    `Deletes Link <target> in SOURCE and waits for the controller to remove its shadow Services (removing
any left if no controller runs), deletes Secret cluster-credentials-<target>, then in TARGET the
ServiceAccount mesh-link-<source> (which revokes its token) and its Role, ClusterRole and bindings.
Nothing is left behind in either cluster; what cannot be removed is listed and the exit code is 1.`,
    ['mesh unlink cluster-a cluster-b', 'mesh unlink cluster-a cluster-b --both'],
  );
}
