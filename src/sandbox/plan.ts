// Pure address planning: which addresses, CIDRs, names and ports each sandbox cluster gets. No I/O here,
// so the plan is unit-tested and the same plan drives the orchestrator, the kubelet and `down`.
import { z } from 'zod';
import { DEFAULT_CLUSTER_DOMAIN, dnsSubdomainSchema } from '../api/index.js';
import { SandboxError } from './errors.js';

export const NetworkMode = z.enum(['loopback', 'isolated']);
export type NetworkMode = z.infer<typeof NetworkMode>;

/** A DNS label, as Kubernetes names clusters' contexts and as kind names clusters. */
export const ClusterName = z
  .string()
  .min(1)
  .max(40)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'cluster names are DNS labels: lowercase letters, digits and "-"');

export const ClusterPlan = z.object({
  name: ClusterName,
  /** 1-based position in the sandbox; picks the isolated-mode ranges. */
  index: z.number().int().min(1).max(60),
  domain: z.string().min(1),
  mode: NetworkMode,
  /** The address other clusters (and the host, in loopback mode) reach this cluster's node at. */
  nodeAddress: z.string(),
  /** Pod addresses are handed out from [podFirst, podLast] (inclusive, dotted quads). */
  podCIDR: z.string(),
  podFirst: z.string(),
  podLast: z.string(),
  serviceCIDR: z.string(),
  /** Dual-stack clusters only: the IPv6 Service range (the API server's secondary `--service-cidr`). */
  serviceCIDR6: z.string().optional(),
  /** Dual-stack isolated clusters only: pods' IPv6 addresses (`podIPv6`); loopback mode has only ::1. */
  podCIDR6: z.string().optional(),
  /** Where the cluster DNS listens (inside the cluster's network). */
  dnsAddress: z.string(),
  dnsPort: z.number().int().min(0).max(65535),
  /** API server port on the node address (0 = pick a free one, loopback mode). */
  apiPort: z.number().int().min(0).max(65535),
  /** Network namespace of the cluster (isolated mode only). */
  netns: z.string().optional(),
  /** Loopback mode: the second octet of 127.X.0.0/16 claimed for this cluster. */
  loopbackOctet: z.number().int().min(1).max(254).optional(),
});
export type ClusterPlan = z.infer<typeof ClusterPlan>;

export const UNDERLAY_CIDR_PREFIX = '10.255.0';
export const UNDERLAY_PREFIX_LEN = 24;

export function parseClusterList(text: string): string[] {
  const names = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw new SandboxError('BadFlag', '--clusters needs at least one cluster name, e.g. cluster-a,cluster-b');
  for (const n of names) {
    const r = ClusterName.safeParse(n);
    if (!r.success) throw new SandboxError('BadFlag', `cluster name "${n}": ${r.error.issues[0]?.message ?? 'invalid'}`);
  }
  if (new Set(names).size !== names.length) throw new SandboxError('BadFlag', `--clusters names a cluster twice: ${text}`);
  if (names.length > 60) throw new SandboxError('BadFlag', 'at most 60 clusters');
  return names;
}

/** `cluster.local` for all, or `cluster-a=a.local,cluster-b=b.local` per cluster (others keep cluster.local). */
export function parseDomains(text: string, names: string[]): Map<string, string> {
  const out = new Map(names.map((n) => [n, DEFAULT_CLUSTER_DOMAIN]));
  if (!text.includes('=')) {
    if (!dnsSubdomainSchema.safeParse(text).success) throw new SandboxError('BadFlag', `--cluster-domain "${text}" is not a DNS name`);
    for (const n of names) out.set(n, text);
    return out;
  }
  for (const part of text.split(',')) {
    const [name, domain] = part.split('=');
    if (!name || !domain || !out.has(name)) throw new SandboxError('BadFlag', `--cluster-domain entry "${part}": expected <cluster>=<domain> for a cluster in --clusters`);
    if (!dnsSubdomainSchema.safeParse(domain).success) throw new SandboxError('BadFlag', `--cluster-domain "${domain}" is not a DNS name`);
    out.set(name, domain);
  }
  return out;
}

/**
 * Loopback: cluster k owns 127.X.0.0/16 (X claimed at run time so several sandboxes can coexist):
 * node 127.X.0.1, DNS 127.X.0.10, pods 127.X.1.1-127.X.127.254, Services 127.X.128.0/17.
 * Isolated: each cluster has its own netns, so fixed private ranges are safe there: node 10.255.0.(10+k)
 * on the underlay, pods 10.k.0.0/16, Services 10.(100+k).0.0/16, DNS on 10.(100+k).0.10:53.
 * Dual-stack adds an IPv6 (ULA) Service range: fd00:127:X::/108 (loopback), fd00:10:(100+k)::/108 (isolated),
 * and, isolated only, pod IPv6 addresses in fd00:10:k::/96 (`podIPv6`).
 */
export function planCluster(opts: { name: string; index: number; domain: string; mode: NetworkMode; loopbackOctet?: number; netnsPrefix?: string; loopbackDnsPort?: number; dualStack?: boolean }): ClusterPlan {
  const { name, index, domain, mode } = opts;
  const dual = opts.dualStack === true;
  if (mode === 'loopback') {
    const x = opts.loopbackOctet;
    if (x === undefined) throw new SandboxError('Internal', 'loopback plan needs a claimed 127.X octet');
    return ClusterPlan.parse({
      name, index, domain, mode,
      nodeAddress: `127.${x}.0.1`,
      podCIDR: `127.${x}.0.0/17`,
      podFirst: `127.${x}.1.1`,
      podLast: `127.${x}.127.254`,
      serviceCIDR: `127.${x}.128.0/17`,
      ...(dual ? { serviceCIDR6: `fd00:127:${x}::/108` } : {}),
      dnsAddress: `127.${x}.0.10`,
      // 53 (root only) lets pods use a resolv.conf; otherwise any free port, handed over in MESH_CLUSTER_DNS.
      dnsPort: opts.loopbackDnsPort ?? 0,
      apiPort: 0,
      loopbackOctet: x,
    });
  }
  return ClusterPlan.parse({
    name, index, domain, mode,
    nodeAddress: `${UNDERLAY_CIDR_PREFIX}.${10 + index}`,
    podCIDR: `10.${index}.0.0/16`,
    podFirst: `10.${index}.1.1`,
    podLast: `10.${index}.255.254`,
    serviceCIDR: `10.${100 + index}.0.0/16`,
    ...(dual ? { serviceCIDR6: `fd00:10:${100 + index}::/108`, podCIDR6: `fd00:10:${index}::/96` } : {}),
    dnsAddress: `10.${100 + index}.0.10`,
    dnsPort: 53,
    apiPort: 6443,
    netns: `${opts.netnsPrefix ?? 'msb'}-${index}`,
  });
}

/** The API server's `--service-cidr`: IPv4 first (the primary family), then IPv6 when dual-stack. */
export function serviceCidrs(plan: ClusterPlan): string {
  return plan.serviceCIDR6 ? `${plan.serviceCIDR},${plan.serviceCIDR6}` : plan.serviceCIDR;
}

/** A pod's IPv6 address in a dual-stack isolated cluster: its IPv4 10.k.a.b becomes fd00:10:k::a:b (hex),
 * so the second address needs no allocator and stays unique exactly as the first is. */
export function podIPv6(plan: ClusterPlan, podIP: string): string | undefined {
  if (!plan.podCIDR6) return undefined;
  const n = ipToInt(podIP);
  return `${plan.podCIDR6.split('::')[0]}::${((n >>> 8) & 255).toString(16)}:${(n & 255).toString(16)}`;
}

export function ipToInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new SandboxError('Internal', `not an IPv4 address: ${ip}`);
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

export function intToIp(n: number): string {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Hands out pod addresses from a range; the lowest free one first, never one in use. */
export class IpAllocator {
  private readonly used = new Map<string, string>();
  private readonly first: number;
  private readonly last: number;
  constructor(first: string, last: string) {
    this.first = ipToInt(first);
    this.last = ipToInt(last);
  }
  /** The address of `owner` (a pod uid), allocating one when it has none. */
  allocate(owner: string): string {
    for (const [ip, o] of this.used) if (o === owner) return ip;
    for (let n = this.first; n <= this.last; n++) {
      if ((n & 255) === 0 || (n & 255) === 255) continue;
      const ip = intToIp(n);
      if (!this.used.has(ip)) {
        this.used.set(ip, owner);
        return ip;
      }
    }
    throw new SandboxError('PodCIDRExhausted', `no free pod address between ${intToIp(this.first)} and ${intToIp(this.last)}`);
  }
  release(owner: string): void {
    for (const [ip, o] of this.used) if (o === owner) this.used.delete(ip);
  }
  inUse(): number {
    return this.used.size;
  }
}
