// Garbage collection and namespace cleanup, run in the server's process (what kube-controller-manager's
// garbage collector and namespace controller do): dependents whose owners are all gone are deleted;
// `foregroundDeletion` owners wait for their dependents; `orphan` owners release theirs first;
// a Terminating namespace is emptied, then removed.
import type { Logger } from '../log/index.js';
import { isObject, type Json, type JsonObject } from './patch.js';
import { grKey } from './resources.js';
import { finalizersOf, nsSpecFinalizers, type Rest, type WriteContext } from './rest.js';
import type { Obj } from './store.js';

interface OwnerRef {
  uid: string;
  blockOwnerDeletion?: boolean;
}

function ownerRefs(o: Obj): OwnerRef[] {
  const r = o.metadata['ownerReferences'];
  return Array.isArray(r) ? (r as Json[]).filter((x): x is JsonObject => isObject(x) && typeof x['uid'] === 'string').map((x) => ({ uid: x['uid'] as string })) : [];
}

const gcCtx: WriteContext = { user: { username: 'system:serviceaccount:kube-system:generic-garbage-collector', uid: '', groups: ['system:masters'] }, manager: 'kube-controller-manager', dryRun: false };

export class GarbageCollector {
  private timer: NodeJS.Timeout | undefined;
  private periodic: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    private readonly rest: Rest,
    private readonly log: Logger,
    private readonly delayMs = 20,
  ) {
    rest.onGcWork = () => this.kick();
    // Objects can point at owners that never existed; a slow sweep catches those too.
    this.periodic = setInterval(() => this.kick(), 5_000);
    this.periodic.unref();
  }

  kick(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.runOnce();
    }, this.delayMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.periodic) clearInterval(this.periodic);
    this.timer = undefined;
    this.periodic = undefined;
  }

  /** One pass; schedules another when it changed something (dependents of dependents, cascades). */
  runOnce(): void {
    if (this.running) return;
    this.running = true;
    let changed = false;
    try {
      changed = this.pass();
    } catch (e) {
      this.log.error('garbage collection pass failed', { error: e instanceof Error ? e.message : String(e) });
    } finally {
      this.running = false;
    }
    if (changed) this.kick();
  }

  /** Events expire after this long, as kube-apiserver's --event-ttl (1 h) does, so they cannot pile up. */
  eventTtlMs = 3600_000;

  private expireEvents(): boolean {
    const cutoff = Date.now() - this.eventTtlMs;
    let changed = false;
    for (const gr of ['events', grKey('events.k8s.io', 'events')]) {
      for (const o of this.rest.store.list(gr)) {
        const t = Date.parse(String(o['lastTimestamp'] ?? o['eventTime'] ?? o.metadata['creationTimestamp'] ?? ''));
        if (Number.isFinite(t) && t < cutoff) changed = this.deleteObj(gr, o, 'Background') || changed;
      }
    }
    return changed;
  }

  private pass(): boolean {
    const store = this.rest.store;
    let changed = this.expireEvents();
    const dependents = new Map<string, { gr: string; obj: Obj }[]>();
    const withOwners: { gr: string; obj: Obj }[] = [];
    const deleting: { gr: string; obj: Obj }[] = [];
    for (const gr of store.grs()) {
      for (const o of store.list(gr)) {
        const refs = ownerRefs(o);
        if (refs.length) {
          withOwners.push({ gr, obj: o });
          for (const r of refs) dependents.set(r.uid, [...(dependents.get(r.uid) ?? []), { gr, obj: o }]);
        }
        if (o.metadata['deletionTimestamp']) deleting.push({ gr, obj: o });
      }
    }
    // Owners being deleted with a policy.
    for (const { gr, obj } of deleting) {
      const fins = finalizersOf(obj);
      const deps = dependents.get(obj.metadata.uid) ?? [];
      if (fins.includes('orphan')) {
        for (const d of deps) {
          const refs = (d.obj.metadata['ownerReferences'] as JsonObject[]).filter((r) => r['uid'] !== obj.metadata.uid);
          const meta: Obj['metadata'] = { ...d.obj.metadata };
          if (refs.length) meta['ownerReferences'] = refs;
          else delete meta['ownerReferences'];
          this.rest.internalUpdate(d.gr, { ...d.obj, metadata: meta });
        }
        this.removeFinalizer(gr, obj, 'orphan');
        changed = true;
      } else if (fins.includes('foregroundDeletion')) {
        const live = deps.filter((d) => store.byUid(d.obj.metadata.uid));
        if (live.length === 0) {
          this.removeFinalizer(gr, obj, 'foregroundDeletion');
          changed = true;
        } else {
          for (const d of live) if (!d.obj.metadata['deletionTimestamp']) changed = this.deleteObj(d.gr, d.obj, 'Foreground') || changed;
        }
      }
      if (gr === 'namespaces' && nsSpecFinalizers(obj).includes('kubernetes')) changed = this.emptyNamespace(obj) || changed;
    }
    // Dependents whose owners are all gone.
    for (const { gr, obj: seen } of withOwners) {
      // Re-read: this pass may already have changed it (orphaning removes owner references).
      const obj = store.get(gr, seen.metadata.namespace, seen.metadata.name);
      if (!obj || obj.metadata.uid !== seen.metadata.uid || obj.metadata['deletionTimestamp']) continue;
      const refs = ownerRefs(obj);
      if (refs.length === 0) continue;
      if (refs.every((r) => !store.byUid(r.uid))) {
        this.log.debug('garbage collecting object whose owners are gone', { resource: gr, namespace: obj.metadata.namespace, name: obj.metadata.name });
        changed = this.deleteObj(gr, obj, 'Background') || changed;
      }
    }
    return changed;
  }

  private removeFinalizer(gr: string, obj: Obj, f: string): void {
    const cur = this.rest.store.get(gr, obj.metadata.namespace, obj.metadata.name);
    if (!cur) return;
    const fins = finalizersOf(cur).filter((x) => x !== f);
    const meta: Obj['metadata'] = { ...cur.metadata };
    if (fins.length) meta['finalizers'] = fins;
    else delete meta['finalizers'];
    this.rest.internalUpdate(gr, { ...cur, metadata: meta });
  }

  private deleteObj(gr: string, obj: Obj, policy: 'Foreground' | 'Background'): boolean {
    const def = this.rest.defOf(gr);
    if (!def) return false;
    try {
      this.rest.delete(def, def.versions[0], obj.metadata.namespace, obj.metadata.name, { propagationPolicy: policy }, gcCtx);
      return true;
    } catch (e) {
      this.log.warn('garbage collector could not delete object', { resource: gr, namespace: obj.metadata.namespace, name: obj.metadata.name, error: e instanceof Error ? e.message : String(e) });
      return false;
    }
  }

  /** Deletes everything in a Terminating namespace; removes the namespace once nothing is left. */
  private emptyNamespace(ns: Obj): boolean {
    const store = this.rest.store;
    const name = ns.metadata.name;
    let remaining = 0;
    let changed = false;
    for (const gr of store.grs()) {
      const def = this.rest.defOf(gr);
      if (!def || !def.namespaced) continue;
      for (const o of store.list(gr, name)) {
        remaining++;
        if (!o.metadata['deletionTimestamp']) changed = this.deleteObj(gr, o, 'Background') || changed;
      }
    }
    if (remaining === 0) {
      const cur = store.get('namespaces', undefined, name);
      if (cur) {
        const spec = { ...((cur['spec'] as JsonObject | undefined) ?? {}), finalizers: nsSpecFinalizers(cur).filter((f) => f !== 'kubernetes') };
        this.rest.internalUpdate(grKey('', 'namespaces'), { ...cur, spec });
        changed = true;
      }
    }
    return changed;
  }
}
