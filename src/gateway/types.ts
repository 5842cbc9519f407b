// The gateway's view of the world, fed by Kubernetes watches (kube-source.ts) or a static file
// (static-source.ts): what this cluster exports (inbound), which outbound port goes where, and how to
// reach each linked cluster's gateway. Plain data, so routing decisions are pure functions over it.
import { z } from 'zod';

import {
  PROXY_PROTOCOL_VERSIONS, DEFAULT_CLUSTER_DOMAIN, dnsLabelSchema, dnsSubdomainSchema, linkGatewaySchema, outboundRouteSchema, type OutboundRoute,
} from '../api/index.js';
export { TRANSPORTS, type Transport } from '../api/index.js';

export const BackendSchema = z.object({
  address: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  /** The pod's hostname, for headless Services (addressable as <hostname>.<svc>.<ns>.svc.<domain>). */
  hostname: z.string().min(1).max(63).optional(),
});
export type Backend = z.infer<typeof BackendSchema>;

export const ExportedPortSchema = z.object({
  port: z.number().int().min(1).max(65535),
  name: z.string().optional(),
  /** Ready endpoints serving this port (pod address + target port). */
  backends: z.array(BackendSchema),
});

/** A Service of this cluster carrying the export label `mirror.mesh.io/exported: true|gateway`. */
export const ExportedServiceSchema = z.object({
  namespace: z.string().min(1).max(63),
  name: z.string().min(1).max(63),
  ports: z.array(ExportedPortSchema),
  /** From `mirror.mesh.io/allowed-identities`: SPIFFE ids (exact, or a prefix ending in `/*`) or cluster
   * trust domains allowed to connect. Absent = any identity in the trust domain. */
  allowedIdentities: z.array(z.string().min(1)).optional(),
  /** From `mirror.mesh.io/proxy-protocol`: the gateway writes a PROXY header with the caller to the target. */
  proxyProtocol: z.enum(PROXY_PROTOCOL_VERSIONS).optional(),
  /** The Namespace's `mirror.mesh.io/default-allowed-identities` entries: the list when the Service has none. */
  defaultAllowedIdentities: z.array(z.string().min(1)).optional(),
  /** `mirror.mesh.io/export-to` as written (comma-separated cluster names); absent = every cluster. */
  exportTo: z.string().optional(),
});
export type ExportedService = z.infer<typeof ExportedServiceSchema>;

/** One outbound listener: the contract is src/api's (the controller publishes these; static files name them too). */
export const OutboundRouteSchema = outboundRouteSchema;
export type { OutboundRoute };

/**
 * A linked cluster's gateway: the Link's gateway fields with the Link's rules (src/api: address pattern,
 * list bounds, SPIFFE id shape, no unknown key), plus the cluster it belongs to. Only `identity` is looser:
 * a Link always names it, but a static route file (`mesh gateway --routes`) may leave it out, and the
 * gateway then accepts any gateway certificate of the trust domain for that cluster.
 */
export const RemoteGatewaySchema = linkGatewaySchema
  .extend({ cluster: dnsLabelSchema, clusterDomain: dnsSubdomainSchema.default(DEFAULT_CLUSTER_DOMAIN) })
  .partial({ identity: true });
export type RemoteGateway = z.infer<typeof RemoteGatewaySchema>;

/** A local pod as caller attestation sees it: its address and ServiceAccount (issue 15). */
export const PodCallerSchema = z.object({
  address: z.union([z.ipv4(), z.ipv6()]),
  namespace: z.string().min(1).max(63),
  serviceAccount: z.string().min(1).max(253),
});
export type PodCaller = z.infer<typeof PodCallerSchema>;

/** Everything routing needs, as one snapshot. */
export interface RouteSnapshot {
  exported: ExportedService[];
  outbound: OutboundRoute[];
  remotes: RemoteGateway[];
  /** Clusters linked with this one (a Link here targets it, or `mesh link` granted it a link ServiceAccount
   * here): only their gateways may open tunnels by default. Undefined = not known (static routes without
   * the list): any cluster of the trust domain. */
  linkedClusters?: string[];
  /** This cluster's pods by address, for attesting outbound callers; absent = none known (static routes):
   * every outbound caller is `unknown-caller`. An address two pods share (host network) is left out. */
  callers?: PodCaller[];
}

/** A source of routing state: calls `onChange` with a full snapshot whenever anything changes. */
export interface RouteSource {
  start(onChange: (s: RouteSnapshot) => void): Promise<void>;
  /** True once the first full state has been delivered (watches synced). */
  synced(): boolean;
  stop(): Promise<void>;
}

/** What the gateway needs to speak mTLS: never the signing key, only its own leaf and the roots. */
export interface Credentials {
  /** PEM private key of the leaf. */
  key: string;
  /** PEM chain, leaf first, then intermediates. */
  certChain: string;
  /** PEM trust bundle (one or more roots). */
  bundle: string;
}

/** A source of credentials that may change (renewal, root rotation). */
export interface CredentialSource {
  current(): Credentials | undefined;
  /** Called after every change; the gateway rebuilds its TLS contexts, existing connections stay. */
  onChange(listener: (c: Credentials) => void): void;
  stop?(): void;
}
