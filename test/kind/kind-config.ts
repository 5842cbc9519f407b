// A zod schema for the fields of kind's `Cluster` (kind.x-k8s.io/v1alpha4) config that the rig uses;
// strict, so a misspelt field fails here rather than being ignored by kind.
import { z } from 'zod';

const cidr = z.string().regex(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/, 'must be an IPv4 CIDR such as 10.240.0.0/16');

export const KindNodeSchema = z.strictObject({
  role: z.enum(['control-plane', 'worker']),
  image: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  extraPortMappings: z
    .array(z.strictObject({ containerPort: z.number().int(), hostPort: z.number().int().optional(), listenAddress: z.string().optional(), protocol: z.enum(['TCP', 'UDP', 'SCTP']).optional() }))
    .optional(),
});

export const KindClusterSchema = z.strictObject({
  kind: z.literal('Cluster'),
  apiVersion: z.literal('kind.x-k8s.io/v1alpha4'),
  name: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/),
  networking: z.strictObject({
    podSubnet: cidr,
    serviceSubnet: cidr,
    disableDefaultCNI: z.boolean().optional(),
    kubeProxyMode: z.enum(['iptables', 'ipvs', 'nftables', 'none']).optional(),
    ipFamily: z.enum(['ipv4', 'ipv6', 'dual']).optional(),
    apiServerAddress: z.string().optional(),
    apiServerPort: z.number().int().optional(),
  }),
  nodes: z.array(KindNodeSchema).min(1).refine((n) => n.some((x) => x.role === 'control-plane'), 'needs a control-plane node'),
});
export type KindCluster = z.infer<typeof KindClusterSchema>;

/** [first, last] address of a CIDR as 32-bit numbers. */
export function cidrRange(c: string): [number, number] {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(c);
  if (!m) throw new Error(`not a CIDR: ${c}`);
  const octets = m.slice(1, 5).map(Number);
  if (octets.some((o) => o > 255)) throw new Error(`not a CIDR: ${c}`);
  const bits = Number(m[5]);
  if (bits > 32) throw new Error(`not a CIDR: ${c}`);
  const ip = octets.reduce((a, o) => a * 256 + o, 0);
  const size = 2 ** (32 - bits);
  const first = Math.floor(ip / size) * size;
  return [first, first + size - 1];
}

export function cidrsOverlap(a: string, b: string): boolean {
  const [a0, a1] = cidrRange(a);
  const [b0, b1] = cidrRange(b);
  return a0 <= b1 && b0 <= a1;
}
