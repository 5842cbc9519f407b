// Pure planning: what the CLI creates in which cluster, and how to undo it. No I/O here, so every plan
// and every rollback is unit-tested; the cmd-*.ts files carry the plans out.
import { stringify } from 'yaml';
import {
  GATEWAY_NAME, GATEWAY_TUNNEL_PORT, ISSUER_SECRET, LINK_API_VERSION, LINK_KIND, LINK_TARGET_LABEL, LINK_TOKEN_TTL_SECONDS, MESH_NAMESPACE, PART_OF,
  PART_OF_LABEL, TRUST_ROOTS_CONFIGMAP, TRUST_ROOTS_KEY, credentialsSecretName, serviceAccountId,
} from '../api/index.js';
import { renderInstall, renderLinkTargetRbac, type InstallValuesInput, type KubeObject } from './render.js';
import { idOf, type ObjectId } from './kinds.js';

export const TOKEN_TTL_SECONDS = LINK_TOKEN_TTL_SECONDS;


export interface TrustMaterial {
  issuerCertPem: string;
  issuerKeyPem: string;
  /** Root(s) the issuer chains to: ca.crt of the issuer Secret and the trust bundle ConfigMap. */
  rootsPem: string;
}

// `data` (not stringData), so that a re-run compares equal to what the server stores and reports "unchanged".
function b64(m: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')]));
}

/** A Secret's `data` decoded (what the server returns). */
export function secretText(secret: object, key: string): string | undefined {
  const d = (secret as { data?: Record<string, unknown> }).data;
  const v = d?.[key];
  return typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : undefined;
}

export function issuerSecret(t: TrustMaterial): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: ISSUER_SECRET, namespace: MESH_NAMESPACE, labels: { [PART_OF_LABEL]: PART_OF } },
    type: 'kubernetes.io/tls',
    data: b64({ 'tls.crt': t.issuerCertPem, 'tls.key': t.issuerKeyPem, 'ca.crt': t.rootsPem }),
  };
}

export function trustConfigMap(rootsPem: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: TRUST_ROOTS_CONFIGMAP, namespace: MESH_NAMESPACE, labels: { [PART_OF_LABEL]: PART_OF } },
    data: { [TRUST_ROOTS_KEY]: rootsPem },
  };
}

/** Everything `mesh install` applies, in order: CRDs, namespace, trust material, RBAC, workloads. */
export function installPlan(values: InstallValuesInput, trust: TrustMaterial): KubeObject[] {
  const rendered = renderInstall(values);
  const nsIdx = rendered.findIndex((o) => o.kind === 'Namespace');
  return [...rendered.slice(0, nsIdx + 1), issuerSecret(trust), trustConfigMap(trust.rootsPem), ...rendered.slice(nsIdx + 1)];
}

/** What `mesh uninstall` deletes once Links and shadows are gone: the install plan, reversed (CRDs last). */
export function uninstallPlan(installed: KubeObject[]): ObjectId[] {
  return [...installed].reverse().map(idOf);
}

export interface KubeconfigInput {
  clusterName: string;
  server: string;
  caPem?: string;
  insecure?: boolean;
  token: string;
  user: string;
}

/** The kubeconfig in a link credentials Secret: TARGET's API address and CA, and the link token. */
export function linkKubeconfig(k: KubeconfigInput): string {
  const cluster: Record<string, unknown> = { server: k.server };
  if (k.caPem) cluster['certificate-authority-data'] = Buffer.from(k.caPem).toString('base64');
  if (k.insecure) cluster['insecure-skip-tls-verify'] = true;
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: k.clusterName, cluster }],
    users: [{ name: k.user, user: { token: k.token } }],
    contexts: [{ name: k.clusterName, context: { cluster: k.clusterName, user: k.user, namespace: MESH_NAMESPACE } }],
    'current-context': k.clusterName,
  });
}

export function credentialsSecret(target: string, kubeconfig: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: credentialsSecretName(target),
      namespace: MESH_NAMESPACE,
      labels: { [PART_OF_LABEL]: PART_OF, [LINK_TARGET_LABEL]: target },
    },
    type: 'Opaque',
    data: b64({ kubeconfig }),
  };
}

export type LinkMode = 'gateway' | 'flat';

export interface LinkInput {
  targetClusterName: string;
  targetClusterDomain: string;
  trustDomain: string;
  mode: LinkMode;
  gateway?: { addresses: string[]; port: number };
  /** `--selector`: a label selector string (k=v,k2=v2) replacing the default export selector of the mode. */
  selector?: Record<string, string>;
}

/** The Link spec (the mirror's schema validates it before it is written). */
export function linkSpec(l: LinkInput): Record<string, unknown> {
  const spec: Record<string, unknown> = {
    targetClusterName: l.targetClusterName,
    targetClusterDomain: l.targetClusterDomain,
    trustDomain: l.trustDomain,
    clusterCredentialsSecret: credentialsSecretName(l.targetClusterName),
  };
  if (l.mode === 'gateway') {
    if (!l.gateway) throw new Error('gateway mode needs the target gateway address');
    spec.gateway = { addresses: l.gateway.addresses, port: l.gateway.port, identity: serviceAccountId(l.trustDomain, MESH_NAMESPACE, GATEWAY_NAME) };
  }
  if (l.selector) spec[l.mode === 'gateway' ? 'selector' : 'flatSelector'] = { matchLabels: l.selector };
  return spec;
}

export function linkObject(l: LinkInput, spec: Record<string, unknown>): KubeObject {
  return {
    apiVersion: LINK_API_VERSION,
    kind: LINK_KIND,
    metadata: { name: l.targetClusterName, namespace: MESH_NAMESPACE, labels: { [PART_OF_LABEL]: PART_OF, [LINK_TARGET_LABEL]: l.targetClusterName } },
    spec,
  };
}

/** `k=v,k2=v2` → { k: v, k2: v2 }; only equality (what a Link's matchLabels holds). */
export function parseSelector(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of s.split(',')) {
    const m = /^\s*([A-Za-z0-9][-A-Za-z0-9_./]*)\s*==?\s*([-A-Za-z0-9_.]*)\s*$/.exec(part);
    if (!m) throw new Error(`"${part}" is not key=value (only equality selectors: app=web,tier=api)`);
    out[m[1]] = m[2];
  }
  return out;
}

export type Side = 'source' | 'target';

/** One write the link command made, and whether the object was there before (then undo keeps it). */
export interface DoneStep {
  side: Side;
  id: ObjectId;
  created: boolean;
}

export interface UndoStep {
  side: Side;
  id: ObjectId;
  action: 'delete' | 'keep';
}

/**
 * Undo of a failed link, newest first: delete what this run created; keep what it found (a re-run that
 * fails must not tear down a link that worked before it).
 */
export function rollbackPlan(done: readonly DoneStep[]): UndoStep[] {
  return [...done].reverse().map((d) => ({ side: d.side, id: d.id, action: d.created ? 'delete' : 'keep' }));
}

/** The target-side objects of a link from `source` (ServiceAccount + RBAC), in creation order. */
export function linkTargetObjects(source: string): KubeObject[] {
  return renderLinkTargetRbac(source);
}

/** Everything `mesh unlink SOURCE TARGET` deletes: Link first (the controller removes the shadows). */
export function unlinkPlan(source: string, target: string): { side: Side; id: ObjectId }[] {
  return [
    { side: 'source', id: { apiVersion: LINK_API_VERSION, kind: LINK_KIND, name: target, namespace: MESH_NAMESPACE } },
    { side: 'source', id: { apiVersion: 'v1', kind: 'Secret', name: credentialsSecretName(target), namespace: MESH_NAMESPACE } },
    ...[...linkTargetObjects(source)].reverse().map((o) => ({ side: 'target' as const, id: idOf(o) })),
  ];
}


interface ServiceLike {
  spec?: { type?: string; ports?: { name?: string; port: number; nodePort?: number }[] };
  status?: { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } };
}
interface NodeLike {
  status?: { addresses?: { type: string; address: string }[] };
}

export type GatewayAddress = { ok: true; addresses: string[]; port: number; via: 'LoadBalancer' | 'NodePort' } | { ok: false; reason: string };

/** TARGET's gateway as other clusters reach it: LoadBalancer ingress (IP or hostname), else NodePort on node addresses. */
export function gatewayAddress(svc: ServiceLike, nodes: NodeLike[]): GatewayAddress {
  const tunnel = svc.spec?.ports?.find((p) => p.name === 'tunnel') ?? svc.spec?.ports?.find((p) => p.port === GATEWAY_TUNNEL_PORT);
  if (!tunnel) return { ok: false, reason: `the ${GATEWAY_NAME} Service has no tunnel port (${GATEWAY_TUNNEL_PORT})` };
  const ingress = (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? i.hostname).filter((a): a is string => !!a);
  if (ingress.length > 0) return { ok: true, addresses: ingress, port: tunnel.port, via: 'LoadBalancer' };
  if (tunnel.nodePort && (svc.spec?.type === 'NodePort' || svc.spec?.type === 'LoadBalancer')) {
    const pick = (type: string) => nodes.flatMap((n) => (n.status?.addresses ?? []).filter((a) => a.type === type).map((a) => a.address));
    const addrs = [...new Set([...pick('ExternalIP'), ...pick('InternalIP')])];
    if (addrs.length > 0) return { ok: true, addresses: addrs, port: tunnel.nodePort, via: 'NodePort' };
    return { ok: false, reason: 'the mesh-gateway Service is a NodePort but no node reports an address' };
  }
  if (svc.spec?.type === 'LoadBalancer') return { ok: false, reason: 'the mesh-gateway LoadBalancer has no ingress address yet' };
  return { ok: false, reason: `the mesh-gateway Service is of type ${svc.spec?.type ?? 'ClusterIP'}, not reachable from other clusters` };
}

export interface RootInfo {
  fingerprint: string;
  trustDomain?: string;
}

export type TrustComparison = { ok: true; shared: string[] } | { ok: false; explanation: string };

/** Two clusters can link only if their trust bundles share a root (and so a trust domain). */
export function compareTrust(a: { name: string; roots: RootInfo[] }, b: { name: string; roots: RootInfo[] }): TrustComparison {
  const bf = new Set(b.roots.map((r) => r.fingerprint));
  const shared = a.roots.filter((r) => bf.has(r.fingerprint)).map((r) => r.fingerprint);
  if (shared.length > 0) return { ok: true, shared };
  const fmt = (roots: RootInfo[]) => roots.map((r) => `${r.fingerprint.slice(0, 23)}… (${r.trustDomain ?? 'no trust domain'})`).join(', ') || 'none';
  return {
    ok: false,
    explanation:
      `${a.name} and ${b.name} do not share a trust root, so their workloads could never verify each other: ` +
      `${a.name} trusts ${fmt(a.roots)}; ${b.name} trusts ${fmt(b.roots)}`,
  };
}

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

export function conditionOf(obj: object, type: string): Condition | undefined {
  const conds = (obj as { status?: { conditions?: Condition[] } }).status?.conditions;
  return Array.isArray(conds) ? conds.find((c) => c.type === type) : undefined;
}

const isLoopbackHost = (h: string): boolean => h === 'localhost' || h.startsWith('127.') || h === '[::1]' || h === '::1';

/**
 * The API address SOURCE's controller should use for TARGET. A kubeconfig that reaches TARGET through
 * loopback (kind, port-forwards) is useless from another cluster; the `kubernetes` Endpoints then give the
 * address the API server advertises to pods (kind: the control-plane node on the docker network).
 */
export function linkApiServer(kubeconfigServer: string, advertised: { ip: string; port: number } | undefined, override?: string): { server: string; why: string } {
  if (override) return { server: override, why: '--api-server-address' };
  const host = new URL(kubeconfigServer).hostname;
  if (advertised && isLoopbackHost(host) && !isLoopbackHost(advertised.ip)) {
    const ip = advertised.ip.includes(':') ? `[${advertised.ip}]` : advertised.ip;
    return { server: `https://${ip}:${advertised.port}`, why: `the kubeconfig reaches it over loopback; using the address it advertises (default/kubernetes)` };
  }
  return { server: kubeconfigServer, why: 'the kubeconfig\'s server' };
}
