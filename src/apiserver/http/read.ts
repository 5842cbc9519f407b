// get and list: JSON objects and lists, or server-side Tables when kubectl asks for them.
import type { JsonObject } from '../patch.js';
import { apiVersionOf } from '../resources.js';
import { readJson } from '../store.js';
import { renderTable, wantsTable } from '../table.js';
import { nameOf, type ResourceRequest } from './context.js';
import { send } from './respond.js';

export function serveGet(r: ResourceRequest): void {
  const { rest } = r.deps;
  const obj = rest.get(r.def, r.target.version, r.ns, nameOf(r));
  if (wantsTable(r.req.headers['accept'])) return send(r.res, 200, JSON.stringify(renderTable(r.def, [obj], String(rest.store.resourceVersion))));
  send(r.res, 200, readJson(obj));
}

export function serveList(r: ResourceRequest): void {
  const { rest } = r.deps;
  const { def, query: q } = r;
  const version = r.target.version;
  const l = rest.list(def, r.ns, { labelSelector: q.get('labelSelector'), fieldSelector: q.get('fieldSelector'), limit: Number(q.get('limit') ?? '0') || 0, continueToken: q.get('continue') });
  if (wantsTable(r.req.headers['accept'])) {
    const t = renderTable(def, l.items.map((x) => rest.view(def, version, x)), l.resourceVersion, l.continueToken);
    return send(r.res, 200, JSON.stringify(t));
  }
  const meta: JsonObject = { resourceVersion: l.resourceVersion };
  if (l.continueToken) meta['continue'] = l.continueToken;
  if (l.remaining !== undefined) meta['remainingItemCount'] = l.remaining;
  const items = l.items.map((x) => readJson(rest.view(def, version, x)));
  const kind = def.listKind ?? `${def.kind}List`;
  send(r.res, 200, `{"kind":"${kind}","apiVersion":"${apiVersionOf(def.group, version)}","metadata":${JSON.stringify(meta)},"items":[${items.join(',')}]}`);
}
