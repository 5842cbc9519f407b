// `mesh install CONTEXT` and `mesh uninstall CONTEXT`.
import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { applyObject, isNotFound, type KubeClient, type KubeObject as ApiObject } from '../kube/index.js';
import { createIssuer, readRoot, loadAuthority, isTrustError, type CertificateAuthority } from '../trust/index.js';
import { CliError, ExitCode } from './errors.js';
import {
  connect, helpText, kubeconfigOption, outputOption, parseOptions, kubeError, stderrProgress, sleep, durationSeconds,
  type Cluster, type Progress,
} from './common.js';
import {
  CLUSTER_NAME_LABEL, CONTROLLER_NAME, DEFAULT_CLUSTER_DOMAIN, GATEWAY_NAME, ISSUER_SECRET, LINK_API_VERSION, LINK_KIND, LINK_SOURCE_LABEL, LINK_TARGET_LABEL,
  MESH_NAMESPACE, MIRRORED_LABEL, SLICE_MANAGED_BY, SLICE_MANAGED_BY_LABEL,
} from '../api/index.js';
import { ClusterNameSchema, GatewayServiceTypeSchema, toYamlStream, type KubeObject } from './render.js';
import { installPlan, uninstallPlan, secretText, type TrustMaterial } from './plan.js';
import { collectionPath, objectPath, describe, idOf, type ObjectId } from './kinds.js';
import { render, formatTable, OutputFormatSchema } from './output.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

/** An issuer this close to expiry is replaced on the next install. */
const ISSUER_RENEW_BEFORE_MS = 30 * 86_400_000;

const InstallOptionsSchema = z.object({
  kubeconfig: z.string().optional(),
  clusterName: ClusterNameSchema.optional(),
  trustRoot: z.string().optional(),
  clusterDomain: z.string().default(DEFAULT_CLUSTER_DOMAIN),
  trustDomain: z.string().optional(),
  gatewayServiceType: GatewayServiceTypeSchema.default('LoadBalancer'),
  ha: z.boolean().default(false),
  image: z.string().optional(),
  dryRun: z.boolean().default(false),
  output: OutputFormatSchema,
  wait: z.boolean().default(true),
  waitTimeout: z.number().int().positive().default(300),
});
type InstallOptions = z.infer<typeof InstallOptionsSchema>;

export interface AppliedObject {
  kind: string;
  name: string;
  namespace?: string;
  result: 'created' | 'updated' | 'unchanged' | 'deleted' | 'absent';
}

export interface InstallResult {
  context: string;
  clusterName: string;
  issuer: 'created' | 'kept' | 'replaced';
  objects: AppliedObject[];
  ready: boolean;
}

/** `cluster-a` from `kind-cluster-a`? No: the context name must itself be a valid cluster name, or --cluster-name given. */
function clusterNameFor(context: string, given: string | undefined): string {
  if (given) return given;
  const r = ClusterNameSchema.safeParse(context);
  if (!r.success) throw new CliError(`context name ${JSON.stringify(context)} is not a valid cluster name`, ExitCode.Usage, 'pass --cluster-name (a DNS label such as cluster-a)');
  return r.data;
}

async function readRootDir(dir: string): Promise<CertificateAuthority> {
  try {
    return await readRoot(dir);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new CliError(`cannot read the trust root from ${dir}: ${msg}`, ExitCode.Failure, 'create one with `mesh trust create-root --out DIR` (root.crt + root.key) and keep it off-cluster');
  }
}

/**
 * The issuer to install: the live one if it chains to this root, belongs to this cluster and is not near
 * expiry (so re-running install changes nothing); otherwise a fresh one signed by the root.
 */
function chooseIssuer(root: CertificateAuthority, clusterName: string, live: ApiObject | null, now = new Date()): { ca: CertificateAuthority; state: InstallResult['issuer'] } {
  if (live) {
    try {
      const cert = secretText(live, 'tls.crt');
      const key = secretText(live, 'tls.key');
      if (cert && key) {
        const ca = loadAuthority('issuer', cert, key);
        const signedByRoot = ca.cert.x509.checkIssued(root.cert.x509) && ca.cert.x509.verify(root.cert.x509.publicKey);
        if (signedByRoot && ca.clusterName === clusterName && ca.notAfter.getTime() - now.getTime() > ISSUER_RENEW_BEFORE_MS) return { ca, state: 'kept' };
      }
    } catch (err) {
      if (!isTrustError(err)) throw err;
      // Another root, expired or unreadable: replaced below.
    }
    return { ca: createIssuer({ root, clusterName }), state: 'replaced' };
  }
  return { ca: createIssuer({ root, clusterName }), state: 'created' };
}

async function getOrNull(client: KubeClient, id: ObjectId): Promise<ApiObject | null> {
  try {
    return await client.get(objectPath(id));
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

interface DeploymentStatus {
  metadata?: { generation?: number };
  spec?: { replicas?: number };
  status?: { readyReplicas?: number; observedGeneration?: number; updatedReplicas?: number };
}

/** Ready = the current generation is rolled out and every replica is ready. */
export function deploymentReady(d: DeploymentStatus): { ready: boolean; have: number; want: number } {
  const want = d.spec?.replicas ?? 1;
  const have = d.status?.readyReplicas ?? 0;
  const observed = (d.status?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0);
  return { ready: observed && have >= want && (d.status?.updatedReplicas ?? have) >= want, have, want };
}

interface PodStatusLike {
  metadata?: { name?: string };
  status?: { phase?: string; containerStatuses?: { ready?: boolean; restartCount?: number; state?: { waiting?: { reason?: string; message?: string } } }[] };
}

/** Why the pods of a Deployment are not ready, in a few words (CrashLoopBackOff, ErrImagePull, Pending…). */
export function podTrouble(pods: PodStatusLike[]): string | undefined {
  const notes: string[] = [];
  for (const p of pods) {
    const waiting = (p.status?.containerStatuses ?? []).map((c) => c.state?.waiting?.reason).find((r) => r);
    const restarts = (p.status?.containerStatuses ?? []).reduce((n, c) => n + (c.restartCount ?? 0), 0);
    const why = waiting ?? (p.status?.phase && p.status.phase !== 'Running' ? p.status.phase : undefined);
    if (why) notes.push(`${p.metadata?.name ?? '?'}: ${why}${restarts ? `, ${restarts} restarts` : ''}`);
  }
  return notes.length ? notes.join('; ') : undefined;
}

async function waitForDeployments(c: Cluster, names: string[], timeoutS: number, progress: Progress): Promise<void> {
  const deadline = Date.now() + timeoutS * 1000;
  const last = new Map<string, string>();
  const trouble = new Map<string, string>();
  for (;;) {
    const pending: string[] = [];
    for (const name of names) {
      const d = (await c.client.get(objectPath({ apiVersion: 'apps/v1', kind: 'Deployment', name, namespace: MESH_NAMESPACE }))) as DeploymentStatus;
      const r = deploymentReady(d);
      let why: string | undefined;
      if (!r.ready) {
        const pods = await c.client.list<PodStatusLike>(`/api/v1/namespaces/${MESH_NAMESPACE}/pods`, { labelSelector: `app.kubernetes.io/name=${name}` }).catch(() => ({ items: [] }));
        why = podTrouble(pods.items);
        if (why) trouble.set(name, why);
      }
      const line = `${name}: ${r.have}/${r.want} ready${why ? ` (${why})` : ''}`;
      if (last.get(name) !== line) {
        (r.ready ? progress.ok : progress.step)(line);
        last.set(name, line);
      }
      if (!r.ready) pending.push(name);
    }
    if (pending.length === 0) return;
    if (Date.now() > deadline) {
      const why = pending.map((p) => trouble.get(p)).filter((w) => w).join('; ');
      throw new CliError(`${c.context}: ${pending.join(', ')} not ready after ${timeoutS}s${why ? ` (${why})` : ''}`, ExitCode.Failure, `kubectl --context ${c.context} -n ${MESH_NAMESPACE} describe deployment ${pending[0]}; kubectl --context ${c.context} -n ${MESH_NAMESPACE} logs deployment/${pending[0]}`);
    }
    await sleep(1000);
  }
}

export async function install(context: string, o: InstallOptions, progress: Progress): Promise<{ result: InstallResult; plan: KubeObject[] }> {
  const clusterName = clusterNameFor(context, o.clusterName);
  if (!o.trustRoot) throw new CliError('--trust-root DIR is required: every cluster\'s issuer is signed by the one shared root', ExitCode.Usage, 'create it once with `mesh trust create-root --out DIR`, then pass the same DIR to every install');
  const root = await readRootDir(o.trustRoot);
  const values = {
    clusterName,
    clusterDomain: o.clusterDomain,
    trustDomain: o.trustDomain ?? root.trustDomain,
    ha: o.ha,
    gatewayServiceType: o.gatewayServiceType,
    image: o.image ?? `mesh-federation:${pkg.version}`,
    version: pkg.version,
  };
  if (values.trustDomain !== root.trustDomain) {
    throw new CliError(`--trust-domain ${values.trustDomain} differs from the root's trust domain ${root.trustDomain}`, ExitCode.Usage);
  }

  if (o.dryRun) {
    const issuer = createIssuer({ root, clusterName });
    const trust: TrustMaterial = { issuerCertPem: issuer.certPem, issuerKeyPem: issuer.keyPem, rootsPem: root.certPem };
    const plan = installPlan(values, trust);
    return { result: { context, clusterName, issuer: 'created', objects: plan.map((p) => ({ ...idOf(p), result: 'unchanged' })), ready: false }, plan };
  }

  const c = await connect(context, o.kubeconfig);
  try {
    progress.step(`installing mesh ${pkg.version} into ${context} as cluster ${clusterName}`);
    let liveIssuer: ApiObject | null;
    try {
      liveIssuer = await getOrNull(c.client, { apiVersion: 'v1', kind: 'Secret', name: ISSUER_SECRET, namespace: MESH_NAMESPACE });
    } catch (err) {
      throw kubeError(err, context, 'reading the issuer Secret');
    }
    const liveNs = await getOrNull(c.client, { apiVersion: 'v1', kind: 'Namespace', name: MESH_NAMESPACE }).catch(() => null);
    const liveName = (liveNs?.metadata?.labels ?? {})[CLUSTER_NAME_LABEL];
    if (liveName && liveName !== clusterName) {
      throw new CliError(`${context} is already installed as cluster ${liveName}, not ${clusterName}`, ExitCode.Failure, `uninstall first (mesh uninstall ${context}) or pass --cluster-name ${liveName}`);
    }
    const chosen = chooseIssuer(root, clusterName, liveIssuer);
    progress.ok(`issuer for ${clusterName}: ${chosen.state} (valid until ${chosen.ca.notAfter.toISOString()})`);
    const trust: TrustMaterial = { issuerCertPem: chosen.ca.certPem, issuerKeyPem: chosen.ca.keyPem, rootsPem: root.certPem };
    const plan = installPlan(values, trust);
    const objects: AppliedObject[] = [];
    for (const obj of plan) {
      const id = idOf(obj);
      try {
        const { result } = await applyObject(c.client, collectionPath(id), obj);
        objects.push({ kind: id.kind, name: id.name, namespace: id.namespace, result });
        progress.ok(`${describe(id)} ${result}`);
      } catch (err) {
        throw kubeError(err, context, `applying ${describe(id)}`);
      }
    }
    let ready = false;
    if (o.wait) {
      try {
        await waitForDeployments(c, [CONTROLLER_NAME, GATEWAY_NAME], o.waitTimeout, progress);
      } catch (err) {
        throw kubeError(err, context, 'waiting for the controller and gateway');
      }
      ready = true;
    }
    return { result: { context, clusterName, issuer: chosen.state, objects, ready }, plan };
  } finally {
    c.client.close();
  }
}

const UninstallOptionsSchema = z.object({
  kubeconfig: z.string().optional(),
  output: OutputFormatSchema,
  waitTimeout: z.number().int().positive().default(60),
});
type UninstallOptions = z.infer<typeof UninstallOptionsSchema>;

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

import { LINKS_PATH } from './cmd-links.js';

/** Everything install made, the Links and their shadows, and link identities other clusters were given here. */
export async function uninstall(context: string, o: UninstallOptions, progress: Progress): Promise<{ context: string; objects: AppliedObject[] }> {
  const c = await connect(context, o.kubeconfig);
  const objects: AppliedObject[] = [];
  const record = (id: ObjectId, result: AppliedObject['result']) => {
    objects.push({ kind: id.kind, name: id.name, namespace: id.namespace, result });
    if (result === 'deleted') progress.ok(`${describe(id)} deleted`);
  };
  try {
    // 1. Links: the controller's finalizer removes each Link's shadows; give it the chance.
    const links = await listOrEmpty(c.client, LINKS_PATH);
    for (const l of links) record(linkId(l), await deleteIfPresent(c.client, linkId(l)));
    const deadline = Date.now() + o.waitTimeout * 1000;
    for (;;) {
      const left = await listOrEmpty(c.client, LINKS_PATH);
      if (left.length === 0) break;
      if (Date.now() > deadline) {
        // No controller to run the finalizer (or it is stuck): drop it; the shadows go in step 2.
        progress.warn(`${left.length} Link(s) still terminating after ${o.waitTimeout}s; removing their finalizers`);
        for (const l of left) await c.client.patch(objectPath(linkId(l)), { metadata: { finalizers: null } }).catch(() => undefined);
        break;
      }
      progress.step(`waiting for ${left.length} Link(s) to release their shadows`);
      await sleep(1000);
    }
    // 2. Shadows left behind (controller already gone): Services and EndpointSlices the mirror made.
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
    // 3. Identities that other clusters' links use to read this one (cluster-scoped halves; the rest is in mesh-system).
    for (const kind of ['ClusterRoleBinding', 'ClusterRole'] as const) {
      const plural = kind === 'ClusterRole' ? 'clusterroles' : 'clusterrolebindings';
      for (const r of await listOrEmpty(c.client, `/apis/rbac.authorization.k8s.io/v1/${plural}`, LINK_SOURCE_LABEL)) {
        const id = { apiVersion: 'rbac.authorization.k8s.io/v1', kind, name: r.metadata?.name ?? '' };
        record(id, await deleteIfPresent(c.client, id));
      }
    }
    // ... and their namespaced halves, and the credentials this cluster holds for its own Links.
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
    // 4. What install applied, in reverse (names do not depend on the install's values).
    const plan = installPlan({ clusterName: 'x', image: 'x', version: 'x' }, { issuerCertPem: '', issuerKeyPem: '', rootsPem: '' });
    for (const id of uninstallPlan(plan)) record(id, await deleteIfPresent(c.client, id));
    // The namespace finalizes asynchronously (the namespace controller empties it); wait, but do not fail on it.
    const nsDeadline = Date.now() + o.waitTimeout * 1000;
    while (await getOrNull(c.client, { apiVersion: 'v1', kind: 'Namespace', name: MESH_NAMESPACE })) {
      if (Date.now() > nsDeadline) {
        progress.warn(`namespace ${MESH_NAMESPACE} is still terminating after ${o.waitTimeout}s (everything in it was deleted; the namespace controller finishes it)`);
        break;
      }
      progress.step(`waiting for namespace ${MESH_NAMESPACE} to terminate`);
      await sleep(1000);
    }
    return { context, objects };
  } catch (err) {
    throw kubeError(err, context, 'uninstalling');
  } finally {
    c.client.close();
  }
}

function linkId(l: ApiObject): ObjectId {
  return { apiVersion: LINK_API_VERSION, kind: LINK_KIND, name: l.metadata?.name ?? '', namespace: MESH_NAMESPACE };
}

function objectsTable(objs: AppliedObject[]): string {
  return formatTable({ columns: ['KIND', 'NAMESPACE', 'NAME', 'RESULT'], rows: objs.map((o) => [o.kind, o.namespace ?? '', o.name, o.result]) });
}

export function registerInstall(program: Command): void {
  const cmd = program
    .command('install')
    .summary('install the mesh into a cluster (idempotent: upgrades in place)')
    .description('Install the mesh into the cluster of kubeconfig context CONTEXT: issuer, CRDs, namespace, RBAC, controller, gateway.')
    .argument('<context>', 'kubeconfig context of the cluster')
    .addOption(kubeconfigOption())
    .option('--cluster-name <name>', 'this cluster\'s name in the mesh (default: the context name)')
    .option('--trust-root <dir>', 'directory with the shared root.crt and root.key (the issuer is signed by it)')
    .option('--cluster-domain <domain>', 'the cluster\'s DNS domain', DEFAULT_CLUSTER_DOMAIN)
    .option('--trust-domain <domain>', 'trust domain (default: the root\'s)')
    .addOption(new Option('--gateway-service-type <type>', 'how other clusters reach the gateway').choices(['LoadBalancer', 'NodePort']).default('LoadBalancer'))
    .option('--ha', 'two controller replicas with leader election, two gateways', false)
    .option('--image <ref>', `container image (default mesh-federation:${pkg.version})`)
    .option('--dry-run', 'print what would be applied (-o yaml|json), change nothing', false)
    .addOption(outputOption())
    .option('--no-wait', 'do not wait for the controller and gateway to be ready')
    .option('--wait-timeout <duration>', 'how long to wait for readiness', durationSeconds, 300)
    .action(async (context: string, raw: unknown) => {
      const o = parseOptions(InstallOptionsSchema, raw);
      const { result, plan } = await install(context, o, stderrProgress());
      if (o.dryRun) {
        process.stdout.write(o.output === 'json' ? JSON.stringify({ apiVersion: 'v1', kind: 'List', items: plan }, null, 2) + '\n' : toYamlStream(plan));
        return;
      }
      process.stdout.write(render(result, o.output, () => objectsTable(result.objects) + `\n${result.clusterName}: issuer ${result.issuer}${result.ready ? ', controller and gateway ready' : ''}\n`));
    });
  helpText(
    cmd,
    `Issues the cluster's issuer certificate from the shared trust root (--trust-root; the root's key never
enters the cluster), stores it in Secret mesh-system/mesh-issuer with the root in ConfigMap
mesh-trust-roots, applies the Link CRD and the manifests in manifests/ rendered with these values, and
waits until the controller and gateway are ready, showing progress on stderr. Running it again upgrades
in place: unchanged objects stay unchanged, the issuer is kept while it chains to the root and is not
within 30 days of expiry. --dry-run -o yaml prints every object (including the new issuer key).`,
    [
      'mesh install kind-cluster-a --cluster-name cluster-a --trust-root ./trust --gateway-service-type NodePort',
      'mesh install prod-east --trust-root ./trust --ha',
      'mesh install east --trust-root ./trust --dry-run -o yaml | kubectl apply -f -',
    ],
  );

  const un = program
    .command('uninstall')
    .summary('remove the mesh from a cluster, shadows included')
    .description('Remove everything mesh install made in CONTEXT, every Link and shadow Service, and link identities given to other clusters.')
    .argument('<context>', 'kubeconfig context of the cluster')
    .addOption(kubeconfigOption())
    .addOption(outputOption())
    .option('--wait-timeout <duration>', 'how long the controller may take to remove shadows', durationSeconds, 60)
    .action(async (context: string, raw: unknown) => {
      const o = parseOptions(UninstallOptionsSchema, raw);
      const r = await uninstall(context, o, stderrProgress());
      process.stdout.write(render(r, o.output, () => objectsTable(r.objects.filter((x) => x.result === 'deleted')) + `\n${context}: mesh removed\n`));
    });
  helpText(
    un,
    `Deletes the Links first so that the controller removes their shadows (finalizer), waits for that
(--wait-timeout), then removes any shadow Service or EndpointSlice still labelled as mirrored, the
mesh-link-* identities other clusters use to read this one, and everything install applied, CRD last.
Other clusters' Links to this one report it unreachable until you run mesh unlink there.`,
    ['mesh uninstall kind-cluster-a'],
  );
}
