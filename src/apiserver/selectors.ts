// Label and field selectors as Kubernetes parses them: `a=b,c!=d,e in (x,y),f notin (z),g,!h`, and
// field selectors on metadata.name / metadata.namespace (plus a few per-type fields clients use).
import { badRequest } from './errors.js';

export type Requirement =
  | { key: string; op: 'eq' | 'neq'; value: string }
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | 'notexists' };

export type Selector = Requirement[];

/** Splits on commas that are not inside parentheses. */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((x) => x.trim()).filter((x) => x.length > 0);
}

const keyRe = /^([a-z0-9A-Z.\-_/]+)$/;

export function parseLabelSelector(s: string | null | undefined): Selector {
  if (!s) return [];
  const reqs: Selector = [];
  for (const part of splitTop(s)) {
    let m: RegExpMatchArray | null;
    if ((m = part.match(/^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/))) {
      const values = m[3].split(',').map((v) => v.trim()).filter((v) => v.length > 0);
      reqs.push({ key: checkKey(m[1], s), op: m[2] as 'in' | 'notin', values });
    } else if ((m = part.match(/^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/))) {
      reqs.push({ key: checkKey(m[1], s), op: m[2] === '!=' ? 'neq' : 'eq', value: m[3] });
    } else if ((m = part.match(/^!\s*(\S+)$/))) {
      reqs.push({ key: checkKey(m[1], s), op: 'notexists' });
    } else if ((m = part.match(/^(\S+)$/))) {
      reqs.push({ key: checkKey(m[1], s), op: 'exists' });
    } else {
      throw badRequest(`unable to parse requirement: found '${part}' in selector "${s}"`);
    }
  }
  return reqs;
}

function checkKey(k: string, s: string): string {
  if (!keyRe.test(k)) throw badRequest(`invalid label key "${k}" in selector "${s}"`);
  return k;
}

export function matchSelector(sel: Selector, labels: Record<string, string> | undefined): boolean {
  for (const r of sel) {
    const has = labels !== undefined && Object.prototype.hasOwnProperty.call(labels, r.key);
    const v = has ? labels[r.key] : undefined;
    switch (r.op) {
      case 'eq':
        if (v !== r.value) return false;
        break;
      case 'neq':
        if (v === r.value) return false;
        break;
      case 'in':
        if (v === undefined || !r.values.includes(v)) return false;
        break;
      case 'notin':
        if (v !== undefined && r.values.includes(v)) return false;
        break;
      case 'exists':
        if (!has) return false;
        break;
      case 'notexists':
        if (has) return false;
        break;
    }
  }
  return true;
}

export interface FieldRequirement {
  field: string;
  op: 'eq' | 'neq';
  value: string;
}

/** Fields every type supports, plus a few per-type ones kubectl and controllers use. */
const supportedFields = new Set(['metadata.name', 'metadata.namespace', 'spec.nodeName', 'status.phase', 'type', 'involvedObject.name', 'involvedObject.kind', 'involvedObject.namespace', 'involvedObject.uid', 'spec.serviceAccountName']);

export function parseFieldSelector(s: string | null | undefined): FieldRequirement[] {
  if (!s) return [];
  const out: FieldRequirement[] = [];
  for (const part of splitTop(s)) {
    const m = part.match(/^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/);
    if (!m) throw badRequest(`invalid field selector: "${part}"`);
    if (!supportedFields.has(m[1])) throw badRequest(`field label not supported: ${m[1]}`);
    out.push({ field: m[1], op: m[2] === '!=' ? 'neq' : 'eq', value: m[3].trim() });
  }
  return out;
}

function fieldValue(obj: Record<string, unknown>, path: string): string {
  let cur: unknown = obj;
  for (const p of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return '';
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur === undefined || cur === null ? '' : String(cur);
}

export function matchFields(reqs: FieldRequirement[], obj: Record<string, unknown>): boolean {
  for (const r of reqs) {
    const v = fieldValue(obj, r.field);
    if (r.op === 'eq' ? v !== r.value : v === r.value) return false;
  }
  return true;
}
