// The Link resource (multicluster.mesh.io/v1alpha1): the one schema of its spec, read by the mirror (which
// validates and reports), the gateway (routing to remote gateways, per-link policy), the CLI (writes it)
// and the CRD (its openAPIV3Schema is checked against this).
import { z } from 'zod';
import { labelSelectorSchema, type LabelSelector } from './selector.js';
import { DEFAULT_CLUSTER_DOMAIN, DEFAULT_TRUST_DOMAIN, EXPORT_FLAT_VALUES, EXPORT_GATEWAY_VALUES, EXPORT_LABEL, GATEWAY_LIVE_PATH, GATEWAY_TUNNEL_PORT } from './names.js';

export const dnsLabelSchema = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS label (lowercase letters, digits, -)').max(63);
export const dnsSubdomainSchema = z
  .string()
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'must be a DNS name');
/**
 * Probe durations, bounded in the pattern itself so that the CRD (generated from this schema) refuses what
 * zod refuses: a period of at least 1 s (`0ms` made the prober a flood of mTLS handshakes) and a positive
 * timeout, each below 1,000 minutes (a timer past 2^31 ms fires at once in Node).
 */
const probePeriod = z.string().regex(/^([1-9]\d{3,5}ms|[1-9]\d{0,3}(\.\d+)?s|[1-9]\d{0,2}(\.\d+)?m)$/, 'must be a duration from 1s to 999m, such as 3s, 1500ms or 1m');
const probeTimeout = z
  .string()
  .regex(/^([1-9]\d{0,5}ms|([1-9]\d{0,3}(\.\d+)?|0\.\d*[1-9]\d*)s|[1-9]\d{0,2}(\.\d+)?m)$/, 'must be a positive duration below 1000m, such as 500ms or 2s');
export const portSchema = z.number().int().min(1).max(65535);
const hostOrIp = z.string().min(1).max(253).regex(/^[A-Za-z0-9.:-]+$/, 'must be an IP address or a hostname');
/** A SPIFFE id as a Link names a peer: the full parse and trust-domain checks live in src/trust. */
const spiffeIdShape = z.string().max(2048).regex(/^spiffe:\/\/[^/]+\/.+$/, 'must be a SPIFFE id spiffe://<trust-domain>/<path>');

/** How a tunnel crosses to the remote gateway: HTTP/2 CONNECT streams over pooled mTLS connections, or
 * one pre-handshaked mTLS connection per tunnel with the target in a short header. */
export const TRANSPORTS = ['connect', 'tls-pipe'] as const;
export type Transport = (typeof TRANSPORTS)[number];
/** The transport of a Link that names none (`mesh gateway --transport`); the gateway bench chose it. */
export const DEFAULT_TRANSPORT: Transport = 'connect';

export const DEFAULT_GATEWAY_SELECTOR: LabelSelector = { matchExpressions: [{ key: EXPORT_LABEL, operator: 'In', values: [...EXPORT_GATEWAY_VALUES] }] };
export const DEFAULT_FLAT_SELECTOR: LabelSelector = { matchExpressions: [{ key: EXPORT_LABEL, operator: 'In', values: [...EXPORT_FLAT_VALUES] }] };
export const DEFAULT_PROBE = { path: GATEWAY_LIVE_PATH, period: '3s', timeout: '2s', failureThreshold: 3 } as const;

export const linkGatewaySchema = z
  .object({
    addresses: z.array(hostOrIp).min(1),
    port: portSchema.default(GATEWAY_TUNNEL_PORT),
    identity: spiffeIdShape,
    transport: z.enum(TRANSPORTS).optional(),
    /** Callers from the target cluster this cluster's gateway admits over this Link (allowed-identities
     * syntax: exact SPIFFE ids, `spiffe://td/ns/x/*` prefixes, `cluster:<name>`, a trust domain). Absent:
     * the gateway's own default. */
    allowedIdentities: z.array(z.string().min(1).max(2048)).max(256).optional(),
  })
  .strict();

export const linkSpecSchema = z
  .object({
    targetClusterName: dnsLabelSchema,
    targetClusterDomain: dnsSubdomainSchema.default(DEFAULT_CLUSTER_DOMAIN),
    trustDomain: dnsSubdomainSchema.default(DEFAULT_TRUST_DOMAIN),
    clusterCredentialsSecret: dnsSubdomainSchema,
    gateway: linkGatewaySchema.optional(),
    probe: z
      .object({
        path: z.string().startsWith('/').default(DEFAULT_PROBE.path),
        port: portSchema.optional(),
        period: probePeriod.default(DEFAULT_PROBE.period),
        timeout: probeTimeout.default(DEFAULT_PROBE.timeout),
        failureThreshold: z.number().int().min(1).max(100).default(DEFAULT_PROBE.failureThreshold),
      })
      .strict()
      // A probe that may outlast its period overlaps the next one. Not expressible in the CRD: the mirror reports it.
      .refine((p) => durationMs(p.timeout) < durationMs(p.period), { message: 'timeout must be shorter than period', path: ['timeout'] })
      .default({ ...DEFAULT_PROBE }),
    selector: labelSelectorSchema.default(DEFAULT_GATEWAY_SELECTOR),
    flatSelector: labelSelectorSchema.default(DEFAULT_FLAT_SELECTOR),
    excludedLabels: z.array(z.string().min(1)).default([]),
    excludedAnnotations: z.array(z.string().min(1)).default([]),
    createNamespaces: z.boolean().default(false),
  })
  .strict();

export type LinkSpec = z.infer<typeof linkSpecSchema>;
export type LinkSpecInput = z.input<typeof linkSpecSchema>;
export type LinkGateway = z.infer<typeof linkGatewaySchema>;

export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** metav1.Condition as the mesh writes it. */
export interface Condition<T extends string = string> {
  type: T;
  status: ConditionStatus;
  reason: string;
  message: string;
  lastTransitionTime?: string;
  observedGeneration?: number;
}

export const LINK_CONDITION_TYPES = ['Ready', 'RemoteAPIReachable', 'GatewayReachable', 'CredentialsValid', 'SpecValid', 'Conflict'] as const;
export type LinkConditionType = (typeof LINK_CONDITION_TYPES)[number];
export type LinkCondition = Condition<LinkConditionType>;

export interface MirroredServiceStatus {
  namespace: string;
  name: string;
  shadow: string;
  mode: string;
  problem?: string;
}

export interface LinkStatus {
  observedGeneration?: number;
  conditions?: LinkCondition[];
  mirroredServices?: { count: number; services: MirroredServiceStatus[] };
  lastProbe?: { time: string; latencyMs?: number; success: boolean; message?: string };
}

export type ParsedLink = { ok: true; spec: LinkSpec } | { ok: false; path: string; message: string };

/** Validates a Link's spec; on failure returns the first problem's path (e.g. `spec.gateway.port`) and
 * every problem as `path: message` (the path once). */
export function parseLinkSpec(raw: unknown): ParsedLink {
  const r = linkSpecSchema.safeParse(raw ?? {});
  if (r.success) return { ok: true, spec: r.data };
  const issues = r.error.issues;
  const pathOf = (p: readonly PropertyKey[]) => ['spec', ...p.map(String)].join('.');
  const message = issues.map((i) => `${pathOf(i.path)}: ${i.message}`).join('; ');
  return { ok: false, path: pathOf(issues[0]?.path ?? []), message };
}

/** Parses a Link duration (500ms, 3s, 1m) to milliseconds; NaN if it is not one. */
export function durationMs(d: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(d);
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
}
