// What outlier detection's events become: a log line naming the cluster and the address, and the metrics
// (labels: the remote cluster only, a known Link target; the address is in the log line, not a label).
import type { Logger } from '../../log/index.js';
import type { GatewayMetrics } from '../metrics.js';
import type { Transport } from '../types.js';
import type { OutlierEvent } from './outlier.js';

export interface OutlierReportDeps {
  cluster: string;
  transport: Transport;
  logger: Logger;
  metrics: GatewayMetrics;
  /** Addresses of this remote ejected now (after the event). */
  ejectedNow: number;
}

export function reportOutlier(e: OutlierEvent, d: OutlierReportDeps): void {
  const where = { remoteCluster: d.cluster, address: e.address, transport: d.transport };
  d.metrics.ejected.set({ remote_cluster: d.cluster }, d.ejectedNow);
  switch (e.kind) {
    case 'ejected':
      d.metrics.ejections.inc({ remote_cluster: d.cluster });
      d.logger.warn('remote gateway address ejected: no new tunnels to it until the ejection ends', { ...where, ejectionMs: e.forMs, ejections: e.ejections, failure: e.failure, detail: e.detail });
      return;
    case 'returned':
      d.logger.info('remote gateway address back in the pool after its ejection (one more failure ejects it again)', where);
      return;
    case 'kept-last':
      d.logger.warn('remote gateway address keeps failing but is not ejected: it is the last one not ejected', { ...where, failures: e.failures, failure: e.failure, detail: e.detail });
      return;
  }
}
