// The remote watches, one per Link: a RemoteCluster built from the Link's current credentials. A new
// Secret version (rotation) starts a second watcher; it replaces the first once it has synced, so the
// caches never go empty in between. These are caches of the remote world (as informers are), read by the
// reconcilers; they hold no decision of their own.
import type { LinkSpec } from '../api/index.js';
import { errorMessage, type Clock, type KubeMetrics } from '../kube/index.js';
import type { Logger } from '../log/index.js';
import { RemoteCluster } from './remote.js';

export interface RemotesOptions {
  logger: Logger;
  metrics: KubeMetrics;
  clock: Clock;
  backoffMaxMs?: number;
  resyncPeriodMs?: number;
  /** This cluster's name: remote Services whose export-to leaves it out are not in the remote view. */
  localCluster?: string;
  /** A remote Service of `cluster` changed (only for the watcher in use). */
  onService(link: string, cluster: string, namespace: string, name: string): void;
  /** The link's watcher (re)listed everything: reconcile all of its shadows. */
  onSynced(link: string, cluster: string): void;
  /** Reachability or credential validity changed. */
  onHealth(link: string): void;
  /** MCS: a remote ServiceExport or ServiceImport changed (only for the watcher in use). */
  onMcs(link: string, cluster: string, namespace: string, name: string, what: 'export' | 'import'): void;
  /** MCS: the link's watcher (re)listed its MCS objects: reconcile every import and export. */
  onMcsSynced(link: string): void;
}

interface Watch {
  cluster: string;
  /** Target and selectors: a change needs a new watcher. */
  shape: string;
  current?: RemoteCluster;
  currentVersion?: string;
  pending?: RemoteCluster;
  pendingVersion?: string;
  /** The last credentials version that could not be used, and why. */
  failed?: { version: string; message: string };
}

export class Remotes {
  private readonly watches = new Map<string, Watch>();

  constructor(private readonly opts: RemotesOptions) {}

  /** The synced watcher the link's shadows are reconciled from. */
  current(link: string): RemoteCluster | undefined {
    return this.watches.get(link)?.current;
  }

  /** The watcher whose health the Link reports: the synced one, else the one still connecting. */
  active(link: string): RemoteCluster | undefined {
    const w = this.watches.get(link);
    return w?.current ?? w?.pending;
  }

  /** Why the link's credentials could not be turned into a client, if they could not. */
  failure(link: string): string | undefined {
    return this.watches.get(link)?.failed?.message;
  }

  /** The cluster a link's watcher serves. */
  clusterOf(link: string): string | undefined {
    return this.watches.get(link)?.cluster;
  }

  /** Synced watchers in use, with their link names. */
  *entries(): IterableIterator<[string, RemoteCluster]> {
    for (const [link, w] of this.watches) if (w.current) yield [link, w.current];
  }

  /** Watches the target of `spec` with the credentials `kubeconfig` (at Secret `version`). */
  async ensure(link: string, spec: LinkSpec, kubeconfig: string, version: string, log: Logger): Promise<void> {
    const shape = JSON.stringify([spec.targetClusterName, spec.selector, spec.flatSelector]);
    let w = this.watches.get(link);
    if (w && w.shape !== shape) this.drop(link);
    w = this.watches.get(link);
    if (!w) this.watches.set(link, (w = { cluster: spec.targetClusterName, shape }));
    if (w.currentVersion === version || w.pendingVersion === version || w.failed?.version === version) return;
    const watch = w;
    let rc: RemoteCluster;
    try {
      rc = await RemoteCluster.create({
        linkName: link,
        cluster: spec.targetClusterName,
        kubeconfig,
        // No server-side selector: a Service exported with a ServiceExport (MCS) carries no export label.
        logger: this.opts.logger.child({ link, cluster: spec.targetClusterName }),
        metrics: this.opts.metrics,
        clock: this.opts.clock,
        backoffMaxMs: this.opts.backoffMaxMs,
        resyncPeriodMs: this.opts.resyncPeriodMs,
        ...(this.opts.localCluster ? { localCluster: this.opts.localCluster } : {}),
        onService: (ns, n) => {
          if (watch.current === rc) this.opts.onService(link, watch.cluster, ns, n);
        },
        onSynced: () => this.synced(link, watch, rc),
        onMcs: (ns, n, what) => {
          if (watch.current === rc) this.opts.onMcs(link, watch.cluster, ns, n, what);
        },
        onMcsSynced: () => {
          if (watch.current === rc) this.opts.onMcsSynced(link);
        },
        onHealth: () => {
          if (watch.current === rc || (!watch.current && watch.pending === rc)) this.opts.onHealth(link);
        },
      });
    } catch (err) {
      watch.failed = { version, message: errorMessage(err) };
      return;
    }
    if (this.watches.get(link) !== watch) {
      rc.stop(); // dropped while the client was being built
      return;
    }
    watch.failed = undefined;
    watch.pending?.stop();
    watch.pending = rc;
    watch.pendingVersion = version;
    log.info('watching remote cluster', { server: rc.client.server.origin });
    rc.start();
  }

  private synced(link: string, w: Watch, rc: RemoteCluster): void {
    if (w.pending === rc) {
      w.current?.stop();
      w.current = rc;
      w.currentVersion = w.pendingVersion;
      w.pending = undefined;
      w.pendingVersion = undefined;
    }
    if (w.current !== rc) return;
    this.opts.logger.info('remote cache synced, reconciling every shadow of the link', { link, cluster: w.cluster, services: rc.services.size() });
    this.opts.onSynced(link, w.cluster);
  }

  /** Stops watching (link gone, invalid, credentials revoked): the caches go, the shadows stay as they are. */
  drop(link: string): void {
    const w = this.watches.get(link);
    if (!w) return;
    w.current?.stop();
    w.pending?.stop();
    this.watches.delete(link);
  }

  stop(): void {
    for (const link of [...this.watches.keys()]) this.drop(link);
  }
}
