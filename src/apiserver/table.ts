// `Accept: application/json;as=Table;g=meta.k8s.io;v=v1` — the server-side printing kubectl asks for.
import { isObject, type Json, type JsonObject } from './patch.js';
import type { ResourceDef } from './resources.js';
import type { Obj } from './store.js';
import { age, ageCol, builtinColumns, nameCol, type Col } from './table-columns.js';

export function wantsTable(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(',').some((part) => {
    const p = part.replace(/\s+/g, '');
    return p.includes('as=Table') && p.includes('g=meta.k8s.io') && p.includes('v=v1') && !p.includes('v=v1beta1');
  });
}

/**
 * The JSONPath subset CRD printer columns use: `.a.b`, `.a[0].b`, and `.a[?(@.k=="v")].b`.
 */
export function simpleJsonPath(o: Json, path: string): Json | undefined {
  const tokens = path.replace(/^\./, '').match(/[^.[\]]+|\[[^\]]*\]/g) ?? [];
  let cur: Json | undefined = o;
  for (const t of tokens) {
    if (cur === undefined || cur === null) return undefined;
    if (t.startsWith('[')) {
      const inner = t.slice(1, -1);
      const filter = /^\?\(@\.([\w.-]+)\s*==\s*["']?([^"')]*)["']?\)$/.exec(inner);
      if (!Array.isArray(cur)) return undefined;
      if (filter) {
        const [, key, value] = filter;
        cur = cur.find((x) => isObject(x) && String(x[key]) === value);
      } else cur = cur[Number(inner)];
    } else cur = isObject(cur) ? cur[t] : undefined;
  }
  return cur;
}

function columns(def: ResourceDef, version: string): Col[] {
  const custom = def.printerColumns?.[version];
  if (custom && custom.length) {
    const cols: Col[] = [nameCol];
    for (const c of custom) {
      const isAge = c.type === 'date';
      cols.push({ name: c.name, type: isAge ? 'string' : c.type, priority: c.priority, cell: (o) => { const v = simpleJsonPath(o as unknown as Json, c.jsonPath); return isAge ? age(v) : v === undefined ? null : isObject(v) || Array.isArray(v) ? JSON.stringify(v) : v; } });
    }
    if (!custom.some((c) => c.jsonPath === '.metadata.creationTimestamp')) cols.push(ageCol);
    return cols;
  }
  return builtinColumns[`${def.group}/${def.resource}`] ?? [nameCol, ageCol];
}

/** A meta.k8s.io/v1 Table of `objs`, with PartialObjectMetadata rows (kubectl needs only metadata). */
export function renderTable(def: ResourceDef, objs: Obj[], resourceVersion: string, continueToken?: string): JsonObject {
  const version = objs[0]?.apiVersion.split('/').pop() ?? def.versions[0];
  const cols = columns(def, version);
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion, ...(continueToken ? { continue: continueToken } : {}) },
    columnDefinitions: cols.map((c) => ({ name: c.name, type: c.type, format: c.format ?? '', description: '', priority: c.priority ?? 0 })),
    rows: objs.map((o) => ({
      cells: cols.map((c) => c.cell(o)),
      object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata as unknown as JsonObject },
    })),
  };
}
