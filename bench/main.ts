// `npm run bench [-- name…]`: runs the named benchmarks (all when none is named) and prints their tables.
// Each bench/<name>.ts exports `run(): Promise<BenchResult>`; figures are compared with a baseline
// measured in the same run, because these machines are shared and noisy. Every run records its results in
// bench/results/<name>.json and rewrites bench/RESULTS.md from all recorded results, so one benchmark can be
// re-run (when the machine is quiet) without re-running the others; bench/notes/<name>.md, if any, follows
// that benchmark's table (`npm run bench -- results` rewrites RESULTS.md alone).
import { pathToFileURL } from 'node:url';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchResult, renderTable } from './report.js';
import { renderChart } from './chart.js';

const here = dirname(fileURLToPath(import.meta.url));
/** bench/ in the source tree (this file runs from dist/bench). */
const sourceDir = resolve(here, '../../bench');
const known = ['apiserver', 'trust', 'sandbox', 'mirror', 'gateway', 'h2', 'failover', 'outlier'];

async function main(): Promise<void> {
  const asked = process.argv.slice(2);
  // `npm run bench -- results`: only rewrite RESULTS.md (after editing bench/notes/).
  if (asked.length === 1 && asked[0] === 'results') return writeResults();
  const unknown = asked.filter((n) => !known.includes(n));
  if (unknown.length) {
    console.error(`unknown benchmark ${unknown.join(', ')}; known: ${known.join(', ')}`);
    process.exit(2);
  }
  const names = asked.length ? asked : known;
  mkdirSync(resolve(sourceDir, 'results'), { recursive: true });
  for (const name of names) {
    const file = resolve(here, `${name}.js`);
    if (!existsSync(file)) {
      console.log(`${name}: no benchmark yet (bench/${name}.ts missing), skipped`);
      continue;
    }
    const mod = (await import(pathToFileURL(file).href)) as { run: () => Promise<BenchResult> };
    const result = await mod.run();
    const recorded: RecordedResult = { ...result, measuredAt: new Date().toISOString(), node: process.version, machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}` };
    writeFileSync(resolve(sourceDir, 'results', `${name}.json`), JSON.stringify(recorded, null, 2) + '\n');
    console.log(renderTable(result));
  }
  writeResults();
}

interface RecordedResult extends BenchResult {
  measuredAt: string;
  node: string;
  machine: string;
}

/** RESULTS.md, the record the README links: every recorded table, and the gateway beside its peers. */
function writeResults(): void {
  const dir = resolve(sourceDir, 'results');
  const recorded = known.filter((n) => existsSync(resolve(dir, `${n}.json`)));
  const results = recorded.map((n) => JSON.parse(readFileSync(resolve(dir, `${n}.json`), 'utf8')) as RecordedResult);
  const header = [
    '# Benchmark results',
    '',
    'Written by `npm run bench` (see bench/main.ts). Every figure sits beside its baseline measured in the same run;',
    'the machines are shared and noisy, so read the ratios. Each table says when and where it was measured.',
    '',
  ];
  const gateway = results.find((r) => r.name.toLowerCase().includes('gateway'));
  if (gateway) {
    const metrics = [...new Set(gateway.rows.map((r) => r.metric))];
    writeFileSync(resolve(sourceDir, 'gateway.svg'), renderChart(gateway, metrics));
    header.push('![gateway against direct, nginx and HAProxy](gateway.svg)', '');
  }
  // bench/notes/<name>.md (written by hand: figures across several runs, what a table does not say) follows
  // its table, so a re-run keeps it.
  const notes = (n: string) => (existsSync(resolve(sourceDir, 'notes', `${n}.md`)) ? `\n${readFileSync(resolve(sourceDir, 'notes', `${n}.md`), 'utf8')}` : '');
  const tables = results.map((r, i) => `${renderTable(r)}\n_Measured ${r.measuredAt} with Node ${r.node} on ${r.machine}._\n${notes(recorded[i]!)}`);
  writeFileSync(resolve(sourceDir, 'RESULTS.md'), header.concat(tables).join('\n'));
  console.log(`wrote ${resolve(sourceDir, 'RESULTS.md')}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
