// In-memory object storage with one global resourceVersion counter, a bounded event log (the watch
// window), watcher fan-out, and an optional snapshot file so a restarted server keeps its objects and
// its counter. Objects are replaced, never mutated in place, so a serialized form can be cached per object.
import { readFileSync, existsSync, renameSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { StoredObject } from './auth/types.js';

export type Obj = StoredObject;
export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: EventType;
  rv: number;
  gr: string;
  namespace: string;
  obj: Obj;
  /** The object before this change (for selector watches: an object leaving the selection is a DELETED). Only during fan-out. */
  prev?: Obj;
  /** Serialized watch lines, shared by all watchers during fan-out, then dropped (memory). */
  lines?: Partial<Record<EventType, string>>;
}

export interface Watcher {
  gr: string;
  namespace?: string;
  /** Called for every event of `gr` in `namespace`; the watcher filters by selector itself. */
  deliver(ev: StoreEvent): void;
}

const jsonCache = new WeakMap<object, string>();

/**
 * JSON of an object version that is being written: computed once and shared by the watch fan-out and the
 * write's response (objects are never mutated after storing). The writer drops it afterwards (dropJson).
 */
export function objJson(obj: Obj): string {
  let s = jsonCache.get(obj);
  if (s === undefined) {
    s = JSON.stringify(obj);
    jsonCache.set(obj, s);
  }
  return s;
}

/** JSON of an object for a read (get, list, snapshot): the cached form if present, else computed, not kept. */
export function readJson(obj: Obj): string {
  return jsonCache.get(obj) ?? JSON.stringify(obj);
}

/** Forgets the cached JSON of an object version (kept JSON of 20,000 objects would cost ~30 MB). */
export function dropJson(obj: Obj): void {
  jsonCache.delete(obj);
}

export function objKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

interface Snapshot {
  resourceVersion: number;
  objects: Record<string, Obj[]>;
}

export interface StoreOptions {
  /** How many events stay available to watches that resume from a resourceVersion. */
  watchWindow: number;
  /** Snapshot file; undefined = memory only. */
  snapshotPath?: string;
  /** Wait this long after a change before writing the snapshot (changes in between are coalesced). */
  snapshotDelayMs?: number;
}

export class Store {
  private rv = 0;
  private readonly tables = new Map<string, Map<string, Obj>>();
  private readonly uids = new Map<string, { gr: string; key: string }>();
  private readonly log: StoreEvent[] = [];
  private logStart = 0;
  /** Lowest resourceVersion a watch may resume after (events newer than it are all in the log). */
  private floorRv = 0;
  private readonly watchers = new Map<string, Set<Watcher>>();
  private snapshotTimer: NodeJS.Timeout | undefined;
  private snapshotWriting: Promise<void> | undefined;
  private dirty = false;

  /** Where errors thrown by a watcher's deliver() go (logged by the server). */
  onWatcherError: (err: unknown) => void = () => {};

  constructor(private readonly options: StoreOptions) {
    if (options.snapshotPath && existsSync(options.snapshotPath)) this.load(options.snapshotPath);
  }

  get resourceVersion(): number {
    return this.rv;
  }

  /** Allocates the next resourceVersion. */
  next(): number {
    return ++this.rv;
  }

  table(gr: string): Map<string, Obj> {
    let t = this.tables.get(gr);
    if (!t) {
      t = new Map();
      this.tables.set(gr, t);
    }
    return t;
  }

  get(gr: string, namespace: string | undefined, name: string): Obj | undefined {
    return this.tables.get(gr)?.get(objKey(namespace, name));
  }

  /** Objects of `gr`, optionally in one namespace, sorted by namespace/name (stable for continue tokens). */
  list(gr: string, namespace?: string): Obj[] {
    const t = this.tables.get(gr);
    if (!t) return [];
    const out: Obj[] = [];
    for (const o of t.values()) if (namespace === undefined || o.metadata.namespace === namespace) out.push(o);
    return out;
  }

  count(gr: string): number {
    return this.tables.get(gr)?.size ?? 0;
  }

  byUid(uid: string): Obj | undefined {
    const at = this.uids.get(uid);
    return at ? this.tables.get(at.gr)?.get(at.key) : undefined;
  }

  grs(): string[] {
    return [...this.tables.keys()];
  }

  /** Stores `obj` (whose metadata.resourceVersion must already be a fresh value from next()). */
  put(gr: string, obj: Obj, type: 'ADDED' | 'MODIFIED'): void {
    const key = objKey(obj.metadata.namespace, obj.metadata.name);
    const t = this.table(gr);
    const prev = t.get(key);
    t.set(key, obj);
    // Only live objects keep their serialized form; superseded versions (in the event log) drop it.
    if (prev) jsonCache.delete(prev);
    this.uids.set(obj.metadata.uid, { gr, key });
    this.emit({ type, rv: Number(obj.metadata.resourceVersion), gr, namespace: obj.metadata.namespace ?? '', obj, ...(prev ? { prev } : {}) });
  }

  /** Removes an object; `final` is the object as last seen with a fresh resourceVersion. */
  remove(gr: string, final: Obj): void {
    const key = objKey(final.metadata.namespace, final.metadata.name);
    const t = this.tables.get(gr);
    const prev = t?.get(key);
    if (!t || !prev) return;
    t.delete(key);
    jsonCache.delete(prev);
    this.uids.delete(prev.metadata.uid);
    this.emit({ type: 'DELETED', rv: Number(final.metadata.resourceVersion), gr, namespace: final.metadata.namespace ?? '', obj: final, prev });
  }

  /** Drops a whole table (a CRD was deleted) without events; callers delete objects first for watchers. */
  dropTable(gr: string): void {
    this.tables.delete(gr);
  }

  private emit(ev: StoreEvent): void {
    this.log.push(ev);
    if (this.log.length - this.logStart > this.options.watchWindow) {
      this.floorRv = this.log[this.logStart].rv;
      this.logStart++;
      // Compact now and then instead of shifting on every event.
      if (this.logStart > 4096 && this.logStart > this.log.length / 2) {
        this.log.splice(0, this.logStart);
        this.logStart = 0;
      }
    }
    const ws = this.watchers.get(ev.gr);
    if (ws) {
      for (const w of ws) {
        if (w.namespace !== undefined && w.namespace !== ev.namespace) continue;
        try {
          w.deliver(ev);
        } catch (e) {
          // One broken watcher must neither fail the write that is being committed nor starve the others.
          this.onWatcherError(e);
        }
      }
    }
    // The retained event keeps only what a resuming watch needs.
    delete ev.prev;
    delete ev.lines;
    this.markDirty();
  }

  /**
   * Events of `gr` after `fromRv`, or undefined when `fromRv` is older than the retained window (410 Gone).
   */
  eventsSince(gr: string, namespace: string | undefined, fromRv: number): StoreEvent[] | undefined {
    if (fromRv < this.floorRv) return undefined;
    const out: StoreEvent[] = [];
    // Binary search for the first event with rv > fromRv.
    let lo = this.logStart;
    let hi = this.log.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.log[mid].rv <= fromRv) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.log.length; i++) {
      const ev = this.log[i];
      if (ev.gr === gr && (namespace === undefined || ev.namespace === namespace)) out.push(ev);
    }
    return out;
  }

  /** The oldest resourceVersion a watch can still start from. */
  get oldestResumable(): number {
    return this.floorRv;
  }

  addWatcher(w: Watcher): () => void {
    let set = this.watchers.get(w.gr);
    if (!set) {
      set = new Set();
      this.watchers.set(w.gr, set);
    }
    set.add(w);
    return () => {
      set.delete(w);
    };
  }

  watcherCount(): number {
    let n = 0;
    for (const s of this.watchers.values()) n += s.size;
    return n;
  }

  // --- persistence ---

  private load(path: string): void {
    const snap = JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
    this.rv = snap.resourceVersion;
    // Events before the restart are gone: a watch must resume at or after this point, else 410.
    this.floorRv = this.rv;
    for (const [gr, objs] of Object.entries(snap.objects)) {
      const t = this.table(gr);
      for (const o of objs) {
        const key = objKey(o.metadata.namespace, o.metadata.name);
        t.set(key, o);
        this.uids.set(o.metadata.uid, { gr, key });
      }
    }
  }

  private markDirty(): void {
    if (!this.options.snapshotPath) return;
    this.dirty = true;
    if (this.snapshotTimer) return;
    this.snapshotTimer = setTimeout(() => {
      this.snapshotTimer = undefined;
      void this.flush();
    }, this.options.snapshotDelayMs ?? 1000);
    this.snapshotTimer.unref();
  }

  private serialize(): string {
    const parts: string[] = [];
    for (const [gr, t] of this.tables) {
      if (t.size === 0) continue;
      const items: string[] = [];
      for (const o of t.values()) items.push(readJson(o));
      parts.push(`${JSON.stringify(gr)}:[${items.join(',')}]`);
    }
    return `{"resourceVersion":${this.rv},"objects":{${parts.join(',')}}}`;
  }

  /** Writes the snapshot now if anything changed (atomically: temp file, then rename). */
  async flush(): Promise<void> {
    const path = this.options.snapshotPath;
    if (!path) return;
    while (this.snapshotWriting) await this.snapshotWriting;
    if (!this.dirty) return;
    this.dirty = false;
    const text = this.serialize();
    this.snapshotWriting = (async () => {
      const tmp = `${path}.tmp`;
      await writeFile(tmp, text, { mode: 0o600 });
      renameSync(tmp, path);
    })();
    try {
      await this.snapshotWriting;
    } finally {
      this.snapshotWriting = undefined;
    }
  }

  close(): void {
    if (this.snapshotTimer) clearTimeout(this.snapshotTimer);
    this.snapshotTimer = undefined;
  }
}
