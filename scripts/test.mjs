// Runs the compiled tests with Node's test runner. `npm test` runs all; `npm test -- trust gateway` runs
// the tests under test/trust and test/gateway (or any path fragment given).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function walk(dir) {
  let out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out = out.concat(walk(path));
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out;
}

const filters = process.argv.slice(2);
const all = walk('dist/test').sort();
const files = filters.length ? all.filter((f) => filters.some((x) => f.includes(x))) : all;
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
const args = ['--enable-source-maps', '--test', '--test-reporter=spec', '--test-timeout=600000', ...files];
const res = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(res.status ?? 1);
