/** One benchmark's figures: each row is a measurement beside its baseline from the same run. */
export interface BenchRow {
  metric: string;
  subject: string;
  value: number;
  unit: string;
  /** What the figure is compared with (the floor, the direct path, a peer), measured in the same run. */
  baseline?: { name: string; value: number };
  /** The target as text, e.g. ">= 1.0x nginx" or "< 300 MB". */
  target?: string;
  /** Whether the target was met, when it can be judged. */
  met?: boolean;
}

export interface BenchResult {
  name: string;
  notes?: string[];
  rows: BenchRow[];
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 100) return n.toFixed(0);
  if (Math.abs(n) >= 1) return n.toFixed(2);
  return n.toPrecision(3);
}

/** A markdown table: metric, subject, value, baseline, ratio, target. */
export function renderTable(r: BenchResult): string {
  const lines = [`### ${r.name}`, '', '| metric | subject | value | baseline | ratio | target |', '|---|---|---|---|---|---|'];
  for (const row of r.rows) {
    const base = row.baseline ? `${fmt(row.baseline.value)} ${row.unit} (${row.baseline.name})` : '';
    const ratio = row.baseline && row.baseline.value !== 0 ? `${(row.value / row.baseline.value).toFixed(2)}x` : '';
    const target = row.target ? `${row.target}${row.met === undefined ? '' : row.met ? ' ✔' : ' ✘'}` : '';
    lines.push(`| ${row.metric} | ${row.subject} | ${fmt(row.value)} ${row.unit} | ${base} | ${ratio} | ${target} |`);
  }
  for (const n of r.notes ?? []) lines.push('', n);
  return lines.join('\n') + '\n';
}
