// Where each kind of object the CLI writes lives in the API (no discovery round trip per object).
import { ABOUT_GROUP, ABOUT_VERSION, CLUSTER_PROPERTY_KIND, CLUSTER_PROPERTY_PLURAL, LINK_API_VERSION, LINK_GROUP, LINK_KIND, LINK_PLURAL, LINK_VERSION, MCS_API_VERSION, MCS_GROUP, MCS_STORAGE_VERSION, SERVICE_EXPORT_KIND, SERVICE_EXPORT_PLURAL } from '../api/index.js';
import { resourcePath, type ResourceRef } from '../kube/index.js';

interface KindInfo {
  group: string;
  version: string;
  plural: string;
  namespaced: boolean;
}

const KINDS: Record<string, KindInfo> = {
  'v1/Namespace': { group: '', version: 'v1', plural: 'namespaces', namespaced: false },
  'v1/ServiceAccount': { group: '', version: 'v1', plural: 'serviceaccounts', namespaced: true },
  'v1/Service': { group: '', version: 'v1', plural: 'services', namespaced: true },
  'v1/Secret': { group: '', version: 'v1', plural: 'secrets', namespaced: true },
  'v1/ConfigMap': { group: '', version: 'v1', plural: 'configmaps', namespaced: true },
  'apps/v1/Deployment': { group: 'apps', version: 'v1', plural: 'deployments', namespaced: true },
  'policy/v1/PodDisruptionBudget': { group: 'policy', version: 'v1', plural: 'poddisruptionbudgets', namespaced: true },
  'rbac.authorization.k8s.io/v1/ClusterRole': { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'clusterroles', namespaced: false },
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'clusterrolebindings', namespaced: false },
  'rbac.authorization.k8s.io/v1/Role': { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'roles', namespaced: true },
  'rbac.authorization.k8s.io/v1/RoleBinding': { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'rolebindings', namespaced: true },
  'apiextensions.k8s.io/v1/CustomResourceDefinition': { group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions', namespaced: false },
  [`${LINK_API_VERSION}/${LINK_KIND}`]: { group: LINK_GROUP, version: LINK_VERSION, plural: LINK_PLURAL, namespaced: true },
  [`${ABOUT_GROUP}/${ABOUT_VERSION}/${CLUSTER_PROPERTY_KIND}`]: { group: ABOUT_GROUP, version: ABOUT_VERSION, plural: CLUSTER_PROPERTY_PLURAL, namespaced: false },
  [`${MCS_API_VERSION}/${SERVICE_EXPORT_KIND}`]: { group: MCS_GROUP, version: MCS_STORAGE_VERSION, plural: SERVICE_EXPORT_PLURAL, namespaced: true },
};

export interface ObjectId {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
}

export function kindInfo(apiVersion: string, kind: string): KindInfo {
  const k = KINDS[`${apiVersion}/${kind}`];
  if (!k) throw new Error(`the CLI does not know where ${apiVersion} ${kind} lives`);
  return k;
}

export function refOf(id: ObjectId, withName: boolean): ResourceRef {
  const k = kindInfo(id.apiVersion, id.kind);
  return {
    group: k.group || undefined,
    version: k.version,
    plural: k.plural,
    namespace: k.namespaced ? (id.namespace ?? 'default') : undefined,
    name: withName ? id.name : undefined,
  };
}

export const collectionPath = (id: ObjectId): string => resourcePath(refOf(id, false));
export const objectPath = (id: ObjectId): string => resourcePath(refOf(id, true));

/** `Deployment mesh-system/mesh-gateway`, as people read it in progress lines. */
export function describe(id: ObjectId): string {
  return `${id.kind} ${id.namespace ? `${id.namespace}/` : ''}${id.name}`;
}

export function idOf(obj: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }): ObjectId {
  return { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name, namespace: obj.metadata.namespace };
}
