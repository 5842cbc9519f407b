// Names from the design card and docs/architecture.md, and the shapes the mirror reads and writes.
import type { KubeObject } from '../kube/index.js';

export {
  MESH_NAMESPACE,
  LINK_GROUP,
  LINK_VERSION,
  LINK_PLURAL,
  LINK_FINALIZER,
  EXPORT_LABEL,
  MIRRORED_LABEL,
  CLUSTER_LABEL,
  HEADLESS_PARENT_LABEL,
  REMOTE_FQ_ANNOTATION,
  REMOTE_RV_ANNOTATION,
  PORT_MAP_ANNOTATION,
  MODE_ANNOTATION,
  RESERVED_PREFIXES,
  NEVER_COPIED,
  SLICE_SERVICE_LABEL,
  SLICE_MANAGED_BY_LABEL,
  SLICE_MANAGED_BY,
  GATEWAY_NAME as GATEWAY_SERVICE,
  type PortMapEntry,
} from '../api/index.js';

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

