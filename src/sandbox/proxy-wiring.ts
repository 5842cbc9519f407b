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
  /** The cluster's pod CIDRs (one per family): clients from elsewhere are masqueraded to the node address. */
  podCIDRs: string[];
  /** Pods have IPv6 addresses (a dual-stack isolated cluster): IPv6 ClusterIPs are served. */
  ipv6: boolean;
  log: Logger;
}

export interface ProxyHandle {
  proxy: ServiceProxy;
  close(): Promise<void>;
}

export async function startServiceProxy(o: ProxyWiringOptions): Promise<ProxyHandle> {
  const proxy = new ServiceProxy({
    nodeAddress: o.nodeAddress,
    podCIDRs: o.podCIDRs,
    // Traffic to an IPv6 ClusterIP needs IPv6 pod addresses, which only a dual-stack isolated cluster has
    // (loopback has only ::1): elsewhere the proxy says so instead of failing to bind.
    ...(o.ipv6 ? {} : { noIPv6: "this cluster's pods have IPv4 addresses only (IPv6 needs a dual-stack isolated sandbox)" }),
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
