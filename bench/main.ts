// `npm run bench [-- name…]`: runs the named benchmarks (all when none is named) and prints their tables.
// Each bench/<name>.ts exports `run(): Promise<BenchResult>`; figures are compared with a baseline
// measured in the same run, because these machines are shared and noisy.
import { pathToFileURL } from 'node:url';
import { existsSync } from 'node:fs';
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchResult, renderTable } from './report.js';

const here = dirname(fileURLToPath(import.meta.url));
const known = ['apiserver', 'trust', 'sandbox', 'mirror', 'gateway'];

async function main(): Promise<void> {
  const asked = process.argv.slice(2);
  const unknown = asked.filter((n) => !known.includes(n));
  if (unknown.length) {
    console.error(`unknown benchmark ${unknown.join(', ')}; known: ${known.join(', ')}`);
    process.exit(2);
  }
  const names = asked.length ? asked : known;
  const results: BenchResult[] = [];
  for (const name of names) {
    const file = resolve(here, `${name}.js`);
    if (!existsSync(file)) {
      console.log(`${name}: no benchmark yet (bench/${name}.ts missing), skipped`);
      continue;
    }
    const mod = (await import(pathToFileURL(file).href)) as { run: () => Promise<BenchResult> };
    const result = await mod.run();
    results.push(result);
    console.log(renderTable(result));
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
