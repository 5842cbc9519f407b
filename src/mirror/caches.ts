// The local world as the mirror reads it: informers on Links, credentials Secrets, Services (all of them:
// a foreign object holding a shadow's name must be seen to be reported), the mirror's EndpointSlices and the
// local gateway's slices, with the indexes the reconcilers look things up by.
import {
  CLUSTER_LABEL,
  GATEWAY_NAME,
  HEADLESS_PARENT_LABEL,
  IMPORT_POD_LABEL,
  KUBE_SLICE_MANAGED_BY,
  LINK_GROUP,
  LINK_PLURAL,
  LINK_VERSION,
  MCS_GROUP,
  MCS_SERVICE_NAME_LABEL,
  MCS_STORAGE_VERSION,
  MIRRORED_LABEL,
  OUTBOUND_ROUTES_CONFIGMAP,
  SERVICE_EXPORT_PLURAL,
  SERVICE_IMPORT_PLURAL,
  SLICE_MANAGED_BY,
  SLICE_MANAGED_BY_LABEL,
  SLICE_SERVICE_LABEL,
  parseLinkSpec,
  type ParsedLink,
} from '../api/index.js';
import { Informer, resourcePath, type KubeClient, type KubeMetrics, type KubeObject } from '../kube/index.js';
import type { Logger } from '../log/index.js';
import type { GatewayEndpoint } from './desired.js';
import type { ServiceExport, ServiceImport } from './mcs-types.js';
import type { ConfigMap, EndpointSlice, Link, Secret, Service } from './types.js';

export interface CachesOptions {
  client: KubeClient;
  namespace: string;
  logger: Logger;
  metrics: KubeMetrics;
  /** Every cached key is handed to the handlers again this often (the safety net for a missed event). */
  resyncPeriodMs?: number;
}

/** The target cluster a Link names, read without validating the rest of its spec. */
export function targetOf(link: Link): string | undefined {
  const t = (link.spec as { targetClusterName?: unknown } | undefined)?.targetClusterName;
  return typeof t === 'string' ? t : undefined;
}

export class MirrorCaches {
  readonly links: Informer<Link>;
  readonly secrets: Informer<Secret>;
  readonly services: Informer<Service>;
  readonly shadowSlices: Informer<EndpointSlice>;
  readonly gatewaySlices: Informer<EndpointSlice>;
  /** The route table the controller publishes (one ConfigMap), to write only what changed. */
  readonly routes: Informer<ConfigMap>;
  /** MCS: the local ServiceExports, the ServiceImports (ours), and the slices the EndpointSlice controller
   * writes for local Services (the local endpoints of an import). */
  readonly serviceExports: Informer<ServiceExport>;
  readonly serviceImports: Informer<ServiceImport>;
  readonly localSlices: Informer<EndpointSlice>;
  /** For their default-allowed-identities annotation (a Warning Event when it does not parse). */
  readonly namespaces: Informer<KubeObject>;
  private readonly parsed = new WeakMap<Link, ParsedLink>();

  constructor(private readonly opts: CachesOptions) {
    const inf = <T extends KubeObject>(name: string, path: string, labelSelector?: string, resync = false, fieldSelector?: string) =>
      new Informer<T>(opts.client, {
        name,
        path,
        labelSelector,
        fieldSelector,
        logger: opts.logger,
        resyncPeriodMs: resync ? opts.resyncPeriodMs : undefined,
        onRestart: (reason) => opts.metrics.watchRestarts.inc({ informer: name, reason }),
      });
    this.links = inf<Link>('links', resourcePath({ group: LINK_GROUP, version: LINK_VERSION, plural: LINK_PLURAL, namespace: opts.namespace }));
    this.secrets = inf<Secret>('secrets', resourcePath({ version: 'v1', plural: 'secrets', namespace: opts.namespace }));
    this.services = inf<Service>('services', '/api/v1/services', undefined, true);
    this.shadowSlices = inf<EndpointSlice>('shadow-slices', '/apis/discovery.k8s.io/v1/endpointslices', `${SLICE_MANAGED_BY_LABEL}=${SLICE_MANAGED_BY}`);
    this.gatewaySlices = inf<EndpointSlice>(
      'gateway-slices',
      resourcePath({ group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespace: opts.namespace }),
      `${SLICE_SERVICE_LABEL}=${GATEWAY_NAME}`,
    );
    this.routes = inf<ConfigMap>('routes', resourcePath({ version: 'v1', plural: 'configmaps', namespace: opts.namespace }), undefined, false, `metadata.name=${OUTBOUND_ROUTES_CONFIGMAP}`);
    const mcs = (plural: string) => `/apis/${MCS_GROUP}/${MCS_STORAGE_VERSION}/${plural}`;
    this.serviceExports = inf<ServiceExport>('serviceexports', mcs(SERVICE_EXPORT_PLURAL), undefined, true);
    this.serviceImports = inf<ServiceImport>('serviceimports', mcs(SERVICE_IMPORT_PLURAL));
    this.localSlices = inf<EndpointSlice>('local-slices', '/apis/discovery.k8s.io/v1/endpointslices', `${SLICE_MANAGED_BY_LABEL}=${KUBE_SLICE_MANAGED_BY}`);
    this.namespaces = inf<KubeObject>('namespaces', '/api/v1/namespaces');
    this.localSlices.addIndex('service', (s) => [`${s.metadata?.namespace}/${s.metadata?.labels?.[SLICE_SERVICE_LABEL] ?? ''}`]);
    this.shadowSlices.addIndex('import', (s) => {
      const n = s.metadata?.labels?.[MCS_SERVICE_NAME_LABEL];
      return n ? [`${s.metadata?.namespace}/${n}`] : [];
    });
    this.links.addIndex('target', (l) => [targetOf(l) ?? ''].filter(Boolean));
    this.links.addIndex('secret', (l) => {
      const s = (l.spec as { clusterCredentialsSecret?: unknown } | undefined)?.clusterCredentialsSecret;
      return typeof s === 'string' ? [s] : [];
    });
    // Shadows and per-pod Services by the cluster they mirror (the mirror's labels, nothing else).
    this.services.addIndex('cluster', (s) => {
      const l = s.metadata?.labels;
      return l?.[MIRRORED_LABEL] === 'true' && l[CLUSTER_LABEL] ? [l[CLUSTER_LABEL]] : [];
    });
    this.services.addIndex('parent', (s) => {
      const p = s.metadata?.labels?.[HEADLESS_PARENT_LABEL];
      return p ? [`${s.metadata?.namespace}/${p}`] : [];
    });
    // A Headless import's per-pod Services and their slices, by import (import-pods.ts).
    const importPod = (o: KubeObject) => {
      const n = o.metadata?.labels?.[IMPORT_POD_LABEL];
      return n ? [`${o.metadata?.namespace}/${n}`] : [];
    };
    this.services.addIndex('import-pod', importPod);
    this.shadowSlices.addIndex('import-pod', importPod);
    this.shadowSlices.addIndex('service', (s) => [`${s.metadata?.namespace}/${s.metadata?.labels?.[SLICE_SERVICE_LABEL] ?? ''}`]);
  }

  private all(): Informer<KubeObject>[] {
    return [this.links, this.secrets, this.services, this.shadowSlices, this.gatewaySlices, this.routes, this.serviceExports, this.serviceImports, this.localSlices, this.namespaces] as unknown as Informer<KubeObject>[];
  }

  async start(timeoutMs: number): Promise<void> {
    for (const i of this.all()) i.start();
    await Promise.all(this.all().map((i) => i.waitForSync(timeoutMs)));
  }

  synced(): boolean {
    return this.all().every((i) => i.hasSynced());
  }

  stop(): void {
    for (const i of this.all()) i.stop();
  }

  link(name: string): Link | undefined {
    return this.links.getByName(this.opts.namespace, name);
  }

  /** The Link's spec, validated once per version of the Link. */
  parse(link: Link): ParsedLink {
    let p = this.parsed.get(link);
    if (!p) this.parsed.set(link, (p = parseLinkSpec(link.spec)));
    return p;
  }

  /** The Link that owns `cluster`'s shadows: the first by name among those targeting it. */
  linkFor(cluster: string): Link | undefined {
    const ls = this.links.byIndex('target', cluster);
    ls.sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
    return ls[0];
  }

  linksUsingSecret(name: string): Link[] {
    return this.links.byIndex('secret', name);
  }

  routeTable(): ConfigMap | undefined {
    return this.routes.getByName(this.opts.namespace, OUTBOUND_ROUTES_CONFIGMAP);
  }

  secret(name: string): Secret | undefined {
    return this.secrets.getByName(this.opts.namespace, name);
  }

  service(namespace: string, name: string): Service | undefined {
    return this.services.getByName(namespace, name);
  }

  /** The top-level shadows (not per-pod Services) labelled for `cluster`. */
  shadowsOf(cluster: string): Service[] {
    return this.services.byIndex('cluster', cluster).filter((s) => !s.metadata?.labels?.[HEADLESS_PARENT_LABEL]);
  }

  /** Everything labelled for `cluster`: shadows and per-pod Services. */
  mirroredOf(cluster: string): Service[] {
    return this.services.byIndex('cluster', cluster);
  }

  podServicesOf(namespace: string, shadow: string): Service[] {
    return this.services.byIndex('parent', `${namespace}/${shadow}`);
  }

  slicesOf(namespace: string, service: string): EndpointSlice[] {
    return this.shadowSlices.byIndex('service', `${namespace}/${service}`);
  }

  /** The slices of a local Service written by the EndpointSlice controller. */
  localSlicesOf(namespace: string, service: string): EndpointSlice[] {
    return this.localSlices.byIndex('service', `${namespace}/${service}`);
  }

  /** The EndpointSlices the mirror wrote for the import namespace/name. */
  importSlicesOf(namespace: string, name: string): EndpointSlice[] {
    return this.shadowSlices.byIndex('import', `${namespace}/${name}`);
  }

  /** A Headless import's per-pod Services (by label: ownership is checked by the caller). */
  importPodServicesOf(namespace: string, name: string): Service[] {
    return this.services.byIndex('import-pod', `${namespace}/${name}`);
  }

  /** The slices of a Headless import's per-pod Services. */
  importPodSlicesOf(namespace: string, name: string): EndpointSlice[] {
    return this.shadowSlices.byIndex('import-pod', `${namespace}/${name}`);
  }

  /** The local mesh-gateway pod addresses, ready if any slice says so. */
  gatewayEndpoints(): GatewayEndpoint[] {
    const byIp = new Map<string, boolean>();
    for (const s of this.gatewaySlices.list()) {
      for (const e of s.endpoints ?? []) {
        const ip = e.addresses?.[0];
        if (!ip) continue;
        byIp.set(ip, (byIp.get(ip) ?? false) || e.conditions?.ready !== false);
      }
    }
    return [...byIp].map(([ip, ready]) => ({ ip, ready }));
  }
}
