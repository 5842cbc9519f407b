// `npm run bench [-- name…]`: runs the named benchmarks (all when none is named) and prints their tables.
// Each bench/<name>.ts exports `run(): Promise<BenchResult>`; figures are compared with a baseline
// measured in the same run, because these machines are shared and noisy.
import { pathToFileURL } from 'node:url';
import { existsSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchResult, renderTable } from './report.js';
import { renderChart } from './chart.js';

const here = dirname(fileURLToPath(import.meta.url));
/** bench/ in the source tree (this file runs from dist/bench). */
const sourceDir = resolve(here, '../../bench');
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
  // A full run (no names) is the record the README links: every table, and the gateway beside its peers.
  if (asked.length === 0) writeResults(results);
}

function writeResults(results: BenchResult[]): void {
  const header = [
    '# Benchmark results',
    '',
    `Written by \`npm run bench\` on ${new Date().toISOString()}: Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}.`,
    'Every figure sits beside its baseline measured in the same run; the machine is shared and noisy, so read the ratios.',
    '',
  ];
  const gateway = results.find((r) => r.name.toLowerCase().includes('gateway'));
  if (gateway) {
    const metrics = [...new Set(gateway.rows.map((r) => r.metric))];
    writeFileSync(resolve(sourceDir, 'gateway.svg'), renderChart(gateway, metrics));
    header.push('![gateway against direct, nginx and HAProxy](gateway.svg)', '');
  }
  writeFileSync(resolve(sourceDir, 'RESULTS.md'), header.concat(results.map(renderTable)).join('\n'));
  console.log(`wrote ${resolve(sourceDir, 'RESULTS.md')}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
