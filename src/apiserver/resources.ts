// The resource registry: which group/version/resource names exist, their kinds, scope, verbs and
// subresources. Built-in types are listed here; CustomResourceDefinitions add and remove entries at run time.

export interface ResourceDef {
  group: string;
  /** Versions served; the first is the preferred (and storage) version. */
  versions: string[];
  resource: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  verbs: string[];
  /** Subresources stored on the object (`status`) or answered by a handler (`token`). */
  subresources: string[];
  /** True for types defined by a CRD. */
  custom: boolean;
  /** Create-only endpoints answered by the security module (tokenreviews ...), never stored. */
  virtual?: boolean;
  /** Custom resources: spec.names.listKind (default <Kind>List). */
  listKind?: string;
  /** Custom resources: additionalPrinterColumns per version. */
  printerColumns?: Record<string, { name: string; type: string; jsonPath: string; priority: number }[]>;
}

const rw = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

function def(
  group: string,
  version: string,
  resource: string,
  kind: string,
  namespaced: boolean,
  extra: Partial<Pick<ResourceDef, 'shortNames' | 'categories' | 'subresources' | 'verbs' | 'virtual'>> = {},
): ResourceDef {
  return {
    group,
    versions: [version],
    resource,
    singular: kind.toLowerCase(),
    kind,
    namespaced,
    shortNames: extra.shortNames ?? [],
    categories: extra.categories ?? [],
    verbs: extra.verbs ?? rw,
    subresources: extra.subresources ?? [],
    custom: false,
    ...(extra.virtual ? { virtual: true } : {}),
  };
}

export const builtinResources: ResourceDef[] = [
  def('', 'v1', 'namespaces', 'Namespace', false, { shortNames: ['ns'], subresources: ['status', 'finalize'] }),
  def('', 'v1', 'services', 'Service', true, { shortNames: ['svc'], categories: ['all'], subresources: ['status'] }),
  def('', 'v1', 'endpoints', 'Endpoints', true, { shortNames: ['ep'] }),
  def('', 'v1', 'pods', 'Pod', true, { shortNames: ['po'], categories: ['all'], subresources: ['status', 'proxy', 'log', 'exec', 'attach', 'portforward'] }),
  def('', 'v1', 'secrets', 'Secret', true),
  def('', 'v1', 'configmaps', 'ConfigMap', true, { shortNames: ['cm'] }),
  def('', 'v1', 'serviceaccounts', 'ServiceAccount', true, { shortNames: ['sa'], subresources: ['token'] }),
  def('', 'v1', 'events', 'Event', true, { shortNames: ['ev'] }),
  def('', 'v1', 'nodes', 'Node', false, { shortNames: ['no'], subresources: ['status'] }),
  def('discovery.k8s.io', 'v1', 'endpointslices', 'EndpointSlice', true),
  def('events.k8s.io', 'v1', 'events', 'Event', true, { shortNames: ['ev'] }),
  def('coordination.k8s.io', 'v1', 'leases', 'Lease', true),
  def('apps', 'v1', 'deployments', 'Deployment', true, { shortNames: ['deploy'], categories: ['all'], subresources: ['status', 'scale'] }),
  def('apps', 'v1', 'statefulsets', 'StatefulSet', true, { shortNames: ['sts'], categories: ['all'], subresources: ['status', 'scale'] }),
  def('apps', 'v1', 'replicasets', 'ReplicaSet', true, { shortNames: ['rs'], categories: ['all'], subresources: ['status', 'scale'] }),
  def('apps', 'v1', 'daemonsets', 'DaemonSet', true, { shortNames: ['ds'], categories: ['all'], subresources: ['status'] }),
  def('batch', 'v1', 'jobs', 'Job', true, { categories: ['all'], subresources: ['status'] }),
  def('policy', 'v1', 'poddisruptionbudgets', 'PodDisruptionBudget', true, { shortNames: ['pdb'], subresources: ['status'] }),
  def('rbac.authorization.k8s.io', 'v1', 'roles', 'Role', true),
  def('rbac.authorization.k8s.io', 'v1', 'clusterroles', 'ClusterRole', false),
  def('rbac.authorization.k8s.io', 'v1', 'rolebindings', 'RoleBinding', true),
  def('rbac.authorization.k8s.io', 'v1', 'clusterrolebindings', 'ClusterRoleBinding', false),
  def('apiextensions.k8s.io', 'v1', 'customresourcedefinitions', 'CustomResourceDefinition', false, {
    shortNames: ['crd', 'crds'],
    categories: ['api-extensions'],
    subresources: ['status'],
  }),
  def('authentication.k8s.io', 'v1', 'tokenreviews', 'TokenReview', false, { verbs: ['create'], virtual: true }),
  def('authentication.k8s.io', 'v1', 'selfsubjectreviews', 'SelfSubjectReview', false, { verbs: ['create'], virtual: true }),
  def('authorization.k8s.io', 'v1', 'selfsubjectaccessreviews', 'SelfSubjectAccessReview', false, { verbs: ['create'], virtual: true }),
  def('authorization.k8s.io', 'v1', 'selfsubjectrulesreviews', 'SelfSubjectRulesReview', false, { verbs: ['create'], virtual: true }),
  def('authorization.k8s.io', 'v1', 'subjectaccessreviews', 'SubjectAccessReview', false, { verbs: ['create'], virtual: true }),
];

export function grKey(group: string, resource: string): string {
  return group ? `${resource}.${group}` : resource;
}

export function apiVersionOf(group: string, version: string): string {
  return group ? `${group}/${version}` : version;
}

/** Mutable registry: built-ins plus CRD-defined resources. */
export class Registry {
  private readonly byGR = new Map<string, ResourceDef>();
  private generation = 0;

  constructor() {
    for (const d of builtinResources) this.byGR.set(grKey(d.group, d.resource), d);
  }

  /** Bumped on every change, so discovery caches know when to rebuild. */
  get version(): number {
    return this.generation;
  }

  add(d: ResourceDef): void {
    this.byGR.set(grKey(d.group, d.resource), d);
    this.generation++;
  }

  remove(group: string, resource: string): void {
    if (this.byGR.delete(grKey(group, resource))) this.generation++;
  }

  get(group: string, resource: string): ResourceDef | undefined {
    return this.byGR.get(grKey(group, resource));
  }

  /** The resource served at group/version/resource, or undefined. */
  lookup(group: string, version: string, resource: string): ResourceDef | undefined {
    const d = this.byGR.get(grKey(group, resource));
    return d && d.versions.includes(version) ? d : undefined;
  }

  byKind(group: string, kind: string): ResourceDef | undefined {
    for (const d of this.byGR.values()) if (d.group === group && d.kind === kind) return d;
    return undefined;
  }

  all(): ResourceDef[] {
    return [...this.byGR.values()];
  }

  /** group → served versions (preferred first), in a stable order with the core group first. */
  groups(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const d of this.byGR.values()) {
      const vs = out.get(d.group) ?? [];
      for (const v of d.versions) if (!vs.includes(v)) vs.push(v);
      out.set(d.group, vs);
    }
    return out;
  }
}
