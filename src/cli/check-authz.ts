// `mesh check`'s authorization lines (issue 15): exports whose policy does not parse (the gateway then admits
// nobody), exports that open to every caller in a namespace whose default is locked, and Links whose own
// allowedIdentities would refuse every tunnel of their peer's gateway. Verdicts are plain functions of facts.
import {
  ALLOWED_IDENTITIES_ANNOTATION, DEFAULT_ALLOWED_IDENTITIES_ANNOTATION, EXPORT_GATEWAY_VALUES, EXPORT_LABEL, EXPORT_TO_ANNOTATION, GATEWAY_NAME, MCS_GROUP,
  MCS_STORAGE_VERSION, MESH_NAMESPACE, MIRRORED_LABEL, SERVICE_EXPORT_PLURAL, firstMatch, parseAllowList, parseExportTo, serviceAccountId, type LinkSpec,
} from '../api/index.js';
import type { KubeObject } from '../kube/index.js';
import type { Add } from './check-link.js';
import type { Cluster } from './common.js';

export interface AuthzFacts {
  /** Services exported through the gateway (label or ServiceExport), shadows excluded. */
  exports: KubeObject[];
  namespaces: KubeObject[];
  links: Array<{ name: string; spec: LinkSpec }>;
}

export interface Verdict {
  ok: boolean;
  detail: string;
  hint?: string;
}

const nameOf = (o: KubeObject) => `${o.metadata?.namespace}/${o.metadata?.name}`;

/** Every export's lists and every namespace default parse. */
export function unparsableVerdict(f: AuthzFacts): Verdict {
  const bad: string[] = [];
  for (const s of f.exports) {
    const a = s.metadata?.annotations ?? {};
    const allow = a[ALLOWED_IDENTITIES_ANNOTATION];
    const p = allow === undefined ? undefined : parseAllowList(allow);
    if (p && !p.ok) bad.push(`Service ${nameOf(s)} ${ALLOWED_IDENTITIES_ANNOTATION}: ${p.message}`);
    const to = a[EXPORT_TO_ANNOTATION];
    const q = to === undefined ? undefined : parseExportTo(to);
    if (q && !q.ok) bad.push(`Service ${nameOf(s)} ${EXPORT_TO_ANNOTATION} ${q.message}`);
  }
  for (const n of f.namespaces) {
    const d = n.metadata?.annotations?.[DEFAULT_ALLOWED_IDENTITIES_ANNOTATION];
    const p = d === undefined ? undefined : parseAllowList(d);
    if (p && !p.ok) bad.push(`Namespace ${n.metadata?.name} ${DEFAULT_ALLOWED_IDENTITIES_ANNOTATION}: ${p.message}`);
  }
  if (bad.length === 0) return { ok: true, detail: `${f.exports.length} export(s), every list parses` };
  return { ok: false, detail: `unparsable (the gateway admits nobody): ${bad.join('; ')}`, hint: 'mesh authz SERVICE -n NS --set ENTRIES (or mesh export SERVICE --to CLUSTERS)' };
}

/** A Service list with an entry that admits any identity of a trust domain, in a namespace whose default is set. */
export function openInLockedVerdict(f: AuthzFacts): Verdict {
  const locked = new Set(f.namespaces.filter((n) => parseAllowList(n.metadata?.annotations?.[DEFAULT_ALLOWED_IDENTITIES_ANNOTATION] ?? '').ok && (n.metadata?.annotations?.[DEFAULT_ALLOWED_IDENTITIES_ANNOTATION] ?? '').trim() !== '').map((n) => n.metadata?.name));
  const open: string[] = [];
  for (const s of f.exports) {
    if (!locked.has(s.metadata?.namespace)) continue;
    const p = parseAllowList(s.metadata?.annotations?.[ALLOWED_IDENTITIES_ANNOTATION] ?? '');
    const everyone = p.ok ? p.rules.find((r) => r.kind === 'trustDomain') : undefined;
    if (everyone) open.push(`${nameOf(s)} (${everyone.text})`);
  }
  if (open.length === 0) return { ok: true, detail: locked.size ? `${locked.size} namespace(s) with a default; no export there admits every caller` : 'no namespace default set' };
  return { ok: false, detail: `admit every caller of the trust domain although their namespace's default is locked: ${open.join(', ')}`, hint: 'narrow them (mesh authz SERVICE -n NS --set ENTRIES) or --clear them to use the namespace default' };
}

/** A Link whose allowedIdentities admits neither its peer's gateway nor its cluster: every tunnel it opens
 * here is refused (unattested callers are the peer's gateway; attested ones still carry `cluster:`). */
export function linkRefusesVerdict(f: AuthzFacts, trustDomainOf: (spec: LinkSpec) => string): Verdict {
  const refused: string[] = [];
  for (const l of f.links) {
    const list = l.spec.gateway?.allowedIdentities;
    if (!list?.length) continue;
    const p = parseAllowList(list);
    if (!p.ok) {
      refused.push(`${l.name}: unparsable (${p.message})`);
      continue;
    }
    const peer = l.spec.targetClusterName;
    const gw = { id: serviceAccountId(trustDomainOf(l.spec), MESH_NAMESPACE, GATEWAY_NAME), cluster: peer, unknown: true };
    const anyCaller = p.rules.some((r) => r.kind !== 'cluster' || r.cluster === peer);
    if (!firstMatch(p.rules, gw) && !anyCaller) refused.push(`${l.name}: [${list.join(', ')}] admits no caller from ${peer}`);
    else if (!firstMatch(p.rules, gw)) refused.push(`${l.name}: [${list.join(', ')}] refuses ${peer}'s gateway itself (callers it cannot attest)`);
  }
  if (refused.length === 0) return { ok: true, detail: `${f.links.length} Link(s), none refuses its peer` };
  return { ok: false, detail: `Links whose peers' tunnels would be refused here: ${refused.join('; ')}`, hint: 'add cluster:<peer> to spec.gateway.allowedIdentities (kubectl edit link -n mesh-system NAME)' };
}

/** Gathers the facts (I/O) and adds the three lines. */
export async function checkAuthz(c: Cluster, links: Array<{ name: string; spec: LinkSpec }>, add: Add): Promise<void> {
  const services = (await c.client.list('/api/v1/services')).items;
  let mcs = new Set<string>();
  try {
    mcs = new Set((await c.client.list(`/apis/${MCS_GROUP}/${MCS_STORAGE_VERSION}/${SERVICE_EXPORT_PLURAL}`)).items.map(nameOf));
  } catch {
    // No MCS CRDs: label exports only (check-mcs reports the CRDs).
  }
  const exports = services.filter((s) => s.metadata?.labels?.[MIRRORED_LABEL] !== 'true' && ((EXPORT_GATEWAY_VALUES as readonly string[]).includes(s.metadata?.labels?.[EXPORT_LABEL] ?? '') || mcs.has(nameOf(s))));
  const namespaces = (await c.client.list('/api/v1/namespaces')).items;
  const f: AuthzFacts = { exports, namespaces, links };
  const v1 = unparsableVerdict(f);
  add('export policies parse', v1.ok, v1.detail, v1.hint);
  const v2 = openInLockedVerdict(f);
  add('exports follow locked namespace defaults', v2.ok, v2.detail, v2.hint);
  const v3 = linkRefusesVerdict(f, (s) => s.trustDomain);
  add('Links admit their peers', v3.ok, v3.detail, v3.hint);
}
