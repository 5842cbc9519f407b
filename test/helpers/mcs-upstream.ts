// Upstream-shaped MCS objects for tests of the DNS/conformance parts while the MCS core (branch `mcs`) is
// built in parallel: the ServiceImport CRD as kubernetes-sigs/mcs-api ships it (v1beta1 storage, v1alpha1
// served, same fields) and helpers that write ServiceImports and import EndpointSlices by hand, the way the
// mirror will. Switch to the mirror's CRDs (manifests/crds) once they are in main.
import type { KubeClient } from '../../src/kube/index.js';

const port = {
  type: 'object',
  required: ['port'],
  properties: { name: { type: 'string' }, protocol: { type: 'string' }, appProtocol: { type: 'string' }, port: { type: 'integer' } },
};
const importSchema = {
  type: 'object',
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object' },
    spec: {
      type: 'object',
      required: ['ports', 'type'],
      properties: {
        ips: { type: 'array', maxItems: 2, items: { type: 'string' } },
        ports: { type: 'array', items: port, 'x-kubernetes-list-type': 'atomic' },
        type: { type: 'string', enum: ['ClusterSetIP', 'Headless'] },
        sessionAffinity: { type: 'string' },
        sessionAffinityConfig: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
        ipFamilies: { type: 'array', items: { type: 'string' } },
      },
    },
    status: { type: 'object', properties: { clusters: { type: 'array', items: { type: 'object', required: ['cluster'], properties: { cluster: { type: 'string' } } } } } },
  },
};

export const SERVICE_IMPORT_CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'serviceimports.multicluster.x-k8s.io' },
  spec: {
    group: 'multicluster.x-k8s.io',
    scope: 'Namespaced',
    names: { kind: 'ServiceImport', listKind: 'ServiceImportList', plural: 'serviceimports', singular: 'serviceimport', shortNames: ['svcim'] },
    versions: ['v1beta1', 'v1alpha1'].map((name) => ({ name, served: true, storage: name === 'v1beta1', subresources: { status: {} }, schema: { openAPIV3Schema: importSchema } })),
  },
};

export async function installServiceImportCrd(client: KubeClient): Promise<void> {
  await client.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', SERVICE_IMPORT_CRD).catch((err: unknown) => {
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
