// Tunnel-open latency per target (issue 19: the dashboard shows it per exported Service and per Link).
// `gateway_connect_seconds{direction,remote_cluster,namespace,service}`: inbound, the time to connect to a
// backend of the exported Service namespace/service (remote_cluster ''); outbound, the time until the remote
// gateway answered the tunnel request of remote_cluster (namespace and service ''). Label values come only
// from the current routing snapshot (issue 17): a Service no longer exported or a cluster no longer linked
// is `other`, and the series of one that left are removed at the next routing update.
import { GATEWAY_METRICS } from '../api/index.js';
import { Histogram, type Registry } from './prom.js';
import type { ExportedService, RemoteGateway } from './types.js';

export const OTHER = 'other';

type Labels = { direction: 'inbound' | 'outbound'; remote_cluster: string; namespace: string; service: string };

export class ConnectLatency {
  readonly histogram: Histogram<keyof Labels>;
  /** `<ns>/<svc>` of the exported Services and the linked remotes' names, as of the last routing update. */
  private services = new Set<string>();
  private remotes = new Set<string>();
  /** Label sets observed so far, by key: what a routing update may have to remove. */
  private readonly seen = new Map<string, Labels>();

  constructor(registers: Registry[], buckets: number[]) {
    this.histogram = new Histogram({
      name: GATEWAY_METRICS.connectSeconds,
      help: 'Latency to open a tunnel: inbound, connect to a backend of the exported Service namespace/service; outbound, the remote gateway of remote_cluster answered the tunnel request ("other": not exported or linked now)',
      labelNames: ['direction', 'remote_cluster', 'namespace', 'service'],
      buckets,
      registers,
    });
  }

  /** The exported Services and linked remotes now: series of ones that left are removed. */
  setCurrent(exported: readonly ExportedService[], remotes: readonly RemoteGateway[]): void {
    this.services = new Set(exported.map((s) => `${s.namespace}/${s.name}`));
    this.remotes = new Set(remotes.map((r) => r.cluster));
    for (const [key, l] of this.seen) {
      const gone = l.direction === 'inbound' ? l.service !== OTHER && !this.services.has(`${l.namespace}/${l.service}`) : l.remote_cluster !== OTHER && !this.remotes.has(l.remote_cluster);
      if (!gone) continue;
      this.seen.delete(key);
      this.histogram.remove(l);
    }
  }

  /** A tunnel to the exported Service namespace/service reached its backend after `seconds`. */
  inbound(namespace: string, service: string, seconds: number): void {
    const known = this.services.has(`${namespace}/${service}`);
    this.observe({ direction: 'inbound', remote_cluster: '', namespace: known ? namespace : OTHER, service: known ? service : OTHER }, seconds);
  }

  /** The remote gateway of `remoteCluster` answered a tunnel request after `seconds`. */
  outbound(remoteCluster: string, seconds: number): void {
    this.observe({ direction: 'outbound', remote_cluster: this.remotes.has(remoteCluster) ? remoteCluster : OTHER, namespace: '', service: '' }, seconds);
  }

  private observe(l: Labels, seconds: number): void {
    const key = `${l.direction}\0${l.remote_cluster}\0${l.namespace}\0${l.service}`;
    if (!this.seen.has(key)) this.seen.set(key, l);
    this.histogram.observe(l, seconds);
  }
}
