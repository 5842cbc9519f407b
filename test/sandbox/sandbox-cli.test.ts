// The sandbox CLI's bad-input paths and the loopback range claims, without starting clusters.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startMesh, stopAll } from '../helpers/process.js';
import { claimLoopbackOctets, claimsOf, releaseLoopbackOctets } from '../../src/sandbox/state.js';
import { markedProcesses } from './sandbox-helpers.js';

after(stopAll);

async function mesh(args: string[]): Promise<{ code: number | string; out: string; err: string }> {
  const p = startMesh(args);
  const code = await p.exited;
  return { code, out: p.stdout(), err: p.stderr() };
}

test('bad flags are usage errors (exit 2) with the reason', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-sb-cli-'));
  // Independent invocations run side by side (each start of the CLI costs a second or two here).
  const [bad, twice, mode, domain] = await Promise.all([
    mesh(['sandbox', 'up', '--clusters', 'Cluster_A', '--dir', dir]),
    mesh(['sandbox', 'up', '--clusters', 'a,a', '--dir', dir]),
    mesh(['sandbox', 'up', '--network', 'bridged', '--dir', dir]),
    mesh(['sandbox', 'up', '--cluster-domain', 'x=y', '--dir', dir]),
  ]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /DNS labels/);
  assert.equal(twice.code, 2);
  assert.match(twice.err, /twice/);
  assert.equal(mode.code, 2);
  assert.equal(domain.code, 2);
  assert.match(domain.err, /<cluster>=<domain>/);
});

test('commands on a directory without a sandbox fail with a hint; a corrupt state file is reported, not a crash', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-sb-cli-'));
  const cmds = [['status'], ['down'], ['route', '--flat', 'a', 'b']];
  const results = await Promise.all(cmds.map((args) => mesh(['sandbox', ...args, '--dir', dir])));
  for (const [i, r] of results.entries()) {
    assert.equal(r.code, 1, `${cmds[i]!.join(' ')}: ${r.err}`);
    assert.match(r.err, /no sandbox state/);
    assert.match(r.err, /hint: start one with: mesh sandbox up/);
  }
  writeFileSync(join(dir, 'state.json'), '{"version": 1, "sandboxId": "zz"}');
  const corrupt = await mesh(['sandbox', 'status', '--dir', dir]);
  assert.equal(corrupt.code, 1);
  assert.match(corrupt.err, /state\.json: /);
  writeFileSync(join(dir, 'state.json'), 'not json');
  const notJson = await mesh(['sandbox', 'down', '--dir', dir]);
  assert.equal(notJson.code, 1);
  assert.match(notJson.err, /is not JSON/);
});

test('loopback ranges: claims of two live sandboxes never overlap and are released by their owner only', () => {
  const idA = randomBytes(4).toString('hex');
  const idB = randomBytes(4).toString('hex');
  const mine = claimLoopbackOctets(3, idA, process.pid);
  assert.equal(new Set(mine).size, 3);
  const other = claimLoopbackOctets(3, idB, process.pid);
  assert.deepEqual(mine.filter((x) => other.includes(x)), []);
  releaseLoopbackOctets(mine, idB);
  assert.deepEqual(claimsOf(idA).sort(), [...mine].sort(), 'another sandbox cannot release my claims');
  releaseLoopbackOctets(mine, idA);
  releaseLoopbackOctets(other, idB);
  assert.deepEqual(claimsOf(idA), []);
  assert.deepEqual(claimsOf(idB), []);
});

test('Ctrl-C while up is still starting removes everything it had started', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-sb-cli-'));
  const p = startMesh(['sandbox', 'up', '--clusters', 'x1,x2', '--dir', dir]);
  const statePath = join(dir, 'state.json');
  const until = Date.now() + 30_000;
  while (!existsSync(statePath) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  const { sandboxId } = JSON.parse(readFileSync(statePath, 'utf8')) as { sandboxId: string };
  p.child.kill('SIGINT');
  const code = await p.exited;
  assert.ok(code === 0 || code === 1, `exit ${code}`);
  assert.equal(existsSync(statePath), false);
  assert.deepEqual(markedProcesses(sandboxId), []);
  assert.deepEqual(claimsOf(sandboxId), []);
});
