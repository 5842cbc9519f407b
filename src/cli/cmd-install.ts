// `mesh install CONTEXT` (uninstall is cmd-uninstall.ts): the issuer from the shared root, then the
// rendered manifests, applied idempotently; waits for the controller and gateway. --dry-run prints them.
import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { applyObject, errorMessage, isNotFound, type KubeClient, type KubeObject as ApiObject } from '../kube/index.js';
import { createIssuer, readRoot, loadAuthority, isTrustError, type CertificateAuthority } from '../trust/index.js';
import { CliError, ExitCode } from './errors.js';
import {
  connect, helpText, kubeconfigOption, outputOption, parseOptions, kubeError, stderrProgress, sleep, durationSeconds,
  type Cluster, type Progress,
} from './common.js';
import { APP_NAME_LABEL, CLUSTER_NAME_LABEL, CONTROLLER_NAME, DEFAULT_CLUSTER_DOMAIN, GATEWAY_NAME, ISSUER_SECRET, MESH_NAMESPACE, meshImage } from '../api/index.js';
import { ClusterNameSchema, GatewayServiceTypeSchema, type KubeObject } from './render.js';
import { installPlan, secretText, type TrustMaterial } from './plan.js';
import { collectionPath, objectPath, describe, idOf, type ObjectId } from './kinds.js';
import { render, OutputFormatSchema } from './output.js';
import { renderDryRun } from './dry-run.js';
import { clustersetDnsStep, corednsStanza } from './coredns.js';

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
  patchCoredns: z.boolean().default(false),
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
        const pods = await c.client.list<PodStatusLike>(`/api/v1/namespaces/${MESH_NAMESPACE}/pods`, { labelSelector: `${APP_NAME_LABEL}=${name}` }).catch(() => ({ items: [] }));
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

/** The live issuer, and the cluster name install recorded on mesh-system (neither on a fresh cluster). */
async function liveFacts(c: Cluster, context: string): Promise<{ issuer: ApiObject | null; name?: string }> {
  try {
    const issuer = await getOrNull(c.client, { apiVersion: 'v1', kind: 'Secret', name: ISSUER_SECRET, namespace: MESH_NAMESPACE });
    const ns = await getOrNull(c.client, { apiVersion: 'v1', kind: 'Namespace', name: MESH_NAMESPACE });
    const name = (ns?.metadata?.labels ?? {})[CLUSTER_NAME_LABEL];
    return { issuer, ...(name ? { name } : {}) };
  } catch (err) {
    throw kubeError(err, context, 'reading the issuer Secret');
  }
}

function checkName(context: string, clusterName: string, liveName: string | undefined): void {
  if (liveName && liveName !== clusterName) {
    throw new CliError(`${context} is already installed as cluster ${liveName}, not ${clusterName}`, ExitCode.Failure, `uninstall first (mesh uninstall ${context}) or pass --cluster-name ${liveName}`);
  }
}

/**
 * The live issuer for a dry run, so that it prints exactly what install would apply (a valid issuer is
 * kept). A cluster that cannot be read (no such context, unreachable) gets a new issuer, said on stderr.
 */
async function dryRunLiveIssuer(context: string, o: InstallOptions, clusterName: string, progress: Progress): Promise<ApiObject | null> {
  let facts: { issuer: ApiObject | null; name?: string };
  try {
    const c = await connect(context, o.kubeconfig, 5000);
    try {
      facts = await liveFacts(c, context);
    } finally {
      c.client.close();
    }
  } catch (err) {
    progress.note(`${context} cannot be read (${errorMessage(err)}): the issuer printed is a new one`);
    return null;
  }
  checkName(context, clusterName, facts.name);
  return facts.issuer;
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
    image: o.image ?? meshImage(pkg.version),
    version: pkg.version,
  };
  if (values.trustDomain !== root.trustDomain) {
    throw new CliError(`--trust-domain ${values.trustDomain} differs from the root's trust domain ${root.trustDomain}`, ExitCode.Usage);
  }

  if (o.dryRun) {
    const chosen = chooseIssuer(root, clusterName, await dryRunLiveIssuer(context, o, clusterName, progress));
    const plan = installPlan(values, { issuerCertPem: chosen.ca.certPem, issuerKeyPem: chosen.ca.keyPem, rootsPem: root.certPem });
    progress.note(`CoreDNS stanza for clusterset.local (the IP is the mesh-dns Service's, known once applied):\n${corednsStanza('<mesh-dns ClusterIP>')}`);
    return { result: { context, clusterName, issuer: chosen.state, objects: plan.map((p) => ({ ...idOf(p), result: 'unchanged' })), ready: false }, plan };
  }

  const c = await connect(context, o.kubeconfig);
  try {
    progress.step(`installing mesh ${pkg.version} into ${context} as cluster ${clusterName}`);
    const live = await liveFacts(c, context);
    checkName(context, clusterName, live.name);
    const chosen = chooseIssuer(root, clusterName, live.issuer);
    progress.ok(`issuer for ${clusterName}: ${chosen.state} (valid until ${chosen.ca.notAfter.toISOString()})`);
    const trust: TrustMaterial = { issuerCertPem: chosen.ca.certPem, issuerKeyPem: chosen.ca.keyPem, rootsPem: root.certPem };
    const plan = installPlan(values, trust);
    const objects: AppliedObject[] = [];
    for (const obj of plan) {
      const id = idOf(obj);
      try {
        const { result } = await applyServed(c.client, collectionPath(id), obj);
        objects.push({ kind: id.kind, name: id.name, namespace: id.namespace, result });
        progress.ok(`${describe(id)} ${result}`);
      } catch (err) {
        throw kubeError(err, context, `applying ${describe(id)}`);
      }
    }
    await clustersetDnsStep(c.client, o.patchCoredns, progress, context);
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

/** One line: every object already went by on stderr as it was applied. */
function installSummary(r: InstallResult): string {
  const count = (x: AppliedObject['result']) => r.objects.filter((o) => o.result === x).length;
  return `${r.clusterName}: ${r.objects.length} objects applied (${count('created')} created, ${count('updated')} updated, ${count('unchanged')} unchanged); issuer ${r.issuer}${r.ready ? '; controller and gateway ready' : ''}\n`;
}

/** Applies `obj`; a custom resource whose CRD was just created may 404 until the API server serves it. */
async function applyServed(client: KubeClient, path: string, obj: ApiObject): ReturnType<typeof applyObject> {
  for (let i = 0; ; i++) {
    try {
      return await applyObject(client, path, obj);
    } catch (err) {
      if (!isNotFound(err) || i >= 20 || !String(obj.apiVersion).includes('.')) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
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
    .option('--ha', 'two controller replicas with leader election, two gateways, two mesh-dns', false)
    .option('--image <ref>', `container image (default ${meshImage(pkg.version)})`)
    .option('--dry-run', 'print the objects it would apply (-o yaml, the default, or json); change nothing', false)
    .addOption(outputOption())
    .option('--no-wait', 'do not wait for the controller and gateway to be ready')
    .option('--wait-timeout <duration>', 'how long to wait for readiness', durationSeconds, 300)
    .option('--patch-coredns', 'make CoreDNS (ConfigMap kube-system/coredns) forward clusterset.local to mesh-dns; without it the stanza is printed', false)
    .action(async (context: string, raw: unknown) => {
      const o = parseOptions(InstallOptionsSchema, raw);
      const { result, plan } = await install(context, o, stderrProgress());
      if (o.dryRun) {
        process.stdout.write(renderDryRun([{ context, objects: plan }], o.output === 'json' ? 'json' : 'yaml'));
        return;
      }
      // Each object went by on stderr as it was applied; stdout repeats them only when asked (-o json|yaml).
      process.stdout.write(render(result, o.output, () => installSummary(result)));
    });
  helpText(
    cmd,
    `Issues the cluster's issuer certificate from the shared trust root (--trust-root; the root's key never
enters the cluster), stores it in Secret mesh-system/mesh-issuer with the root in ConfigMap
mesh-trust-roots, applies the Link CRD and the manifests in manifests/ rendered with these values (mesh-dns
answers clusterset.local; the CoreDNS stanza forwarding it is printed, or applied with --patch-coredns), and
waits until the controller and gateway are ready, showing each object and the wait on stderr (stdout:
one summary line, or every object with -o json|yaml). Running it again upgrades in place: unchanged
objects stay unchanged, the issuer is kept while it chains to the root and is not within 30 days of
expiry.

--dry-run writes nothing and prints exactly the objects install would apply, after a "# cluster:
<context>" line, for Git (Argo CD, Flux) or kubectl: the issuer is the live one when install would keep
it, else a new one (its key included: keep that file as secret as the root's key).`,
    [
      'mesh install kind-cluster-a --cluster-name cluster-a --trust-root ./trust --gateway-service-type NodePort',
      'mesh install prod-east --trust-root ./trust --ha',
      'mesh install east --trust-root ./trust --dry-run -o yaml | kubectl --context east apply --server-side -f -',
    ],
  );
}
