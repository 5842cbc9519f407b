// The RBAC objects a fresh kube-apiserver creates (plugin/pkg/auth/authorizer/rbac/bootstrappolicy),
// limited to the ones clients of this server meet: cluster-admin, the admin/edit/view family with its
// aggregation, discovery/basic-user/public-info-viewer for every authenticated user, auth-delegator.
import { randomUUID } from 'node:crypto';
import { effectiveClusterRoleRules, mastersGroup, rbacGroup, type PolicyRule } from './rbac.js';
import type { GroupResource, ObjectReader, StoredObject } from './types.js';

const apiVersion = `${rbacGroup}/v1`;
const defaultsLabels = { 'kubernetes.io/bootstrapping': 'rbac-defaults' };
const autoupdate = { 'rbac.authorization.kubernetes.io/autoupdate': 'true' };
const aggregateTo = (role: string) => ({ [`${rbacGroup}/aggregate-to-${role}`]: 'true' });

type Rule = Partial<PolicyRule> & { verbs: string[] };
const read = ['get', 'list', 'watch'];
const write = ['create', 'delete', 'deletecollection', 'patch', 'update'];

function rule(r: Rule): PolicyRule {
  return { apiGroups: [], resources: [], resourceNames: [], nonResourceURLs: [], ...r };
}

/** A policy rule as Kubernetes serialises it: empty lists left out. */
function wire(r: PolicyRule): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(r)) if (v.length) out[k] = v;
  return out;
}

function clusterRole(name: string, rules: Rule[], labels: Record<string, string> = {}, aggregateFrom?: string): StoredObject {
  return {
    apiVersion,
    kind: 'ClusterRole',
    metadata: { name, uid: randomUUID(), resourceVersion: '', labels: { ...defaultsLabels, ...labels }, annotations: { ...autoupdate } },
    ...(aggregateFrom ? { aggregationRule: { clusterRoleSelectors: [{ matchLabels: aggregateTo(aggregateFrom) }] } } : {}),
    rules: rules.map((r) => wire(rule(r))),
  };
}

function clusterRoleBinding(name: string, role: string, groups: string[]): StoredObject {
  return {
    apiVersion,
    kind: 'ClusterRoleBinding',
    metadata: { name, uid: randomUUID(), resourceVersion: '', labels: { ...defaultsLabels }, annotations: { ...autoupdate } },
    roleRef: { apiGroup: rbacGroup, kind: 'ClusterRole', name: role },
    subjects: groups.map((g) => ({ apiGroup: rbacGroup, kind: 'Group', name: g })),
  };
}

const discoveryURLs = ['/api', '/api/*', '/apis', '/apis/*', '/healthz', '/livez', '/openapi', '/openapi/*', '/readyz', '/version', '/version/'];
const publicInfoURLs = ['/healthz', '/livez', '/readyz', '/version', '/version/'];

function roles(): StoredObject[] {
  return [
    clusterRole('cluster-admin', [
      { apiGroups: ['*'], resources: ['*'], verbs: ['*'] },
      { nonResourceURLs: ['*'], verbs: ['*'] },
    ]),
    clusterRole('admin', [], {}, 'admin'),
    clusterRole('edit', [], aggregateTo('admin'), 'edit'),
    clusterRole('view', [], aggregateTo('edit'), 'view'),
    clusterRole('system:aggregate-to-admin', [
      { apiGroups: ['authorization.k8s.io'], resources: ['localsubjectaccessreviews'], verbs: ['create'] },
      { apiGroups: [rbacGroup], resources: ['rolebindings', 'roles'], verbs: [...write, ...read] },
    ], aggregateTo('admin')),
    clusterRole('system:aggregate-to-edit', [
      { apiGroups: [''], resources: ['pods/attach', 'pods/exec', 'pods/portforward', 'pods/proxy', 'secrets', 'services/proxy'], verbs: read },
      { apiGroups: [''], resources: ['serviceaccounts'], verbs: ['impersonate'] },
      { apiGroups: [''], resources: ['pods', 'pods/attach', 'pods/exec', 'pods/portforward', 'pods/proxy'], verbs: write },
      { apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] },
      { apiGroups: [''], resources: ['configmaps', 'events', 'persistentvolumeclaims', 'replicationcontrollers', 'replicationcontrollers/scale', 'secrets', 'serviceaccounts', 'services', 'services/proxy'], verbs: write },
      { apiGroups: [''], resources: ['serviceaccounts/token'], verbs: ['create'] },
      { apiGroups: ['apps'], resources: ['daemonsets', 'deployments', 'deployments/rollback', 'deployments/scale', 'replicasets', 'replicasets/scale', 'statefulsets', 'statefulsets/scale'], verbs: write },
      { apiGroups: ['batch'], resources: ['cronjobs', 'jobs'], verbs: write },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: write },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: [...read, ...write] },
    ], aggregateTo('edit')),
    clusterRole('system:aggregate-to-view', [
      { apiGroups: [''], resources: ['configmaps', 'endpoints', 'persistentvolumeclaims', 'persistentvolumeclaims/status', 'pods', 'replicationcontrollers', 'replicationcontrollers/scale', 'serviceaccounts', 'services', 'services/status'], verbs: read },
      { apiGroups: [''], resources: ['bindings', 'events', 'limitranges', 'namespaces/status', 'pods/log', 'pods/status', 'replicationcontrollers/status', 'resourcequotas', 'resourcequotas/status'], verbs: read },
      { apiGroups: [''], resources: ['namespaces'], verbs: read },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: read },
      { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: read },
      { apiGroups: ['apps'], resources: ['controllerrevisions', 'daemonsets', 'daemonsets/status', 'deployments', 'deployments/scale', 'deployments/status', 'replicasets', 'replicasets/scale', 'replicasets/status', 'statefulsets', 'statefulsets/scale', 'statefulsets/status'], verbs: read },
      { apiGroups: ['batch'], resources: ['cronjobs', 'cronjobs/status', 'jobs', 'jobs/status'], verbs: read },
    ], aggregateTo('view')),
    clusterRole('system:discovery', [{ nonResourceURLs: discoveryURLs, verbs: ['get'] }]),
    clusterRole('system:public-info-viewer', [{ nonResourceURLs: publicInfoURLs, verbs: ['get'] }]),
    clusterRole('system:basic-user', [
      { apiGroups: ['authentication.k8s.io'], resources: ['selfsubjectreviews'], verbs: ['create'] },
      { apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'], verbs: ['create'] },
    ]),
    clusterRole('system:auth-delegator', [
      { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
      { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
    ]),
  ];
}

/** A reader over a fixed list, to run the real aggregation over the bootstrap roles themselves. */
function listReader(objs: StoredObject[]): ObjectReader {
  return {
    get: (_gr: GroupResource, _ns, name) => objs.find((o) => o.metadata.name === name),
    list: () => objs,
  };
}

/**
 * Seed objects, in creation order. Aggregated roles carry their aggregated rules already, as
 * kube-controller-manager would have written them, so `kubectl get clusterrole admin -o yaml` shows them;
 * the authorizer still re-aggregates live, so roles labelled later count at once.
 */
export function bootstrapPolicy(): StoredObject[] {
  const rs = roles();
  // A separate copy to compute from: the authorizer caches parses per object, so the objects handed to
  // the store must not be parsed before their rules are filled in.
  const reader = listReader(roles());
  for (const r of rs) {
    if (!r.aggregationRule) continue;
    r.rules = (effectiveClusterRoleRules(reader, r.metadata.name) ?? []).map(wire);
  }
  return [
    ...rs,
    clusterRoleBinding('cluster-admin', 'cluster-admin', [mastersGroup]),
    clusterRoleBinding('system:discovery', 'system:discovery', ['system:authenticated']),
    clusterRoleBinding('system:basic-user', 'system:basic-user', ['system:authenticated']),
    clusterRoleBinding('system:public-info-viewer', 'system:public-info-viewer', ['system:authenticated', 'system:unauthenticated']),
  ];
}
