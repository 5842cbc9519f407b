// Routing state from the local API server: exported Services (+ their EndpointSlices) for inbound, the
// controller's route table (ConfigMap mesh-gateway-routes, writable only by the controller) for outbound,
// Links for remote gateways. Informers only mark the state dirty; one
// coalesced rebuild (a level-triggered reconcile of a single key) turns the caches into a snapshot.
import { Informer, KubeClient, type KubeObject } from '../kube/index.js';
import type { Logger } from '../log/index.js';
import { LINK_API_VERSION, LINK_PLURAL, LINK_SOURCE_LABEL, MCS_GROUP, MCS_STORAGE_VERSION, OUTBOUND_ROUTES_CONFIGMAP, SERVICE_EXPORT_PLURAL } from '../api/index.js';
import { buildSnapshot, type KConfigMap, type KLink, type KPod, type KService, type KSlice } from './kube-snapshot.js';
import type { RouteSnapshot, RouteSource } from './types.js';

/** Changes within this window are applied together. */
const COALESCE_MS = 20;

export class KubeRouteSource implements RouteSource {
  private readonly informers: Informer[];
  private readonly exported: Informer;
  private readonly routes: Informer;
  private readonly slices: Informer;
  private readonly links: Informer;
  private readonly linkAccounts: Informer;
  private readonly serviceExports: Informer;
  private readonly pods: Informer;
  private readonly namespaces: Informer;
  private timer: NodeJS.Timeout | undefined;
  private lastProblems = '';
  /** A snapshot built from synced caches has been handed on (synced() is about what was applied). */
  private deliveredSynced = false;

  constructor(
    private readonly client: KubeClient,
    private readonly namespace: string,
    private readonly logger: Logger,
  ) {
    const mk = (name: string, path: string, labelSelector?: string, fieldSelector?: string) =>
      new Informer<KubeObject>(client, { path, name: `gateway:${name}`, logger, ...(labelSelector ? { labelSelector } : {}), ...(fieldSelector ? { fieldSelector } : {}) });
    // Every Service: one exported with a ServiceExport (MCS) carries no export label.
    this.exported = mk('exported', '/api/v1/services');
    this.serviceExports = mk('serviceexports', `/apis/${MCS_GROUP}/${MCS_STORAGE_VERSION}/${SERVICE_EXPORT_PLURAL}`);
    this.routes = mk('routes', `/api/v1/namespaces/${namespace}/configmaps`, undefined, `metadata.name=${OUTBOUND_ROUTES_CONFIGMAP}`);
    this.slices = mk('slices', '/apis/discovery.k8s.io/v1/endpointslices');
    this.links = mk('links', `/apis/${LINK_API_VERSION}/namespaces/${namespace}/${LINK_PLURAL}`);
    // Which source clusters `mesh link` admitted here: their gateways may open tunnels (inbound policy).
    this.linkAccounts = mk('link-accounts', `/api/v1/namespaces/${namespace}/serviceaccounts`, LINK_SOURCE_LABEL);
    // Caller attestation: a client's source address → its Pod → ServiceAccount (issue 15).
    this.pods = mk('pods', '/api/v1/pods');
    // Their default-allowed-identities annotation: the allow list of exports that have none.
    this.namespaces = mk('namespaces', '/api/v1/namespaces');
    this.informers = [this.exported, this.routes, this.slices, this.links, this.linkAccounts, this.serviceExports, this.pods, this.namespaces];
  }

  async start(onChange: (s: RouteSnapshot) => void): Promise<void> {
    const rebuild = () => {
      this.timer = undefined;
      const { snapshot, problems } = buildSnapshot({
        exported: this.exported.list() as KService[],
        serviceExports: this.serviceExports.keys(),
        slices: this.slices.list() as KSlice[],
        routes: (this.routes.list() as KConfigMap[]).find((c) => c.metadata?.name === OUTBOUND_ROUTES_CONFIGMAP),
        links: this.links.list() as KLink[],
        linkAccounts: this.linkAccounts.list(),
        pods: this.pods.list() as KPod[],
        namespaces: this.namespaces.list(),
      });
      const p = problems.join('\n');
      if (p && p !== this.lastProblems) this.logger.warn('ignoring malformed routing objects', { problems });
      this.lastProblems = p;
      // Said before the hand-off, so a consumer that asks synced() while applying it (the primary, which
      // forwards the flag to its workers) already sees true.
      if (this.informers.every((i) => i.hasSynced())) this.deliveredSynced = true;
      onChange(snapshot);
    };
    const dirty = () => {
      if (!this.timer) this.timer = setTimeout(rebuild, COALESCE_MS);
    };
    for (const i of this.informers) {
      i.onKey(dirty);
      i.start();
    }
    // Start serving without waiting for sync; /ready says when the caches are complete.
    void Promise.all(this.informers.map((i) => i.waitForSync(3_600_000))).then(
      () => {
        this.logger.info('watches synced', { namespace: this.namespace });
        dirty();
      },
      () => {},
    );
  }

  /** Whether a snapshot from synced caches was applied, not merely whether the caches synced: between the
   * two lies the coalescing delay, and a gateway Ready then (issue 17 item 1, suspect a) had no listeners. */
  synced(): boolean {
    return this.deliveredSynced;
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    for (const i of this.informers) i.stop();
    this.client.close();
  }
}
