// `mesh link --dry-run`: the objects link would apply in TARGET (its link identity for SOURCE) and in
// SOURCE (the credentials Secret and the Link), per cluster, writing nothing. The Secret carries a token
// of TARGET's link identity (TokenRequest stores nothing), so SOURCE's part can be printed only once that
// identity exists; before, the dry run prints TARGET's part alone and says to apply it first.
import { MESH_NAMESPACE, linkServiceAccountName } from '../api/index.js';
import { connect, kubeError, getOrNull, type Progress } from './common.js';
import { linkTargetObjects } from './plan.js';
import { meshCluster, type MeshCluster } from './mesh-cluster.js';
import { prepareLink, requestToken, sourceObjects, type LinkOptions } from './link-steps.js';
import { groupByContext, type ClusterObjects } from './dry-run.js';

export interface LinkDryRun {
  parts: ClusterObjects[];
  /** Why SOURCE's part is missing, per direction (its link identity does not exist in TARGET yet). */
  missing: { source: string; target: string; why: string }[];
}

async function dryRunOne(source: MeshCluster, target: MeshCluster, o: LinkOptions, progress: Progress): Promise<LinkDryRun> {
  const p = await prepareLink(source, target, o, progress);
  const targetPart: ClusterObjects = { context: target.context, objects: linkTargetObjects(source.name) };
  const sa = linkServiceAccountName(source.name);
  let identity;
  try {
    identity = await getOrNull(target.client, `/api/v1/namespaces/${MESH_NAMESPACE}/serviceaccounts/${sa}`);
  } catch (err) {
    throw kubeError(err, target.context, `reading ServiceAccount ${MESH_NAMESPACE}/${sa}`);
  }
  if (!identity) {
    const why = `${target.name} has no link identity for ${source.name} yet (ServiceAccount ${MESH_NAMESPACE}/${sa}), so there is no token for ${source.name}'s credentials Secret`;
    return { parts: [targetPart], missing: [{ source: source.context, target: target.context, why }] };
  }
  const token = await requestToken(target, sa);
  return { parts: [targetPart, { context: source.context, objects: await sourceObjects(source, target, o, p, sa, token, progress) }], missing: [] };
}

export async function linkDryRun(sourceCtx: string, targetCtx: string, o: LinkOptions, progress: Progress): Promise<LinkDryRun> {
  const [s, t] = await Promise.all([connect(sourceCtx, o.kubeconfig), connect(targetCtx, o.kubeconfig)]);
  try {
    const [source, target] = await Promise.all([meshCluster(s), meshCluster(t)]);
    const runs = [await dryRunOne(source, target, o, progress)];
    if (o.both) runs.push(await dryRunOne(target, source, o, progress));
    return { parts: groupByContext(runs.flatMap((r) => r.parts)), missing: runs.flatMap((r) => r.missing) };
  } finally {
    s.client.close();
    t.client.close();
  }
}
