// The Link status is a pure function of what is observed: table-driven cases for the mirrored-services list
// (what is mirrored, what is in the way) and for the conditions, and for when a status is worth a write.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLinkSpec, type LinkCondition, type LinkSpec, type LinkStatus, type ParsedLink } from '../../src/api/index.js';
import { computeLinkStatus, mirroredServices, type MirrorFacts, type ShadowProblem, type StatusInput } from '../../src/mirror/index.js';
import type { Service } from '../../src/mirror/index.js';
import { GATEWAY_MISSING, firstListed, statusNeedsWrite, statusPatch } from '../../src/mirror/status.js';

const gatewaySpec = { targetClusterName: 'east', clusterCredentialsSecret: 'creds', gateway: { addresses: ['10.0.0.1'], identity: 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway' } };
const flatSpec = { targetClusterName: 'east', clusterCredentialsSecret: 'creds' };
const specOf = (raw: unknown): LinkSpec => {
  const p = parseLinkSpec(raw);
  assert.ok(p.ok);
  return p.spec;
};

const shadow = (ns: string, name: string, remote: string, cluster = 'east', mode = 'gateway'): Service => ({
  metadata: {
    name,
    namespace: ns,
    labels: { 'mirror.mesh.io/mirrored-service': 'true', 'mirror.mesh.io/cluster-name': cluster },
    annotations: { 'mirror.mesh.io/remote-svc-fq-name': `${remote}.${ns}.svc.cluster.local`, 'mirror.mesh.io/mode': mode },
  },
});
const foreign = (ns: string, name: string): Service => ({ metadata: { name, namespace: ns, labels: { app: 'theirs' } } });

function facts(over: Partial<MirrorFacts> & { localServices?: Service[] }): MirrorFacts {
  const local = over.localServices ?? over.shadows ?? [];
  return {
    cluster: 'east',
    spec: specOf(gatewaySpec),
    shadows: [],
    problems: new Map(),
    local: (ns, n) => local.find((s) => s.metadata?.namespace === ns && s.metadata?.name === n),
    ...over,
  };
}

const mirroredCases: Array<{ name: string; facts: MirrorFacts; services: Array<[string, string | undefined]>; conflicts: string[] }> = [
  {
    name: 'an exported Service with its shadow is mirrored; one without a shadow yet is not listed',
    facts: facts({ exported: [{ namespace: 'shop', name: 'web', mode: 'gateway' }, { namespace: 'shop', name: 'new', mode: 'gateway' }], shadows: [shadow('shop', 'web-east', 'web')] }),
    services: [['shop/web', undefined]],
    conflicts: [],
  },
  {
    name: 'a foreign Service holding the shadow name is a conflict naming it',
    facts: facts({ exported: [{ namespace: 'shop', name: 'taken', mode: 'gateway' }], localServices: [foreign('shop', 'taken-east')] }),
    services: [['shop/taken', 'Service shop/taken-east exists and is not managed by the mirror; not overwriting it']],
    conflicts: ['Service shop/taken-east'],
  },
  {
    name: "another cluster's shadow holding the name is a conflict too",
    facts: facts({ exported: [{ namespace: 'shop', name: 'a', mode: 'flat' }], localServices: [shadow('shop', 'a-east', 'a-east', 'west')] }),
    services: [['shop/a', 'Service shop/a-east exists and is not managed by the mirror; not overwriting it']],
    conflicts: ['Service shop/a-east'],
  },
  {
    name: 'a gateway export on a Link without spec.gateway is a problem that follows from the spec',
    facts: facts({ spec: specOf(flatSpec), exported: [{ namespace: 'shop', name: 'gw', mode: 'gateway' }] }),
    services: [['shop/gw', GATEWAY_MISSING]],
    conflicts: [],
  },
  {
    name: 'problems the shadow reconciler observed: a missing namespace, a per-pod Service in the way',
    facts: facts({
      exported: [{ namespace: 'nowhere', name: 'x', mode: 'flat' }, { namespace: 'data', name: 'kafka', mode: 'gateway' }],
      shadows: [shadow('data', 'kafka-east', 'kafka')],
      problems: new Map<string, ShadowProblem>([
        ['nowhere/x-east', { kind: 'namespace', message: 'namespace nowhere does not exist here' }],
        ['data/kafka-east', { kind: 'conflict', message: 'Service data/kafka-0-kafka-east exists and is not managed by the mirror', object: 'Service data/kafka-0-kafka-east' }],
      ]),
    }),
    services: [['nowhere/x', 'namespace nowhere does not exist here'], ['data/kafka', 'Service data/kafka-0-kafka-east exists and is not managed by the mirror']],
    conflicts: ['Service data/kafka-0-kafka-east'],
  },
  {
    name: 'no remote cache (credentials revoked): the shadows that exist are reported as they are',
    facts: facts({ exported: undefined, shadows: [shadow('shop', 'web-east', 'web'), shadow('shop', 'db-east', 'db', 'east', 'flat')] }),
    services: [['shop/web', undefined], ['shop/db', undefined]],
    conflicts: [],
  },
];

for (const c of mirroredCases) {
  test(`mirroredServices: ${c.name}`, () => {
    const m = mirroredServices(c.facts);
    assert.deepEqual(m.services.map((s) => [`${s.namespace}/${s.name}`, s.problem]), c.services);
    assert.deepEqual(m.conflicts, c.conflicts);
  });
}

// Regression (issue 17 item 2): a Service anyone may create, carrying the mirror's labels for a cluster, is
// reported by the Link (it routes nothing: src/mirror/routes.ts).
test('mirroredServices: a Service with the mirror labels that stands for no exported Service is an impostor, reported by the Conflict condition', () => {
  const m = mirroredServices(facts({ exported: [{ namespace: 'shop', name: 'web', mode: 'gateway' }], shadows: [shadow('shop', 'web-east', 'web'), shadow('attacker', 'evil', 'web')] }));
  assert.deepEqual(m.impostors, ['attacker/evil']);
  assert.deepEqual(m.conflicts, []);
  const st = computeLinkStatus(input({ mirrored: m }));
  const c = st.conditions?.find((x) => x.type === 'Conflict');
  assert.equal(c?.status, 'True');
  assert.equal(c?.reason, 'ImpostorShadow');
  assert.match(c?.message ?? '', /Service attacker\/evil carry the mirror's labels/);
  // Without a remote cache nothing can be judged: nothing is called an impostor.
  assert.deepEqual(mirroredServices(facts({ exported: undefined, shadows: [shadow('attacker', 'evil', 'web')] })).impostors, []);
});

test('mirroredServices: modes come from the export (remote) or the shadow annotation (no remote cache)', () => {
  assert.deepEqual(mirroredServices(facts({ exported: [{ namespace: 'shop', name: 'db', mode: 'flat' }], shadows: [shadow('shop', 'db-east', 'db')] })).services[0].mode, 'flat');
  assert.deepEqual(mirroredServices(facts({ shadows: [shadow('shop', 'db-east', 'db', 'east', 'flat')] })).services[0].mode, 'flat');
});

const parsed = (raw: unknown): ParsedLink => parseLinkSpec(raw);
const ok = (n: number) => ({ services: Array.from({ length: n }, (_, i) => ({ namespace: 'shop', name: `s${i}`, shadow: `s${i}-east`, mode: 'flat' })), conflicts: [], impostors: [] });
const watching = { reachable: true, credentialsValid: true, message: 'watching', since: 0 };
const probeAt = new Date('2030-01-01T00:00:00Z');

function input(over: Partial<StatusInput>): StatusInput {
  return {
    link: { metadata: { name: 'east', generation: 3 } },
    now: '2030-01-01T00:00:10Z',
    parsed: parsed(flatSpec),
    credentials: { ok: true, kubeconfig: '', version: '1' },
    health: watching,
    server: 'https://10.0.0.9:6443',
    mirrored: ok(2),
    listMax: 200,
    ...over,
  };
}

type Want = Record<string, [string, string, RegExp?]>;
const conditionCases: Array<{ name: string; input: StatusInput; want: Want }> = [
  {
    // The whole message, so that the path said twice (`spec.targetClusterName: spec.targetClusterName: …`) fails.
    name: 'invalid spec: Ready=False InvalidSpec with the zod path once, nothing else',
    input: input({ parsed: parsed({ ...flatSpec, targetClusterName: 'Bad_Name' }) }),
    want: { Ready: ['False', 'InvalidSpec', /^spec\.targetClusterName: must be a DNS label \(lowercase letters, digits, -\)$/] },
  },
  {
    name: 'a second Link for the same cluster is invalid',
    input: input({ ownedBy: 'first' }),
    want: { Ready: ['False', 'InvalidSpec', /^spec\.targetClusterName: Link first already mirrors cluster east$/] },
  },
  {
    name: 'Secret missing: credentials reported, the remote pending, not ready',
    input: input({ credentials: { ok: false, reason: 'SecretNotFound', message: 'Secret mesh-system/creds not found' }, health: undefined }),
    want: {
      CredentialsValid: ['False', 'SecretNotFound', /not found/],
      RemoteAPIReachable: ['Unknown', 'Pending'],
      GatewayReachable: ['True', 'NoGateway'],
      Conflict: ['False', 'NoConflict'],
      Ready: ['False', 'NotReady'],
    },
  },
  {
    name: 'a client that cannot be built from the kubeconfig',
    input: input({ clientError: 'bad certificate data', health: undefined }),
    want: { CredentialsValid: ['False', 'InvalidKubeconfig', /^Secret creds: bad certificate data$/], Ready: ['False', 'NotReady'] },
  },
  {
    name: 'flat link, watching: ready and mirroring',
    input: input({}),
    want: {
      CredentialsValid: ['True', 'Accepted'],
      RemoteAPIReachable: ['True', 'Watching', /^watching https:\/\/10\.0\.0\.9:6443$/],
      GatewayReachable: ['True', 'NoGateway'],
      Conflict: ['False', 'NoConflict'],
      Ready: ['True', 'Mirroring', /^2 services mirrored, 0 with problems$/],
    },
  },
  {
    name: 'credentials refused (401/403): the API answered, the credentials are not valid',
    input: input({ health: { reachable: true, credentialsValid: false, message: '401 Unauthorized', since: 0 } }),
    want: { CredentialsValid: ['False', 'Unauthorized', /401/], RemoteAPIReachable: ['True', 'Watching'], Ready: ['False', 'NotReady'] },
  },
  {
    name: 'remote unreachable',
    input: input({ health: { reachable: false, credentialsValid: true, message: 'connect ECONNREFUSED', since: 0 } }),
    want: { RemoteAPIReachable: ['False', 'Unreachable', /ECONNREFUSED/], Ready: ['False', 'NotReady'] },
  },
  {
    name: 'gateway link before its first probe: pending, ready',
    input: input({ parsed: parsed(gatewaySpec), probe: { healthy: true } }),
    want: { GatewayReachable: ['Unknown', 'Pending'], Ready: ['True', 'Mirroring'] },
  },
  {
    name: 'gateway probe failed past the threshold: not ready',
    input: input({ parsed: parsed(gatewaySpec), probe: { healthy: false, last: { ok: false, latencyMs: 1, address: '10.0.0.1', message: 'HTTP 503', time: probeAt } } }),
    want: { GatewayReachable: ['False', 'ProbeFailed', /^10\.0\.0\.1: HTTP 503$/], Ready: ['False', 'NotReady'] },
  },
  {
    name: 'conflicts: the Conflict condition names the objects; Ready reports service problems',
    input: input({
      mirrored: {
        services: [...ok(1).services, { namespace: 'shop', name: 'taken', shadow: 'taken-east', mode: 'flat', problem: 'in the way' }],
        conflicts: ['Service shop/taken-east'],
        impostors: [],
      },
    }),
    want: { Conflict: ['True', 'ShadowConflict', /^Service shop\/taken-east exist and are not managed by the mirror/], Ready: ['True', 'ServiceProblems', /^1 services mirrored, 1 with problems$/] },
  },
];

for (const c of conditionCases) {
  test(`computeLinkStatus: ${c.name}`, () => {
    const st = computeLinkStatus(c.input);
    const types = st.conditions?.map((x) => x.type) ?? [];
    // Every condition when the case names all five (or the lone Ready of an invalid spec), else those named, in order.
    const named = Object.keys(c.want);
    assert.deepEqual(named.length === 5 || named[0] === 'Ready' ? types : types.filter((t) => named.includes(t)), named, 'the conditions, in order');
    for (const [type, [status, reason, message]] of Object.entries(c.want)) {
      const got: LinkCondition | undefined = st.conditions?.find((x) => x.type === type);
      assert.deepEqual([got?.status, got?.reason], [status, reason], type);
      if (message) assert.match(got?.message ?? '', message, type);
      assert.equal(got?.observedGeneration, 3);
    }
    assert.equal(st.observedGeneration, 3);
  });
}

test('computeLinkStatus: lastTransitionTime moves only when a condition changes status', () => {
  const first = computeLinkStatus(input({}));
  const later = computeLinkStatus(input({ link: { metadata: { name: 'east', generation: 3 }, status: first }, now: '2030-01-01T01:00:00Z' }));
  assert.deepEqual(later, first, 'the same world, later: the same status');
  const down = computeLinkStatus(input({ link: { metadata: { name: 'east', generation: 3 }, status: first }, now: '2030-01-01T02:00:00Z', health: { ...watching, reachable: false } }));
  const at = (s: LinkStatus, type: string) => s.conditions?.find((c) => c.type === type)?.lastTransitionTime;
  assert.equal(at(down, 'RemoteAPIReachable'), '2030-01-01T02:00:00Z');
  assert.equal(at(down, 'CredentialsValid'), at(first, 'CredentialsValid'));
});

test('computeLinkStatus: the count is exact, the list shows problems first and is capped', () => {
  const services = [...ok(5).services, { namespace: 'a', name: 'z', shadow: 'z-east', mode: 'flat', problem: 'p' }];
  const st = computeLinkStatus(input({ mirrored: { services, conflicts: [], impostors: [] }, listMax: 3 }));
  assert.equal(st.mirroredServices?.count, 5);
  assert.deepEqual(st.mirroredServices?.services.map((s) => s.name), ['z', 's0', 's1']);
});

test('computeLinkStatus: lastProbe from the prober on a gateway link only', () => {
  const probe = { healthy: true, last: { ok: true, latencyMs: 1.5, address: '10.0.0.1', message: 'HTTP 200', time: probeAt } };
  assert.deepEqual(computeLinkStatus(input({ parsed: parsed(gatewaySpec), probe })).lastProbe, { time: '2030-01-01T00:00:00.000Z', latencyMs: 1.5, success: true, message: 'HTTP 200' });
  assert.equal(computeLinkStatus(input({ probe })).lastProbe, undefined);
});

test('statusNeedsWrite: a status equal but for the probe time is written at most every 30 s; a removed field is nulled', () => {
  const probe = (t: Date, latencyMs: number) => ({ healthy: true, last: { ok: true, latencyMs, address: '10.0.0.1', message: 'HTTP 200', time: t } });
  const live = computeLinkStatus(input({ parsed: parsed(gatewaySpec), probe: probe(probeAt, 1) }));
  const next = computeLinkStatus(input({ parsed: parsed(gatewaySpec), probe: probe(new Date(probeAt.getTime() + 3000), 2), link: { metadata: { name: 'east', generation: 3 }, status: live } }));
  assert.equal(statusNeedsWrite(live, live, probeAt.getTime() + 5000), false, 'equal');
  assert.equal(statusNeedsWrite(live, next, probeAt.getTime() + 5000), false, 'only the probe time moved, 5 s later');
  assert.equal(statusNeedsWrite(live, next, probeAt.getTime() + 31_000), true, 'the probe time is refreshed after 30 s');
  assert.equal(statusNeedsWrite(undefined, next, 0), true, 'no status yet');
  const flat = computeLinkStatus(input({}));
  assert.deepEqual(statusPatch(live, flat).status.lastProbe, null, 'a gateway removed: lastProbe goes');
});

test('firstListed: the first entries of the full order (problems first, then namespace/name), without a full sort', () => {
  const all = Array.from({ length: 3000 }, (_, i) => ({ namespace: `ns-${(i * 7) % 13}`, name: `svc-${(i * 7919) % 3000}`, shadow: 'x', mode: 'flat', ...(i % 500 === 0 ? { problem: 'p' } : {}) }));
  const key = (m: (typeof all)[number]) => `${m.problem ? 0 : 1}${m.namespace}/${m.name}`;
  const sorted = [...all].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  assert.deepEqual(firstListed(all, 200), sorted.slice(0, 200));
  assert.ok(firstListed(all, 200).slice(0, 6).every((m) => m.problem), 'problems first');
  assert.deepEqual(firstListed(all.slice(0, 5), 200), sorted.filter((m) => all.slice(0, 5).includes(m)));
  assert.deepEqual(firstListed(all, 0), []);
});
