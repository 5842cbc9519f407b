// Authorization policies of this cluster's exports (issue 15), reported where their owner sees them: a
// Service exported through the gateway (label or ServiceExport) whose mirror.mesh.io/allowed-identities or
// mirror.mesh.io/export-to does not parse gets a Warning Event `InvalidAuthorization` naming the problem
// (the gateway admits nobody to it meanwhile); so does a Namespace whose mirror.mesh.io/default-allowed-identities
// does not parse (every export of it without its own list admits nobody). Level-triggered: the reconcilers
// read the caches; the handlers enqueue a Namespace only when its default is set or changes, and the
// recorder folds repeats of one message into one Event's count.
import { ALLOWED_IDENTITIES_ANNOTATION, DEFAULT_ALLOWED_IDENTITIES_ANNOTATION, EXPORT_GATEWAY_VALUES, EXPORT_LABEL, EXPORT_TO_ANNOTATION, MIRRORED_LABEL, parseAllowList, parseExportTo } from '../api/index.js';
import type { KubeObject, ReconcileContext, ReconcileResult } from '../kube/index.js';
import type { MirrorEnv } from './env.js';

export const INVALID_AUTHORIZATION_REASON = 'InvalidAuthorization';

/** The problems of one Service's authorization annotations, as its owner should read them; pure. */
export function policyProblems(annotations: Record<string, string> | undefined): string[] {
  const out: string[] = [];
  const allow = annotations?.[ALLOWED_IDENTITIES_ANNOTATION];
  const a = allow === undefined ? undefined : parseAllowList(allow);
  if (a && !a.ok) out.push(`${ALLOWED_IDENTITIES_ANNOTATION} ${a.message}; the gateway admits no caller until it is fixed`);
  const to = annotations?.[EXPORT_TO_ANNOTATION];
  const s = to === undefined ? undefined : parseExportTo(to);
  if (s && !s.ok) out.push(`${EXPORT_TO_ANNOTATION} ${s.message}; it is exported to no cluster until it is fixed`);
  return out;
}

/** Whether a Service change can matter here: it carries one of the annotations (handlers filter with it). */
export function hasPolicy(s: KubeObject): boolean {
  const a = s.metadata?.annotations;
  return a !== undefined && (a[ALLOWED_IDENTITIES_ANNOTATION] !== undefined || a[EXPORT_TO_ANNOTATION] !== undefined);
}

export async function reconcilePolicy(env: MirrorEnv, namespace: string, name: string, ctx: ReconcileContext): Promise<ReconcileResult> {
  const svc = env.caches.service(namespace, name);
  if (!svc || svc.metadata?.labels?.[MIRRORED_LABEL] === 'true') return;
  const exported = (EXPORT_GATEWAY_VALUES as readonly string[]).includes(svc.metadata?.labels?.[EXPORT_LABEL] ?? '') || env.caches.serviceExports.getByName(namespace, name) !== undefined;
  if (!exported) return;
  for (const p of policyProblems(svc.metadata?.annotations)) {
    ctx.log.warn('invalid authorization policy on an exported Service', { namespace, service: name, problem: p });
    await env.events.record({ ...svc, apiVersion: 'v1', kind: 'Service' }, 'Warning', INVALID_AUTHORIZATION_REASON, p, { signal: ctx.signal, log: ctx.log });
  }
}

/** The problem of a Namespace's default list, as its owner should read it; pure. */
export function namespaceDefaultProblem(annotations: Record<string, string> | undefined): string | undefined {
  const raw = annotations?.[DEFAULT_ALLOWED_IDENTITIES_ANNOTATION];
  const p = raw === undefined ? undefined : parseAllowList(raw);
  return p && !p.ok ? `${DEFAULT_ALLOWED_IDENTITIES_ANNOTATION} ${p.message}; the gateway admits no caller to this namespace's exports without their own allowed-identities until it is fixed` : undefined;
}

/** Whether a Namespace event can matter: its default list is set and new, or changed. */
export function namespaceDefaultChanged(old: KubeObject | undefined, now: KubeObject): boolean {
  const v = now.metadata?.annotations?.[DEFAULT_ALLOWED_IDENTITIES_ANNOTATION];
  return v !== undefined && v !== old?.metadata?.annotations?.[DEFAULT_ALLOWED_IDENTITIES_ANNOTATION];
}

export async function reconcileNamespacePolicy(env: MirrorEnv, namespace: string, ctx: ReconcileContext): Promise<ReconcileResult> {
  const ns = env.caches.namespaces.get(namespace);
  const problem = ns && namespaceDefaultProblem(ns.metadata?.annotations);
  if (!ns || !problem) return;
  ctx.log.warn('invalid namespace default authorization policy', { namespace, problem });
  await env.events.record({ ...ns, apiVersion: 'v1', kind: 'Namespace' }, 'Warning', INVALID_AUTHORIZATION_REASON, problem, { signal: ctx.signal, log: ctx.log });
}
