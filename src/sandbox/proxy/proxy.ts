// The sandbox's kube-proxy: one listener per (ClusterIP | node address | LB address, port, TCP or UDP), each
// TCP connection (or UDP flow) sent to a ready endpoint. Desired listeners are recomputed from the whole Service set on
// every change and diffed against the open ones (level-triggered), so a change to one Service never
// touches another's listeners, and endpoint changes need no listener change at all: the endpoint is
// chosen per connection from the current Service.
import { BlockList, connect, createServer, isIPv6, type Server, type Socket } from 'node:net';
import { z } from 'zod';
import { createLogger, type Logger } from '../../log/index.js';
import { ProxyServiceSchema, type ProxyService, type ProxyServiceInput, type ProxyServiceStats, type ProxyServiceStatus } from './types.js';
import { addrOf, backendsFor, emptyStats, portKeyOf, type Desired, type Listener } from './backends.js';
import { UdpListeners } from './udp.js';

export { backendsFor, UDP_FLOW_IDLE_MS, UDP_MAX_FLOWS } from './backends.js';

export const ServiceProxyOptionsSchema = z.object({
  /** Address other clusters reach this cluster's node at: NodePorts listen here, and it is the default LB ingress. */
  nodeAddress: z.union([z.ipv4(), z.ipv6()]).optional(),
  /**
   * The cluster's pod CIDRs: only a client from one of them keeps its address towards the endpoint (as
   * kube-proxy masquerades what does not come from the cluster CIDR); any other client goes out from
   * `nodeAddress`. Empty: every client's address is kept where it can be bound.
   */
  podCIDRs: z.array(z.string().regex(/^[0-9a-fA-F.:]+\/\d{1,3}$/)).default([]),
  /** LB ingress addresses to hand out (as MetalLB would); without a pool every LB Service gets `nodeAddress`. */
  loadBalancerAddresses: z.array(z.union([z.ipv4(), z.ipv6()])).default([]),
  connectTimeoutMs: z.number().int().min(50).max(60_000).default(3_000),
  /** Why IPv6 ClusterIPs are not served here (the network has no IPv6 pod addresses); unset: served. */
  noIPv6: z.string().min(1).optional(),
});
export type ServiceProxyOptions = z.input<typeof ServiceProxyOptionsSchema> & {
  logger?: Logger;
  /** Called when a Service's status changes (listeners, LB ingress, errors). */
  onStatus?: (status: ProxyServiceStatus) => void;
};

export class ProxyError extends Error {
  constructor(
    readonly code: 'PROXY_INVALID_SERVICE' | 'PROXY_INVALID_OPTIONS',
    message: string,
  ) {
    super(message);
    this.name = 'ProxyError';
  }
}

export class ServiceProxy {
  private readonly services = new Map<string, ProxyService>();
  private readonly inputErrors = new Map<string, string>();
  private readonly listeners = new Map<string, Listener>();
  private readonly statuses = new Map<string, ProxyServiceStatus>();
  private readonly stats = new Map<string, ProxyServiceStats>();
  private readonly lbAssigned = new Map<string, string>();
  private readonly sockets = new Set<Socket>();
  private readonly rr = new Map<string, number>();
  private readonly log: Logger;
  private readonly opts: z.output<typeof ServiceProxyOptionsSchema>;
  private readonly onStatus: ((s: ProxyServiceStatus) => void) | undefined;
  private readonly udp: UdpListeners;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  /** The pod CIDRs as a set (undefined: keep every client's address). */
  private readonly pods: BlockList | undefined;

  constructor(options: ServiceProxyOptions = {}) {
    const parsed = ServiceProxyOptionsSchema.safeParse(options);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ProxyError('PROXY_INVALID_OPTIONS', `service proxy options: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
    }
    this.opts = parsed.data;
    if (this.opts.podCIDRs.length) {
      this.pods = new BlockList();
      for (const cidr of this.opts.podCIDRs) {
        const [net, bits] = cidr.split('/') as [string, string];
        this.pods.addSubnet(net, Number(bits), isIPv6(net) ? 'ipv6' : 'ipv4');
      }
    }
    this.log = options.logger ?? createLogger('service-proxy');
    this.udp = new UdpListeners({ backends: (d) => this.backendsOf(d), nextIndex: (d) => this.nextIndex(d), stats: (o) => this.statsFor(o), log: this.log });
    this.onStatus = options.onStatus;
  }

  /**
   * Adds or replaces a Service (key `namespace/name`) and resolves once its listeners are open (or have
   * failed, see `errors`). Bad input is reported in the status, and the previous version keeps serving.
   */
  async setService(key: string, input: ProxyServiceInput): Promise<ProxyServiceStatus> {
    const parsed = ProxyServiceSchema.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const msg = `invalid service: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`;
      this.log.warn('service proxy ignored an invalid service', { service: key, reason: msg });
      this.inputErrors.set(key, msg);
    } else {
      this.inputErrors.delete(key);
      this.services.set(key, parsed.data);
    }
    await this.reconcile();
    return this.status(key);
  }

  async deleteService(key: string): Promise<void> {
    this.services.delete(key);
    this.inputErrors.delete(key);
    await this.reconcile();
  }

  /** Level-triggered full sync: exactly these Services afterwards. */
  async replaceAll(entries: Iterable<[string, ProxyServiceInput]>): Promise<ProxyServiceStatus[]> {
    const keep = new Set<string>();
    for (const [key, input] of entries) {
      keep.add(key);
      const parsed = ProxyServiceSchema.safeParse(input);
      if (parsed.success) {
        this.services.set(key, parsed.data);
        this.inputErrors.delete(key);
      } else {
        this.inputErrors.set(key, `invalid service: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
      }
    }
    for (const key of [...this.services.keys()]) if (!keep.has(key)) this.services.delete(key);
    for (const key of [...this.inputErrors.keys()]) if (!keep.has(key)) this.inputErrors.delete(key);
    await this.reconcile();
    return [...keep].map((k) => this.status(k));
  }

  status(key: string): ProxyServiceStatus {
    return this.statuses.get(key) ?? { key, listening: [], errors: this.inputErrors.has(key) ? [this.inputErrors.get(key) as string] : [] };
  }

  serviceStats(key: string): ProxyServiceStats {
    return { ...(this.stats.get(key) ?? emptyStats()) };
  }

  /** Every open listener, `address:port` → `namespace/name`. */
  listening(): Map<string, string> {
    return new Map([...this.listeners.values()].map((l) => [l.addr, l.owner]));
  }

  /** Closes every listener and every proxied connection. */
  async close(): Promise<void> {
    this.closed = true;
    this.services.clear();
    await this.reconcile();
    for (const s of this.sockets) s.destroy();
  }

  private reconcile(): Promise<void> {
    const run = this.chain.then(() => this.reconcileNow());
    this.chain = run.catch(() => undefined);
    return run;
  }

  private desired(): { want: Map<string, Desired>; errors: Map<string, string[]>; lb: Map<string, string> } {
    const want = new Map<string, Desired>();
    const errors = new Map<string, string[]>();
    const lb = new Map<string, string>();
    const addErr = (key: string, msg: string) => errors.set(key, [...(errors.get(key) ?? []), msg]);
    const claim = (d: Desired) => {
      const other = want.get(d.addr);
      if (other && other.owner !== d.owner) {
        addErr(d.owner, `${d.addr} is already used by service ${other.owner}`);
        return;
      }
      if (!other) want.set(d.addr, d);
    };
    // Sorted so that conflicts resolve the same way every time; services that already hold an address
    // go first so that a newcomer never steals a working listener.
    const keys = [...this.services.keys()].sort((a, b) => Number(this.holds(b)) - Number(this.holds(a)) || a.localeCompare(b));
    const usedLb = new Set<string>();
    for (const key of keys) {
      const svc = this.services.get(key) as ProxyService;
      let ingress: string | undefined;
      if (svc.type === 'LoadBalancer') {
        ingress = this.lbAddressFor(key, usedLb);
        if (ingress) {
          usedLb.add(ingress);
          lb.set(key, ingress);
        } else addErr(key, 'no LoadBalancer address: set nodeAddress or loadBalancerAddresses');
      }
      for (const sp of svc.ports) {
        if (sp.protocol === 'SCTP') continue; // not proxied in the sandbox
        const protocol = sp.protocol;
        const portKey = portKeyOf(sp);
        for (const ip of svc.clusterIPs) {
          if (this.opts.noIPv6 && isIPv6(ip)) addErr(key, `IPv6 ClusterIP ${ip} not served: ${this.opts.noIPv6}`);
          else claim({ addr: addrOf(ip, sp.port, protocol), host: ip, port: sp.port, owner: key, portKey, protocol });
        }
        if ((svc.type === 'NodePort' || svc.type === 'LoadBalancer') && sp.nodePort) {
          if (this.opts.nodeAddress) claim({ addr: addrOf(this.opts.nodeAddress, sp.nodePort, protocol), host: this.opts.nodeAddress, port: sp.nodePort, owner: key, portKey, protocol });
          else addErr(key, `nodePort ${sp.nodePort} not served: the proxy has no nodeAddress`);
        }
        if (ingress) claim({ addr: addrOf(ingress, sp.port, protocol), host: ingress, port: sp.port, owner: key, portKey, protocol });
      }
    }
    return { want, errors, lb };
  }

  private holds(key: string): boolean {
    for (const l of this.listeners.values()) if (l.owner === key) return true;
    return false;
  }

  private lbAddressFor(key: string, used: Set<string>): string | undefined {
    const pool = this.opts.loadBalancerAddresses;
    if (pool.length === 0) return this.opts.nodeAddress;
    const prev = this.lbAssigned.get(key);
    if (prev && pool.includes(prev) && !used.has(prev)) return prev;
    const taken = new Set([...this.lbAssigned.entries()].filter(([k]) => k !== key && this.services.has(k)).map(([, v]) => v));
    const free = pool.find((a) => !taken.has(a) && !used.has(a));
    if (free) this.lbAssigned.set(key, free);
    return free;
  }

  private async reconcileNow(): Promise<void> {
    const { want, errors, lb } = this.closed ? { want: new Map<string, Desired>(), errors: new Map<string, string[]>(), lb: new Map<string, string>() } : this.desired();
    // Forget per-service state of removed Services (flows still open keep their own stats reference).
    for (const key of [...this.lbAssigned.keys()]) if (!this.services.has(key)) this.lbAssigned.delete(key);
    for (const key of [...this.stats.keys()]) if (!this.services.has(key)) this.stats.delete(key);
    for (const rrKey of [...this.rr.keys()]) if (!this.services.has(rrKey.slice(0, rrKey.indexOf('|')))) this.rr.delete(rrKey);

    // Close listeners no longer wanted (or now owned by another service / port). Established flows stay,
    // as conntrack entries outlive a kube-proxy rule change.
    const closing: Promise<void>[] = [];
    for (const [addr, l] of this.listeners) {
      const d = want.get(addr);
      if (d && d.owner === l.owner && d.portKey === l.portKey) continue;
      this.listeners.delete(addr);
      closing.push(new Promise((r) => l.server.close(() => r())));
      this.log.info('service proxy listener closed', { service: l.owner, address: addr });
    }
    await Promise.all(closing);

    const opening: Promise<void>[] = [];
    for (const [addr, d] of want) {
      if (this.listeners.has(addr)) continue;
      opening.push(
        (d.protocol === 'UDP' ? this.udp.listenUdp(d) : this.listen(d)).then(
          (server) => {
            this.listeners.set(addr, { ...d, server });
            this.log.info('service proxy listening', { service: d.owner, address: addr });
          },
          (err: NodeJS.ErrnoException) => {
            const hint =
              err.code === 'EADDRNOTAVAIL' ? ' (address not on this host or namespace)'
              : err.code === 'EADDRINUSE' ? ' (port in use by another process)'
              : err.code === 'EACCES' ? ' (ports below 1024 need root or CAP_NET_BIND_SERVICE)'
              : '';
            const msg = `cannot listen on ${addr}: ${err.code ?? err.message}${hint}`;
            errors.set(d.owner, [...(errors.get(d.owner) ?? []), msg]);
            this.log.warn('service proxy cannot listen', { service: d.owner, address: addr, error: err.code ?? err.message });
          },
        ),
      );
    }
    await Promise.all(opening);

    const keys = new Set([...this.services.keys(), ...this.inputErrors.keys(), ...this.statuses.keys()]);
    for (const key of keys) {
      if (!this.services.has(key) && !this.inputErrors.has(key)) {
        this.statuses.delete(key);
        continue;
      }
      const next: ProxyServiceStatus = {
        key,
        listening: [...this.listeners.values()].filter((l) => l.owner === key).map((l) => l.addr).sort(),
        ...(lb.has(key) ? { loadBalancerIngress: lb.get(key) as string } : {}),
        errors: [...(this.inputErrors.has(key) ? [this.inputErrors.get(key) as string] : []), ...(errors.get(key) ?? [])],
      };
      const prev = this.statuses.get(key);
      this.statuses.set(key, next);
      if (JSON.stringify(prev) !== JSON.stringify(next)) this.onStatus?.(next);
    }
  }

  private listen(d: Desired): Promise<Server> {
    return new Promise((resolve, reject) => {
      // pauseOnConnect: no client byte is read before an endpoint is connected, so nothing is lost.
      const server = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (client) => this.accept(d, client));
      server.once('error', reject);
      server.listen({ host: d.host, port: d.port, exclusive: true }, () => {
        server.off('error', reject);
        server.on('error', (err) => this.log.error('service proxy listener error', { service: d.owner, address: d.addr, error: err.message }));
        resolve(server);
      });
    });
  }

  private backendsOf(d: Desired): { host: string; port: number }[] {
    const svc = this.services.get(d.owner);
    const sp = svc?.ports.find((p) => portKeyOf(p) === d.portKey);
    // Per family, as kube-proxy runs one proxier per IP family: an IPv6 address reaches IPv6 endpoints only.
    return svc && sp ? backendsFor(svc, sp).filter((b) => isIPv6(b.host) === isIPv6(d.host)) : [];
  }

  private nextIndex(d: Desired): number {
    const rrKey = `${d.owner}|${d.portKey}`;
    const n = this.rr.get(rrKey) ?? 0;
    this.rr.set(rrKey, (n + 1) % 1_000_000_000);
    return n;
  }

  private statsFor(key: string): ProxyServiceStats {
    let s = this.stats.get(key);
    if (!s) {
      s = emptyStats();
      this.stats.set(key, s);
    }
    return s;
  }

  private accept(d: Desired, client: Socket): void {
    const st = this.statsFor(d.owner);
    st.accepted++;
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    let clientGone = false;
    client.on('error', () => {
      clientGone = true;
    });
    const backends = this.backendsOf(d);
    if (backends.length === 0) {
      // As kube-proxy's REJECT rule: the client sees a reset at once, not a hang.
      st.rejected++;
      this.log.debug('no ready endpoint, connection reset', { service: d.owner, address: d.addr });
      client.resetAndDestroy();
      return;
    }
    const start = this.nextIndex(d);
    // As kube-proxy's DNAT without SNAT: the endpoint sees the client's own address (the mesh gateway
    // attests callers by it). Every pod address is local to the proxy (loopback: all of 127/8; isolated: the
    // pod CIDR is a local route in the cluster's netns), so the outgoing socket binds it. A client from
    // outside (another cluster at a NodePort) has an address that is not local here: that connection goes
    // out from the proxy's own address, as kube-proxy masquerades external traffic.
    // A client that is no pod (a host tool in the cluster's network, whose kernel picked the ClusterIP itself
    // as its source) would get replies at an address no other cluster routes: a flat endpoint's answer
    // would be lost. It goes out from the node address, which every cluster reaches.
    let keepSource = client.remoteAddress !== undefined && this.isPodAddress(client.remoteAddress);
    const node = this.opts.nodeAddress;
    // The node address of the backend's family only (an IPv4 node address cannot source an IPv6 connection).
    const masquerade = (host: string) => (!keepSource && this.pods !== undefined && node && isIPv6(node) === isIPv6(host) ? { localAddress: node } : {});
    const tryAt = (i: number): void => {
      if (clientGone || client.destroyed) return;
      if (i >= backends.length) {
        st.rejected++;
        this.log.warn('every endpoint refused, connection reset', { service: d.owner, address: d.addr, endpoints: backends.length });
        client.resetAndDestroy();
        return;
      }
      const b = backends[(start + i) % backends.length] as { host: string; port: number };
      const upstream = connect({ host: b.host, port: b.port, allowHalfOpen: true, ...(keepSource ? { localAddress: client.remoteAddress } : masquerade(b.host)) });
      upstream.setTimeout(this.opts.connectTimeoutMs);
      const fail = (reason: string) => {
        upstream.destroy();
        if (keepSource && reason === 'EADDRNOTAVAIL') {
          keepSource = false;
          return tryAt(i);
        }
        st.failovers++;
        this.log.debug('endpoint connect failed, trying the next', { service: d.owner, endpoint: `${b.host}:${b.port}`, reason });
        tryAt(i + 1);
      };
      const onTimeout = () => fail('connect timeout');
      const onError = (err: NodeJS.ErrnoException) => fail(err.code ?? err.message);
      upstream.once('timeout', onTimeout);
      upstream.once('error', onError);
      upstream.once('connect', () => {
        upstream.off('timeout', onTimeout);
        upstream.off('error', onError);
        upstream.setTimeout(0);
        this.pipe(d.owner, client, upstream);
      });
    };
    tryAt(0);
  }

  private isPodAddress(addr: string): boolean {
    const a = addr.replace(/^::ffff:/, '');
    return this.pods === undefined || this.pods.check(a, isIPv6(a) ? 'ipv6' : 'ipv4');
  }

  private pipe(owner: string, client: Socket, upstream: Socket): void {
    const st = this.statsFor(owner);
    if (client.destroyed) {
      upstream.destroy();
      return;
    }
    st.active++;
    this.sockets.add(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    // A reset on one side becomes a reset on the other; a FIN becomes a FIN (pipe's end()), so
    // half-closed flows keep working in the other direction.
    const onErr = (other: Socket) => () => {
      if (!other.destroyed) other.resetAndDestroy();
    };
    client.on('error', onErr(upstream));
    upstream.on('error', onErr(client));
    let closed = 0;
    const onClose = () => {
      if (++closed === 2) {
        st.active--;
        st.bytesIn += client.bytesRead;
        st.bytesOut += client.bytesWritten;
        this.sockets.delete(upstream);
      }
    };
    client.on('close', onClose);
    upstream.on('close', onClose);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
