// Issue 14: the traffic policy of an exported service, set by annotations on its ServiceExport and merged into
// the import by the oldest-wins rule (the oldest valid export's policy is the import's). One schema, read by
// the mirror (which endpoints an import's EndpointSlices carry), the CLI (`mesh imports`) and the docs. The
// annotation names are in names.ts: traffic-policy, failover-order (`ordered`: `cluster-c,cluster-b`),
// min-ready (the ready endpoints a preferred cluster needs, default 1) and hold-down-seconds.
import { z } from 'zod';
import { clusterIdSchema } from './mcs.js';
import { FAILOVER_ORDER_ANNOTATION, HOLD_DOWN_ANNOTATION, MIN_READY_ANNOTATION, TRAFFIC_POLICY_ANNOTATION } from './names.js';

export const TRAFFIC_POLICIES = ['balanced', 'local-first', 'ordered'] as const;
export type TrafficPolicyName = (typeof TRAFFIC_POLICIES)[number];
export const DEFAULT_TRAFFIC_POLICY: TrafficPolicyName = 'balanced';
export const DEFAULT_MIN_READY = 1;
export const DEFAULT_HOLD_DOWN_SECONDS = 10;

/** The ServiceExport condition that echoes the policy (reasons below). */
export const TRAFFIC_POLICY_CONDITION = 'TrafficPolicy';
export const TRAFFIC_POLICY_REASONS = { accepted: 'Accepted', invalid: 'InvalidTrafficPolicy' } as const;

export interface TrafficPolicy {
  policy: TrafficPolicyName;
  /** `ordered` only: preferred clusters first; clusters not named come after them, balanced. */
  order: string[];
  minReady: number;
  holdDownSeconds: number;
}

export const DEFAULT_POLICY: TrafficPolicy = { policy: DEFAULT_TRAFFIC_POLICY, order: [], minReady: DEFAULT_MIN_READY, holdDownSeconds: DEFAULT_HOLD_DOWN_SECONDS };

const intString = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,6}$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const annotationsSchema = z
  .object({
    [TRAFFIC_POLICY_ANNOTATION]: z.enum(TRAFFIC_POLICIES).optional(),
    [FAILOVER_ORDER_ANNOTATION]: z
      .string()
      .max(4096)
      .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
      .pipe(z.array(clusterIdSchema).min(1, 'must name at least one cluster').max(64).refine((l) => new Set(l).size === l.length, 'names a cluster twice'))
      .optional(),
    [MIN_READY_ANNOTATION]: intString(1, 100_000).optional(),
    [HOLD_DOWN_ANNOTATION]: intString(0, 3600).optional(),
  })
  .superRefine((a, ctx) => {
    const policy = a[TRAFFIC_POLICY_ANNOTATION] ?? DEFAULT_TRAFFIC_POLICY;
    if (policy === 'ordered' && !a[FAILOVER_ORDER_ANNOTATION]) ctx.addIssue({ code: 'custom', path: [FAILOVER_ORDER_ANNOTATION], message: 'required with traffic-policy ordered' });
    if (policy !== 'ordered' && a[FAILOVER_ORDER_ANNOTATION]) ctx.addIssue({ code: 'custom', path: [FAILOVER_ORDER_ANNOTATION], message: `only read with traffic-policy ordered (this export's is ${policy})` });
  });

export type ParsedTrafficPolicy = { ok: true; policy: TrafficPolicy } | { ok: false; error: string };

/** The policy of one ServiceExport from its annotations; an error names the annotation, e.g. `multicluster.mesh.io/min-ready: …`. */
export function parseTrafficPolicy(annotations: Record<string, string> | undefined): ParsedTrafficPolicy {
  const r = annotationsSchema.safeParse(annotations ?? {});
  if (!r.success) return { ok: false, error: r.error.issues.map((i) => `${i.path.join('.') || 'annotations'}: ${i.message}`).join('; ') };
  const a = r.data;
  return {
    ok: true,
    policy: {
      policy: a[TRAFFIC_POLICY_ANNOTATION] ?? DEFAULT_TRAFFIC_POLICY,
      order: a[FAILOVER_ORDER_ANNOTATION] ?? [],
      minReady: a[MIN_READY_ANNOTATION] ?? DEFAULT_MIN_READY,
      holdDownSeconds: a[HOLD_DOWN_ANNOTATION] ?? DEFAULT_HOLD_DOWN_SECONDS,
    },
  };
}

/** One line for conditions, logs and the CLI: `local-first (min-ready 2, hold-down 10s)`. */
export function describePolicy(p: TrafficPolicy): string {
  const order = p.policy === 'ordered' ? ` ${p.order.join(',')}` : '';
  return p.policy === 'balanced' ? 'balanced' : `${p.policy}${order} (min-ready ${p.minReady}, hold-down ${p.holdDownSeconds}s)`;
}

/** Why a cluster's endpoints are or are not in the import (ServiceImport status, `mesh imports`). */
export const SERVING_REASONS = {
  serving: 'Serving',
  noReadyEndpoints: 'NoReadyEndpoints',
  probeFailing: 'ProbeFailing',
  policy: 'Policy',
  holdDown: 'HoldDown',
} as const;
export type ServingReason = (typeof SERVING_REASONS)[keyof typeof SERVING_REASONS];

/** Events on the ServiceImport when the serving clusters change. */
export const FAILOVER_EVENT = 'Failover';
export const FAILBACK_EVENT = 'Failback';
