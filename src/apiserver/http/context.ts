// What every handler gets: the server's shared parts, and one typed context per resource request.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../log/index.js';
import type { RequestAttributes, Security, UserInfo } from '../auth/types.js';
import type { Discovery } from '../discovery.js';
import type { OpenApi } from '../openapi/openapi.js';
import { ApiError } from '../errors.js';
import type { ResourceDef } from '../resources.js';
import type { Rest, WriteContext } from '../rest.js';
import type { Obj } from '../store.js';
import { dropJson, objJson } from '../store.js';
import type { PodStreams } from './pod-streams.js';
import type { ResourcePath } from './paths.js';
import { send } from './respond.js';
import type { WatchHub } from './watch.js';

/** The parts of the server that live as long as it does. */
export interface ServerDeps {
  rest: Rest;
  security: Security;
  log: Logger;
  /** Largest request body accepted (413 above). */
  maxBodyBytes: number;
  discovery: Discovery;
  openapi: OpenApi;
  watches: WatchHub;
  /** Where pods/log, pods/exec and pods/portforward go (the sandbox kubelet); absent: 400, as for an unscheduled pod. */
  podStreams?: PodStreams;
}

/** One authenticated, authorized request for a resource (or one of its subresources). */
export interface ResourceRequest {
  deps: ServerDeps;
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  /** The URL's path without trailing slashes. */
  path: string;
  query: URLSearchParams;
  /** The query string with its `?` (or ''), for requests passed on. */
  search: string;
  user: UserInfo;
  def: ResourceDef;
  target: ResourcePath;
  /** The namespace, for namespaced resources only. */
  ns: string | undefined;
  verb: string;
  write: WriteContext;
}

/** A request upgraded to WebSocket or SPDY (pods/exec, pods/portforward): the socket is the answer, not an HTTP response. */
export type UpgradeRequest = Omit<ResourceRequest, 'res'>;

/** Kubernetes reports non-fatal problems (unknown fields under fieldValidation=Warn) as Warning headers. */
export function sendWritten(r: ResourceRequest, code: number, obj: Obj): void {
  const warnings = r.write.warnings ?? [];
  if (warnings.length) r.res.setHeader('Warning', warnings.map((w) => `299 - ${JSON.stringify(w)}`));
  send(r.res, code, objJson(obj));
  dropJson(obj);
}

/** The name a request names (the router checked that it names one for verbs that need it). */
export function nameOf(r: ResourceRequest): string {
  return r.target.name ?? '';
}

/** Throws Kubernetes' 403 Status when the authorizer denies the request. */
export function authorize(security: Security, attrs: RequestAttributes): void {
  const d = security.authorizer.authorize(attrs);
  if (d.allowed) return;
  const what = attrs.resourceRequest
    ? `${attrs.resource}${attrs.apiGroup ? '.' + attrs.apiGroup : ''}${attrs.name ? ` "${attrs.name}"` : ''} is forbidden: User "${attrs.user.username}" cannot ${attrs.verb} resource "${attrs.resource}${attrs.subresource ? '/' + attrs.subresource : ''}" in API group "${attrs.apiGroup}"${attrs.namespace ? ` in the namespace "${attrs.namespace}"` : ' at the cluster scope'}`
    : `forbidden: User "${attrs.user.username}" cannot ${attrs.verb} path "${attrs.path}"`;
  throw new ApiError('Forbidden', d.reason ? `${what}: ${d.reason}` : what, attrs.resourceRequest ? { ...(attrs.name ? { name: attrs.name } : {}), group: attrs.apiGroup, kind: attrs.resource } : {});
}

export function methodNotAllowed(message = 'the server does not allow this method on the requested resource'): ApiError {
  return new ApiError('MethodNotAllowed', message);
}

export type { ResourceDef, UserInfo };
