// The service-mirror controller: Links in, shadow Services and EndpointSlices out. This file only puts the
// parts together. Level-triggered: informers (caches.ts, and one remote watch per Link in remotes.ts) only
// enqueue keys (triggers.ts); each key's reconciler reads the caches and applies the difference:
// `link` (link-reconciler.ts), `shadow` (shadow-reconciler.ts), `renew` (renew.ts). A restart at any point
// converges to the same state, and the Link status is computed, never remembered (status.ts).
import type { Registry } from 'prom-client';
import { CLUSTER_LABEL, CONTROLLER_NAME, DEFAULT_TRUST_DOMAIN, HEADLESS_PARENT_LABEL, MIRRORED_LABEL } from '../api/index.js';
import { ensureClusterProperties } from './cluster-id.js';
import { Controller, EventRecorder, TerminalError, keyOf, kubeMetrics, realClock, type Clock, type KubeClient, type KubeObject, type ReconcileContext, type ReconcileResult } from '../kube/index.js';
import type { Logger } from '../log/index.js';
import { MirrorCaches, targetOf } from './caches.js';
import { recordedPorts } from './desired.js';
import { ShadowProblems, statusSoon, type MirrorEnv } from './env.js';
import { ExportReconciler } from './export-reconciler.js';
import { ImportReconciler } from './import-reconciler.js';
import { KeyError, decodeKey, encodeKey, exportKey, importKey, linkKey, nsPolicyKey, policyKey, renewKey, shadowKey } from './keys.js';
import { hasPolicy, namespaceDefaultChanged, reconcileNamespacePolicy, reconcilePolicy } from './policy-reconciler.js';
import type { Service } from './types.js';
import { enqueueAllMcs, remoteServiceChanged, wireMcsTriggers } from './mcs-triggers.js';
import { flatTargetsOf } from './mcs-world.js';
import { LinkReconciler } from './link-reconciler.js';
import { mirrorMetrics } from './metrics.js';
import { shadowName } from './names.js';
import { Namespaces } from './namespaces.js';
import type { PortAllocator } from './ports.js';
import { Probers, type ProbeCredentials } from './probe.js';
import type { RemoteHealth } from './remote.js';
import { Remotes } from './remotes.js';
import { RenewReconciler } from './renew.js';
import { ImpostorReporter, RoutesReconciler } from './routes.js';
import { ShadowReconciler } from './shadow-reconciler.js';
import { enqueueShadowsOf, routesSoon, wireTriggers } from './triggers.js';

export interface MirrorControllerOptions {
  client: KubeClient;
  /** This cluster's id (the source-cluster of its MCS exports). */
  clusterName: string;
  /** The clusterset's id (ClusterProperty clusterset.k8s.io): the trust domain. */
  clusterSet?: string;
  namespace: string;
  ports: PortAllocator;
  logger: Logger;
  registry: Registry;
  workers?: number;
  probeCredentials?: () => ProbeCredentials | undefined;
  /** Remote informer backoff cap (tests shorten it). */
  remoteBackoffMaxMs?: number;
  /** Status list cap: the count is exact, the list shows problems first then up to this many entries. */
  statusListMax?: number;
  /** A reconcile that runs longer is abandoned (its API calls aborted) and retried. */
  reconcileTimeoutMs?: number;
  /** Every cached object is reconciled again this often (client-go's resync). */
  resyncPeriodMs?: number;
  /** Renew a link token at most this long after it was issued (tests). */
  tokenRenewCapMs?: number;
  /** Flat links' data-path probe (default on); off in tests whose remote endpoints are made-up addresses. */
  flatProbe?: boolean;
  clock?: Clock;
}

const RESYNC_MS = 5 * 60_000;

export class MirrorController {
  readonly caches: MirrorCaches;
  readonly controller: Controller;
  private readonly env: MirrorEnv;
  private readonly links: LinkReconciler;
  private readonly shadows: ShadowReconciler;
  private readonly renewals: RenewReconciler;
  private readonly routes: RoutesReconciler;
  private readonly imports: ImportReconciler;
  private readonly exports: ExportReconciler;
  private running = false;
  private readonly clusterSet: string;

  constructor(opts: MirrorControllerOptions) {
    const clock = opts.clock ?? realClock;
    const log = opts.logger;
    this.clusterSet = opts.clusterSet ?? DEFAULT_TRUST_DOMAIN;
    const km = kubeMetrics(opts.registry);
    const metrics = mirrorMetrics(opts.registry);
    this.controller = new Controller({
      name: 'mirror',
      workers: opts.workers ?? 4,
      logger: log,
      registry: opts.registry,
      clock,
      timeoutMs: opts.reconcileTimeoutMs ?? 60_000,
      reconcile: (key, ctx) => this.reconcile(key, ctx),
    });
    const queue = this.controller.queue;
    this.caches = new MirrorCaches({ client: opts.client, namespace: opts.namespace, logger: log, metrics: km, resyncPeriodMs: opts.resyncPeriodMs ?? RESYNC_MS });
    // The callbacks below read this.env: they run only once caches or watches have started, after the constructor.
    const remotes = new Remotes({
      logger: log,
      metrics: km,
      clock,
      backoffMaxMs: opts.remoteBackoffMaxMs,
      resyncPeriodMs: opts.resyncPeriodMs ?? RESYNC_MS,
      localCluster: opts.clusterName,
      onService: (link, cluster, ns, name) => {
        queue.add(encodeKey(shadowKey(cluster, ns, shadowName(name, cluster))));
        remoteServiceChanged(this.env, link, ns, name);
      },
      onMcs: (_link, _cluster, ns, name, what) => queue.add(encodeKey(what === 'export' ? importKey(ns, name) : exportKey(ns, name))),
      onMcsSynced: () => enqueueAllMcs(this.env),
      onSynced: (link, cluster) => {
        enqueueShadowsOf(this.env, link, cluster);
        statusSoon(this.env, link);
      },
      onHealth: (link) => {
        statusSoon(this.env, link);
        enqueueAllMcs(this.env); // the imports' status says whose endpoints are the last known
      },
    });
    const probers = new Probers({
      credentials: () => opts.probeCredentials?.(),
      logger: log,
      clock,
      onResult: (link, r) => {
        metrics.probeTotal.inc({ link, result: r.ok ? 'success' : 'failure' });
        if (r.ok) metrics.probeLatency.observe({ link }, r.latencyMs / 1000);
      },
      onFirstRound: (link) => statusSoon(this.env, link),
      onChange: (link, healthy) => {
        metrics.probeUp.set({ link }, healthy ? 1 : 0);
        const target = this.caches.link(link);
        const cluster = target && targetOf(target);
        if (cluster) enqueueShadowsOf(this.env, link, cluster);
        statusSoon(this.env, link);
        enqueueAllMcs(this.env); // gateway-mode imports' readiness follows the probe
      },
      ...(opts.flatProbe === false ? {} : { flatTargets: (link: string) => flatTargetsOf(this.env, link) }),
      onFlatChange: (link, healthy) => {
        log.info('flat link data path verdict changed; imports follow', { link, healthy });
        enqueueAllMcs(this.env);
      },
    });
    // Exported Services' authorization annotations: an Event when they do not parse (policy-reconciler.ts).
    const policyChanged = (s: Service) => {
      if (hasPolicy(s)) queue.add(encodeKey(policyKey(s.metadata?.namespace ?? '', s.metadata?.name ?? '')));
    };
    this.caches.services.onObject({ onAdd: policyChanged, onUpdate: (_o, n) => policyChanged(n) });
    // A Namespace's default list: only when it is set or its value changes (not every Namespace update).
    const nsChanged = (o: KubeObject | undefined, n: KubeObject) => {
      if (namespaceDefaultChanged(o, n)) queue.add(encodeKey(nsPolicyKey(n.metadata?.name ?? '')));
    };
    this.caches.namespaces.onObject({ onAdd: (n) => nsChanged(undefined, n), onUpdate: nsChanged });
    const events = new EventRecorder(opts.client, { component: CONTROLLER_NAME, host: process.env.POD_NAME ?? '', logger: log, clock });
    this.env = {
      client: opts.client,
      clusterName: opts.clusterName,
      namespace: opts.namespace,
      caches: this.caches,
      remotes,
      probers,
      ports: opts.ports,
      namespaces: new Namespaces(opts.client, clock),
      problems: new ShadowProblems(),
      metrics,
      events,
      impostors: new ImpostorReporter({ events, caches: this.caches }),
      clock,
      log,
      queue: { enqueue: (k) => queue.add(encodeKey(k)), enqueueAfter: (k, ms) => queue.addAfter(encodeKey(k), ms) },
      statusListMax: opts.statusListMax ?? 200,
      tokenRenewCapMs: opts.tokenRenewCapMs,
    };
    this.links = new LinkReconciler(this.env);
    this.shadows = new ShadowReconciler(this.env);
    this.renewals = new RenewReconciler(this.env);
    this.routes = new RoutesReconciler(this.env);
    this.imports = new ImportReconciler(this.env);
    this.exports = new ExportReconciler(this.env);
    wireTriggers(this.env);
    wireMcsTriggers(this.env);
  }

  /** Starts the local informers and waits for them (read-only: safe on a standby replica). */
  async startCaches(timeoutMs = 60_000): Promise<void> {
    await this.caches.start(timeoutMs);
  }

  cachesSynced(): boolean {
    return this.caches.synced();
  }

  /** Starts writing: recovers the port allocations, then reconciles every Link and every shadow. */
  run(): void {
    if (this.running) return;
    this.running = true;
    const log = this.env.log;
    const mirrored = this.caches.services.list().filter((s) => s.metadata?.labels?.[MIRRORED_LABEL] === 'true');
    let recovered = 0;
    for (const s of mirrored) {
      for (const { key, port } of recordedPorts(s)) {
        if (this.env.ports.recover(key, port)) recovered++;
        else log.warn('outbound port on a shadow collides or is out of range; it will be reallocated', { shadow: keyOf(s), port });
      }
    }
    log.info('recovered outbound port allocations from existing shadows', { ports: recovered, shadows: mirrored.length });
    this.controller.start();
    routesSoon(this.env);
    for (const l of this.caches.links.list()) {
      this.env.queue.enqueue(linkKey(l.metadata?.name ?? ''));
      this.env.queue.enqueue(renewKey(l.metadata?.name ?? ''));
    }
    // Start-up GC: a shadow whose link is gone is removed; one whose remote Service is gone is removed once
    // that link's remote cache has synced (never before, so an unreachable remote removes nothing).
    for (const s of mirrored) {
      const cluster = s.metadata?.labels?.[CLUSTER_LABEL];
      const shadow = s.metadata?.labels?.[HEADLESS_PARENT_LABEL] ?? s.metadata?.name;
      if (cluster && shadow) this.env.queue.enqueue(shadowKey(cluster, s.metadata?.namespace ?? '', shadow));
    }
    // Every import and local export: stale imports go once the remotes have synced.
    enqueueAllMcs(this.env);
    void ensureClusterProperties(this.env.client, this.env.clusterName, this.clusterSet, log);
  }

  async stop(): Promise<void> {
    await this.controller.stop();
    this.env.remotes.stop();
    this.env.probers.stop();
    this.caches.stop();
  }

  /** For /readyz and tests. */
  linkStates(): Array<{ name: string; synced: boolean; health?: RemoteHealth; probeHealthy: boolean; mirrored: number }> {
    return this.caches.links.list().map((l) => {
      const name = l.metadata?.name ?? '';
      const cluster = targetOf(l);
      return {
        name,
        synced: this.env.remotes.current(name)?.hasSynced() ?? false,
        health: this.env.remotes.active(name)?.health,
        probeHealthy: this.env.probers.healthy(name),
        mirrored: cluster ? this.caches.shadowsOf(cluster).length : 0,
      };
    });
  }

  private async reconcile(key: string, ctx: ReconcileContext): Promise<ReconcileResult> {
    let k;
    try {
      k = decodeKey(key);
    } catch (err) {
      if (err instanceof KeyError) throw new TerminalError(err.message);
      throw err;
    }
    switch (k.kind) {
      case 'link':
        return this.links.reconcile(k.name, ctx);
      case 'renew':
        return this.renewals.reconcile(k.link, ctx);
      case 'routes':
        return this.routes.reconcile(ctx);
      case 'shadow': {
        // Its port claims are committed (or released) now: the route table follows.
        const r = await this.shadows.reconcile(k.cluster, k.namespace, k.name, ctx);
        routesSoon(this.env);
        return r;
      }
      case 'import': {
        // A derived Service's outbound ports are routes too (ServiceImport origins): the table follows.
        const r = await this.imports.reconcile(k.namespace, k.name, ctx);
        routesSoon(this.env);
        return r;
      }
      case 'export':
        return this.exports.reconcile(k.namespace, k.name, ctx);
      case 'policy':
        return reconcilePolicy(this.env, k.namespace, k.name, ctx);
      case 'nspolicy':
        return reconcileNamespacePolicy(this.env, k.namespace, ctx);
    }
  }
}
