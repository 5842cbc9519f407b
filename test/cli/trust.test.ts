// `mesh trust leaf` as a newcomer types it: --out a directory that does not exist yet.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMesh, stopAll } from '../helpers/process.js';

const dir = mkdtempSync(join(tmpdir(), 'mesh-cli-trust-'));
after(async () => {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

async function mesh(...args: string[]): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const p = startMesh(args, { MESH_LOG_LEVEL: 'warn' });
  return { code: await p.exited, stdout: p.stdout(), stderr: p.stderr() };
}

test('trust leaf --out creates its directory, as init and issuer do (regression: ENOENT)', async () => {
  assert.equal((await mesh('trust', 'init', '--out', join(dir, 'root'))).code, 0);
  assert.equal((await mesh('trust', 'issuer', '--cluster-name', 'cluster-a', '--root', join(dir, 'root'), '--out', join(dir, 'a'))).code, 0);
  const out = join(dir, 'new', 'web');
  assert.equal(existsSync(join(dir, 'new')), false);
  const r = await mesh('trust', 'leaf', '--issuer', join(dir, 'a'), '--identity', 'spiffe://mesh.local/ns/default/sa/web', '--out', out);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${join(out, 'tls.crt')}\n${join(out, 'tls.key')}\n`);
  assert.equal(statSync(join(out, 'tls.key')).mode & 0o777, 0o600);
  const v = await mesh('trust', 'verify', join(out, 'tls.crt'), '--bundle', join(dir, 'root', 'root.crt'));
  assert.equal(v.code, 0, v.stderr);
  assert.equal(v.stdout.trim(), 'spiffe://mesh.local/ns/default/sa/web');
  // A path that cannot be a directory is still a clear failure (exit 1), not a crash.
  const bad = await mesh('trust', 'leaf', '--issuer', join(dir, 'a'), '--identity', 'spiffe://mesh.local/ns/default/sa/web', '--out', join(out, 'tls.key', 'x'));
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^mesh: cannot write to .*tls\.key\/x: /m);
});
