import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderTable, type BenchResult } from '../../bench/report.js';
import { renderChart } from '../../bench/chart.js';

const result: BenchResult = {
  name: 'gateway',
  rows: [
    { metric: 'bulk', subject: 'direct', value: 2000, unit: 'MB/s' },
    { metric: 'bulk', subject: 'mesh', value: 1000, unit: 'MB/s', baseline: { name: 'nginx', value: 800 }, target: '>= 1.0x nginx', met: true },
    { metric: 'p99', subject: 'mesh', value: 2.5, unit: 'ms' },
    { metric: 'p99', subject: 'nginx', value: 5, unit: 'ms' },
  ],
};

test('a table row shows the value, its same-run baseline, the ratio and whether the target was met', () => {
  const lines = renderTable(result).split('\n');
  const mesh = lines.find((l) => l.startsWith('| bulk | mesh'));
  assert.equal(mesh, '| bulk | mesh | 1000 MB/s | 800 MB/s (nginx) | 1.25x | >= 1.0x nginx ✔ |');
  assert.ok(lines.some((l) => l.startsWith('| bulk | direct | 2000 MB/s |  |  |  |')));
});

test('the chart draws one bar per subject and metric, scaled to the best of each panel', () => {
  const svg = renderChart(result, ['bulk', 'p99']);
  assert.equal((svg.match(/<rect x=/g) ?? []).length, 4);
  // Throughput: the best (direct, 2000) gets the full 360 px, mesh half of it.
  assert.match(svg, /width="360\.0"/);
  assert.match(svg, /width="180\.0"/);
  // Latency is lower-is-better: the worst sets the scale, so nginx (5 ms) is full length, mesh half.
  assert.match(svg, /p99 \(ms, lower is better\)/);
  assert.ok(svg.startsWith('<svg') && svg.trimEnd().endsWith('</svg>'));
});
