// Rendering a command's data: `-o json|yaml|table`. Commands return data; only this file prints it.
import { stringify } from 'yaml';
import { z } from 'zod';

export const OutputFormatSchema = z.enum(['table', 'json', 'yaml']);
export type OutputFormat = z.infer<typeof OutputFormatSchema>;

export interface Table {
  columns: string[];
  rows: string[][];
}

/** Columns padded to the widest cell, two spaces apart, as kubectl prints. */
export function formatTable(t: Table): string {
  const widths = t.columns.map((c, i) => Math.max(c.length, ...t.rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(t.columns), ...t.rows.map(line)].join('\n') + '\n';
}

export function render(data: unknown, format: OutputFormat, table: () => string): string {
  switch (format) {
    case 'json':
      return JSON.stringify(data, null, 2) + '\n';
    case 'yaml':
      return stringify(data, { lineWidth: 0 });
    case 'table':
      return table();
  }
}
