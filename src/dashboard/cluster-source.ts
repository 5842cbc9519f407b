// One cluster as the dashboard reads it, through the user's kubeconfig context: watches (Links, Services,
// EndpointSlices, and the MCS ServiceImports/ServiceExports when the API has them) for what changes, and a
// periodic sample for the rest: is the API server there, the mesh namespace, the controller, the gateway
// pods with their /ready and /metrics through the API server's pods/proxy (nothing is port-forwarded), and
// the trust material's certificates (never a key: only `tls.crt` is kept of the issuer Secret).
import {
  KubeClient, Informer, loadKubeConfig, errorMessage, isNotFound, statusCodeOf, type KubeObject,
} from '../kube/index.js';
import {
  APP_NAME_LABEL, CLUSTER_DOMAIN_ANNOTATION, CLUSTER_NAME_LABEL, CONTROLLER_NAME, GATEWAY_ADMIN_PORT, GATEWAY_NAME, GATEWAY_READY_PATH, ISSUER_SECRET, LINKS_PATH,
  MCS_GROUP, MESH_NAMESPACE, METRICS_PATH, SERVICE_EXPORT_PLURAL, SERVICE_IMPORT_PLURAL, TRUST_DOMAIN_ANNOTATION, TRUST_ROOTS_CONFIGMAP, TRUST_ROOTS_KEY,
} from '../api/index.js';
import type { Logger } from '../log/index.js';
import { readGatewayMetrics, type GatewayScrape } from './prom.js';
import type { GatewayPodView } from './model.js';

export interface ClusterSourceOptions {
  context: string;
  kubeconfig?: string;
  /** Per-request timeout; an API server slower than this counts as unreachable for that sample. */
  timeoutMs: number;
  /** Called when watched objects change (the collector debounces). */
  onChange: () => void;
  logger: Logger;
  /** How often the MCS API is looked for again while absent, and the trust material re-read. */
  slowEveryMs?: number;
}

/** What one sample found. Everything here is safe to show: no Secret data but the issuer's certificate. */
export interface Sampled {
  at: number;
  reachable: boolean;
  error?: string;
  version?: string;
  meshInstalled: boolean;
  name: string | null;
  trustDomain?: string;
  clusterDomain?: string;
  controller?: { ready: number; want: number };
  gatewayPods: GatewayPodView[];
  scrapes: Map<string, GatewayScrape>;
  metricsError?: string;
  /** The gateway pods were listed in this sample (gatewayPods is the whole truth, not a failed read). */
  gatewaysRead?: boolean;
}

export interface TrustPems {
  at: number;
  bundlePem?: string;
  issuerCertPem?: string;
  error?: string;
}

interface PodLike extends KubeObject {
  status?: { phase?: string; podIP?: string; conditions?: Array<{ type: string; status: string }> };
}
interface DeploymentLike extends KubeObject {
  spec?: { replicas?: number };
  status?: { readyReplicas?: number };
}

export class ClusterSource {
  readonly context: string;
  server = '';
  client: KubeClient | undefined;
  configError: string | undefined;
  links: Informer | undefined;
  services: Informer | undefined;
  slices: Informer | undefined;
  serviceImports: Informer | undefined;
  serviceExports: Informer | undefined;
  mcsVersion: string | undefined;
  sampled: Sampled | undefined;
  lastContact: number | undefined;
  trust: TrustPems | undefined;
  private lastSlow = 0;

  constructor(private readonly o: ClusterSourceOptions) {
    this.context = o.context;
  }

  async start(): Promise<void> {
    try {
      const kc = loadKubeConfig({ kubeconfig: this.o.kubeconfig, context: this.o.context });
      this.server = new URL(kc.getCurrentCluster()?.server ?? '').origin;
      this.client = await KubeClient.create(kc, { timeoutMs: this.o.timeoutMs });
    } catch (err) {
      this.configError = errorMessage(err);
      return;
    }
    this.links = this.informer(LINKS_PATH, 'links');
    this.services = this.informer('/api/v1/services', 'services');
    this.slices = this.informer('/apis/discovery.k8s.io/v1/endpointslices', 'endpointslices');
  }

  private informer(path: string, what: string): Informer {
    if (!this.client) throw new Error('no client');
    const inf = new Informer(this.client, {
      path,
      name: `${this.context}:${what}`,
      logger: this.o.logger,
      backoffMaxMs: 10_000,
      onListed: () => this.o.onChange(),
      onError: () => this.o.onChange(),
    });
    inf.onKey(() => this.o.onChange());
    inf.start();
    return inf;
  }

  stop(): void {
    for (const i of [this.links, this.services, this.slices, this.serviceImports, this.serviceExports]) i?.stop();
    this.client?.close();
  }

  /** One sample; never throws (what failed is in the result). */
  async sample(now: number): Promise<Sampled> {
    const c = this.client;
    const base: Sampled = { at: now, reachable: false, meshInstalled: false, name: null, gatewayPods: [], scrapes: new Map() };
    if (!c) return (this.sampled = { ...base, error: this.configError ?? 'no client' });
    try {
      const v = await c.get<{ gitVersion?: string }>('/version');
      base.version = typeof v?.gitVersion === 'string' ? v.gitVersion : undefined;
    } catch (err) {
      return (this.sampled = { ...base, error: `API server ${this.server} unreachable: ${errorMessage(err)}`, ...this.keepNames() });
    }
    base.reachable = true;
    this.lastContact = now;
    try {
      await this.readMesh(c, base);
      if (base.meshInstalled) await this.readGateways(c, base);
      if (now - this.lastSlow >= (this.o.slowEveryMs ?? 15_000)) {
        this.lastSlow = now;
        await Promise.all([this.discoverMcs(c), this.readTrust(c, now)]);
      }
    } catch (err) {
      base.error = errorMessage(err);
    }
    return (this.sampled = base);
  }

  /** An unreachable cluster keeps the name it had, so its Links and exports are still placed. */
  private keepNames(): Partial<Sampled> {
    const s = this.sampled;
    return s ? { name: s.name, meshInstalled: s.meshInstalled, trustDomain: s.trustDomain, clusterDomain: s.clusterDomain } : {};
  }

  private async readMesh(c: KubeClient, out: Sampled): Promise<void> {
    let ns: KubeObject;
    try {
      ns = await c.get(`/api/v1/namespaces/${MESH_NAMESPACE}`);
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    const name = ns.metadata?.labels?.[CLUSTER_NAME_LABEL];
    if (!name) return;
    out.meshInstalled = true;
    out.name = name;
    out.trustDomain = ns.metadata?.annotations?.[TRUST_DOMAIN_ANNOTATION];
    out.clusterDomain = ns.metadata?.annotations?.[CLUSTER_DOMAIN_ANNOTATION];
    try {
      const d = await c.get<DeploymentLike>(`/apis/apps/v1/namespaces/${MESH_NAMESPACE}/deployments/${CONTROLLER_NAME}`);
      out.controller = { ready: d.status?.readyReplicas ?? 0, want: d.spec?.replicas ?? 1 };
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  private async readGateways(c: KubeClient, out: Sampled): Promise<void> {
    const pods = await c.list<PodLike>(`/api/v1/namespaces/${MESH_NAMESPACE}/pods`, { labelSelector: `${APP_NAME_LABEL}=${GATEWAY_NAME}` });
    const errors: string[] = [];
    await Promise.all(pods.items.filter((p) => !p.metadata?.deletionTimestamp).map(async (p) => {
      const name = p.metadata?.name ?? '';
      const ready = p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') ?? false;
      const view: GatewayPodView = { name, ready, live: null };
      out.gatewayPods.push(view);
      if (p.status?.phase !== 'Running' || !p.status.podIP) return;
      const proxy = `/api/v1/namespaces/${MESH_NAMESPACE}/pods/${name}:${GATEWAY_ADMIN_PORT}/proxy`;
      const [live, metrics] = await Promise.allSettled([
        c.get<unknown>(`${proxy}${GATEWAY_READY_PATH}`, { timeoutMs: this.o.timeoutMs }),
        c.get<unknown>(`${proxy}${METRICS_PATH}`, { timeoutMs: this.o.timeoutMs }),
      ]);
      // Not allowed to ask (401/403) says nothing about the gateway: unknown, not down.
      const denied = live.status === 'rejected' && [401, 403].includes(statusCodeOf(live.reason) ?? 0);
      view.live = denied ? null : live.status === 'fulfilled';
      if (live.status === 'rejected') view.error = errorMessage(live.reason);
      if (metrics.status === 'fulfilled' && typeof metrics.value === 'string') out.scrapes.set(name, readGatewayMetrics(metrics.value));
      else errors.push(`${name}: ${metrics.status === 'rejected' ? errorMessage(metrics.reason) : 'the answer was not Prometheus text'}`);
    }));
    out.gatewayPods.sort((a, b) => a.name.localeCompare(b.name));
    out.gatewaysRead = true;
    if (pods.items.length === 0) out.metricsError = `no ${GATEWAY_NAME} pod`;
    else if (errors.length > 0) out.metricsError = `gateway /metrics through the API server: ${errors.join('; ')}`;
  }

  /** The MCS API may be installed at any time (or never): look for it until it is there. */
  private async discoverMcs(c: KubeClient): Promise<void> {
    if (this.mcsVersion) return;
    let group: { preferredVersion?: { version?: string } };
    try {
      group = await c.get(`/apis/${MCS_GROUP}`);
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    const version = group.preferredVersion?.version;
    if (!version) return;
    this.mcsVersion = version;
    this.serviceImports = this.informer(`/apis/${MCS_GROUP}/${version}/${SERVICE_IMPORT_PLURAL}`, 'serviceimports');
    this.serviceExports = this.informer(`/apis/${MCS_GROUP}/${version}/${SERVICE_EXPORT_PLURAL}`, 'serviceexports');
  }

  private async readTrust(c: KubeClient, now: number): Promise<void> {
    const t: TrustPems = { at: now };
    const problems: string[] = [];
    try {
      const cm = await c.get<{ data?: Record<string, unknown> }>(`/api/v1/namespaces/${MESH_NAMESPACE}/configmaps/${TRUST_ROOTS_CONFIGMAP}`);
      const pem = cm.data?.[TRUST_ROOTS_KEY];
      if (typeof pem === 'string') t.bundlePem = pem;
      else problems.push(`ConfigMap ${TRUST_ROOTS_CONFIGMAP} has no ${TRUST_ROOTS_KEY}`);
    } catch (err) {
      problems.push(`ConfigMap ${TRUST_ROOTS_CONFIGMAP}: ${errorMessage(err)}`);
    }
    try {
      // Only the certificate is taken; the rest of the Secret (the issuer's key) is dropped here.
      const sec = await c.get<{ data?: Record<string, unknown> }>(`/api/v1/namespaces/${MESH_NAMESPACE}/secrets/${ISSUER_SECRET}`);
      const crt = sec.data?.['tls.crt'];
      if (typeof crt === 'string') t.issuerCertPem = Buffer.from(crt, 'base64').toString('utf8');
      else problems.push(`Secret ${ISSUER_SECRET} has no tls.crt`);
    } catch (err) {
      problems.push(`Secret ${ISSUER_SECRET}: ${errorMessage(err)}`);
    }
    if (problems.length) t.error = problems.join('; ');
    this.trust = t;
  }
}
