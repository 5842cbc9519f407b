// A Link's status, computed from what is observed each time the Link is reconciled: the Link, its Secret,
// the remote cache and its health, the local shadows (through the informer index), the prober's last
// round and the problems the shadow reconciler ran into. Pure: the same world gives the same status, so a
// restarted controller writes the same status as the one before it (nothing is remembered in between).
import { MODE_ANNOTATION, REMOTE_FQ_ANNOTATION, type LinkCondition, type LinkSpec, type LinkStatus, type MirroredServiceStatus, type ParsedLink, type ShadowMode } from '../api/index.js';
import { deepEqual } from '../kube/index.js';
import type { Credentials } from './credentials.js';
import { isShadowOf } from './desired.js';
import { shadowName } from './names.js';
import type { ProbeView } from './probe.js';
import type { RemoteHealth } from './remote.js';
import type { Link, Service } from './types.js';

/** A problem the shadow reconciler ran into that no cache shows (namespace missing, ports exhausted, a per-pod conflict). */
export interface ShadowProblem {
  kind: 'namespace' | 'ports' | 'conflict';
  message: string;
  /** For a conflict: the object that holds the name, e.g. `Service shop/web-0-web-east`. */
  object?: string;
}

export interface ExportedService {
  namespace: string;
  name: string;
  mode: ShadowMode;
}

export interface MirrorFacts {
  cluster: string;
  spec?: LinkSpec;
  /** The remote Services this Link exports, from a synced remote cache; undefined while there is none. */
  exported?: ExportedService[];
  /** The local shadows (not per-pod Services) carrying this cluster's mirror labels. */
  shadows: Service[];
  /** Any local Service by namespace and name. */
  local(namespace: string, name: string): Service | undefined;
  /** Problems observed by the shadow reconciler, by shadow key (`ns/shadow`). */
  problems: ReadonlyMap<string, ShadowProblem>;
}

export interface Mirrored {
  services: MirroredServiceStatus[];
  /** Objects holding a shadow's name that the mirror does not own. */
  conflicts: string[];
  /** Services carrying this cluster's mirror labels that stand for no exported remote Service (routes.ts). */
  impostors: string[];
}

export const GATEWAY_MISSING = 'exported through the gateway, but the Link has no spec.gateway';

export function conflictMessage(kind: string, namespace: string, name: string): string {
  return `${kind} ${namespace}/${name} exists and is not managed by the mirror; not overwriting it`;
}

/** Each exported Service with its shadow, or with the problem that keeps it from having one. */
export function mirroredServices(f: MirrorFacts): Mirrored {
  const services: MirroredServiceStatus[] = [];
  const conflicts: string[] = [];
  if (!f.exported) {
    // No remote cache (credentials revoked, spec invalid): the shadows stay, and are reported as they are.
    for (const s of f.shadows) {
      const fq = s.metadata?.annotations?.[REMOTE_FQ_ANNOTATION] ?? '';
      const namespace = s.metadata?.namespace ?? '';
      services.push({ namespace, name: fq.split('.')[0] ?? '', shadow: s.metadata?.name ?? '', mode: s.metadata?.annotations?.[MODE_ANNOTATION] ?? 'gateway' });
    }
    return { services, conflicts, impostors: [] };
  }
  const expected = new Set<string>();
  for (const r of f.exported) {
    expected.add(`${r.namespace}/${shadowName(r.name, f.cluster)}`);
    const shadow = shadowName(r.name, f.cluster);
    const seen = f.problems.get(`${r.namespace}/${shadow}`);
    const live = f.local(r.namespace, shadow);
    let problem: string | undefined;
    if (seen?.kind === 'namespace') problem = seen.message;
    else if (r.mode === 'gateway' && !f.spec?.gateway) problem = GATEWAY_MISSING;
    else if (live && !isShadowOf(live, f.cluster, r.namespace, r.name)) {
      problem = conflictMessage('Service', r.namespace, shadow);
      conflicts.push(`Service ${r.namespace}/${shadow}`);
    } else if (seen) {
      problem = seen.message;
      if (seen.object) conflicts.push(seen.object);
    } else if (!live) continue; // not mirrored yet
    services.push({ namespace: r.namespace, name: r.name, shadow, mode: r.mode, ...(problem ? { problem } : {}) });
  }
  const impostors = f.shadows.map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`).filter((k) => !expected.has(k));
  return { services, conflicts, impostors };
}

export interface StatusInput {
  link: Link;
  /** RFC 3339 time without fractions: the lastTransitionTime of a condition that changes now. */
  now: string;
  parsed: ParsedLink;
  /** Another Link already mirrors this Link's target cluster. */
  ownedBy?: string;
  credentials?: Credentials;
  /** Why a client could not be built from credentials that parsed. */
  clientError?: string;
  health?: RemoteHealth;
  server?: string;
  probe?: ProbeView;
  mirrored: Mirrored;
  listMax: number;
}

type Cond = Omit<LinkCondition, 'lastTransitionTime' | 'observedGeneration'>;

const cond = (type: LinkCondition['type'], ok: boolean | undefined, reason: string, message: string): Cond => ({
  type,
  status: ok === undefined ? 'Unknown' : ok ? 'True' : 'False',
  reason,
  message,
});

/** CredentialsValid and RemoteAPIReachable, and whether both hold. */
function remoteConditions(i: StatusInput): { conditions: Cond[]; ok: boolean } {
  const c = i.credentials;
  if (c && !c.ok) return { conditions: [cond('CredentialsValid', false, c.reason, c.message), cond('RemoteAPIReachable', undefined, 'Pending', 'not connected yet')], ok: false };
  if (i.clientError) {
    const secret = (i.parsed.ok && i.parsed.spec.clusterCredentialsSecret) || '';
    return { conditions: [cond('CredentialsValid', false, 'InvalidKubeconfig', `Secret ${secret}: ${i.clientError}`), cond('RemoteAPIReachable', undefined, 'Pending', 'not connected yet')], ok: false };
  }
  const h = i.health;
  const credOk = h?.credentialsValid;
  // A 401/403 proves the API server answered.
  const apiOk = h?.reachable === true && h.credentialsValid === false ? true : h?.reachable;
  const credentials =
    credOk === false ? cond('CredentialsValid', false, 'Unauthorized', h?.message ?? '') : credOk ? cond('CredentialsValid', true, 'Accepted', 'the target accepts the link credentials') : cond('CredentialsValid', undefined, 'Pending', 'connecting');
  const reachable =
    apiOk === false ? cond('RemoteAPIReachable', false, 'Unreachable', `${h?.message ?? ''}; its last known shadows and MCS endpoints keep serving while its data path works`) : apiOk ? cond('RemoteAPIReachable', true, 'Watching', `watching ${i.server ?? ''}`) : cond('RemoteAPIReachable', undefined, 'Pending', 'not connected yet');
  return { conditions: [credentials, reachable], ok: credOk === true && apiOk === true };
}

function conflictCondition(conflicts: string[], impostors: string[]): Cond {
  if (impostors.length) {
    const shown = impostors.slice(0, 5).map((k) => `Service ${k}`).join(', ');
    const more = impostors.length > 5 ? ` and ${impostors.length - 5} more` : '';
    return cond('Conflict', true, 'ImpostorShadow', `${shown}${more} carry the mirror's labels but stand for no exported Service: not made by the mirror, they route nothing`);
  }
  if (!conflicts.length) return cond('Conflict', false, 'NoConflict', 'no shadow name is held by an object the mirror does not own');
  const shown = conflicts.slice(0, 5).join(', ');
  const more = conflicts.length > 5 ? ` and ${conflicts.length - 5} more` : '';
  return cond('Conflict', true, 'ShadowConflict', `${shown}${more} exist and are not managed by the mirror: not overwritten`);
}

function conditionsOf(i: StatusInput): Cond[] {
  const p = i.parsed;
  if (!p.ok) return [cond('Ready', false, 'InvalidSpec', p.message)];
  if (i.ownedBy) return [cond('Ready', false, 'InvalidSpec', `spec.targetClusterName: Link ${i.ownedBy} already mirrors cluster ${p.spec.targetClusterName}`)];
  const remote = remoteConditions(i);
  const out = [...remote.conditions];
  let probeOk = true;
  if (p.spec.gateway) {
    const lp = i.probe?.last;
    probeOk = i.probe?.healthy ?? true;
    out.push(lp ? cond('GatewayReachable', probeOk, probeOk ? 'ProbeSucceeded' : 'ProbeFailed', `${lp.address}: ${lp.message}`) : cond('GatewayReachable', undefined, 'Pending', 'no probe yet'));
  } else {
    out.push(cond('GatewayReachable', true, 'NoGateway', 'flat mode only: no gateway to probe'));
  }
  out.push(conflictCondition(i.mirrored.conflicts, i.mirrored.impostors));
  const problems = i.mirrored.services.filter((m) => m.problem).length;
  const ok = i.mirrored.services.length - problems;
  const ready = remote.ok && probeOk;
  out.push(ready ? cond('Ready', true, problems ? 'ServiceProblems' : 'Mirroring', `${ok} services mirrored, ${problems} with problems`) : cond('Ready', false, 'NotReady', 'see the other conditions'));
  return out;
}

/**
 * The first `max` entries in list order (problems first, then by namespace/name), without sorting all of
 * them: the status is computed every few hundred ms during a sync, and a full sort of every mirrored Service
 * each time made the sync's cost grow with N² (N log N per status, a number of statuses that grows with N).
 * One pass keeping the `max` smallest in a sorted array: O(N log max) comparisons of precomputed keys.
 */
export function firstListed(all: readonly MirroredServiceStatus[], max: number): MirroredServiceStatus[] {
  const keyOf = (m: MirroredServiceStatus) => `${m.problem ? 0 : 1}${m.namespace}/${m.name}`;
  const kept: Array<{ k: string; m: MirroredServiceStatus }> = [];
  if (max <= 0) return [];
  for (const m of all) {
    const k = keyOf(m);
    if (kept.length >= max && k >= kept[kept.length - 1].k) continue;
    let lo = 0;
    let hi = kept.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (kept[mid].k <= k) lo = mid + 1;
      else hi = mid;
    }
    kept.splice(lo, 0, { k, m });
    if (kept.length > max) kept.pop();
  }
  return kept.map((x) => x.m);
}

export function computeLinkStatus(i: StatusInput): LinkStatus {
  const prev = i.link.status?.conditions ?? [];
  const gen = i.link.metadata?.generation;
  const conditions = conditionsOf(i).map((c): LinkCondition => {
    const old = prev.find((x) => x.type === c.type);
    return { ...c, lastTransitionTime: old && old.status === c.status ? old.lastTransitionTime : i.now, observedGeneration: gen };
  });
  const status: LinkStatus = {
    observedGeneration: gen,
    conditions,
    mirroredServices: { count: i.mirrored.services.filter((m) => !m.problem).length, services: firstListed(i.mirrored.services, i.listMax) },
  };
  const lp = i.parsed.ok && i.parsed.spec.gateway ? i.probe?.last : undefined;
  if (lp) status.lastProbe = { time: lp.time.toISOString(), latencyMs: lp.latencyMs, success: lp.ok, message: lp.message };
  return status;
}

/** The probe time alone changes every period: a status that differs only there is written at most every 30 s. */
export const PROBE_TIME_WRITE_MS = 30_000;

export function statusNeedsWrite(live: LinkStatus | undefined, next: LinkStatus, nowMs: number): boolean {
  const l = live ?? {};
  const strip = (s: LinkStatus) => ({ ...s, lastProbe: s.lastProbe ? { success: s.lastProbe.success, message: s.lastProbe.message } : undefined });
  if (!deepEqual(strip(l), strip(next))) return true;
  const probeStale = !l.lastProbe || nowMs - Date.parse(l.lastProbe.time) > PROBE_TIME_WRITE_MS;
  return Boolean(next.lastProbe && probeStale);
}

/** A merge patch that makes the live status `next` (fields `next` lacks are removed). */
export function statusPatch(live: LinkStatus | undefined, next: LinkStatus): { status: Record<string, unknown> } {
  const body: Record<string, unknown> = { ...next };
  for (const k of Object.keys(live ?? {})) if (!(k in next)) body[k] = null;
  return { status: body };
}
