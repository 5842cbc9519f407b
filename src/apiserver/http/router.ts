// The request router: health, authentication (and impersonation), path parsing, authorization, then the
// handler for the verb or subresource. Handlers get one typed ResourceRequest.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { UserInfo } from '../auth/types.js';
import { ApiError, badRequest } from '../errors.js';
import type { ResourceDef } from '../resources.js';
import type { WriteContext } from '../rest.js';
import { serveAuthEndpoint } from './auth-endpoints.js';
import { authorize, methodNotAllowed, type ResourceRequest, type ServerDeps } from './context.js';
import { serveNonResource } from './nonresource.js';
import { parsePath, queryBool, verbOf, type ResourcePath } from './paths.js';
import { servePodLog } from './pod-log.js';
import { servePodProxy } from './pod-proxy.js';
import { serveGet, serveList } from './read.js';
import { serveScale } from './scale.js';
import { serveWatch } from './watch.js';
import { serveCreate, serveDelete, serveDeleteCollection, servePatch, serveUpdate } from './write.js';

type Handler = (r: ResourceRequest) => void | Promise<void>;

const byVerb: Record<string, Handler> = {
  get: serveGet,
  list: serveList,
  watch: serveWatch,
  create: serveCreate,
  update: serveUpdate,
  patch: servePatch,
  delete: serveDelete,
  deletecollection: serveDeleteCollection,
};

const bySubresource: Record<string, Handler> = {
  scale: serveScale,
  proxy: servePodProxy,
  log: servePodLog,
  exec: upgradeRequired,
  attach: upgradeRequired,
  portforward: upgradeRequired,
};

function upgradeRequired(r: ResourceRequest): void {
  r.req.resume();
  throw badRequest(`${r.def.resource}/${r.target.subresource ?? ''} needs a connection upgrade (WebSocket or SPDY/3.1)`);
}

function isHealthPath(path: string): boolean {
  return path === '/healthz' || path === '/livez' || path === '/readyz' || path.startsWith('/healthz/') || path.startsWith('/livez/') || path.startsWith('/readyz/');
}

export function authenticate(deps: ServerDeps, req: IncomingMessage): UserInfo {
  const auth = req.headers['authorization'] ?? '';
  const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
  const requester = m ? deps.security.authenticator.authenticate(m[1]) : undefined;
  if (!requester) {
    req.resume();
    throw new ApiError('Unauthorized', 'Unauthorized');
  }
  // `kubectl --as`: the request runs as the impersonated user once the requester may impersonate it.
  return deps.security.impersonate ? deps.security.impersonate(requester, req.headers) : requester;
}

export function pathSegments(path: string): string[] {
  try {
    return path.split('/').filter((s) => s !== '').map((s) => decodeURIComponent(s));
  } catch {
    throw badRequest(`malformed percent-encoding in the request path`);
  }
}

const notServed = (): ApiError => new ApiError('NotFound', 'the server could not find the requested resource');

/** The resource the path names, checked against its scope and subresources. */
export function resolveResource(deps: ServerDeps, parsed: ResourcePath, verb: string): ResourceDef {
  const def = deps.rest.registry.lookup(parsed.group, parsed.version, parsed.resource);
  if (!def) throw notServed();
  if (!def.namespaced && parsed.namespace !== undefined && parsed.resource !== 'namespaces') throw notServed();
  if (def.namespaced && parsed.namespace === undefined && (parsed.name !== undefined || (verb !== 'list' && verb !== 'watch'))) throw notServed();
  if (parsed.subresource !== undefined && !def.subresources.includes(parsed.subresource)) throw notServed();
  return def;
}

export function writeContext(req: IncomingMessage, q: URLSearchParams, user: UserInfo): WriteContext {
  const fv = q.get('fieldValidation');
  if (fv !== null && fv !== 'Strict' && fv !== 'Warn' && fv !== 'Ignore') throw badRequest(`fieldValidation: Unsupported value: "${fv}": supported values: "Ignore", "Strict", "Warn"`);
  return {
    user,
    manager: q.get('fieldManager') ?? (String(req.headers['user-agent'] ?? 'unknown').split('/')[0] || 'unknown'),
    dryRun: q.getAll('dryRun').includes('All'),
    fieldValidation: fv ?? 'Warn',
    warnings: [],
  };
}

export async function route(deps: ServerDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'https://apiserver');
  } catch {
    throw badRequest(`malformed request URL`);
  }
  const path = url.pathname.replace(/\/+$/, '') || '/';
  const method = (req.method ?? 'GET').toUpperCase();
  if (isHealthPath(path)) {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('ok');
    return;
  }
  const user = authenticate(deps, req);
  const parsed = parsePath(pathSegments(path));
  if (!parsed || 'discovery' in parsed) {
    authorize(deps.security, { user, verb: method.toLowerCase(), resourceRequest: false, apiGroup: '', resource: '', subresource: '', namespace: '', name: '', path });
    if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed();
    return serveNonResource(deps, req, res, path, parsed);
  }
  const q = url.searchParams;
  const verb = verbOf(method, parsed, parsed.watchPath || queryBool(q, 'watch'));
  const def = resolveResource(deps, parsed, verb);
  authorize(deps.security, { user, verb, resourceRequest: true, apiGroup: def.group, resource: def.resource, subresource: parsed.subresource ?? '', namespace: parsed.namespace ?? '', name: parsed.name ?? '', path });
  const r: ResourceRequest = { deps, req, res, method, path, query: q, search: url.search, user, def, target: parsed, ns: def.namespaced ? parsed.namespace : undefined, verb, write: writeContext(req, q, user) };
  return dispatch(r);
}

function dispatch(r: ResourceRequest): void | Promise<void> {
  const { target: p, verb, method } = r;
  if (r.def.virtual || p.subresource === 'token') return serveAuthEndpoint(r);
  // Subresources with a handler of their own check their methods themselves.
  const sub = p.subresource !== undefined ? bySubresource[p.subresource] : undefined;
  if (sub) return sub(r);
  if ((verb === 'create' && p.name !== undefined) || ((verb === 'update' || verb === 'patch') && p.name === undefined)) {
    r.req.resume();
    throw methodNotAllowed(`${method} is not supported on this path`);
  }
  if (p.subresource === 'finalize' && method !== 'PUT') throw methodNotAllowed('finalize accepts PUT only');
  const handler = byVerb[verb];
  if (!handler) throw methodNotAllowed();
  return handler(r);
}
