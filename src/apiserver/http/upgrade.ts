// Upgrade requests (WebSocket, SPDY/3.1): pods/exec, pods/attach and pods/portforward. Authenticated and authorized as
// every request (verb `create` on the subresource, as kube-apiserver checks for WebSocket upgrades too),
// then handed to the protocol. A refusal before the upgrade is an HTTP answer with a Status body.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { ApiError, badRequest, toStatus } from '../errors.js';
import { authorize, type ServerDeps, type UpgradeRequest } from './context.js';
import { serveAttachUpgrade } from './attach.js';
import { serveExecUpgrade } from './exec.js';
import { parsePath } from './paths.js';
import { servePortForwardUpgrade } from './portforward.js';
import { authenticate, pathSegments, resolveResource, writeContext } from './router.js';

const upgradable = new Set(['exec', 'attach', 'portforward']);

export function refuseUpgrade(socket: Duplex, err: unknown): void {
  const st = toStatus(err);
  const body = JSON.stringify(st);
  if (!socket.writable) return void socket.destroy();
  socket.end(`HTTP/1.1 ${st.code} ${st.reason || 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

export async function routeUpgrade(deps: ServerDeps, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'https://apiserver');
  } catch {
    throw badRequest('malformed request URL');
  }
  const path = url.pathname.replace(/\/+$/, '') || '/';
  const user = authenticate(deps, req);
  const parsed = parsePath(pathSegments(path));
  const sub = parsed && !('discovery' in parsed) ? parsed.subresource : undefined;
  if (!parsed || 'discovery' in parsed || sub === undefined || !upgradable.has(sub)) {
    throw new ApiError('BadRequest', `the server does not upgrade connections for ${path} (pods/exec, pods/attach and pods/portforward only)`);
  }
  const verb = 'create';
  const def = resolveResource(deps, parsed, verb);
  authorize(deps.security, { user, verb, resourceRequest: true, apiGroup: def.group, resource: def.resource, subresource: sub, namespace: parsed.namespace ?? '', name: parsed.name ?? '', path });
  const q = url.searchParams;
  const r: UpgradeRequest = { deps, req, method: (req.method ?? 'GET').toUpperCase(), path, query: q, search: url.search, user, def, target: parsed, ns: parsed.namespace, verb, write: writeContext(req, q, user) };
  if (parsed.subresource === 'exec') return serveExecUpgrade(r, socket, head);
  if (parsed.subresource === 'attach') return serveAttachUpgrade(r, socket, head);
  return servePortForwardUpgrade(r, socket, head);
}
