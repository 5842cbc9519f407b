// Every command of the CLI part documents itself: summary, long text, examples and exit codes, exit 0.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startMesh, stopAll } from '../helpers/process.js';

after(stopAll);

const commands = ['install', 'uninstall', 'link', 'unlink', 'export', 'unexport', 'check', 'gateways', 'links'];

test('each command has --help with examples and the exit codes (exit 0)', async () => {
  const runs = commands.map((c) => ({ c, p: startMesh([c, '--help']) }));
  for (const { c, p } of runs) {
    assert.equal(await p.exited, 0, `${c} --help: ${p.stderr()}`);
    const out = p.stdout();
    assert.match(out, new RegExp(`^Usage: mesh ${c} `, 'm'));
    assert.match(out, /Examples:\n {2}mesh /);
    assert.match(out, /Exit codes:\n {2}0 {2}success\n {2}1 {2}failure.*\n {2}2 {2}usage/);
    assert.match(out, /--kubeconfig|--context/);
  }
});

test('the top-level help lists every command with its summary', async () => {
  const p = startMesh(['--help']);
  assert.equal(await p.exited, 0);
  for (const c of commands) assert.match(p.stdout(), new RegExp(`^ {2}${c} `, 'm'), `${c} not listed`);
});

test('missing arguments and unknown options are usage errors (exit 2) on stderr', async () => {
  for (const args of [['link', 'only-one'], ['install'], ['check', '--bogus'], ['gateways'], ['export', 'svc', '--mode', 'nope']]) {
    const p = startMesh(args);
    assert.equal(await p.exited, 2, args.join(' '));
    assert.match(p.stderr(), /error: /);
    assert.equal(p.stdout(), '');
  }
});

test('sandbox up --help says it runs in the foreground (and how not to), and that isolated is the default as root', async () => {
  const p = startMesh(['sandbox', 'up', '--help']);
  assert.equal(await p.exited, 0, p.stderr());
  const out = p.stdout().replace(/\s+/g, ' ');
  assert.match(out, /stays in the foreground until Ctrl-C/);
  assert.match(out, /-d, --detach run in the background/);
  assert.match(out, /auto: isolated when root, else loopback/);
  assert.match(out, /--flat-routes/);
  const top = startMesh(['sandbox', '--help']);
  assert.equal(await top.exited, 0);
  assert.match(top.stdout(), /stays in the foreground until Ctrl-C \(or runs in the background with --detach\)/);
});

test('demo apps prints the demo\'s apps for a cluster; without --cluster-name it is a usage error', async () => {
  const p = startMesh(['demo', 'apps', '--cluster-name', 'cluster-b']);
  assert.equal(await p.exited, 0, p.stderr());
  assert.match(p.stdout(), /^kind: Deployment\nmetadata:\n {2}name: web\n {2}namespace: demo$/m);
  assert.match(p.stdout(), /value: cluster-b/);
  const bad = startMesh(['demo', 'apps']);
  assert.equal(await bad.exited, 2);
  assert.match(bad.stderr(), /required option '--cluster-name <name>'/);
  const badName = startMesh(['demo', 'apps', '--cluster-name', 'Not_A_Label']);
  assert.equal(await badName.exited, 2);
  assert.match(badName.stderr(), /--cluster-name: must be a DNS label/);
});
