// `mesh gateway --allowed-identities` as a user starts it, its own process: a list that src/api's rule
// parser (the annotation's syntax) does not accept stops the gateway at startup, exit 2, naming the entry.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startMesh, stopAll } from '../helpers/process.js';

after(() => stopAll());

test('mesh gateway --allowed-identities: an entry that does not parse is a usage error naming it (exit 2)', async () => {
  for (const [list, entry] of [
    ['cluster:cluster-a,cluster:Bad_Name', /"cluster:Bad_Name" names no valid cluster/],
    ['spiffe://mesh.local/ns/web/sa/frontend, spiffe://mesh.local/ns/*/sa/x', /"spiffe:\/\/mesh.local\/ns\/\*\/sa\/x" has a `\*` that is not the whole last segment/],
    ['spiffe://mesh.local/*', /is a whole trust domain/],
  ] as const) {
    const p = startMesh(['gateway', '--cluster-name', 'cluster-b', '--host', '127.0.0.1', '--tunnel-port', '0', '--admin-port', '0', '--routes', '/nonexistent/routes.yaml', '--allowed-identities', list]);
    assert.equal(await p.exited, 2, `${list}: ${p.stderr()}`);
    assert.match(p.stderr(), /--allowed-identities: invalid entry: /);
    assert.match(p.stderr(), entry);
  }
});
