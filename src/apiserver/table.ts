// `Accept: application/json;as=Table;g=meta.k8s.io;v=v1` — the server-side printing kubectl asks for.
import { isObject, type Json, type JsonObject } from './patch.js';
import type { ResourceDef } from './resources.js';
import type { Obj } from './store.js';

export function wantsTable(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(',').some((part) => {
    const p = part.replace(/\s+/g, '');
    return p.includes('as=Table') && p.includes('g=meta.k8s.io') && p.includes('v=v1') && !p.includes('v=v1beta1');
  });
}

function age(ts: unknown): string {
  if (typeof ts !== 'string') return '<unknown>';
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(ts)) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

function get(o: Obj, ...path: string[]): Json | undefined {
  let cur: Json | undefined = o as unknown as Json;
  for (const p of path) cur = isObject(cur) ? cur[p] : undefined;
  return cur;
}

type Col = { name: string; type: string; format?: string; priority?: number; cell: (o: Obj) => Json };

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
  const name: Col = { name: 'Name', type: 'string', format: 'name', cell: (o) => o.metadata.name };
  const ageCol: Col = { name: 'Age', type: 'string', cell: (o) => age(o.metadata['creationTimestamp']) };
  const custom = def.printerColumns?.[version];
  if (custom && custom.length) {
    const cols: Col[] = [name];
    for (const c of custom) {
      const isAge = c.type === 'date';
      cols.push({ name: c.name, type: isAge ? 'string' : c.type, priority: c.priority, cell: (o) => { const v = simpleJsonPath(o as unknown as Json, c.jsonPath); return isAge ? age(v) : v === undefined ? null : isObject(v) || Array.isArray(v) ? JSON.stringify(v) : v; } });
    }
    if (!custom.some((c) => c.jsonPath === '.metadata.creationTimestamp')) cols.push(ageCol);
    return cols;
  }
  switch (`${def.group}/${def.resource}`) {
    case '/services':
      return [
        name,
        { name: 'Type', type: 'string', cell: (o) => (get(o, 'spec', 'type') as string) ?? 'ClusterIP' },
        { name: 'Cluster-IP', type: 'string', cell: (o) => (get(o, 'spec', 'clusterIP') as string) ?? '<none>' },
        { name: 'External-IP', type: 'string', cell: (o) => (get(o, 'spec', 'externalName') as string) ?? '<none>' },
        {
          name: 'Port(s)',
          type: 'string',
          cell: (o) => {
            const ps = get(o, 'spec', 'ports');
            if (!Array.isArray(ps) || ps.length === 0) return '<none>';
            return ps.map((p) => (isObject(p) ? `${String(p['port'])}${p['nodePort'] ? ':' + String(p['nodePort']) : ''}/${String(p['protocol'] ?? 'TCP')}` : '')).join(',');
          },
        },
        ageCol,
      ];
    case '/pods':
      return [name, { name: 'Status', type: 'string', cell: (o) => (get(o, 'status', 'phase') as string) ?? 'Pending' }, { name: 'IP', type: 'string', cell: (o) => (get(o, 'status', 'podIP') as string) ?? '<none>' }, ageCol];
    case '/namespaces':
      return [name, { name: 'Status', type: 'string', cell: (o) => (get(o, 'status', 'phase') as string) ?? 'Active' }, ageCol];
    case 'apps/deployments':
    case 'apps/statefulsets':
      return [name, { name: 'Ready', type: 'string', cell: (o) => `${Number(get(o, 'status', 'readyReplicas') ?? 0)}/${Number(get(o, 'spec', 'replicas') ?? 0)}` }, ageCol];
    case 'discovery.k8s.io/endpointslices':
      return [
        name,
        { name: 'AddressType', type: 'string', cell: (o) => (o['addressType'] as string) ?? '' },
        { name: 'Ports', type: 'string', cell: (o) => (Array.isArray(o['ports']) ? (o['ports'] as Json[]).map((p) => (isObject(p) ? String(p['port']) : '')).join(',') : '<unset>') || '<unset>' },
        { name: 'Endpoints', type: 'string', cell: (o) => (Array.isArray(o['endpoints']) ? (o['endpoints'] as Json[]).flatMap((e) => (isObject(e) && Array.isArray(e['addresses']) ? e['addresses'] : [])).join(',') : '') || '<unset>' },
        ageCol,
      ];
    case '/secrets':
      return [name, { name: 'Type', type: 'string', cell: (o) => (o['type'] as string) ?? 'Opaque' }, { name: 'Data', type: 'integer', cell: (o) => (isObject(o['data'] as Json) ? Object.keys(o['data'] as JsonObject).length : 0) }, ageCol];
    case '/events':
      return [
        { name: 'Last Seen', type: 'string', cell: (o) => age(o['lastTimestamp'] ?? o['eventTime'] ?? o.metadata['creationTimestamp']) },
        { name: 'Type', type: 'string', cell: (o) => (o['type'] as string) ?? '' },
        { name: 'Reason', type: 'string', cell: (o) => (o['reason'] as string) ?? '' },
        { name: 'Object', type: 'string', cell: (o) => `${String(get(o, 'involvedObject', 'kind') ?? '').toLowerCase()}/${String(get(o, 'involvedObject', 'name') ?? '')}` },
        { name: 'Message', type: 'string', cell: (o) => (o['message'] as string) ?? '' },
        { ...name, priority: 1 },
      ];
    case '/endpoints':
      return [
        name,
        {
          name: 'Endpoints',
          type: 'string',
          cell: (o) => {
            const subsets = Array.isArray(o['subsets']) ? (o['subsets'] as Json[]) : [];
            const eps = subsets.flatMap((ss) => {
              if (!isObject(ss)) return [];
              const ips = Array.isArray(ss['addresses']) ? ss['addresses'].map((a) => (isObject(a) ? String(a['ip']) : '')) : [];
              const ports = Array.isArray(ss['ports']) && ss['ports'].length ? ss['ports'].map((p) => (isObject(p) ? String(p['port']) : '')) : [''];
              return ips.flatMap((ip) => ports.map((p) => (p ? `${ip}:${p}` : ip)));
            });
            return eps.length ? eps.join(',') : '<none>';
          },
        },
        ageCol,
      ];
    case 'apiextensions.k8s.io/customresourcedefinitions':
      return [name, { name: 'Created At', type: 'date', cell: (o) => (o.metadata['creationTimestamp'] as string) ?? '' }];
    case 'coordination.k8s.io/leases':
      return [name, { name: 'Holder', type: 'string', cell: (o) => (get(o, 'spec', 'holderIdentity') as string) ?? '' }, ageCol];
    case '/configmaps':
      return [name, { name: 'Data', type: 'integer', cell: (o) => (isObject(o['data'] as Json) ? Object.keys(o['data'] as JsonObject).length : 0) }, ageCol];
    default:
      return [name, ageCol];
  }
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
