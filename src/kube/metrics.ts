// Controller metrics, one set per prom-client registry (so several controllers in a process share them,
// told apart by the `controller` label).
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface KubeMetrics {
  reconcileTotal: Counter<'controller' | 'result'>;
  reconcileDuration: Histogram<'controller'>;
  queueDepth: Gauge<'controller'>;
  watchRestarts: Counter<'informer' | 'reason'>;
}

const perRegistry = new WeakMap<Registry, KubeMetrics>();

export function kubeMetrics(registry: Registry): KubeMetrics {
  const existing = perRegistry.get(registry);
  if (existing) return existing;
  const m: KubeMetrics = {
    reconcileTotal: new Counter({
      name: 'mesh_controller_reconcile_total',
      help: 'Reconciles by outcome: success, error (requeued with backoff), requeue_after, terminal, timeout',
      labelNames: ['controller', 'result'],
      registers: [registry],
    }),
    reconcileDuration: new Histogram({
      name: 'mesh_controller_reconcile_duration_seconds',
      help: 'Duration of reconcile(key)',
      labelNames: ['controller'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'mesh_controller_queue_depth',
      help: 'Keys waiting in the work queue',
      labelNames: ['controller'],
      registers: [registry],
    }),
    watchRestarts: new Counter({
      name: 'mesh_informer_watch_restarts_total',
      help: 'Informer list/watch restarts by reason (gone, list-error, watch-error)',
      labelNames: ['informer', 'reason'],
      registers: [registry],
    }),
  };
  perRegistry.set(registry, m);
  return m;
}
