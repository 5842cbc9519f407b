// The REST core's verbs over the store: get, list, create, update, patch (merge, JSON, strategic, apply),
// delete (finalizers, propagation policy) and deletecollection, with Kubernetes metadata semantics
// (uid, one resourceVersion counter, generation on spec changes, managedFields). No HTTP here.
import { parse as parseYaml } from 'yaml';
import type { UserInfo } from './auth/types.js';
import { admitBuiltin } from './admission.js';
import { pruneBuiltinFields, pruneObjectMeta } from './builtin-fields.js';
import { admitService, releaseIps, releaseService, reserveService, type Admission, type IpChange } from './admission-service.js';
import { ServiceIpRanges, PortAllocator } from './allocators.js';
import { admitCustom, parseCrd } from './crd.js';
import { admitCrd, CrdCatalog, CRD_GR } from './crd-catalog.js';
import { carryServerMetadata, checkBody, finalizersOf, nsSpecFinalizers, randomSuffix, sameList, sameSpec, stamp, withoutTime } from './rest-meta.js';
import { nameCauses } from './validation.js';
import { ApiError, alreadyExists, badRequest, conflict, invalid, notFound } from './errors.js';
import { serverSideApply, trackUpdate } from './managed.js';
import { applyJsonPatch, clone, deepEqual, isObject, mergePatch, strategicMerge, type Json, type JsonObject } from './patch.js';
import { apiVersionOf, grKey, type Registry, type ResourceDef } from './resources.js';
import { matchFields, matchSelector, parseFieldSelector, parseLabelSelector } from './selectors.js';
import { objKey, type Obj, type Store } from './store.js';

export interface WriteContext {
  user: UserInfo;
  /** fieldManager query parameter, or the User-Agent's product name. */
  manager: string;
  dryRun: boolean;
  /** fieldValidation query parameter: unknown fields are refused (Strict) or dropped, named in a warning (Warn, the default) or not (Ignore). */
  fieldValidation?: 'Strict' | 'Warn' | 'Ignore';
  /** Filled with `Warning:` header texts for the response. */
  warnings?: string[];
}

export interface ListOptions {
  labelSelector?: string | null;
  fieldSelector?: string | null;
  limit?: number;
  continueToken?: string | null;
}

export interface ListResult {
  items: Obj[];
  resourceVersion: string;
  continueToken?: string;
  remaining?: number;
}

export interface DeleteOptions {
  propagationPolicy?: 'Foreground' | 'Background' | 'Orphan';
  /** Recorded as deletionGracePeriodSeconds when finalizers hold the object (the sandbox kubelet reads it). */
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
}

export type PatchType = 'merge' | 'json' | 'strategic' | 'apply';

interface CommitOptions {
  /** Record the writer's field ownership (not for server-side apply, which computed it). */
  track: boolean;
  subresource?: string;
  /** Not walked for unknown fields again: server-side apply refused any in its configuration. */
  pruned?: boolean;
}

/** The error of an apply configuration that does not fit the kind's schema, worded as kube-apiserver's. */
function untypedApply(def: ResourceDef, version: string, ns: string | undefined, name: string, unknown: string[]): ApiError {
  const lines = unknown.map((f) => `.${f}: field not declared in schema`);
  const what = lines.length === 1 ? lines[0] : ['errors:', ...lines.map((l) => `  ${l}`)].join('\n');
  return new ApiError('InternalError', `failed to create typed patch object (${ns ?? ''}/${name}; ${def.group}/${version}, Kind=${def.kind}): ${what}`);
}

export class Rest {
  readonly admission: Admission;
  /** The CRDs served (their schemas feed admission and OpenAPI). */
  readonly crds: CrdCatalog;
  /** Called after every change of an object that has ownerReferences or was deleted (the GC wakes up). */
  onGcWork: () => void = () => {};
  /** Admission of the security module (RBAC field validation, escalation checks), after defaulting. */
  admitHook: ((user: UserInfo, gr: { group: string; resource: string }, obj: Obj, old: Obj | undefined) => void) | undefined;

  constructor(
    readonly store: Store,
    readonly registry: Registry,
    serviceCidr: string,
  ) {
    this.admission = { ips: new ServiceIpRanges(serviceCidr), nodePorts: new PortAllocator() };
    this.crds = new CrdCatalog(registry);
    for (const s of store.list('services')) reserveService(this.admission, s);
    for (const crd of store.list(CRD_GR)) {
      try {
        this.crds.register(parseCrd(crd));
      } catch {
        // A stored CRD that no longer validates stays stored but serves nothing.
      }
    }
  }

  /** What the object looks like to a client of `version` (custom resources are stored as written). */
  view(def: ResourceDef, version: string, obj: Obj): Obj {
    const av = apiVersionOf(def.group, version);
    return obj.apiVersion === av ? obj : { ...obj, apiVersion: av };
  }

  get(def: ResourceDef, version: string, ns: string | undefined, name: string): Obj {
    const o = this.store.get(grKey(def.group, def.resource), def.namespaced ? ns : undefined, name);
    if (!o) throw notFound(def.resource, def.group, name);
    return this.view(def, version, o);
  }

  list(def: ResourceDef, ns: string | undefined, opts: ListOptions): ListResult {
    const labels = parseLabelSelector(opts.labelSelector);
    const fields = parseFieldSelector(opts.fieldSelector);
    const all = this.store.list(grKey(def.group, def.resource), def.namespaced ? ns : undefined);
    const rv = String(this.store.resourceVersion);
    let items = all.filter((o) => (labels.length === 0 || matchSelector(labels, o.metadata['labels'] as Record<string, string> | undefined)) && (fields.length === 0 || matchFields(fields, o)));
    const limit = opts.limit && opts.limit > 0 ? opts.limit : 0;
    if (!limit && !opts.continueToken) return { items, resourceVersion: rv };
    const key = (o: Obj) => objKey(o.metadata.namespace, o.metadata.name);
    items.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    if (opts.continueToken) {
      let after: string;
      try {
        const t = JSON.parse(Buffer.from(opts.continueToken, 'base64url').toString()) as { k?: unknown };
        if (typeof t.k !== 'string') throw new Error('no key');
        after = t.k;
      } catch {
        throw badRequest('continue key is not valid: illegal base64 data or malformed JSON');
      }
      items = items.filter((o) => key(o) > after);
    }
    if (!limit || items.length <= limit) return { items, resourceVersion: rv };
    const page = items.slice(0, limit);
    const token = Buffer.from(JSON.stringify({ v: rv, k: key(page[page.length - 1]) })).toString('base64url');
    return { items: page, resourceVersion: rv, continueToken: token, remaining: items.length - limit };
  }

  // --- writes ---

  private checkNamespace(def: ResourceDef, ns: string | undefined): void {
    if (!def.namespaced) return;
    const n = this.store.get('namespaces', undefined, ns ?? '');
    if (!n) throw notFound('namespaces', '', ns ?? '');
    if (n.metadata['deletionTimestamp']) throw new ApiError('Forbidden', `${def.kind.toLowerCase()} "" is forbidden: unable to create new content in namespace ${ns ?? ''} because it is being terminated`);
  }

  /** `owned`: the body is a private copy (freshly parsed from a request) and may be modified. */
  create(def: ResourceDef, version: string, ns: string | undefined, body: unknown, ctx: WriteContext, owned = false): Obj {
    const obj = checkBody(def, version, body, ns, owned);
    const m = obj.metadata;
    if (m.resourceVersion) throw badRequest('resourceVersion should not be set on objects to be created');
    if (!m.name && typeof m['generateName'] === 'string' && m['generateName']) m.name = `${m['generateName'] as string}${randomSuffix()}`;
    const causes = nameCauses(def, m.name ?? '');
    if (causes.length) throw invalid(def.kind, def.group, m.name ?? '', causes);
    this.checkNamespace(def, ns);
    if (this.store.get(grKey(def.group, def.resource), def.namespaced ? ns : undefined, m.name)) throw alreadyExists(def.resource, def.group, m.name);
    return this.commit(def, version, undefined, obj, ctx, { track: true });
  }

  update(def: ResourceDef, version: string, ns: string | undefined, name: string, body: unknown, ctx: WriteContext, subresource?: string, owned = false): Obj {
    const obj = checkBody(def, version, body, ns, owned);
    if (obj.metadata.name !== name) throw badRequest(`the name of the object (${String(obj.metadata.name)}) does not match the name on the URL (${name})`);
    const gr = grKey(def.group, def.resource);
    const cur = this.store.get(gr, def.namespaced ? ns : undefined, name);
    if (!cur) throw notFound(def.resource, def.group, name);
    const rv = obj.metadata.resourceVersion;
    if (rv && rv !== cur.metadata.resourceVersion) throw conflict(def.resource, def.group, name, 'the object has been modified; please apply your changes to the latest version and try again');
    return this.commit(def, version, cur, obj, ctx, { track: true, ...(subresource ? { subresource } : {}) });
  }

  patch(def: ResourceDef, version: string, ns: string | undefined, name: string, type: PatchType, raw: string, ctx: WriteContext, opts: { subresource?: string; force?: boolean } = {}): Obj {
    const gr = grKey(def.group, def.resource);
    const cur = this.store.get(gr, def.namespaced ? ns : undefined, name);
    let patch: Json;
    try {
      patch = (type === 'apply' ? parseYaml(raw) : JSON.parse(raw)) as Json;
      if (raw.includes('__proto__') && JSON.stringify(patch).includes('"__proto__"')) throw new Error('the patch contains a "__proto__" key');
    } catch (e) {
      throw badRequest(`error decoding patch: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
    }
    if (type === 'apply') return this.apply(def, version, ns, name, cur, patch, ctx, opts);
    if (!cur) throw notFound(def.resource, def.group, name);
    if (type === 'strategic' && def.custom) throw new ApiError('UnsupportedMediaType', 'strategic merge patch is not supported for custom resources; use a merge patch (--type merge) or JSON patch');
    const base = clone(this.view(def, version, cur)) as unknown as JsonObject;
    let next: Json;
    if (type === 'json') next = applyJsonPatch(base, patch);
    else {
      if (!isObject(patch)) throw badRequest('a merge patch must be a JSON object');
      next = type === 'merge' ? mergePatch(base, patch) : strategicMerge(base, patch);
    }
    if (!isObject(next)) throw new ApiError('Invalid', 'the patched object is not a JSON object');
    // `next` is built from a private copy of the stored object and the freshly parsed patch.
    const obj = checkBody(def, version, next, ns, true);
    if (obj.metadata.name !== name) throw new ApiError('Invalid', `${def.kind} "${name}" is invalid: metadata.name: Invalid value: "${String(obj.metadata.name)}": field is immutable`);
    const rv = obj.metadata.resourceVersion;
    if (rv && rv !== cur.metadata.resourceVersion) throw conflict(def.resource, def.group, name, 'the object has been modified; please apply your changes to the latest version and try again');
    return this.commit(def, version, cur, obj, ctx, { track: true, ...(opts.subresource ? { subresource: opts.subresource } : {}) });
  }

  private apply(def: ResourceDef, version: string, ns: string | undefined, name: string, cur: Obj | undefined, config: Json, ctx: WriteContext, opts: { subresource?: string; force?: boolean }): Obj {
    if (!isObject(config)) throw badRequest('an apply configuration must be an object');
    if (!ctx.manager || ctx.manager === 'unknown') throw badRequest('PATCH requests with content type application/apply-patch+yaml require fieldManager to be set');
    const cfg = checkBody(def, version, config, ns);
    // kube-apiserver cannot type an apply configuration with an unknown field (structured-merge-diff), so
    // it refuses it whatever fieldValidation says, with a 500 and this message.
    if (!def.custom) {
      const unknown = pruneBuiltinFields(def.group, version, def.kind, cfg);
      if (unknown.length) throw untypedApply(def, version, ns, name, unknown);
    }
    if (cfg.metadata.name !== name) throw badRequest(`the name of the object (${String(cfg.metadata.name)}) does not match the name on the URL (${name})`);
    if (!cur) this.checkNamespace(def, ns);
    const statusSeparate = def.subresources.includes('status');
    const { merged, managedFields } = serverSideApply(
      cur ? this.view(def, version, cur) : undefined,
      cfg as unknown as JsonObject,
      ctx.manager,
      apiVersionOf(def.group, version),
      opts.force === true,
      opts.subresource,
      statusSeparate,
      { resource: def.resource, group: def.group, name },
    );
    merged['metadata'] = { ...(isObject(merged['metadata']) ? merged['metadata'] : {}), name };
    const obj = checkBody(def, version, merged, ns);
    obj.metadata['managedFields'] = managedFields;
    if (!cur) {
      const causes = nameCauses(def, name);
      if (causes.length) throw invalid(def.kind, def.group, name, causes);
      delete (obj.metadata as Record<string, unknown>)['resourceVersion'];
    }
    return this.commit(def, version, cur, obj, ctx, { track: false, pruned: true, ...(opts.subresource ? { subresource: opts.subresource } : {}) });
  }

  /** Sets server-owned metadata, runs admission, records managedFields, stores (or deletes when finalized). */
  private commit(def: ResourceDef, version: string, prev: Obj | undefined, obj: Obj, ctx: WriteContext, opts: CommitOptions): Obj {
    const gr = grKey(def.group, def.resource);
    const statusSeparate = def.subresources.includes('status');
    const m = carryServerMetadata(prev, obj, opts, statusSeparate);
    const ips = this.admit(def, version, prev, obj, ctx, opts);
    // Field ownership is recorded once server-side apply has touched an object (the issue's "managedFields
    // where apply is used"): plain creates/updates of never-applied objects skip it, which keeps the hot
    // path and memory lean. Updates to applied objects take ownership of what they change, as in Kubernetes.
    if (opts.track && prev && Array.isArray(prev.metadata['managedFields'])) m['managedFields'] = trackUpdate(prev, obj, ctx.manager, obj.apiVersion, opts.subresource, statusSeparate);
    else if (opts.track) delete m['managedFields'];
    if (Array.isArray(m['managedFields']) && (m['managedFields'] as unknown[]).length === 0) delete m['managedFields'];
    if (prev && opts.subresource !== 'status' && !sameSpec(prev, obj)) m['generation'] = Number(prev.metadata['generation'] ?? 0) + 1;
    if (prev) {
      // A write that changes nothing is not a write (no new resourceVersion, no watch event).
      m.resourceVersion = prev.metadata.resourceVersion;
      if (deepEqual(withoutTime(obj), withoutTime(prev))) return this.view(def, version, prev);
    }
    if (ctx.dryRun) {
      if (gr === 'services' && !prev) releaseService(this.admission, obj);
      else if (ips) releaseIps(this.admission, ips.allocated);
      return obj;
    }
    m.resourceVersion = String(this.store.next());
    if (prev && m['deletionTimestamp'] && finalizersOf(obj).length === 0) {
      this.finalizeDelete(def, obj);
      return obj;
    }
    this.store.put(gr, obj, prev ? 'MODIFIED' : 'ADDED');
    // A downgrade's (or a switch to ExternalName's) IPs are free once the object without them is stored.
    if (ips) releaseIps(this.admission, ips.released);
    if (gr === CRD_GR) this.crds.register(parseCrd(obj));
    if (m['ownerReferences'] !== undefined || m['deletionTimestamp']) this.onGcWork();
    return this.view(def, version, obj);
  }

  /** Admission: defaults and validation per type, then the security module's checks. */
  private admit(def: ResourceDef, version: string, prev: Obj | undefined, obj: Obj, ctx: WriteContext, opts: CommitOptions): IpChange | undefined {
    const gr = grKey(def.group, def.resource);
    const subresource = opts.subresource;
    let ips: IpChange | undefined;
    if (def.custom) {
      // Kubernetes decodes a custom resource's metadata into ObjectMeta, then prunes the rest by the schema.
      const meta = pruneObjectMeta(obj);
      admitCustom(def.kind, def.group, this.crds.schemaOf(gr, version), obj, (pruned) => this.unknownFields(def, version, [...meta, ...pruned], ctx));
    } else {
      // Unknown fields are dropped in every mode, as kube-apiserver's decoding into typed structs drops
      // them; the walk that finds them removes them (server-side apply checked its configuration).
      if (!opts.pruned) this.unknownFields(def, version, pruneBuiltinFields(def.group, version, def.kind, obj), ctx);
      if (gr === 'services') {
        if (subresource !== 'status') ips = admitService(this.admission, obj, prev);
      } else admitBuiltin(def, obj, prev);
    }
    if (gr === CRD_GR && subresource !== 'status') admitCrd(def, obj, prev);
    try {
      this.admitHook?.(ctx.user, { group: def.group, resource: def.resource }, obj, prev);
    } catch (err) {
      if (ips) releaseIps(this.admission, ips.allocated);
      throw err;
    }
    return ips;
  }

  /** Strict refuses the unknown fields (already dropped from the object), Warn names them, Ignore says nothing. */
  private unknownFields(def: ResourceDef, version: string, unknown: string[], ctx: WriteContext): void {
    if (!unknown.length || ctx.fieldValidation === 'Ignore') return;
    const named = unknown.map((f) => `unknown field "${f}"`);
    if (ctx.fieldValidation === 'Strict') throw badRequest(`${def.kind} in version "${version}" cannot be handled as a ${def.kind}: strict decoding error: ${named.join(', ')}`);
    if (ctx.fieldValidation === 'Warn') ctx.warnings?.push(...named);
  }

  /** Removes an object for good (its finalizers are done) and undoes what it held. */
  private finalizeDelete(def: ResourceDef, final: Obj): void {
    const gr = grKey(def.group, def.resource);
    this.store.remove(gr, final);
    if (gr === 'services') releaseService(this.admission, final);
    if (gr === CRD_GR) {
      const info = this.crds.unregister(final);
      if (info) {
        const crGr = grKey(info.group, info.plural);
        for (const o of this.store.list(crGr)) this.store.remove(crGr, { ...o, metadata: { ...o.metadata, resourceVersion: String(this.store.next()) } });
        this.store.dropTable(crGr);
      }
    }
    this.onGcWork();
  }

  delete(def: ResourceDef, version: string, ns: string | undefined, name: string, opts: DeleteOptions, ctx: WriteContext): Obj {
    const gr = grKey(def.group, def.resource);
    const cur = this.store.get(gr, def.namespaced ? ns : undefined, name);
    if (!cur) throw notFound(def.resource, def.group, name);
    const pre = opts.preconditions;
    if (pre?.uid && pre.uid !== cur.metadata.uid) throw conflict(def.resource, def.group, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${cur.metadata.uid}`);
    if (pre?.resourceVersion && pre.resourceVersion !== cur.metadata.resourceVersion) throw conflict(def.resource, def.group, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${cur.metadata.resourceVersion}`);
    if (gr === 'namespaces' && ['default', 'kube-system', 'kube-public'].includes(name)) throw new ApiError('Forbidden', `namespaces "${name}" is forbidden: this namespace may not be deleted`, { name, kind: 'namespaces' });
    const finalizers = finalizersOf(cur).filter((f) => f !== 'orphan' && f !== 'foregroundDeletion');
    const existing = finalizersOf(cur);
    if (opts.propagationPolicy === 'Foreground') finalizers.push('foregroundDeletion');
    else if (opts.propagationPolicy === 'Orphan') finalizers.push('orphan');
    else if (existing.includes('orphan') && opts.propagationPolicy === undefined) finalizers.push('orphan');
    const nsFinalizers = gr === 'namespaces' ? nsSpecFinalizers(cur) : [];
    if (cur.metadata['deletionTimestamp'] && sameList(existing, finalizers)) return this.view(def, version, cur);
    if (ctx.dryRun) return this.view(def, version, cur);
    if (finalizers.length || nsFinalizers.length) {
      const obj = clone(cur);
      obj.metadata['deletionTimestamp'] = (cur.metadata['deletionTimestamp'] as string | undefined) ?? stamp();
      const podGrace = gr === 'pods' && isObject(cur['spec'] as Json) ? (cur['spec'] as JsonObject)['terminationGracePeriodSeconds'] : undefined;
      obj.metadata['deletionGracePeriodSeconds'] = (cur.metadata['deletionGracePeriodSeconds'] as number | undefined) ?? opts.gracePeriodSeconds ?? (typeof podGrace === 'number' ? podGrace : 0);
      if (finalizers.length) obj.metadata['finalizers'] = finalizers;
      else delete obj.metadata['finalizers'];
      if (gr === 'namespaces') obj['status'] = { ...((obj['status'] as JsonObject | undefined) ?? {}), phase: 'Terminating' };
      obj.metadata.resourceVersion = String(this.store.next());
      this.store.put(gr, obj, 'MODIFIED');
      this.onGcWork();
      return this.view(def, version, obj);
    }
    const final = { ...cur, metadata: { ...cur.metadata, resourceVersion: String(this.store.next()) } };
    this.finalizeDelete(def, final);
    return this.view(def, version, final);
  }

  deleteCollection(def: ResourceDef, version: string, ns: string | undefined, list: ListOptions, opts: DeleteOptions, ctx: WriteContext): Obj[] {
    const out: Obj[] = [];
    for (const o of this.list(def, ns, { ...list, limit: 0, continueToken: null }).items) {
      try {
        out.push(this.delete(def, version, o.metadata.namespace, o.metadata.name, opts, ctx));
      } catch (e) {
        if (!(e instanceof ApiError && e.reason === 'NotFound')) throw e;
      }
    }
    return out;
  }

  /** Internal write used by the garbage collector and namespace cleanup (no admission of user input). */
  internalUpdate(gr: string, obj: Obj): void {
    const def = this.defOf(gr);
    if (!def) return;
    const prev = this.store.get(gr, obj.metadata.namespace, obj.metadata.name);
    if (!prev || prev.metadata.uid !== obj.metadata.uid) return;
    const next: Obj = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(this.store.next()) } };
    if (next.metadata['deletionTimestamp'] && finalizersOf(next).length === 0 && (gr !== 'namespaces' || nsSpecFinalizers(next).length === 0)) this.finalizeDelete(def, next);
    else this.store.put(gr, next, 'MODIFIED');
  }

  defOf(gr: string): ResourceDef | undefined {
    const dot = gr.indexOf('.');
    return dot < 0 ? this.registry.get('', gr) : this.registry.get(gr.slice(dot + 1), gr.slice(0, dot));
  }

  /** Seeds an object at first start when absent (namespaces, bootstrap RBAC ...). */
  seed(obj: Obj): void {
    const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : ['', obj.apiVersion];
    const def = this.registry.byKind(group, obj.kind);
    if (!def || this.store.get(grKey(def.group, def.resource), obj.metadata.namespace, obj.metadata.name)) return;
    const body = clone(obj) as Obj;
    const meta = body.metadata as Record<string, unknown>;
    delete meta['uid'];
    delete meta['resourceVersion'];
    this.commit(def, version, undefined, checkBody(def, version, body, obj.metadata.namespace), { user: { username: 'system:apiserver', uid: '', groups: ['system:masters'] }, manager: 'kube-apiserver', dryRun: false }, { track: true });
  }
}

export { finalizersOf, nsSpecFinalizers };
