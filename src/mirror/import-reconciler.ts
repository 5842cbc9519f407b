// reconcile(import key): one ServiceImport namespace/name in this cluster, its derived Service (the VIP) and
// the derived Service's EndpointSlices, from every exporting cluster of the clusterset as the caches show
// it (mcs-world.ts), through the pure core (imports-desired.ts, import-objects.ts). The import goes once the
// last valid export is gone. Objects the mirror does not own are never written: reported instead.
import {
  MCS_API_VERSION,
  MCS_MANAGED_BY,
  MCS_MANAGED_BY_LABEL,
  MCS_GROUP,
  MCS_STORAGE_VERSION,
  SERVICE_IMPORT_KIND,
  SERVICE_IMPORT_PLURAL,
  derivedServiceName,
} from '../api/index.js';
import { apply, deepEqual, deleteObject, mergeForUpdate, needsUpdate, resourcePath, statusCodeOf, type ApplyOptions, type KubeObject, type ReconcileContext, type ReconcileResult } from '../kube/index.js';
import type { Logger } from '../log/index.js';
import { isHeadless } from './desired.js';
import { reconcileLog, type MirrorEnv } from './env.js';
import { desiredImport, ownedImportObject, type DesiredImport } from './import-objects.js';
import { applyImportPods, livePodServices, removeImportPods } from './import-pod-writes.js';
import { importSpec } from './imports-desired.js';
import type { ServiceImport } from './mcs-types.js';
import { exportersOf } from './mcs-world.js';
import { PortsExhaustedError } from './ports.js';
import type { EndpointSlice, Service } from './types.js';

const svcPath = (ns: string) => resourcePath({ version: 'v1', plural: 'services', namespace: ns });
const slicePath = (ns: string) => resourcePath({ group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespace: ns });
const importPath = (ns: string) => `/apis/${MCS_GROUP}/${MCS_STORAGE_VERSION}/namespaces/${ns}/${SERVICE_IMPORT_PLURAL}`;

const primaryFamily = (s: Service): string | undefined => (s.spec as { ipFamilies?: string[] } | undefined)?.ipFamilies?.[0];

/** The derived Service as this cluster's server keeps it: a PreferDualStack one keeps the second family it
 * got (sending one family back would ask the server to drop it), so an unchanged import writes nothing. */
function withLiveFamilies(desired: Service, live: Service | undefined): Service {
  const spec = desired.spec as { ipFamilies?: string[]; ipFamilyPolicy?: string } | undefined;
  const liveFamilies = (live?.spec as { ipFamilies?: string[] } | undefined)?.ipFamilies;
  if (!spec || spec.ipFamilyPolicy !== 'PreferDualStack' || !liveFamilies || liveFamilies[0] !== spec.ipFamilies?.[0]) return desired;
  return { ...desired, spec: { ...desired.spec, ipFamilies: liveFamilies } as Service['spec'] };
}

const DERIVED_APPLY: Pick<ApplyOptions<Service>, 'merge' | 'recreate' | 'owns'> = {
  // The server's clusterIP(s) stay.
  merge: (live, desired) => ({ ...mergeForUpdate(live, desired), spec: { ...(live.spec ?? {}), ...(desired.spec ?? {}) } }),
  // clusterIP and the primary IP family are immutable: a switch to or from Headless, or of the primary family, needs a new object.
  recreate: (live, desired) => isHeadless(live) !== isHeadless(desired) || (!isHeadless(desired) && primaryFamily(live) !== undefined && primaryFamily(live) !== primaryFamily(desired)),
  owns: ownedImportObject,
};

/** The VIPs of a derived Service as the API server allocated them. */
function vips(svc: Service | undefined): string[] {
  if (!svc || isHeadless(svc)) return [];
  const ips = svc.spec?.clusterIPs?.length ? svc.spec.clusterIPs : svc.spec?.clusterIP ? [svc.spec.clusterIP] : [];
  return ips.filter((ip) => ip && ip !== 'None');
}

interface Run {
  ns: string;
  name: string;
  derived: string;
  ctx: ReconcileContext;
  log: () => Logger;
}

export class ImportReconciler {
  constructor(private readonly env: MirrorEnv) {}

  async reconcile(ns: string, name: string, ctx: ReconcileContext): Promise<ReconcileResult> {
    const derived = derivedServiceName(name);
    const r: Run = { ns, name, derived, ctx, log: reconcileLog(ctx, { service: `${ns}/${name}`, cluster: this.env.clusterName }) };
    const { exporters, pending } = exportersOf(this.env, ns, name);
    // A linked cluster not yet listed may export it: decide nothing until it has (its sync enqueues this).
    if (pending.length) return;
    const liveDerived = this.env.caches.service(ns, derived);
    let d: DesiredImport | undefined;
    try {
      const previous = this.env.caches.serviceImports.getByName(ns, name)?.status?.clusters;
      d = desiredImport({
        namespace: ns,
        name,
        localCluster: this.env.clusterName,
        exporters,
        gateway: this.env.caches.gatewayEndpoints(),
        ports: this.env.ports,
        derivedIPs: vips(liveDerived),
        podServices: livePodServices(this.env, ns, name),
        ...(previous ? { previous } : {}),
        now: this.env.clock.now(),
      });
    } catch (err) {
      if (!(err instanceof PortsExhaustedError)) throw err;
      r.log().warn('cannot import: outbound ports exhausted', { error: err.message });
      return { requeueAfter: 30_000 };
    }
    if (!d) {
      await this.remove(r, 'no cluster exports it');
      return;
    }
    if (!(await this.env.namespaces.exists(ns, false, ctx.signal, r.log))) {
      r.log().info('namespace does not exist here; the import waits for it (namespace sameness)', {});
      return { requeueAfter: 15_000 };
    }
    await this.write(r, d, liveDerived);
    // A hold-down ends with nothing observed changing: come back then.
    return d.decision.requeueAfterMs !== undefined ? { requeueAfter: d.decision.requeueAfterMs } : undefined;
  }

  private async write(r: Run, d: DesiredImport, liveDerived: Service | undefined): Promise<void> {
    const { env } = this;
    const reservation = env.ports.reserve(`${r.ns}/${r.derived}`, d.claims);
    let svc;
    let refused: string | undefined;
    try {
      svc = await apply<Service>(env.client, svcPath(r.ns), withLiveFamilies(d.derived, liveDerived), { ...DERIVED_APPLY, existing: liveDerived ?? null, signal: r.ctx.signal });
    } catch (err) {
      reservation.release();
      // 422: this cluster cannot give the VIP asked for (an IPv6-only export in an IPv4-only cluster): the
      // import is still written, with no VIP, and says why.
      if (statusCodeOf(err) !== 422) throw err;
      refused = err instanceof Error ? err.message : String(err);
      r.log().warn('the derived Service is refused here; the import has no VIP', { object: `Service ${r.ns}/${r.derived}`, error: refused });
    }
    if (svc?.result === 'conflict') {
      reservation.release();
      r.log().warn('the derived Service name is held by a Service the mirror does not own; not importing', { object: `Service ${r.ns}/${r.derived}` });
      await this.event(r, 'Warning', 'DerivedServiceConflict', `Service ${r.ns}/${r.derived} exists and is not the mirror's: the import has no VIP until it is removed`);
      return;
    }
    if (svc) {
      reservation.commit();
      if (svc.result !== 'unchanged') env.metrics.writes.inc({ kind: 'service', result: svc.recreated ? 'recreated' : svc.result });
    }
    // Per-pod Services before the import's slices: those list the per-pod ClusterIPs (a new one's creation
    // brings the next reconcile, which adds it).
    const pods = await applyImportPods(env, r, d.podServices);
    if (pods.conflicts.length) await this.event(r, 'Warning', 'PodServiceConflict', `${pods.conflicts.join(', ')} exists and is not the mirror's: that pod has no per-pod name here until it is removed`);
    const slicesWritten = await this.applySlices(r, d.slices);
    // Said when what the slices carry changes, not on every reconcile.
    if (d.unnamed.length && (slicesWritten || pods.wrote)) await this.event(r, 'Warning', 'EndpointsWithoutHostname', `headless import through the gateway: ${d.unnamed.join('; ')} (only StatefulSet pods, or pods with hostname and subdomain, get a per-pod name; a flat Link carries the pod addresses)`);
    const desired: ServiceImport = { ...d.serviceImport, spec: importSpec(d.merged, svc ? vips(svc.object) : []) };
    const written = await this.applyImport(r, desired, d.notCarried);
    if (written && refused) await this.event(r, 'Warning', 'DerivedServiceInvalid', `Service ${r.ns}/${r.derived} (the import's VIP) is refused by this cluster: ${refused}`, written);
    // The status just written is the memory of the move: one Event per failover or failback.
    const c = d.decision.change;
    if (written && c) {
      r.log().info(`traffic ${c.reason.toLowerCase()}`, { serving: d.decision.serving.join(','), detail: c.message });
      await this.event(r, c.type, c.reason, c.message, written);
    }
  }

  /** Returns whether any slice was written. */
  private async applySlices(r: Run, desired: EndpointSlice[]): Promise<boolean> {
    let wrote = false;
    const live = new Map(this.env.caches.importSlicesOf(r.ns, r.name).map((s) => [s.metadata?.name ?? '', s]));
    const wanted = new Set(desired.map((s) => s.metadata?.name ?? ''));
    for (const s of desired) {
      const l = live.get(s.metadata?.name ?? '');
      if (l && !needsUpdate(l, s)) continue;
      const res = await apply<EndpointSlice>(this.env.client, slicePath(r.ns), s, { existing: l ?? null, owns: ownedImportObject, signal: r.ctx.signal });
      if (res.result === 'conflict') r.log().warn('an import slice name is held by a slice the mirror does not own', { object: `EndpointSlice ${r.ns}/${s.metadata?.name}` });
      else if (res.result !== 'unchanged') {
        wrote = true;
        this.env.metrics.writes.inc({ kind: 'endpointslice', result: res.result });
      }
    }
    for (const [n, l] of live) {
      if (wanted.has(n) || !ownedImportObject(l)) continue;
      if (await deleteObject(this.env.client, `${slicePath(r.ns)}/${n}`, { uid: l.metadata?.uid, signal: r.ctx.signal })) {
        wrote = true;
        this.env.metrics.writes.inc({ kind: 'endpointslice', result: 'deleted' });
      }
    }
    return wrote;
  }

  /** The ServiceImport's spec (apply), then its status (the status subresource), each only when it differs. */
  private async applyImport(r: Run, desired: ServiceImport, notCarried: string[]): Promise<ServiceImport | undefined> {
    const live = this.env.caches.serviceImports.getByName(r.ns, r.name) ?? null;
    const { status, ...body } = desired;
    const res = await apply<ServiceImport>(this.env.client, importPath(r.ns), body, { existing: live, owns: (o) => o.metadata?.labels?.[MCS_MANAGED_BY_LABEL] === MCS_MANAGED_BY, signal: r.ctx.signal });
    if (res.result === 'conflict') {
      r.log().warn('a ServiceImport of this name exists and is not the mirror\'s; not touching it', { object: `ServiceImport ${r.ns}/${r.name}` });
      return undefined;
    }
    const obj = res.object;
    if (!deepEqual(obj.status ?? {}, status ?? {})) {
      await this.env.client.replace(`${importPath(r.ns)}/${r.name}/status`, { ...obj, apiVersion: MCS_API_VERSION, kind: SERVICE_IMPORT_KIND, status }, { signal: r.ctx.signal });
    }
    if (res.result !== 'unchanged') {
      r.log().info(`ServiceImport ${res.result}`, { clusters: (status?.clusters ?? []).map((c) => c.cluster).join(','), ips: (desired.spec?.ips ?? []).join(',') });
      if (notCarried.length) await this.event(r, 'Warning', 'PortNotCarried', `the gateway carries TCP only: ${notCarried.join(', ')} can only be served by a flat (pod-to-pod) Link`, obj);
    }
    return obj;
  }

  private async event(r: Run, type: 'Normal' | 'Warning', reason: string, message: string, obj?: KubeObject): Promise<void> {
    const involved = obj ?? this.env.caches.serviceImports.getByName(r.ns, r.name);
    if (!involved) return;
    await this.env.events.record({ ...involved, apiVersion: MCS_API_VERSION, kind: SERVICE_IMPORT_KIND }, type, reason, message, { signal: r.ctx.signal, log: r.log() });
  }

  /** The import, its derived Service and slices go (only what the mirror owns); its ports are freed. */
  private async remove(r: Run, why: string): Promise<void> {
    const { caches, client } = this.env;
    const imp = caches.serviceImports.getByName(r.ns, r.name);
    const svc = caches.service(r.ns, r.derived);
    const slices = caches.importSlicesOf(r.ns, r.name).filter(ownedImportObject);
    let removed = await removeImportPods(this.env, r);
    for (const s of slices) removed = (await deleteObject(client, `${slicePath(r.ns)}/${s.metadata?.name}`, { uid: s.metadata?.uid, signal: r.ctx.signal })) || removed;
    if (svc && ownedImportObject(svc)) removed = (await deleteObject(client, `${svcPath(r.ns)}/${r.derived}`, { uid: svc.metadata?.uid, signal: r.ctx.signal })) || removed;
    if (imp && ownedImportObject(imp)) removed = (await deleteObject(client, `${importPath(r.ns)}/${r.name}`, { uid: imp.metadata?.uid, signal: r.ctx.signal })) || removed;
    this.env.ports.releaseShadow(`${r.ns}/${r.derived}`);
    if (removed) r.log().info('removed import', { reason: why });
  }
}
