// `mesh check`'s data path: objects can all be right while traffic cannot pass (flat mode without routes
// between the pod networks, a gateway whose tunnel fails). So, per Link and per mode, a short-lived pod in
// the cluster (the controller's image, in mesh-system) opens one TCP connection to one endpoint of a
// shadow: a remote pod (flat) or the local gateway, whose tunnel must then stay open (gateway).
import { randomBytes } from 'node:crypto';
import { errorMessage, isAuthError } from '../kube/index.js';
import {
  APP_NAME_LABEL, CONTROLLER_NAME, MESH_NAMESPACE, PART_OF, PART_OF_LABEL, SLICE_SERVICE_LABEL, type LinkSpec, type LinkStatus,
} from '../api/index.js';
import type { Link } from '../mirror/index.js';
import { getOrNull, sleep, type Cluster } from './common.js';
import { OUTCOME_TEXT, outcomeOfExit, type ConnectOutcome } from './connect-probe.js';
import { podNetwork, sandboxDirOf, sandboxRouteCommand } from './flat-network.js';
import type { Add } from './check-link.js';

/** How long a gateway-mode connection must stay open: the local gateway closes it when the tunnel fails. */
export const GATEWAY_HOLD_MS = 3000;
const CONNECT_TIMEOUT_MS = 5000;
/** Pod start (an image pull on a real cluster) plus the connection. */
const POD_TIMEOUT_MS = 90_000;
const CHECK_POD_LABEL = 'mesh-check';

type Mode = 'gateway' | 'flat';

interface Target {
  link: string;
  cluster: string;
  mode: Mode;
  /** namespace/shadow */
  shadow: string;
  /** The remote Service it mirrors, namespace/name. */
  remote: string;
  endpoint?: { address: string; port: number };
}

interface SliceLike {
  endpoints?: { addresses?: string[]; conditions?: { ready?: boolean } }[];
  ports?: { port?: number }[];
}

/** One shadow per mode, with the first ready endpoint found among that mode's shadows. */
async function pickTargets(c: Cluster, l: Link, spec: LinkSpec): Promise<Target[]> {
  const services = ((l.status as LinkStatus | undefined)?.mirroredServices?.services ?? []).filter((s) => !s.problem);
  const out: Target[] = [];
  for (const mode of ['gateway', 'flat'] as const) {
    const ofMode = services.filter((s) => s.mode === mode).sort((a, b) => `${a.namespace}/${a.shadow}`.localeCompare(`${b.namespace}/${b.shadow}`));
    if (ofMode.length === 0) continue;
    let picked: Target | undefined;
    for (const s of ofMode) {
      const t: Target = { link: l.metadata?.name ?? spec.targetClusterName, cluster: spec.targetClusterName, mode, shadow: `${s.namespace}/${s.shadow}`, remote: `${s.namespace}/${s.name}` };
      picked ??= t;
      const slices = await c.client.list<SliceLike>(`/apis/discovery.k8s.io/v1/namespaces/${s.namespace}/endpointslices`, { labelSelector: `${SLICE_SERVICE_LABEL}=${s.shadow}` });
      for (const sl of slices.items) {
        const ep = (sl.endpoints ?? []).find((e) => e.conditions?.ready !== false && e.addresses?.length);
        const port = sl.ports?.find((p) => p.port)?.port;
        if (ep?.addresses?.[0] && port) {
          t.endpoint = { address: ep.addresses[0], port };
          break;
        }
      }
      if (t.endpoint) {
        picked = t;
        break;
      }
    }
    if (picked) out.push(picked);
  }
  return out;
}

interface PodTemplate {
  image: string;
  imagePullPolicy?: string;
  imagePullSecrets?: unknown;
  podSecurityContext?: unknown;
  securityContext?: unknown;
}

interface DeploymentLike {
  spec?: { template?: { spec?: { imagePullSecrets?: unknown; securityContext?: unknown; containers?: { image?: string; imagePullPolicy?: string; securityContext?: unknown }[] } } };
}

/** The controller's image and security settings: what this cluster already runs and admits in mesh-system. */
async function checkPodTemplate(c: Cluster): Promise<PodTemplate | undefined> {
  const d = (await getOrNull(c.client, `/apis/apps/v1/namespaces/${MESH_NAMESPACE}/deployments/${CONTROLLER_NAME}`)) as DeploymentLike | null;
  const pod = d?.spec?.template?.spec;
  const ctr = pod?.containers?.[0];
  if (!ctr?.image) return undefined;
  return { image: ctr.image, imagePullPolicy: ctr.imagePullPolicy, imagePullSecrets: pod?.imagePullSecrets, podSecurityContext: pod?.securityContext, securityContext: ctr.securityContext };
}

interface PodStatusLike {
  status?: {
    phase?: string;
    containerStatuses?: { state?: { waiting?: { reason?: string; message?: string }; terminated?: { exitCode?: number; message?: string } } }[];
  };
}

type PodRun = { ran: true; outcome: ConnectOutcome; message?: string } | { ran: false; why: string };

const STUCK = ['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'CreateContainerConfigError', 'CreateContainerError', 'RunContainerError'];

/** Runs `mesh app connect` in a short-lived pod and reads the outcome from its exit code; always deletes the pod. */
async function runCheckPod(c: Cluster, tpl: PodTemplate, t: Target & { endpoint: { address: string; port: number } }): Promise<PodRun> {
  const name = `mesh-check-${t.mode}-${randomBytes(4).toString('hex')}`;
  const path = `/api/v1/namespaces/${MESH_NAMESPACE}/pods/${name}`;
  const addr = t.endpoint.address.includes(':') ? `[${t.endpoint.address}]` : t.endpoint.address;
  const args = ['app', 'connect', `${addr}:${t.endpoint.port}`, '--timeout-ms', String(CONNECT_TIMEOUT_MS), '--hold-ms', String(t.mode === 'gateway' ? GATEWAY_HOLD_MS : 0)];
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: MESH_NAMESPACE, labels: { [APP_NAME_LABEL]: CHECK_POD_LABEL, [PART_OF_LABEL]: PART_OF } },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      activeDeadlineSeconds: POD_TIMEOUT_MS / 1000,
      terminationGracePeriodSeconds: 1,
      ...(tpl.imagePullSecrets ? { imagePullSecrets: tpl.imagePullSecrets } : {}),
      ...(tpl.podSecurityContext ? { securityContext: tpl.podSecurityContext } : {}),
      containers: [{ name: 'check', image: tpl.image, ...(tpl.imagePullPolicy ? { imagePullPolicy: tpl.imagePullPolicy } : {}), args, ...(tpl.securityContext ? { securityContext: tpl.securityContext } : {}) }],
    },
  };
  try {
    await c.client.create(`/api/v1/namespaces/${MESH_NAMESPACE}/pods`, pod);
  } catch (err) {
    return { ran: false, why: `cannot create a check pod in ${MESH_NAMESPACE}: ${errorMessage(err)}${isAuthError(err) ? ' (permission denied)' : ''}` };
  }
  try {
    const deadline = Date.now() + POD_TIMEOUT_MS;
    for (;;) {
      const p = (await c.client.get(path)) as PodStatusLike;
      const state = p.status?.containerStatuses?.[0]?.state;
      const code = state?.terminated?.exitCode;
      if (code !== undefined) return { ran: true, outcome: outcomeOfExit(code) ?? 'error', ...(state?.terminated?.message ? { message: state.terminated.message.trim() } : {}) };
      const waiting = state?.waiting?.reason;
      if (waiting && STUCK.includes(waiting)) return { ran: false, why: `the check pod cannot start: ${waiting}${state?.waiting?.message ? ` (${state.waiting.message})` : ''}` };
      if (Date.now() > deadline) return { ran: false, why: `the check pod did not finish within ${POD_TIMEOUT_MS / 1000}s (phase ${p.status?.phase ?? 'Pending'})` };
      await sleep(300);
    }
  } finally {
    await c.client.delete(path, { gracePeriodSeconds: 0 }).catch(() => undefined);
  }
}

function describeTarget(t: Target, source: string): string {
  const ep = t.endpoint ? `${t.endpoint.address}:${t.endpoint.port}` : '?';
  return t.mode === 'flat'
    ? `a pod in ${source} → ${t.shadow}'s endpoint ${ep} (a pod of ${t.cluster}, no gateway)`
    : `a pod in ${source} → ${t.shadow}'s endpoint ${ep} (${source}'s gateway, tunnel to ${t.cluster} for ${t.remote})`;
}

async function failureHint(c: Cluster, t: Target, outcome: ConnectOutcome | undefined, kubeconfig: string | undefined): Promise<string> {
  if (t.mode === 'flat') {
    const net = await podNetwork(c.client);
    const route = sandboxRouteCommand(net, t.cluster, sandboxDirOf(kubeconfig));
    const base = `flat mode needs routes between the clusters' pod networks: ${c.context}'s pods must reach ${t.cluster}'s pod IPs (such as ${t.endpoint?.address ?? '?'}) and back`;
    if (route) return `${base}; in this sandbox: ${route} (or start it with mesh sandbox up --flat-routes)`;
    return outcome === 'refused' ? `${t.cluster}'s pod at that address does not listen on that port: is ${t.remote} ready in ${t.cluster}?` : base;
  }
  if (outcome === 'refused' || outcome === 'unreachable') return `${c.context}'s gateway does not listen there: is mesh-gateway ready? (kubectl --context ${c.context} -n ${MESH_NAMESPACE} get pods)`;
  return `${c.context}'s gateway accepted but its tunnel to ${t.cluster} failed: mesh gateways ${c.context}; kubectl --context ${c.context} -n ${MESH_NAMESPACE} logs deployment/mesh-gateway (is ${t.remote} ready and exported in ${t.cluster}?)`;
}

async function checkTarget(c: Cluster, source: string, tpl: PodTemplate, t: Target, add: Add, kubeconfig: string | undefined): Promise<void> {
  const check = `link ${t.link}: data path (${t.mode})`;
  if (!t.endpoint) {
    const why = t.mode === 'flat' ? `are ${t.remote}'s pods ready in ${t.cluster}?` : `is ${c.context}'s mesh-gateway ready?`;
    add(check, false, `${t.shadow} has no ready endpoint to connect to`, why);
    return;
  }
  const r = await runCheckPod(c, tpl, { ...t, endpoint: t.endpoint });
  if (!r.ran) {
    add(check, false, `${describeTarget(t, source)}: not checked: ${r.why}`, 'mesh check --no-data-path skips this check');
    return;
  }
  if (r.outcome === 'connected') {
    add(check, true, `${describeTarget(t, source)}: connected${t.mode === 'gateway' ? `, tunnel open ${GATEWAY_HOLD_MS / 1000} s` : ''}`);
    return;
  }
  add(check, false, `${describeTarget(t, source)}: ${OUTCOME_TEXT[r.outcome]}${r.message ? ` (${r.message})` : ''}`, await failureHint(c, t, r.outcome, kubeconfig));
}

/** One connection per Link and mode, from a pod in this cluster, all at once. */
export async function checkDataPath(c: Cluster, source: string, links: { link: Link; spec: LinkSpec }[], add: Add, kubeconfig: string | undefined): Promise<void> {
  const targets = (await Promise.all(links.map((l) => pickTargets(c, l.link, l.spec)))).flat();
  if (targets.length === 0) return;
  const tpl = await checkPodTemplate(c);
  if (!tpl) {
    add('data path', false, `no ${CONTROLLER_NAME} Deployment to take the check pod's image from`, `mesh install ${c.context} --trust-root DIR`);
    return;
  }
  // Lines in a stable order, whatever order the pods finish in.
  const lines: Parameters<Add>[] = [];
  await Promise.all(targets.map((t) => checkTarget(c, source, tpl, t, (...a) => lines.push(a), kubeconfig)));
  lines.sort((a, b) => a[0].localeCompare(b[0]));
  for (const l of lines) add(...l);
}
