// scripts/check-imports.mjs enforces the import directions of docs/architecture.md, on a tree made for the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { repoRoot } from '../helpers/process.js';

const script = join(repoRoot, 'scripts/check-imports.mjs');
const TABLE = `| folder | what | runs as | may import |
|---|---|---|---|
| \`src/api\` | contracts | library | — |
| \`src/kube\` | client | library | api |
| \`src/cli\` | binary | mesh | api, kube |
`;

function run(files: Record<string, string>, table = TABLE): { code: number; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'check-imports-'));
  try {
    mkdirSync(join(dir, 'docs'));
    writeFileSync(join(dir, 'docs/architecture.md'), `# x\n\n${table}`);
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(dir, dirname(path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    const r = spawnSync(process.execPath, [script], { cwd: dir, encoding: 'utf8' });
    return { code: r.status ?? -1, stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const base = {
  'src/api/index.ts': 'export const A = 1;\n',
  'src/kube/index.ts': "import { A } from '../api/index.js';\nexport const K = A;\n",
};

test('allowed directions through index.ts pass', () => {
  const r = run({ ...base, 'src/cli/main.ts': "import { K } from '../kube/index.js';\nimport { A } from '../api/index.js';\nexport const X = K + A;\n" });
  assert.equal(r.code, 0, r.stderr);
});

test('an edge the table does not allow fails, static or dynamic', () => {
  const up = run({ ...base, 'src/api/bad.ts': "export { K } from '../kube/index.js';\n" });
  assert.equal(up.code, 1);
  assert.match(up.stderr, /api may not import kube/);
  const dyn = run({ ...base, 'src/kube/lazy.ts': "export const load = () => import('../cli/index.js');\n", 'src/cli/index.ts': 'export const C = 1;\n' });
  assert.equal(dyn.code, 1);
  assert.match(dyn.stderr, /src\/kube\/lazy\.ts imports \.\.\/cli\/index\.js: kube may not import cli/);
});

test('reaching past a component door fails', () => {
  const r = run({ ...base, 'src/api/names.ts': 'export const N = 1;\n', 'src/cli/main.ts': "import { N } from '../api/names.js';\nexport const X = N;\n" });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /import src\/api\/index\.js instead/);
});

test('a component folder without a row in the table fails', () => {
  const r = run({ ...base, 'src/extra/index.ts': 'export const E = 1;\n' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /src\/extra has no row/);
});

test('a cycle fails even when each edge is allowed', () => {
  const table = TABLE.replace('| `src/api` | contracts | library | — |', '| `src/api` | contracts | library | kube |');
  const r = run({ ...base, 'src/api/index.ts': "import { K } from '../kube/index.js';\nexport const A = 1;\nexport const B = K;\n" }, table);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /component import cycle: (api -> kube -> api|kube -> api -> kube)/);
});

test('the real tree passes', () => {
  const r = spawnSync(process.execPath, [script], { cwd: repoRoot, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});
