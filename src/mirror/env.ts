// What the mirror's reconcilers share: the caches they read, the client they write with, the observations
// they may consult (remote watches, probers, the problems shadows ran into) and the queue they feed.
import type { Clock, EventRecorder, KubeClient, ReconcileContext } from '../kube/index.js';
import type { Logger } from '../log/index.js';
import type { MirrorCaches } from './caches.js';
import { linkKey, type MirrorKey } from './keys.js';
import type { MirrorMetrics } from './metrics.js';
import type { Namespaces } from './namespaces.js';
import type { PortAllocator } from './ports.js';
import type { Probers } from './probe.js';
import type { Remotes } from './remotes.js';
import type { ImpostorReporter } from './routes.js';
import type { ShadowProblem } from './status.js';

export interface KeyQueue {
  enqueue(key: MirrorKey): void;
  /** Adds `key` after `ms` (a second call while it waits keeps the earlier time): batches status writes. */
  enqueueAfter(key: MirrorKey, ms: number): void;
}

/** The problems shadows ran into that no cache shows, per cluster and shadow key (`ns/shadow`). */
export class ShadowProblems {
  private readonly byCluster = new Map<string, Map<string, ShadowProblem>>();

  of(cluster: string): ReadonlyMap<string, ShadowProblem> {
    return this.byCluster.get(cluster) ?? new Map();
  }

  /** @returns true if this changed what is recorded (the Link status has news). */
  set(cluster: string, key: string, p: ShadowProblem): boolean {
    let m = this.byCluster.get(cluster);
    if (!m) this.byCluster.set(cluster, (m = new Map()));
    const old = m.get(key);
    m.set(key, p);
    return old?.message !== p.message || old.kind !== p.kind;
  }

  /** @returns true if there was a problem recorded. */
  clear(cluster: string, key: string): boolean {
    const m = this.byCluster.get(cluster);
    const had = m?.delete(key) ?? false;
    if (m?.size === 0) this.byCluster.delete(cluster);
    return had;
  }
}

export interface MirrorEnv {
  client: KubeClient;
  /** This cluster's id (ClusterProperty cluster.clusterset.k8s.io, written by `mesh install`): the
   * source-cluster of its exports. */
  clusterName: string;
  /** The mesh namespace: Links and their Secrets. */
  namespace: string;
  caches: MirrorCaches;
  remotes: Remotes;
  probers: Probers;
  ports: PortAllocator;
  namespaces: Namespaces;
  problems: ShadowProblems;
  metrics: MirrorMetrics;
  events: EventRecorder;
  /** Services with forged mirror labels, reported once each (routes.ts). */
  impostors: ImpostorReporter;
  clock: Clock;
  log: Logger;
  queue: KeyQueue;
  statusListMax: number;
  /** Renew a link token at most this long after it was issued (tests). */
  tokenRenewCapMs?: number;
}

/** Status updates of a Link are batched: one write for a burst of changes. */
export const STATUS_BATCH_MS = 250;

/** The Link's status soon (batched). */
export function statusSoon(env: Pick<MirrorEnv, 'queue'>, link: string): void {
  env.queue.enqueueAfter(linkKey(link), STATUS_BATCH_MS);
}

/** A logger for one reconcile with the object's fields, made only when something is logged. */
export function reconcileLog(ctx: ReconcileContext, fields: Record<string, string>): () => Logger {
  let log: Logger | undefined;
  return () => (log ??= ctx.log.child(fields));
}
