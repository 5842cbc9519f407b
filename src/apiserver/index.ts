// The embedded Kubernetes-compatible API server: HTTPS with its own CA, bearer-token authentication and
// RBAC through the security module, in-memory storage with an optional snapshot, watches, discovery
// and garbage collection. `mesh apiserver` runs one; the sandbox embeds one per cluster.
import { mkdirSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { DEFAULT_CLUSTER_DOMAIN, KUBE_SLICE_MANAGED_BY, SLICE_MANAGED_BY_LABEL, SLICE_SERVICE_LABEL } from '../api/index.js';
import { createLogger, type Logger } from '../log/index.js';
import { createSecurity } from './auth/index.js';
import type { GroupResource, ObjectReader } from './auth/types.js';
import { GarbageCollector } from './gc.js';
import { kubeconfigText, loadPki } from './pki.js';
import { Registry, grKey } from './resources.js';
import { Rest } from './rest.js';
import { createApiHttpServer } from './server.js';
import { Store, type Obj, type StoreEvent } from './store.js';

export { ApiError, toStatus, type StatusObject } from './errors.js';
export { ServiceIpRanges, familyOf, type IpFamily } from './allocators.js';
export type { StoredObject } from './auth/types.js';
export type { PodStreams, PodLogOptions, ExecOptions, AttachOptions, ExecProcess } from './http/pod-streams.js';
import type { PodStreams } from './http/pod-streams.js';

export interface ApiServerOptions {
  /** Address to listen on; default 127.0.0.1. */
  host?: string;
  /** Port; 0 picks a free one. */
  port?: number;
  dataDir: string;
  /** Names the kubeconfig's cluster, context and user; default `mesh`. */
  clusterName?: string;
  /** ClusterIPs are allocated from here; default 10.96.0.0/16. `<v4>,<v6>` (either order; the first is the primary family) makes the cluster dual-stack. */
  serviceCIDR?: string;
  /** Extra IPs / DNS names for the serving certificate; the first is the kubeconfig address when host is a wildcard. */
  advertiseAddresses?: string[];
  /** Snapshot objects to `<dataDir>/state.json` so a restart keeps them; default true. */
  persist?: boolean;
  /** Events kept for watches resuming from a resourceVersion (older → 410 Gone); default 10000. */
  watchWindow?: number;
  /** Bookmark interval for watches with allowWatchBookmarks; default 10 s. */
  bookmarkIntervalMs?: number;
  /** Largest request body; default 3 MiB (as kube-apiserver). */
  maxBodyBytes?: number;
  logger?: Logger;
}

export interface RunningApiServer {
  url: string;
  port: number;
  caPem: string;
  adminToken: string;
  kubeconfigPath: string;
  /** In-process read access to stored objects (cheap; no HTTP). */
  objects: ObjectReader;
  /** In-process watch of one resource (all namespaces); returns a function that stops it. */
  watch(gr: GroupResource, onEvent: (type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: Obj) => void): () => void;
  /** Serves pods/log, pods/exec and pods/portforward through `p` (the sandbox kubelet). */
  setPodStreams(p: PodStreams): void;
  close(): Promise<void>;
}

const systemNamespaces = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

export async function startApiServer(options: ApiServerOptions): Promise<RunningApiServer> {
  const clusterName = options.clusterName ?? 'mesh';
  const host = options.host ?? '127.0.0.1';
  const log = options.logger ?? createLogger('apiserver', { fields: { cluster: clusterName } });
  const serviceCIDR = options.serviceCIDR ?? '10.96.0.0/16';
  const advertise = options.advertiseAddresses ?? [];
  mkdirSync(options.dataDir, { recursive: true });
  const store = new Store({ watchWindow: options.watchWindow ?? 10_000, ...(options.persist !== false ? { snapshotPath: join(options.dataDir, 'state.json') } : {}) });
  store.onWatcherError = (e) => log.error('watcher failed while an event was delivered', { error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  const registry = new Registry();
  const rest = new Rest(store, registry, serviceCIDR);
  const wildcard = host === '0.0.0.0' || host === '::' || host === '';
  const names = ['127.0.0.1', 'localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', `kubernetes.default.svc.${DEFAULT_CLUSTER_DOMAIN}`, rest.admission.ips.primary.first, ...advertise, ...(wildcard ? [] : [host])];
  const pki = loadPki(options.dataDir, clusterName, names);
  const objects: ObjectReader = {
    get: (gr, ns, name) => store.get(grKey(gr.group, gr.resource), ns, name),
    list: (gr, ns) => store.list(grKey(gr.group, gr.resource), ns),
  };
  const issuer = `https://kubernetes.default.svc.${DEFAULT_CLUSTER_DOMAIN}`;
  const security = createSecurity({ store: objects, adminToken: pki.adminToken, issuer, signingKeyPem: pki.saSigningKeyPem, defaultAudiences: [issuer] });
  if (security.admit) {
    const admit = security.admit.bind(security);
    rest.admitHook = (user, gr, obj, old) => admit(user, gr, obj, old);
  }
  for (const ns of systemNamespaces) rest.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, uid: '', resourceVersion: '' } });
  for (const o of security.bootstrapObjects()) rest.seed(o);
  const gc = new GarbageCollector(rest, log);
  const http = createApiHttpServer({
    certPem: pki.certPem,
    keyPem: pki.keyPem,
    security,
    rest,
    log,
    maxBodyBytes: options.maxBodyBytes ?? 3 * 1024 * 1024,
    bookmarkIntervalMs: options.bookmarkIntervalMs ?? 10_000,
  });
  const server = http.server;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const urlHost = wildcard ? (advertise.find((a) => isIP(a)) ?? advertise[0] ?? '127.0.0.1') : host;
  const url = `https://${isIP(urlHost) === 6 ? `[${urlHost}]` : urlHost}:${port}`;
  seedKubernetesService(rest, urlHost, port);
  const kubeconfigPath = join(options.dataDir, 'kubeconfig');
  writeFileSync(kubeconfigPath, kubeconfigText(clusterName, url, pki.caPem, pki.adminToken), { mode: 0o600 });
  writeFileSync(join(options.dataDir, 'ca.crt'), pki.caPem);
  log.info('api server listening', { url, dataDir: options.dataDir, kubeconfig: kubeconfigPath, serviceCIDR, objects: store.resourceVersion });
  let closed = false;
  return {
    url,
    port,
    caPem: pki.caPem,
    adminToken: pki.adminToken,
    kubeconfigPath,
    objects,
    watch(gr, onEvent) {
      return store.addWatcher({ gr: grKey(gr.group, gr.resource), deliver: (ev: StoreEvent) => onEvent(ev.type, ev.obj) });
    },
    setPodStreams(p) {
      http.setPodStreams(p);
    },
    async close() {
      if (closed) return;
      closed = true;
      gc.stop();
      http.endWatches();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await store.flush();
      store.close();
    },
  };
}

/** The `kubernetes` Service in `default` and its endpoints, pointing at this server (as kube-apiserver keeps them). */
function seedKubernetesService(rest: Rest, address: string, port: number): void {
  const ctx = { user: { username: 'system:apiserver', uid: '', groups: ['system:masters'] }, manager: 'kube-apiserver', dryRun: false };
  const svcDef = rest.registry.get('', 'services');
  const epDef = rest.registry.get('', 'endpoints');
  const sliceDef = rest.registry.get('discovery.k8s.io', 'endpointslices');
  if (!svcDef || !epDef || !sliceDef) return;
  const ip = isIP(address) === 4 ? address : '127.0.0.1';
  if (!rest.store.get('services', 'default', 'kubernetes')) {
    rest.create(svcDef, 'v1', 'default', { metadata: { name: 'kubernetes', labels: { component: 'apiserver', provider: 'kubernetes' } }, spec: { clusterIP: rest.admission.ips.primary.first, ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: port }] } }, ctx);
  }
  const ep = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'kubernetes', namespace: 'default', labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } }, subsets: [{ addresses: [{ ip }], ports: [{ name: 'https', port, protocol: 'TCP' }] }] };
  const slice = { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'kubernetes', namespace: 'default', labels: { [SLICE_SERVICE_LABEL]: 'kubernetes', [SLICE_MANAGED_BY_LABEL]: KUBE_SLICE_MANAGED_BY } }, addressType: 'IPv4', endpoints: [{ addresses: [ip], conditions: { ready: true } }], ports: [{ name: 'https', port, protocol: 'TCP' }] };
  for (const [def, body, gr] of [[epDef, ep, 'endpoints'], [sliceDef, slice, grKey('discovery.k8s.io', 'endpointslices')]] as const) {
    const cur = rest.store.get(gr, 'default', 'kubernetes');
    if (!cur) rest.create(def, 'v1', 'default', body, ctx);
    else rest.update(def, 'v1', 'default', 'kubernetes', { ...body, metadata: { ...body.metadata, resourceVersion: cur.metadata.resourceVersion } }, ctx);
  }
}
