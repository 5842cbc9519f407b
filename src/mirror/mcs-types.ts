// The MCS objects as the mirror reads and writes them (their spec schemas are the contract in src/api/mcs.ts),
// and the world one import is computed from: every cluster of the clusterset that exports the name.
import type { Condition, ImportClusterStatus, ServiceExportSpec, ServiceImportSpec, ServiceImportStatus } from '../api/index.js';
import type { KubeObject } from '../kube/index.js';
import type { GatewayEndpoint } from './desired.js';
import type { PortView } from './ports.js';
import type { EndpointSlice, Service } from './types.js';

export interface ServiceExport extends KubeObject {
  spec?: ServiceExportSpec;
  status?: { conditions?: Condition[] };
}

export interface ServiceImport extends KubeObject {
  spec?: ServiceImportSpec;
  status?: ServiceImportStatus;
}

/**
 * How an exporting cluster's endpoints reach this one: its own pods (`local`), through the local gateway to
 * the remote gateway (`gateway`: the Link to it has spec.gateway), or the remote pod addresses (`flat`: the
 * Link has no gateway; pod networks are routed).
 */
export type ExporterMode = 'local' | 'gateway' | 'flat';

/** One cluster that exports the name, as this cluster observes it. */
export interface Exporter {
  cluster: string;
  mode: ExporterMode;
  export: ServiceExport;
  /** The exported Service; undefined when there is none (Valid=False/NoService). */
  service?: Service;
  /** The Service's own EndpointSlices in that cluster. */
  slices: EndpointSlice[];
  /** Gateway mode: the Link's gateway probe passes (false after failureThreshold misses). */
  reachable: boolean;
  /** Why not reachable, for the import's status. */
  unhealthyMessage?: string;
  /** Its API server is watched (false: the slices are the last known; they are still served). */
  apiReachable: boolean;
}

/** Everything one import (namespace/name) is decided from. */
export interface ImportWorld {
  namespace: string;
  name: string;
  localCluster: string;
  /** Every cluster of the clusterset with a ServiceExport of namespace/name, valid or not. */
  exporters: Exporter[];
  /** The local mesh-gateway pods (gateway-mode endpoints). */
  gateway: GatewayEndpoint[];
  /** Outbound port allocations (read only). */
  ports: PortView;
  /** The live derived Service's addresses: the import's VIPs once the API server allocated them. */
  derivedIPs: string[];
  /** Headless imports: the live per-pod Services of this import by name (their ClusterIP, the pod they stand for). */
  podServices?: ReadonlyMap<string, { clusterIP: string; of: string }>;
  /** The live ServiceImport's per-cluster status: which clusters served and since when (the hold-down's memory). */
  previous?: ImportClusterStatus[];
  /** The injected clock's now (ms). */
  now: number;
}
