// Admission for RBAC objects, as kube-apiserver's RBAC registry does it: field validation (422) and
// escalation prevention (403): a user may only write a Role that grants what they already hold (or
// with the `escalate` verb), and only bind a role whose permissions they hold (or with `bind`).
import { z } from 'zod';
import { AuthRequestError, invalid, type StatusCause } from './errors.js';
import { effectiveClusterRoleRules, evaluate, mastersGroup, policyRuleSchema, rbacGroup, appliesTo, type PolicyRule, type Subject } from './rbac.js';
import type { GroupResource, ObjectReader, StoredObject, UserInfo } from './types.js';

const kinds: Record<string, string> = { roles: 'Role', clusterroles: 'ClusterRole', rolebindings: 'RoleBinding', clusterrolebindings: 'ClusterRoleBinding' };

// ---- the rules a user holds (also what SelfSubjectRulesReview would list) ----

const bindingShape = z.object({
  subjects: z.array(z.object({ kind: z.string(), name: z.string(), namespace: z.string().nullish(), apiGroup: z.string().nullish() })).nullish(),
  roleRef: z.object({ kind: z.string(), name: z.string() }),
});
const rulesShape = z.object({ rules: z.array(policyRuleSchema).nullish() });

/** Every rule `user` holds in `namespace` ('' = cluster-wide rules only), through any binding. */
export function rulesFor(store: ObjectReader, user: UserInfo, namespace: string): PolicyRule[] {
  const out: PolicyRule[] = [];
  const add = (b: StoredObject, ns: string) => {
    const p = bindingShape.safeParse(b);
    if (!p.success || !(p.data.subjects ?? []).some((s) => appliesTo(user, s as Subject, ns))) return;
    if (p.data.roleRef.kind === 'ClusterRole') out.push(...(effectiveClusterRoleRules(store, p.data.roleRef.name) ?? []));
    else {
      const role = store.get({ group: rbacGroup, resource: 'roles' }, ns, p.data.roleRef.name);
      const r = role && rulesShape.safeParse(role);
      if (r && r.success) out.push(...(r.data.rules ?? []));
    }
  };
  for (const b of store.list({ group: rbacGroup, resource: 'clusterrolebindings' })) add(b, '');
  if (namespace) for (const b of store.list({ group: rbacGroup, resource: 'rolebindings' }, namespace)) add(b, namespace);
  return out;
}

// ---- covers (k8s.io/component-helpers/auth/rbac/validation) ----

const has = (set: string[], v: string) => set.includes(v);
const hasAll = (set: string[], vs: string[]) => vs.every((v) => set.includes(v));

function resourceCoversAll(owner: string[], wanted: string[]): boolean {
  if (has(owner, '*') || hasAll(owner, wanted)) return true;
  return wanted.every((w) => has(owner, w) || (w.includes('/') && has(owner, `*/${w.split('/').slice(1).join('/')}`)));
}

function nonResourceURLCovers(owner: string, wanted: string): boolean {
  return owner === wanted || (owner.endsWith('*') && wanted.startsWith(owner.replace(/\*+$/, '')));
}

function ruleCovers(owner: PolicyRule, wanted: PolicyRule): boolean {
  const verbs = has(owner.verbs, '*') || hasAll(owner.verbs, wanted.verbs);
  const groups = has(owner.apiGroups, '*') || hasAll(owner.apiGroups, wanted.apiGroups);
  const resources = resourceCoversAll(owner.resources, wanted.resources);
  const urls = wanted.nonResourceURLs.every((w) => owner.nonResourceURLs.some((o) => nonResourceURLCovers(o, w)));
  // Stricter than Kubernetes' helper (which lets a name-limited rule cover an unlimited one): a rule
  // limited to names covers only requests limited to those names.
  const names = owner.resourceNames.length === 0 || (wanted.resourceNames.length > 0 && hasAll(owner.resourceNames, wanted.resourceNames));
  return verbs && groups && resources && urls && names;
}

/** Splits a rule into one rule per verb × group × resource (× name) × URL, as Kubernetes' BreakdownRule. */
function breakdown(rule: PolicyRule): PolicyRule[] {
  const out: PolicyRule[] = [];
  for (const verb of rule.verbs) {
    for (const group of rule.apiGroups) {
      for (const resource of rule.resources) {
        if (rule.resourceNames.length) {
          for (const name of rule.resourceNames) out.push({ verbs: [verb], apiGroups: [group], resources: [resource], resourceNames: [name], nonResourceURLs: [] });
        } else out.push({ verbs: [verb], apiGroups: [group], resources: [resource], resourceNames: [], nonResourceURLs: [] });
      }
    }
    for (const url of rule.nonResourceURLs) out.push({ verbs: [verb], apiGroups: [], resources: [], resourceNames: [], nonResourceURLs: [url] });
  }
  return out;
}

/** The parts of `wanted` that no rule in `owner` covers (empty = covered). */
export function uncovered(owner: PolicyRule[], wanted: PolicyRule[]): PolicyRule[] {
  return wanted.flatMap(breakdown).filter((w) => !owner.some((o) => ruleCovers(o, w)));
}

function describeRule(r: PolicyRule): string {
  const q = (v: string[]) => `[${v.map((x) => JSON.stringify(x)).join(' ')}]`;
  const parts = [];
  if (r.apiGroups.length) parts.push(`APIGroups:${q(r.apiGroups)}`);
  if (r.resources.length) parts.push(`Resources:${q(r.resources)}`);
  if (r.resourceNames.length) parts.push(`ResourceNames:${q(r.resourceNames)}`);
  if (r.nonResourceURLs.length) parts.push(`NonResourceURLs:${q(r.nonResourceURLs)}`);
  parts.push(`Verbs:${q(r.verbs)}`);
  return `{${parts.join(', ')}}`;
}

// ---- validation ----

const rawRule = z.looseObject({
  verbs: z.array(z.string()).nullish(),
  apiGroups: z.array(z.string()).nullish(),
  resources: z.array(z.string()).nullish(),
  resourceNames: z.array(z.string()).nullish(),
  nonResourceURLs: z.array(z.string()).nullish(),
});
const roleBody = z.looseObject({ rules: z.array(rawRule).nullish(), aggregationRule: z.unknown().optional() });
const bindingBody = z.looseObject({
  subjects: z.array(z.looseObject({ kind: z.string().nullish(), name: z.string().nullish(), namespace: z.string().nullish(), apiGroup: z.string().nullish() })).nullish(),
  roleRef: z.looseObject({ apiGroup: z.string().nullish(), kind: z.string().nullish(), name: z.string().nullish() }).nullish(),
});

function validateRole(kind: string, obj: StoredObject): StatusCause[] {
  const p = roleBody.safeParse(obj);
  if (!p.success) return [{ reason: 'FieldValueInvalid', field: 'rules', message: `Invalid value: ${p.error.issues[0]?.message ?? 'malformed'}` }];
  const causes: StatusCause[] = [];
  (p.data.rules ?? []).forEach((r, i) => {
    const f = `rules[${i}]`;
    if (!r.verbs?.length) causes.push({ reason: 'FieldValueRequired', field: `${f}.verbs`, message: 'Required value: verbs must contain at least one value' });
    const urls = r.nonResourceURLs?.length ?? 0;
    if (urls && kind === 'Role') causes.push({ reason: 'FieldValueInvalid', field: `${f}.nonResourceURLs`, message: 'Invalid value: namespaced rules cannot apply to non-resource URLs' });
    if (urls && (r.apiGroups?.length || r.resources?.length)) {
      causes.push({ reason: 'FieldValueInvalid', field: `${f}.nonResourceURLs`, message: 'Invalid value: rules cannot apply to both regular resources and non-resource URLs' });
    }
    if (!urls) {
      if (!r.apiGroups?.length) causes.push({ reason: 'FieldValueRequired', field: `${f}.apiGroups`, message: 'Required value: resource rules must supply at least one api group' });
      if (!r.resources?.length) causes.push({ reason: 'FieldValueRequired', field: `${f}.resources`, message: 'Required value: resource rules must supply at least one resource' });
    }
  });
  return causes;
}

function validateBinding(kind: string, obj: StoredObject, old: StoredObject | undefined): StatusCause[] {
  const p = bindingBody.safeParse(obj);
  if (!p.success) return [{ reason: 'FieldValueInvalid', field: 'subjects', message: `Invalid value: ${p.error.issues[0]?.message ?? 'malformed'}` }];
  const causes: StatusCause[] = [];
  const ref = p.data.roleRef;
  const allowedKinds = kind === 'RoleBinding' ? ['Role', 'ClusterRole'] : ['ClusterRole'];
  if (!ref) causes.push({ reason: 'FieldValueRequired', field: 'roleRef', message: 'Required value' });
  else {
    if (ref.apiGroup && ref.apiGroup !== rbacGroup) causes.push({ reason: 'FieldValueNotSupported', field: 'roleRef.apiGroup', message: `Unsupported value: "${ref.apiGroup}": supported values: "${rbacGroup}"` });
    if (!ref.kind || !allowedKinds.includes(ref.kind)) {
      causes.push({ reason: 'FieldValueNotSupported', field: 'roleRef.kind', message: `Unsupported value: "${ref.kind ?? ''}": supported values: ${allowedKinds.map((k) => `"${k}"`).join(', ')}` });
    }
    if (!ref.name) causes.push({ reason: 'FieldValueRequired', field: 'roleRef.name', message: 'Required value' });
  }
  if (old) {
    const before = bindingBody.safeParse(old);
    const o = before.success ? before.data.roleRef : undefined;
    if (o && ref && (o.kind !== ref.kind || o.name !== ref.name || (o.apiGroup ?? rbacGroup) !== (ref.apiGroup ?? rbacGroup))) {
      causes.push({ reason: 'FieldValueInvalid', field: 'roleRef', message: 'Invalid value: cannot change roleRef' });
    }
  }
  (p.data.subjects ?? []).forEach((s, i) => {
    const f = `subjects[${i}]`;
    if (!s.name) causes.push({ reason: 'FieldValueRequired', field: `${f}.name`, message: 'Required value' });
    if (s.kind !== 'User' && s.kind !== 'Group' && s.kind !== 'ServiceAccount') {
      causes.push({ reason: 'FieldValueNotSupported', field: `${f}.kind`, message: `Unsupported value: "${s.kind ?? ''}": supported values: "ServiceAccount", "User", "Group"` });
    }
    if (s.kind === 'ServiceAccount' && kind === 'ClusterRoleBinding' && !s.namespace) {
      causes.push({ reason: 'FieldValueRequired', field: `${f}.namespace`, message: 'Required value' });
    }
  });
  return causes;
}

// ---- escalation ----

function forbidden(gr: GroupResource, name: string, user: UserInfo, why: string): AuthRequestError {
  const prefix = `${gr.resource}.${gr.group} "${name}" is forbidden: user "${user.username}" (groups=${JSON.stringify(user.groups)})`;
  return new AuthRequestError('Forbidden', `${prefix} ${why}`, { name, group: gr.group, kind: gr.resource });
}

function holdsVerb(store: ObjectReader, user: UserInfo, verb: string, resource: string, namespace: string, name: string): boolean {
  return evaluate(store, { user, verb, resourceRequest: true, apiGroup: rbacGroup, resource, subresource: '', namespace, name, path: '' }).allowed;
}

const everything: PolicyRule = { verbs: ['*'], apiGroups: ['*'], resources: ['*'], resourceNames: [], nonResourceURLs: [] };

function checkGrant(store: ObjectReader, user: UserInfo, gr: GroupResource, name: string, namespace: string, wanted: PolicyRule[]): void {
  const missing = uncovered(rulesFor(store, user, namespace), wanted);
  if (missing.length === 0) return;
  throw forbidden(gr, name, user, `is attempting to grant RBAC permissions not currently held:\n${missing.map(describeRule).join('\n')}`);
}

/**
 * Admits a create/update of an RBAC object by `user`; throws a 422 (invalid fields) or 403 (escalation).
 * Objects of other resources pass untouched.
 */
export function admitRbac(store: ObjectReader, user: UserInfo, gr: GroupResource, obj: StoredObject, old: StoredObject | undefined): void {
  const kind = gr.group === rbacGroup ? kinds[gr.resource] : undefined;
  if (!kind) return;
  const name = obj.metadata.name;
  const namespace = obj.metadata.namespace ?? '';
  const causes = kind.endsWith('Binding') ? validateBinding(kind, obj, old) : validateRole(kind, obj);
  if (causes.length) throw invalid(kind, rbacGroup, name, causes);
  if (user.groups.includes(mastersGroup)) return;

  if (kind === 'Role' || kind === 'ClusterRole') {
    if (holdsVerb(store, user, 'escalate', gr.resource, namespace, name)) return;
    const wanted = z.array(policyRuleSchema).safeParse((obj as { rules?: unknown }).rules ?? []);
    const rules = wanted.success ? wanted.data : [];
    // Aggregation can pull in any permission: only someone who holds everything may set it.
    if (kind === 'ClusterRole' && obj.aggregationRule) checkGrant(store, user, gr, name, '', [everything]);
    checkGrant(store, user, gr, name, namespace, rules);
    return;
  }
  // validateBinding has checked roleRef's shape.
  const ref = obj.roleRef as { kind: string; name: string };
  const roleGr = ref.kind === 'Role' ? 'roles' : 'clusterroles';
  if (holdsVerb(store, user, 'bind', roleGr, namespace, ref.name)) return;
  let rules: PolicyRule[] | undefined;
  if (ref.kind === 'ClusterRole') rules = effectiveClusterRoleRules(store, ref.name);
  else {
    const role = store.get({ group: rbacGroup, resource: 'roles' }, namespace, ref.name);
    const r = role && rulesShape.safeParse(role);
    rules = r && r.success ? z.array(policyRuleSchema).parse(r.data.rules ?? []) : undefined;
  }
  if (!rules) throw forbidden(gr, name, user, `cannot bind ${ref.kind} "${ref.name}": it does not exist`);
  checkGrant(store, user, gr, name, namespace, rules);
}
