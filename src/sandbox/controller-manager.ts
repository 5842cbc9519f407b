// The sandbox's controller manager: EndpointSlices + Endpoints from Pods, the `default` ServiceAccount per
// namespace, Deployments -> ReplicaSets -> Pods, StatefulSets and Jobs -> Pods, LoadBalancer status. Each is a level-triggered
// controller: informers enqueue keys, reconcile(key) reads the caches and writes the difference.
import type { Informer, KubeClient, KubeObject } from '../kube/index.js';
import { Controller, isAlreadyExists, isNotFound, type ReconcileResult } from '../kube/index.js';
import type { Logger } from '../log/index.js';
import { KUBE_SLICE_MANAGED_BY, SLICE_MANAGED_BY_LABEL, SLICE_SERVICE_LABEL } from '../api/index.js';
import { desiredEndpoints, desiredEndpointSlices, sliceDiffers, type EndpointsObject } from './endpoints.js';
import type { Recorder } from './events.js';
import type { Deployment, EndpointSlice, Job, Pod, ReplicaSet, Service, StatefulSet } from './types.js';
import { keyOf, selectorMatches, splitKey } from './types.js';
import { ownedBy, planStatefulSet, type Plan } from './workloads.js';
import { planDeploymentRollout, planJob, planReplicaSet, REVISION_ANNOTATION } from './rollout.js';

export interface Caches {
  pods: Informer;
  services: Informer;
  slices: Informer;
  namespaces: Informer;
  serviceAccounts: Informer;
  deployments: Informer;
  replicaSets: Informer;
  statefulSets: Informer;
  jobs: Informer;
}

export interface ControllerManagerOptions {
  client: KubeClient;
  caches: Caches;
  recorder: Recorder;
  log: Logger;
  /** Written into `status.loadBalancer.ingress` of LoadBalancer Services (the node address). */
  loadBalancerIP: string;
}

const as = <T>(o: KubeObject | undefined): T | undefined => o as unknown as T | undefined;
const SLICE_INDEX = 'sandbox:service';

export class ControllerManager {
  readonly endpoints: Controller;
  readonly serviceAccounts: Controller;
  readonly deployments: Controller;
  readonly replicaSets: Controller;
  readonly statefulSets: Controller;
  readonly jobs: Controller;
  private readonly c: Caches;

  constructor(private readonly o: ControllerManagerOptions) {
    this.c = o.caches;
    const log = o.log;
    this.endpoints = new Controller({ name: 'endpointslice', reconcile: (k) => this.reconcileService(k), workers: 2, logger: log });
    this.serviceAccounts = new Controller({ name: 'serviceaccount', reconcile: (k) => this.reconcileNamespace(k), workers: 1, logger: log });
    this.deployments = new Controller({ name: 'deployment', reconcile: (k) => this.reconcileDeployment(k), workers: 2, logger: log });
    this.replicaSets = new Controller({ name: 'replicaset', reconcile: (k) => this.reconcileReplicaSet(k), workers: 2, logger: log });
    this.statefulSets = new Controller({ name: 'statefulset', reconcile: (k) => this.reconcileStatefulSet(k), workers: 1, logger: log });
    this.jobs = new Controller({ name: 'job', reconcile: (k) => this.reconcileJob(k), workers: 1, logger: log });

    // Slices by owning Service, so a reconcile does not scan every slice of the namespace.
    this.c.slices.addIndex(SLICE_INDEX, (s) => {
      const svc = s.metadata?.labels?.[SLICE_SERVICE_LABEL];
      return svc && s.metadata?.labels?.[SLICE_MANAGED_BY_LABEL] === KUBE_SLICE_MANAGED_BY ? [`${s.metadata?.namespace}/${svc}`] : [];
    });
    this.c.services.onKey((k) => this.endpoints.enqueue(k));
    this.c.slices.onObject({
      onAdd: (s) => this.sliceOwner(s),
      onUpdate: (_o, s) => this.sliceOwner(s),
      onDelete: (s) => this.sliceOwner(s),
    });
    const onPod = (p: KubeObject) => {
      const pod = p as unknown as Pod;
      const ns = pod.metadata.namespace ?? '';
      // Services whose selector matches the pod (old and new labels both come through here on updates).
      for (const o of this.c.services.listByNamespace(ns)) {
        const svc = o as unknown as Service;
        const sel = svc.spec?.selector;
        if (sel && Object.keys(sel).length > 0 && selectorMatches({ matchLabels: sel }, pod.metadata.labels)) this.endpoints.enqueue(keyOf(svc));
      }
      for (const r of pod.metadata.ownerReferences ?? []) {
        if (!r.controller) continue;
        if (r.kind === 'ReplicaSet') this.replicaSets.enqueue(`${ns}/${r.name}`);
        if (r.kind === 'StatefulSet') this.statefulSets.enqueue(`${ns}/${r.name}`);
        if (r.kind === 'Job') this.jobs.enqueue(`${ns}/${r.name}`);
      }
    };
    this.c.pods.onObject({ onAdd: onPod, onUpdate: (a, b) => { onPod(a); onPod(b); }, onDelete: onPod });
    this.c.namespaces.onKey((k) => this.serviceAccounts.enqueue(k));
    this.c.serviceAccounts.onObject({ onDelete: (sa) => this.serviceAccounts.enqueue(sa.metadata?.namespace ?? '') });
    this.c.deployments.onKey((k) => this.deployments.enqueue(k));
    this.c.statefulSets.onKey((k) => this.statefulSets.enqueue(k));
    this.c.jobs.onKey((k) => this.jobs.enqueue(k));
    const onRs = (o: KubeObject) => {
      this.replicaSets.enqueue(`${o.metadata?.namespace}/${o.metadata?.name}`);
      for (const r of o.metadata?.ownerReferences ?? []) if (r.controller && r.kind === 'Deployment') this.deployments.enqueue(`${o.metadata?.namespace}/${r.name}`);
    };
    this.c.replicaSets.onObject({ onAdd: onRs, onUpdate: (_a, b) => onRs(b), onDelete: onRs });
  }

  private get all(): Controller[] {
    return [this.endpoints, this.serviceAccounts, this.deployments, this.replicaSets, this.statefulSets, this.jobs];
  }

  private sliceOwner(s: KubeObject): void {
    const svc = s.metadata?.labels?.[SLICE_SERVICE_LABEL];
    if (svc && s.metadata?.labels?.[SLICE_MANAGED_BY_LABEL] === KUBE_SLICE_MANAGED_BY) this.endpoints.enqueue(`${s.metadata?.namespace}/${svc}`);
  }

  start(): void {
    for (const c of this.all) c.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.all.map((c) => c.stop()));
  }

  // --- EndpointSlices / Endpoints / LoadBalancer status ------------------------------------------------
  private async reconcileService(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const svc = as<Service>(this.c.services.get(key));
    const existing = this.c.slices.byIndex(SLICE_INDEX, key).map((s) => s as unknown as EndpointSlice);
    const base = `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`;
    if (!svc) {
      // Backstop for owner GC: only slices this controller made (they carry the Service as owner).
      for (const s of existing) if ((s.metadata.ownerReferences ?? []).some((r) => r.kind === 'Service' && r.controller)) await this.o.client.delete(`${base}/${s.metadata.name}`).catch(ignoreNotFound);
      return;
    }
    // Services without a selector (the mirror's shadows, `kubernetes`, manual endpoints) keep their own.
    if (!svc.spec.selector || Object.keys(svc.spec.selector).length === 0) return;
    const pods = this.c.pods.listByNamespace(namespace).map((p) => p as unknown as Pod);
    const want = desiredEndpointSlices(svc, pods);
    const byName = new Map(existing.map((s) => [s.metadata.name, s]));
    for (const w of want) {
      const have = byName.get(w.metadata.name);
      byName.delete(w.metadata.name);
      if (!have) await this.o.client.create(base, w).catch((err: unknown) => { if (!isAlreadyExists(err)) throw err; throw new Error(`slice ${w.metadata.name} exists but is not in the cache yet; retrying`); });
      else if (sliceDiffers(w, have)) await this.o.client.replace(`${base}/${w.metadata.name}`, { ...w, metadata: { ...have.metadata, labels: { ...have.metadata.labels, ...w.metadata.labels }, ownerReferences: w.metadata.ownerReferences } });
    }
    for (const s of byName.values()) await this.o.client.delete(`${base}/${s.metadata.name}`).catch(ignoreNotFound);
    await this.writeEndpoints(desiredEndpoints(svc, pods));
    if (svc.spec.type === 'LoadBalancer') {
      const ingress = svc.status?.loadBalancer?.ingress ?? [];
      if (!ingress.some((i) => i.ip === this.o.loadBalancerIP)) {
        // As a cloud would: the node address is the balancer (the service proxy listens there).
        await this.o.client.replace(`/api/v1/namespaces/${namespace}/services/${name}/status`, { ...svc, status: { ...(svc.status ?? {}), loadBalancer: { ingress: [{ ip: this.o.loadBalancerIP, ipMode: 'VIP' }] } } });
      }
    }
  }

  private readonly lastEndpoints = new Map<string, string>();

  private async writeEndpoints(want: EndpointsObject): Promise<void> {
    const path = `/api/v1/namespaces/${want.metadata.namespace}/endpoints`;
    const key = `${want.metadata.namespace}/${want.metadata.name}`;
    const sig = JSON.stringify(want.subsets);
    if (this.lastEndpoints.get(key) === sig) return;
    try {
      const have = await this.o.client.get<EndpointsObject>(`${path}/${want.metadata.name}`);
      if (JSON.stringify(have.subsets ?? []) !== sig) await this.o.client.replace(`${path}/${want.metadata.name}`, { ...want, metadata: { ...want.metadata, resourceVersion: have.metadata.resourceVersion } });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.o.client.create(path, want);
    }
    this.lastEndpoints.set(key, sig);
  }

  // --- ServiceAccount `default` ------------------------------------------------------------------------
  private async reconcileNamespace(ns: string): Promise<void> {
    const obj = this.c.namespaces.get(ns);
    if (!obj || obj.metadata?.deletionTimestamp) return;
    if (this.c.serviceAccounts.get(`${ns}/default`)) return;
    await this.o.client
      .create(`/api/v1/namespaces/${ns}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: ns } })
      .catch((err: unknown) => { if (!isAlreadyExists(err)) throw err; });
  }

  // --- Deployments -> ReplicaSets ----------------------------------------------------------------------
  private async reconcileDeployment(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const d = as<Deployment>(this.c.deployments.get(key));
    const base = `/apis/apps/v1/namespaces/${namespace}`;
    if (!d || d.metadata.deletionTimestamp) return; // owner-reference GC removes its ReplicaSets
    const owned = this.c.replicaSets.listByNamespace(namespace).map((o) => o as unknown as ReplicaSet).filter((rs) => (rs.metadata.ownerReferences ?? []).some((r) => r.controller && r.uid === d.metadata.uid));
    const plan = planDeploymentRollout(d, owned);
    if (plan.create) {
      await this.o.client.create(`${base}/replicasets`, plan.create).catch((err: unknown) => { if (!isAlreadyExists(err)) throw err; });
      this.o.log.info('Deployment created a ReplicaSet', { deployment: key, replicaSet: plan.create.metadata.name, replicas: plan.create.spec.replicas });
    }
    for (const u of plan.update) {
      await this.o.client.patch(`${base}/replicasets/${u.name}`, { ...(u.revision ? { metadata: { annotations: { [REVISION_ANNOTATION]: u.revision } } } : {}), spec: { replicas: u.replicas } });
    }
    for (const n of plan.delete) await this.o.client.delete(`${base}/replicasets/${n}`).catch(ignoreNotFound);
    if (d.metadata.annotations?.[REVISION_ANNOTATION] !== plan.revision) await this.o.client.patch(`${base}/deployments/${name}`, { metadata: { annotations: { [REVISION_ANNOTATION]: plan.revision } } });
    await this.writeStatus(`${base}/deployments/${name}/status`, plan.status);
  }

  // --- ReplicaSets / StatefulSets / Jobs -> Pods -------------------------------------------------------
  private async reconcileReplicaSet(key: string): Promise<ReconcileResult> {
    const rs = as<ReplicaSet>(this.c.replicaSets.get(key));
    return this.reconcileWorkload(key, 'ReplicaSet', 'apps/v1/replicasets', rs, rs ? (pods) => planReplicaSet(rs, pods) : undefined);
  }

  private async reconcileStatefulSet(key: string): Promise<ReconcileResult> {
    const s = as<StatefulSet>(this.c.statefulSets.get(key));
    return this.reconcileWorkload(key, 'StatefulSet', 'apps/v1/statefulsets', s, s ? (pods) => planStatefulSet(s, pods) : undefined);
  }

  private async reconcileJob(key: string): Promise<ReconcileResult> {
    const j = as<Job>(this.c.jobs.get(key));
    return this.reconcileWorkload(key, 'Job', 'batch/v1/jobs', j, j ? (pods) => planJob(j, pods, new Date().toISOString().replace(/\.\d+Z$/, 'Z')) : undefined);
  }

  private async writeStatus(path: string, status: Record<string, unknown>): Promise<void> {
    const sig = JSON.stringify(status);
    if (this.lastStatus.get(path) === sig) return;
    await this.o.client.patch(path, { status });
    this.lastStatus.set(path, sig);
  }

  private readonly lastStatus = new Map<string, string>();

  /**
   * Expectations, as kube-controller-manager keeps them: pods this controller just created or deleted that
   * the cache has not shown yet. Until it has, a reconcile waits instead of acting on a stale count (which
   * would create or delete too many).
   */
  private readonly expect = new Map<string, { created: Set<string>; deleted: Set<string>; until: number }>();

  private satisfied(key: string, pods: Pod[]): boolean {
    const e = this.expect.get(key);
    if (!e) return true;
    const names = new Map(pods.map((p) => [p.metadata.name, p]));
    for (const n of e.created) if (names.has(n)) e.created.delete(n);
    for (const n of e.deleted) if (!names.has(n) || names.get(n)!.metadata.deletionTimestamp) e.deleted.delete(n);
    if ((e.created.size === 0 && e.deleted.size === 0) || Date.now() > e.until) {
      this.expect.delete(key);
      return true;
    }
    return false;
  }

  /** `resource`: `<group>/<version>/<plural>` of the owner. */
  private async reconcileWorkload(key: string, kind: 'ReplicaSet' | 'StatefulSet' | 'Job', resource: string, owner: ReplicaSet | StatefulSet | Job | undefined, plan: ((owned: Pod[]) => Plan) | undefined): Promise<ReconcileResult> {
    const { namespace, name } = splitKey(key);
    const podsPath = `/api/v1/namespaces/${namespace}/pods`;
    const pods = this.c.pods.listByNamespace(namespace).map((p) => p as unknown as Pod);
    if (!this.satisfied(key, pods)) return { requeueAfter: 250 };
    if (!owner || !plan || owner.metadata.deletionTimestamp) {
      // Backstop for owner-reference GC: pods whose controlling owner of this name is gone.
      if (owner?.metadata.deletionTimestamp && !(owner.metadata.finalizers ?? []).includes('foregroundDeletion')) return;
      for (const p of pods) {
        const ref = (p.metadata.ownerReferences ?? []).find((r) => r.controller && r.kind === kind && r.name === name);
        if (ref && !p.metadata.deletionTimestamp && (!owner || owner.metadata.uid === ref.uid)) await this.o.client.delete(`${podsPath}/${p.metadata.name}`).catch(ignoreNotFound);
      }
      return;
    }
    const owned = pods.filter((p) => ownedBy(p, owner.metadata.uid));
    const res = plan(owned);
    if (res.create.length || res.delete.length) {
      this.expect.set(key, { created: new Set(res.create.map((p) => p.metadata.name)), deleted: new Set(res.delete), until: Date.now() + 30_000 });
    }
    try {
      for (const p of res.create) {
        await this.o.client.create(podsPath, p).catch((err: unknown) => { if (!isAlreadyExists(err)) throw err; });
      }
      for (const n of res.delete) await this.o.client.delete(`${podsPath}/${n}`).catch(ignoreNotFound);
    } catch (err) {
      // What failed will never show up in the cache: do not wait for it.
      this.expect.delete(key);
      throw err;
    }
    if (res.create.length) this.o.log.info(`${kind} scaled up`, { [kind.toLowerCase()]: key, created: res.create.map((p) => p.metadata.name) });
    if (res.delete.length) this.o.log.info(`${kind} removed pods`, { [kind.toLowerCase()]: key, deleted: res.delete });
    const [group, version, plural] = resource.split('/');
    await this.writeStatus(`/apis/${group}/${version}/namespaces/${namespace}/${plural}/${name}/status`, res.status);
  }
}

function ignoreNotFound(err: unknown): void {
  if (!isNotFound(err)) throw err;
}
