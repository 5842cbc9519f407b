// Feeds the service proxy (src/sandbox/proxy, kube-proxy's job) from the cluster's informer caches:
// after any Service or EndpointSlice change, the whole cache is handed over (level-triggered, coalesced).
import type { Informer, KubeClient } from '../kube/index.js';
import type { Logger } from '../log/index.js';
import { ServiceProxy, proxyServicesFromObjects } from './proxy/index.js';

export interface ProxyWiringOptions {
  client: KubeClient;
  services: Informer;
  slices: Informer;
  nodeAddress: string;
  log: Logger;
}

export interface ProxyHandle {
  proxy: ServiceProxy;
  close(): Promise<void>;
}

export async function startServiceProxy(o: ProxyWiringOptions): Promise<ProxyHandle> {
  const proxy = new ServiceProxy({
    nodeAddress: o.nodeAddress,
    // A dual-stack cluster's IPv6 ClusterIPs answer in DNS; traffic to them needs IPv6 pod addresses, which
    // the sandbox does not give yet (loopback has only ::1), so the proxy says so instead of failing to bind.
    noIPv6: "the sandbox's pods have IPv4 addresses only (no IPv6 data path yet)",
    logger: o.log.child({ part: 'service-proxy' }),
    onStatus: (st) => {
      if (st.errors.length) o.log.warn('service proxy could not serve a service', { service: st.key, errors: st.errors });
    },
  });
  let pending = false;
  let running: Promise<unknown> = Promise.resolve();
  const sync = () => {
    if (pending) return;
    pending = true;
    setImmediate(() => {
      pending = false;
      running = running
        .then(() => proxy.replaceAll(proxyServicesFromObjects(o.services.list() as never[], o.slices.list() as never[])))
        .catch((err: unknown) => o.log.error('service proxy sync failed', { err: err instanceof Error ? err.message : String(err) }));
    });
  };
  o.services.onKey(sync);
  o.slices.onKey(sync);
  return {
    proxy,
    async close() {
      await running;
      await proxy.close();
    },
  };
}
