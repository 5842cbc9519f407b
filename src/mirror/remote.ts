// One remote cluster as seen through one Link: a client built from the credentials Secret, informers on the
// exported Services and on EndpointSlices, and health (reachable / credentials valid) as the informers
// observe it. Remote trouble never touches local state: the caches keep their last content.
import { EXPORT_TO_ANNOTATION, exportedTo, MCS_GROUP, MCS_STORAGE_VERSION, SERVICE_EXPORT_PLURAL, SERVICE_IMPORT_PLURAL, SLICE_SERVICE_LABEL } from '../api/index.js';
import { Informer, KubeClient, type KubeObject, errorMessage, isAuthError, kubeConfigFromString, realClock, type Clock, type KubeMetrics } from '../kube/index.js';
import type { Logger } from '../log/index.js';
import { shadowName } from './names.js';
import type { ServiceExport, ServiceImport } from './mcs-types.js';
import type { EndpointSlice, Service } from './types.js';

/** Idle timeout of every request to a remote API server. */
const REMOTE_TIMEOUT_MS = 5_000;
/** Retry cap of the remote informers: converge within seconds once a cut remote is back. */
const REMOTE_BACKOFF_MAX_MS = 4_000;

export interface RemoteHealth {
  reachable: boolean | undefined;
  credentialsValid: boolean | undefined;
  message: string;
  since: number;
}

export interface RemoteClusterOptions {
  linkName: string;
  cluster: string;
  kubeconfig: string;
  /** Server-side label selector for exported Services, if the Link's selectors can be expressed as one. */
  serviceSelector?: string;
  logger: Logger;
  metrics?: KubeMetrics;
  clock?: Clock;
  onService(namespace: string, name: string): void;
  /** MCS: a remote ServiceExport or ServiceImport of namespace/name changed. */
  onMcs?(namespace: string, name: string, what: 'export' | 'import'): void;
  /** MCS: both MCS caches (re)listed: every import and export is to be reconciled again. */
  onMcsSynced?(): void;
  onSynced(): void;
  onHealth(h: RemoteHealth): void;
  backoffMaxMs?: number;
  /** This cluster's name: a remote Service whose export-to leaves it out is not in this view (no shadow, no
   * route, no MCS contribution). Absent: every Service is. */
  localCluster?: string;
  /** Every cached remote Service is handed to onService again this often (the safety net for missed events). */
  resyncPeriodMs?: number;
}

export class RemoteCluster {
  readonly client: KubeClient;
  readonly services: Informer<Service>;
  readonly slices: Informer<EndpointSlice>;
  /** MCS: the remote cluster's ServiceExports (what it exports) and ServiceImports (what it has imported: the
   * exporter's Ready condition is computed from them). */
  readonly exports: Informer<ServiceExport>;
  readonly imports: Informer<ServiceImport>;
  health: RemoteHealth;
  private readonly clock: Clock;
  private stopped = false;
  private syncedOnce = false;
  private mcsError: string | undefined;
  /** `ns/name` of the remote Services out of this cluster's export scope (MCS reads ServiceExports apart). */
  private readonly outOfScope = new Set<string>();

  private constructor(
    readonly opts: RemoteClusterOptions,
    client: KubeClient,
  ) {
    this.client = client;
    this.clock = opts.clock ?? realClock;
    this.health = { reachable: undefined, credentialsValid: undefined, message: 'connecting', since: this.clock.now() };
    const base = `remote:${opts.linkName}`;
    const common = {
      logger: opts.logger,
      backoffMaxMs: opts.backoffMaxMs ?? REMOTE_BACKOFF_MAX_MS,
      onError: (err: unknown) => this.setHealth(err),
      onListed: () => this.listed(),
    };
    this.services = new Informer<Service>(client, {
      ...common,
      name: `${base}:services`,
      path: '/api/v1/services',
      labelSelector: opts.serviceSelector,
      resyncPeriodMs: opts.resyncPeriodMs,
      accept: (s) => this.inScope(s),
      onRestart: (reason) => opts.metrics?.watchRestarts.inc({ informer: `${base}:services`, reason }),
    });
    this.slices = new Informer<EndpointSlice>(client, {
      ...common,
      name: `${base}:endpointslices`,
      path: '/apis/discovery.k8s.io/v1/endpointslices',
      onRestart: (reason) => opts.metrics?.watchRestarts.inc({ informer: `${base}:endpointslices`, reason }),
    });
    // The MCS caches have a health of their own: a peer without the MCS CRDs (or a Link made before they
    // existed, whose RBAC lacks them) must not stop the shadows of the Linkerd-compatible path.
    const mcs = (plural: string, what: 'export' | 'import') => {
      const inf = new Informer<ServiceExport>(client, {
        logger: opts.logger,
        backoffMaxMs: opts.backoffMaxMs ?? 30_000,
        onError: (err: unknown) => this.mcsFailed(plural, err),
        onListed: () => this.mcsListed(),
        name: `${base}:${plural}`,
        path: `/apis/${MCS_GROUP}/${MCS_STORAGE_VERSION}/${plural}`,
        resyncPeriodMs: opts.resyncPeriodMs,
        onRestart: (reason) => opts.metrics?.watchRestarts.inc({ informer: `${base}:${plural}`, reason }),
      });
      inf.onKey((key) => {
        if (!this.mcsSynced()) return;
        const i = key.indexOf('/');
        opts.onMcs?.(key.slice(0, i), key.slice(i + 1), what);
      });
      return inf;
    };
    this.exports = mcs(SERVICE_EXPORT_PLURAL, 'export');
    this.imports = mcs(SERVICE_IMPORT_PLURAL, 'import') as Informer<ServiceImport>;
    // The local shadow a remote Service maps to: a shadow key finds its remote Service through this.
    this.services.addIndex('shadow', (s) => [`${s.metadata?.namespace}/${shadowName(s.metadata?.name ?? '', opts.cluster)}`]);
    this.slices.addIndex('service', (s) => {
      const svc = s.metadata?.labels?.[SLICE_SERVICE_LABEL];
      return svc ? [`${s.metadata?.namespace}/${svc}`] : [];
    });
    // Until both caches have synced, onSynced() enqueues everything at once; per-object keys before that
    // would only make each shadow reconcile twice.
    this.services.onKey((key) => {
      if (!this.hasSynced()) return;
      const i = key.indexOf('/');
      opts.onService(key.slice(0, i), key.slice(i + 1));
    });
    const sliceChanged = (s: EndpointSlice) => {
      if (!this.hasSynced()) return;
      const svc = s.metadata?.labels?.[SLICE_SERVICE_LABEL];
      if (svc) opts.onService(s.metadata?.namespace ?? '', svc);
    };
    this.slices.onObject({ onAdd: sliceChanged, onUpdate: (_o, n) => sliceChanged(n), onDelete: sliceChanged });
  }

  /** Builds the client; throws KubeConfigError for an unusable kubeconfig. */
  static async create(opts: RemoteClusterOptions): Promise<RemoteCluster> {
    const kc = kubeConfigFromString(opts.kubeconfig);
    // Short: a black-holed remote must turn into an error (RemoteAPIReachable=False) and a retry soon, and a
    // list sent while the cut lasts must not hold the recovery long after it lifts (the timeout is idle
    // time, so a long list that streams is not cut by it).
    const client = await KubeClient.create(kc, { timeoutMs: REMOTE_TIMEOUT_MS });
    return new RemoteCluster(opts, client);
  }

  start(): void {
    for (const i of this.informers()) i.start();
  }

  private informers(): Array<Informer<Service> | Informer<EndpointSlice> | Informer<ServiceExport> | Informer<ServiceImport>> {
    return [this.services, this.slices, this.exports, this.imports];
  }

  /** The MCS caches are complete (and the Services and slices they are read with). */
  mcsSynced(): boolean {
    return this.hasSynced() && this.exports.hasSynced() && this.imports.hasSynced();
  }

  /** Why the MCS caches cannot be read (no CRDs there, RBAC), if they cannot. */
  mcsProblem(): string | undefined {
    return this.mcsError;
  }

  private mcsFailed(plural: string, err: unknown): void {
    const message = `${plural}: ${errorMessage(err)}`;
    if (message !== this.mcsError) this.opts.logger.warn('cannot watch the remote MCS objects; MCS imports from this cluster wait', { link: this.opts.linkName, cluster: this.opts.cluster, error: message });
    this.mcsError = message;
  }

  private mcsListed(): void {
    if (this.stopped || !this.exports.isHealthy() || !this.imports.isHealthy()) return;
    this.mcsError = undefined;
    if (this.mcsSynced()) this.opts.onMcsSynced?.();
  }

  stop(): void {
    this.stopped = true;
    for (const i of this.informers()) i.stop();
    this.client.close();
  }

  hasSynced(): boolean {
    return this.services.hasSynced() && this.slices.hasSynced();
  }

  slicesOf(namespace: string, name: string): EndpointSlice[] {
    return this.slices.byIndex('service', `${namespace}/${name}`);
  }

  /** Export scope (issue 15): a Service exported to other clusters only is absent from this view; a change
   * of its export-to adds or deletes it (and its shadow) like any other change. */
  private inScope(s: KubeObject): boolean {
    const local = this.opts.localCluster;
    const key = `${s.metadata?.namespace}/${s.metadata?.name}`;
    const ok = local === undefined || exportedTo(s.metadata?.annotations?.[EXPORT_TO_ANNOTATION], local);
    if (ok) this.outOfScope.delete(key);
    else this.outOfScope.add(key);
    return ok;
  }

  /** MCS: namespace/name is exported, but not to this cluster (its ServiceExport contributes nothing here). */
  exportedElsewhere(namespace: string, name: string): boolean {
    return this.outOfScope.has(`${namespace}/${name}`);
  }

  /** The remote Service whose shadow is `namespace/shadow`. */
  serviceForShadow(namespace: string, shadow: string): Service | undefined {
    return this.services.byIndex('shadow', `${namespace}/${shadow}`)[0];
  }

  private listed(): void {
    if (this.stopped) return;
    if (!this.services.isHealthy() || !this.slices.isHealthy()) return;
    const was = this.health;
    this.health = { reachable: true, credentialsValid: true, message: 'watching', since: this.clock.now() };
    if (was.reachable !== true || was.credentialsValid !== true) this.opts.onHealth(this.health);
    if (this.hasSynced()) {
      // Every successful (re)list after a failure is a full resync: enqueue everything.
      if (!this.syncedOnce || was.reachable !== true || was.credentialsValid !== true) {
        this.opts.onSynced();
        if (this.mcsSynced()) this.opts.onMcsSynced?.();
      }
      this.syncedOnce = true;
    }
  }

  private setHealth(err: unknown): void {
    if (this.stopped) return;
    const auth = isAuthError(err);
    const next: RemoteHealth = auth
      ? { reachable: true, credentialsValid: false, message: errorMessage(err), since: this.clock.now() }
      : { reachable: false, credentialsValid: this.health.credentialsValid, message: errorMessage(err), since: this.clock.now() };
    const changed = next.reachable !== this.health.reachable || next.credentialsValid !== this.health.credentialsValid || next.message !== this.health.message;
    this.health = next;
    if (changed) this.opts.onHealth(next);
  }
}
