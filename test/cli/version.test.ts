import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { startMesh, stopAll, repoRoot } from '../helpers/process.js';

after(stopAll);

test('mesh --version prints the package version and exits 0', async () => {
  const pkg = JSON.parse(readFileSync(resolve(repoRoot, 'package.json'), 'utf8')) as { version: string };
  const p = startMesh(['--version']);
  assert.equal(await p.exited, 0);
  assert.equal(p.stdout().trim(), pkg.version);
});

test('an unknown subcommand is a usage error (exit 2) with a message on stderr', async () => {
  const p = startMesh(['no-such-command']);
  assert.equal(await p.exited, 2);
  assert.match(p.stderr(), /^error: /m);
});
