// authorize(target, caller), the contract's one authorization call, table-driven: export scope, the Link's
// list, the Service's list, the Namespace default, unparsable lists (deny-all with the reason), unknown callers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAllowList, type VerifiedCaller } from '../../src/api/index.js';
import { authorizeCaller, compileAccess, type ExportedService } from '../../src/gateway/index.js';

const FRONTEND = 'spiffe://mesh.local/ns/web/sa/frontend';
const OTHER = 'spiffe://mesh.local/ns/web/sa/other';
const GW = 'spiffe://mesh.local/ns/mesh-system/sa/mesh-gateway';
const svc = (over: Partial<ExportedService>): ExportedService => ({ namespace: 'demo', name: 'web', ports: [], ...over });
const caller = (id: string, cluster: string, unknown = false): VerifiedCaller => ({ id, cluster, unknown });

const cases: Array<{ name: string; svc: Partial<ExportedService>; link?: string; caller: VerifiedCaller; want: 'ok' | { source: string; reason: RegExp } }> = [
  { name: 'no rules: any caller', svc: {}, caller: caller(OTHER, 'cluster-c'), want: 'ok' },
  { name: 'export-to lists the cluster', svc: { exportTo: 'cluster-a' }, caller: caller(OTHER, 'cluster-a'), want: 'ok' },
  { name: 'export-to does not list the cluster', svc: { exportTo: 'cluster-a' }, caller: caller(FRONTEND, 'cluster-c'), want: { source: 'export-to', reason: /not exported to cluster cluster-c \(export-to: cluster-a\)/ } },
  { name: 'unparsable export-to: no cluster', svc: { exportTo: 'cluster-a,BAD!' }, caller: caller(FRONTEND, 'cluster-a'), want: { source: 'export-to', reason: /exported to no cluster/ } },
  { name: 'a caller without a cluster is in no export-to', svc: { exportTo: 'cluster-a' }, caller: caller(FRONTEND, ''), want: { source: 'export-to', reason: /cluster \(none\)/ } },
  { name: 'service list: exact id', svc: { allowedIdentities: [FRONTEND] }, caller: caller(FRONTEND, 'cluster-a'), want: 'ok' },
  { name: 'service list: another SA is refused, the rule named', svc: { allowedIdentities: [FRONTEND] }, caller: caller(OTHER, 'cluster-a'), want: { source: 'service', reason: /allowed-identities \[spiffe:\/\/mesh.local\/ns\/web\/sa\/frontend\] does not admit it/ } },
  { name: 'service list: cluster entry', svc: { allowedIdentities: ['cluster:cluster-a'] }, caller: caller(OTHER, 'cluster-a'), want: 'ok' },
  { name: 'service list: cluster entry refuses another cluster', svc: { allowedIdentities: ['cluster:cluster-a'] }, caller: caller(OTHER, 'cluster-c'), want: { source: 'service', reason: /cluster-c refused for web.demo/ } },
  { name: 'service list: namespace wildcard', svc: { allowedIdentities: ['spiffe://mesh.local/ns/web/*'] }, caller: caller(OTHER, 'cluster-a'), want: 'ok' },
  { name: 'unparsable service list admits nobody, says why', svc: { allowedIdentities: ['cluster:cluster-a', 'cluster:'] }, caller: caller(OTHER, 'cluster-a'), want: { source: 'service', reason: /unparsable and admits nobody: invalid entry: "cluster:"/ } },
  { name: 'namespace default applies when the Service has none', svc: { defaultAllowedIdentities: ['cluster:cluster-b'] }, caller: caller(OTHER, 'cluster-a'), want: { source: 'namespace', reason: /namespace demo's default-allowed-identities/ } },
  { name: 'namespace default admits', svc: { defaultAllowedIdentities: ['cluster:cluster-a'] }, caller: caller(OTHER, 'cluster-a'), want: 'ok' },
  { name: 'export-to is checked before the lists', svc: { exportTo: 'cluster-a', allowedIdentities: ['cluster:cluster-c'] }, caller: caller(OTHER, 'cluster-c'), want: { source: 'export-to', reason: /not exported/ } },
  { name: "the Link's list narrows its cluster's callers", svc: {}, link: 'spiffe://mesh.local/ns/web/*', caller: caller(GW, 'cluster-a', true), want: { source: 'link', reason: /Link to cluster cluster-a's allowedIdentities/ } },
  { name: "the Link's list and the Service's both apply", svc: { allowedIdentities: [OTHER] }, link: 'spiffe://mesh.local/ns/web/*', caller: caller(FRONTEND, 'cluster-a'), want: { source: 'service', reason: /does not admit/ } },
  { name: 'unparsable Link list: deny-all', svc: {}, link: 'nope!', caller: caller(FRONTEND, 'cluster-a'), want: { source: 'link', reason: /unparsable/ } },
  // An unknown caller is its source gateway: a per-SA rule never admits it, its cluster's rule does.
  { name: 'unknown caller vs a per-SA rule', svc: { allowedIdentities: ['spiffe://mesh.local/ns/web/*'] }, caller: caller(GW, 'cluster-a', true), want: { source: 'service', reason: /\(unknown-caller\)/ } },
  { name: 'unknown caller vs a cluster rule', svc: { allowedIdentities: ['cluster:cluster-a'] }, caller: caller(GW, 'cluster-a', true), want: 'ok' },
];

for (const c of cases) {
  test(`authorize: ${c.name}`, () => {
    const d = authorizeCaller({ namespace: 'demo', service: 'web', access: compileAccess(svc(c.svc)), link: c.link === undefined ? undefined : parseAllowList(c.link) }, c.caller);
    if (c.want === 'ok') {
      assert.ok(d.ok, d.ok ? '' : d.reason);
    } else {
      assert.equal(d.ok, false);
      if (d.ok) return;
      assert.equal(d.source, c.want.source);
      assert.match(d.reason, c.want.reason);
      assert.match(d.reason, new RegExp(`caller ${c.caller.id.replace(/[/.]/g, '\\$&')}`));
      assert.ok(d.rule.startsWith(`${d.source}:`), d.rule);
    }
  });
}

test('buildSnapshot: a Service list wins over its Namespace default; the default fills in; export-to as written', async () => {
  const { buildSnapshot } = await import('../../src/gateway/index.js');
  const service = (name: string, annotations: Record<string, string>) => ({ metadata: { namespace: 'demo', name, labels: { 'mirror.mesh.io/exported': 'true' }, annotations }, spec: { clusterIP: '10.0.0.9', ports: [{ port: 80 }] } });
  const { snapshot } = buildSnapshot({
    exported: [service('own', { 'mirror.mesh.io/allowed-identities': 'cluster:cluster-a', 'mirror.mesh.io/export-to': 'cluster-a' }), service('blank', { 'mirror.mesh.io/allowed-identities': ' ' }), service('none', {})],
    slices: [],
    linkAccounts: [],
    routes: undefined,
    links: [],
    namespaces: [{ metadata: { name: 'demo', annotations: { 'mirror.mesh.io/default-allowed-identities': 'spiffe://mesh.local/ns/web/*' } } }],
  });
  const by = new Map(snapshot.exported.map((s) => [s.name, s]));
  assert.deepEqual(by.get('own')?.allowedIdentities, ['cluster:cluster-a']);
  assert.equal(by.get('own')?.defaultAllowedIdentities, undefined);
  assert.equal(by.get('own')?.exportTo, 'cluster-a');
  assert.deepEqual(by.get('blank')?.defaultAllowedIdentities, ['spiffe://mesh.local/ns/web/*']);
  assert.deepEqual(by.get('none')?.defaultAllowedIdentities, ['spiffe://mesh.local/ns/web/*']);
  assert.equal(by.get('none')?.exportTo, undefined);
});
