// Small DOM helpers: elements from a tag, attributes and children (text is always set as text, never as
// HTML, so nothing a cluster reports can inject markup), SVG elements likewise, and number formats.
import type { Health } from '../model.js';

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | undefined | null | ((ev: Event) => void)>;

function apply(el: Element, attrs: Attrs, children: Child[]): void {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  apply(el, attrs, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function s<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, attrs, children);
  return el;
}

/** The CSS colour of a health, for SVG strokes (presentation attributes, which the CSP allows). */
export const HEALTH_COLOUR: Record<Health, string> = { ok: '#2e9d57', warn: '#d99a00', failed: '#d64545', unknown: '#8a94a6' };
export const HEALTH_WORD: Record<Health, string> = { ok: 'healthy', warn: 'degraded', failed: 'failing', unknown: 'unknown' };

export const badge = (health: Health, text: string = HEALTH_WORD[health]) => h('span', { class: `badge ${health}` }, text);
export const dot = (health: Health, title?: string) => h('span', { class: `dot ${health}`, title });

export function num(n: number | null | undefined, digits = 1): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString('en');
  return n.toFixed(digits).replace(/\.0+$/, '');
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${num(v)} ${units[i]}`;
}

export function ms(n: number | null | undefined): string {
  return n === null || n === undefined ? '–' : `${num(n, n < 10 ? 2 : 1)} ms`;
}

export function ago(iso: string | undefined | null): string {
  if (!iso) return 'never';
  const sec = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (sec < 2) return 'just now';
  if (sec < 90) return `${sec} s ago`;
  if (sec < 5400) return `${Math.round(sec / 60)} min ago`;
  return new Date(iso).toLocaleString();
}

export function table(head: Array<string | [string, string]>, rows: Node[]): HTMLTableElement {
  return h('table', {},
    h('thead', {}, h('tr', {}, ...head.map((c) => (Array.isArray(c) ? h('th', { class: c[1] }, c[0]) : h('th', {}, c))))),
    h('tbody', {}, ...rows));
}
