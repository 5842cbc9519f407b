// The MCS part of `npm run bench -- mirror`: export → import latency across clusters at 100 exports/s. Two
// API servers, a Link local → remote (flat), the controller in local; 500 Services (with their slices) wait
// in the remote cluster, then a ServiceExport is created for one every 10 ms; the latency of each is from the
// create request until a watch on the local API server sees its ServiceImport with a VIP.
import { Informer, KubeClient, resourcePath } from '../src/kube/index.js';
import type { ServiceImport } from '../src/mirror/mcs-types.js';
import { stopAll } from '../test/helpers/process.js';
import { startCluster, stopCluster, prepareLocal, putSecret, adminKubeconfig, createLink, ensureNamespace, startController, type Cluster } from '../test/mirror/env.js';

const NS = 'bench';
const MCS = '/apis/multicluster.x-k8s.io/v1beta1';
const svcPath = resourcePath({ version: 'v1', plural: 'services', namespace: NS });
const slicePath = resourcePath({ group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespace: NS });

export interface McsLatency {
  latencies: number[];
  rss: number;
}

export async function mcsLatency(n: number, rssMb: (pid: number) => number): Promise<McsLatency> {
  let local: Cluster | undefined;
  let remote: Cluster | undefined;
  try {
    [local, remote] = await Promise.all([startCluster('local', ['--no-persist']), startCluster('remote', ['--no-persist'])]);
    await Promise.all([prepareLocal(local), prepareLocal(remote)]);
    await Promise.all([ensureNamespace(local, NS), ensureNamespace(remote, NS)]);
    const rc = remote;
    for (let i = 0; i < n; i++) {
      await rc.client.create(svcPath, { apiVersion: 'v1', kind: 'Service', metadata: { name: `ex-${i}`, namespace: NS }, spec: { ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } });
      await rc.client.create(slicePath, {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: `ex-${i}-abc`, namespace: NS, labels: { 'kubernetes.io/service-name': `ex-${i}`, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
        addressType: 'IPv4',
        endpoints: [{ addresses: [`10.9.${(i >> 8) & 255}.${i & 255}`], conditions: { ready: true } }],
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      });
    }
    await putSecret(local, 'cluster-credentials-remote', adminKubeconfig(remote));
    const ctl = await startController(local, ['--workers', '4']);
    await createLink(local, 'remote', { targetClusterName: 'remote', clusterCredentialsSecret: 'cluster-credentials-remote' });
    const client = await KubeClient.create(local.api.kubeConfig);
    const inf = new Informer<ServiceImport>(client, { path: `${MCS}/namespaces/${NS}/serviceimports` });
    const waiters = new Map<string, () => void>();
    const seen = (o: ServiceImport) => {
      if (!o.spec?.ips?.length) return;
      const w = waiters.get(o.metadata?.name ?? '');
      if (w) {
        waiters.delete(o.metadata?.name ?? '');
        w();
      }
    };
    inf.onObject({ onAdd: seen, onUpdate: (_o, x) => seen(x) });
    inf.start();
    await inf.waitForSync();
    // The Link's remote watch is up once the controller has listed the remote (its Link status says so).
    await new Promise((r) => setTimeout(r, 3000));
    const latencies: number[] = [];
    const started = performance.now();
    const pending: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      const wait = started + i * 10 - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const landed = new Promise<void>((resolve) => waiters.set(`ex-${i}`, resolve));
      pending.push(
        (async () => {
          const t = performance.now();
          await rc.client.create(`${MCS}/namespaces/${NS}/serviceexports`, { apiVersion: 'multicluster.x-k8s.io/v1beta1', kind: 'ServiceExport', metadata: { name: `ex-${i}`, namespace: NS } });
          await Promise.race([landed, new Promise((_, rej) => setTimeout(() => rej(new Error(`export ex-${i} never imported`)), 30_000))]);
          latencies.push(performance.now() - t);
        })(),
      );
    }
    const results = await Promise.allSettled(pending);
    const lost = results.filter((r) => r.status === 'rejected').length;
    if (lost) throw new Error(`${lost} of ${n} exports were never imported`);
    const rss = rssMb(ctl.proc.pid);
    inf.stop();
    client.close();
    await ctl.proc.stop();
    return { latencies, rss };
  } finally {
    await stopAll();
    await stopCluster(local);
    await stopCluster(remote);
  }
}
