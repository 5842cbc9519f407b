// One sandbox cluster in one Node process: the embedded API server, the controller manager, the kubelet,
// the service proxy and cluster DNS, all fed by one set of informers. `mesh sandbox cluster` runs this;
// in isolated mode the process itself lives in the cluster's network namespace.
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { SANDBOX_CLUSTER_LABEL } from '../api/index.js';
import { startApiServer } from '../apiserver/index.js';
import { ClustersetRecordSource, ClustersetWatch, DnsRecordSource, dnsServicesFromObjects, startDnsServer, type DnsServer } from '../dns/index.js';
import { Controller, Informer, KubeClient, kubeConfigFromString, isAlreadyExists, type KubeObject } from '../kube/index.js';
import type { Logger } from '../log/index.js';
import { ControllerManager, type Caches } from './controller-manager.js';
import { hasUnshare } from './netns.js';
import { Recorder } from './events.js';
import { Kubelet } from './kubelet.js';
import { KubeletStreams } from './kubelet-streams.js';
import { serviceCidrs, type ClusterPlan } from './plan.js';
import { startServiceProxy, type ProxyHandle } from './proxy-wiring.js';

export interface ClusterRunOptions {
  plan: ClusterPlan;
  /** The sandbox directory D; this cluster keeps its files in D/<cluster>. */
  dir: string;
  sandboxId: string;
  meshBin: string;
  repoRoot: string;
  log: Logger;
}

export interface RunningCluster {
  name: string;
  apiUrl: string;
  apiPort: number;
  /** Admin kubeconfig written by the API server (server URL reachable inside the cluster network). */
  kubeconfigPath: string;
  /** Isolated mode: a unix socket that reaches the API server from any network namespace. */
  apiSocket?: string;
  dns: string;
  kubelet: Kubelet;
  stop(): Promise<void>;
}

export async function runCluster(o: ClusterRunOptions): Promise<RunningCluster> {
  const { plan, log } = o;
  const cdir = join(o.dir, plan.name);
  mkdirSync(cdir, { recursive: true });
  const isolated = plan.mode === 'isolated';
  const api = await startApiServer({
    host: isolated ? '0.0.0.0' : plan.nodeAddress,
    port: plan.apiPort,
    dataDir: join(cdir, 'apiserver'),
    clusterName: plan.name,
    serviceCIDR: serviceCidrs(plan),
    advertiseAddresses: [plan.nodeAddress, '127.0.0.1'],
    // Snapshots let `up` restart a crashed cluster process with its objects intact.
    persist: true,
  });
  const apiPort = api.port;
  log.info('api server listening', { url: api.url });

  // The host cannot route into an isolated cluster's namespace; a unix socket on the shared filesystem can.
  const { apiSocket, sockServer } = isolated ? await apiSocketForwarder(cdir, apiPort) : { apiSocket: undefined, sockServer: undefined };

  const kc = kubeConfigFromString(readFileSync(api.kubeconfigPath, 'utf8'));
  const client = await KubeClient.create(kc);
  await ensureNamespaces(client, ['default', 'kube-system', 'kube-public']);

  const caches = informers(client, log);
  const nodeName = `${plan.name}-node`;
  await registerNode(client, nodeName, plan);
  const recorder = new Recorder(client, 'kubelet', nodeName, log);

  // DNS: rebuilt from the whole cache after any change (level-triggered), coalesced per tick.
  const source = new DnsRecordSource(plan.domain);
  let dnsPending = false;
  const syncDns = () => {
    if (dnsPending) return;
    dnsPending = true;
    setImmediate(() => {
      dnsPending = false;
      const errs = source.replaceAll(dnsServicesFromObjects(caches.services.list() as never[], caches.slices.list() as never[]));
      for (const e of errs) log.warn('service not published in DNS', e);
    });
  };
  caches.services.onKey(syncDns);
  caches.slices.onKey(syncDns);
  // clusterset.local (MCS): the same server answers it from ServiceImports and their MCS EndpointSlices.
  const clusterset = new ClustersetRecordSource();
  const clustersetWatch = new ClustersetWatch({ client, source: clusterset, log: log.child({ part: 'dns-clusterset' }) });
  const dnsServer: DnsServer = await startDnsServer([source, clusterset], { address: plan.dnsAddress, port: plan.dnsPort }, log.child({ part: 'dns' }));
  const dns = `${dnsServer.address}:${dnsServer.port}`;

  const proxy: ProxyHandle = await startServiceProxy({ client, services: caches.services, slices: caches.slices, nodeAddress: plan.nodeAddress, podCIDRs: [plan.podCIDR, ...(plan.podCIDR6 ? [plan.podCIDR6] : [])], ipv6: plan.podCIDR6 !== undefined, log });

  const cm = new ControllerManager({ client, caches, recorder: new Recorder(client, 'controller-manager', nodeName, log), log, loadBalancerIP: plan.nodeAddress });
  const holder: { k?: Kubelet } = {};
  const kubeletCtl = new Controller({ name: 'kubelet', reconcile: (k) => holder.k!.reconcile(k), workers: 8, logger: log });
  // With DNS on port 53 (root), each pod gets a resolv.conf with its own namespace's search list; without,
  // pods use MESH_CLUSTER_DNS (isolated pods still inherit the netns resolv.conf).
  const podDns = plan.dnsPort === 53 && hasUnshare() ? { nameserver: plan.dnsAddress, domain: plan.domain } : undefined;
  const kubelet = new Kubelet({
    client, pods: caches.pods, controller: kubeletCtl, plan, nodeName, clusterDir: cdir, meshBin: o.meshBin, repoRoot: o.repoRoot,
    apiHost: plan.nodeAddress, apiPort, caPem: api.caPem, dns, sandboxId: o.sandboxId, recorder, log, ...(podDns ? { podDns } : {}),
  });
  holder.k = kubelet;
  // pods/log, pods/exec and pods/portforward reach this kubelet through the API server.
  api.setPodStreams(new KubeletStreams({ runtime: (k) => kubelet.runtime(k), meshBin: o.meshBin, repoRoot: o.repoRoot, ...(podDns ? { podDns } : {}) }));
  caches.pods.onKey((k) => kubeletCtl.enqueue(k));

  const all = Object.values(caches) as Informer<KubeObject>[];
  for (const i of all) i.start();
  await Promise.all([...all.map((i) => i.waitForSync(20_000)), clustersetWatch.start(20_000)]);
  cm.start();
  kubeletCtl.start();

  let stopping: Promise<void> | undefined;
  return {
    name: plan.name,
    apiUrl: api.url,
    apiPort,
    kubeconfigPath: api.kubeconfigPath,
    ...(apiSocket ? { apiSocket } : {}),
    dns,
    kubelet,
    stop() {
      stopping ??= (async () => {
        await kubeletCtl.stop();
        await kubelet.stop(3_000);
        await cm.stop();
        for (const i of all) i.stop();
        clustersetWatch.stop();
        await proxy.close();
        await dnsServer.close();
        sockServer?.close();
        client.close();
        await api.close();
      })();
      return stopping;
    },
  };
}

async function ensureNamespaces(client: KubeClient, names: string[]): Promise<void> {
  for (const name of names) {
    await client.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } }).catch((err: unknown) => {
      if (!isAlreadyExists(err)) throw err;
    });
  }
}

/** The cluster's one Node, as a kubelet registers it: tools read node addresses from it (NodePort gateways). */
async function registerNode(client: KubeClient, name: string, plan: ClusterPlan): Promise<void> {
  const now = new Date().toISOString();
  const node = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'node-role.kubernetes.io/control-plane': '', [SANDBOX_CLUSTER_LABEL]: plan.name } },
    spec: { podCIDR: plan.podCIDR, podCIDRs: [plan.podCIDR] },
  };
  const status = {
    addresses: [{ type: 'InternalIP', address: plan.nodeAddress }, { type: 'Hostname', address: name }],
    conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'sandbox kubelet is posting ready status', lastHeartbeatTime: now, lastTransitionTime: now }],
    nodeInfo: { kubeletVersion: 'v1.32.0-sandbox', operatingSystem: 'linux', architecture: process.arch === 'x64' ? 'amd64' : process.arch, containerRuntimeVersion: 'sandbox://processes', osImage: 'mesh sandbox', kernelVersion: '', kubeProxyVersion: '', machineID: '', systemUUID: '', bootID: '' },
    capacity: { pods: '250' },
    allocatable: { pods: '250' },
  };
  let cur: { metadata: { resourceVersion?: string } };
  try {
    cur = await client.create<{ metadata: { resourceVersion?: string } }>('/api/v1/nodes', node);
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
    cur = await client.get<{ metadata: { resourceVersion?: string } }>(`/api/v1/nodes/${name}`);
  }
  await client.replace(`/api/v1/nodes/${name}/status`, { ...node, metadata: { ...node.metadata, resourceVersion: cur.metadata.resourceVersion }, status });
}

/** A unix socket in the cluster dir that forwards to the API server (isolated mode: the host's way in). */
async function apiSocketForwarder(cdir: string, apiPort: number): Promise<{ apiSocket: string; sockServer: net.Server }> {
  const apiSocket = join(cdir, 'api.sock');
  rmSync(apiSocket, { force: true });
  const sockServer = net.createServer((c) => {
    const up = net.connect({ host: '127.0.0.1', port: apiPort });
    c.pipe(up).pipe(c);
    const end = () => { c.destroy(); up.destroy(); };
    c.on('error', end);
    up.on('error', end);
  });
  await new Promise<void>((res, rej) => { sockServer.once('error', rej); sockServer.listen(apiSocket, () => res()); });
  return { apiSocket, sockServer };
}

/** The informers every controller of the cluster process shares. */
function informers(client: KubeClient, log: Logger): Caches {
  const mk = (path: string, name: string) => new Informer(client, { path, name, logger: log });
  return {
    pods: mk('/api/v1/pods', 'pods'),
    services: mk('/api/v1/services', 'services'),
    slices: mk('/apis/discovery.k8s.io/v1/endpointslices', 'endpointslices'),
    namespaces: mk('/api/v1/namespaces', 'namespaces'),
    serviceAccounts: mk('/api/v1/serviceaccounts', 'serviceaccounts'),
    deployments: mk('/apis/apps/v1/deployments', 'deployments'),
    replicaSets: mk('/apis/apps/v1/replicasets', 'replicasets'),
    statefulSets: mk('/apis/apps/v1/statefulsets', 'statefulsets'),
    jobs: mk('/apis/batch/v1/jobs', 'jobs'),
  };
}
