// Non-resource paths: /version, discovery (/api, /apis, …), OpenAPI, and the root path list.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { versionInfo } from '../discovery.js';
import { ApiError, toStatus } from '../errors.js';
import type { ServerDeps } from './context.js';
import type { DiscoveryPath } from './paths.js';
import { send, sendBytes } from './respond.js';
import { OPENAPI_V2_PROTOBUF, OPENAPI_V2_PROTOBUF_CONTENT_TYPE } from '../openapi/v2-protobuf.js';

/** Either spelling of the protobuf media type (`…spec.v2@v1.0+protobuf`, `…spec.v2.v1.0+protobuf`). */
const OPENAPI_V2_PROTOBUF_PREFIX = 'application/com.github.proto-openapi.spec.v2';

export async function serveNonResource(deps: ServerDeps, req: IncomingMessage, res: ServerResponse, path: string, parsed: DiscoveryPath | undefined): Promise<void> {
  const { openapi } = deps;
  if (path === '/version') return send(res, 200, JSON.stringify(versionInfo));
  if (path === '/openapi/v2' || path === '/swagger.json') {
    // JSON, or gnostic protobuf (kubectl up to 1.28 asks for nothing else); the first one the client lists.
    const wanted = String(req.headers['accept'] ?? '*/*').split(',').map((t) => t.split(';')[0]!.trim());
    const first = wanted.find((t) => t.startsWith(OPENAPI_V2_PROTOBUF_PREFIX) || /^(application\/json|application\/\*|\*\/\*)$/.test(t));
    if (first === undefined) return send(res, 406, JSON.stringify(toStatus(new ApiError('NotAcceptable', `OpenAPI v2 is served as application/json or ${OPENAPI_V2_PROTOBUF}`))));
    if (first.startsWith(OPENAPI_V2_PROTOBUF_PREFIX)) return sendBytes(res, 200, OPENAPI_V2_PROTOBUF_CONTENT_TYPE, openapi.v2Protobuf());
    return send(res, 200, openapi.v2());
  }
  if (path === '/openapi/v3') return send(res, 200, openapi.root());
  if (path.startsWith('/openapi/v3/')) {
    const doc = openapi.gv(path.slice('/openapi/v3/'.length));
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
