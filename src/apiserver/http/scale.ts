// The scale subresource: an autoscaling/v1 Scale view of a workload's spec.replicas (kubectl scale).
import { ApiError, badRequest } from '../errors.js';
import { applyJsonPatch, isObject, mergePatch, type Json, type JsonObject } from '../patch.js';
import type { Obj } from '../store.js';
import { checkContentType, mediaType, patchTypes, readBody, readObjectBody } from './body.js';
import { nameOf, type ResourceRequest } from './context.js';
import { send } from './respond.js';

function toScale(o: Obj): JsonObject {
  const spec = (o['spec'] as JsonObject | undefined) ?? {};
  const status = (o['status'] as JsonObject | undefined) ?? {};
  const sel = isObject(spec['selector']) && isObject(spec['selector']['matchLabels']) ? Object.entries(spec['selector']['matchLabels']).map(([k, v]) => `${k}=${String(v)}`).join(',') : '';
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: { name: o.metadata.name, namespace: o.metadata.namespace ?? '', uid: o.metadata.uid, resourceVersion: o.metadata.resourceVersion, creationTimestamp: (o.metadata['creationTimestamp'] as string) ?? null },
    spec: { replicas: typeof spec['replicas'] === 'number' ? spec['replicas'] : 0 },
    status: { replicas: typeof status['replicas'] === 'number' ? status['replicas'] : 0, selector: sel },
  };
}

/** The Scale a PUT or PATCH asks for. */
async function requestedScale(r: ResourceRequest, cur: Obj): Promise<Json> {
  if (r.verb === 'update') {
    checkContentType(r.req);
    return (await readObjectBody(r.req, r.deps.maxBodyBytes)) as Json;
  }
  if (r.verb !== 'patch') throw new ApiError('MethodNotAllowed', `${r.verb} is not supported on ${r.def.resource}/scale`);
  const type = patchTypes[mediaType(r.req)];
  if (!type || type === 'apply') throw new ApiError('UnsupportedMediaType', 'scale accepts merge, JSON and strategic merge patches');
  const raw = await readBody(r.req, r.deps.maxBodyBytes);
  let patch: Json;
  try {
    patch = JSON.parse(raw) as Json;
  } catch (e) {
    throw badRequest(`error decoding patch: ${e instanceof Error ? e.message : String(e)}`);
  }
  const base = toScale(cur);
  return type === 'json' ? applyJsonPatch(base, patch) : isObject(patch) ? mergePatch(base, patch) : patch;
}

export async function serveScale(r: ResourceRequest): Promise<void> {
  const { rest } = r.deps;
  const name = nameOf(r);
  const cur = rest.get(r.def, r.target.version, r.ns, name);
  if (r.verb === 'get') return send(r.res, 200, JSON.stringify(toScale(cur)));
  const next = await requestedScale(r, cur);
  const spec = isObject(next) && isObject(next['spec']) ? next['spec'] : undefined;
  const replicas = spec?.['replicas'];
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) throw new ApiError('Invalid', `Scale.autoscaling "${name}" is invalid: spec.replicas: Invalid value: ${JSON.stringify(replicas ?? null)}: must be greater than or equal to 0`);
  const meta = isObject(next) && isObject(next['metadata']) ? next['metadata'] : {};
  const rv = typeof meta['resourceVersion'] === 'string' && r.verb === 'update' ? meta['resourceVersion'] : undefined;
  const updated = rest.patch(r.def, r.target.version, r.ns, name, 'merge', JSON.stringify({ spec: { replicas }, ...(rv ? { metadata: { resourceVersion: rv } } : {}) }), r.write);
  send(r.res, 200, JSON.stringify(toScale(updated)));
}
