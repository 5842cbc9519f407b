// Streaming watches: the initial state or the backlog since a resourceVersion, then live events, with
// label/field filtering, bookmarks, Table rows for `kubectl get -w`, timeouts and slow-client cut-off.
import { gone, badRequest, toStatus } from '../errors.js';
import { apiVersionOf, grKey, type ResourceDef } from '../resources.js';
import { matchFields, matchSelector, parseFieldSelector, parseLabelSelector } from '../selectors.js';
import { objJson, readJson, type EventType, type Obj, type Store, type StoreEvent } from '../store.js';
import { renderTable, wantsTable } from '../table.js';
import type { Rest } from '../rest.js';
import type { ResourceRequest } from './context.js';
import { jsonHeaders } from './respond.js';
import { queryBool } from './paths.js';
import type { ServerResponse } from 'node:http';

/** A watcher that cannot keep up is cut off past this many buffered bytes; it relists, as with kube-apiserver. */
const MAX_BUFFERED_BYTES = 64 * 1024 * 1024;

interface OpenWatch {
  res: ServerResponse;
  def: ResourceDef;
  version: string;
  bookmarks: boolean;
  close(): void;
}

/** Every open watch of the server, and the timer that sends them bookmarks. */
export class WatchHub {
  private readonly open = new Set<OpenWatch>();
  private readonly bookmarkTimer: NodeJS.Timeout;

  constructor(private readonly store: Store, bookmarkIntervalMs: number) {
    this.bookmarkTimer = setInterval(() => this.sendBookmarks(), bookmarkIntervalMs);
    this.bookmarkTimer.unref();
  }

  add(w: OpenWatch): void {
    this.open.add(w);
  }

  remove(w: OpenWatch): void {
    this.open.delete(w);
  }

  /** Ends every open watch (before close, so keep-alive connections can drain). */
  endAll(): void {
    clearInterval(this.bookmarkTimer);
    for (const w of [...this.open]) w.close();
  }

  private sendBookmarks(): void {
    const rv = String(this.store.resourceVersion);
    for (const w of this.open) {
      if (!w.bookmarks) continue;
      w.res.write(`{"type":"BOOKMARK","object":{"kind":"${w.def.kind}","apiVersion":"${apiVersionOf(w.def.group, w.version)}","metadata":{"resourceVersion":"${rv}"}}}\n`);
    }
  }
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

/** Which objects a watch wants, and how a store event maps to what it sees (ADDED/MODIFIED/DELETED or nothing). */
interface WatchFilter {
  filtered: boolean;
  matches(o: Obj | undefined): boolean;
  typeOf(ev: StoreEvent): EventType | undefined;
}

function watchFilter(q: URLSearchParams, name: string | undefined): WatchFilter {
  const labels = parseLabelSelector(q.get('labelSelector'));
  const fieldSel = q.get('fieldSelector') ?? (name ? `metadata.name=${name}` : null);
  const fields = parseFieldSelector(name && q.get('fieldSelector') ? `${q.get('fieldSelector')},metadata.name=${name}` : fieldSel);
  const filtered = labels.length > 0 || fields.length > 0;
  const matches = (o: Obj | undefined): boolean => o !== undefined && (labels.length === 0 || matchSelector(labels, o.metadata['labels'] as Record<string, string> | undefined)) && (fields.length === 0 || matchFields(fields, o));
  return {
    filtered,
    matches,
    typeOf(ev) {
      if (!filtered) return ev.type;
      const now = matches(ev.obj);
      const before = matches(ev.prev);
      if (ev.type === 'ADDED') return now ? 'ADDED' : undefined;
      if (ev.type === 'MODIFIED') return now ? (before ? 'MODIFIED' : 'ADDED') : before ? 'DELETED' : undefined;
      return now || before ? 'DELETED' : undefined;
    },
  };
}

/**
 * The events since `resourceVersion`, `undefined` when they are gone (410), or `null` when the watch starts
 * from the current state (no resourceVersion, or "0").
 */
function backlogOf(store: Store, gr: string, ns: string | undefined, rvParam: string | null): StoreEvent[] | undefined | null {
  if (!rvParam || rvParam === '0') return null;
  const rv = Number(rvParam);
  if (!Number.isInteger(rv) || rv < 0) throw badRequest(`invalid resource version "${rvParam}"`);
  // A resourceVersion from the future means this server lost state the client saw (a restarted
  // in-memory server): tell the client to relist, as for one that is too old.
  return rv > store.resourceVersion ? undefined : store.eventsSince(gr, ns, rv);
}

function tableEvent(rest: Rest, def: ResourceDef, version: string, type: EventType, o: Obj): string {
  return `{"type":"${type}","object":${JSON.stringify(renderTable(def, [rest.view(def, version, o)], o.metadata.resourceVersion))}}\n`;
}

/** GET …?watch=true or …/watch/…: the watch stream. */
export function serveWatch(r: ResourceRequest): void {
  const { req, res, def, ns, query: q } = r;
  const { rest, watches } = r.deps;
  const store = rest.store;
  const version = r.target.version;
  const filter = watchFilter(q, r.target.name);
  const gr = grKey(def.group, def.resource);
  const backlog = backlogOf(store, gr, ns, q.get('resourceVersion'));
  if (backlog === undefined) {
    // As kube-apiserver: 200, then one ERROR event carrying a 410 Status.
    const st = toStatus(gone(`too old resource version: ${Number(q.get('resourceVersion'))} (${store.oldestResumable})`));
    res.writeHead(200, { ...jsonHeaders, 'Transfer-Encoding': 'chunked' });
    res.end(`{"type":"ERROR","object":${JSON.stringify(st)}}\n`);
    return;
  }
  const timeoutSec = Number(q.get('timeoutSeconds') ?? '0');
  const bookmarks = queryBool(q, 'allowWatchBookmarks');
  res.writeHead(200, { ...jsonHeaders, 'Transfer-Encoding': 'chunked' });
  res.flushHeaders();
  const av = apiVersionOf(def.group, version);
  // kubectl get -w asks for Table rows; each event then carries a one-row Table, as kube-apiserver sends.
  const asTable = wantsTable(req.headers['accept']);
  let closed = false;
  const deliver = (ev: StoreEvent): void => {
    if (closed) return;
    const type = filter.typeOf(ev);
    if (!type) return;
    res.write(asTable ? tableEvent(rest, def, version, type, ev.obj) : eventLine(ev, type, def, version));
    if (res.writableLength > MAX_BUFFERED_BYTES) state.close();
  };
  const state: OpenWatch = {
    res,
    def,
    version,
    bookmarks,
    close: () => {
      if (closed) return;
      closed = true;
      unregister();
      watches.remove(state);
      clearTimeout(timer);
      res.end();
    },
  };
  if (backlog) for (const ev of backlog) deliver(ev);
  else {
    for (const o of store.list(gr, ns)) {
      if (!filter.matches(o) && filter.filtered) continue;
      if (asTable) res.write(tableEvent(rest, def, version, 'ADDED', o));
      else if (o.apiVersion === av) res.write(`{"type":"ADDED","object":${readJson(o)}}\n`);
      else res.write(`{"type":"ADDED","object":${JSON.stringify({ ...o, apiVersion: av })}}\n`);
    }
    if (bookmarks && queryBool(q, 'sendInitialEvents')) {
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
