// The steps of `mesh link` that both the real run and its --dry-run take: the checks before anything is
// written (trust, gateway address, the Link's spec, what flat mode needs), the token for TARGET's link
// identity, and SOURCE's objects (credentials Secret + Link).
import { z } from 'zod';
import type { KubeObject as ApiObject } from '../kube/index.js';
import { GATEWAY_NAME, GATEWAY_TUNNEL_PORT, MESH_NAMESPACE, parseLinkSpec } from '../api/index.js';
import { CliError, ExitCode } from './errors.js';
import { kubeError, getOrNull, type Progress } from './common.js';
import {
  linkKubeconfig, credentialsSecret, linkSpec, linkObject, gatewayAddress, compareTrust, linkApiServer, TOKEN_TTL_SECONDS,
  type LinkInput,
} from './plan.js';
import type { KubeObject } from './render.js';
import { OutputFormatSchema } from './output.js';
import { trustRoots, type MeshCluster } from './mesh-cluster.js';
import { flatExports, flatNetworkNotes, podNetwork, sandboxDirOf } from './flat-network.js';

export const LinkOptionsSchema = z.object({
  kubeconfig: z.string().optional(),
  mode: z.enum(['gateway', 'flat']).default('gateway'),
  both: z.boolean().default(false),
  selector: z.record(z.string(), z.string()).optional(),
  apiServerAddress: z.url().optional(),
  gatewayAddress: z.string().optional(),
  output: OutputFormatSchema,
  wait: z.boolean().default(true),
  waitTimeout: z.number().int().positive().default(120),
  dryRun: z.boolean().default(false),
});
export type LinkOptions = z.infer<typeof LinkOptionsSchema>;

export interface Prepared {
  input: LinkInput;
  spec: Record<string, unknown>;
  gateway?: string;
  /** What the network must provide (flat mode), for the person linking. */
  notes: string[];
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

/** What flat mode needs from the network, when this link can carry flat traffic (--mode flat, or TARGET exports flat). */
async function flatNotes(source: MeshCluster, target: MeshCluster, o: LinkOptions): Promise<string[]> {
  let exported: string[] = [];
  if (o.mode !== 'flat') {
    try {
      exported = await flatExports(target.client);
    } catch (err) {
      throw kubeError(err, target.context, 'listing the Services exported flat');
    }
    if (exported.length === 0) return [];
  }
  const [sNet, tNet] = await Promise.all([podNetwork(source.client), podNetwork(target.client)]);
  const notes = flatNetworkNotes({ source: { name: source.name, context: source.context, net: sNet }, target: { name: target.name, net: tNet }, sandboxDir: sandboxDirOf(o.kubeconfig) });
  if (exported.length === 0) return notes;
  const first = `${target.name} exports ${exported.length} Service(s) flat (${exported.slice(0, 3).join(', ')}${exported.length > 3 ? ', …' : ''}); ${notes[0]}`;
  return [first, ...notes.slice(1)];
}

/** Everything checked before the first write: nothing is written unless both clusters can link. */
export async function prepareLink(source: MeshCluster, target: MeshCluster, o: LinkOptions, progress: Progress): Promise<Prepared> {
  if (source.name === target.name) throw new CliError(`${source.context} and ${target.context} are the same cluster (${source.name})`, ExitCode.Usage);
  const cmp = compareTrust({ name: source.name, roots: await trustRoots(source) }, { name: target.name, roots: await trustRoots(target) });
  if (!cmp.ok) {
    throw new CliError(`refusing to link: ${cmp.explanation}`, ExitCode.Failure, `install both clusters with the same --trust-root (mesh install ${target.context} --trust-root DIR-of-${source.name}'s-root)`);
  }
  progress.ok(`${source.name} and ${target.name} share trust root ${cmp.shared[0].slice(0, 23)}…`);
  const gw = o.mode === 'gateway' ? await resolveGateway(target, o.gatewayAddress) : undefined;
  if (gw) progress.ok(`${target.name}: gateway at ${gw.addresses.join(',')}:${gw.port} (${gw.via})`);
  const input: LinkInput = { targetClusterName: target.name, targetClusterDomain: target.clusterDomain, trustDomain: target.trustDomain, mode: o.mode, gateway: gw, selector: o.selector };
  const spec = linkSpec(input);
  const parsed = parseLinkSpec(spec);
  if (!parsed.ok) throw new CliError(`the Link would be invalid: ${parsed.message}`, ExitCode.Usage);
  const notes = await flatNotes(source, target, o);
  for (const n of notes) progress.note(n);
  return { input, spec, gateway: gw ? `${gw.addresses.join(',')}:${gw.port}` : undefined, notes };
}

/** A token for TARGET's link identity `sa` (TokenRequest: nothing is stored in TARGET). */
export async function requestToken(target: MeshCluster, sa: string): Promise<string> {
  try {
    const tr = await target.client.create<{ status?: { token?: string } }>(`/api/v1/namespaces/${MESH_NAMESPACE}/serviceaccounts/${sa}/token`, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds: TOKEN_TTL_SECONDS },
    });
    if (!tr.status?.token) throw new Error('the TokenRequest answer has no token');
    return tr.status.token;
  } catch (err) {
    throw kubeError(err, target.context, `requesting a token for ${sa}`);
  }
}

/** SOURCE's objects: Secret cluster-credentials-<target> (a kubeconfig with `token`) and Link <target>. */
export async function sourceObjects(source: MeshCluster, target: MeshCluster, o: LinkOptions, p: Prepared, sa: string, token: string, progress: Progress): Promise<KubeObject[]> {
  const api = linkApiServer(target.server, await advertisedApi(target), o.apiServerAddress);
  progress.ok(`${target.name}: API for ${source.name}'s controller: ${api.server} (${api.why})`);
  const kubeconfig = linkKubeconfig({ clusterName: target.name, server: api.server, caPem: target.caPem, insecure: target.insecure, token, user: sa });
  return [credentialsSecret(target.name, kubeconfig), linkObject(p.input, p.spec)];
}
