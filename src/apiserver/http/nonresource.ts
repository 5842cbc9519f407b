// Non-resource paths: /version, discovery (/api, /apis, …), OpenAPI, and the root path list.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { versionInfo } from '../discovery.js';
import { ApiError, toStatus } from '../errors.js';
import type { ServerDeps } from './context.js';
import type { DiscoveryPath } from './paths.js';
import { send } from './respond.js';

export async function serveNonResource(deps: ServerDeps, req: IncomingMessage, res: ServerResponse, path: string, parsed: DiscoveryPath | undefined): Promise<void> {
  const { openapi } = deps;
  if (path === '/version') return send(res, 200, JSON.stringify(versionInfo));
  if (path === '/openapi/v2' || path === '/swagger.json') {
    // JSON only: a client that accepts nothing but the protobuf encoding gets 406 (client-go then tries its fallback).
    const accept = String(req.headers['accept'] ?? '');
    if (accept && !/application\/json|\*\/\*/.test(accept)) return send(res, 406, JSON.stringify(toStatus(new ApiError('NotAcceptable', 'only application/json is served for OpenAPI v2'))));
    return send(res, 200, await openapi.v2());
  }
  if (path === '/openapi/v3') return send(res, 200, openapi.root());
  if (path.startsWith('/openapi/v3/')) {
    const doc = await openapi.gv(path.slice('/openapi/v3/'.length));
    if (doc) return send(res, 200, doc);
  }
  const doc = parsed ? discoveryDoc(deps, parsed) : undefined;
  if (doc !== undefined) return send(res, 200, doc);
  if (path === '/') {
    return send(res, 200, JSON.stringify({ paths: ['/api', '/api/v1', '/apis', '/healthz', '/livez', '/readyz', '/version', '/openapi/v2', '/openapi/v3'] }));
  }
  throw new ApiError('NotFound', 'the server could not find the requested resource');
}

function discoveryDoc({ discovery }: ServerDeps, parsed: DiscoveryPath): string | undefined {
  switch (parsed.discovery) {
    case 'api':
      return discovery.api();
    case 'apis':
      return discovery.apis();
    case 'group':
      return discovery.group(parsed.group);
    case 'list':
      return discovery.resources(parsed.group, parsed.version);
  }
}
