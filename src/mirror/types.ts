// The Kubernetes objects the mirror reads and writes, as far as it looks into them. The mesh's own names
// and the Link's schema are contracts: they live in src/api.
import type { KubeObject } from '../kube/index.js';
import type { LinkStatus } from '../api/index.js';

/** A Link as the informer holds it: the spec is unchecked until parseLinkSpec has read it. */
export interface Link extends KubeObject {
  spec?: unknown;
  status?: LinkStatus;
}

export interface Secret extends KubeObject {
  data?: Record<string, string>;
}

export interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

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
