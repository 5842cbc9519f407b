// Kubernetes label selectors as a Link carries them: schema, matching, and the server-side string form.
import { z } from 'zod';

const selectorRequirement = z.object({
  key: z.string().min(1),
  operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
  values: z.array(z.string()).optional(),
});

export const labelSelectorSchema = z
  .object({
    matchLabels: z.record(z.string(), z.string()).optional(),
    matchExpressions: z.array(selectorRequirement).optional(),
  })
  .refine(
    (s) => (s.matchExpressions ?? []).every((r) => ((r.operator === 'In' || r.operator === 'NotIn') ? (r.values?.length ?? 0) > 0 : !r.values?.length)),
    { message: 'In/NotIn need values; Exists/DoesNotExist take none' },
  );
export type LabelSelector = z.infer<typeof labelSelectorSchema>;

export function matchesSelector(labels: Record<string, string> | undefined, sel: LabelSelector): boolean {
  const l = labels ?? {};
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const r of sel.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    switch (r.operator) {
      case 'In':
        if (!has || !(r.values ?? []).includes(l[r.key])) return false;
        break;
      case 'NotIn':
        if (has && (r.values ?? []).includes(l[r.key])) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  // An empty selector selects nothing here: mirroring every Service of a cluster is never what a Link means.
  return Object.keys(sel.matchLabels ?? {}).length + (sel.matchExpressions ?? []).length > 0;
}

/** The label selector string for a server-side list/watch, or undefined if it cannot be expressed as one. */
export function selectorString(sel: LabelSelector): string | undefined {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) parts.push(`${k}=${v}`);
  for (const r of sel.matchExpressions ?? []) {
    const vals = (r.values ?? []).join(',');
    if (r.operator === 'In') parts.push(`${r.key} in (${vals})`);
    else if (r.operator === 'NotIn') parts.push(`${r.key} notin (${vals})`);
    else if (r.operator === 'Exists') parts.push(r.key);
    else parts.push(`!${r.key}`);
  }
  return parts.length ? parts.join(',') : undefined;
}
