// Reads one import's world from the caches: the local ServiceExport and Service, and each linked cluster's
// through its Link's remote caches (namespace sameness: the same namespace/name everywhere). The clusterset
// of this cluster is itself plus the clusters it has Links to. A Link with spec.gateway reaches its cluster
// through the gateways; one without reaches it flat (pod addresses). No decision is made here.
import type { MirrorEnv } from './env.js';
import type { Exporter } from './mcs-types.js';
import type { RemoteCluster } from './remote.js';

/** One linked cluster as the MCS reconcilers see it. */
export interface Peer {
  link: string;
  cluster: string;
  mode: 'gateway' | 'flat';
  /** The remote caches, once their MCS part has synced (undefined: not yet; nothing can be said about it). */
  remote?: RemoteCluster;
}

/** The linked clusters: one per target (the Link that owns it), valid and not being deleted. */
export function peers(env: MirrorEnv): Peer[] {
  const out: Peer[] = [];
  for (const l of env.caches.links.list()) {
    const link = l.metadata?.name ?? '';
    if (l.metadata?.deletionTimestamp) continue;
    const parsed = env.caches.parse(l);
    if (!parsed.ok) continue;
    const cluster = parsed.spec.targetClusterName;
    if (env.caches.linkFor(cluster)?.metadata?.name !== link || cluster === env.clusterName) continue;
    const rc = env.remotes.current(link);
    out.push({ link, cluster, mode: parsed.spec.gateway ? 'gateway' : 'flat', ...(rc?.mcsSynced() ? { remote: rc } : {}) });
  }
  return out.sort((a, b) => a.cluster.localeCompare(b.cluster));
}

export interface ExportersView {
  exporters: Exporter[];
  /** Linked clusters whose MCS caches have not synced yet. */
  pending: string[];
}

/** Every cluster of the clusterset that has a ServiceExport of namespace/name, as observed now. */
export function exportersOf(env: MirrorEnv, namespace: string, name: string): ExportersView {
  const { caches } = env;
  const exporters: Exporter[] = [];
  const pending: string[] = [];
  const local = caches.serviceExports.getByName(namespace, name);
  if (local) {
    const service = caches.service(namespace, name);
    exporters.push({ cluster: env.clusterName, mode: 'local', export: local, ...(service ? { service } : {}), slices: caches.localSlicesOf(namespace, name), reachable: true });
  }
  for (const p of peers(env)) {
    if (!p.remote) {
      pending.push(p.cluster);
      continue;
    }
    const ex = p.remote.exports.getByName(namespace, name);
    if (!ex || p.remote.exportedElsewhere(namespace, name)) continue;
    const service = p.remote.services.getByName(namespace, name);
    exporters.push({
      cluster: p.cluster,
      mode: p.mode,
      export: ex,
      ...(service ? { service } : {}),
      slices: p.remote.slicesOf(namespace, name),
      reachable: p.mode === 'flat' || env.probers.healthy(p.link),
    });
  }
  return { exporters, pending };
}
