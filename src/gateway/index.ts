// The east-west gateway's public surface: start one (`startGateway`), feed it routes and credentials.
export { startGateway, type Gateway, type GatewayDeps } from './gateway.js';
export { GatewayConfigSchema, PortRangeSchema, type GatewayConfig, type GatewayConfigInput } from './config.js';
export { GatewayError, statusFor, type GatewayErrorCode } from './errors.js';
export { GatewayMetrics } from './metrics.js';
export { MemoryRouteSource, FileRouteSource, RouteFileSchema, parseRouteFile, staticCredentials, MemoryCredentials, FileCredentials, type RouteFile } from './static-source.js';
export { parseAuthority, formatAuthority, checkPolicy, gatewayAllowRules, callerOf, resolveTarget, indexExports, type Caller, type Target } from './routing.js';
export { verifyCaller, gatewayIdentity, NO_CLAIM } from './inbound/caller.js';
export { authorize, AccessDenied, callerOfPeer, checkCaller, type AuthorizedTunnel, type AuthenticatedPeer, type InboundPolicy, type Authorization } from './inbound/authorize.js';
export { authorize as authorizeCaller, compileAccess, compileLinkAccess, DENY_SOURCES, type AccessTarget, type AccessDecision, type DenySource, type ServiceAccess } from './inbound/access.js';
export { ALPN_H2, ALPN_PIPE } from './tls.js';
export { TRANSPORTS, type Transport, type Credentials, type CredentialSource, type RouteSource, type RouteSnapshot, type ExportedService, type OutboundRoute, type RemoteGateway } from './types.js';
export { runGateway, GatewayOptionsSchema, type GatewayOptions, type RunningGateway } from './main.js';
export { nextHeapGrowth, HeapGrowthGovernor, HEAP_GROWTH_DEFAULTS, type HeapGrowthOptions } from './heap-growth.js';
// KubeRouteSource is not re-exported: it would load src/kube into every importer (main.ts imports it lazily).
export { buildSnapshot, type KubeState } from './kube-snapshot.js';
