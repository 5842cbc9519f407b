// create, update, patch, delete and deletecollection.
import type { IncomingMessage } from 'node:http';
import { ApiError, badRequest } from '../errors.js';
import { isObject, type Json, type JsonObject } from '../patch.js';
import { apiVersionOf, grKey } from '../resources.js';
import type { DeleteOptions } from '../rest.js';
import { readJson } from '../store.js';
import { checkContentType, parseJsonBody, patchTypes, mediaType, readBody, readObjectBody } from './body.js';
import { nameOf, sendWritten, type ResourceRequest } from './context.js';
import { send } from './respond.js';
import { queryBool } from './paths.js';

export async function serveCreate(r: ResourceRequest): Promise<void> {
  checkContentType(r.req);
  const body = await readObjectBody(r.req, r.deps.maxBodyBytes);
  const obj = r.deps.rest.create(r.def, r.target.version, r.ns, body, r.write, true);
  sendWritten(r, 201, obj);
}

export async function serveUpdate(r: ResourceRequest): Promise<void> {
  checkContentType(r.req);
  const body = await readObjectBody(r.req, r.deps.maxBodyBytes);
  const sub = r.target.subresource === 'finalize' ? undefined : r.target.subresource;
  const obj = r.deps.rest.update(r.def, r.target.version, r.ns, nameOf(r), body, r.write, sub, true);
  sendWritten(r, 200, obj);
}

export async function servePatch(r: ResourceRequest): Promise<void> {
  const type = patchTypes[mediaType(r.req)];
  if (!type) {
    r.req.resume();
    throw new ApiError('UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${Object.keys(patchTypes).join(', ')}`);
  }
  const { rest } = r.deps;
  const raw = await readBody(r.req, r.deps.maxBodyBytes);
  const force = queryBool(r.query, 'force');
  const existed = rest.store.get(grKey(r.def.group, r.def.resource), r.ns, nameOf(r)) !== undefined;
  const obj = rest.patch(r.def, r.target.version, r.ns, nameOf(r), type, raw, r.write, { ...(r.target.subresource ? { subresource: r.target.subresource } : {}), force });
  sendWritten(r, existed ? 200 : 201, obj);
}

export async function serveDelete(r: ResourceRequest): Promise<void> {
  const opts = await deleteOptions(r.req, r.query, r.deps.maxBodyBytes);
  const obj = r.deps.rest.delete(r.def, r.target.version, r.ns, nameOf(r), opts, { ...r.write, dryRun: r.write.dryRun || opts.dryRun });
  sendWritten(r, 200, obj);
}

export async function serveDeleteCollection(r: ResourceRequest): Promise<void> {
  const { rest } = r.deps;
  const { def, query: q } = r;
  const opts = await deleteOptions(r.req, q, r.deps.maxBodyBytes);
  const items = rest.deleteCollection(def, r.target.version, r.ns, { labelSelector: q.get('labelSelector'), fieldSelector: q.get('fieldSelector') }, opts, { ...r.write, dryRun: r.write.dryRun || opts.dryRun });
  send(r.res, 200, `{"kind":"${def.listKind ?? `${def.kind}List`}","apiVersion":"${apiVersionOf(def.group, r.target.version)}","metadata":{"resourceVersion":"${rest.store.resourceVersion}"},"items":[${items.map((x) => readJson(x)).join(',')}]}`);
}

/** DeleteOptions from the body (optional) and the query, which wins. */
async function deleteOptions(req: IncomingMessage, q: URLSearchParams, limit: number): Promise<DeleteOptions & { dryRun: boolean }> {
  const text = await readBody(req, limit);
  let body: JsonObject = {};
  if (text.trim() !== '') {
    const b = parseJsonBody(text);
    if (!isObject(b as Json)) throw badRequest('DeleteOptions must be a JSON object');
    body = b as JsonObject;
  }
  const policy = (q.get('propagationPolicy') ?? body['propagationPolicy'] ?? undefined) as string | undefined;
  if (policy !== undefined && policy !== null && !['Foreground', 'Background', 'Orphan'].includes(policy)) throw badRequest(`propagationPolicy: Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan"`);
  const orphan = body['orphanDependents'] === true || queryBool(q, 'orphanDependents');
  const pre = isObject(body['preconditions']) ? (body['preconditions'] as { uid?: string; resourceVersion?: string }) : undefined;
  const dry = Array.isArray(body['dryRun']) && (body['dryRun'] as Json[]).includes('All');
  const graceRaw = q.get('gracePeriodSeconds') ?? body['gracePeriodSeconds'];
  const grace = graceRaw === undefined || graceRaw === null ? undefined : Number(graceRaw);
  if (grace !== undefined && (!Number.isInteger(grace) || grace < 0)) throw badRequest(`gracePeriodSeconds must be a non-negative integer, got ${JSON.stringify(graceRaw)}`);
  return {
    ...(policy ? { propagationPolicy: policy as DeleteOptions['propagationPolicy'] } : orphan ? { propagationPolicy: 'Orphan' as const } : {}),
    ...(pre ? { preconditions: pre } : {}),
    ...(grace !== undefined ? { gracePeriodSeconds: grace } : {}),
    dryRun: dry,
  };
}
