// List + watch one resource into an indexed cache. Handlers get keys (`ns/name`) so that controllers stay
// level-triggered; indexers and the mirror's bookkeeping may subscribe to objects. The informer survives
// the API server going away and coming back: any watch failure or timeout leads to a relist after a capped,
// jittered backoff, and a `410 Gone` (resourceVersion too old) leads to an immediate relist. Bookmarks keep
// the resourceVersion fresh so a reconnect rarely needs a relist.
import type { Logger } from '../log/index.js';
import { silentLogger } from '../log/index.js';
import type { KubeClient, KubeObject } from './client.js';
import { KubeApiError, errorMessage, statusCodeOf } from './errors.js';

export type KeyHandler = (key: string) => void;

export interface ObjectHandlers<T> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, newObj: T): void;
  onDelete?(obj: T): void;
}

export interface InformerOptions {
  /** Collection path, e.g. `/api/v1/services` or `/apis/multicluster.mesh.io/v1alpha1/namespaces/mesh-system/links`. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  logger?: Logger;
  /** Name in logs and metrics, e.g. `remote:cluster-b:services`. */
  name?: string;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /**
   * A watch that sends nothing (no event, no bookmark) this long is checked (default 15 s, or
   * MESH_WATCH_SILENCE_MS): the API server is asked for /version; no answer is a watch error (the informer
   * turns unhealthy), an answer re-opens the watch.
   */
  silenceMs?: number;
  /** Server-side watch timeout; the watch is re-opened after it (from the last resourceVersion). */
  watchTimeoutSeconds?: number;
  /** A list or watch failed (unreachable, 401/403, 5xx). The informer keeps retrying by itself. */
  onError?: (err: unknown) => void;
  /** A list succeeded (after start or after a failure): the cache reflects the server again. */
  onListed?: () => void;
  /** A watch ended abnormally or expired (410) and the informer restarts; for a metric. */
  onRestart?: (reason: string) => void;
  /**
   * Every this many ms, every cached object is handed to the handlers again, as client-go's resync does
   * (onUpdate with the same object, and its key): the safety net that makes a level-triggered controller
   * converge even after a missed or mishandled event.
   */
  resyncPeriodMs?: number;
  /** Objects the cache holds: one refused is as absent (an update that makes it refused deletes it). */
  accept?: (obj: KubeObject) => boolean;
}

/** Silence before a watch is checked: the sandbox API server sends a bookmark every 10 s. */
export const SILENCE_MS = 15_000;
/** How long the API server has to answer that check. */
const SILENCE_PROBE_MS = 5_000;

export function keyOf(obj: KubeObject): string {
  const m = obj.metadata ?? {};
  return m.namespace ? `${m.namespace}/${m.name}` : `${m.name ?? ''}`;
}

export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: '', name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

type IndexFn<T> = (obj: T) => string[];

export class Informer<T extends KubeObject = KubeObject> {
  private readonly store = new Map<string, T>();
  private readonly byNs = new Map<string, Set<string>>();
  private readonly indexFns = new Map<string, IndexFn<T>>();
  private readonly indices = new Map<string, Map<string, Set<string>>>();
  private readonly keyHandlers: KeyHandler[] = [];
  private readonly objHandlers: ObjectHandlers<T>[] = [];
  private readonly syncWaiters: Array<() => void> = [];
  private synced = false;
  private stopped = true;
  private resourceVersion = '';
  private abort: AbortController | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private healthy = false;
  private lastErr: unknown;
  private readonly log: Logger;
  readonly name: string;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: InformerOptions,
  ) {
    this.log = opts.logger ?? silentLogger();
    this.name = opts.name ?? opts.path;
  }

  // --- cache -------------------------------------------------------------------------------------------
  get(key: string): T | undefined {
    return this.store.get(key);
  }
  getByName(namespace: string, name: string): T | undefined {
    return this.store.get(namespace ? `${namespace}/${name}` : name);
  }
  list(): T[] {
    return [...this.store.values()];
  }
  keys(): string[] {
    return [...this.store.keys()];
  }
  listByNamespace(namespace: string): T[] {
    return [...(this.byNs.get(namespace) ?? [])].map((k) => this.store.get(k)).filter((x): x is T => x !== undefined);
  }
  size(): number {
    return this.store.size;
  }

  /** Adds an index; call before start(). `fn` returns the index values of an object. */
  addIndex(name: string, fn: IndexFn<T>): void {
    this.indexFns.set(name, fn);
    this.indices.set(name, new Map());
  }
  byIndex(name: string, value: string): T[] {
    const keys = this.indices.get(name)?.get(value);
    if (!keys) return [];
    return [...keys].map((k) => this.store.get(k)).filter((x): x is T => x !== undefined);
  }

  onKey(handler: KeyHandler): void {
    this.keyHandlers.push(handler);
  }
  onObject(handlers: ObjectHandlers<T>): void {
    this.objHandlers.push(handlers);
  }

  hasSynced(): boolean {
    return this.synced;
  }
  /** True while the last list/watch is working; false after an error until the next good list. */
  isHealthy(): boolean {
    return this.healthy;
  }
  lastError(): unknown {
    return this.lastErr;
  }

  waitForSync(timeoutMs = 30_000): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`informer ${this.name} did not sync in ${timeoutMs} ms: ${errorMessage(this.lastErr)}`)), timeoutMs);
      this.syncWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.listAndWatch();
    const period = this.opts.resyncPeriodMs;
    if (period && period > 0) {
      this.resyncTimer = setInterval(() => this.resync(), period);
      this.resyncTimer.unref?.();
    }
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
    this.abort = undefined;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.watchdog) clearTimeout(this.watchdog);
    if (this.resyncTimer) clearInterval(this.resyncTimer);
  }

  // --- list + watch ------------------------------------------------------------------------------------
  private query(): Record<string, string | undefined> {
    return { labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector };
  }

  private async listAndWatch(): Promise<void> {
    if (this.stopped) return;
    let list;
    try {
      list = await this.client.list<T>(this.opts.path, this.query());
    } catch (err) {
      this.fail(err, 'list');
      return;
    }
    if (this.stopped) return;
    this.replace(list.items);
    this.resourceVersion = list.metadata.resourceVersion ?? '';
    this.failures = 0;
    this.healthy = true;
    this.lastErr = undefined;
    if (!this.synced) {
      this.synced = true;
      this.syncWaiters.splice(0).forEach((w) => w());
    }
    this.opts.onListed?.();
    this.watch();
  }

  private watch(): void {
    if (this.stopped) return;
    // MESH_WATCH_TIMEOUT_SECONDS shortens every watch (tests use it to reach 410 Gone on re-watch).
    const envTimeout = Number(process.env.MESH_WATCH_TIMEOUT_SECONDS);
    const timeoutSeconds = this.opts.watchTimeoutSeconds ?? (envTimeout > 0 ? envTimeout : 240 + Math.floor(Math.random() * 120));
    let gone = false;
    let ended = false;
    const finish = (err: unknown) => {
      if (ended) return;
      ended = true;
      if (this.watchdog) clearTimeout(this.watchdog);
      if (this.stopped) return;
      if (gone) {
        this.log.info('watch expired (410 Gone), relisting', { informer: this.name });
        this.opts.onRestart?.('gone');
        void this.listAndWatch();
      } else if (err) {
        this.fail(err, 'watch');
      } else {
        // The server closed the watch normally (its timeout): re-open from the last resourceVersion.
        this.watch();
      }
    };
    // We ask for bookmarks (the server sends one every few seconds) and get an event for every change, so a
    // watch that says nothing for `silenceMs` is suspect. The API server not answering a GET /version either
    // means it is cut off: an error now, not minutes later on TCP retransmission. Answering means this
    // watch's connection died (half-open) or the server sends bookmarks rarely: the watch is re-opened.
    const silenceMs = this.opts.silenceMs ?? (Number(process.env.MESH_WATCH_SILENCE_MS) > 0 ? Number(process.env.MESH_WATCH_SILENCE_MS) : SILENCE_MS);
    const onSilence = async () => {
      let failure: Error | null = null;
      try {
        await this.client.get('/version', { timeoutMs: Math.min(SILENCE_PROBE_MS, silenceMs) });
      } catch (err) {
        failure = new Error(`watch silent for ${silenceMs / 1000}s and the API server does not answer: ${errorMessage(err)}`);
      }
      if (ended) return;
      if (!failure) this.opts.onRestart?.('silent');
      // Finish first (with our reason), then abort: the abort's own error then finds the watch ended.
      const old = this.abort;
      finish(failure);
      old?.abort();
    };
    const armWatchdog = () => {
      if (this.watchdog) clearTimeout(this.watchdog);
      this.watchdog = setTimeout(() => void onSilence(), silenceMs);
      this.watchdog.unref?.();
    };
    armWatchdog();
    const params: Record<string, string | number | boolean | undefined> = {
      resourceVersion: this.resourceVersion,
      allowWatchBookmarks: true,
      timeoutSeconds,
      labelSelector: this.opts.labelSelector,
      fieldSelector: this.opts.fieldSelector,
    };
    const ac = new AbortController();
    this.abort = ac;
    const onEvent = (type: string, raw: unknown) => {
      if (ended || this.stopped) return;
      armWatchdog();
      const obj = raw as T & { code?: number; message?: string };
      switch (type) {
        case 'ADDED':
        case 'MODIFIED':
          this.upsert(obj);
          break;
        case 'DELETED':
          this.remove(obj);
          break;
        case 'BOOKMARK':
          break;
        case 'ERROR':
          if (obj.code === 410) gone = true;
          else this.lastErr = new KubeApiError(obj.code ?? 500, `watch error: ${obj.message ?? 'unknown'}`);
          finish(gone ? null : this.lastErr);
          ac.abort();
          return;
        default:
          return;
      }
      const rv = obj.metadata?.resourceVersion;
      if (rv) this.resourceVersion = rv;
    };
    this.client.watch(this.opts.path, params, onEvent, ac.signal).then(
      () => finish(null),
      (err: unknown) => finish(err),
    );
  }

  private fail(err: unknown, phase: string): void {
    if (this.stopped) return;
    if (statusCodeOf(err) === 410) {
      this.opts.onRestart?.('gone');
      void this.listAndWatch();
      return;
    }
    this.failures++;
    this.healthy = false;
    this.lastErr = err;
    const base = this.opts.backoffInitialMs ?? 200;
    const max = this.opts.backoffMaxMs ?? 30_000;
    const delay = Math.min(max, base * 2 ** Math.min(this.failures - 1, 20)) * (0.8 + Math.random() * 0.4);
    this.log.warn(`${phase} failed, retrying`, { informer: this.name, error: errorMessage(err), retryInMs: Math.round(delay), failures: this.failures });
    this.opts.onRestart?.(phase === 'list' ? 'list-error' : 'watch-error');
    this.opts.onError?.(err);
    this.retryTimer = setTimeout(() => void this.listAndWatch(), delay);
    this.retryTimer.unref?.();
  }

  private resync(): void {
    if (!this.synced) return;
    for (const [key, obj] of [...this.store]) {
      for (const h of this.objHandlers) this.guard(key, () => h.onUpdate?.(obj, obj));
      this.emitKey(key);
    }
  }

  // --- cache mutation ----------------------------------------------------------------------------------
  private replace(items: T[]): void {
    const seen = new Set<string>();
    for (const obj of items) {
      seen.add(keyOf(obj));
      this.upsert(obj);
    }
    for (const [key, obj] of [...this.store]) if (!seen.has(key)) this.remove(obj);
  }

  private upsert(obj: T): void {
    if (this.opts.accept && !this.opts.accept(obj)) {
      this.remove(obj);
      return;
    }
    const key = keyOf(obj);
    const old = this.store.get(key);
    if (old && old.metadata?.resourceVersion === obj.metadata?.resourceVersion && old.metadata?.resourceVersion) return;
    if (old) this.unindex(key, old);
    this.store.set(key, obj);
    this.index(key, obj);
    for (const h of this.objHandlers) {
      this.guard(key, () => (old ? h.onUpdate?.(old, obj) : h.onAdd?.(obj)));
    }
    this.emitKey(key);
  }

  private remove(obj: T): void {
    const key = keyOf(obj);
    const old = this.store.get(key);
    if (!old) return;
    this.store.delete(key);
    this.unindex(key, old);
    for (const h of this.objHandlers) this.guard(key, () => h.onDelete?.(old));
    this.emitKey(key);
  }

  private emitKey(key: string): void {
    for (const h of this.keyHandlers) this.guard(key, () => h(key));
  }

  /** A throwing handler must not stop the others or the watch. */
  private guard(key: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error('informer handler threw', { informer: this.name, key, error: errorMessage(err) });
    }
  }

  private index(key: string, obj: T): void {
    const ns = obj.metadata?.namespace ?? '';
    let s = this.byNs.get(ns);
    if (!s) this.byNs.set(ns, (s = new Set()));
    s.add(key);
    for (const [name, fn] of this.indexFns) {
      const idx = this.indices.get(name)!;
      for (const v of fn(obj)) {
        let set = idx.get(v);
        if (!set) idx.set(v, (set = new Set()));
        set.add(key);
      }
    }
  }

  private unindex(key: string, obj: T): void {
    const ns = obj.metadata?.namespace ?? '';
    const s = this.byNs.get(ns);
    s?.delete(key);
    if (s && s.size === 0) this.byNs.delete(ns);
    for (const [name, fn] of this.indexFns) {
      const idx = this.indices.get(name)!;
      for (const v of fn(obj)) {
        const set = idx.get(v);
        set?.delete(key);
        if (set && set.size === 0) idx.delete(v);
      }
    }
  }
}
