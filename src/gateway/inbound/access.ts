// Authorization of one verified caller for one resolved target, pure: the rules of issue 15, evaluated by
// the exporting (this) gateway after the target is resolved and before it dials. The rule lists are parsed
// once per routing snapshot (serviceAccess, linkAccess) by src/api's one parser; an unparsable list
// admits nobody (safe by default) and its refusal says why.
//
// Order: export scope (export-to), then the Link's list for the caller's cluster, then the Service's own list
// or, when it has none, its Namespace's default. Every list that is present must admit the caller.
import { firstMatch, parseAllowList, parseExportTo, type ParsedAllowList, type ParsedExportTo, type VerifiedCaller } from '../../api/index.js';
import type { ExportedService, RemoteGateway } from '../types.js';

/** Which rule list refused a caller: a metric label (bounded). */
export const DENY_SOURCES = ['export-to', 'link', 'service', 'namespace'] as const;
export type DenySource = (typeof DENY_SOURCES)[number];

/** An exported Service's rules, parsed. */
export interface ServiceAccess {
  allow: { source: 'service' | 'namespace'; list: ParsedAllowList } | undefined;
  exportTo: ParsedExportTo | undefined;
}

/** What authorize() judges: the resolved Service, its rules, and the Link's list for the caller's cluster. */
export interface AccessTarget {
  namespace: string;
  service: string;
  access: ServiceAccess;
  /** The list of this cluster's Link to the caller's cluster (spec.gateway.allowedIdentities), if any. */
  link: ParsedAllowList | undefined;
}

export type AccessDecision =
  | { ok: true; rule: string | undefined }
  /** `rule`: the list (or entry) that decided, as written, for the log line and the client's reason. */
  | { ok: false; source: DenySource; rule: string; reason: string };

export function compileAccess(svc: ExportedService): ServiceAccess {
  const allow = svc.allowedIdentities?.length
    ? { source: 'service' as const, list: parseAllowList(svc.allowedIdentities) }
    : svc.defaultAllowedIdentities?.length
      ? { source: 'namespace' as const, list: parseAllowList(svc.defaultAllowedIdentities) }
      : undefined;
  return { allow, exportTo: svc.exportTo === undefined ? undefined : parseExportTo(svc.exportTo) };
}

/** A Link's list (spec.gateway.allowedIdentities), parsed; undefined when it has none. */
export function compileLinkAccess(remote: RemoteGateway): ParsedAllowList | undefined {
  return remote.allowedIdentities?.length ? parseAllowList(remote.allowedIdentities) : undefined;
}

// Parsed once per routing snapshot: a snapshot's objects are replaced, never changed, so a parse cached by
// object identity is never stale, and a new tunnel pays a map lookup, not a parse.
const serviceCache = new WeakMap<ExportedService, ServiceAccess>();
const linkCache = new WeakMap<RemoteGateway, { list: ParsedAllowList | undefined }>();

export function serviceAccess(svc: ExportedService): ServiceAccess {
  let a = serviceCache.get(svc);
  if (!a) serviceCache.set(svc, (a = compileAccess(svc)));
  return a;
}

export function linkAccess(remote: RemoteGateway | undefined): ParsedAllowList | undefined {
  if (!remote) return undefined;
  let a = linkCache.get(remote);
  if (!a) linkCache.set(remote, (a = { list: compileLinkAccess(remote) }));
  return a.list;
}

const SHOWN_RULE = 200;
const shown = (text: string): string => (text.length > SHOWN_RULE ? `${text.slice(0, SHOWN_RULE)}…` : text);

function checkList(list: ParsedAllowList, source: DenySource, what: string, caller: VerifiedCaller): AccessDecision {
  if (!list.ok) return { ok: false, source, rule: `${source}: unparsable`, reason: `${what} is unparsable and admits nobody: ${list.message}` };
  if (list.rules.length === 0) return { ok: true, rule: undefined };
  const hit = firstMatch(list.rules, caller);
  if (hit) return { ok: true, rule: hit.text };
  const written = shown(list.rules.map((r) => r.text).join(','));
  return { ok: false, source, rule: `${source}: ${written}`, reason: `${what} [${written}] does not admit it` };
}

/** The contract's one authorization call: may `caller` open a tunnel to `target`? */
export function authorize(target: AccessTarget, caller: VerifiedCaller): AccessDecision {
  const svc = `${target.service}.${target.namespace}`;
  const who = `caller ${caller.id}${caller.unknown ? ' (unknown-caller)' : ''} of cluster ${caller.cluster || '(none)'}`;
  const deny = (d: AccessDecision): AccessDecision => (d.ok ? d : { ...d, reason: `${who} refused for ${svc}: ${d.reason}` });
  const scope = target.access.exportTo;
  if (scope) {
    if (!scope.ok) return deny({ ok: false, source: 'export-to', rule: 'export-to: unparsable', reason: `its export-to ${scope.message}; exported to no cluster` });
    if (!scope.clusters.includes(caller.cluster)) {
      const list = scope.clusters.join(',');
      return deny({ ok: false, source: 'export-to', rule: `export-to: ${list}`, reason: `not exported to cluster ${caller.cluster || '(none)'} (export-to: ${list})` });
    }
  }
  if (target.link) {
    const d = checkList(target.link, 'link', `the Link to cluster ${caller.cluster}'s allowedIdentities`, caller);
    if (!d.ok) return deny(d);
  }
  const allow = target.access.allow;
  if (!allow) return { ok: true, rule: undefined };
  const what = allow.source === 'service' ? 'its allowed-identities' : `namespace ${target.namespace}'s default-allowed-identities`;
  return deny(checkList(allow.list, allow.source, what, caller));
}

/** The unparsable lists of a snapshot, one line each (the gateway logs them when they change). */
export function unparsablePolicies(exported: readonly ExportedService[], remotes: readonly RemoteGateway[]): string[] {
  const out: string[] = [];
  for (const svc of exported) {
    const a = serviceAccess(svc);
    const where = `Service ${svc.namespace}/${svc.name}`;
    if (a.allow && !a.allow.list.ok) out.push(`${where} ${a.allow.source === 'service' ? 'allowed-identities' : 'namespace default-allowed-identities'} ${a.allow.list.message}: it admits nobody`);
    if (a.exportTo && !a.exportTo.ok) out.push(`${where} export-to ${a.exportTo.message}: it is exported to no cluster`);
  }
  for (const r of remotes) {
    const l = linkAccess(r);
    if (l && !l.ok) out.push(`Link to ${r.cluster} allowedIdentities ${l.message}: its callers are refused`);
  }
  return out;
}
