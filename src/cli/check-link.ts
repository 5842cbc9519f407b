// `mesh check`, per Link: is its spec valid, are its credentials accepted, is the remote API reachable,
// is the remote gateway alive. Every line says what was checked and from where: this machine, or the
// controller in the cluster (its Link conditions) when this machine cannot reach the remote address.
import { parse } from 'yaml';
import { KubeClient, kubeConfigFromString, statusCodeOf, errorMessage } from '../kube/index.js';
import { CREDENTIALS_KUBECONFIG_KEY, MESH_NAMESPACE, parseLinkSpec, type LinkSpec, type LinkStatus } from '../api/index.js';
import type { Link } from '../mirror/index.js';
import { getOrNull, type Cluster } from './common.js';
import { secretText, conditionOf } from './plan.js';

export type Add = (check: string, ok: boolean, detail: string, hint?: string) => void;

export const TOKEN_MIN_LEFT_S = 3600;

/** Seconds until a JWT's exp, or undefined if it has none / is not a JWT. */
export function tokenSecondsLeft(token: string, now: Date): number | undefined {
  const part = token.split('.')[1];
  if (!part) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as { exp?: number };
    return typeof claims.exp === 'number' ? claims.exp - Math.floor(now.getTime() / 1000) : undefined;
  } catch {
    return undefined;
  }
}

/** The Link's spec, or a ✘ line saying why it is invalid (before anything is read on its behalf). */
export function checkSpec(c: Cluster, l: Link, add: Add): LinkSpec | undefined {
  const name = l.metadata?.name ?? '?';
  const parsed = parseLinkSpec(l.spec);
  if (parsed.ok) {
    add(`link ${name}: spec valid`, true, `target ${parsed.spec.targetClusterName}, ${parsed.spec.gateway ? 'through gateways' : 'flat only'}`);
    return parsed.spec;
  }
  const edit = `kubectl --context ${c.context || '<context>'} -n ${MESH_NAMESPACE} edit link ${name}, or make it again: mesh link ${c.context || '<this context>'} <context of ${name}>`;
  const controller = conditionOf(l, 'SpecValid');
  const why = l.spec === undefined || l.spec === null ? `the Link has no spec (${parsed.message})` : parsed.message;
  add(`link ${name}: spec valid`, false, `${why}${controller?.status === 'False' ? `; the controller agrees (SpecValid=False, ${controller.reason})` : ''}`, `the controller ignores an invalid Link: ${edit}`);
  return undefined;
}

function readCredentials(kcText: string): { token: string; remote: Promise<KubeClient> } {
  const doc = parse(kcText) as { users?: { user?: { token?: string } }[] };
  return { token: doc.users?.[0]?.user?.token ?? '', remote: KubeClient.create(kubeConfigFromString(kcText), { timeoutMs: 4000 }) };
}

/** Credentials and remote API, asked of TARGET directly from here, else as the controller sees them. */
async function checkRemote(c: Cluster, l: Link, spec: LinkSpec, add: Add, now: Date): Promise<void> {
  const target = spec.targetClusterName;
  const label = `link ${target}`;
  const relink = `mesh link ${c.context} <context of ${target}>`;
  const secretName = spec.clusterCredentialsSecret;
  const secret = await getOrNull(c.client, `/api/v1/namespaces/${MESH_NAMESPACE}/secrets/${secretName}`);
  const kcText = secret ? secretText(secret, CREDENTIALS_KUBECONFIG_KEY) : undefined;
  if (!kcText) {
    add(`${label}: credentials valid`, false, `Secret ${MESH_NAMESPACE}/${secretName} (named by the Link) is missing or has no kubeconfig`, relink);
    return;
  }
  let token: string;
  let remote: KubeClient;
  try {
    const creds = readCredentials(kcText);
    token = creds.token;
    remote = await creds.remote;
  } catch (err) {
    add(`${label}: credentials valid`, false, `Secret ${secretName}: ${errorMessage(err)}`, relink);
    return;
  }
  try {
    const left = tokenSecondsLeft(token, now);
    if (left !== undefined && left <= 0) {
      add(`${label}: credentials valid`, false, 'the token has expired (the controller renews it; is it running?)', relink);
      return;
    }
    if (left !== undefined && left < TOKEN_MIN_LEFT_S) add(`${label}: credentials valid`, false, `the token expires in ${Math.round(left / 60)} min and was not renewed`, `is the controller running? or: ${relink}`);
    const tokenOk = left === undefined || left >= TOKEN_MIN_LEFT_S;
    try {
      // Ask TARGET directly, as the controller would.
      await remote.get('/api/v1/services', { query: { limit: 1 } });
      if (tokenOk) add(`${label}: credentials valid`, true, left !== undefined ? `accepted by ${target}'s API from this machine; token valid ${Math.round(left / 3600)} h more` : `accepted by ${target}'s API from this machine`);
      add(`${label}: remote API reachable`, true, `${remote.server.origin}, from this machine`);
    } catch (err) {
      const code = statusCodeOf(err);
      if (code === 401 || code === 403) {
        add(`${label}: credentials valid`, false, `${target}'s API answers ${code}: ${errorMessage(err)}`, relink);
        add(`${label}: remote API reachable`, true, `${remote.server.origin}, from this machine`);
      } else {
        controllersView(c, l, target, remote.server.origin, errorMessage(err), add, relink, tokenOk);
      }
    }
  } finally {
    remote.close();
  }
}

/**
 * This machine cannot reach TARGET's API at the address SOURCE's controller uses (normal: it may be an
 * address only the clusters reach). Then the controller's Link conditions are the check, and say so.
 */
function controllersView(c: Cluster, l: Link, target: string, origin: string, hereError: string, add: Add, relink: string, tokenOk: boolean): void {
  const label = `link ${target}`;
  const reach = conditionOf(l, 'RemoteAPIReachable');
  const creds = conditionOf(l, 'CredentialsValid');
  const from = `${c.context}'s controller`;
  if (reach?.status === 'True') {
    add(`${label}: remote API reachable`, true, `${origin}, from ${from} (Link condition RemoteAPIReachable=True, ${reach.reason}); this machine does not reach that address, which the link does not need`);
    if (tokenOk || creds?.status === 'False') {
      add(`${label}: credentials valid`, creds?.status !== 'False', creds?.status === 'False' ? `${from}: ${creds.reason} ${creds.message ?? ''}`.trim() : `accepted by ${target}'s API, from ${from} (CredentialsValid=${creds?.status ?? 'Unknown'})`, creds?.status === 'False' ? relink : undefined);
    }
    return;
  }
  const controller = reach ? `; from ${from}: ${reach.reason} ${reach.message ?? ''}`.trimEnd() : `; ${from} has not reported it yet`;
  add(`${label}: remote API reachable`, false, `${origin}: not from this machine (${hereError})${controller}`, `is ${target} up, and is its API address right? (${relink} --api-server-address URL)`);
}

function checkProbe(c: Cluster, l: Link, spec: LinkSpec, add: Add): void {
  if (!spec.gateway) return;
  const label = `link ${spec.targetClusterName}`;
  const st = l.status as { lastProbe?: { success: boolean; latencyMs?: number; message?: string } } | undefined;
  const reach = conditionOf(l, 'GatewayReachable');
  const alive = st?.lastProbe ? st.lastProbe.success : reach ? reach.status === 'True' : undefined;
  const from = `${c.context}'s controller`;
  if (alive === undefined) add(`${label}: gateway probe alive`, false, 'no probe result yet', `is the controller running? mesh gateways ${c.context}`);
  else if (alive) add(`${label}: gateway probe alive`, true, `${spec.gateway.addresses.join(',')}:${spec.gateway.port} answers ${from}'s probe${st?.lastProbe?.latencyMs !== undefined ? ` in ${st.lastProbe.latencyMs} ms` : ''}`);
  else add(`${label}: gateway probe alive`, false, `${from}: ${st?.lastProbe?.message ?? reach?.message ?? 'probe failing'}`, `is ${spec.targetClusterName}'s gateway up and its address reachable from this cluster? mesh gateways ${c.context}`);
}

/** Remote Services the controller could not mirror (a Link can be Ready with some of them failing). */
function checkMirrored(c: Cluster, l: Link, spec: LinkSpec, add: Add): void {
  const services = (l.status as LinkStatus | undefined)?.mirroredServices?.services ?? [];
  const problems = services.filter((s) => s.problem);
  const label = `link ${spec.targetClusterName}: services mirrored`;
  if (problems.length === 0) {
    add(label, true, `${services.length} exported Service(s) of ${spec.targetClusterName} mirrored`);
    return;
  }
  const missingNs = [...new Set(problems.filter((p) => /namespace .* does not exist/.test(p.problem ?? '')).map((p) => p.namespace))];
  const hint = missingNs.length > 0
    ? `a shadow lives in the namespace of the same name (namespace sameness): kubectl --context ${c.context || '<context>'} create namespace ${missingNs.join(' ')}; or set spec.createNamespaces: true on the Link`
    : `mesh links ${c.context || '<context>'} -o wide`;
  add(label, false, `${services.length - problems.length} of ${services.length} mirrored; not: ${problems.map((p) => `${p.namespace}/${p.name} (${p.problem})`).join('; ')}`, hint);
}

/** Every per-Link check; returns the valid spec (the data path check needs it) or undefined. */
export async function checkLink(c: Cluster, l: Link, add: Add, now: Date): Promise<LinkSpec | undefined> {
  const spec = checkSpec(c, l, add);
  if (!spec) return undefined;
  await checkRemote(c, l, spec, add, now);
  checkProbe(c, l, spec, add);
  checkMirrored(c, l, spec, add);
  return spec;
}
