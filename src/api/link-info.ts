// A Link as readers show it (`mesh links`, `mesh gateways`, `mesh dashboard`): the few facts of its spec and
// status a person needs, flattened. Pure; the objects come from the API server.
import { GATEWAY_TUNNEL_PORT, LINK_API_VERSION, LINK_PLURAL, MESH_NAMESPACE } from './names.js';
import type { LinkStatus } from './link.js';

/** Collection path of the Links in the mesh namespace. */
export const LINKS_PATH = `/apis/${LINK_API_VERSION}/namespaces/${MESH_NAMESPACE}/${LINK_PLURAL}`;

export interface LinkInfo {
  name: string;
  target: string;
  mode: 'gateway' | 'flat';
  gateway?: string;
  conditions: { type: string; status: string; reason: string; message: string }[];
  mirroredServices: number;
  /** Every remote Service of the Link and its shadow here (a long name is cut and ends in a hash). */
  services: { namespace: string; name: string; shadow: string; mode: string; problem?: string }[];
  /** Remote Services the controller could not mirror, and why (e.g. the namespace is missing here). */
  problems: { service: string; problem: string }[];
  lastProbe?: LinkStatus['lastProbe'];
}

/** What linkInfo needs of a Link object (the mirror's `Link` type fits). */
export interface LinkObject {
  metadata?: { name?: string };
  spec?: unknown;
  status?: unknown;
}

export function linkInfo(l: LinkObject): LinkInfo {
  const spec = (l.spec ?? {}) as { targetClusterName?: string; gateway?: { addresses?: string[]; port?: number } };
  const st = (l.status ?? {}) as LinkStatus;
  return {
    name: l.metadata?.name ?? '',
    target: spec.targetClusterName ?? '',
    mode: spec.gateway ? 'gateway' : 'flat',
    gateway: spec.gateway ? `${(spec.gateway.addresses ?? []).join(',')}:${spec.gateway.port ?? GATEWAY_TUNNEL_PORT}` : undefined,
    conditions: (st.conditions ?? []).map((c) => ({ type: c.type, status: c.status, reason: c.reason, message: c.message })),
    mirroredServices: st.mirroredServices?.count ?? 0,
    services: (st.mirroredServices?.services ?? []).map((m) => ({ namespace: m.namespace, name: m.name, shadow: m.shadow, mode: m.mode, ...(m.problem ? { problem: m.problem } : {}) })),
    problems: (st.mirroredServices?.services ?? []).filter((m) => m.problem).map((m) => ({ service: `${m.namespace}/${m.name}`, problem: m.problem as string })),
    lastProbe: st.lastProbe,
  };
}

/**
 * Is the Link's remote gateway alive, as the controller's probe sees it: the last probe, else the
 * GatewayReachable condition; null for a flat Link (no gateway on the path) or before any verdict.
 */
export function gatewayAlive(i: LinkInfo): boolean | null {
  if (i.mode === 'flat') return null;
  if (i.lastProbe) return i.lastProbe.success;
  const reach = i.conditions.find((x) => x.type === 'GatewayReachable');
  return reach ? reach.status === 'True' : null;
}
