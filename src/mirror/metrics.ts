// The mirror's own Prometheus metrics (reconcile counts, durations, queue depth and watch restarts come from
// src/kube's controller metrics in the same registry).
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface MirrorMetrics {
  shadows: Gauge<'link'>;
  problems: Gauge<'link'>;
  remoteReachable: Gauge<'link'>;
  credentialsValid: Gauge<'link'>;
  probeUp: Gauge<'link'>;
  probeLatency: Histogram<'link'>;
  probeTotal: Counter<'link' | 'result'>;
  writes: Counter<'kind' | 'result'>;
  conflicts: Gauge<'link'>;
}

export function mirrorMetrics(registry: Registry): MirrorMetrics {
  const r = [registry];
  return {
    shadows: new Gauge({ name: 'mesh_mirror_shadows', help: 'Shadow Services mirrored, per link', labelNames: ['link'], registers: r }),
    problems: new Gauge({ name: 'mesh_mirror_service_problems', help: 'Exported Services not mirrored (conflict, missing namespace, …), per link', labelNames: ['link'], registers: r }),
    remoteReachable: new Gauge({ name: 'mesh_mirror_remote_api_reachable', help: '1 if the target API server answers', labelNames: ['link'], registers: r }),
    credentialsValid: new Gauge({ name: 'mesh_mirror_credentials_valid', help: '1 if the link credentials are accepted', labelNames: ['link'], registers: r }),
    probeUp: new Gauge({ name: 'mesh_mirror_gateway_probe_up', help: '1 if the remote gateway is healthy (after failureThreshold)', labelNames: ['link'], registers: r }),
    probeLatency: new Histogram({
      name: 'mesh_mirror_gateway_probe_latency_seconds',
      help: 'Latency of successful gateway probes',
      labelNames: ['link'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: r,
    }),
    probeTotal: new Counter({ name: 'mesh_mirror_gateway_probes_total', help: 'Gateway probes by result', labelNames: ['link', 'result'], registers: r }),
    writes: new Counter({ name: 'mesh_mirror_writes_total', help: 'Local writes by kind and result (created, updated, deleted)', labelNames: ['kind', 'result'], registers: r }),
    conflicts: new Gauge({ name: 'mesh_mirror_conflicts', help: 'Shadow names held by objects the mirror does not own', labelNames: ['link'], registers: r }),
  };
}
