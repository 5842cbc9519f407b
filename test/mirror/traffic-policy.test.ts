// Issue 14, the pure traffic policy from tables: the annotations' parsing (with the error a user sees), and
// which clusters serve given readiness, health, the policy and the import's last written status with a
// clock. The same world and the same status always give the same decision (no counters in memory).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_POLICY, parseTrafficPolicy, type ImportClusterStatus, type TrafficPolicy } from '../../src/api/index.js';
import { decideServing, type ClusterState, type DecisionInput } from '../../src/mirror/traffic-decision.js';
import { mergeExports } from '../../src/mirror/imports-desired.js';
import { trafficPolicyCondition } from '../../src/mirror/export-reconciler.js';
import type { Exporter } from '../../src/mirror/mcs-types.js';

const T = 'multicluster.mesh.io/traffic-policy';
const O = 'multicluster.mesh.io/failover-order';
const M = 'multicluster.mesh.io/min-ready';
const H = 'multicluster.mesh.io/hold-down-seconds';

test('parseTrafficPolicy: defaults, each policy, and errors naming the annotation', () => {
  const ok: Array<[Record<string, string>, TrafficPolicy]> = [
    [{}, DEFAULT_POLICY],
    [{ [T]: 'local-first' }, { policy: 'local-first', order: [], minReady: 1, holdDownSeconds: 10 }],
    [{ [T]: 'local-first', [M]: '2', [H]: '0' }, { policy: 'local-first', order: [], minReady: 2, holdDownSeconds: 0 }],
    [{ [T]: 'ordered', [O]: 'cluster-c, cluster-b' }, { policy: 'ordered', order: ['cluster-c', 'cluster-b'], minReady: 1, holdDownSeconds: 10 }],
    [{ 'other/annotation': 'x' }, DEFAULT_POLICY],
  ];
  for (const [a, want] of ok) assert.deepEqual(parseTrafficPolicy(a), { ok: true, policy: want }, JSON.stringify(a));
  const bad: Array<[Record<string, string>, RegExp]> = [
    [{ [T]: 'nearest' }, /^multicluster\.mesh\.io\/traffic-policy: /],
    [{ [T]: 'ordered' }, /failover-order: required with traffic-policy ordered/],
    [{ [T]: 'local-first', [O]: 'cluster-b' }, /failover-order: only read with traffic-policy ordered/],
    [{ [T]: 'ordered', [O]: 'cluster-b,cluster-b' }, /failover-order: names a cluster twice/],
    [{ [T]: 'ordered', [O]: 'Cluster_B' }, /failover-order\.0: must be a DNS label/],
    [{ [T]: 'ordered', [O]: ' , ' }, /failover-order: must name at least one cluster/],
    [{ [M]: '0' }, /min-ready: /],
    [{ [M]: '-1' }, /min-ready: must be a whole number/],
    [{ [M]: 'two' }, /min-ready: must be a whole number/],
    [{ [H]: '3601' }, /hold-down-seconds: /],
  ];
  for (const [a, re] of bad) {
    const r = parseTrafficPolicy(a);
    assert.equal(r.ok, false, JSON.stringify(a));
    if (!r.ok) assert.match(r.error, re, JSON.stringify(a));
  }
});

const exp = (cluster: string, created: string, annotations: Record<string, string>): Exporter => ({
  cluster,
  mode: 'flat',
  export: { metadata: { name: 'web', namespace: 'shop', creationTimestamp: created, annotations } },
  service: { metadata: { name: 'web', namespace: 'shop' }, spec: { ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } },
  slices: [],
  reachable: true,
  apiReachable: true,
});

test('the oldest export\'s policy is the import\'s; a different one is a TrafficPolicyConflict; the condition echoes or refuses', () => {
  const m = mergeExports([exp('b', '2', { [T]: 'balanced' }), exp('a', '1', { [T]: 'local-first', [M]: '2' })]);
  assert.deepEqual(m?.props.trafficPolicy, { policy: 'local-first', order: [], minReady: 2, holdDownSeconds: 10 });
  assert.deepEqual(m?.conflicts, [{ reason: 'TrafficPolicyConflict', clusters: ['b'] }]);
  assert.deepEqual(mergeExports([exp('b', '2', { [T]: 'local-first' }), exp('a', '1', { [T]: 'local-first' })])?.conflicts, []);
  const c = trafficPolicyCondition(exp('a', '1', { [T]: 'ordered', [O]: 'cluster-c,cluster-b' }));
  assert.deepEqual([c.status, c.reason, c.message], ['True', 'Accepted', 'ordered cluster-c,cluster-b (min-ready 1, hold-down 10s)']);
  const bad = trafficPolicyCondition(exp('a', '1', { [T]: 'nearest' }));
  assert.deepEqual([bad.status, bad.reason], ['False', 'InvalidTrafficPolicy']);
  assert.match(bad.message, /^multicluster\.mesh\.io\/traffic-policy: .*\(balanced is used\)$/);
});

const st = (cluster: string, readyEndpoints: number, healthy = true, apiReachable = true): ClusterState => ({ cluster, readyEndpoints, healthy, apiReachable, ...(healthy ? {} : { unhealthyMessage: 'gateway probe failing: timeout' }) });
const pol = (p: Partial<TrafficPolicy>): TrafficPolicy => ({ ...DEFAULT_POLICY, ...p });
const prevOf = (serving: string[], eligibleSince: Record<string, string> = {}): ImportClusterStatus[] =>
  ['a', 'b', 'c'].map((c) => ({ cluster: c, serving: serving.includes(c), lastTransitionTime: '2026-01-01T00:00:00Z', ...(eligibleSince[c] ? { eligibleSince: eligibleSince[c] } : {}) }));
const NOW = Date.parse('2026-01-01T00:01:00Z');

test('decideServing: which clusters serve, from tables', () => {
  const lf = pol({ policy: 'local-first' });
  const cases: Array<[string, Partial<DecisionInput>, string[]]> = [
    ['balanced: every cluster with ready endpoints', { policy: DEFAULT_POLICY, clusters: [st('a', 2), st('b', 1), st('c', 0)] }, ['a', 'b']],
    ['balanced: a failing probe takes the cluster out', { policy: DEFAULT_POLICY, clusters: [st('a', 2), st('b', 1, false), st('c', 3)] }, ['a', 'c']],
    ['local-first: only local while it has ready endpoints', { policy: lf, clusters: [st('a', 1), st('b', 2), st('c', 2)] }, ['a']],
    ['local-first: no local endpoints → every remote with ready endpoints', { policy: lf, clusters: [st('a', 0), st('b', 2), st('c', 2)] }, ['b', 'c']],
    ['local-first: remote with a failing probe is left out', { policy: lf, clusters: [st('a', 0), st('b', 2, false), st('c', 2)] }, ['c']],
    ['local-first min-ready 2: one local is not enough', { policy: pol({ policy: 'local-first', minReady: 2 }), clusters: [st('a', 1), st('b', 2), st('c', 0)] }, ['b']],
    ['local-first min-ready 3: nobody has 3, local with 1 is better than nothing', { policy: pol({ policy: 'local-first', minReady: 3 }), clusters: [st('a', 1), st('b', 0), st('c', 0)] }, ['a']],
    ['local-first: the local cluster does not export → the remotes', { policy: lf, clusters: [st('b', 1), st('c', 1)] }, ['b', 'c']],
    ['ordered c,b: c while it has pods', { policy: pol({ policy: 'ordered', order: ['c', 'b'] }), clusters: [st('a', 3), st('b', 1), st('c', 1)] }, ['c']],
    ['ordered c,b: then b', { policy: pol({ policy: 'ordered', order: ['c', 'b'] }), clusters: [st('a', 3), st('b', 1), st('c', 0)] }, ['b']],
    ['ordered c,b: then the clusters not named', { policy: pol({ policy: 'ordered', order: ['c', 'b'] }), clusters: [st('a', 3), st('b', 0), st('c', 1, false)] }, ['a']],
    ['ordered names a cluster that does not export', { policy: pol({ policy: 'ordered', order: ['x', 'b'] }), clusters: [st('a', 3), st('b', 1)] }, ['b']],
    ['nothing ready anywhere: nobody serves', { policy: lf, clusters: [st('a', 0), st('b', 0, false), st('c', 0)] }, []],
    ['API unreachable, probe passing: still serving', { policy: lf, clusters: [st('a', 0), st('b', 2, true, false), st('c', 0)] }, ['b']],
  ];
  for (const [what, input, want] of cases) {
    const d = decideServing({ policy: DEFAULT_POLICY, localCluster: 'a', clusters: [], now: NOW, ...input });
    assert.deepEqual(d.serving, want, what);
    assert.equal(d.change, undefined, `${what}: a new import records no Event`);
  }
});

test('decideServing: failover is immediate, failback waits for the hold-down counted from the observed eligibleSince', () => {
  const policy = pol({ policy: 'local-first', holdDownSeconds: 10 });
  const base = { policy, localCluster: 'a', now: NOW };
  // a loses its pods while serving: b and c at once, a Failover Event saying why.
  const out = decideServing({ ...base, clusters: [st('a', 0), st('b', 1), st('c', 1)], previous: prevOf(['a'], { a: '2026-01-01T00:00:00Z' }) });
  assert.deepEqual(out.serving, ['b', 'c']);
  assert.equal(out.change?.reason, 'Failover');
  assert.equal(out.change?.type, 'Warning');
  assert.match(out.change?.message ?? '', /serving b, c \(was a\); a: no ready endpoints/);
  const a = out.status.find((s) => s.cluster === 'a');
  assert.deepEqual([a?.serving, a?.reason, a?.eligibleSince, a?.lastTransitionTime], [false, 'NoReadyEndpoints', undefined, '2026-01-01T00:01:00Z']);
  // a's pods are back, 4 s ago: still b and c, a held down, come back in 6 s.
  const held = decideServing({ ...base, clusters: [st('a', 1), st('b', 1), st('c', 1)], previous: prevOf(['b', 'c'], { a: '2026-01-01T00:00:56Z', b: '2026-01-01T00:00:00Z', c: '2026-01-01T00:00:00Z' }) });
  assert.deepEqual(held.serving, ['b', 'c']);
  assert.equal(held.requeueAfterMs, 6_000);
  assert.equal(held.change, undefined);
  assert.deepEqual(held.status.map((s) => [s.cluster, s.reason]), [['a', 'HoldDown'], ['b', 'Serving'], ['c', 'Serving']]);
  // First seen able now (no eligibleSince yet): the hold-down starts now.
  const fresh = decideServing({ ...base, clusters: [st('a', 1), st('b', 1), st('c', 1)], previous: prevOf(['b', 'c']) });
  assert.deepEqual([fresh.serving, fresh.requeueAfterMs], [['b', 'c'], 10_000]);
  assert.equal(fresh.status.find((s) => s.cluster === 'a')?.eligibleSince, '2026-01-01T00:01:00Z');
  // 10 s later: back to a, a Failback Event.
  const back = decideServing({ ...base, clusters: [st('a', 1), st('b', 1), st('c', 1)], previous: prevOf(['b', 'c'], { a: '2026-01-01T00:00:50Z' }) });
  assert.deepEqual(back.serving, ['a']);
  assert.deepEqual([back.change?.reason, back.change?.type], ['Failback', 'Normal']);
  assert.equal(back.requeueAfterMs, undefined);
  // Held down, but the remotes can no longer serve: a at once.
  const forced = decideServing({ ...base, clusters: [st('a', 1), st('b', 0), st('c', 1, false)], previous: prevOf(['b', 'c'], { a: '2026-01-01T00:00:59Z' }) });
  assert.deepEqual(forced.serving, ['a']);
  // An eligibleSince in the future (a clock step back) counts from now, not from then.
  const skew = decideServing({ ...base, clusters: [st('a', 1), st('b', 1), st('c', 1)], previous: prevOf(['b', 'c'], { a: '2026-01-01T00:05:00Z' }) });
  assert.deepEqual([skew.serving, skew.requeueAfterMs], [['b', 'c'], 10_000]);
});

test('decideServing: a gateway probe failing in balanced is a Failover, passing again a Failback; status says why', () => {
  const base = { policy: DEFAULT_POLICY, localCluster: 'a', now: NOW };
  const down = decideServing({ ...base, clusters: [st('a', 1), st('b', 1, false), st('c', 1)], previous: prevOf(['a', 'b', 'c']) });
  assert.deepEqual(down.serving, ['a', 'c']);
  assert.equal(down.change?.reason, 'Failover');
  const b = down.status.find((s) => s.cluster === 'b');
  assert.deepEqual([b?.serving, b?.reason, b?.message, b?.readyEndpoints], [false, 'ProbeFailing', 'gateway probe failing: timeout', 1]);
  const up = decideServing({ ...base, clusters: [st('a', 1), st('b', 1), st('c', 1)], previous: prevOf(['a', 'c']) });
  assert.deepEqual(up.serving, ['a', 'b', 'c']);
  assert.equal(up.change?.reason, 'Failback');
  // Same world, same status: nothing moves, the transition times stay.
  const again = decideServing({ ...base, clusters: [st('a', 1), st('b', 1), st('c', 1)], previous: up.status });
  assert.deepEqual(again.status, up.status);
  assert.equal(again.change, undefined);
  // API unreachable, data path fine: serving, and the status says the endpoints are the last known.
  const stale = decideServing({ ...base, clusters: [st('a', 1), st('b', 1, true, false)], previous: prevOf(['a', 'b']) });
  const sb = stale.status.find((s) => s.cluster === 'b');
  assert.deepEqual([sb?.serving, sb?.apiReachable], [true, false]);
  assert.match(sb?.message ?? '', /last known endpoints/);
});
