// Who may call an export through the gateway, and which clusters it is exported to: the one rule language,
// read by the gateway (enforces), the mirror (export scope: no shadow where not exported) and the CLI
// (`mesh authz`, `mesh export --to`, `mesh check`). Parsing is strict: one bad entry makes the whole list
// unparsable, and every reader treats an unparsable list as "nobody" (safe by default), reporting why.
import { z } from 'zod';
import { dnsLabelSchema, dnsSubdomainSchema } from './link.js';

/**
 * The caller the remote gateway authorizes (the contract with the caller-attestation path): a SPIFFE id and
 * its cluster. `unknown`: the source gateway could not tell which pod called; `id` is then that gateway's
 * own identity (never someone else's), so only rules naming the gateway or its cluster admit it.
 */
export interface VerifiedCaller {
  id: string;
  cluster: string;
  unknown: boolean;
}

/** One entry of an allow list. */
export type AllowRule =
  | { kind: 'cluster'; cluster: string; text: string }
  | { kind: 'id'; id: string; text: string }
  /** `spiffe://td/ns/web/*`: every id under the prefix (kept with its trailing `/`). */
  | { kind: 'prefix'; prefix: string; text: string }
  /** A bare trust domain (today's syntax): any identity in it. */
  | { kind: 'trustDomain'; trustDomain: string; text: string };

/** Most entries a list may hold: the gateway evaluates it per tunnel. */
export const MAX_ALLOW_ENTRIES = 256;

// A SPIFFE path segment: what src/trust's parser accepts (letters, digits, `.-_`), never `.`/`..`.
const SEGMENT = /^[A-Za-z0-9._-]+$/;

function spiffeParts(text: string): { trustDomain: string; segments: string[] } | string {
  const m = /^spiffe:\/\/([^/]+)\/(.+)$/.exec(text);
  if (!m) return 'is not spiffe://<trust-domain>/<path>';
  const td = dnsSubdomainSchema.safeParse(m[1]);
  if (!td.success) return `has an invalid trust domain ${JSON.stringify(m[1])}`;
  const segments = m[2]!.split('/');
  return { trustDomain: td.data, segments };
}

function badSegment(segments: readonly string[]): string | undefined {
  for (const s of segments) if (!SEGMENT.test(s) || s === '.' || s === '..') return `has an invalid path segment ${JSON.stringify(s)}`;
  return undefined;
}

/** Parses one entry; a string is the reason it is not one. */
export function parseAllowEntry(text: string): AllowRule | string {
  if (text.length > 2048) return 'is longer than 2048 characters';
  if (text.startsWith('cluster:')) {
    const c = dnsLabelSchema.safeParse(text.slice('cluster:'.length));
    return c.success ? { kind: 'cluster', cluster: c.data, text } : 'names no valid cluster (cluster:<DNS label>)';
  }
  if (text.startsWith('spiffe://')) {
    const p = spiffeParts(text);
    if (typeof p === 'string') return p;
    const wildcard = p.segments[p.segments.length - 1] === '*';
    const fixed = wildcard ? p.segments.slice(0, -1) : p.segments;
    if (wildcard && fixed.length === 0) return 'is a whole trust domain: write the bare trust domain instead of spiffe://<td>/*';
    const bad = badSegment(fixed);
    if (bad) return p.segments.includes('*') && !wildcard ? 'has a `*` that is not the whole last segment' : bad;
    const base = `spiffe://${p.trustDomain}/${fixed.join('/')}`;
    return wildcard ? { kind: 'prefix', prefix: `${base}/`, text } : { kind: 'id', id: base, text };
  }
  const td = dnsSubdomainSchema.safeParse(text);
  if (td.success) return { kind: 'trustDomain', trustDomain: td.data, text };
  return 'is not cluster:<name>, a SPIFFE id, spiffe://<td>/<path>/*, or a trust domain';
}

export type ParsedAllowList = { ok: true; rules: AllowRule[] } | { ok: false; message: string };

/** zod at the boundary: a comma-separated annotation value or a Link's list of entries. */
const allowListInput = z.union([z.string().max(64 * 1024), z.array(z.string().max(4096)).max(MAX_ALLOW_ENTRIES)]);

/** Splits and parses a whole list. Blank entries are skipped; an empty list is "no rule" (`rules: []`). */
export function parseAllowList(raw: unknown): ParsedAllowList {
  const input = allowListInput.safeParse(raw);
  if (!input.success) return { ok: false, message: `not a list of identities: ${input.error.issues[0]?.message ?? 'invalid'}` };
  const entries = (typeof input.data === 'string' ? input.data.split(',') : input.data).map((e) => e.trim()).filter((e) => e !== '');
  if (entries.length > MAX_ALLOW_ENTRIES) return { ok: false, message: `has ${entries.length} entries (at most ${MAX_ALLOW_ENTRIES})` };
  const rules: AllowRule[] = [];
  const problems: string[] = [];
  for (const e of entries) {
    const r = parseAllowEntry(e);
    if (typeof r === 'string') problems.push(`${JSON.stringify(e.length > 80 ? e.slice(0, 80) + '…' : e)} ${r}`);
    else rules.push(r);
  }
  if (problems.length > 0) return { ok: false, message: `invalid entr${problems.length > 1 ? 'ies' : 'y'}: ${problems.slice(0, 5).join('; ')}` };
  return { ok: true, rules };
}

/** The trust domain of a SPIFFE id's text ('' if it is not one). */
function trustDomainOf(id: string): string {
  if (!id.startsWith('spiffe://')) return '';
  const end = id.indexOf('/', 9);
  return end < 0 ? id.slice(9) : id.slice(9, end);
}

export function ruleMatches(rule: AllowRule, caller: VerifiedCaller): boolean {
  switch (rule.kind) {
    case 'cluster':
      return rule.cluster === caller.cluster;
    case 'id':
      return rule.id === caller.id;
    case 'prefix':
      return caller.id.startsWith(rule.prefix);
    case 'trustDomain':
      return trustDomainOf(caller.id) === rule.trustDomain;
  }
}

/** The first rule that admits the caller, if any. */
export function firstMatch(rules: readonly AllowRule[], caller: VerifiedCaller): AllowRule | undefined {
  for (const r of rules) if (ruleMatches(r, caller)) return r;
  return undefined;
}

export function formatAllowList(rules: readonly AllowRule[]): string {
  return rules.map((r) => r.text).join(',');
}

// --- export scope ----------------------------------------------------------------------------------------
export type ParsedExportTo = { ok: true; clusters: string[] } | { ok: false; message: string };

/** `mirror.mesh.io/export-to: cluster-a,cluster-c`: the clusters an export is for. An empty value is an
 * error (to export everywhere, remove the annotation): an unparsable scope exports to no cluster. */
export function parseExportTo(raw: unknown): ParsedExportTo {
  const input = z.string().max(16 * 1024).safeParse(raw);
  if (!input.success) return { ok: false, message: 'is not a string' };
  const names = input.data.split(',').map((e) => e.trim()).filter((e) => e !== '');
  if (names.length === 0) return { ok: false, message: 'lists no cluster (remove the annotation to export to every linked cluster)' };
  const bad = names.filter((n) => !dnsLabelSchema.safeParse(n).success);
  if (bad.length > 0) return { ok: false, message: `${bad.slice(0, 5).map((b) => JSON.stringify(b)).join(', ')} ${bad.length > 1 ? 'are not cluster names' : 'is not a cluster name'} (DNS labels)` };
  return { ok: true, clusters: [...new Set(names)] };
}

/** Whether an export with this export-to value (annotation text or undefined) is for `cluster`. Undefined:
 * every cluster; unparsable: none. */
export function exportedTo(exportTo: string | undefined, cluster: string): boolean {
  if (exportTo === undefined) return true;
  const p = parseExportTo(exportTo);
  return p.ok && p.clusters.includes(cluster);
}
