// The one rule language (src/api/authz.ts), table-driven: what parses to which rule, what is refused and
// why, what each rule admits, and export scope.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exportedTo, firstMatch, parseAllowEntry, parseAllowList, parseExportTo, type VerifiedCaller } from '../../src/api/index.js';

const entries: Array<{ text: string; want: string | RegExp }> = [
  { text: 'cluster:cluster-a', want: 'cluster cluster-a' },
  { text: 'spiffe://mesh.local/ns/web/sa/frontend', want: 'id spiffe://mesh.local/ns/web/sa/frontend' },
  { text: 'spiffe://mesh.local/ns/web/*', want: 'prefix spiffe://mesh.local/ns/web/' },
  { text: 'spiffe://mesh.local/ns/*', want: 'prefix spiffe://mesh.local/ns/' },
  // Today's allowed-identities syntax keeps working: a bare trust domain.
  { text: 'mesh.local', want: 'trustDomain mesh.local' },
  { text: 'cluster:', want: /names no valid cluster/ },
  { text: 'cluster:Cluster_A', want: /names no valid cluster/ },
  { text: 'spiffe://mesh.local/*', want: /whole trust domain/ },
  { text: 'spiffe://mesh.local/ns/web*', want: /invalid path segment/ },
  { text: 'spiffe://mesh.local/ns/*/sa/x', want: /`\*` that is not the whole last segment/ },
  { text: 'spiffe://mesh.local/ns/../sa/x', want: /invalid path segment/ },
  { text: 'spiffe://MESH..local/ns/web', want: /invalid trust domain/ },
  { text: 'spiffe://mesh.local', want: /is not spiffe:\/\// },
  { text: 'frontend@web', want: /is not cluster:<name>/ },
  { text: '*', want: /is not cluster:<name>/ },
];

for (const e of entries) {
  test(`parseAllowEntry ${JSON.stringify(e.text)}`, () => {
    const r = parseAllowEntry(e.text);
    if (typeof e.want === 'string') {
      assert.notEqual(typeof r, 'string', String(r));
      if (typeof r === 'string') return;
      const value = r.kind === 'cluster' ? r.cluster : r.kind === 'id' ? r.id : r.kind === 'prefix' ? r.prefix : r.trustDomain;
      assert.equal(`${r.kind} ${value}`, e.want);
    } else {
      assert.equal(typeof r, 'string');
      assert.match(String(r), e.want);
    }
  });
}

test('parseAllowList: comma-separated text and arrays, blanks skipped, one bad entry spoils the list', () => {
  const a = parseAllowList(' cluster:cluster-a , spiffe://mesh.local/ns/web/*,,');
  assert.ok(a.ok);
  assert.deepEqual(a.rules.map((r) => r.text), ['cluster:cluster-a', 'spiffe://mesh.local/ns/web/*']);
  const b = parseAllowList(['cluster:cluster-a', 'mesh.local']);
  assert.ok(b.ok && b.rules.length === 2);
  const empty = parseAllowList(' , ');
  assert.ok(empty.ok && empty.rules.length === 0);
  const bad = parseAllowList('cluster:cluster-a,cluster:,spiffe://x');
  assert.equal(bad.ok, false);
  assert.match(bad.ok ? '' : bad.message, /invalid entries: "cluster:" names no valid cluster.*"spiffe:\/\/x" is not spiffe/);
  const tooMany = parseAllowList(Array.from({ length: 300 }, (_, i) => `cluster:c${i}`).join(','));
  assert.equal(tooMany.ok, false);
  assert.equal(parseAllowList(42).ok, false);
});

const caller = (id: string, cluster: string): VerifiedCaller => ({ id, cluster, unknown: false });
const matches: Array<{ list: string; caller: VerifiedCaller; want: string | undefined }> = [
  { list: 'cluster:cluster-a', caller: caller('spiffe://mesh.local/ns/web/sa/frontend', 'cluster-a'), want: 'cluster:cluster-a' },
  { list: 'cluster:cluster-a', caller: caller('spiffe://mesh.local/ns/web/sa/frontend', 'cluster-c'), want: undefined },
  { list: 'spiffe://mesh.local/ns/web/sa/frontend', caller: caller('spiffe://mesh.local/ns/web/sa/frontend', 'cluster-c'), want: 'spiffe://mesh.local/ns/web/sa/frontend' },
  { list: 'spiffe://mesh.local/ns/web/sa/frontend', caller: caller('spiffe://mesh.local/ns/web/sa/frontend-2', 'cluster-a'), want: undefined },
  { list: 'spiffe://mesh.local/ns/web/*', caller: caller('spiffe://mesh.local/ns/web/sa/other', 'cluster-a'), want: 'spiffe://mesh.local/ns/web/*' },
  // A prefix is a whole segment: ns/web/* is not ns/webby.
  { list: 'spiffe://mesh.local/ns/web/*', caller: caller('spiffe://mesh.local/ns/webby/sa/x', 'cluster-a'), want: undefined },
  { list: 'mesh.local', caller: caller('spiffe://mesh.local/ns/x/sa/y', 'cluster-a'), want: 'mesh.local' },
  { list: 'mesh.local', caller: caller('spiffe://mesh.local.evil/ns/x/sa/y', 'cluster-a'), want: undefined },
  { list: 'spiffe://mesh.local/ns/ops/*,cluster:cluster-b', caller: caller('spiffe://mesh.local/ns/web/sa/x', 'cluster-b'), want: 'cluster:cluster-b' },
];
for (const m of matches) {
  test(`firstMatch [${m.list}] for ${m.caller.id} of ${m.caller.cluster}`, () => {
    const p = parseAllowList(m.list);
    assert.ok(p.ok);
    assert.equal(firstMatch(p.rules, m.caller)?.text, m.want);
  });
}

test('parseExportTo and exportedTo: listed clusters only; empty or bad is no cluster; absent is every cluster', () => {
  assert.deepEqual(parseExportTo('cluster-a, cluster-c,cluster-a'), { ok: true, clusters: ['cluster-a', 'cluster-c'] });
  const empty = parseExportTo(' ');
  assert.equal(empty.ok, false);
  assert.match(empty.ok ? '' : empty.message, /lists no cluster/);
  const bad = parseExportTo('cluster-a,Cluster_C');
  assert.match(bad.ok ? '' : bad.message, /"Cluster_C" is not a cluster name/);
  assert.equal(exportedTo(undefined, 'cluster-b'), true);
  assert.equal(exportedTo('cluster-a,cluster-c', 'cluster-a'), true);
  assert.equal(exportedTo('cluster-a,cluster-c', 'cluster-b'), false);
  assert.equal(exportedTo('cluster-a,Cluster_C', 'cluster-a'), false);
  assert.equal(exportedTo('', 'cluster-a'), false);
});
