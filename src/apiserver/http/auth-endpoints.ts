// Create-only endpoints the security module answers: TokenRequest (serviceaccounts/token) and the reviews.
import { ApiError, notFound } from '../errors.js';
import { checkContentType, mediaType, parseJsonBody, protobufType, readBody, readBytes } from './body.js';
import type { ResourceRequest } from './context.js';
import { send } from './respond.js';

export async function serveAuthEndpoint(r: ResourceRequest): Promise<void> {
  const { req, method, def, target: p } = r;
  if (method !== 'POST') throw new ApiError('MethodNotAllowed', `${method} is not supported on ${def.resource}${p.subresource ? '/' + p.subresource : ''}`);
  // kubectl (1.32+) sends TokenRequest and the reviews as protobuf: the security module decodes its
  // own kinds from the raw bytes (auth/protobuf.ts).
  const proto = mediaType(req) === protobufType;
  if (!proto) checkContentType(req);
  const body = proto ? await readBytes(req, r.deps.maxBodyBytes) : parseJsonBody(await readBody(req, r.deps.maxBodyBytes));
  send(r.res, 201, JSON.stringify(answer(r, body)));
}

function answer(r: ResourceRequest, body: unknown): unknown {
  const h = r.deps.security.handlers;
  const { def, target: p, user } = r;
  if (p.subresource === 'token') return h.tokenRequest(p.namespace ?? '', p.name ?? '', body, user);
  switch (def.resource) {
    case 'tokenreviews':
      return h.tokenReview(body, user);
    case 'selfsubjectreviews':
      return h.selfSubjectReview(body, user);
    case 'selfsubjectaccessreviews':
      return h.selfSubjectAccessReview(body, user);
    case 'subjectaccessreviews':
      return h.subjectAccessReview(body, user);
    case 'selfsubjectrulesreviews':
      if (h.selfSubjectRulesReview) return h.selfSubjectRulesReview(body, user);
      throw new ApiError('NotFound', 'the server could not find the requested resource');
    default:
      throw notFound(def.resource, def.group, p.name ?? '');
  }
}
