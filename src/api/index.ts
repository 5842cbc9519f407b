// src/api: the contracts between the mesh's components (and its users): names, labels, annotations,
// ports, defaults, the Link schema and the shadow port map. A leaf: it depends on zod only.
export * from './names.js';
export { hostPort } from './address.js';
export {
  linkSpecSchema,
  linkGatewaySchema,
  parseLinkSpec,
  durationMs,
  dnsLabelSchema,
  dnsSubdomainSchema,
  portSchema,
  TRANSPORTS,
  DEFAULT_TRANSPORT,
  DEFAULT_GATEWAY_SELECTOR,
  DEFAULT_FLAT_SELECTOR,
  DEFAULT_PROBE,
  LINK_CONDITION_TYPES,
  type Transport,
  type LinkSpec,
  type LinkSpecInput,
  type LinkGateway,
  type LinkStatus,
  type LinkCondition,
  type LinkConditionType,
  type Condition,
  type ConditionStatus,
  type MirroredServiceStatus,
  type ParsedLink,
} from './link.js';
export { labelSelectorSchema, matchesSelector, selectorString, type LabelSelector } from './selector.js';
export { portMapEntrySchema, portMapSchema, parsePortMap, formatPortMap, type PortMapEntry, type ParsedPortMap } from './port-map.js';
export { LINKS_PATH, linkInfo, gatewayAlive, type LinkInfo, type LinkObject } from './link-info.js';
export {
  OUTBOUND_ROUTES_CONFIGMAP,
  OUTBOUND_ROUTES_KEY,
  MAX_OUTBOUND_ROUTES,
  routeOriginSchema,
  outboundRouteSchema,
  outboundRoutesSchema,
  parseOutboundRoutes,
  formatOutboundRoutes,
  type RouteOrigin,
  type OutboundRoute,
  type OutboundRoutes,
  type ParsedRoutes,
} from './routes.js';
export * from './mcs.js';
export * from './traffic-policy.js';
export {
  CALLER_ID_HEADER,
  CALLER_CLUSTER_HEADER,
  UNKNOWN_CALLER,
  MAX_CLAIM_LENGTH,
  PROXY_PROTOCOL_VERSIONS,
  parseProxyProtocolAnnotation,
  serviceAccountId,
  type CallerClaim,
  type ProxyProtocolVersion,
} from './caller.js';
export {
  PP2_SIGNATURE,
  PP2_TYPE_MESH_CALLER_ID,
  PP2_TYPE_MESH_CALLER_CLUSTER,
  PP2_TYPE_MESH_CALLER_FLAGS,
  PP2_FLAG_UNKNOWN_CALLER,
  PP2_MAX_HEADER,
  ProxyProtocolError,
  encodeProxyV2,
  parseProxyV2,
  callerTlvs,
  callerOfHeader,
  type ProxyV2Header,
  type ProxyV2Tlv,
  type ProxyV2Parse,
} from './proxy-protocol.js';
export {
  MAX_ALLOW_ENTRIES,
  parseAllowEntry,
  parseAllowList,
  ruleMatches,
  firstMatch,
  formatAllowList,
  parseExportTo,
  exportedTo,
  type VerifiedCaller,
  type AllowRule,
  type ParsedAllowList,
  type ParsedExportTo,
} from './authz.js';
