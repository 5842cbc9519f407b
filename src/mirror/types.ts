// Names from the design card and docs/architecture.md, and the shapes the mirror reads and writes.
import type { KubeObject } from '../kube/index.js';

export const MESH_NAMESPACE = 'mesh-system';
export const LINK_GROUP = 'multicluster.mesh.io';
export const LINK_VERSION = 'v1alpha1';
export const LINK_PLURAL = 'links';
export const LINK_FINALIZER = 'multicluster.mesh.io/mirror-cleanup';

export const EXPORT_LABEL = 'mirror.mesh.io/exported';
export const MIRRORED_LABEL = 'mirror.mesh.io/mirrored-service';
export const CLUSTER_LABEL = 'mirror.mesh.io/cluster-name';
/** On a per-pod Service of a gateway-mode headless shadow: the shadow it belongs to. */
export const HEADLESS_PARENT_LABEL = 'mirror.mesh.io/headless-mirror-svc-name';
export const REMOTE_FQ_ANNOTATION = 'mirror.mesh.io/remote-svc-fq-name';
export const REMOTE_RV_ANNOTATION = 'mirror.mesh.io/remote-resource-version';
export const PORT_MAP_ANNOTATION = 'mirror.mesh.io/gateway-port-map';
export const MODE_ANNOTATION = 'mirror.mesh.io/mode';
/** Labels and annotations under these prefixes are the mesh's own and never copied from a remote Service. */
export const RESERVED_PREFIXES = ['mirror.mesh.io/', 'multicluster.mesh.io/'];
/** Annotations a remote cluster sets for itself that mean nothing here. */
export const NEVER_COPIED = ['kubectl.kubernetes.io/last-applied-configuration'];

export const SLICE_SERVICE_LABEL = 'kubernetes.io/service-name';
export const SLICE_MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const SLICE_MANAGED_BY = 'mirror.mesh.io';
export const GATEWAY_SERVICE = 'mesh-gateway';

export type Mode = 'gateway' | 'flat';

export interface ServicePort {
  name?: string;
  port: number;
  protocol?: string;
  targetPort?: number | string;
  appProtocol?: string;
}

export interface Service extends KubeObject {
  spec?: {
    type?: string;
    clusterIP?: string;
    clusterIPs?: string[];
    ports?: ServicePort[];
    selector?: Record<string, string>;
    [k: string]: unknown;
  };
}

export interface EndpointConditions {
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

export interface Endpoint {
  addresses: string[];
  conditions?: EndpointConditions;
  hostname?: string;
  zone?: string;
  nodeName?: string;
  targetRef?: unknown;
}

export interface EndpointPort {
  name?: string;
  port?: number;
  protocol?: string;
  appProtocol?: string;
}

export interface EndpointSlice extends KubeObject {
  addressType?: string;
  endpoints?: Endpoint[] | null;
  ports?: EndpointPort[] | null;
}

/** One entry of the gateway port map annotation (docs/architecture.md). */
export interface PortMapEntry {
  port: number;
  name?: string;
  protocol: string;
  outboundPort: number;
  hostname?: string;
}
