// The README's "Using it on your clusters" section, run as a newcomer runs it: its shell blocks verbatim
// and in order, in one bash (`set -euo pipefail`), with `mesh` on PATH from the quick start's own
// `npm link` (into a temporary prefix, not this machine's). The first block starts a sandbox (isolated
// network as root, else loopback), the last removes it; both traffic modes, gateway and flat, are used and
// `mesh check` must pass, its connection over each path included.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, startMesh, startProcess, stopAll } from '../helpers/process.js';
import { readmeSection, shellBlocks } from './readme.js';

const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'mesh-readme-'));
const work = join(dir, 'work');
const prefix = join(dir, 'prefix');
const sandboxDir = join(work, '.mesh-sandbox');
const isRoot = process.getuid?.() === 0;

function hasKubectl(): boolean {
  return spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;
}

after(async () => {
  // A failed run can leave the detached sandbox: stop its `up` by pid, then let `down` remove the rest.
  const state = join(sandboxDir, 'state.json');
  if (existsSync(state)) {
    const { upPid } = JSON.parse(readFileSync(state, 'utf8')) as { upPid: number };
    try {
      process.kill(upPid, 'SIGTERM');
    } catch {
      // already gone
    }
    await startMesh(['sandbox', 'down', '--dir', sandboxDir]).exited;
  }
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

test('the section has what it promises: a sandbox to try on, both export modes, a check, and clean-up', () => {
  const blocks = shellBlocks(readmeSection(readme, 'Using it on your clusters'));
  const all = blocks.join('\n');
  assert.ok(blocks.length >= 3, `expected the sandbox, the steps and the clean-up blocks, got ${blocks.length}`);
  for (const want of [/mesh sandbox up .*--detach/, /mesh export web -n demo --context cluster-b\b/, /mesh export \S+ -n demo --context cluster-b --mode flat/, /mesh link cluster-a cluster-b/, /mesh check cluster-a cluster-b/, /mesh uninstall/, /mesh sandbox down/]) {
    assert.match(all, want);
  }
  assert.doesNotMatch(all, /node bin\/mesh\.js|npx /, 'the README uses the `mesh` that npm link installs');
  assert.match(shellBlocks(readmeSection(readme, 'Quick start')).join('\n'), /npm link/);
});

test('the quick start\'s npm link gives a working `mesh`, and the section runs verbatim against a sandbox (gateway and flat)', async (t) => {
  if (!hasKubectl()) {
    process.stdout.write('SKIP: kubectl is not installed; the README uses it\n');
    t.skip('kubectl is not installed');
    return;
  }
  mkdirSync(work, { recursive: true });
  // The quick start's `npm link`, into a prefix of our own (npm_config_prefix) so this machine's stays as it was.
  execFileSync('npm', ['link'], { cwd: repoRoot, env: { ...process.env, npm_config_prefix: prefix }, stdio: 'pipe' });
  const bin = join(prefix, 'bin');
  assert.equal(execFileSync(join(bin, 'mesh'), ['--version'], { encoding: 'utf8' }).trim(), (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version);

  const blocks = shellBlocks(readmeSection(readme, 'Using it on your clusters'));
  const script = join(dir, 'readme.sh');
  writeFileSync(script, ['set -euo pipefail', 'set -x', ...blocks].join('\n') + '\n');
  const env: NodeJS.ProcessEnv = { PATH: `${bin}:${process.env.PATH ?? ''}`, KUBECONFIG: undefined, MESH_LOG_LEVEL: undefined };
  const p = startProcess('bash', [script], env, work);
  const code = await p.exited;
  const out = p.stdout();
  const err = p.stderr();
  assert.equal(code, 0, `the README's steps failed (exit ${code}):\n${err.slice(-6000)}`);

  // The sandbox said which network and why, first; as root that is the isolated one.
  assert.match(err, new RegExp(`mesh sandbox: ${isRoot ? 'isolated network \\(running as root' : 'loopback network'}`));
  // The shadows, the data path over both modes, and every shadow listed.
  assert.match(out, /^web-cluster-b\s+ClusterIP/m);
  assert.match(out, /^web-flat-cluster-b\s+ClusterIP/m);
  assert.match(out, /✔ cluster-a: link cluster-b: data path \(gateway\): .*connected, tunnel open/);
  assert.match(out, /✔ cluster-a: link cluster-b: data path \(flat\): .*connected/);
  assert.doesNotMatch(out, /✘/);
  assert.match(out, /cluster-b\s+demo\s+web-flat-cluster-b\s+web-flat \(cluster-b\)\s+flat/);
  // Uninstall says what stays; down removed the sandbox.
  assert.match(out, /cluster-b: mesh removed \(\d+ object\(s\) deleted, export label removed from 2 Service\(s\)\)/);
  assert.match(out, /left in place:\n {2}- your Services and workloads/);
  assert.match(out, /^sandbox \w+ removed/m);
  assert.equal(existsSync(join(sandboxDir, 'state.json')), false, 'mesh sandbox down removed the sandbox');
  const id = /"sandboxId":\s*"(\w+)"|sandbox (\w+) removed/.exec(out);
  if (isRoot && id) assert.deepEqual(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith(`msb${id[1] ?? id[2]}`)), []);
});
