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

test('mesh gateway --host and $POD_IPS: an entry that is not an IP address, or repeats one, is a usage error naming it (exit 2)', async () => {
  // Credential files that do not exist: the addresses are checked before anything is loaded.
  const creds = ['--cert', '/nonexistent/c.pem', '--key', '/nonexistent/k.pem', '--bundle', '/nonexistent/b.pem'];
  const base = ['gateway', '--cluster-name', 'cluster-b', '--tunnel-port', '0', '--admin-port', '0', '--routes', '/nonexistent/routes.yaml', ...creds];
  for (const [args, env, message] of [
    [['--host', '127.0.0.1,gateway.local'], {}, /--host: invalid entry "gateway.local": not an IP address/],
    [['--host', '::1,127.0.0.1,0:0:0:0:0:0:0:1'], {}, /--host: invalid entry "0:0:0:0:0:0:0:1": the same address as "::1"/],
    [['--host', '0.0.0.0,::1'], {}, /--host: invalid entry "0.0.0.0": a wildcard address binds every address/],
    [[], { POD_IPS: '10.1.0.5,fd00:10:1::a:5x' }, /\$POD_IPS: invalid entry "fd00:10:1::a:5x": not an IP address/],
  ] as const) {
    const p = startMesh([...base, ...args], env);
    assert.equal(await p.exited, 2, `${args.join(' ')} ${JSON.stringify(env)}: ${p.stderr()}`);
    assert.match(p.stderr(), message);
  }
});
