// Every name, label, annotation, port and default that more than one component (or a user) relies on.
// One spelling, here; the design card (shared/DESIGN.md) and docs/architecture.md say what each means.

// --- namespaces, groups, kinds -------------------------------------------------------------------------
export const MESH_NAMESPACE = 'mesh-system';
export const LINK_GROUP = 'multicluster.mesh.io';
export const LINK_VERSION = 'v1alpha1';
export const LINK_API_VERSION = `${LINK_GROUP}/${LINK_VERSION}`;
export const LINK_KIND = 'Link';
export const LINK_PLURAL = 'links';
export const LINK_FINALIZER = 'multicluster.mesh.io/mirror-cleanup';

// --- defaults ------------------------------------------------------------------------------------------
export const DEFAULT_TRUST_DOMAIN = 'mesh.local';
export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';
/** Version of the MCS DNS schema we implement (`dns-version.clusterset.local` TXT). */
export const MCS_DNS_SCHEMA_VERSION = '1.0.0';
/** The `mesh dns` Deployment/Service in mesh-system that answers `clusterset.local` for CoreDNS in real clusters. */
export const MESH_DNS_NAME = 'mesh-dns';
/** Port `mesh dns` listens on in its pod (unprivileged; the Service maps 53 to it). */
export const MESH_DNS_PORT = 5353;
/** The east-west gateway's inbound mutual-TLS tunnel port. */
export const GATEWAY_TUNNEL_PORT = 4143;
/** The gateway's admin port: /live, /ready, /metrics. */
export const GATEWAY_ADMIN_PORT = 4191;
/** Paths of the gateway's admin port (read by `mesh gateways` and the dashboard through pods/proxy). The
 * tunnel port answers GATEWAY_LIVE_PATH too, over mTLS: the controller's probe (the Link's default). */
export const GATEWAY_LIVE_PATH = '/live';
export const GATEWAY_READY_PATH = '/ready';
/** Where both admin ports (gateway, controller) serve Prometheus metrics. */
export const METRICS_PATH = '/metrics';
/** The controller's Identity gRPC port. */
export const IDENTITY_PORT = 8080;
/** The controller's admin port: /healthz, /readyz, /metrics. */
export const CONTROLLER_ADMIN_PORT = 9990;
/** Outbound listener range shared by controller (allocates) and gateway (binds). */
export const DEFAULT_OUTBOUND_PORTS = '14000-15999';
/** Audience of the ServiceAccount tokens the Identity service accepts (never the API server's). */
export const IDENTITY_TOKEN_AUDIENCE = 'identity.mesh.io';

// --- well-known objects in mesh-system ----------------------------------------------------------------
export const CONTROLLER_NAME = 'mesh-controller';
export const GATEWAY_NAME = 'mesh-gateway';
export const ISSUER_SECRET = 'mesh-issuer';
export const TRUST_ROOTS_CONFIGMAP = 'mesh-trust-roots';
export const TRUST_ROOTS_KEY = 'ca-bundle.crt';
/** Key of a link credentials Secret holding the kubeconfig for the target cluster. */
export const CREDENTIALS_KUBECONFIG_KEY = 'kubeconfig';
export const credentialsSecretName = (target: string): string => `cluster-credentials-${target}`;
/** Lifetime of a link token (`mesh link` asks for it; the controller renews at most this long: a stolen
 * token that minted itself a longer one is replaced by a bounded one at its first renewal). */
export const LINK_TOKEN_TTL_SECONDS = 24 * 3600;
/** Names of the ServiceAccounts source clusters' mirrors use in the mesh namespace of a target cluster. */
export const LINK_SERVICE_ACCOUNT_PREFIX = 'mesh-link-';
/** The ServiceAccount a source cluster's mirror uses in the target cluster. */
export const linkServiceAccountName = (source: string): string => `${LINK_SERVICE_ACCOUNT_PREFIX}${source}`;
/**
 * A link credential (a `mesh-link-*` ServiceAccount in the mesh namespace): it reads Services for another
 * cluster's mirror and is never a workload identity (the Identity service refuses it).
 */
export const isLinkServiceAccount = (namespace: string, name: string, meshNamespace: string = MESH_NAMESPACE): boolean =>
  namespace === meshNamespace && name.startsWith(LINK_SERVICE_ACCOUNT_PREFIX);

// --- labels and annotations on what `mesh install` / `mesh link` write -------------------------------
export const PART_OF_LABEL = 'app.kubernetes.io/part-of';
export const PART_OF = 'mesh-federation';
export const APP_NAME_LABEL = 'app.kubernetes.io/name';
/** Who writes an object (the controller's route table, the mirror's ServiceImports). */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
/** The container image every mesh component runs from (`mesh <subcommand>`); the sandbox runs only it. */
export const MESH_IMAGE_NAME = 'mesh-federation';
/** The mesh image at a tag (install's default is the package version). */
export const meshImage = (tag: string): string => `${MESH_IMAGE_NAME}:${tag}`;
/** On mesh-system: this cluster's name (and the two annotations below). */
export const CLUSTER_NAME_LABEL = 'mesh.io/cluster-name';
export const CLUSTER_DOMAIN_ANNOTATION = 'mesh.io/cluster-domain';
export const TRUST_DOMAIN_ANNOTATION = 'mesh.io/trust-domain';
/** On a link credentials Secret (source side): the target cluster. */
export const LINK_TARGET_LABEL = 'mesh.io/link-target';
/** On the target side's link ServiceAccount and RBAC: the source cluster. */
export const LINK_SOURCE_LABEL = 'mesh.io/link-source';

// --- export and shadows (the Linkerd-compatible path) -------------------------------------------------
export const EXPORT_LABEL = 'mirror.mesh.io/exported';
/** Export label values that mean "through the gateways". */
export const EXPORT_GATEWAY_VALUES = ['true', 'gateway'] as const;
/** Export label values that mean "pod-to-pod". */
export const EXPORT_FLAT_VALUES = ['flat', 'remote-discovery'] as const;
export const MIRRORED_LABEL = 'mirror.mesh.io/mirrored-service';
export const CLUSTER_LABEL = 'mirror.mesh.io/cluster-name';
/** On a per-pod Service of a gateway-mode headless shadow: the shadow it belongs to. */
export const HEADLESS_PARENT_LABEL = 'mirror.mesh.io/headless-mirror-svc-name';
export const REMOTE_FQ_ANNOTATION = 'mirror.mesh.io/remote-svc-fq-name';
export const REMOTE_RV_ANNOTATION = 'mirror.mesh.io/remote-resource-version';
export const PORT_MAP_ANNOTATION = 'mirror.mesh.io/gateway-port-map';
export const MODE_ANNOTATION = 'mirror.mesh.io/mode';
/**
 * On a shadow or per-pod Service: exactly which remote object it stands for — `service/<ns>/<name>` or
 * `pod/<ns>/<name>/<hostname>` (a remote Service's pod, by hostname). Ownership is this value in full (with
 * the cluster label), so two remote objects whose names collide here never take each other's Service.
 */
export const SHADOW_OF_ANNOTATION = 'mirror.mesh.io/shadow-of';
export const shadowOfService = (namespace: string, name: string): string => `service/${namespace}/${name}`;
export const shadowOfPod = (namespace: string, name: string, hostname: string): string => `pod/${namespace}/${name}/${hostname}`;
/** Values of MODE_ANNOTATION: which path a shadow's endpoints take (through the gateways, or pod to pod). */
export const SHADOW_MODES = ['gateway', 'flat'] as const;
export type ShadowMode = (typeof SHADOW_MODES)[number];
/** On an exported Service: who may call it through the gateway (see allowed-identities in the gateway). */
export const ALLOWED_IDENTITIES_ANNOTATION = 'mirror.mesh.io/allowed-identities';
/** On a Namespace: the allow list (same syntax) of every exported Service in it that has none of its own. */
export const DEFAULT_ALLOWED_IDENTITIES_ANNOTATION = 'mirror.mesh.io/default-allowed-identities';
/** On an exported Service: the clusters it is exported to (comma-separated names); absent = every linked
 * cluster. Another cluster gets no shadow and its gateway is refused (src/api/authz.ts). */
export const EXPORT_TO_ANNOTATION = 'mirror.mesh.io/export-to';
/** On an exported Service: send a PROXY v2 header with the caller's identity to the target. */
export const PROXY_PROTOCOL_ANNOTATION = 'mirror.mesh.io/proxy-protocol';
/** Labels and annotations under these prefixes are the mesh's own and never copied from a remote Service. */
export const RESERVED_PREFIXES = ['mirror.mesh.io/', 'multicluster.mesh.io/'] as const;
/** Annotations a remote cluster sets for itself that mean nothing here. */
export const NEVER_COPIED = ['kubectl.kubernetes.io/last-applied-configuration'] as const;

// --- the sandbox (clusters on one machine) -------------------------------------------------------------
/** On a sandbox cluster's Node: the sandbox's name for the cluster (tools tell a sandbox by it, e.g. to
 * suggest `mesh sandbox route --flat`). */
export const SANDBOX_CLUSTER_LABEL = 'sandbox.mesh.io/cluster';

// --- EndpointSlices ------------------------------------------------------------------------------------
export const SLICE_SERVICE_LABEL = 'kubernetes.io/service-name';
export const SLICE_MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
/** managed-by value on every EndpointSlice the mirror writes. */
export const SLICE_MANAGED_BY = 'mirror.mesh.io';
/** managed-by value of the slices Kubernetes' EndpointSlice controller writes (and the sandbox's controller
 * manager, and its API server for `kubernetes`): the mirror reads only these as a Service's local endpoints. */
export const KUBE_SLICE_MANAGED_BY = 'endpointslice-controller.k8s.io';

// --- wave 2: Multi-Cluster Services API (KEP-1645) and cluster ids (KEP-2149) ------------------------
export const MCS_GROUP = 'multicluster.x-k8s.io';
export const MCS_STORAGE_VERSION = 'v1beta1';
export const MCS_SERVED_VERSIONS = ['v1beta1', 'v1alpha1'] as const;
export const SERVICE_EXPORT_PLURAL = 'serviceexports';
export const SERVICE_IMPORT_PLURAL = 'serviceimports';
export const MCS_SERVICE_NAME_LABEL = 'multicluster.kubernetes.io/service-name';
export const MCS_SOURCE_CLUSTER_LABEL = 'multicluster.kubernetes.io/source-cluster';
export const CLUSTERSET_DOMAIN = 'clusterset.local';
export const ABOUT_GROUP = 'about.k8s.io';
export const CLUSTER_PROPERTY_PLURAL = 'clusterproperties';
export const CLUSTER_ID_PROPERTY = 'cluster.clusterset.k8s.io';
export const CLUSTERSET_ID_PROPERTY = 'clusterset.k8s.io';
export const TRAFFIC_POLICY_ANNOTATION = 'multicluster.mesh.io/traffic-policy';
export const FAILOVER_ORDER_ANNOTATION = 'multicluster.mesh.io/failover-order';
export const MIN_READY_ANNOTATION = 'multicluster.mesh.io/min-ready';
/** How long a preferred cluster must stay able to serve before traffic moves back to it (issue 14). */
export const HOLD_DOWN_ANNOTATION = 'multicluster.mesh.io/hold-down-seconds';

// --- mesh dashboard -------------------------------------------------------------------------------------
/** `mesh dashboard`'s default local port (as `linkerd viz dashboard` has its own). */
export const DASHBOARD_PORT = 50750;

// --- the gateway's Prometheus metrics (admin port, /metrics): names that readers depend on --------------
/** Names of the gateway's metrics read by `mesh gateways` and `mesh dashboard`; the gateway registers them. */
export const GATEWAY_METRICS = {
  connections: 'gateway_connections_total',
  refused: 'gateway_refused_total',
  streamsOpened: 'gateway_streams_opened_total',
  streamsActive: 'gateway_streams_active',
  bytes: 'gateway_bytes_total',
  connectSeconds: 'gateway_connect_seconds',
  handshakeSeconds: 'gateway_tls_handshake_seconds',
  poolConnections: 'gateway_pool_connections',
  retries: 'gateway_tunnel_retries_total',
  remoteFailures: 'gateway_remote_failures_total',
  remoteEjections: 'gateway_remote_ejections_total',
  remoteEjected: 'gateway_remote_addresses_ejected',
  backendTunnels: 'gateway_backend_tunnels_total',
  /** Tunnels refused by authorization (export scope, Link, Service or Namespace rules), by rule source. */
  authzDenied: 'gateway_authz_denied_total',
} as const;
