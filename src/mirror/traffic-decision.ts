// Issue 14, the pure core of the traffic policy: which exporting clusters an import's EndpointSlices carry,
// from the world as observed (ready endpoints and health per cluster, the merged policy) and the import's
// own last written status (which clusters served, since when each could serve) with the injected clock's
// now. No counters in memory: a restarted controller decides the same from the same status.
//
// Policies become tiers of clusters, most preferred first: balanced [[all]], local-first [[local], [the
// rest]], ordered [[o1], [o2], …, [the rest]]. The first tier whose healthy clusters have at least
// min-ready ready endpoints serves (else the first with any ready endpoint). Moving to a less preferred
// tier is immediate (failover); moving back (failback) waits until the preferred tier's clusters have been
// able to serve for the hold-down, unless the tier serving now cannot serve at all.
import { FAILBACK_EVENT, FAILOVER_EVENT, SERVING_REASONS, type ImportClusterStatus, type ServingReason, type TrafficPolicy } from '../api/index.js';

/** One exporting cluster as the decision sees it. */
export interface ClusterState {
  cluster: string;
  readyEndpoints: number;
  /** The data path to it works (gateway probe passing; always true for the local cluster). */
  healthy: boolean;
  /** Why it is not healthy, for the status (e.g. `gateway probe failing (3 misses)`). */
  unhealthyMessage?: string;
  /** Its API server is being watched; false: its last known endpoints are what we have. */
  apiReachable: boolean;
}

export interface DecisionInput {
  policy: TrafficPolicy;
  localCluster: string;
  clusters: ClusterState[];
  /** The import's status as last written (undefined for a new import). */
  previous?: ImportClusterStatus[];
  now: number;
}

export interface TrafficChange {
  type: 'Normal' | 'Warning';
  reason: typeof FAILOVER_EVENT | typeof FAILBACK_EVENT;
  message: string;
}

export interface Decision {
  /** The clusters whose endpoints the import carries, in the exporters' order. */
  serving: string[];
  /** Per cluster, sorted by name: the status the import shows. */
  status: ImportClusterStatus[];
  /** When a hold-down ends: reconcile again then. */
  requeueAfterMs?: number;
  /** An Event to record when the serving set moved (none for a new import). */
  change?: TrafficChange;
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

export function tiers(policy: TrafficPolicy, local: string, clusters: string[]): string[][] {
  if (policy.policy === 'balanced') return [clusters];
  const first = policy.policy === 'local-first' ? [local] : policy.order;
  const preferred = first.filter((c) => clusters.includes(c));
  const rest = clusters.filter((c) => !preferred.includes(c));
  return [...preferred.map((c) => [c]), ...(rest.length ? [rest] : [])];
}

/** Able to serve on its own under the policy: healthy with at least min-ready ready endpoints. */
const able = (c: ClusterState, minReady: number) => c.healthy && c.readyEndpoints >= minReady;
const usable = (c: ClusterState) => c.healthy && c.readyEndpoints > 0;

interface Choice {
  tier: number;
  heldDown?: { tier: number; remainingMs: number };
}

function holdDownLeft(tier: string[], byName: Map<string, ClusterState>, since: Map<string, number>, input: DecisionInput): number {
  let left = 0;
  for (const c of tier) {
    const s = since.get(c);
    // A cluster below min-ready has no eligibleSince; it only serves when nothing better can (no hold-down then).
    if (s === undefined || !usable(byName.get(c)!)) continue;
    left = Math.max(left, s + input.policy.holdDownSeconds * 1000 - input.now);
  }
  return left;
}

function choose(ts: string[][], byName: Map<string, ClusterState>, since: Map<string, number>, input: DecisionInput, current: number | undefined): Choice {
  const ready = (t: string[]) => t.reduce((n, c) => n + (usable(byName.get(c)!) ? byName.get(c)!.readyEndpoints : 0), 0);
  let tier = ts.findIndex((t) => ready(t) >= input.policy.minReady);
  if (tier < 0) tier = ts.findIndex((t) => ready(t) > 0);
  if (tier < 0) return { tier: -1 };
  // Failback waits for the hold-down while the tier serving now still can.
  if (current !== undefined && tier < current && current < ts.length && ready(ts[current]) > 0) {
    const left = holdDownLeft(ts[tier], byName, since, input);
    if (left > 0) return { tier: current, heldDown: { tier, remainingMs: left } };
  }
  return { tier };
}

function notServingReason(c: ClusterState, inChosen: boolean, heldDown: boolean, policy: TrafficPolicy): { reason: ServingReason; message: string } {
  if (!c.healthy) return { reason: SERVING_REASONS.probeFailing, message: c.unhealthyMessage ?? 'the data path to it is failing' };
  if (c.readyEndpoints === 0) return { reason: SERVING_REASONS.noReadyEndpoints, message: 'no ready endpoints' };
  if (heldDown) return { reason: SERVING_REASONS.holdDown, message: `able to serve again; traffic moves back after the ${policy.holdDownSeconds}s hold-down` };
  if (!inChosen && c.readyEndpoints < policy.minReady) return { reason: SERVING_REASONS.noReadyEndpoints, message: `${c.readyEndpoints} ready endpoints, fewer than min-ready ${policy.minReady}` };
  return { reason: SERVING_REASONS.policy, message: `standing by under ${policy.policy}: a more preferred cluster serves` };
}

function describeMove(from: string[], to: string[], status: ImportClusterStatus[]): string {
  const gone = from.filter((c) => !to.includes(c));
  const why = gone.map((c) => `${c}: ${status.find((s) => s.cluster === c)?.message ?? '?'}`).join('; ');
  return `serving ${to.join(', ') || 'nothing'} (was ${from.join(', ') || 'nothing'})${why ? `; ${why}` : ''}`;
}

/** The serving clusters, the status and the Event of one import. */
export function decideServing(input: DecisionInput): Decision {
  const names = input.clusters.map((c) => c.cluster);
  const byName = new Map(input.clusters.map((c) => [c.cluster, c]));
  const prev = new Map((input.previous ?? []).map((s) => [s.cluster, s]));
  const since = new Map<string, number>();
  for (const c of input.clusters) {
    if (!able(c, input.policy.minReady)) continue;
    const p = prev.get(c.cluster)?.eligibleSince;
    const t = p ? Date.parse(p) : NaN;
    since.set(c.cluster, Number.isFinite(t) && t <= input.now ? t : input.now);
  }
  const ts = tiers(input.policy, input.localCluster, names);
  const tierOf = (c: string) => ts.findIndex((t) => t.includes(c));
  const prevServing = names.filter((c) => prev.get(c)?.serving);
  const prevTiers = prevServing.map(tierOf).filter((t) => t >= 0);
  const current = prevTiers.length ? Math.min(...prevTiers) : undefined;
  const choice = choose(ts, byName, since, input, current);
  // Nothing ready anywhere: nobody serves (every slice stands by; traffic has nowhere to go either way).
  const serving = choice.tier < 0 ? [] : ts[choice.tier].filter((c) => usable(byName.get(c)!));
  const status = input.clusters
    .map((c): ImportClusterStatus => {
      const on = serving.includes(c.cluster);
      const why = on
        ? { reason: SERVING_REASONS.serving as ServingReason, message: c.apiReachable ? 'serving' : 'serving its last known endpoints: its API server is unreachable, its data path works' }
        : notServingReason(c, tierOf(c.cluster) === choice.tier, choice.heldDown?.tier === tierOf(c.cluster), input.policy);
      const p = prev.get(c.cluster);
      const s = since.get(c.cluster);
      return {
        cluster: c.cluster,
        readyEndpoints: c.readyEndpoints,
        serving: on,
        reason: why.reason,
        message: why.message,
        apiReachable: c.apiReachable,
        ...(s !== undefined ? { eligibleSince: iso(s) } : {}),
        lastTransitionTime: p?.lastTransitionTime && !!p.serving === on ? p.lastTransitionTime : iso(input.now),
      };
    })
    .sort((a, b) => a.cluster.localeCompare(b.cluster));
  const decision: Decision = { serving, status };
  if (choice.heldDown) decision.requeueAfterMs = Math.max(1, Math.ceil(choice.heldDown.remainingMs));
  decision.change = change(prevServing, serving, current, choice.tier, status);
  if (!decision.change) delete decision.change;
  return decision;
}

function change(from: string[], to: string[], current: number | undefined, tier: number, status: ImportClusterStatus[]): TrafficChange | undefined {
  if (!from.length) return undefined;
  const same = from.length === to.length && from.every((c) => to.includes(c));
  if (same) return undefined;
  const message = describeMove(from, to, status);
  const back = current !== undefined && tier >= 0 && tier < current;
  const lost = from.some((c) => !to.includes(c));
  if (back || !lost) return { type: 'Normal', reason: FAILBACK_EVENT, message };
  return { type: 'Warning', reason: FAILOVER_EVENT, message };
}
