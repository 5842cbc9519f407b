// The input interface of the cluster DNS: what a caller (the sandbox's informers, a test) says about
// one Service. Kept free of Kubernetes object shapes so the server does not care where data comes from;
// `dnsServiceFromObjects` turns a Service + its EndpointSlices into this.
import { z } from 'zod';

const dnsName = z.string().min(1).max(63).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/i, 'must be a DNS label');

export const DnsPortSchema = z.object({
  /** Service port name; SRV records exist only for named ports (`_<name>._<proto>.<svc>…`). */
  name: z.string().max(63).optional(),
  port: z.number().int().min(1).max(65535),
  protocol: z.enum(['TCP', 'UDP', 'SCTP']).default('TCP'),
});

export const DnsEndpointSchema = z.object({
  ip: z.union([z.ipv4(), z.ipv6()]),
  /** Pod hostname (StatefulSet pod, or pod with hostname + subdomain): gets `<hostname>.<svc>.<ns>.svc.<domain>`. */
  hostname: dnsName.optional(),
  ready: z.boolean().default(true),
});

export const DnsServiceSchema = z.object({
  /** ClusterIPs (IPv4 and/or IPv6); empty for headless Services. */
  clusterIPs: z.array(z.union([z.ipv4(), z.ipv6()])).default([]),
  ports: z.array(DnsPortSchema).default([]),
  /** `clusterIP: None`: A/AAAA answer with the ready endpoint IPs instead of a ClusterIP. */
  headless: z.boolean().default(false),
  /** Publish endpoints that are not ready (Service `publishNotReadyAddresses`). */
  publishNotReadyAddresses: z.boolean().default(false),
  /** ExternalName Services answer a CNAME to this name. */
  externalName: z.string().min(1).max(253).optional(),
  endpoints: z.array(DnsEndpointSchema).default([]),
});

export type DnsPortInput = z.input<typeof DnsPortSchema>;
export type DnsEndpointInput = z.input<typeof DnsEndpointSchema>;
/** What `DnsRecordSource.setService` accepts (defaults filled in). */
export type DnsServiceInput = z.input<typeof DnsServiceSchema>;
export type DnsService = z.output<typeof DnsServiceSchema>;

export const DnsNameSchema = dnsName;

/** Records found for one owner name (lower-case, no trailing dot). */
export interface SrvRecord {
  priority: number;
  weight: number;
  port: number;
  target: string;
}

export interface NameRecords {
  a: string[];
  aaaa: string[];
  srv: SrvRecord[];
  cname?: string;
  /** Reverse names (`…in-addr.arpa`, `…ip6.arpa`) → the Service or endpoint names owning that IP. */
  ptr: string[];
  /** TXT strings (the clusterset zone's `dns-version` record). */
  txt?: string[];
}
