// RBAC evaluated the way kube-apiserver's RBAC authorizer does it (plugin/pkg/auth/authorizer/rbac):
// ClusterRoleBindings first, then the RoleBindings of the request's namespace; the first rule that
// allows wins; nothing is ever denied explicitly. Pure: all state comes through ObjectReader.
import { z } from 'zod';
import type { Decision, GroupResource, ObjectReader, RequestAttributes, StoredObject, UserInfo } from './types.js';

export const rbacGroup = 'rbac.authorization.k8s.io';
const roles: GroupResource = { group: rbacGroup, resource: 'roles' };
const clusterRoles: GroupResource = { group: rbacGroup, resource: 'clusterroles' };
const roleBindings: GroupResource = { group: rbacGroup, resource: 'rolebindings' };
const clusterRoleBindings: GroupResource = { group: rbacGroup, resource: 'clusterrolebindings' };

/** Members of this group may do anything (kube-apiserver's privileged-group authorizer). */
export const mastersGroup = 'system:masters';

const strings = z.array(z.string()).nullish().transform((v) => v ?? []);
export const policyRuleSchema = z.object({
  verbs: strings,
  apiGroups: strings,
  resources: strings,
  resourceNames: strings,
  nonResourceURLs: strings,
});
export type PolicyRule = z.infer<typeof policyRuleSchema>;

const labelSelectorSchema = z.object({
  matchLabels: z.record(z.string(), z.string()).nullish(),
  matchExpressions: z
    .array(z.object({ key: z.string(), operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']), values: strings }))
    .nullish(),
});
export type LabelSelector = z.infer<typeof labelSelectorSchema>;

const roleSchema = z.object({
  metadata: z.object({ name: z.string(), labels: z.record(z.string(), z.string()).nullish() }),
  rules: z.array(policyRuleSchema).nullish().transform((v) => v ?? []),
  aggregationRule: z.object({ clusterRoleSelectors: z.array(labelSelectorSchema).nullish() }).nullish(),
});

const subjectSchema = z.object({
  kind: z.string(),
  name: z.string(),
  namespace: z.string().nullish(),
  apiGroup: z.string().nullish(),
});
export type Subject = z.infer<typeof subjectSchema>;

const bindingSchema = z.object({
  metadata: z.object({ name: z.string(), namespace: z.string().nullish() }),
  subjects: z.array(subjectSchema).nullish().transform((v) => v ?? []),
  roleRef: z.object({ apiGroup: z.string().nullish(), kind: z.enum(['Role', 'ClusterRole']), name: z.string() }),
});
type Binding = z.infer<typeof bindingSchema>;

// Parses are cached per stored object and resourceVersion (an update in place changes the version),
// so the per-request cost is a lookup, not a schema walk.
const parsed = new WeakMap<StoredObject, { rv: string; value: unknown }>();
function parse<T>(schema: z.ZodType<T>, obj: StoredObject): T | undefined {
  const rv = obj.metadata.resourceVersion;
  const hit = parsed.get(obj);
  if (hit && hit.rv === rv && rv !== '') return hit.value as T | undefined;
  const r = schema.safeParse(obj);
  const value = r.success ? r.data : undefined;
  parsed.set(obj, { rv, value });
  return value;
}

// ---- rule matching (rbac/v1 helpers) ----

export function verbMatches(rule: PolicyRule, verb: string): boolean {
  return rule.verbs.some((v) => v === '*' || v === verb);
}

export function apiGroupMatches(rule: PolicyRule, group: string): boolean {
  return rule.apiGroups.some((g) => g === '*' || g === group);
}

export function resourceMatches(rule: PolicyRule, combined: string, subresource: string): boolean {
  return rule.resources.some(
    (r) => r === '*' || r === combined || (subresource !== '' && r.length === subresource.length + 2 && r.startsWith('*/') && r.endsWith(subresource)),
  );
}

export function resourceNameMatches(rule: PolicyRule, name: string): boolean {
  return rule.resourceNames.length === 0 || rule.resourceNames.includes(name);
}

export function nonResourceURLMatches(rule: PolicyRule, path: string): boolean {
  return rule.nonResourceURLs.some((u) => u === '*' || u === path || (u.endsWith('*') && path.startsWith(u.replace(/\*+$/, ''))));
}

export function ruleAllows(attrs: RequestAttributes, rule: PolicyRule): boolean {
  if (!verbMatches(rule, attrs.verb)) return false;
  if (!attrs.resourceRequest) return nonResourceURLMatches(rule, attrs.path);
  const combined = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
  return apiGroupMatches(rule, attrs.apiGroup) && resourceMatches(rule, combined, attrs.subresource) && resourceNameMatches(rule, attrs.name);
}

// ---- subjects ----

/** Whether a binding's subject names `user`; `bindingNamespace` defaults a ServiceAccount subject's namespace. */
export function appliesTo(user: UserInfo, subject: Subject, bindingNamespace: string): boolean {
  switch (subject.kind) {
    case 'User':
      return user.username === subject.name;
    case 'Group':
      return user.groups.includes(subject.name);
    case 'ServiceAccount': {
      const ns = subject.namespace || bindingNamespace;
      return ns !== '' && user.username === `system:serviceaccount:${ns}:${subject.name}`;
    }
    default:
      return false;
  }
}

function describeSubject(s: Subject, bindingNamespace: string): string {
  if (s.kind === 'ServiceAccount') return `ServiceAccount "${s.name}/${s.namespace || bindingNamespace}"`;
  return `${s.kind} "${s.name}"`;
}

// ---- label selectors (aggregation) ----

export function selectorMatches(sel: LabelSelector, labels: Record<string, string>): boolean {
  const ml = sel.matchLabels ?? {};
  const me = sel.matchExpressions ?? [];
  // An empty selector matches nothing here: Kubernetes' aggregation ignores empty selectors.
  if (Object.keys(ml).length === 0 && me.length === 0) return false;
  for (const [k, v] of Object.entries(ml)) if (labels[k] !== v) return false;
  for (const e of me) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const val = labels[e.key];
    switch (e.operator) {
      case 'In': if (!has || !e.values.includes(val as string)) return false; break;
      case 'NotIn': if (has && e.values.includes(val as string)) return false; break;
      case 'Exists': if (!has) return false; break;
      case 'DoesNotExist': if (has) return false; break;
    }
  }
  return true;
}

/**
 * The rules of a ClusterRole, with aggregation applied: kube-controller-manager copies the rules of
 * every ClusterRole matching `aggregationRule` into the aggregated role; we compute the same union when
 * evaluating, so a newly labelled role takes effect at once. Undefined when the role does not exist.
 */
export function effectiveClusterRoleRules(store: ObjectReader, name: string, seen: Set<string> = new Set()): PolicyRule[] | undefined {
  const obj = store.get(clusterRoles, undefined, name);
  const role = obj && parse(roleSchema, obj);
  if (!role) return undefined;
  const selectors = role.aggregationRule?.clusterRoleSelectors ?? [];
  if (selectors.length === 0) return role.rules;
  seen.add(name);
  const out = [...role.rules];
  for (const other of store.list(clusterRoles)) {
    const o = parse(roleSchema, other);
    if (!o || seen.has(o.metadata.name)) continue;
    const labels = o.metadata.labels ?? {};
    if (!selectors.some((s) => selectorMatches(s, labels))) continue;
    out.push(...(effectiveClusterRoleRules(store, o.metadata.name, seen) ?? []));
  }
  return out;
}

// ---- evaluation ----

export interface Evaluation {
  allowed: boolean;
  /** Allowed: which binding allowed it. Denied: '' or the evaluation errors (`RBAC: role ... not found`). */
  reason: string;
}

function rulesFor(store: ObjectReader, binding: Binding, namespace: string): { rules: PolicyRule[]; error?: string } {
  const { kind, name } = binding.roleRef;
  if (kind === 'ClusterRole') {
    const rules = effectiveClusterRoleRules(store, name);
    return rules ? { rules } : { rules: [], error: `clusterrole.${rbacGroup} "${name}" not found` };
  }
  const obj = store.get(roles, namespace, name);
  const role = obj && parse(roleSchema, obj);
  return role ? { rules: role.rules } : { rules: [], error: `role.${rbacGroup} "${name}" not found` };
}

/** Kubernetes' RBAC decision for `attrs`; `system:masters` short-circuits as kube-apiserver does. */
export function evaluate(store: ObjectReader, attrs: RequestAttributes): Evaluation {
  if (attrs.user.groups.includes(mastersGroup)) return { allowed: true, reason: `allowed: user is in group "${mastersGroup}"` };
  const errors: string[] = [];
  const visit = (kindName: string, bindingObj: StoredObject, namespace: string): string | undefined => {
    const b = parse(bindingSchema, bindingObj);
    if (!b) return undefined;
    const subject = b.subjects.find((s) => appliesTo(attrs.user, s, namespace));
    if (!subject) return undefined;
    const { rules, error } = rulesFor(store, b, namespace);
    if (error) errors.push(error);
    if (!rules.some((r) => ruleAllows(attrs, r))) return undefined;
    const bname = namespace ? `${b.metadata.name}/${namespace}` : b.metadata.name;
    return `RBAC: allowed by ${kindName} "${bname}" of ${b.roleRef.kind} "${b.roleRef.name}" to ${describeSubject(subject, namespace)}`;
  };
  for (const crb of store.list(clusterRoleBindings)) {
    const why = visit('ClusterRoleBinding', crb, '');
    if (why) return { allowed: true, reason: why };
  }
  if (attrs.namespace) {
    for (const rb of store.list(roleBindings, attrs.namespace)) {
      const why = visit('RoleBinding', rb, attrs.namespace);
      if (why) return { allowed: true, reason: why };
    }
  }
  // Same shape as Go's utilerrors.NewAggregate: one error bare, several in brackets.
  const agg = errors.length === 1 ? errors[0] : `[${errors.join(', ')}]`;
  return { allowed: false, reason: errors.length ? `RBAC: ${agg}` : '' };
}

/** The sentence kube-apiserver puts in a 403: `User "u" cannot list resource "secrets" in API group "" in the namespace "x"`. */
export function forbiddenMessage(attrs: RequestAttributes): string {
  const u = attrs.user.username;
  if (!attrs.resourceRequest) return `User "${u}" cannot ${attrs.verb} path "${attrs.path}"`;
  const resource = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
  const where = attrs.namespace ? `in the namespace "${attrs.namespace}"` : 'at the cluster scope';
  return `User "${u}" cannot ${attrs.verb} resource "${resource}" in API group "${attrs.apiGroup}" ${where}`;
}

/**
 * The authorizer the core calls on every request. As kube-apiserver's RBAC authorizer, a denial's reason
 * is '' or the evaluation errors (`RBAC: role... not found`); the core writes the 403 sentence
 * (`forbiddenMessage`) and appends the reason after ': '.
 */
export function authorize(store: ObjectReader, attrs: RequestAttributes): Decision {
  return evaluate(store, attrs);
}
