// The Link resource: zod schema (the one boundary check for specs users write) and status shapes.
import { z } from 'zod';
import type { KubeObject } from '../kube/index.js';
import { EXPORT_LABEL } from './types.js';

const dnsLabel = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS label (lowercase letters, digits, -)').max(63);
const dnsSubdomain = z
  .string()
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'must be a DNS name');
const duration = z.string().regex(/^\d+(\.\d+)?(ms|s|m)$/, 'must be a duration such as 500ms, 3s or 1m');
const port = z.number().int().min(1).max(65535);
const hostOrIp = z.string().min(1).max(253).regex(/^[A-Za-z0-9.:-]+$/, 'must be an IP address or a hostname');

const selectorRequirement = z.object({
  key: z.string().min(1),
  operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
  values: z.array(z.string()).optional(),
});
export const labelSelectorSchema = z
  .object({
    matchLabels: z.record(z.string(), z.string()).optional(),
    matchExpressions: z.array(selectorRequirement).optional(),
  })
  .refine(
    (s) => (s.matchExpressions ?? []).every((r) => ((r.operator === 'In' || r.operator === 'NotIn') ? (r.values?.length ?? 0) > 0 : !r.values?.length)),
    { message: 'In/NotIn need values; Exists/DoesNotExist take none' },
  );
export type LabelSelector = z.infer<typeof labelSelectorSchema>;

export const DEFAULT_GATEWAY_SELECTOR: LabelSelector = { matchExpressions: [{ key: EXPORT_LABEL, operator: 'In', values: ['true', 'gateway'] }] };
export const DEFAULT_FLAT_SELECTOR: LabelSelector = { matchExpressions: [{ key: EXPORT_LABEL, operator: 'In', values: ['flat', 'remote-discovery'] }] };

export const linkSpecSchema = z
  .object({
    targetClusterName: dnsLabel,
    targetClusterDomain: dnsSubdomain.default('cluster.local'),
    trustDomain: dnsSubdomain.default('mesh.local'),
    clusterCredentialsSecret: dnsSubdomain,
    gateway: z
      .object({
        addresses: z.array(hostOrIp).min(1),
        port: port.default(4143),
        identity: z.string().regex(/^spiffe:\/\/[^/]+\/.+$/, 'must be a SPIFFE id spiffe://<trust-domain>/<path>'),
        transport: z.enum(['connect', 'tls-pipe']).optional(),
      })
      .strict()
      .optional(),
    probe: z
      .object({
        path: z.string().startsWith('/').default('/live'),
        port: port.optional(),
        period: duration.default('3s'),
        timeout: duration.default('2s'),
        failureThreshold: z.number().int().min(1).max(100).default(3),
      })
      .strict()
      .default({ path: '/live', period: '3s', timeout: '2s', failureThreshold: 3 }),
    selector: labelSelectorSchema.default(DEFAULT_GATEWAY_SELECTOR),
    flatSelector: labelSelectorSchema.default(DEFAULT_FLAT_SELECTOR),
    excludedLabels: z.array(z.string().min(1)).default([]),
    excludedAnnotations: z.array(z.string().min(1)).default([]),
    createNamespaces: z.boolean().default(false),
  })
  .strict();

export type LinkSpec = z.infer<typeof linkSpecSchema>;

export interface Condition {
  type: 'Ready' | 'RemoteAPIReachable' | 'GatewayReachable' | 'CredentialsValid' | 'SpecValid';
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime?: string;
  observedGeneration?: number;
}

export interface MirroredServiceStatus {
  namespace: string;
  name: string;
  shadow: string;
  mode: string;
  problem?: string;
}

export interface LinkStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  mirroredServices?: { count: number; services: MirroredServiceStatus[] };
  lastProbe?: { time: string; latencyMs?: number; success: boolean; message?: string };
}

export interface Link extends KubeObject {
  spec?: unknown;
  status?: LinkStatus;
}

export type ParsedLink = { ok: true; spec: LinkSpec } | { ok: false; path: string; message: string };

/** Validates a Link's spec; on failure returns the first problem's zod path (e.g. `spec.gateway.port`). */
export function parseLinkSpec(raw: unknown): ParsedLink {
  const r = linkSpecSchema.safeParse(raw ?? {});
  if (r.success) return { ok: true, spec: r.data };
  const issues = r.error.issues;
  const first = issues[0];
  const path = ['spec', ...(first?.path ?? []).map(String)].join('.');
  const message = issues.map((i) => `${['spec', ...i.path.map(String)].join('.')}: ${i.message}`).join('; ');
  return { ok: false, path, message };
}

/** Parses a Link duration (500ms, 3s, 1m) to milliseconds. */
export function durationMs(d: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(d);
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
}

export function matchesSelector(labels: Record<string, string> | undefined, sel: LabelSelector): boolean {
  const l = labels ?? {};
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const r of sel.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    switch (r.operator) {
      case 'In':
        if (!has || !(r.values ?? []).includes(l[r.key])) return false;
        break;
      case 'NotIn':
        if (has && (r.values ?? []).includes(l[r.key])) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  // An empty selector selects nothing here: mirroring every Service of a cluster is never what a Link means.
  return Object.keys(sel.matchLabels ?? {}).length + (sel.matchExpressions ?? []).length > 0;
}

/** The label selector string for a server-side list/watch, or undefined if it cannot be expressed as one. */
export function selectorString(sel: LabelSelector): string | undefined {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) parts.push(`${k}=${v}`);
  for (const r of sel.matchExpressions ?? []) {
    const vals = (r.values ?? []).join(',');
    if (r.operator === 'In') parts.push(`${r.key} in (${vals})`);
    else if (r.operator === 'NotIn') parts.push(`${r.key} notin (${vals})`);
    else if (r.operator === 'Exists') parts.push(r.key);
    else parts.push(`!${r.key}`);
  }
  return parts.length ? parts.join(',') : undefined;
}
