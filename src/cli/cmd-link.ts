// `mesh link SOURCE TARGET` and `mesh unlink SOURCE TARGET`.
import { Command, Option } from 'commander';
import { z } from 'zod';
import { applyObject, isNotFound, errorMessage, type KubeObject as ApiObject } from '../kube/index.js';
import { TrustBundle } from '../trust/index.js';
import { parseLinkSpec, type LinkStatus } from '../mirror/index.js';
import { CliError, ExitCode } from './errors.js';
import {
  connect, helpText, kubeconfigOption, outputOption, parseOptions, kubeError, stderrProgress, sleep, durationSeconds, zodArg,
  type Cluster, type Progress, getOrNull,
} from './common.js';
import {
  CLUSTER_DOMAIN_ANNOTATION, CLUSTER_LABEL, CLUSTER_NAME_LABEL, DEFAULT_CLUSTER_DOMAIN, DEFAULT_TRUST_DOMAIN, GATEWAY_NAME, GATEWAY_TUNNEL_PORT, LINK_API_VERSION,
  LINK_KIND, MESH_NAMESPACE, MIRRORED_LABEL, SLICE_SERVICE_LABEL, TRUST_DOMAIN_ANNOTATION, TRUST_ROOTS_CONFIGMAP, TRUST_ROOTS_KEY, linkServiceAccountName,
} from '../api/index.js';
import {
  linkTargetObjects, linkKubeconfig, credentialsSecret, linkSpec, linkObject, rollbackPlan, unlinkPlan, gatewayAddress,
  compareTrust, parseSelector, conditionOf, linkApiServer, TOKEN_TTL_SECONDS, type DoneStep, type LinkMode, type Side,
} from './plan.js';
import { collectionPath, objectPath, describe, idOf, type ObjectId } from './kinds.js';
import { render, formatTable, OutputFormatSchema } from './output.js';

/** What the link command learns about a cluster before writing anything. */
export interface MeshCluster extends Cluster {
  name: string;
  clusterDomain: string;
  trustDomain: string;
}

export async function meshCluster(c: Cluster): Promise<MeshCluster> {
  let ns: ApiObject;
  try {
    ns = await c.client.get(`/api/v1/namespaces/${MESH_NAMESPACE}`);
  } catch (err) {
    if (isNotFound(err)) throw new CliError(`${c.context}: the mesh is not installed (no ${MESH_NAMESPACE} namespace)`, ExitCode.Failure, `mesh install ${c.context} --trust-root DIR`);
    throw kubeError(err, c.context, `reading namespace ${MESH_NAMESPACE}`);
  }
  const name = ns.metadata?.labels?.[CLUSTER_NAME_LABEL];
  if (!name) throw new CliError(`${c.context}: namespace ${MESH_NAMESPACE} has no ${CLUSTER_NAME_LABEL} label; the install is incomplete`, ExitCode.Failure, `mesh install ${c.context} --trust-root DIR`);
  const ann = ns.metadata?.annotations ?? {};
  return { ...c, name, clusterDomain: ann[CLUSTER_DOMAIN_ANNOTATION] ?? DEFAULT_CLUSTER_DOMAIN, trustDomain: ann[TRUST_DOMAIN_ANNOTATION] ?? DEFAULT_TRUST_DOMAIN };
}

export async function trustRoots(c: MeshCluster): Promise<{ fingerprint: string; trustDomain?: string }[]> {
  let cm: ApiObject;
  try {
    cm = await c.client.get(`/api/v1/namespaces/${MESH_NAMESPACE}/configmaps/${TRUST_ROOTS_CONFIGMAP}`);
  } catch (err) {
    if (isNotFound(err)) throw new CliError(`${c.context}: ConfigMap ${MESH_NAMESPACE}/${TRUST_ROOTS_CONFIGMAP} is missing`, ExitCode.Failure, `mesh install ${c.context} --trust-root DIR`);
    throw kubeError(err, c.context, 'reading the trust roots');
  }
  const pem = (cm.data as Record<string, string> | undefined)?.[TRUST_ROOTS_KEY];
  try {
    return TrustBundle.fromPem(pem ?? '').roots.map((r) => ({ fingerprint: r.fingerprint, trustDomain: r.trustDomain }));
  } catch (err) {
    throw new CliError(`${c.context}: the trust bundle ${TRUST_ROOTS_CONFIGMAP}/${TRUST_ROOTS_KEY} is unreadable: ${errorMessage(err)}`, ExitCode.Failure, `mesh install ${c.context} --trust-root DIR`);
  }
}

const LinkOptionsSchema = z.object({
  kubeconfig: z.string().optional(),
  mode: z.enum(['gateway', 'flat']).default('gateway'),
  both: z.boolean().default(false),
  selector: z.record(z.string(), z.string()).optional(),
  apiServerAddress: z.url().optional(),
  gatewayAddress: z.string().optional(),
  output: OutputFormatSchema,
  wait: z.boolean().default(true),
  waitTimeout: z.number().int().positive().default(120),
});
export type LinkOptions = z.infer<typeof LinkOptionsSchema>;

export interface LinkResult {
  source: string;
  target: string;
  mode: LinkMode;
  gateway?: string;
  ready: boolean;
  mirrored: { namespace: string; name: string; shadow: string; mode: string }[];
}

/** Test seam: called after each completed step (e.g. to kill a cluster between steps). */
export interface LinkHooks {
  afterStep?: (step: string) => Promise<void>;
}

async function resolveGateway(target: MeshCluster, override: string | undefined): Promise<{ addresses: string[]; port: number; via: string }> {
  if (override) {
    const m = /^([A-Za-z0-9.:-]+?)(?::(\d+))?$/.exec(override);
    if (!m) throw new CliError(`--gateway-address ${override} is not host[:port]`, ExitCode.Usage);
    return { addresses: [m[1]], port: m[2] ? Number(m[2]) : GATEWAY_TUNNEL_PORT, via: '--gateway-address' };
  }
  let svc: ApiObject | null;
  let nodes: ApiObject[] = [];
  try {
    svc = await getOrNull(target.client, `/api/v1/namespaces/${MESH_NAMESPACE}/services/${GATEWAY_NAME}`);
    // Node addresses are needed only for the NodePort fallback (no LoadBalancer ingress).
    const ingress = (svc?.status as { loadBalancer?: { ingress?: unknown[] } } | undefined)?.loadBalancer?.ingress ?? [];
    if (svc && ingress.length === 0) nodes = (await target.client.list('/api/v1/nodes')).items;
  } catch (err) {
    throw kubeError(err, target.context, 'reading the gateway address');
  }
  if (!svc) throw new CliError(`${target.context}: Service ${MESH_NAMESPACE}/${GATEWAY_NAME} is missing`, ExitCode.Failure, `mesh install ${target.context} --trust-root DIR`);
  const g = gatewayAddress(svc as Parameters<typeof gatewayAddress>[0], nodes as Parameters<typeof gatewayAddress>[1]);
  if (!g.ok) throw new CliError(`${target.context}: ${g.reason}`, ExitCode.Failure, 'wait for the LoadBalancer, install with --gateway-service-type NodePort, pass --gateway-address host:port, or link with --mode flat');
  return g;
}

/** The address TARGET's API server advertises to pods (Endpoints default/kubernetes), if readable. */
async function advertisedApi(target: MeshCluster): Promise<{ ip: string; port: number } | undefined> {
  try {
    const ep = await target.client.get<{ subsets?: { addresses?: { ip: string }[]; ports?: { port: number; name?: string }[] }[] }>('/api/v1/namespaces/default/endpoints/kubernetes');
    const sub = ep.subsets?.[0];
    const ip = sub?.addresses?.[0]?.ip;
    const port = (sub?.ports?.find((p) => p.name === 'https') ?? sub?.ports?.[0])?.port;
    return ip && port ? { ip, port } : undefined;
  } catch {
    return undefined;
  }
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

async function waitReady(ctx: Ctx, timeoutS: number): Promise<ApiObject> {
  const path = objectPath({ apiVersion: LINK_API_VERSION, kind: LINK_KIND, name: ctx.target.name, namespace: MESH_NAMESPACE });
  const deadline = Date.now() + timeoutS * 1000;
  let lastMsg = '';
  for (;;) {
    const link = await ctx.source.client.get(path);
    const ready = conditionOf(link, 'Ready');
    if (ready?.status === 'True') return link;
    const msg = ready ? `${ready.reason ?? ''}: ${ready.message ?? ''}` : 'no status yet';
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
  if (source.name === target.name) throw new CliError(`${source.context} and ${target.context} are the same cluster (${source.name})`, ExitCode.Usage);
  const ctx: Ctx = { source, target, done: [], progress, hooks };
  // Checks first: nothing is written unless both clusters can link.
  const cmp = compareTrust({ name: source.name, roots: await trustRoots(source) }, { name: target.name, roots: await trustRoots(target) });
  if (!cmp.ok) {
    throw new CliError(`refusing to link: ${cmp.explanation}`, ExitCode.Failure, `install both clusters with the same --trust-root (mesh install ${target.context} --trust-root DIR-of-${source.name}'s-root)`);
  }
  progress.ok(`${source.name} and ${target.name} share trust root ${cmp.shared[0].slice(0, 23)}…`);
  const gw = o.mode === 'gateway' ? await resolveGateway(target, o.gatewayAddress) : undefined;
  if (gw) progress.ok(`${target.name}: gateway at ${gw.addresses.join(',')}:${gw.port} (${gw.via})`);
  const input = { targetClusterName: target.name, targetClusterDomain: target.clusterDomain, trustDomain: target.trustDomain, mode: o.mode, gateway: gw, selector: o.selector };
  const spec = linkSpec(input);
  const parsed = parseLinkSpec(spec);
  if (!parsed.ok) throw new CliError(`the Link would be invalid: ${parsed.message}`, ExitCode.Usage);

  try {
    // TARGET: a dedicated identity that may read Services/EndpointSlices and renew its own token.
    for (const obj of linkTargetObjects(source.name)) await applyTracked(ctx, 'target', obj);
    const sa = linkServiceAccountName(source.name);
    let token: string;
    try {
      const tr = await target.client.create<{ status?: { token?: string } }>(`/api/v1/namespaces/${MESH_NAMESPACE}/serviceaccounts/${sa}/token`, {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds: TOKEN_TTL_SECONDS },
      });
      if (!tr.status?.token) throw new Error('the TokenRequest answer has no token');
      token = tr.status.token;
    } catch (err) {
      throw kubeError(err, target.context, `requesting a token for ${sa}`);
    }
    progress.ok(`${target.name}: token for ${sa} issued (${TOKEN_TTL_SECONDS / 3600} h; the controller renews it)`);
    await hooks.afterStep?.('target:token');
    // SOURCE: the credentials Secret and the Link.
    const api = linkApiServer(target.server, await advertisedApi(target), o.apiServerAddress);
    progress.ok(`${target.name}: API for ${source.name}'s controller: ${api.server} (${api.why})`);
    const kubeconfig = linkKubeconfig({ clusterName: target.name, server: api.server, caPem: target.caPem, insecure: target.insecure, token, user: sa });
    await applyTracked(ctx, 'source', credentialsSecret(target.name, kubeconfig));
    await applyTracked(ctx, 'source', linkObject(input, spec));
    let link: ApiObject | null = null;
    if (o.wait) {
      try {
        link = await waitReady(ctx, o.waitTimeout);
      } catch (err) {
        throw kubeError(err, source.context, `waiting for Link ${target.name}`);
      }
    }
    const status = (link?.status ?? {}) as LinkStatus;
    const mirrored = (status.mirroredServices?.services ?? []).map((s) => ({ namespace: s.namespace, name: s.name, shadow: s.shadow, mode: s.mode }));
    return { source: source.name, target: target.name, mode: o.mode, gateway: gw ? `${gw.addresses.join(',')}:${gw.port}` : undefined, ready: link !== null, mirrored };
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
    .action(async (source: string, target: string, raw: unknown) => {
      const o = parseOptions(LinkOptionsSchema, raw);
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
again refreshes the token (credential rotation).`,
    [
      'mesh link cluster-a cluster-b',
      'mesh link cluster-a cluster-b --both',
      'mesh link kind-cluster-a kind-cluster-b --api-server-address https://cluster-b-control-plane:6443',
      'mesh link east west --mode flat --selector app=web',
    ],
  );

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

function linkTable(r: LinkResult): string {
  const head = `${r.source} → ${r.target} (${r.mode}${r.gateway ? ` via ${r.gateway}` : ''}): ${r.ready ? 'Ready' : 'created (not waited for)'}\n`;
  if (r.mirrored.length === 0) return head + '  no Services mirrored yet (export one: mesh export SERVICE -n NS --context TARGET)\n';
  return head + formatTable({ columns: ['NAMESPACE', 'SERVICE', 'SHADOW', 'MODE'], rows: r.mirrored.map((m) => [m.namespace, m.name, m.shadow, m.mode]) });
}
