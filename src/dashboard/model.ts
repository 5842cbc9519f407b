// The shapes of the dashboard's JSON endpoints: what the server sends and the browser code reads. Types
// only and no imports, so that the browser build (web/tsconfig.json) can share them with the server.

/** ok = green, warn = amber (pending, partly failing), failed = red, unknown = grey (no verdict, stale). */
export type Health = 'ok' | 'warn' | 'failed' | 'unknown';

export interface ConditionView {
  type: string;
  status: string;
  reason: string;
  message: string;
  lastTransitionTime?: string;
}

export interface GatewayPodView {
  name: string;
  /** The pod's Ready condition. */
  ready: boolean;
  /** Its admin /ready through the API server's pods/proxy; null until asked or when not Running. */
  live: boolean | null;
  error?: string;
}

export interface GatewayView {
  pods: GatewayPodView[];
  ready: number;
  total: number;
  /** gateway_streams_active summed over the pods, per direction; null when /metrics was unreadable. */
  openTunnels: { outbound: number; inbound: number } | null;
  /** Outbound tunnels open now per remote cluster. */
  tunnelsByRemote: Record<string, number>;
  health: Health;
}

export interface ClusterView {
  context: string;
  /** The mesh's name for the cluster (label on mesh-system); null when the mesh is not installed or unknown. */
  name: string | null;
  /** The API server's origin as the kubeconfig reaches it. */
  server: string;
  reachable: boolean;
  /** Why the cluster is unreachable or degraded. */
  error?: string;
  /** When the dashboard last heard from its API server (ISO time). */
  lastContact?: string;
  version?: string;
  mesh: { installed: boolean; trustDomain?: string; clusterDomain?: string; controller?: { ready: number; want: number } };
  gateway: GatewayView | null;
  /** The MCS API (multicluster.x-k8s.io) is served by this cluster's API server. */
  mcs: boolean;
  health: Health;
  summary: string;
}

export interface LinkView {
  /** `<source cluster>/<link name>`. */
  id: string;
  source: string;
  sourceContext: string;
  target: string;
  /** The target is one of the dashboard's clusters (else it is drawn as outside the kubeconfig). */
  targetKnown: boolean;
  name: string;
  mode: 'gateway' | 'flat';
  gatewayAddress?: string;
  conditions: ConditionView[];
  health: Health;
  /** The condition that decided the health, in words. */
  reason: string;
  probe: { success: boolean; latencyMs?: number; time: string; message?: string } | null;
  mirroredServices: number;
  problems: { service: string; problem: string }[];
  /** Outbound tunnels open now from source to target (source gateways' metrics); null when unknown. */
  openTunnels: number | null;
  /** The source cluster cannot be read now: this is the last state seen. */
  stale: boolean;
}

export type ExportMode = 'gateway' | 'flat' | 'mcs';

export interface ImportView {
  /** The importing cluster. */
  cluster: string;
  kind: 'shadow' | 'serviceimport';
  name: string;
  mode: string;
  /** Ready endpoints of the shadow (or of the ServiceImport's slices); null when unknown. */
  readyEndpoints: number | null;
  problem?: string;
}

export interface ExportView {
  /** `<cluster>/<namespace>/<name>`. */
  id: string;
  cluster: string;
  namespace: string;
  name: string;
  modes: ExportMode[];
  ports: string[];
  /** Ready endpoints of the Service in its own cluster; null when that cluster is not readable. */
  readyEndpoints: number | null;
  imports: ImportView[];
  conflicts: string[];
  health: Health;
}

export interface OverviewResponse {
  version: number;
  generatedAt: string;
  clusters: ClusterView[];
  links: LinkView[];
  exports: ExportView[];
}

export interface TopologyResponse {
  version: number;
  generatedAt: string;
  clusters: ClusterView[];
  links: LinkView[];
  /** Link targets that no context of the kubeconfig reaches. */
  external: string[];
  /** The Links' probe period in ms (the controller's default unless a Link says otherwise). */
  probePeriodMs: number;
}

export interface ServicesResponse {
  version: number;
  generatedAt: string;
  exports: ExportView[];
  /** Per cluster: is the MCS API served (ServiceImports are read only then). */
  mcs: Record<string, boolean>;
}

/** One time series: timestamps (epoch ms) and values, oldest first, same length. */
export interface Series {
  t: number[];
  v: number[];
}

export interface TrafficRow {
  id: string;
  kind: 'link' | 'service';
  title: string;
  /** The cluster whose gateways measured it. */
  measuredIn: string;
  /** Per second over the last sample interval; null before two samples. */
  requestsPerSec: number | null;
  connectionsPerSec: number | null;
  bytesPerSec: number | null;
  activeTunnels: number | null;
  /** Refusals in the window, by reason. */
  refusals: Record<string, number>;
  /** Tunnel-open latency from gateway_connect_seconds: the source gateway's to the remote gateway (links), the
   * exporting gateway's to a backend of the Service (services). p50 over the window's samples, p95 of the last. */
  latencyMs: { p50: number | null; p95: number | null; source: string };
  /** Links: the controller's latest probe round trip to the remote gateway (mTLS GET /live); else null. */
  probeMs: number | null;
  series: { requests: Series; bytes: Series; latency: Series };
}

export interface TrafficResponse {
  version: number;
  now: number;
  windowMs: number;
  intervalMs: number;
  links: TrafficRow[];
  services: TrafficRow[];
  /** Per cluster, why metrics are missing (e.g. no gateway pod, /metrics unreachable). */
  problems: Record<string, string>;
}

export interface CertView {
  subject: string;
  fingerprint: string;
  notBefore: string;
  notAfter: string;
  daysLeft: number;
  trustDomain?: string;
}

export interface ClusterTrustView {
  cluster: string;
  reachable: boolean;
  roots: CertView[];
  issuer: (CertView & { signedBy: string | null }) | null;
  /** `steady`, `new-root-added`, `issuer-rotated`, `broken` or `unknown`. */
  rotation: 'steady' | 'new-root-added' | 'issuer-rotated' | 'broken' | 'unknown';
  rotationText: string;
  problems: string[];
  health: Health;
}

export interface IdentityResponse {
  version: number;
  generatedAt: string;
  clusters: ClusterTrustView[];
  /** Do all readable clusters trust a common root. */
  shared: { ok: boolean; detail: string };
}

export interface CheckLineView {
  cluster: string;
  check: string;
  ok: boolean;
  detail: string;
  hint?: string;
}

export interface CheckResponse {
  version: number;
  /** When the last run finished; null before the first. */
  ranAt: string | null;
  running: boolean;
  durationMs: number | null;
  lines: CheckLineView[];
  error?: string;
}

/** The server-sent `versions` event: which resources changed since the client last fetched them. */
export interface VersionsEvent {
  state: number;
  traffic: number;
  check: number;
}
