// KEP-2149 cluster ids: the controller makes sure ClusterProperty `cluster.clusterset.k8s.io` (this cluster's
// id: the source-cluster of its MCS exports, the name Links to it use) and `clusterset.k8s.io` (the
// clusterset: the clusters sharing the trust root, named by its trust domain) exist. Written by the
// controller `mesh install` deploys rather than in the install manifests: a custom resource in the same
// stream as its CRD fails `kubectl apply` (the kind is unknown until the CRD is established). One that
// exists is never overwritten: the id is the user's; a different one is logged (MCS then misnames this cluster).
import { ABOUT_GROUP, ABOUT_VERSION, CLUSTER_ID_PROPERTY, CLUSTER_PROPERTY_KIND, CLUSTER_PROPERTY_PLURAL, CLUSTERSET_ID_PROPERTY, PART_OF, PART_OF_LABEL } from '../api/index.js';
import { errorMessage, isAlreadyExists, isConflict, isNotFound, type KubeClient } from '../kube/index.js';
import type { Logger } from '../log/index.js';

const path = `/apis/${ABOUT_GROUP}/${ABOUT_VERSION}/${CLUSTER_PROPERTY_PLURAL}`;

export async function ensureClusterProperties(client: KubeClient, clusterName: string, clusterSet: string, log: Logger): Promise<void> {
  for (const [name, value] of [[CLUSTER_ID_PROPERTY, clusterName], [CLUSTERSET_ID_PROPERTY, clusterSet]] as const) {
    try {
      const live = await client.get<{ spec?: { value?: string } }>(`${path}/${name}`).catch((err: unknown) => {
        if (isNotFound(err)) return null;
        throw err;
      });
      if (!live) {
        await client.create(path, { apiVersion: `${ABOUT_GROUP}/${ABOUT_VERSION}`, kind: CLUSTER_PROPERTY_KIND, metadata: { name, labels: { [PART_OF_LABEL]: PART_OF } }, spec: { value } });
        log.info('wrote ClusterProperty', { property: name, value });
      } else if (live.spec?.value !== value) {
        log.warn('ClusterProperty differs from this controller\'s setting; keeping it (MCS exports carry this controller\'s cluster name)', { property: name, value: live.spec?.value ?? '', expected: value });
      }
    } catch (err) {
      if (isAlreadyExists(err) || isConflict(err)) continue;
      log.warn('cannot write ClusterProperty', { property: name, error: errorMessage(err) });
    }
  }
}
