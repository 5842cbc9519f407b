// The outbound route table the gateway acts on (issue 17 item 2): computed from what the mirror made, and
// published as ConfigMap mesh-system/mesh-gateway-routes, which only the controller's ServiceAccount may
// write (manifests/rbac-controller.yaml). A Service carrying the mirror's labels and a port map that the
// mirror did not make (an impostor: anyone who may create a Service can write those) never gets a route;
// it is reported (Event on the Service and on the Link, the Link's Conflict condition, `mesh check`).
//
// A route is published for a port-map entry of a gateway-mode shadow only when (1) the shadow stands for a
// remote Service its Link exports, and (2) the port allocator gave that very port to that very entry.
// While a Link's remote cache has not synced (the remote API is down), (1) cannot be checked: that
// cluster's routes stay as last published, where (2) still holds — shadows keep serving meanwhile.
import {
  CLUSTER_LABEL,
  CONTROLLER_NAME,
  HEADLESS_PARENT_LABEL,
  LINK_API_VERSION,
  LINK_KIND,
  MANAGED_BY_LABEL,
  MIRRORED_LABEL,
  MCS_SERVICE_NAME_LABEL,
  MODE_ANNOTATION,
  OUTBOUND_ROUTES_CONFIGMAP,
  OUTBOUND_ROUTES_KEY,
  PORT_MAP_ANNOTATION,
  derivedServiceName,
  formatOutboundRoutes,
  parseOutboundRoutes,
  parsePortMap,
  type OutboundRoute,
} from '../api/index.js';
import { apply, resourcePath, type KubeObject, type ReconcileContext } from '../kube/index.js';
import { targetOf } from './caches.js';
import { exportMode, recordedPorts } from './desired.js';
import type { MirrorEnv } from './env.js';
import { shadowName } from './names.js';
import { importPortSuffix, portKey, type PortView } from './ports.js';
import type { Link, Service } from './types.js';

/** One linked cluster as routing sees it. */
export interface RouteCluster {
  cluster: string;
  /** Gateway-mode exports by shadow key (`ns/shadow`) → the remote Service; undefined while the remote cache has not synced. */
  exported: ReadonlyMap<string, { namespace: string; name: string }> | undefined;
}

export interface RouteFacts {
  /** The linked clusters (the Link that owns each target cluster). */
  clusters: RouteCluster[];
  /** Local top-level Services carrying the mirror's labels (what claims to be a shadow). */
  shadows: Service[];
  /** MCS: the derived Services of this cluster's ServiceImports (the controller's own imports). */
  derived: Service[];
  ports: Pick<PortView, 'get'>;
  /** The table as last published (kept for clusters whose remote cache has not synced). */
  published: OutboundRoute[];
}

export interface Impostor {
  cluster: string;
  service: Service;
  message: string;
}

export function impostorMessage(ns: string, name: string, cluster: string): string {
  return `Service ${ns}/${name} carries the mirror's labels for cluster ${cluster} but stands for no Service that cluster exports: the mirror did not make it, and it routes nothing`;
}

/** Pure: the route table and the impostors, from the facts. */
export function computeRoutes(f: RouteFacts): { routes: OutboundRoute[]; impostors: Impostor[] } {
  const routes: OutboundRoute[] = [];
  const impostors: Impostor[] = [];
  const byCluster = new Map(f.clusters.map((c) => [c.cluster, c]));
  for (const s of f.shadows) {
    const m = s.metadata ?? {};
    const cluster = m.labels?.[CLUSTER_LABEL];
    const rc = cluster ? byCluster.get(cluster) : undefined;
    if (!cluster || !rc || m.labels?.[MIRRORED_LABEL] !== 'true' || m.labels[HEADLESS_PARENT_LABEL]) continue;
    const ns = m.namespace ?? '';
    const name = m.name ?? '';
    const key = `${ns}/${name}`;
    const origin = { kind: 'Service' as const, namespace: ns, name };
    const remote = rc.exported?.get(key);
    if (rc.exported && !remote) {
      impostors.push({ cluster, service: s, message: impostorMessage(ns, name, cluster) });
      continue;
    }
    if ((m.annotations?.[MODE_ANNOTATION] ?? 'gateway') !== 'gateway') continue;
    const parsed = parsePortMap(m.annotations?.[PORT_MAP_ANNOTATION] ?? '[]');
    if (!parsed.ok) continue;
    for (const e of parsed.entries) {
      if (e.protocol !== 'TCP' || f.ports.get(portKey(key, e.port, e.protocol, e.hostname)) !== e.outboundPort) continue;
      // Remote cache not synced: only what was published for this very entry.
      const was = remote ? undefined : f.published.find((r) => r.outboundPort === e.outboundPort && r.remoteCluster === cluster && r.origin?.namespace === ns && r.origin.name === name);
      const target = remote ?? (was && { namespace: was.namespace, name: was.service });
      if (!target) continue;
      routes.push({ outboundPort: e.outboundPort, remoteCluster: cluster, namespace: target.namespace, service: target.name, port: e.port, ...(e.hostname ? { hostname: e.hostname } : {}), origin });
    }
  }
  routes.push(...importRoutes(f.derived, byCluster, f.ports));
  // The allocator never hands one port to two keys; keep the first should a bug ever do so.
  const seen = new Set<number>();
  return { routes: routes.filter((r) => !seen.has(r.outboundPort) && seen.add(r.outboundPort)), impostors };
}

/**
 * MCS derived Services in gateway mode: each port-map entry names its exporting cluster; it routes only if
 * that cluster is linked and the allocator gave that very port to that very (import, cluster, port).
 */
function importRoutes(derived: Service[], byCluster: ReadonlyMap<string, RouteCluster>, ports: Pick<PortView, 'get'>): OutboundRoute[] {
  const routes: OutboundRoute[] = [];
  for (const s of derived) {
    const m = s.metadata ?? {};
    const ns = m.namespace ?? '';
    const name = m.labels?.[MCS_SERVICE_NAME_LABEL];
    if (!name || m.name !== derivedServiceName(name) || m.labels?.[MIRRORED_LABEL] !== 'true' || m.labels[CLUSTER_LABEL]) continue;
    const parsed = parsePortMap(m.annotations?.[PORT_MAP_ANNOTATION] ?? '[]');
    if (!parsed.ok) continue;
    const origin = { kind: 'ServiceImport' as const, namespace: ns, name };
    for (const e of parsed.entries) {
      if (e.protocol !== 'TCP' || !e.cluster || !byCluster.has(e.cluster)) continue;
      // A Headless import's per-pod entry (hostname) reaches that one pod: `<hostname>.<name>.<ns>.svc.<domain>`.
      if (ports.get(portKey(`${ns}/${m.name}`, e.port, 'TCP', importPortSuffix(e.cluster, e.hostname))) !== e.outboundPort) continue;
      routes.push({ outboundPort: e.outboundPort, remoteCluster: e.cluster, namespace: ns, service: name, port: e.port, ...(e.hostname ? { hostname: e.hostname } : {}), origin });
    }
  }
  return routes;
}

const cmPath = (ns: string) => resourcePath({ version: 'v1', plural: 'configmaps', namespace: ns });

/** A Service's port map claims ports the allocator did not give it: the mirror did not write that map. */
export function forgedPortMap(s: Service, ports: Pick<PortView, 'get'>): boolean {
  return recordedPorts(s).some((p) => ports.get(p.key) !== p.port);
}

/** Reports impostors: an Event on the impostor (its author sees it) and on the Link (the mesh operator sees it), once each. */
export class ImpostorReporter {
  /** Impostors already reported, by uid: an Event per impostor, not per reconcile. */
  private readonly reported = new Set<string>();

  constructor(private readonly env: Pick<MirrorEnv, 'events' | 'caches'>) {}

  /** Only impostors present now stay remembered (one that is gone frees its entry). */
  retain(present: Impostor[]): void {
    const keep = new Set(present.map(uidOf));
    for (const uid of this.reported) if (!keep.has(uid)) this.reported.delete(uid);
  }

  async report(i: Impostor, ctx: Pick<ReconcileContext, 'signal' | 'log'>): Promise<void> {
    const uid = uidOf(i);
    if (this.reported.has(uid)) return;
    this.reported.add(uid);
    const log = ctx.log.child({ cluster: i.cluster, service: `${i.service.metadata?.namespace}/${i.service.metadata?.name}` });
    log.warn('a Service claims to be a shadow the mirror did not make; it routes nothing');
    const events = this.env.events;
    await events.record({ ...i.service, apiVersion: 'v1', kind: 'Service' }, 'Warning', 'ImpostorShadow', i.message, { signal: ctx.signal, log });
    const link: Link | undefined = this.env.caches.linkFor(i.cluster);
    if (link) await events.record({ ...link, apiVersion: LINK_API_VERSION, kind: LINK_KIND }, 'Warning', 'ImpostorShadow', i.message, { signal: ctx.signal, log });
  }
}

/** reconcile('routes'): the one table for the whole controller. */
export class RoutesReconciler {
  constructor(private readonly env: MirrorEnv) {}

  facts(): RouteFacts {
    const { caches, remotes } = this.env;
    const clusters: RouteCluster[] = [];
    for (const l of caches.links.list()) {
      const cluster = targetOf(l);
      const parsed = caches.parse(l);
      if (!cluster || !parsed.ok || caches.linkFor(cluster) !== l) continue;
      const rc = remotes.current(l.metadata?.name ?? '');
      let exported: Map<string, { namespace: string; name: string }> | undefined;
      if (rc?.hasSynced()) {
        exported = new Map();
        for (const r of rc.services.list()) {
          const ns = r.metadata?.namespace ?? '';
          const name = r.metadata?.name ?? '';
          if (exportMode(r, parsed.spec)) exported.set(`${ns}/${shadowName(name, cluster)}`, { namespace: ns, name });
        }
      }
      clusters.push({ cluster, exported });
    }
    const shadows = clusters.flatMap((c) => caches.shadowsOf(c.cluster));
    const live = caches.routeTable();
    const parsed = parseOutboundRoutes(live?.data?.[OUTBOUND_ROUTES_KEY]);
    const derived = caches.serviceImports
      .list()
      .map((i) => caches.service(i.metadata?.namespace ?? '', derivedServiceName(i.metadata?.name ?? '')))
      .filter((x): x is Service => x !== undefined);
    return { clusters, shadows, derived, ports: this.env.ports, published: parsed.ok ? parsed.routes : [] };
  }

  async reconcile(ctx: ReconcileContext): Promise<void> {
    const { routes, impostors } = computeRoutes(this.facts());
    const desired: KubeObject & { data: Record<string, string> } = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: OUTBOUND_ROUTES_CONFIGMAP, namespace: this.env.namespace, labels: { [MANAGED_BY_LABEL]: CONTROLLER_NAME } },
      data: { [OUTBOUND_ROUTES_KEY]: formatOutboundRoutes(routes) },
    };
    const r = await apply(this.env.client, cmPath(this.env.namespace), desired, { existing: this.env.caches.routeTable() ?? null, signal: ctx.signal });
    if (r.result === 'created' || r.result === 'updated') ctx.log.info('published outbound routes', { routes: routes.length, configMap: `${this.env.namespace}/${OUTBOUND_ROUTES_CONFIGMAP}` });
    this.env.impostors.retain(impostors);
    for (const i of impostors) await this.env.impostors.report(i, ctx);
  }
}

function uidOf(i: Impostor): string {
  return i.service.metadata?.uid ?? `${i.service.metadata?.namespace}/${i.service.metadata?.name}`;
}
