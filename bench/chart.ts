// A small SVG bar chart for one benchmark: one panel per metric, one bar per subject, each bar's length
// relative to the best subject of that panel (so metrics with different units sit side by side).
import type { BenchResult } from './report.js';

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function renderChart(result: BenchResult, metrics: string[]): string {
  const panels = metrics
    .map((m) => ({ metric: m, rows: result.rows.filter((r) => r.metric === m) }))
    .filter((p) => p.rows.length > 0);
  const subjects = [...new Set(panels.flatMap((p) => p.rows.map((r) => r.subject)))];
  const palette = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948'];
  const color = (s: string) => palette[subjects.indexOf(s) % palette.length];
  const barH = 16;
  const gap = 6;
  const labelW = 210;
  const barMax = 360;
  const panelH = (n: number) => 26 + n * (barH + gap);
  let y = 40;
  const parts: string[] = [];
  for (const p of panels) {
    const lowerIsBetter = /latency|RSS|KB|ms/.test(p.metric) || p.rows[0]?.unit === 'ms';
    const values = p.rows.map((r) => r.value).filter((v) => Number.isFinite(v) && v > 0);
    const best = lowerIsBetter ? Math.min(...values) : Math.max(...values);
    const scale = lowerIsBetter ? Math.max(...values) : best;
    parts.push(`<text x="10" y="${y}" font-weight="bold">${escape(p.metric)} (${escape(p.rows[0]?.unit ?? '')}${lowerIsBetter ? ', lower is better' : ''})</text>`);
    let by = y + 10;
    for (const r of p.rows) {
      const w = scale > 0 && Number.isFinite(r.value) ? Math.max(1, (r.value / scale) * barMax) : 0;
      parts.push(`<text x="20" y="${by + barH - 4}">${escape(r.subject)}</text>`);
      parts.push(`<rect x="${labelW}" y="${by}" width="${w.toFixed(1)}" height="${barH}" fill="${color(r.subject)}"/>`);
      parts.push(`<text x="${labelW + w + 6}" y="${by + barH - 4}">${Number.isFinite(r.value) ? r.value.toFixed(r.value >= 100 ? 0 : 2) : 'n/a'}</text>`);
      by += barH + gap;
    }
    y += panelH(p.rows.length) + 10;
  }
  const height = y + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="720" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">${escape(result.name)}</text>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
