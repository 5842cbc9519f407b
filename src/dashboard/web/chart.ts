// A small time-series chart for a table row: the last window of one or two series as SVG lines (values
// scaled to their own maximum), with the maximum and the time span in its title.
import type { Series } from '../model.js';
import { s } from './dom.js';

/** The time span drawn: the data's own, at least a minute, at most the window (early on the window is mostly empty). */
export function span(main: Series, windowMs: number, now: number): number {
  const first = main.t[0];
  return first === undefined ? windowMs : Math.min(windowMs, Math.max(60_000, now - first));
}

export function sparkline(main: Series, windowMs: number, now: number, opts: { width?: number; height?: number; title: string; second?: Series }): SVGSVGElement {
  const w = opts.width ?? 220;
  const hgt = opts.height ?? 36;
  const spanMs = span(main, windowMs, now);
  const t0 = now - spanMs;
  const x = (t: number) => Math.max(0, ((t - t0) / spanMs) * w);
  const scaled = (ser: Series) => {
    const max = Math.max(...ser.v, 0);
    return { max, pts: ser.t.map((t, i) => [x(t), max > 0 ? hgt - 2 - (ser.v[i] / max) * (hgt - 4) : hgt - 2] as const) };
  };
  const m = scaled(main);
  const line = m.pts.map(([px, py], i) => `${i ? 'L' : 'M'} ${px.toFixed(1)} ${py.toFixed(1)}`).join(' ');
  const area = m.pts.length ? `${line} L ${m.pts[m.pts.length - 1][0].toFixed(1)} ${hgt} L ${m.pts[0][0].toFixed(1)} ${hgt} Z` : '';
  const sec = opts.second ? scaled(opts.second) : undefined;
  const secLine = sec?.pts.map(([px, py], i) => `${i ? 'L' : 'M'} ${px.toFixed(1)} ${py.toFixed(1)}`).join(' ');
  return s('svg', { class: 'spark', width: w, height: hgt, viewBox: `0 0 ${w} ${hgt}`, 'data-points': main.t.length },
    s('title', {}, opts.title),
    s('line', { class: 'axis', x1: 0, y1: hgt - 1, x2: w, y2: hgt - 1 }),
    area ? s('path', { class: 'area', d: area }) : null,
    line ? s('path', { class: 'line', d: line }) : null,
    secLine ? s('path', { class: 'lat', d: secLine }) : null,
  );
}
