// Cluster DNS on dns-packet: a record source the caller keeps up to date, a pure Kubernetes-objects →
// records mapping, and a UDP+TCP server. Used by the sandbox; reusable by anything that needs cluster DNS.
export { DnsRecordSource, namesForService, normalizeName, endpointLabel, reverseName, type LookupResult } from './records.js';
export { dnsServiceFromObjects, dnsServicesFromObjects, slicesForService } from './from-objects.js';
export { handleQuery, RCODE, UDP_MIN_PAYLOAD, UDP_MAX_PAYLOAD, DEFAULT_TTL, type Outcome, type AnswerOptions, type RcodeName } from './answer.js';
export { startDnsServer, DnsServerOptionsSchema, type DnsServer, type DnsServerOptions, type DnsServerStats } from './server.js';
export {
  ClustersetRecordSource,
  namesForImport,
  clustersetImportFromObjects,
  clustersetImportsFromObjects,
  ClustersetImportSchema,
  type ClustersetImportInput,
  type ServiceImportLike,
  type EndpointSliceLike,
} from './clusterset.js';
export { DnsError, type DnsErrorCode } from './errors.js';
export type { DnsServiceInput, DnsEndpointInput, DnsPortInput, DnsService, NameRecords, SrvRecord } from './types.js';
export { ClustersetWatch, importVersion, type ClustersetWatchOptions } from './watch.js';
