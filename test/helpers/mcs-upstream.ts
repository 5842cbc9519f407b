// MCS objects written by hand for the DNS and debug-image tests, in the upstream shapes (kubernetes-sigs/
// mcs-api v1beta1), the way the mirror's import reconciler writes them: the ServiceImport CRD is the one
// `mesh install` applies (manifests/crds, generated from src/api/mcs.ts).
import type { KubeClient } from '../../src/kube/index.js';
import { renderCrds } from '../../src/cli/render.js';

export async function installServiceImportCrd(client: KubeClient): Promise<void> {
  const crd = renderCrds().find((c) => c.metadata.name === 'serviceimports.multicluster.x-k8s.io');
  if (!crd) throw new Error('manifests/crds has no serviceimports.multicluster.x-k8s.io');
  await client.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd).catch((err: unknown) => {
    if (!/already exists|409/i.test(String(err))) throw err;
  });
}

export interface ImportPortIn { name?: string; protocol?: 'TCP' | 'UDP' | 'SCTP'; port: number }

export function serviceImport(namespace: string, name: string, spec: { type: 'ClusterSetIP' | 'Headless'; ips?: string[]; ports: ImportPortIn[] }, clusters: string[] = []) {
  return { apiVersion: 'multicluster.x-k8s.io/v1beta1', kind: 'ServiceImport', metadata: { namespace, name }, spec, status: { clusters: clusters.map((cluster) => ({ cluster })) } };
}

/** An import EndpointSlice as the MCS core writes one per source cluster (labels per the MCS API). */
export function importSlice(namespace: string, service: string, cluster: string, endpoints: { ip: string; hostname?: string; ready?: boolean }[], ports: ImportPortIn[]) {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      namespace,
      name: `${service}-${cluster}`,
      labels: {
        'multicluster.kubernetes.io/service-name': service,
        'multicluster.kubernetes.io/source-cluster': cluster,
        'endpointslice.kubernetes.io/managed-by': 'test.mesh.io',
      },
    },
    addressType: 'IPv4',
    endpoints: endpoints.map((e) => ({ addresses: [e.ip], ...(e.hostname ? { hostname: e.hostname } : {}), conditions: { ready: e.ready ?? true } })),
    ports: ports.map((p) => ({ ...(p.name ? { name: p.name } : {}), protocol: p.protocol ?? 'TCP', port: p.port })),
  };
}
