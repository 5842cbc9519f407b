// `mesh uninstall CONTEXT`: every Link (the controller removes their shadows), shadows left behind, the
// link identities other clusters were given here, what mesh export/authz wrote on this cluster's Services
// and Namespaces and its ServiceExports (unless --keep-exports), and everything install applied. What
// stays is said, not implied.
import type { Command } from 'commander';
import { z } from 'zod';
import { isNotFound, type KubeClient, type KubeObject as ApiObject } from '../kube/index.js';
import {
  ALLOWED_IDENTITIES_ANNOTATION, DEFAULT_ALLOWED_IDENTITIES_ANNOTATION, EXPORT_LABEL, EXPORT_TO_ANNOTATION, LINK_API_VERSION, LINK_KIND, LINK_SOURCE_LABEL, LINK_TARGET_LABEL, MESH_NAMESPACE, MIRRORED_LABEL, SLICE_MANAGED_BY,
  SLICE_MANAGED_BY_LABEL,
} from '../api/index.js';
import {
  connect, helpText, kubeconfigOption, outputOption, parseOptions, kubeError, stderrProgress, sleep, durationSeconds, getOrNull,
  type Cluster, type Progress,
} from './common.js';
import { unpatchCoredns } from './coredns.js';
import { installPlan, uninstallPlan } from './plan.js';
import { objectPath, describe, type ObjectId } from './kinds.js';
import { render, OutputFormatSchema } from './output.js';
import { LINKS_PATH } from './cmd-links.js';
import { cleanUserObjects, userObjectsLeft, SERVICE_EXPORT_CRD, type ExportsCleanup } from './uninstall-exports.js';
import type { AppliedObject } from './cmd-install.js';

const UninstallOptionsSchema = z.object({
  kubeconfig: z.string().optional(),
  output: OutputFormatSchema,
  waitTimeout: z.number().int().positive().default(60),
  keepExports: z.boolean().default(false),
});
type UninstallOptions = z.infer<typeof UninstallOptionsSchema>;

export interface UninstallResult extends ExportsCleanup {
  context: string;
  objects: AppliedObject[];
  /** What uninstall leaves in place, in words. */
  left: string[];
}

async function listOrEmpty(client: KubeClient, path: string, labelSelector?: string): Promise<ApiObject[]> {
  try {
    return (await client.list(path, labelSelector ? { labelSelector } : {})).items;
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
}

async function deleteIfPresent(client: KubeClient, id: ObjectId): Promise<'deleted' | 'absent'> {
  try {
    await client.delete(objectPath(id));
    return 'deleted';
  } catch (err) {
    if (isNotFound(err)) return 'absent';
    throw err;
  }
}

function linkId(l: ApiObject): ObjectId {
  return { apiVersion: LINK_API_VERSION, kind: LINK_KIND, name: l.metadata?.name ?? '', namespace: MESH_NAMESPACE };
}

type RecordFn = (id: ObjectId, result: AppliedObject['result']) => void;

/** 1. Links: the controller's finalizer removes each Link's shadows; give it the chance, then drop the finalizers. */
async function removeLinks(c: Cluster, o: UninstallOptions, record: RecordFn, progress: Progress): Promise<void> {
  for (const l of await listOrEmpty(c.client, LINKS_PATH)) record(linkId(l), await deleteIfPresent(c.client, linkId(l)));
  const deadline = Date.now() + o.waitTimeout * 1000;
  for (;;) {
    const left = await listOrEmpty(c.client, LINKS_PATH);
    if (left.length === 0) return;
    if (Date.now() > deadline) {
      // No controller to run the finalizer (or it is stuck): drop it; the shadows go in the next step.
      progress.warn(`${left.length} Link(s) still terminating after ${o.waitTimeout}s; removing their finalizers`);
      for (const l of left) await c.client.patch(objectPath(linkId(l)), { metadata: { finalizers: null } }).catch(() => undefined);
      return;
    }
    progress.step(`waiting for ${left.length} Link(s) to release their shadows`);
    await sleep(1000);
  }
}

/** 2. Shadows left behind (controller already gone): Services and EndpointSlices the mirror made. */
async function removeShadows(c: Cluster, record: RecordFn): Promise<void> {
  for (const s of await listOrEmpty(c.client, '/api/v1/services', `${MIRRORED_LABEL}=true`)) {
    const id = { apiVersion: 'v1', kind: 'Service', name: s.metadata?.name ?? '', namespace: s.metadata?.namespace };
    record(id, await deleteIfPresent(c.client, id));
  }
  for (const s of await listOrEmpty(c.client, '/apis/discovery.k8s.io/v1/endpointslices', `${SLICE_MANAGED_BY_LABEL}=${SLICE_MANAGED_BY}`)) {
    const id = { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', name: s.metadata?.name ?? '', namespace: s.metadata?.namespace };
    try {
      await c.client.delete(`/apis/discovery.k8s.io/v1/namespaces/${id.namespace}/endpointslices/${id.name}`);
      record(id, 'deleted');
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}

/** 3. Identities other clusters' links use to read this one, and the credentials this cluster holds for its own Links. */
async function removeLinkIdentities(c: Cluster, record: RecordFn): Promise<void> {
  for (const kind of ['ClusterRoleBinding', 'ClusterRole'] as const) {
    const plural = kind === 'ClusterRole' ? 'clusterroles' : 'clusterrolebindings';
    for (const r of await listOrEmpty(c.client, `/apis/rbac.authorization.k8s.io/v1/${plural}`, LINK_SOURCE_LABEL)) {
      const id = { apiVersion: 'rbac.authorization.k8s.io/v1', kind, name: r.metadata?.name ?? '' };
      record(id, await deleteIfPresent(c.client, id));
    }
  }
  const nsScoped: [string, string, string, string][] = [
    ['v1', 'ServiceAccount', `/api/v1/namespaces/${MESH_NAMESPACE}/serviceaccounts`, LINK_SOURCE_LABEL],
    ['rbac.authorization.k8s.io/v1', 'RoleBinding', `/apis/rbac.authorization.k8s.io/v1/namespaces/${MESH_NAMESPACE}/rolebindings`, LINK_SOURCE_LABEL],
    ['rbac.authorization.k8s.io/v1', 'Role', `/apis/rbac.authorization.k8s.io/v1/namespaces/${MESH_NAMESPACE}/roles`, LINK_SOURCE_LABEL],
    ['v1', 'Secret', `/api/v1/namespaces/${MESH_NAMESPACE}/secrets`, LINK_TARGET_LABEL],
  ];
  for (const [apiVersion, kind, path, label] of nsScoped) {
    for (const r of await listOrEmpty(c.client, path, label)) {
      const id = { apiVersion, kind, name: r.metadata?.name ?? '', namespace: MESH_NAMESPACE };
      record(id, await deleteIfPresent(c.client, id));
    }
  }
}

/** What uninstall never touches, said plainly (the README promises nothing else is left). */
function whatStays(context: string, userObjects: string[]): string[] {
  return [
    'your Services and workloads, and the namespaces they live in',
    ...userObjects,
    'the trust root files (root.crt, root.key) where you keep them, off-cluster',
    `other clusters' Links to ${context}: they report it unreachable until you run there: mesh unlink <their context> ${context}`,
  ];
}

export async function uninstall(context: string, o: UninstallOptions, progress: Progress): Promise<UninstallResult> {
  const c = await connect(context, o.kubeconfig);
  const objects: AppliedObject[] = [];
  const record: RecordFn = (id, result) => {
    objects.push({ kind: id.kind, name: id.name, namespace: id.namespace, result });
    if (result === 'deleted') progress.ok(`${describe(id)} deleted`);
  };
  try {
    await removeLinks(c, o, record, progress);
    await removeShadows(c, record);
    await removeLinkIdentities(c, record);
    // 4. What mesh export and mesh authz wrote on the user's objects, and the ServiceExports.
    const exports = await cleanUserObjects(c.client, o.keepExports, record, progress);
    // 5. What install applied, in reverse (names do not depend on the install's values); kept ServiceExports keep their CRD.
    const plan = installPlan({ clusterName: 'x', image: 'x', version: 'x' }, { issuerCertPem: '', issuerKeyPem: '', rootsPem: '' });
    const keptCrd = (id: ObjectId): boolean => exports.keptServiceExports.length > 0 && id.kind === 'CustomResourceDefinition' && id.name === SERVICE_EXPORT_CRD;
    for (const id of uninstallPlan(plan).filter((x) => !keptCrd(x))) record(id, await deleteIfPresent(c.client, id));
    // mesh-dns is gone: CoreDNS must not keep forwarding clusterset.local to its old address.
    if ((await unpatchCoredns(c.client)) === 'removed') progress.ok('CoreDNS: the clusterset.local block install added is removed from kube-system/coredns');
    // The namespace finalizes asynchronously (the namespace controller empties it); wait, but do not fail on it.
    const nsDeadline = Date.now() + o.waitTimeout * 1000;
    for (let waited = false; await getOrNull(c.client, `/api/v1/namespaces/${MESH_NAMESPACE}`); waited = true) {
      if (Date.now() > nsDeadline) {
        progress.warn(`namespace ${MESH_NAMESPACE} is still terminating after ${o.waitTimeout}s (everything in it was deleted; the namespace controller finishes it)`);
        break;
      }
      if (!waited) progress.step(`waiting for namespace ${MESH_NAMESPACE} to terminate`);
      await sleep(1000);
    }
    return { context, objects, ...exports, left: whatStays(context, userObjectsLeft(exports, o.keepExports)) };
  } catch (err) {
    throw kubeError(err, context, 'uninstalling');
  } finally {
    c.client.close();
  }
}

function summary(r: UninstallResult): string {
  const deleted = r.objects.filter((x) => x.result === 'deleted').length;
  const labels = r.unexported.length ? `, export label removed from ${r.unexported.length} Service(s)` : '';
  const other = r.metadataRemoved.filter((m) => m.keys.some((k) => k !== `label ${EXPORT_LABEL}`)).length;
  const annotations = other ? `, mesh annotations removed from ${other} object(s)` : '';
  return `${r.context}: mesh removed (${deleted} object(s) deleted${labels}${annotations})\nleft in place:\n${r.left.map((l) => `  - ${l}`).join('\n')}\n`;
}

export function registerUninstall(program: Command): void {
  const un = program
    .command('uninstall')
    .summary('remove the mesh from a cluster, shadows and exports included')
    .description('Remove everything mesh install made in CONTEXT, every Link and shadow Service, link identities given to other clusters, and the exports: the labels and annotations mesh wrote on its Services and Namespaces, and its ServiceExports.')
    .argument('<context>', 'kubeconfig context of the cluster')
    .addOption(kubeconfigOption())
    .addOption(outputOption())
    .option('--wait-timeout <duration>', 'how long the controller may take to remove shadows', durationSeconds, 60)
    .option('--keep-exports', `keep the exports (to install again later): the ${EXPORT_LABEL} label and the annotations mesh wrote, the ServiceExports and their CRD`, false)
    .action(async (context: string, raw: unknown) => {
      const o = parseOptions(UninstallOptionsSchema, raw);
      const r = await uninstall(context, o, stderrProgress());
      // Each object is on stderr as it goes; the table again on stdout only when asked for (-o).
      process.stdout.write(render(r, o.output, () => summary(r)));
    });
  helpText(
    un,
    `Deletes the Links first so that the controller removes their shadows (finalizer), waits for that
(--wait-timeout), then removes any shadow Service or EndpointSlice still labelled as mirrored, the
mesh-link-* identities other clusters use to read this one, the exports (not the Services), and
everything install applied, CRD last. The exports are what mesh export and mesh authz wrote: the label
${EXPORT_LABEL} and the annotations ${EXPORT_TO_ANNOTATION} and ${ALLOWED_IDENTITIES_ANNOTATION}
on Services, ${DEFAULT_ALLOWED_IDENTITIES_ANNOTATION} on Namespaces, and the ServiceExports
(with the annotations on them, e.g. multicluster.mesh.io/traffic-policy); --keep-exports keeps them all,
and the ServiceExport CRD with them. What stays, and says so: your Services, workloads and namespaces;
every mesh label or annotation still on them, by name, with the objects that carry it; the trust root
files; other clusters' Links to this one (they report it unreachable until you run mesh unlink there).
-o json|yaml lists every object with what was done to it.`,
    ['mesh uninstall kind-cluster-a', 'mesh uninstall cluster-b --keep-exports', 'mesh uninstall cluster-a -o json'],
  );
}
