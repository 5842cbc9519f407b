// A thin JSON client over the API server, built from a client-node KubeConfig (which does the auth: certs,
// bearer tokens, token files). Requests go over undici's keep-alive pool, so a controller's thousands of writes
// reuse a few TLS connections (client-node's generated APIs make a fresh agent per call, a TLS handshake per
// request); watches have a pool of their own, so long-lived streams never hold a request's connection. undici
// rather than node:https: a 5,000-service full sync costs the mirror 15-25 % less CPU (bench/notes/mirror.md).
import type { KubeConfig } from '@kubernetes/client-node';
import { STATUS_CODES } from 'node:http';
import type https from 'node:https';
import { Pool, errors as undiciErrors } from 'undici';
import { KubeAbortedError, KubeApiError, KubeConfigError, KubeUnreachableError } from './errors.js';
import { readWatchEvents, type WatchEventHandler } from './watch-stream.js';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  [k: string]: unknown;
}

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  deletionTimestamp?: string;
  creationTimestamp?: string;
  ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }>;
  [k: string]: unknown;
}

export interface ListResult<T> {
  items: T[];
  metadata: { resourceVersion?: string; continue?: string };
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
  /** Aborts the request (a reconcile that timed out stops here): it rejects with KubeAbortedError. */
  signal?: AbortSignal;
}

/** What a caller may pass to the verb helpers. */
export type CallOptions = Pick<RequestOptions, 'signal' | 'timeoutMs'>;

export type PatchType = 'merge' | 'json' | 'strategic';
const PATCH_CONTENT: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
};

export interface ResourceRef {
  group?: string;
  version: string;
  plural: string;
  namespace?: string;
  name?: string;
  subresource?: string;
}

/** `/api/v1/namespaces/ns/services/name` or `/apis/group/version/...` for a resource reference. */
export function resourcePath(r: ResourceRef): string {
  let p = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  if (r.namespace) p += `/namespaces/${encodeURIComponent(r.namespace)}`;
  p += `/${r.plural}`;
  if (r.name) p += `/${encodeURIComponent(r.name)}`;
  if (r.subresource) p += `/${r.subresource}`;
  return p;
}

const AUTH_CACHE_MS = 5_000;
/** Concurrent request connections per client; watches are not counted (they have their own pool). */
const REQUEST_CONNECTIONS = 16;
/** How long a watch may take to answer with its headers (the stream itself has no body timeout). */
const WATCH_HEADERS_TIMEOUT_MS = 30_000;
/**
 * undici's header and body timeouts tick about once a second: right for the 30 s default, too coarse for a
 * short probe (a 1 s watch-silence check would take up to 2 s). Below this, a timer of our own aborts the call.
 */
const PRECISE_TIMEOUT_BELOW_MS = 10_000;

class RequestTimeout extends Error {}

type TlsOptions = Pick<https.AgentOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized' | 'servername'>;

/** A response body as JSON, or as the text itself when it is not JSON (a proxy's error page). */
function parseBody(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** A signal that fires after `ms` (reason RequestTimeout) or when the caller's own signal does. */
function preciseTimeout(ms: number, caller: AbortSignal | undefined): { signal: AbortSignal; clear: () => void } {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new RequestTimeout()), ms);
  const onCaller = () => ac.abort(caller?.reason);
  caller?.addEventListener('abort', onCaller, { once: true });
  return {
    signal: ac.signal,
    clear: () => {
      clearTimeout(timer);
      caller?.removeEventListener('abort', onCaller);
    },
  };
}

export class KubeClient {
  readonly server: URL;
  private readonly basePath: string;
  private requests: Pool | undefined;
  private watches: Pool | undefined;
  private headers: Record<string, string> = {};
  private headersAt = 0;
  private readonly defaultTimeoutMs: number;

  private constructor(
    readonly kc: KubeConfig,
    private readonly tls: TlsOptions,
    timeoutMs: number,
  ) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new KubeConfigError('kubeconfig has no current cluster');
    this.server = new URL(cluster.server);
    this.basePath = this.server.pathname.replace(/\/$/, '');
    this.defaultTimeoutMs = timeoutMs;
  }

  static async create(kc: KubeConfig, opts: { timeoutMs?: number } = {}): Promise<KubeClient> {
    const o: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(o);
    const tls: TlsOptions = {};
    if (o.ca) tls.ca = o.ca;
    if (o.cert) tls.cert = o.cert;
    if (o.key) tls.key = o.key;
    if (o.rejectUnauthorized === false) tls.rejectUnauthorized = false;
    if (o.servername) tls.servername = o.servername;
    return new KubeClient(kc, tls, opts.timeoutMs ?? 30_000);
  }

  /**
   * Closes the keep-alive connections: requests in flight finish, open watches end (their informers, if not
   * stopped, re-list). The client stays usable: the next call opens new connections.
   */
  close(): void {
    const [requests, watches] = [this.requests, this.watches];
    this.requests = this.watches = undefined;
    void requests?.close().catch(() => undefined);
    void watches?.destroy().catch(() => undefined);
  }

  private pool(kind: 'requests' | 'watches'): Pool {
    const existing = this[kind];
    if (existing) return existing;
    const pool = new Pool(this.server.origin, {
      connections: kind === 'requests' ? REQUEST_CONNECTIONS : null,
      connect: { ...this.tls },
    });
    this[kind] = pool;
    return pool;
  }

  private async authHeaders(): Promise<Record<string, string>> {
    const now = Date.now();
    if (now - this.headersAt < AUTH_CACHE_MS) return this.headers;
    const o: https.RequestOptions = {};
    await this.kc.applyToHTTPSOptions(o);
    const h: Record<string, string> = {};
    for (const [k, v] of Object.entries(o.headers ?? {})) if (typeof v === 'string') h[k] = v;
    this.headers = h;
    this.headersAt = now;
    return h;
  }

  private target(path: string, query: Record<string, string | number | boolean | undefined> = {}): string {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
    const qs = params.toString();
    return this.basePath + path + (qs ? `?${qs}` : '');
  }

  /** The error a failed call surfaces: aborted by the caller, timed out, or the server unreachable. */
  private failure(method: string, path: string, err: unknown, signal: AbortSignal | undefined, timeoutMs: number): Error {
    if (signal?.aborted) return new KubeAbortedError(`${method} ${path}: aborted by the caller`);
    if (err instanceof RequestTimeout || err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) {
      return new KubeUnreachableError(`${method} ${this.server.host}${path}: timed out after ${timeoutMs} ms`, err);
    }
    const e = err as { message?: string; cause?: { message?: string } };
    const reason = e.cause?.message ?? e.message ?? String(err);
    return new KubeUnreachableError(`${method} ${this.server.host}${path}: ${reason}`, err);
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const { signal } = opts;
    const timeoutMs = opts.timeoutMs ?? this.defaultTimeoutMs;
    if (signal?.aborted) throw new KubeAbortedError(`${method} ${path}: aborted by the caller`);
    const headers: Record<string, string> = { ...(await this.authHeaders()), accept: 'application/json' };
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    if (body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
    let code: number;
    let text: string;
    const precise = timeoutMs < PRECISE_TIMEOUT_BELOW_MS ? preciseTimeout(timeoutMs, signal) : undefined;
    try {
      const res = await this.pool('requests').request({
        method: method as 'GET', path: this.target(path, opts.query), headers, body, signal: precise?.signal ?? signal, headersTimeout: timeoutMs, bodyTimeout: timeoutMs,
      });
      code = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      throw this.failure(method, path, precise?.signal.reason instanceof RequestTimeout ? precise.signal.reason : err, signal, timeoutMs);
    } finally {
      precise?.clear();
    }
    const parsed = parseBody(text);
    if (code >= 200 && code < 300) return parsed as T;
    throw this.refused(method, path, code, text, parsed);
  }

  /** A non-2xx answer as KubeApiError (message and reason from its Status when it is one). */
  private refused(method: string, path: string, code: number, text: string, parsed: unknown): KubeApiError {
    if (code === 401) this.headersAt = 0; // re-read a rotated token on the next call
    const st = (parsed ?? {}) as { message?: unknown; reason?: unknown };
    const msg = typeof st.message === 'string' ? st.message : text.slice(0, 200) || (STATUS_CODES[code] ?? 'error');
    return new KubeApiError(code, `${method} ${path}: ${code} ${msg}`, typeof st.reason === 'string' ? st.reason : undefined, parsed);
  }

  /**
   * Opens a watch (`?watch=true` plus `query`) and hands every event to `onEvent` as it arrives. Resolves when
   * the server ends the stream (its timeout), rejects on a non-2xx answer (KubeApiError), a broken or
   * malformed stream, or `signal` (KubeAbortedError).
   */
  async watch(path: string, query: Record<string, string | number | boolean | undefined>, onEvent: WatchEventHandler, signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw new KubeAbortedError(`WATCH ${path}: aborted by the caller`);
    const headers: Record<string, string> = { ...(await this.authHeaders()), accept: 'application/json' };
    try {
      const res = await this.pool('watches').request({
        method: 'GET', path: this.target(path, { ...query, watch: true }), headers, signal, headersTimeout: WATCH_HEADERS_TIMEOUT_MS, bodyTimeout: 0,
      });
      if (res.statusCode < 200 || res.statusCode >= 300) {
        const text = await res.body.text();
        throw this.refused('WATCH', path, res.statusCode, text, parseBody(text));
      }
      await readWatchEvents(res.body, onEvent);
    } catch (err) {
      if (err instanceof KubeApiError) throw err;
      throw this.failure('WATCH', path, err, signal, WATCH_HEADERS_TIMEOUT_MS);
    }
  }

  get<T = KubeObject>(path: string, opts?: RequestOptions): Promise<T> {
    return this.request<T>('GET', path, opts);
  }

  /** Lists every page (limit/continue) and returns the items with the list's resourceVersion. */
  async list<T = KubeObject>(path: string, query: Record<string, string | undefined> = {}, pageSize = 500, opts: CallOptions = {}): Promise<ListResult<T>> {
    const items: T[] = [];
    let cont: string | undefined;
    let rv: string | undefined;
    do {
      const page = await this.get<ListResult<T>>(path, { ...opts, query: { ...query, limit: pageSize, continue: cont } });
      items.push(...(page.items ?? []));
      rv = page.metadata?.resourceVersion;
      cont = page.metadata?.continue || undefined;
    } while (cont);
    return { items, metadata: { resourceVersion: rv } };
  }

  create<T = KubeObject>(path: string, body: unknown, opts: CallOptions = {}): Promise<T> {
    return this.request<T>('POST', path, { ...opts, body });
  }

  replace<T = KubeObject>(path: string, body: unknown, opts: CallOptions = {}): Promise<T> {
    return this.request<T>('PUT', path, { ...opts, body });
  }

  patch<T = KubeObject>(path: string, body: unknown, type: PatchType = 'merge', opts: CallOptions = {}): Promise<T> {
    return this.request<T>('PATCH', path, { ...opts, body, contentType: PATCH_CONTENT[type] });
  }

  delete<T = KubeObject>(path: string, body?: unknown, opts: CallOptions = {}): Promise<T> {
    return this.request<T>('DELETE', path, { ...opts, body });
  }
}
