// Pure routing decisions, table-driven: authority parsing, identity policy, target resolution, and the
// Kubernetes objects → routing snapshot mapping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAuthority, checkPolicy, gatewayAllowRules, GatewayConfigSchema, callerOf, resolveTarget, indexExports, GatewayError, buildSnapshot, formatAuthority } from '../../src/gateway/index.js';

test('parseAuthority accepts service and headless pod names in the cluster domain', () => {
  assert.deepEqual(parseAuthority('web.prod.svc.cluster.local:80', 'cluster.local'), { service: 'web', namespace: 'prod', port: 80 });
  assert.deepEqual(parseAuthority('web-0.web.prod.svc.cluster.local:8080', 'cluster.local'), { hostname: 'web-0', service: 'web', namespace: 'prod', port: 8080 });
  assert.deepEqual(parseAuthority('WEB.Prod.svc.Cluster.Local:80', 'cluster.local'), { service: 'web', namespace: 'prod', port: 80 });
  assert.equal(formatAuthority({ hostname: 'web-0', service: 'web', namespace: 'prod', port: 1 }, 'x.y'), 'web-0.web.prod.svc.x.y:1');
});

for (const [authority, why] of [
  [undefined, /missing/],
  ['', /missing/],
  ['127.0.0.1:80', /no|IP|domain/],
  ['[::1]:80', /IP|domain/],
  ['10.0.0.1:443', /IP/],
  ['kubernetes.default.svc:443', /domain/],
  ['kubernetes:443', /domain/],
  ['web.prod.svc.cluster.local', /port/],
  ['web.prod.svc.cluster.local:0', /range/],
  ['web.prod.svc.cluster.local:70000', /range/],
  ['web.prod.svc.cluster.local:8a', /port/],
  ['a.b.c.d.svc.cluster.local:80', /Service/],
  ['prod.svc.cluster.local:80', /Service/],
  ['web_x.prod.svc.cluster.local:80', /label/],
  ['web.prod.svc.other.domain:80', /domain/],
  ['x'.repeat(400) + ':80', /long/],
] as const) {
  test(`parseAuthority refuses ${JSON.stringify(authority)?.slice(0, 40)}`, () => {
    assert.throws(() => parseAuthority(authority, 'cluster.local'), (e: unknown) => e instanceof GatewayError && e.code === 'BAD_AUTHORITY' && why.test(e.message));
  });
}

test('checkPolicy: the gateway-wide --allowed-identities, read by the one rule parser of src/api (authz.ts)', () => {
  const uri = 'spiffe://mesh.local/ns/web/sa/frontend';
  const id = callerOf(uri);
  const rules = (...l: string[]) => gatewayAllowRules(l);
  checkPolicy(id, 'mesh.local');
  checkPolicy(id, 'mesh.local', rules());
  checkPolicy(id, 'mesh.local', rules('spiffe://mesh.local/ns/web/*'));
  checkPolicy(id, 'mesh.local', rules('mesh.local'));
  checkPolicy(id, 'mesh.local', rules('spiffe://mesh.local/ns/ops/sa/x', uri));
  const forbidden = (e: unknown) => e instanceof GatewayError && e.code === 'FORBIDDEN';
  assert.throws(() => checkPolicy(callerOf(undefined), 'mesh.local'), forbidden);
  assert.throws(() => checkPolicy(callerOf('spiffe://other.org/ns/web/sa/frontend'), 'mesh.local'), forbidden);
  assert.throws(() => checkPolicy(id, 'mesh.local', rules('spiffe://mesh.local/ns/ops/*')), /not in the gateway's allowed identities \[spiffe:\/\/mesh.local\/ns\/ops\/\*\]/);
  assert.throws(() => checkPolicy(id, 'mesh.local', rules('other.org')), forbidden);
  // cluster: entries tell the gateways of linked clusters apart (they share one SPIFFE id).
  checkPolicy(callerOf(uri, 'cluster-a'), 'mesh.local', rules('cluster:cluster-a'));
  assert.throws(() => checkPolicy(callerOf(uri, 'cluster-b'), 'mesh.local', rules('cluster:cluster-a')), forbidden);
  assert.throws(() => checkPolicy(id, 'mesh.local', rules('cluster:cluster-a')), forbidden);
  // A prefix must end at a path boundary: /ns/we/* does not match /ns/web/...
  assert.throws(() => checkPolicy(id, 'mesh.local', rules('spiffe://mesh.local/ns/we/*')), forbidden);
  // Ids are read by src/trust's parser: one that is not a valid SPIFFE id is no identity at all, even for a
  // list that would match its text.
  const odd = 'spiffe://mesh.local/ns/web/sa/../admin';
  assert.throws(() => checkPolicy(callerOf(odd), 'mesh.local', rules('spiffe://mesh.local/ns/web/*')), forbidden);
});

test('--allowed-identities that does not parse is a startup error naming the entry (same syntax as the annotation)', () => {
  const bad = (l: string[], entry: RegExp) => assert.throws(() => gatewayAllowRules(l), (e: unknown) => e instanceof GatewayError && e.code === 'BAD_CONFIG' && /--allowed-identities/.test(e.message) && entry.test(e.message));
  bad(['cluster:cluster-a', 'cluster:Bad_Name'], /"cluster:Bad_Name"/);
  bad(['spiffe://mesh.local/ns/*/sa/x'], /"spiffe:\/\/mesh.local\/ns\/\*\/sa\/x"/);
  bad(['spiffe://mesh.local/*'], /bare trust domain/);
  bad(['not a domain'], /"not a domain"/);
  assert.deepEqual(gatewayAllowRules(['cluster:cluster-a', ' spiffe://mesh.local/ns/web/* ', '']).map((r) => r.kind), ['cluster', 'prefix']);
  // The gateway's own config schema (what startGateway and the workers parse) refuses it too.
  const r = GatewayConfigSchema.safeParse({ clusterName: 'cluster-b', allowedIdentities: ['spiffe://mesh.local/ns/web/sa/../x'] });
  assert.ok(!r.success && /--allowed-identities invalid entry: "spiffe:\/\/mesh.local\/ns\/web\/sa\/..\/x"/.test(r.error.issues[0]!.message));
});

test('resolveTarget: only exported Services, only declared ports, headless by hostname', () => {
  const idx = indexExports([
    { namespace: 'prod', name: 'web', ports: [{ port: 80, backends: [{ address: '10.0.0.1', port: 8080, hostname: 'web-0' }, { address: '10.0.0.2', port: 8080, hostname: 'web-1' }] }] },
    { namespace: 'prod', name: 'idle', ports: [{ port: 80, backends: [] }] },
  ]);
  assert.equal(resolveTarget({ service: 'web', namespace: 'prod', port: 80 }, idx).candidates.length, 2);
  assert.deepEqual(resolveTarget({ hostname: 'web-1', service: 'web', namespace: 'prod', port: 80 }, idx).candidates, [{ address: '10.0.0.2', port: 8080, hostname: 'web-1' }]);
  const code = (c: string) => (e: unknown) => e instanceof GatewayError && e.code === c;
  assert.throws(() => resolveTarget({ service: 'db', namespace: 'prod', port: 80 }, idx), code('UNKNOWN_SERVICE'));
  assert.throws(() => resolveTarget({ service: 'web', namespace: 'dev', port: 80 }, idx), code('UNKNOWN_SERVICE'));
  assert.throws(() => resolveTarget({ service: 'web', namespace: 'prod', port: 8080 }, idx), code('UNDECLARED_PORT'));
  assert.throws(() => resolveTarget({ hostname: 'web-9', service: 'web', namespace: 'prod', port: 80 }, idx), code('UNKNOWN_HOST'));
  assert.throws(() => resolveTarget({ service: 'idle', namespace: 'prod', port: 80 }, idx), code('NO_ENDPOINTS'));
});

test('buildSnapshot: exported Services with ready endpoints, the controller\'s route table, Links with gateways', () => {
  const { snapshot, problems } = buildSnapshot({
    exported: [
      { metadata: { namespace: 'prod', name: 'web', labels: { 'mirror.mesh.io/exported': 'true' }, annotations: { 'mirror.mesh.io/allowed-identities': 'spiffe://mesh.local/ns/a/*, mesh.local' } }, spec: { clusterIP: '10.96.0.5', ports: [{ name: 'http', port: 80 }, { name: 'dns', port: 53, protocol: 'UDP' }] } },
      { metadata: { namespace: 'prod', name: 'flat', labels: { 'mirror.mesh.io/exported': 'flat' } }, spec: { ports: [{ port: 80 }] } },
      { metadata: { namespace: 'prod', name: 'noslices', labels: { 'mirror.mesh.io/exported': 'gateway' } }, spec: { clusterIP: '10.96.0.9', ports: [{ port: 81 }] } },
    ],
    slices: [
      {
        metadata: { namespace: 'prod', name: 'web-abc', labels: { 'kubernetes.io/service-name': 'web' } },
        ports: [{ name: 'http', port: 8080 }],
        endpoints: [
          { addresses: ['10.1.0.1'], conditions: { ready: true }, hostname: 'web-0' },
          { addresses: ['10.1.0.2'], conditions: { ready: false } },
        ],
      },
    ],
    // The controller's table is the only outbound source; a Service carrying the mirror's labels and a port
    // map (anyone who may create a Service can write those) routes nothing (issue 17 item 2).
    routes: {
      metadata: { namespace: 'mesh-system', name: 'mesh-gateway-routes' },
      data: {
        'routes.json': JSON.stringify({
          routes: [
            { outboundPort: 14001, remoteCluster: 'cluster-b', namespace: 'prod', service: 'api', port: 80, origin: { kind: 'Service', namespace: 'prod', name: 'api-cluster-b' } },
            { outboundPort: 14002, remoteCluster: 'cluster-b', namespace: 'prod', service: 'api', port: 80, hostname: 'api-0' },
          ],
        }),
      },
    },
    links: [
      { metadata: { namespace: 'mesh-system', name: 'cluster-b' }, spec: { targetClusterName: 'cluster-b', targetClusterDomain: 'b.local', clusterCredentialsSecret: 'cluster-credentials-cluster-b', gateway: { addresses: ['192.0.2.1'], port: 4143, identity: 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway', transport: 'tls-pipe', allowedIdentities: ['cluster:cluster-b'] } } },
      { metadata: { namespace: 'mesh-system', name: 'flat' }, spec: { targetClusterName: 'cluster-c', clusterCredentialsSecret: 'cluster-credentials-cluster-c' } },
      { metadata: { namespace: 'mesh-system', name: 'broken' }, spec: { gateway: {} } },
    ],
    // `mesh link cluster-d <here>` left its ServiceAccount here: cluster-d's gateway may connect in.
    linkAccounts: [{ metadata: { namespace: 'mesh-system', name: 'mesh-link-cluster-d', labels: { 'mesh.io/link-source': 'cluster-d' } } }],
  });
  assert.deepEqual(snapshot.exported, [
    { namespace: 'prod', name: 'web', ports: [{ port: 80, name: 'http', backends: [{ address: '10.1.0.1', port: 8080, hostname: 'web-0' }] }], allowedIdentities: ['spiffe://mesh.local/ns/a/*', 'mesh.local'] },
    { namespace: 'prod', name: 'noslices', ports: [{ port: 81, backends: [{ address: '10.96.0.9', port: 81 }] }] },
  ]);
  assert.deepEqual(snapshot.outbound, [
    { outboundPort: 14001, remoteCluster: 'cluster-b', namespace: 'prod', service: 'api', port: 80, origin: { kind: 'Service', namespace: 'prod', name: 'api-cluster-b' } },
    { outboundPort: 14002, remoteCluster: 'cluster-b', namespace: 'prod', service: 'api', port: 80, hostname: 'api-0' },
  ]);
  assert.deepEqual(snapshot.remotes, [{ cluster: 'cluster-b', clusterDomain: 'b.local', addresses: ['192.0.2.1'], port: 4143, identity: 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway', transport: 'tls-pipe', allowedIdentities: ['cluster:cluster-b'] }]);
  assert.deepEqual(snapshot.linkedClusters, ['cluster-b', 'cluster-d']);
  assert.equal(problems.length, 1, problems.join('\n'));
  assert.match(problems.join('\n'), /broken/);
});

test('buildSnapshot: a malformed route table (duplicate port, not JSON) routes nothing and is reported', () => {
  const base = { exported: [], slices: [], links: [], linkAccounts: [] };
  const table = (text: string) => ({ metadata: { namespace: 'mesh-system', name: 'mesh-gateway-routes' }, data: { 'routes.json': text } });
  const dup = JSON.stringify({ routes: [{ outboundPort: 14001, remoteCluster: 'b', namespace: 'p', service: 'x', port: 80 }, { outboundPort: 14001, remoteCluster: 'b', namespace: 'p', service: 'y', port: 80 }] });
  for (const [text, why] of [[dup, /14001 appears twice/], ['{not json', /not JSON/]] as const) {
    const { snapshot, problems } = buildSnapshot({ ...base, routes: table(text) });
    assert.deepEqual(snapshot.outbound, []);
    assert.match(problems.join('\n'), why);
  }
  assert.deepEqual(buildSnapshot({ ...base, routes: undefined }), { snapshot: { exported: [], outbound: [], remotes: [], linkedClusters: [] }, problems: [] });
});
