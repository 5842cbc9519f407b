// `mesh controller` flag errors: clear message on stderr, exit code 2 (usage), never a stack trace.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startMesh, stopAll } from '../helpers/process.js';

after(stopAll);

const cases: Array<[string, string[], RegExp]> = [
  ['missing --cluster-name', ['controller'], /cluster-name/],
  ['cluster name not a DNS label', ['controller', '--cluster-name', 'Bad_Name'], /--cluster-name: must be a DNS label/],
  ['bad outbound port range', ['controller', '--cluster-name', 'a', '--outbound-ports', '15999-14000'], /--outbound-ports: .*min <= max/],
  ['port not an integer', ['controller', '--cluster-name', 'a', '--admin-port', 'x'], /not an integer/],
  ['admin port out of range', ['controller', '--cluster-name', 'a', '--admin-port', '70000'], /--admin-port/],
];

for (const [what, args, msg] of cases) {
  test(`mesh controller: ${what} → exit 2 with a clear message`, async () => {
    const p = startMesh(args);
    const code = await p.exited;
    assert.equal(code, 2, p.stderr());
    assert.match(p.stderr(), msg);
    assert.doesNotMatch(p.stderr(), /\n\s+at /, 'no stack trace');
  });
}

test('mesh controller: an unreadable kubeconfig fails with exit 1 and names the problem', async () => {
  const p = startMesh(['controller', '--cluster-name', 'a', '--kubeconfig', '/nonexistent/kubeconfig', '--admin-port', '0']);
  const code = await p.exited;
  assert.equal(code, 1);
  assert.match(p.stderr(), /mesh: cannot load kubeconfig/);
  assert.match(p.stderr(), /hint: pass --kubeconfig/);
  assert.doesNotMatch(p.stderr(), /\n\s+at /, 'no stack trace');
});
