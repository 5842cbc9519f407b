// reconcile(shadow key): one shadow Service of a remote cluster, its EndpointSlices and (gateway-mode
// headless) its per-pod Services. Reads the caches, asks the pure core what should exist, writes the
// difference with the one apply helper, and commits the port claims once the shadow is written. A name
// held by an object the mirror does not own is never written: it is reported (Event + Link status).
import { apply, deleteObject, mergeForUpdate, resourcePath, type ApplyOptions, type ApplyResult, type KubeObject, type ReconcileContext, type ReconcileResult } from '../kube/index.js';
import type { Logger } from '../log/index.js';
import { HEADLESS_PARENT_LABEL, LINK_API_VERSION, LINK_KIND } from '../api/index.js';
import { desiredShadow, diff, exportMode, isHeadless, isShadow, ownedBy, ownedUnder, sameOwner, serviceDiffers, type DesiredShadow, type Plan } from './desired.js';
import { reconcileLog, statusSoon, type MirrorEnv } from './env.js';
import { PortsExhaustedError } from './ports.js';
import { forgedPortMap, impostorMessage } from './routes.js';
import { conflictMessage, type ShadowProblem } from './status.js';
import type { EndpointSlice, Link, Service } from './types.js';

const svcPath = (ns: string) => resourcePath({ version: 'v1', plural: 'services', namespace: ns });
const slicePath = (ns: string) => resourcePath({ group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespace: ns });

/**
 * How a shadow or per-pod Service is updated: it keeps the spec fields the server filled in (clusterIP,
 * ipFamilies…) that the shadow does not set, and is replaced to switch to or from headless (clusterIP is immutable).
 */
const SERVICE_APPLY: Pick<ApplyOptions<Service>, 'merge' | 'recreate'> = {
  merge: (live, desired) => ({ ...mergeForUpdate(live, desired), spec: { ...(live.spec ?? {}), ...(desired.spec ?? {}) } }),
  recreate: (live, desired) => isHeadless(live) !== isHeadless(desired),
};

interface Shadow {
  cluster: string;
  ns: string;
  name: string;
  /** `ns/name`: the key of its port claims and recorded problems. */
  key: string;
  log: () => Logger;
  ctx: ReconcileContext;
}

export class ShadowReconciler {
  constructor(private readonly env: MirrorEnv) {}

  async reconcile(cluster: string, ns: string, name: string, ctx: ReconcileContext): Promise<ReconcileResult> {
    const { caches, remotes } = this.env;
    const key = `${ns}/${name}`;
    const link = caches.linkFor(cluster);
    const s: Shadow = { cluster, ns, name, key, ctx, log: reconcileLog(ctx, { link: link?.metadata?.name ?? '', cluster, service: key }) };
    if (!link) {
      if (!caches.links.hasSynced()) return { requeueAfter: 1000 };
      await this.remove(s, 'no Link targets this cluster any more');
      return;
    }
    const linkName = link.metadata?.name ?? '';
    const parsed = caches.parse(link);
    // A deleting Link is cleaned up by its finalizer; an invalid one leaves its shadows as they are.
    if (!parsed.ok || link.metadata?.deletionTimestamp) return;
    const spec = parsed.spec;
    const remote = remotes.current(linkName);
    if (!remote?.hasSynced()) return; // every shadow is enqueued again when the remote cache syncs
    const rsvc = remote.serviceForShadow(ns, name);
    const mode = rsvc ? exportMode(rsvc, spec) : undefined;
    if (!rsvc || !mode) {
      await this.remove(s, rsvc ? 'unexported' : 'remote Service deleted');
      return;
    }
    if (!(await this.env.namespaces.exists(ns, spec.createNamespaces, ctx.signal, s.log))) {
      this.problem(s, linkName, { kind: 'namespace', message: `namespace ${ns} does not exist here (set spec.createNamespaces to create it)` });
      return { requeueAfter: 15_000 };
    }
    // Reported by the Link status (it follows from the spec); nothing to write.
    if (mode === 'gateway' && !spec.gateway) return;
    let desired: DesiredShadow | undefined;
    try {
      desired = desiredShadow({
        remote: rsvc,
        remoteSlices: remote.slicesOf(rsvc.metadata?.namespace ?? ns, rsvc.metadata?.name ?? ''),
        linkSpec: spec,
        gateway: caches.gatewayEndpoints(),
        gatewayHealthy: this.env.probers.healthy(linkName),
        ports: this.env.ports,
        podServiceIPs: this.podServiceIPs(s),
      });
    } catch (err) {
      if (!(err instanceof PortsExhaustedError)) throw err;
      this.problem(s, linkName, { kind: 'ports', message: err.message });
      return { requeueAfter: 30_000 };
    }
    if (!desired) return;
    const problem = await this.write(s, link, desired);
    if (problem) this.problem(s, linkName, problem);
    else if (this.env.problems.clear(cluster, key)) statusSoon(this.env, linkName);
  }

  private podServiceIPs(s: Shadow): Map<string, string> {
    const ips = new Map<string, string>();
    for (const p of this.env.caches.podServicesOf(s.ns, s.name)) {
      if (p.spec?.clusterIP && ownedUnder(p, s.cluster, s.name)) ips.set(p.metadata?.name ?? '', p.spec.clusterIP);
    }
    return ips;
  }

  private problem(s: Shadow, link: string, p: ShadowProblem): void {
    if (this.env.problems.set(s.cluster, s.key, p)) statusSoon(this.env, link);
  }

  /** Writes the shadow, then its per-pod Services and slices. Returns a problem left unresolved (a conflict). */
  private async write(s: Shadow, link: Link, d: DesiredShadow): Promise<ShadowProblem | undefined> {
    const { caches } = this.env;
    const pods = caches.podServicesOf(s.ns, s.name);
    const actual = [caches.service(s.ns, s.name), ...pods, ...d.podServices.map((p) => caches.service(s.ns, p.service.metadata?.name ?? ''))];
    const unique = [...new Map(actual.filter((x): x is Service => !!x).map((x) => [x.metadata?.name, x])).values()];
    const plan = diff([d.service, ...d.podServices.map((p) => p.service)], unique, s.cluster, serviceDiffers);
    if (plan.conflicts.some((c) => c.desired === d.service)) {
      await this.reportConflict(s, link, 'Service', s.name, conflictMessage('Service', s.ns, s.name));
      return undefined; // the Link status finds it in the cache: no problem to record
    }
    // The shadow first: its port map records the claims, which hold from then on.
    const reservation = this.env.ports.reserve(s.key, d.claims);
    let shadowResult: ApplyResult;
    try {
      shadowResult = await this.applyPlanned(s, svcPath(s.ns), d.service, plan, 'service', SERVICE_APPLY);
    } catch (err) {
      reservation.release();
      throw err;
    }
    if (shadowResult === 'conflict') {
      reservation.release();
      await this.reportConflict(s, link, 'Service', s.name, conflictMessage('Service', s.ns, s.name));
      return undefined;
    }
    reservation.commit();
    let problem: ShadowProblem | undefined;
    const conflict = async (kind: string, name: string) => {
      const message = conflictMessage(kind, s.ns, name);
      problem ??= { kind: 'conflict', message, object: `${kind} ${s.ns}/${name}` };
      await this.reportConflict(s, link, kind, name, message);
    };
    for (const c of plan.conflicts) await conflict('Service', c.live.metadata?.name ?? '');
    for (const ps of d.podServices) {
      const name = ps.service.metadata?.name ?? '';
      if (plan.conflicts.some((c) => c.desired === ps.service)) continue;
      if ((await this.applyPlanned(s, svcPath(s.ns), ps.service, plan, 'service', SERVICE_APPLY)) === 'conflict') {
        await conflict('Service', name);
        continue;
      }
      for (const taken of await this.applySlices(s, name, s.name, ps.slices)) await conflict('EndpointSlice', taken);
    }
    for (const gone of plan.delete) await this.removeService(s, gone);
    for (const taken of await this.applySlices(s, s.name, undefined, d.slices)) await conflict('EndpointSlice', taken);
    return problem;
  }

  /** Applies one object as the plan found it (created, updated or unchanged); returns the outcome. */
  private async applyPlanned<T extends KubeObject>(
    s: Shadow,
    collection: string,
    desired: T,
    plan: Plan<T>,
    kind: 'service' | 'endpointslice',
    how: Pick<ApplyOptions<T>, 'merge' | 'recreate'> = {},
  ): Promise<ApplyResult> {
    if (plan.unchanged.some((u) => u.metadata?.name === desired.metadata?.name)) return 'unchanged';
    const live = plan.update.find((u) => u.desired === desired)?.live ?? null;
    const r = await apply<T>(this.env.client, collection, desired, { ...how, existing: live, owns: (o) => sameOwner(o, desired, s.cluster), signal: s.ctx.signal });
    if (r.result === 'created' || r.result === 'updated') this.env.metrics.writes.inc({ kind, result: r.recreated ? 'recreated' : r.result });
    return r.result;
  }

  /**
   * Brings one Service's slices in line (`parent`: the headless shadow of a per-pod Service); returns the
   * names held by slices the mirror does not own for this Service.
   */
  private async applySlices(s: Shadow, service: string, parent: string | undefined, desired: EndpointSlice[]): Promise<string[]> {
    const actual = this.env.caches.slicesOf(s.ns, service).filter((sl) => !ownedBy(sl, s.cluster) || ownedUnder(sl, s.cluster, parent));
    const plan = diff(desired, actual, s.cluster);
    const held = plan.conflicts.map((c) => c.live.metadata?.name ?? '');
    for (const d of [...plan.create, ...plan.update.map((u) => u.desired)]) {
      if ((await this.applyPlanned(s, slicePath(s.ns), d, plan, 'endpointslice')) === 'conflict') held.push(d.metadata?.name ?? '');
    }
    for (const gone of plan.delete) await this.deleteOne(s, `${slicePath(s.ns)}/${gone.metadata?.name}`, 'endpointslice');
    return held;
  }

  private async reportConflict(s: Shadow, link: Link, kind: string, name: string, message: string): Promise<void> {
    statusSoon(this.env, link.metadata?.name ?? '');
    // Reported once: the Link status (what the controller last wrote) already naming it is enough.
    const known = link.status?.mirroredServices?.services.some((m) => m.namespace === s.ns && m.shadow === s.name && m.problem === message);
    const conflictShown = link.status?.conditions?.some((c) => c.type === 'Conflict' && c.status === 'True' && c.message.includes(`${kind} ${s.ns}/${name}`));
    if (known || conflictShown) return;
    s.log().warn('shadow name taken by an object the mirror does not own; not overwriting it', { object: `${kind} ${s.ns}/${name}` });
    await this.env.events.record({ ...link, apiVersion: LINK_API_VERSION, kind: LINK_KIND }, 'Warning', 'ShadowConflict', message, { signal: s.ctx.signal, log: s.log() });
  }

  private async deleteOne(s: Shadow, path: string, kind: 'service' | 'endpointslice', uid?: string): Promise<void> {
    if (await deleteObject(this.env.client, path, { uid, signal: s.ctx.signal })) this.env.metrics.writes.inc({ kind, result: 'deleted' });
  }

  /** A Service of ours and its slices (those under the same parent: a name taken twice keeps the other's). */
  private async removeService(s: Shadow, svc: Service): Promise<void> {
    const name = svc.metadata?.name ?? '';
    const parent = svc.metadata?.labels?.[HEADLESS_PARENT_LABEL];
    for (const sl of this.env.caches.slicesOf(s.ns, name)) if (ownedUnder(sl, s.cluster, parent)) await this.deleteOne(s, `${slicePath(s.ns)}/${sl.metadata?.name}`, 'endpointslice');
    await this.deleteOne(s, `${svcPath(s.ns)}/${name}`, 'service', svc.metadata?.uid);
  }

  /**
   * Removes a shadow and everything it owns: its per-pod Services, and the Service of its name only if that
   * is a shadow of ours (not another shadow's per-pod Service holding the name).
   */
  private async remove(s: Shadow, why: string): Promise<void> {
    const { caches, ports } = this.env;
    const live = caches.service(s.ns, s.name);
    const pods = caches.podServicesOf(s.ns, s.name);
    const slices = caches.slicesOf(s.ns, s.name);
    const link = caches.linkFor(s.cluster)?.metadata?.name;
    if (this.env.problems.clear(s.cluster, s.key) && link) statusSoon(this.env, link);
    const ours = live && isShadow(live, s.cluster) ? live : undefined;
    // Labelled as ours with a port map we never wrote: someone forged it. It never routed (routes.ts); say so,
    // or its author and the operator never learn why it routes nothing (or why it vanished).
    if (live && ownedBy(live, s.cluster) && forgedPortMap(live, ports)) await this.env.impostors.report({ cluster: s.cluster, service: live, message: impostorMessage(s.ns, s.name, s.cluster) }, { signal: s.ctx.signal, log: s.log() });
    const podsOurs = pods.filter((p) => ownedUnder(p, s.cluster, s.name));
    const slicesOurs = slices.filter((sl) => ownedUnder(sl, s.cluster, undefined));
    if (!ours && !podsOurs.length && (live || !slicesOurs.length)) {
      ports.releaseShadow(s.key);
      return;
    }
    for (const p of podsOurs) await this.removeService(s, p);
    if (ours) await this.removeService(s, ours);
    else if (!live) for (const sl of slicesOurs) await this.deleteOne(s, `${slicePath(s.ns)}/${sl.metadata?.name}`, 'endpointslice');
    ports.releaseShadow(s.key);
    s.log().info('removed shadow', { reason: why });
  }
}
