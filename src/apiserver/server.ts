// The HTTPS front: routing of Kubernetes REST paths, authentication and authorization through the
// security seam, body limits and content types, Status errors, discovery, and streaming watches.
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log/index.js';
import type { RequestAttributes, Security, UserInfo } from './auth/types.js';
import { createDiscovery, createOpenApi, versionInfo } from './discovery.js';
import { ApiError, badRequest, gone, notFound, toStatus } from './errors.js';
import { applyJsonPatch, isObject, mergePatch, type Json, type JsonObject } from './patch.js';
import { apiVersionOf, grKey, type ResourceDef } from './resources.js';
import type { DeleteOptions, PatchType, Rest, WriteContext } from './rest.js';
import { matchFields, matchSelector, parseFieldSelector, parseLabelSelector } from './selectors.js';
import { dropJson, objJson, readJson, type EventType, type Obj, type StoreEvent } from './store.js';
import { renderTable, wantsTable } from './table.js';
import { decodeKubeProtobuf } from './protobuf.js';
import { parse as parseYaml } from 'yaml';

export interface ServerOptions {
  certPem: string;
  keyPem: string;
  security: Security;
  rest: Rest;
  log: Logger;
  /** Largest request body accepted (413 above). */
  maxBodyBytes: number;
  /** How often watches that asked for bookmarks get one. */
  bookmarkIntervalMs: number;
}

interface ResourcePath {
  group: string;
  version: string;
  namespace?: string;
  resource: string;
  name?: string;
  subresource?: string;
  /** For `pods/{name}/proxy/{path}`: the path to ask the pod for. */
  proxyPath?: string;
  watchPath: boolean;
}

const jsonHeaders = { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' };

function send(res: ServerResponse, code: number, body: string): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(code, { ...jsonHeaders, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function sendError(res: ServerResponse, err: unknown): void {
  const st = toStatus(err);
  send(res, st.code, JSON.stringify(st));
}

function parsePath(segs: string[]): ResourcePath | { discovery: 'api' | 'apis' | 'group' | 'list'; group: string; version: string } | undefined {
  let group = '';
  let version: string;
  let rest: string[];
  if (segs[0] === 'api') {
    if (segs.length === 1) return { discovery: 'api', group: '', version: '' };
    version = segs[1];
    rest = segs.slice(2);
  } else if (segs[0] === 'apis') {
    if (segs.length === 1) return { discovery: 'apis', group: '', version: '' };
    group = segs[1];
    if (segs.length === 2) return { discovery: 'group', group, version: '' };
    version = segs[2];
    rest = segs.slice(3);
  } else return undefined;
  if (rest.length === 0) return { discovery: 'list', group, version };
  let watchPath = false;
  if (rest[0] === 'watch') {
    watchPath = true;
    rest = rest.slice(1);
  }
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 2) {
    if (rest.length === 2 || (rest.length === 3 && (rest[2] === 'status' || rest[2] === 'finalize'))) {
      return { group, version, resource: 'namespaces', name: rest[1], ...(rest[2] ? { subresource: rest[2] } : {}), watchPath, namespace: rest[1] };
    }
    namespace = rest[1];
    rest = rest.slice(2);
  }
  // pods/{name}/proxy/{path...}: the one subresource with a path of its own.
  if (rest.length >= 3 && rest[0] === 'pods' && rest[2] === 'proxy' && namespace !== undefined) {
    return { group, version, resource: 'pods', name: rest[1], subresource: 'proxy', proxyPath: '/' + rest.slice(3).join('/'), namespace, watchPath };
  }
  if (rest.length === 0 || rest.length > 3) return undefined;
  return { group, version, resource: rest[0], ...(rest[1] !== undefined ? { name: rest[1] } : {}), ...(rest[2] !== undefined ? { subresource: rest[2] } : {}), ...(namespace !== undefined ? { namespace } : {}), watchPath };
}

const patchTypes: Record<string, PatchType> = {
  'application/merge-patch+json': 'merge',
  'application/json-patch+json': 'json',
  'application/strategic-merge-patch+json': 'strategic',
  'application/apply-patch+yaml': 'apply',
  'application/apply-patch+json': 'apply',
};

function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return readBytes(req, limit).then((b) => b.toString('utf8'));
}

function readBytes(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const len = Number(req.headers['content-length'] ?? '0');
    const tooLarge = () => new ApiError('RequestEntityTooLarge', `the request body is larger than the ${limit} bytes the server accepts`);
    if (len > limit) {
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        reject(tooLarge());
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on('error', (e) => {
      if (!failed) reject(e);
    });
  });
}

const protobufType = 'application/vnd.kubernetes.protobuf';

/** A POST/PUT body: JSON, or the protobuf kubectl's typed clients send. */
async function readObjectBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const raw = await readBytes(req, limit);
  if (mediaType(req) === protobufType) return decodeKubeProtobuf(raw);
  if (mediaType(req) === 'application/yaml') {
    try {
      return parseYaml(raw.toString('utf8')) as unknown;
    } catch (e) {
      throw badRequest(`error decoding the request body as YAML: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
    }
  }
  return parseJsonBody(raw.toString('utf8'));
}

function parseJsonBody(text: string): unknown {
  if (text.trim() === '') throw badRequest('the request body is empty');
  let out: unknown;
  try {
    out = JSON.parse(text) as unknown;
  } catch (e) {
    throw badRequest(`error decoding the request body as JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  // `__proto__` keys would re-prototype the objects the patch and merge code builds; no Kubernetes field has one.
  if (text.includes('__proto__')) {
    JSON.parse(text, (k, v: unknown) => {
      if (k === '__proto__') throw badRequest('the request body contains a "__proto__" key');
      return v;
    });
  }
  return out;
}

interface WatchState {
  res: ServerResponse;
  def: ResourceDef;
  version: string;
  bookmarks: boolean;
  close(): void;
}

function eventLine(ev: StoreEvent, type: EventType, def: ResourceDef, version: string): string {
  const av = apiVersionOf(def.group, version);
  if (ev.obj.apiVersion !== av) return `{"type":"${type}","object":${JSON.stringify({ ...ev.obj, apiVersion: av })}}\n`;
  let c = ev.lines;
  if (!c) {
    c = {};
    ev.lines = c;
  }
  let s = c[type];
  if (s === undefined) {
    // One serialization per event and type, shared by every watcher it reaches.
    s = `{"type":"${type}","object":${objJson(ev.obj)}}\n`;
    c[type] = s;
  }
  return s;
}

export interface ApiHttpServer {
  server: https.Server;
  /** Ends every open watch (before close, so keep-alive connections can drain). */
  endWatches(): void;
}

export function createApiHttpServer(o: ServerOptions): ApiHttpServer {
  const { rest, security, log } = o;
  const store = rest.store;
  const discovery = createDiscovery(rest.registry);
  const openapi = createOpenApi(rest.registry);
  const watches = new Set<WatchState>();

  const bookmarkTimer = setInterval(() => {
    const rv = String(store.resourceVersion);
    for (const w of watches) {
      if (!w.bookmarks) continue;
      w.res.write(`{"type":"BOOKMARK","object":{"kind":"${w.def.kind}","apiVersion":"${apiVersionOf(w.def.group, w.version)}","metadata":{"resourceVersion":"${rv}"}}}\n`);
    }
  }, o.bookmarkIntervalMs);
  bookmarkTimer.unref();

  const server = https.createServer({ cert: o.certPem, key: o.keyPem, keepAlive: true }, (req, res) => {
    if (log.isDebugEnabled()) {
      const started = performance.now();
      res.on('finish', () => log.debug('request', { method: req.method, path: req.url, code: res.statusCode, ms: Math.round(performance.now() - started) }));
    }
    handle(req, res).catch((err: unknown) => {
      const st = toStatus(err);
      if (st.code >= 500) log.error('request failed', { method: req.method, path: req.url, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      sendError(res, err);
    });
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 70_000;
  server.requestTimeout = 0;
  server.on('clientError', (err, socket) => {
    log.debug('client connection error', { error: err.message });
    socket.destroy();
  });
  server.on('tlsClientError', (err) => log.debug('TLS handshake failed', { error: err.message }));

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'https://apiserver');
    } catch {
      throw badRequest(`malformed request URL`);
    }
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const method = (req.method ?? 'GET').toUpperCase();
    if (path === '/healthz' || path === '/livez' || path === '/readyz' || path.startsWith('/healthz/') || path.startsWith('/livez/') || path.startsWith('/readyz/')) {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('ok');
      return;
    }
    const auth = req.headers['authorization'] ?? '';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    const requester = m ? security.authenticator.authenticate(m[1]) : undefined;
    if (!requester) {
      req.resume();
      throw new ApiError('Unauthorized', 'Unauthorized');
    }
    // `kubectl --as`: the request runs as the impersonated user once the requester may impersonate it.
    const user = security.impersonate ? security.impersonate(requester, req.headers) : requester;
    let segs: string[];
    try {
      segs = path.split('/').filter((s) => s !== '').map((s) => decodeURIComponent(s));
    } catch {
      throw badRequest(`malformed percent-encoding in the request path`);
    }
    const parsed = parsePath(segs);
    if (!parsed || 'discovery' in parsed) {
      authorize({ user, verb: method.toLowerCase(), resourceRequest: false, apiGroup: '', resource: '', subresource: '', namespace: '', name: '', path });
      if (method !== 'GET' && method !== 'HEAD') throw new ApiError('MethodNotAllowed', `the server does not allow this method on the requested resource`);
      return serveNonResource(res, path, parsed);
    }
    const def = rest.registry.lookup(parsed.group, parsed.version, parsed.resource);
    if (!def) throw new ApiError('NotFound', 'the server could not find the requested resource');
    const q = url.searchParams;
    const isWatch = parsed.watchPath || q.get('watch') === 'true' || q.get('watch') === '1';
    const verb = verbOf(method, parsed, isWatch);
    const ns = def.namespaced ? parsed.namespace : undefined;
    if (!def.namespaced && parsed.namespace !== undefined && parsed.resource !== 'namespaces') throw new ApiError('NotFound', 'the server could not find the requested resource');
    if (def.namespaced && parsed.namespace === undefined && (parsed.name !== undefined || (verb !== 'list' && verb !== 'watch'))) {
      throw new ApiError('NotFound', 'the server could not find the requested resource');
    }
    if (parsed.subresource !== undefined && !def.subresources.includes(parsed.subresource)) throw new ApiError('NotFound', 'the server could not find the requested resource');
    authorize({
      user,
      verb,
      resourceRequest: true,
      apiGroup: def.group,
      resource: def.resource,
      subresource: parsed.subresource ?? '',
      namespace: parsed.namespace ?? '',
      name: parsed.name ?? '',
      path,
    });
    const fv = q.get('fieldValidation');
    if (fv !== null && fv !== 'Strict' && fv !== 'Warn' && fv !== 'Ignore') throw badRequest(`fieldValidation: Unsupported value: "${fv}": supported values: "Ignore", "Strict", "Warn"`);
    const warnings: string[] = [];
    const ctx: WriteContext = {
      user,
      manager: q.get('fieldManager') ?? (String(req.headers['user-agent'] ?? 'unknown').split('/')[0] || 'unknown'),
      dryRun: q.getAll('dryRun').includes('All'),
      fieldValidation: fv ?? 'Warn',
      warnings,
    };
    // Kubernetes reports non-fatal problems (unknown fields under fieldValidation=Warn) as Warning headers.
    const sendWritten = (code: number, obj: Obj) => {
      if (warnings.length) res.setHeader('Warning', warnings.map((w) => `299 - ${JSON.stringify(w)}`));
      send(res, code, objJson(obj));
      dropJson(obj);
    };
    // Special create-only endpoints answered by the security module.
    if (def.virtual || parsed.subresource === 'token') {
      if (method !== 'POST') throw new ApiError('MethodNotAllowed', `${method} is not supported on ${def.resource}${parsed.subresource ? '/' + parsed.subresource : ''}`);
      // kubectl (1.32+) sends TokenRequest and the reviews as protobuf: the security module decodes its
      // own kinds from the raw bytes (auth/protobuf.ts).
      const proto = mediaType(req) === 'application/vnd.kubernetes.protobuf';
      if (!proto) checkContentType(req, false);
      const body = proto ? await readBytes(req, o.maxBodyBytes) : parseJsonBody(await readBody(req, o.maxBodyBytes));
      const out = answerAuth(def, parsed, body, user);
      send(res, 201, JSON.stringify(out));
      return;
    }
    if ((verb === 'create' && parsed.name !== undefined) || ((verb === 'update' || verb === 'patch') && parsed.name === undefined)) {
      req.resume();
      throw new ApiError('MethodNotAllowed', `${method} is not supported on this path`);
    }
    if (parsed.subresource === 'scale') return serveScale(req, res, def, parsed, ns, verb, ctx);
    if (parsed.subresource === 'proxy') return serveProxy(req, res, parsed, url.search);
    if (parsed.subresource === 'finalize') {
      if (method !== 'PUT') throw new ApiError('MethodNotAllowed', 'finalize accepts PUT only');
    }
    switch (verb) {
      case 'get': {
        const obj = rest.get(def, parsed.version, ns, parsed.name as string);
        if (wantsTable(req.headers['accept'])) return send(res, 200, JSON.stringify(renderTable(def, [obj], String(store.resourceVersion))));
        return send(res, 200, readJson(obj));
      }
      case 'list': {
        const r = rest.list(def, ns, { labelSelector: q.get('labelSelector'), fieldSelector: q.get('fieldSelector'), limit: Number(q.get('limit') ?? '0') || 0, continueToken: q.get('continue') });
        if (wantsTable(req.headers['accept'])) {
          const t = renderTable(def, r.items.map((x) => rest.view(def, parsed.version, x)), r.resourceVersion, r.continueToken);
          return send(res, 200, JSON.stringify(t));
        }
        const meta: JsonObject = { resourceVersion: r.resourceVersion };
        if (r.continueToken) meta['continue'] = r.continueToken;
        if (r.remaining !== undefined) meta['remainingItemCount'] = r.remaining;
        const items = r.items.map((x) => readJson(rest.view(def, parsed.version, x)));
        const kind = def.listKind ?? `${def.kind}List`;
        return send(res, 200, `{"kind":"${kind}","apiVersion":"${apiVersionOf(def.group, parsed.version)}","metadata":${JSON.stringify(meta)},"items":[${items.join(',')}]}`);
      }
      case 'watch':
        return serveWatch(req, res, def, parsed.version, ns, q, parsed.name);
      case 'create': {
        checkContentType(req, false);
        const body = await readObjectBody(req, o.maxBodyBytes);
        const obj = rest.create(def, parsed.version, ns, body, ctx, true);
        return sendWritten(201, obj);
      }
      case 'update': {
        checkContentType(req, false);
        const body = await readObjectBody(req, o.maxBodyBytes);
        const sub = parsed.subresource === 'finalize' ? undefined : parsed.subresource;
        const obj = rest.update(def, parsed.version, ns, parsed.name as string, body, ctx, sub, true);
        return sendWritten(200, obj);
      }
      case 'patch': {
        const type = patchTypes[mediaType(req)];
        if (!type) {
          req.resume();
          throw new ApiError('UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${Object.keys(patchTypes).join(', ')}`);
        }
        const raw = await readBody(req, o.maxBodyBytes);
        const force = q.get('force') === 'true';
        const existed = rest.store.get(grKey(def.group, def.resource), ns, parsed.name as string) !== undefined;
        const obj = rest.patch(def, parsed.version, ns, parsed.name as string, type, raw, ctx, { ...(parsed.subresource ? { subresource: parsed.subresource } : {}), force });
        return sendWritten(existed ? 200 : 201, obj);
      }
      case 'delete': {
        const opts = await deleteOptions(req, q);
        const obj = rest.delete(def, parsed.version, ns, parsed.name as string, opts, { ...ctx, dryRun: ctx.dryRun || opts.dryRun });
        return sendWritten(200, obj);
      }
      case 'deletecollection': {
        const opts = await deleteOptions(req, q);
        const items = rest.deleteCollection(def, parsed.version, ns, { labelSelector: q.get('labelSelector'), fieldSelector: q.get('fieldSelector') }, opts, { ...ctx, dryRun: ctx.dryRun || opts.dryRun });
        return send(res, 200, `{"kind":"${def.listKind ?? `${def.kind}List`}","apiVersion":"${apiVersionOf(def.group, parsed.version)}","metadata":{"resourceVersion":"${store.resourceVersion}"},"items":[${items.map((x) => readJson(x)).join(',')}]}`);
      }
      default:
        throw new ApiError('MethodNotAllowed', `the server does not allow this method on the requested resource`);
    }
  }

  /** autoscaling/v1 Scale view of a workload's spec.replicas (kubectl scale). */
  /**
   * GET pods/{name[:port]}/proxy/{path}: the API server fetches the path from the pod over HTTP, as
   * kube-apiserver does. Clients outside the cluster network (`mesh gateways` reading gateway /metrics) use
   * it instead of dialling pod IPs, which are not routable from outside a cluster.
   */
  async function serveProxy(req: IncomingMessage, res: ServerResponse, p: ResourcePath, search: string): Promise<void> {
    req.resume();
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new ApiError('MethodNotAllowed', 'pods/proxy accepts GET and HEAD only');
    const m = /^(?:(https?):)?([^:]+)(?::(\d{1,5}))?$/.exec(p.name ?? '');
    if (!m) throw badRequest(`invalid pod proxy name "${p.name ?? ''}": want <pod>, <pod>:<port> or http:<pod>:<port>`);
    if (m[1] === 'https') throw badRequest('pods/proxy: only http is supported');
    const podName = m[2] as string;
    const pod = store.get(grKey('', 'pods'), p.namespace, podName) as { status?: { podIP?: unknown }; spec?: { containers?: { ports?: { containerPort?: unknown }[] }[] } } | undefined;
    if (!pod) throw notFound('pods', '', podName);
    const ip = typeof pod.status?.podIP === 'string' ? pod.status.podIP : '';
    if (!ip) throw new ApiError('ServiceUnavailable', `pod ${podName} has no IP yet`);
    const declared = pod.spec?.containers?.flatMap((c) => c.ports ?? []).map((x) => x.containerPort).find((x) => typeof x === 'number');
    const port = m[3] !== undefined ? Number(m[3]) : typeof declared === 'number' ? declared : 80;
    if (port < 1 || port > 65535) throw badRequest(`invalid port ${port}`);
    await new Promise<void>((resolve) => {
      const upstream = http.request({ host: ip, port, path: (p.proxyPath ?? '/') + search, method: req.method, timeout: 10_000, headers: { accept: req.headers['accept'] ?? '*/*' } }, (up) => {
        res.writeHead(up.statusCode ?? 502, { 'Content-Type': up.headers['content-type'] ?? 'application/octet-stream' });
        up.pipe(res);
        up.on('end', resolve);
        up.on('error', () => {
          res.destroy();
          resolve();
        });
      });
      upstream.on('timeout', () => upstream.destroy(new Error('no answer within 10 s')));
      upstream.on('error', (err) => {
        if (!res.headersSent) send(res, 503, JSON.stringify(toStatus(new ApiError('ServiceUnavailable', `error trying to reach pod ${podName} at ${ip}:${port}: ${err.message}`))));
        else res.destroy();
        resolve();
      });
      upstream.end();
    });
  }

  async function serveScale(req: IncomingMessage, res: ServerResponse, def: ResourceDef, p: ResourcePath, ns: string | undefined, verb: string, ctx: WriteContext): Promise<void> {
    const name = p.name as string;
    const toScale = (o: Obj): JsonObject => {
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
    };
    const cur = rest.get(def, p.version, ns, name);
    if (verb === 'get') return send(res, 200, JSON.stringify(toScale(cur)));
    let next: Json;
    if (verb === 'update') {
      checkContentType(req, false);
      next = (await readObjectBody(req, o.maxBodyBytes)) as Json;
    } else if (verb === 'patch') {
      const type = patchTypes[mediaType(req)];
      if (!type || type === 'apply') throw new ApiError('UnsupportedMediaType', 'scale accepts merge, JSON and strategic merge patches');
      const raw = await readBody(req, o.maxBodyBytes);
      let patch: Json;
      try {
        patch = JSON.parse(raw) as Json;
      } catch (e) {
        throw badRequest(`error decoding patch: ${e instanceof Error ? e.message : String(e)}`);
      }
      const base = toScale(cur);
      next = type === 'json' ? applyJsonPatch(base, patch) : isObject(patch) ? mergePatch(base, patch) : patch;
    } else throw new ApiError('MethodNotAllowed', `${verb} is not supported on ${def.resource}/scale`);
    const spec = isObject(next) && isObject(next['spec']) ? next['spec'] : undefined;
    const replicas = spec?.['replicas'];
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) throw new ApiError('Invalid', `Scale.autoscaling "${name}" is invalid: spec.replicas: Invalid value: ${JSON.stringify(replicas ?? null)}: must be greater than or equal to 0`);
    const meta = isObject(next) && isObject(next['metadata']) ? next['metadata'] : {};
    const rv = typeof meta['resourceVersion'] === 'string' && verb === 'update' ? meta['resourceVersion'] : undefined;
    const updated = rest.patch(def, p.version, ns, name, 'merge', JSON.stringify({ spec: { replicas }, ...(rv ? { metadata: { resourceVersion: rv } } : {}) }), ctx);
    return send(res, 200, JSON.stringify(toScale(updated)));
  }

  function authorize(attrs: RequestAttributes): void {
    const d = security.authorizer.authorize(attrs);
    if (!d.allowed) {
      const what = attrs.resourceRequest
        ? `${attrs.resource}${attrs.apiGroup ? '.' + attrs.apiGroup : ''}${attrs.name ? ` "${attrs.name}"` : ''} is forbidden: User "${attrs.user.username}" cannot ${attrs.verb} resource "${attrs.resource}${attrs.subresource ? '/' + attrs.subresource : ''}" in API group "${attrs.apiGroup}"${attrs.namespace ? ` in the namespace "${attrs.namespace}"` : ' at the cluster scope'}`
        : `forbidden: User "${attrs.user.username}" cannot ${attrs.verb} path "${attrs.path}"`;
      throw new ApiError('Forbidden', d.reason ? `${what}: ${d.reason}` : what, attrs.resourceRequest ? { ...(attrs.name ? { name: attrs.name } : {}), group: attrs.apiGroup, kind: attrs.resource } : {});
    }
  }

  function answerAuth(def: ResourceDef, p: ResourcePath, body: unknown, user: UserInfo): unknown {
    const h = security.handlers;
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

  function serveNonResource(res: ServerResponse, path: string, parsed: ReturnType<typeof parsePath>): void {
    if (path === '/version') return send(res, 200, JSON.stringify(versionInfo));
    if (path === '/openapi/v2' || path === '/swagger.json') return send(res, 404, JSON.stringify(toStatus(new ApiError('NotFound', 'the server does not serve OpenAPI v2'))));
    if (path === '/openapi/v3') return send(res, 200, openapi.root());
    if (path.startsWith('/openapi/v3/')) {
      const doc = openapi.gv(path.slice('/openapi/v3/'.length));
      if (doc) return send(res, 200, doc);
    }
    if (parsed && 'discovery' in parsed) {
      if (parsed.discovery === 'api') return send(res, 200, discovery.api());
      if (parsed.discovery === 'apis') return send(res, 200, discovery.apis());
      if (parsed.discovery === 'group') {
        const g = discovery.group(parsed.group);
        if (g) return send(res, 200, g);
      }
      if (parsed.discovery === 'list') {
        const l = discovery.resources(parsed.group, parsed.version);
        if (l) return send(res, 200, l);
      }
    }
    if (path === '/') {
      return send(res, 200, JSON.stringify({ paths: ['/api', '/api/v1', '/apis', '/healthz', '/livez', '/readyz', '/version', '/openapi/v3'] }));
    }
    throw new ApiError('NotFound', 'the server could not find the requested resource');
  }

  function serveWatch(req: IncomingMessage, res: ServerResponse, def: ResourceDef, version: string, ns: string | undefined, q: URLSearchParams, name?: string): void {
    const labels = parseLabelSelector(q.get('labelSelector'));
    const fieldSel = q.get('fieldSelector') ?? (name ? `metadata.name=${name}` : null);
    const fields = parseFieldSelector(name && q.get('fieldSelector') ? `${q.get('fieldSelector')},metadata.name=${name}` : fieldSel);
    const filtered = labels.length > 0 || fields.length > 0;
    const matches = (o: Obj | undefined): boolean => o !== undefined && (labels.length === 0 || matchSelector(labels, o.metadata['labels'] as Record<string, string> | undefined)) && (fields.length === 0 || matchFields(fields, o));
    const rvParam = q.get('resourceVersion');
    const gr = grKey(def.group, def.resource);
    let backlog: StoreEvent[] | undefined;
    if (rvParam && rvParam !== '0') {
      const rv = Number(rvParam);
      if (!Number.isInteger(rv) || rv < 0) throw badRequest(`invalid resource version "${rvParam}"`);
      // A resourceVersion from the future means this server lost state the client saw (a restarted
      // in-memory server): tell the client to relist, as for one that is too old.
      backlog = rv > store.resourceVersion ? undefined : store.eventsSince(gr, ns, rv);
      if (!backlog) {
        // As kube-apiserver: 200, then one ERROR event carrying a 410 Status.
        const st = toStatus(gone(`too old resource version: ${rv} (${store.oldestResumable})`));
        res.writeHead(200, { ...jsonHeaders, 'Transfer-Encoding': 'chunked' });
        res.end(`{"type":"ERROR","object":${JSON.stringify(st)}}\n`);
        return;
      }
    }
    const timeoutSec = Number(q.get('timeoutSeconds') ?? '0');
    const bookmarks = q.get('allowWatchBookmarks') === 'true';
    res.writeHead(200, { ...jsonHeaders, 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    const av = apiVersionOf(def.group, version);
    // kubectl get -w asks for Table rows; each event then carries a one-row Table, as kube-apiserver sends.
    const asTable = wantsTable(req.headers['accept']);
    let closed = false;
    const deliver = (ev: StoreEvent): void => {
      if (closed) return;
      let type: EventType | undefined = ev.type;
      if (filtered) {
        const now = matches(ev.obj);
        const before = matches(ev.prev);
        if (ev.type === 'ADDED') type = now ? 'ADDED' : undefined;
        else if (ev.type === 'MODIFIED') type = now ? (before ? 'MODIFIED' : 'ADDED') : before ? 'DELETED' : undefined;
        else type = now || before ? 'DELETED' : undefined;
      }
      if (!type) return;
      if (asTable) res.write(`{"type":"${type}","object":${JSON.stringify(renderTable(def, [rest.view(def, version, ev.obj)], ev.obj.metadata.resourceVersion))}}\n`);
      else res.write(eventLine(ev, type, def, version));
      // A watcher that cannot keep up is cut off; it relists and watches again, as with kube-apiserver.
      if (res.writableLength > 64 * 1024 * 1024) state.close();
    };
    const state: WatchState = {
      res,
      def,
      version,
      bookmarks,
      close: () => {
        if (closed) return;
        closed = true;
        unregister();
        watches.delete(state);
        clearTimeout(timer);
        res.end();
      },
    };
    if (backlog) for (const ev of backlog) deliver(ev);
    else {
      for (const o of store.list(gr, ns)) {
        if (!matches(o) && filtered) continue;
        if (asTable) res.write(`{"type":"ADDED","object":${JSON.stringify(renderTable(def, [rest.view(def, version, o)], o.metadata.resourceVersion))}}\n`);
        else if (o.apiVersion === av) res.write(`{"type":"ADDED","object":${readJson(o)}}\n`);
        else res.write(`{"type":"ADDED","object":${JSON.stringify({ ...o, apiVersion: av })}}\n`);
      }
      if (bookmarks && q.get('sendInitialEvents') === 'true') {
        res.write(`{"type":"BOOKMARK","object":{"kind":"${def.kind}","apiVersion":"${av}","metadata":{"resourceVersion":"${store.resourceVersion}","annotations":{"k8s.io/initial-events-end":"true"}}}}\n`);
      }
    }
    const unregister = store.addWatcher({ gr, ...(ns !== undefined ? { namespace: ns } : {}), deliver });
    watches.add(state);
    // Without timeoutSeconds, kube-apiserver ends a watch after a random 30–60 minutes; so do we.
    const ms = timeoutSec > 0 ? timeoutSec * 1000 : (1800 + Math.floor(Math.random() * 1800)) * 1000;
    const timer = setTimeout(() => state.close(), ms);
    timer.unref();
    // The client going away (socket closed) ends the watch and frees its registration.
    req.on('close', () => state.close());
    res.on('close', () => state.close());
    res.on('error', () => state.close());
  }

  function checkContentType(req: IncomingMessage, _patch: boolean): void {
    const t = mediaType(req);
    if (t === '' || t === 'application/json' || t === '*/*' || t === protobufType || t === 'application/yaml') return;
    req.resume();
    throw new ApiError('UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (some kinds)`);
  }

  async function deleteOptions(req: IncomingMessage, q: URLSearchParams): Promise<DeleteOptions & { dryRun: boolean }> {
    const text = await readBody(req, o.maxBodyBytes);
    let body: JsonObject = {};
    if (text.trim() !== '') {
      const b = parseJsonBody(text);
      if (!isObject(b as Json)) throw badRequest('DeleteOptions must be a JSON object');
      body = b as JsonObject;
    }
    const policy = (q.get('propagationPolicy') ?? body['propagationPolicy'] ?? undefined) as string | undefined;
    if (policy !== undefined && policy !== null && !['Foreground', 'Background', 'Orphan'].includes(policy)) throw badRequest(`propagationPolicy: Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan"`);
    const orphan = body['orphanDependents'] === true || q.get('orphanDependents') === 'true';
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

  return {
    server,
    endWatches() {
      clearInterval(bookmarkTimer);
      for (const w of [...watches]) w.close();
    },
  };
}

function verbOf(method: string, p: ResourcePath, watch: boolean): string {
  switch (method) {
    case 'GET':
    case 'HEAD':
      if (watch) return 'watch';
      return p.name !== undefined ? 'get' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return p.name !== undefined ? 'delete' : 'deletecollection';
    default:
      return method.toLowerCase();
  }
}
