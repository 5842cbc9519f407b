// What `npm pack` ships: everything `mesh` needs at run time and nothing of the tests. dist/ is not in git
// (.gitignore), so without package.json `files` a packed tarball carried neither the compiled CLI nor the
// dashboard's browser modules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { repoRoot } from '../helpers/process.js';

test('npm pack ships the CLI, the dashboard assets, the protos and the manifests, and no tests or benches', () => {
  // --ignore-scripts: the tests run on a build already (prepack would build again).
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const files = new Set((JSON.parse(out) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path));
  for (const need of [
    'bin/mesh.js',
    'dist/src/cli/main.js',
    'dist/src/apiserver/openapi/builtin-schemas.json',
    'dist/src/dashboard/client/web/app.js',
    'src/dashboard/web/index.html',
    'src/dashboard/web/style.css',
    'src/identity/identity.proto',
    'src/apps/echo.proto',
    'manifests/gateway.yaml',
    'manifests/crds/serviceexport.yaml',
    'package.json',
    'README.md',
  ]) assert.ok(files.has(need), `${need} is packed`);
  const stray = [...files].filter((f) => /^(dist\/(test|bench)|test|bench)\//.test(f) || f.endsWith('.ts'));
  assert.deepEqual(stray, [], 'no tests, benches or TypeScript sources');
});
