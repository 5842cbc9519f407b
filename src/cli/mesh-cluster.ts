// A cluster as the mesh sees it: its mesh name, cluster domain and trust domain (from the mesh-system
// namespace that install labels), and its trust roots. Read before link, unlink and their dry runs write.
import { isNotFound, errorMessage, type KubeObject as ApiObject } from '../kube/index.js';
import { TrustBundle } from '../trust/index.js';
import {
  CLUSTER_DOMAIN_ANNOTATION, CLUSTER_NAME_LABEL, DEFAULT_CLUSTER_DOMAIN, DEFAULT_TRUST_DOMAIN, MESH_NAMESPACE, TRUST_DOMAIN_ANNOTATION,
  TRUST_ROOTS_CONFIGMAP, TRUST_ROOTS_KEY,
} from '../api/index.js';
import { CliError, ExitCode } from './errors.js';
import { kubeError, type Cluster } from './common.js';

/** What the link command learns about a cluster before writing anything. */
export interface MeshCluster extends Cluster {
  name: string;
  clusterDomain: string;
  trustDomain: string;
}

export async function meshCluster(c: Cluster): Promise<MeshCluster> {
  let ns: ApiObject;
  try {
    ns = await c.client.get(`/api/v1/namespaces/${MESH_NAMESPACE}`);
  } catch (err) {
    if (isNotFound(err)) throw new CliError(`${c.context}: the mesh is not installed (no ${MESH_NAMESPACE} namespace)`, ExitCode.Failure, `mesh install ${c.context} --trust-root DIR`);
    throw kubeError(err, c.context, `reading namespace ${MESH_NAMESPACE}`);
  }
  const name = ns.metadata?.labels?.[CLUSTER_NAME_LABEL];
  if (!name) throw new CliError(`${c.context}: namespace ${MESH_NAMESPACE} has no ${CLUSTER_NAME_LABEL} label; the install is incomplete`, ExitCode.Failure, `mesh install ${c.context} --trust-root DIR`);
  const ann = ns.metadata?.annotations ?? {};
  return { ...c, name, clusterDomain: ann[CLUSTER_DOMAIN_ANNOTATION] ?? DEFAULT_CLUSTER_DOMAIN, trustDomain: ann[TRUST_DOMAIN_ANNOTATION] ?? DEFAULT_TRUST_DOMAIN };
}

export async function trustRoots(c: MeshCluster): Promise<{ fingerprint: string; trustDomain?: string }[]> {
  let cm: ApiObject;
  try {
    cm = await c.client.get(`/api/v1/namespaces/${MESH_NAMESPACE}/configmaps/${TRUST_ROOTS_CONFIGMAP}`);
  } catch (err) {
    if (isNotFound(err)) throw new CliError(`${c.context}: ConfigMap ${MESH_NAMESPACE}/${TRUST_ROOTS_CONFIGMAP} is missing`, ExitCode.Failure, `mesh install ${c.context} --trust-root DIR`);
    throw kubeError(err, c.context, 'reading the trust roots');
  }
  const pem = (cm.data as Record<string, string> | undefined)?.[TRUST_ROOTS_KEY];
  try {
    return TrustBundle.fromPem(pem ?? '').roots.map((r) => ({ fingerprint: r.fingerprint, trustDomain: r.trustDomain }));
  } catch (err) {
    throw new CliError(`${c.context}: the trust bundle ${TRUST_ROOTS_CONFIGMAP}/${TRUST_ROOTS_KEY} is unreadable: ${errorMessage(err)}`, ExitCode.Failure, `mesh install ${c.context} --trust-root DIR`);
  }
}

