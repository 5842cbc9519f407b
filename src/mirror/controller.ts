// The service-mirror controller: Links in, shadow Services and EndpointSlices out.
//
// Level-triggered: informers (local: Links, credential Secrets, shadows, shadow slices, the local gateway's
// slices; per Link: the remote exported Services and their slices) only enqueue keys; reconcile(key) reads
// the caches, computes the desired state with the pure core in desired.ts and applies the difference.
// Keys: `link:<name>` (credentials, remote watchers, probe, finalizer, status) and
// `svc:<cluster>:<ns>/<name>` (the shadow of one remote Service). A restart at any point converges.
import type { Registry } from 'prom-client';
import {
  Controller,
  EventRecorder,
  Informer,
  KubeClient,
  TerminalError,
  deepEqual,
  errorMessage,
  isConflict,
  isNotFound,
  keyOf,
  kubeMetrics,
  mergeForUpdate,
  needsUpdate,
  resourcePath,
  type KubeObject,
} from '../kube/index.js';
import type { Logger } from '../log/index.js';
import { desiredShadow, diff, exportMode, isHeadless, ownedBy, recordedPorts, type DesiredShadow, type GatewayEndpoint } from './desired.js';
import {
  durationMs,
  parseLinkSpec,
  selectorString,
  DEFAULT_FLAT_SELECTOR,
  DEFAULT_GATEWAY_SELECTOR,
  type Condition,
  type Link,
  type LinkSpec,
  type LinkStatus,
  type MirroredServiceStatus,
} from './link.js';
import { mirrorMetrics, type MirrorMetrics } from './metrics.js';
import { shadowName } from './names.js';
import { PortsExhaustedError, type PortAllocator } from './ports.js';
import { GatewayProber, type ProbeCredentials, type ProbeResult } from './probe.js';
import { RemoteCluster, decodeJwt, kubeconfigToken, renewAtMs, requestToken, withToken, type RemoteHealth } from './remote.js';
import {
  CLUSTER_LABEL,
  EXPORT_LABEL,
  GATEWAY_SERVICE,
  HEADLESS_PARENT_LABEL,
  LINK_FINALIZER,
  LINK_GROUP,
  LINK_PLURAL,
  LINK_VERSION,
  MIRRORED_LABEL,
  REMOTE_FQ_ANNOTATION,
  SLICE_MANAGED_BY,
  SLICE_MANAGED_BY_LABEL,
  SLICE_SERVICE_LABEL,
  type EndpointSlice,
  type Service,
} from './types.js';

export interface MirrorControllerOptions {
  client: KubeClient;
  clusterName: string;
  namespace: string;
  ports: PortAllocator;
  logger: Logger;
  registry: Registry;
  workers?: number;
  probeCredentials?: () => ProbeCredentials | undefined;
  /** Remote informer backoff cap (tests shorten it). */
  remoteBackoffMaxMs?: number;
  /** Status list cap: the count is exact, the list shows problems first then up to this many entries. */
  statusListMax?: number;
}

interface Secret extends KubeObject {
  data?: Record<string, string>;
}

interface LinkState {
  name: string;
  spec?: LinkSpec;
  invalid?: { path: string; message: string };
  current?: RemoteCluster;
  currentVersion?: string;
  pending?: RemoteCluster;
  pendingVersion?: string;
  remoteKey?: string;
  credentialProblem?: { reason: string; message: string };
  prober?: GatewayProber;
  proberKey?: string;
  probeHealthy: boolean;
  lastProbe?: ProbeResult;
  mirrored: Map<string, MirroredServiceStatus>;
  renewTimer?: NodeJS.Timeout;
  renewFor?: string;
  lastStatus?: LinkStatus;
  lastResync?: number;
}

const RESYNC_MS = 5 * 60_000;

export class ShadowConflictError extends Error {
  readonly name = 'ShadowConflictError';
  readonly code = 'SHADOW_CONFLICT';
}

const svcPath = (ns: string) => resourcePath({ version: 'v1', plural: 'services', namespace: ns });
const slicePath = (ns: string) => resourcePath({ group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespace: ns });

export class MirrorController {
  readonly links: Informer<Link>;
  readonly secrets: Informer<Secret>;
  readonly shadows: Informer<Service>;
  readonly shadowSlices: Informer<EndpointSlice>;
  readonly gatewaySlices: Informer<EndpointSlice>;
  readonly controller: Controller;
  private readonly states = new Map<string, LinkState>();
  private readonly client: KubeClient;
  private readonly log: Logger;
  private readonly metrics: MirrorMetrics;
  private readonly events: EventRecorder;
  private readonly namespacesSeen = new Map<string, number>();
  /** resourceVersions of our own latest writes: their watch echoes need no reconcile (saves 2 per shadow). */
  private readonly ownWrites = new Map<string, string>();
  /** Writes in flight: key → resourceVersion of an event seen meanwhile (null: none yet). */
  private readonly inflight = new Map<string, string | null>();
  /** Our latest write per object until its echo arrives: prev = the resourceVersion it replaced. */
  private readonly lastWrite = new Map<string, { prev: string | undefined; obj: KubeObject }>();
  private running = false;

  constructor(private readonly opts: MirrorControllerOptions) {
    this.client = opts.client;
    this.log = opts.logger;
    this.metrics = mirrorMetrics(opts.registry);
    const km = kubeMetrics(opts.registry);
    this.events = new EventRecorder(this.client, { component: 'mesh-controller', host: process.env.POD_NAME ?? '', logger: this.log });
    const restart = (name: string) => (reason: string) => km.watchRestarts.inc({ informer: name, reason });
    const inf = <T extends KubeObject>(name: string, path: string, labelSelector?: string) =>
      new Informer<T>(this.client, { name, path, labelSelector, logger: this.log, onRestart: restart(name) });
    this.links = inf<Link>('links', resourcePath({ group: LINK_GROUP, version: LINK_VERSION, plural: LINK_PLURAL, namespace: opts.namespace }));
    this.secrets = inf<Secret>('secrets', resourcePath({ version: 'v1', plural: 'secrets', namespace: opts.namespace }));
    this.shadows = inf<Service>('shadows', '/api/v1/services', `${MIRRORED_LABEL}=true`);
    this.shadowSlices = inf<EndpointSlice>('shadow-slices', '/apis/discovery.k8s.io/v1/endpointslices', `${SLICE_MANAGED_BY_LABEL}=${SLICE_MANAGED_BY}`);
    this.gatewaySlices = inf<EndpointSlice>(
      'gateway-slices',
      resourcePath({ group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespace: opts.namespace }),
      `${SLICE_SERVICE_LABEL}=${GATEWAY_SERVICE}`,
    );
    this.links.addIndex('target', (l) => {
      const t = (l.spec as { targetClusterName?: unknown } | undefined)?.targetClusterName;
      return typeof t === 'string' ? [t] : [];
    });
    this.links.addIndex('secret', (l) => {
      const s = (l.spec as { clusterCredentialsSecret?: unknown } | undefined)?.clusterCredentialsSecret;
      return typeof s === 'string' ? [s] : [];
    });
    this.shadows.addIndex('cluster', (s) => [s.metadata?.labels?.[CLUSTER_LABEL] ?? '']);
    this.shadows.addIndex('parent', (s) => {
      const p = s.metadata?.labels?.[HEADLESS_PARENT_LABEL];
      return p ? [`${s.metadata?.namespace}/${p}`] : [];
    });
    this.shadowSlices.addIndex('service', (s) => [`${s.metadata?.namespace}/${s.metadata?.labels?.[SLICE_SERVICE_LABEL] ?? ''}`]);

    this.controller = new Controller({
      name: 'mirror',
      workers: opts.workers ?? 4,
      logger: this.log,
      registry: opts.registry,
      timeoutMs: 60_000,
      reconcile: (key) => this.reconcile(key),
    });

    this.links.onKey((key) => this.controller.enqueue(`link:${key.slice(key.indexOf('/') + 1)}`));
    this.secrets.onKey((key) => {
      for (const l of this.links.byIndex('secret', key.slice(key.indexOf('/') + 1))) this.controller.enqueue(`link:${l.metadata?.name}`);
    });
    this.shadows.onObject({
      onAdd: (s) => this.isEcho('svc', s) || this.enqueueForShadow(s),
      onUpdate: (_o, s) => this.isEcho('svc', s) || this.enqueueForShadow(s),
      onDelete: (s) => this.enqueueForShadow(s),
    });
    const sliceOwner = (s: EndpointSlice) => {
      const owner = this.shadows.getByName(s.metadata?.namespace ?? '', s.metadata?.labels?.[SLICE_SERVICE_LABEL] ?? '');
      if (owner) this.enqueueForShadow(owner);
    };
    this.shadowSlices.onObject({
      onAdd: (s) => this.isEcho('slice', s) || sliceOwner(s),
      onUpdate: (_o, s) => this.isEcho('slice', s) || sliceOwner(s),
      onDelete: sliceOwner,
    });
    // The local gateway's pods changed: every gateway-mode shadow's endpoints change with them.
    this.gatewaySlices.onKey(() => {
      for (const st of this.states.values()) this.enqueueAllOfLink(st);
    });
  }

  /** Starts the local informers and waits for them (read-only: safe on a standby replica). */
  async startCaches(timeoutMs = 60_000): Promise<void> {
    for (const i of [this.links, this.secrets, this.shadows, this.shadowSlices, this.gatewaySlices]) i.start();
    await Promise.all([this.links, this.secrets, this.shadows, this.shadowSlices, this.gatewaySlices].map((i) => i.waitForSync(timeoutMs)));
  }

  cachesSynced(): boolean {
    return [this.links, this.secrets, this.shadows, this.shadowSlices, this.gatewaySlices].every((i) => i.hasSynced());
  }

  /** Starts writing: recovers the port allocations, then reconciles every Link and every shadow. */
  run(): void {
    if (this.running) return;
    this.running = true;
    let recovered = 0;
    for (const s of this.shadows.list()) {
      for (const { key, port } of recordedPorts(s)) {
        if (this.opts.ports.recover(key, port)) recovered++;
        else this.log.warn('outbound port on a shadow collides or is out of range; it will be reallocated', { shadow: keyOf(s), port });
      }
    }
    this.log.info('recovered outbound port allocations from existing shadows', { ports: recovered, shadows: this.shadows.size() });
    this.controller.start();
    for (const l of this.links.list()) this.controller.enqueue(`link:${l.metadata?.name}`);
    // Start-up GC: a shadow whose link is gone is removed; one whose remote Service is gone is removed once
    // that link's remote cache has synced (never before, so an unreachable remote removes nothing).
    for (const s of this.shadows.list()) this.enqueueForShadow(s);
  }

  async stop(): Promise<void> {
    await this.controller.stop();
    for (const st of this.states.values()) this.dropRemote(st);
    for (const i of [this.links, this.secrets, this.shadows, this.shadowSlices, this.gatewaySlices]) i.stop();
  }

  /** For /readyz and tests. */
  linkStates(): Array<{ name: string; synced: boolean; health?: RemoteHealth; probeHealthy: boolean; mirrored: number }> {
    return [...this.states.values()].map((s) => ({
      name: s.name,
      synced: s.current?.hasSynced() ?? false,
      health: s.current?.health,
      probeHealthy: s.probeHealthy,
      mirrored: s.mirrored.size,
    }));
  }

  // --- key plumbing ------------------------------------------------------------------------------------
  /**
   * Runs one of our writes and remembers what it wrote, so that its watch echo does not trigger a reconcile.
   * The echo can arrive before the response: an event for a key with a write in flight is held until the
   * response tells whether it was ours (same resourceVersion) or someone else's (then it is enqueued).
   */
  private async ownWrite<T extends KubeObject>(kind: 'svc' | 'slice', ns: string, name: string, prevRv: string | undefined, write: () => Promise<T>): Promise<T> {
    const k = `${kind}:${ns}/${name}`;
    this.inflight.set(k, null);
    this.lastWrite.delete(k);
    let res: T | undefined;
    try {
      res = await write();
      return res;
    } finally {
      const seen = this.inflight.get(k);
      this.inflight.delete(k);
      const rv = res?.metadata?.resourceVersion;
      if (seen != null && seen !== rv) this.enqueueForObject(kind, ns, name);
      else if (seen == null && rv && res) {
        this.ownWrites.set(k, rv);
        // Until the echo updates the cache, the next reconcile uses what we wrote (no 409 on a stale read).
        this.lastWrite.set(k, { prev: prevRv, obj: res });
      }
    }
  }

  /** The cached object, or our own newer write of it when the cache has not caught up yet. */
  private freshest<T extends KubeObject>(kind: 'svc' | 'slice', ns: string, name: string, cached: T | undefined): T | undefined {
    const w = this.lastWrite.get(`${kind}:${ns}/${name}`);
    if (w && cached?.metadata?.resourceVersion === w.prev) return w.obj as T;
    return cached;
  }

  private enqueueForObject(kind: 'svc' | 'slice', ns: string, name: string): void {
    if (kind === 'svc') {
      const s = this.shadows.getByName(ns, name);
      if (s) this.enqueueForShadow(s);
      return;
    }
    const sl = this.shadowSlices.getByName(ns, name);
    const owner = sl && this.shadows.getByName(ns, sl.metadata?.labels?.[SLICE_SERVICE_LABEL] ?? '');
    if (owner) this.enqueueForShadow(owner);
  }

  /** True if `obj` is (or may be, while our write is in flight) the watch echo of our own write. */
  private isEcho(kind: 'svc' | 'slice', obj: KubeObject): boolean {
    const k = `${kind}:${keyOf(obj)}`;
    this.lastWrite.delete(k);
    if (this.inflight.has(k)) {
      this.inflight.set(k, obj.metadata?.resourceVersion ?? '');
      return true;
    }
    const rv = this.ownWrites.get(k);
    if (rv === undefined) return false;
    this.ownWrites.delete(k);
    return rv === obj.metadata?.resourceVersion;
  }

  private enqueueForShadow(s: Service): void {
    const cluster = s.metadata?.labels?.[CLUSTER_LABEL];
    const fq = s.metadata?.annotations?.[REMOTE_FQ_ANNOTATION];
    if (!cluster || !fq) return;
    const parts = fq.split('.');
    const off = s.metadata?.labels?.[HEADLESS_PARENT_LABEL] ? 1 : 0;
    if (parts.length < off + 2) return;
    this.controller.enqueue(`svc:${cluster}:${parts[off + 1]}/${parts[off]}`);
  }

  private enqueueAllOfLink(st: LinkState): void {
    const cluster = st.spec?.targetClusterName;
    if (!cluster) return;
    if (st.current) for (const k of st.current.services.keys()) this.controller.enqueue(`svc:${cluster}:${k}`);
    for (const s of this.shadows.byIndex('cluster', cluster)) this.enqueueForShadow(s);
  }

  private state(name: string): LinkState {
    let st = this.states.get(name);
    if (!st) {
      st = { name, probeHealthy: true, mirrored: new Map() };
      this.states.set(name, st);
    }
    return st;
  }

  private statusSoon(st: LinkState): void {
    this.controller.queue.addAfter(`link:${st.name}`, 250);
  }

  async reconcile(key: string): Promise<void | { requeueAfter?: number }> {
    if (key.startsWith('link:')) return this.reconcileLink(key.slice(5));
    if (key.startsWith('svc:')) {
      const rest = key.slice(4);
      const i = rest.indexOf(':');
      const j = rest.indexOf('/', i);
      return this.reconcileShadow(rest.slice(0, i), rest.slice(i + 1, j), rest.slice(j + 1));
    }
    throw new TerminalError(`unknown key ${key}`);
  }

  // --- Links -------------------------------------------------------------------------------------------
  private linkPath(name?: string): string {
    return resourcePath({ group: LINK_GROUP, version: LINK_VERSION, plural: LINK_PLURAL, namespace: this.opts.namespace, name });
  }

  /** The Link that owns `cluster`'s shadows: the first by name among those targeting it. */
  private linkFor(cluster: string): Link | undefined {
    const ls = this.links.byIndex('target', cluster);
    ls.sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
    return ls[0];
  }

  private async reconcileLink(name: string): Promise<void | { requeueAfter?: number }> {
    const link = this.links.getByName(this.opts.namespace, name);
    const st = this.state(name);
    if (!link) {
      // Gone for good (the finalizer was removed): stop its watchers; orphan shadows are GCed per key.
      this.dropRemote(st);
      st.prober?.stop();
      if (st.renewTimer) clearTimeout(st.renewTimer);
      this.states.delete(name);
      if (st.spec) for (const s of this.shadows.byIndex('cluster', st.spec.targetClusterName)) this.enqueueForShadow(s);
      this.metrics.shadows.remove({ link: name });
      return;
    }
    if (link.metadata?.deletionTimestamp) return this.finalizeLink(link, st);
    if (!(link.metadata?.finalizers ?? []).includes(LINK_FINALIZER)) {
      await this.client.patch(this.linkPath(name), {
        metadata: { finalizers: [...(link.metadata?.finalizers ?? []), LINK_FINALIZER], resourceVersion: link.metadata?.resourceVersion },
      });
      return; // the update comes back through the informer
    }

    const parsed = parseLinkSpec(link.spec);
    if (!parsed.ok) {
      // Invalid spec: report it where the user looks, keep the shadows as they are, watch nothing remote.
      const first = !st.invalid || st.invalid.message !== parsed.message;
      st.invalid = { path: parsed.path, message: parsed.message };
      this.dropRemote(st);
      st.prober?.stop();
      st.prober = undefined;
      st.proberKey = undefined;
      if (first) {
        this.log.warn('invalid Link spec', { link: name, path: parsed.path, error: parsed.message });
        await this.events.record(asLink(link), 'Warning', 'InvalidSpec', `${parsed.path}: ${parsed.message}`);
      }
      await this.writeStatus(link, st);
      return;
    }
    st.invalid = undefined;
    const spec = parsed.spec;
    const owner = this.linkFor(spec.targetClusterName);
    if (owner && owner.metadata?.name !== name) {
      st.spec = undefined;
      st.invalid = { path: 'spec.targetClusterName', message: `Link ${owner.metadata?.name} already mirrors cluster ${spec.targetClusterName}` };
      this.dropRemote(st);
      await this.writeStatus(link, st);
      return;
    }
    const specChanged = !deepEqual(st.spec, spec);
    const oldCluster = st.spec?.targetClusterName;
    st.spec = spec;
    if (oldCluster && oldCluster !== spec.targetClusterName) {
      // Retargeted: the old cluster's shadows have no Link now; their keys GC them.
      this.dropRemote(st);
      st.mirrored.clear();
      for (const s of this.shadows.byIndex('cluster', oldCluster)) this.enqueueForShadow(s);
    }

    await this.ensureRemote(link, st, spec);
    this.ensureProber(st, spec);
    // A periodic full resync (controller-runtime's SyncPeriod) is the safety net for any missed event.
    if (specChanged || Date.now() - (st.lastResync ?? 0) > RESYNC_MS) {
      st.lastResync = Date.now();
      this.enqueueAllOfLink(st);
    }
    await this.writeStatus(link, st);
    return { requeueAfter: 30_000 };
  }

  private dropRemote(st: LinkState): void {
    st.current?.stop();
    st.pending?.stop();
    st.current = undefined;
    st.pending = undefined;
    st.currentVersion = undefined;
    st.pendingVersion = undefined;
    st.remoteKey = undefined;
  }

  /**
   * Keeps a remote watcher built from the current credentials Secret. A new Secret version (rotation) starts
   * a second watcher; it replaces the first once it has synced, so the caches never go empty in between.
   */
  private async ensureRemote(link: Link, st: LinkState, spec: LinkSpec): Promise<void> {
    const secret = this.secrets.getByName(this.opts.namespace, spec.clusterCredentialsSecret);
    const kubeconfigB64 = secret?.data?.kubeconfig;
    if (!secret || !kubeconfigB64) {
      const message = secret ? `Secret ${spec.clusterCredentialsSecret} has no kubeconfig key` : `Secret ${this.opts.namespace}/${spec.clusterCredentialsSecret} not found`;
      if (st.credentialProblem?.message !== message) await this.events.record(asLink(link), 'Warning', 'CredentialsMissing', message);
      st.credentialProblem = { reason: secret ? 'KubeconfigMissing' : 'SecretNotFound', message };
      // Revoked credentials: stop watching; the caches are gone but the shadows stay as they are.
      this.dropRemote(st);
      return;
    }
    const version = `${secret.metadata?.resourceVersion}|${JSON.stringify([spec.selector, spec.flatSelector])}`;
    const remoteKey = JSON.stringify([spec.targetClusterName, spec.selector, spec.flatSelector]);
    if (st.remoteKey && st.remoteKey !== remoteKey) this.dropRemote(st);
    st.remoteKey = remoteKey;
    if (st.currentVersion === version || st.pendingVersion === version) return;
    const kubeconfig = Buffer.from(kubeconfigB64, 'base64').toString('utf8');
    let rc: RemoteCluster;
    try {
      rc = await RemoteCluster.create({
        linkName: st.name,
        cluster: spec.targetClusterName,
        kubeconfig,
        serviceSelector: serviceSelectorFor(spec),
        logger: this.log.child({ link: st.name, cluster: spec.targetClusterName }),
        metrics: kubeMetrics(this.opts.registry),
        backoffMaxMs: this.opts.remoteBackoffMaxMs,
        onService: (ns, n) => {
          if (st.current === rc) this.controller.enqueue(`svc:${spec.targetClusterName}:${ns}/${n}`);
        },
        onSynced: () => this.remoteSynced(st, rc),
        onHealth: (h) => {
          if (st.current === rc || (!st.current && st.pending === rc)) {
            this.metrics.remoteReachable.set({ link: st.name }, h.reachable ? 1 : 0);
            this.metrics.credentialsValid.set({ link: st.name }, h.credentialsValid === false ? 0 : 1);
            this.statusSoon(st);
          }
        },
      });
    } catch (err) {
      const message = `Secret ${spec.clusterCredentialsSecret}: ${errorMessage(err)}`;
      if (st.credentialProblem?.message !== message) await this.events.record(asLink(link), 'Warning', 'InvalidCredentials', message);
      st.credentialProblem = { reason: 'InvalidKubeconfig', message };
      return;
    }
    st.credentialProblem = undefined;
    st.pending?.stop();
    st.pending = rc;
    st.pendingVersion = version;
    this.log.info('watching remote cluster', { link: st.name, cluster: spec.targetClusterName, server: rc.client.server.origin });
    rc.start();
    this.scheduleRenewal(st, spec, kubeconfig, secret);
  }

  private remoteSynced(st: LinkState, rc: RemoteCluster): void {
    if (st.pending === rc) {
      st.current?.stop();
      st.current = rc;
      st.currentVersion = st.pendingVersion;
      st.pending = undefined;
      st.pendingVersion = undefined;
    }
    if (st.current !== rc) return;
    this.log.info('remote cache synced, reconciling every shadow of the link', { link: st.name, services: rc.services.size() });
    this.metrics.remoteReachable.set({ link: st.name }, 1);
    this.metrics.credentialsValid.set({ link: st.name }, 1);
    this.enqueueAllOfLink(st);
    this.statusSoon(st);
  }

  /** Renews a time-bound link token before it expires and writes it back into the Secret. */
  private scheduleRenewal(st: LinkState, spec: LinkSpec, kubeconfig: string, secret: Secret): void {
    const token = kubeconfigToken(kubeconfig);
    const claims = token ? decodeJwt(token) : undefined;
    const at = claims ? renewAtMs(claims) : undefined;
    const id = `${secret.metadata?.resourceVersion}`;
    if (st.renewFor === id) return;
    if (st.renewTimer) clearTimeout(st.renewTimer);
    st.renewFor = id;
    if (!token || at === undefined) return;
    const renew = async () => {
      const rc = st.current ?? st.pending;
      if (!rc || !this.running) return;
      try {
        const fresh = await requestToken(rc.client, token);
        const data = { ...(secret.data ?? {}), kubeconfig: Buffer.from(withToken(kubeconfig, fresh)).toString('base64') };
        await this.client.patch(resourcePath({ version: 'v1', plural: 'secrets', namespace: this.opts.namespace, name: spec.clusterCredentialsSecret }), {
          metadata: { resourceVersion: secret.metadata?.resourceVersion },
          data,
        });
        this.log.info('renewed the link token and stored it in the credentials Secret', { link: st.name, secret: spec.clusterCredentialsSecret });
      } catch (err) {
        this.log.warn('link token renewal failed, retrying in 30s', { link: st.name, error: errorMessage(err) });
        st.renewTimer = setTimeout(() => void renew(), 30_000);
        st.renewTimer.unref?.();
      }
    };
    // MESH_TOKEN_RENEW_AFTER_MS caps the wait (the API server's shortest token lives 10 minutes; tests renew sooner).
    const cap = Number(process.env.MESH_TOKEN_RENEW_AFTER_MS);
    st.renewTimer = setTimeout(() => void renew(), Math.max(1000, Math.min(at - Date.now(), cap > 0 ? cap : Infinity)));
    st.renewTimer.unref?.();
  }

  private ensureProber(st: LinkState, spec: LinkSpec): void {
    const gw = spec.gateway;
    const key = JSON.stringify([gw, spec.probe]);
    if (st.proberKey === key) return;
    st.prober?.stop();
    st.prober = undefined;
    st.proberKey = key;
    if (!gw) return;
    const link = st.name;
    st.prober = new GatewayProber({
      link,
      addresses: gw.addresses,
      port: spec.probe.port ?? gw.port,
      path: spec.probe.path,
      periodMs: durationMs(spec.probe.period),
      timeoutMs: durationMs(spec.probe.timeout),
      failureThreshold: spec.probe.failureThreshold,
      identity: gw.identity,
      credentials: () => this.opts.probeCredentials?.(),
      logger: this.log,
      onResult: (r) => {
        if (st.prober?.opts.link !== link) return;
        if (!st.lastProbe) {
          st.lastProbe = r;
          this.statusSoon(st); // the first verdict is news; later ones only when the state changes
        }
        this.metrics.probeTotal.inc({ link, result: r.ok ? 'success' : 'failure' });
        if (r.ok) this.metrics.probeLatency.observe({ link }, r.latencyMs / 1000);
      },
      onChange: (healthy, r) => {
        st.probeHealthy = healthy;
        st.lastProbe = r;
        this.metrics.probeUp.set({ link }, healthy ? 1 : 0);
        this.enqueueAllOfLink(st);
        this.statusSoon(st);
      },
    });
    st.probeHealthy = true;
    this.metrics.probeUp.set({ link }, 1);
    st.prober.start();
  }

  private async finalizeLink(link: Link, st: LinkState): Promise<void> {
    const name = link.metadata?.name ?? '';
    if (!(link.metadata?.finalizers ?? []).includes(LINK_FINALIZER)) return;
    this.dropRemote(st);
    st.prober?.stop();
    const cluster = (link.spec as { targetClusterName?: unknown } | undefined)?.targetClusterName;
    const others = typeof cluster === 'string' ? this.links.byIndex('target', cluster).filter((l) => l.metadata?.name !== name && !l.metadata?.deletionTimestamp) : [];
    if (typeof cluster === 'string' && others.length === 0) {
      // Read the server, not the cache: nothing may be left behind.
      const sel = `${MIRRORED_LABEL}=true,${CLUSTER_LABEL}=${cluster}`;
      const svcs = await this.client.list<Service>('/api/v1/services', { labelSelector: sel });
      const slices = await this.client.list<EndpointSlice>('/apis/discovery.k8s.io/v1/endpointslices', { labelSelector: sel });
      for (const s of slices.items) await this.deleteObject(`${slicePath(s.metadata?.namespace ?? '')}/${s.metadata?.name}`, 'endpointslice');
      for (const s of svcs.items) {
        await this.deleteObject(`${svcPath(s.metadata?.namespace ?? '')}/${s.metadata?.name}`, 'service');
        this.opts.ports.releaseShadow(keyOf(s));
      }
      this.log.info('link deleted: removed its shadows', { link: name, cluster, services: svcs.items.length, slices: slices.items.length });
    }
    await this.client.patch(this.linkPath(name), {
      metadata: { finalizers: (link.metadata?.finalizers ?? []).filter((f) => f !== LINK_FINALIZER), resourceVersion: link.metadata?.resourceVersion },
    });
    st.mirrored.clear();
  }

  // --- status ------------------------------------------------------------------------------------------
  private buildStatus(link: Link, st: LinkState): LinkStatus {
    const prev = link.status?.conditions ?? [];
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const gen = link.metadata?.generation;
    const cond = (type: Condition['type'], ok: boolean | undefined, reason: string, message: string): Condition => {
      const status: Condition['status'] = ok === undefined ? 'Unknown' : ok ? 'True' : 'False';
      const old = prev.find((c) => c.type === type);
      return { type, status, reason, message, lastTransitionTime: old && old.status === status ? old.lastTransitionTime : now, observedGeneration: gen };
    };
    const conditions: Condition[] = [];
    if (st.invalid) {
      conditions.push(cond('Ready', false, 'InvalidSpec', `${st.invalid.path}: ${st.invalid.message}`));
    } else {
      const h = st.current?.health ?? st.pending?.health;
      const cp = st.credentialProblem;
      const credOk = cp ? false : h?.credentialsValid;
      const apiOk = cp ? undefined : h?.reachable === true && h.credentialsValid === false ? true : h?.reachable;
      conditions.push(cond('CredentialsValid', credOk, cp ? cp.reason : credOk === false ? 'Unauthorized' : credOk ? 'Accepted' : 'Pending', cp ? cp.message : credOk === false ? (h?.message ?? '') : credOk ? 'the target accepts the link credentials' : 'connecting'));
      conditions.push(cond('RemoteAPIReachable', apiOk, apiOk ? 'Watching' : apiOk === false ? 'Unreachable' : 'Pending', apiOk === false ? (h?.message ?? '') : apiOk ? `watching ${st.current?.client.server.origin ?? ''}` : 'not connected yet'));
      if (st.spec?.gateway) {
        const lp = st.lastProbe ?? st.prober?.last;
        conditions.push(cond('GatewayReachable', lp ? st.probeHealthy : undefined, lp ? (st.probeHealthy ? 'ProbeSucceeded' : 'ProbeFailed') : 'Pending', lp ? `${lp.address}: ${lp.message}` : 'no probe yet'));
      } else {
        conditions.push(cond('GatewayReachable', true, 'NoGateway', 'flat mode only: no gateway to probe'));
      }
      const problems = [...st.mirrored.values()].filter((m) => m.problem).length;
      const ready = credOk === true && apiOk === true && (!st.spec?.gateway || st.probeHealthy);
      conditions.push(cond('Ready', ready, ready ? (problems ? 'ServiceProblems' : 'Mirroring') : 'NotReady', ready ? `${st.mirrored.size - problems} services mirrored, ${problems} with problems` : 'see the other conditions'));
    }
    const all = [...st.mirrored.values()].sort((a, b) => (a.problem ? 0 : 1) - (b.problem ? 0 : 1) || `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
    const status: LinkStatus = {
      observedGeneration: gen,
      conditions,
      mirroredServices: { count: all.filter((m) => !m.problem).length, services: all.slice(0, this.opts.statusListMax ?? 200) },
    };
    const lp = st.prober?.last;
    if (lp) status.lastProbe = { time: lp.time.toISOString(), latencyMs: lp.latencyMs, success: lp.ok, message: lp.message };
    return status;
  }

  private async writeStatus(link: Link, st: LinkState): Promise<void> {
    const status = this.buildStatus(link, st);
    const problems = (status.mirroredServices?.services ?? []).filter((m) => m.problem).length;
    this.metrics.shadows.set({ link: st.name }, status.mirroredServices?.count ?? 0);
    this.metrics.problems.set({ link: st.name }, problems);
    const live = link.status ?? {};
    // The probe time alone changes every period; write it at most every 30 s.
    const stripProbe = (s: LinkStatus) => ({ ...s, lastProbe: s.lastProbe ? { success: s.lastProbe.success, message: s.lastProbe.message } : undefined });
    const probeStale = !live.lastProbe || Date.now() - Date.parse(live.lastProbe.time) > 30_000;
    if (deepEqual(stripProbe(live), stripProbe(status)) && !(status.lastProbe && probeStale)) return;
    try {
      await this.client.patch(`${this.linkPath(st.name)}/status`, { status });
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
  }

  // --- shadows -----------------------------------------------------------------------------------------
  private gatewayEndpoints(): GatewayEndpoint[] {
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

  private async namespaceExists(ns: string, create: boolean): Promise<boolean> {
    const seen = this.namespacesSeen.get(ns);
    if (seen && Date.now() - seen < 60_000) return true;
    try {
      await this.client.get(resourcePath({ version: 'v1', plural: 'namespaces', name: ns }));
      this.namespacesSeen.set(ns, Date.now());
      return true;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (!create) return false;
    try {
      await this.client.create(resourcePath({ version: 'v1', plural: 'namespaces' }), {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: ns, labels: { [MIRRORED_LABEL]: 'true' } },
      });
      this.log.info('created namespace for mirrored services', { namespace: ns });
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
    this.namespacesSeen.set(ns, Date.now());
    return true;
  }

  private async reconcileShadow(cluster: string, ns: string, name: string): Promise<void | { requeueAfter?: number }> {
    const shadow = shadowName(name, cluster);
    const shadowKey = `${ns}/${shadow}`;
    const link = this.linkFor(cluster);
    if (!link) {
      if (!this.links.hasSynced()) return { requeueAfter: 1000 };
      await this.deleteShadow(ns, shadow, cluster, 'no Link targets this cluster any more');
      return;
    }
    const st = this.states.get(link.metadata?.name ?? '');
    // Deleting links are cleaned up by their finalizer; invalid or not yet started ones leave shadows alone.
    if (!st || !st.spec || st.invalid || link.metadata?.deletionTimestamp) return;
    const rc = st.current;
    if (!rc || !rc.hasSynced()) return; // enqueued again when the remote cache syncs
    const spec = st.spec;
    const remote = rc.services.getByName(ns, name);
    const mode = remote ? exportMode(remote, spec) : undefined;
    const remoteKey = `${ns}/${name}`;
    if (!remote || !mode) {
      const had = st.mirrored.delete(remoteKey);
      await this.deleteShadow(ns, shadow, cluster, remote ? 'unexported' : 'remote Service deleted');
      if (had) this.statusSoon(st);
      return;
    }
    const record = (problem?: string) => {
      const entry: MirroredServiceStatus = { namespace: ns, name, shadow, mode, ...(problem ? { problem } : {}) };
      const old = st.mirrored.get(remoteKey);
      if (!deepEqual(old, entry)) {
        st.mirrored.set(remoteKey, entry);
        this.statusSoon(st);
      }
    };
    if (!(await this.namespaceExists(ns, spec.createNamespaces))) {
      record(`namespace ${ns} does not exist here (set spec.createNamespaces to create it)`);
      return { requeueAfter: 15_000 };
    }
    if (mode === 'gateway' && !spec.gateway) {
      record('exported through the gateway, but the Link has no spec.gateway');
      return;
    }

    const podIPs = new Map<string, string>();
    for (const p of this.shadows.byIndex('parent', shadowKey)) if (p.spec?.clusterIP) podIPs.set(p.metadata?.name ?? '', p.spec.clusterIP);
    const input = {
      remote,
      remoteSlices: rc.slicesOf(ns, name),
      linkSpec: spec,
      gateway: this.gatewayEndpoints(),
      gatewayHealthy: st.probeHealthy,
      ports: this.opts.ports,
      podServiceIPs: podIPs,
    };
    let desired: DesiredShadow;
    try {
      const d = desiredShadow(input);
      if (!d) return;
      desired = d;
    } catch (err) {
      if (err instanceof PortsExhaustedError) {
        record(err.message);
        return { requeueAfter: 30_000 };
      }
      throw err;
    }

    try {
      await this.applyService(desired.service, cluster);
    } catch (err) {
      if (err instanceof ShadowConflictError) {
        this.opts.ports.releaseShadow(shadowKey);
        const msg = `Service ${shadowKey} exists and is not managed by the mirror; not overwriting it`;
        if (st.mirrored.get(remoteKey)?.problem !== msg) {
          this.log.warn('shadow name taken by a foreign Service', { link: st.name, service: shadowKey });
          await this.events.record(asLink(link), 'Warning', 'ShadowConflict', msg);
        }
        record(msg);
        return { requeueAfter: 30_000 };
      }
      throw err;
    }

    // Gateway-mode headless: per-pod Services first; their ClusterIPs are the shadow's endpoints.
    if (desired.podServices.length || this.shadows.byIndex('parent', shadowKey).length) {
      for (const ps of desired.podServices) {
        try {
          const obj = await this.applyService(ps.service, cluster);
          if (obj.spec?.clusterIP) podIPs.set(ps.service.metadata?.name ?? '', obj.spec.clusterIP);
        } catch (err) {
          if (!(err instanceof ShadowConflictError)) throw err;
          record(`per-pod Service ${ns}/${ps.service.metadata?.name} is not managed by the mirror`);
        }
        await this.applySlices(ns, ps.service.metadata?.name ?? '', ps.slices, cluster);
      }
      const wantPods = new Set(desired.podServices.map((p) => p.service.metadata?.name));
      for (const p of this.shadows.byIndex('parent', shadowKey)) {
        if (wantPods.has(p.metadata?.name)) continue;
        await this.applySlices(ns, p.metadata?.name ?? '', [], cluster);
        await this.deleteObject(`${svcPath(ns)}/${p.metadata?.name}`, 'service');
      }
      if (desired.pendingPodIPs.length) {
        const again = desiredShadow({ ...input, podServiceIPs: podIPs });
        if (again) desired = again;
      }
    }
    await this.applySlices(ns, shadow, desired.slices, cluster);
    this.opts.ports.releaseShadow(shadowKey, new Set(desired.portKeys));
    record();
    return;
  }

  /** Create or update one Service we own; ShadowConflictError if the name is taken by a foreign object. */
  private async applyService(desired: Service, cluster: string): Promise<Service> {
    const ns = desired.metadata?.namespace ?? '';
    const name = desired.metadata?.name ?? '';
    let live: Service | undefined = this.freshest('svc', ns, name, this.shadows.getByName(ns, name));
    if (!live) {
      try {
        const created = await this.ownWrite('svc', ns, name, undefined, () => this.client.create<Service>(svcPath(ns), desired));
        this.metrics.writes.inc({ kind: 'service', result: 'created' });
        return created;
      } catch (err) {
        if (!isConflict(err)) throw err;
        live = await this.client.get<Service>(`${svcPath(ns)}/${name}`);
      }
    }
    if (!ownedBy(live, cluster)) throw new ShadowConflictError(`${ns}/${name} is not ours`);
    if (isHeadless(live) !== isHeadless(desired)) {
      // clusterIP is immutable: to switch to/from headless the shadow is replaced.
      await this.deleteObject(`${svcPath(ns)}/${name}`, 'service', live.metadata?.uid);
      const created = await this.client.create<Service>(svcPath(ns), desired);
      this.metrics.writes.inc({ kind: 'service', result: 'recreated' });
      return created;
    }
    if (!needsUpdate(live, desired)) return live;
    const merged = mergeForUpdate(live, desired);
    merged.spec = { ...(live.spec ?? {}), ...(desired.spec ?? {}) };
    const updated = await this.ownWrite('svc', ns, name, live.metadata?.resourceVersion, () => this.client.replace<Service>(`${svcPath(ns)}/${name}`, merged));
    this.metrics.writes.inc({ kind: 'service', result: 'updated' });
    return updated;
  }

  private async applySlices(ns: string, service: string, desired: EndpointSlice[], cluster: string): Promise<void> {
    const actual = this.shadowSlices.byIndex('service', `${ns}/${service}`).map((a) => this.freshest('slice', ns, a.metadata?.name ?? '', a) ?? a);
    for (const d of desired) {
      const n = d.metadata?.name ?? '';
      if (actual.some((a) => a.metadata?.name === n)) continue;
      const mine = this.freshest<EndpointSlice>('slice', ns, n, undefined);
      if (mine) actual.push(mine); // created by us a moment ago, not in the cache yet
    }
    const plan = diff(desired, actual, cluster);
    for (const d of plan.create) {
      try {
        await this.ownWrite('slice', ns, d.metadata?.name ?? '', undefined, () => this.client.create(slicePath(ns), d));
        this.metrics.writes.inc({ kind: 'endpointslice', result: 'created' });
      } catch (err) {
        if (!isConflict(err)) throw err;
        // Our cache lags behind our own earlier write: update the live one (if it is ours).
        const live = await this.client.get<EndpointSlice>(`${slicePath(ns)}/${d.metadata?.name}`);
        if (!ownedBy(live, cluster)) continue;
        await this.client.replace(`${slicePath(ns)}/${d.metadata?.name}`, mergeForUpdate(live, d));
      }
    }
    for (const u of plan.update) {
      await this.ownWrite('slice', ns, u.desired.metadata?.name ?? '', u.live.metadata?.resourceVersion, () => this.client.replace(`${slicePath(ns)}/${u.desired.metadata?.name}`, mergeForUpdate(u.live, u.desired)));
      this.metrics.writes.inc({ kind: 'endpointslice', result: 'updated' });
    }
    for (const d of plan.delete) await this.deleteObject(`${slicePath(ns)}/${d.metadata?.name}`, 'endpointslice');
  }

  private async deleteObject(path: string, kind: string, uid?: string): Promise<void> {
    const m = /\/namespaces\/([^/]+)\/(services|endpointslices)\/([^/]+)$/.exec(path);
    if (m) this.lastWrite.delete(`${m[2] === 'services' ? 'svc' : 'slice'}:${m[1]}/${decodeURIComponent(m[3])}`);
    try {
      await this.client.delete(path, uid ? { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid } } : undefined);
      this.metrics.writes.inc({ kind, result: 'deleted' });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /** Removes a shadow and everything it owns, if (and only if) it carries our labels for `cluster`. */
  private async deleteShadow(ns: string, shadow: string, cluster: string, why: string): Promise<void> {
    const key = `${ns}/${shadow}`;
    const live = this.shadows.getByName(ns, shadow);
    const pods = this.shadows.byIndex('parent', key);
    const slices = this.shadowSlices.byIndex('service', key);
    if (!live && !pods.length && !slices.length) {
      this.opts.ports.releaseShadow(key);
      return;
    }
    if (live && !ownedBy(live, cluster)) return;
    for (const p of pods) {
      if (!ownedBy(p, cluster)) continue;
      await this.applySlices(ns, p.metadata?.name ?? '', [], cluster);
      await this.deleteObject(`${svcPath(ns)}/${p.metadata?.name}`, 'service');
    }
    await this.applySlices(ns, shadow, [], cluster);
    if (live) await this.deleteObject(`${svcPath(ns)}/${shadow}`, 'service', live.metadata?.uid);
    this.opts.ports.releaseShadow(key);
    this.log.info('removed shadow', { service: key, cluster, reason: why });
  }
}

/** Items of a list carry no apiVersion/kind; an Event's involvedObject needs them. */
function asLink(link: Link): Link {
  return { ...link, apiVersion: `${LINK_GROUP}/${LINK_VERSION}`, kind: 'Link' };
}

/** A server-side selector for the remote Service watch when both Link selectors are the defaults. */
function serviceSelectorFor(spec: LinkSpec): string | undefined {
  if (deepEqual(spec.selector, DEFAULT_GATEWAY_SELECTOR) && deepEqual(spec.flatSelector, DEFAULT_FLAT_SELECTOR)) return EXPORT_LABEL;
  const a = selectorString(spec.selector);
  const b = selectorString(spec.flatSelector);
  return a && a === b ? a : undefined;
}
