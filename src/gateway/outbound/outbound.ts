// Outbound: one listener per outbound port that a shadow Service maps (opened and closed as shadows come
// and go; closing one never touches another's flows), each accepted connection an OutboundTunnel
// (tunnel.ts) carried to the remote gateway of its Link by that Link's transport: HTTP/2 CONNECT streams
// over a pool of sessions (h2.ts) or pre-handshaked tls-pipes (pipe.ts).
import net from 'node:net';
import type tls from 'node:tls';
import type { Logger } from '../../log/index.js';
import type { GatewayConfig } from '../config.js';
import { GatewayError } from '../errors.js';
import { RateLimitedLog } from '../log-limit.js';
import type { GatewayMetrics } from '../metrics.js';
import { resolveOutbound } from '../routing.js';
import type { OutboundRoute, PodCaller, RemoteGateway, Transport } from '../types.js';
import { CallerAttestation } from './attest.js';
import { H2Pool } from '../pool/h2-pool.js';
import { PipePool } from '../pool/pipe-pool.js';
import { IdleSweep } from '../idle.js';
import { RELAY_BUFFER } from '../relay.js';
import { H2Transport } from './h2.js';
import { PipeTransport } from './pipe.js';
import type { TunnelTransport } from './transport.js';
import { OutboundTunnel, type OutboundTunnelDeps } from './tunnel.js';

/** Every listener this long after a failed bind (port taken) is retried. */
const REBIND_MS = 2_000;

export interface OutboundDeps {
  config: GatewayConfig;
  logger: Logger;
  metrics: GatewayMetrics;
  context: () => tls.SecureContext | undefined;
}

/** The listener of one outbound port on one of the gateway's addresses (config.host). */
interface Listener {
  port: number;
  host: string;
  server: net.Server;
  bound: boolean;
  /** The last bind failed (retried every REBIND_MS). */
  failed?: boolean;
}

/** Listeners by port and address: each (port, address) binds, fails and retries on its own. */
const keyOf = (port: number, host: string) => `${port} ${host}`;

export class Outbound {
  private readonly listeners = new Map<string, Listener>();
  private routes = new Map<number, OutboundRoute>();
  private remotes = new Map<string, RemoteGateway>();
  /** One transport (and its pool) per linked cluster. */
  private readonly transports = new Map<string, TunnelTransport>();
  private readonly sockets = new Set<net.Socket>();
  private readonly load = { active: 0 };
  private readonly tunnelDeps: OutboundTunnelDeps;
  private rebindTimer: NodeJS.Timeout | undefined;
  private draining = false;
  private readonly attest: CallerAttestation;

  constructor(private readonly d: OutboundDeps) {
    this.attest = new CallerAttestation(d.config.trustDomain, d.config.clusterName);
    this.tunnelDeps = { config: d.config, logger: d.logger, metrics: d.metrics, load: this.load, idle: new IdleSweep(d.config.idleTimeoutMs), refusals: new RateLimitedLog(d.logger) };
  }

  /** Tunnels open now. */
  get active(): number {
    return this.load.active;
  }

  transportOf(remote: RemoteGateway): Transport {
    return remote.transport ?? this.d.config.defaultTransport;
  }

  /** Applies a new routing state: listeners and pools follow it. */
  update(routes: OutboundRoute[], remotes: RemoteGateway[], callers?: readonly PodCaller[]): void {
    this.attest.update(callers);
    const { min, max } = this.d.config.outboundPorts;
    const next = new Map<number, OutboundRoute>();
    for (const r of routes) {
      // The range bounds what a shadow annotation can make us bind (never the tunnel or admin port, or a system port).
      if (r.outboundPort < min || r.outboundPort > max) {
        this.d.logger.warn('outbound port outside the configured range; ignored', { outboundPort: r.outboundPort, range: `${min}-${max}`, namespace: r.namespace, service: r.service, remoteCluster: r.remoteCluster });
        continue;
      }
      next.set(r.outboundPort, r);
    }
    this.routes = next;
    this.remotes = new Map(remotes.map((r) => [r.cluster, r]));
    this.syncTransports();
    if (!this.draining) this.syncListeners();
  }

  /** A transport per linked cluster, of the kind its Link asks for; a changed kind replaces it. */
  private syncTransports(): void {
    for (const [name, r] of this.remotes) {
      const t = this.transports.get(name);
      if (t && t.kind === this.transportOf(r)) {
        t.update(r);
        continue;
      }
      t?.close();
      this.transports.set(name, this.newTransport(r));
    }
    for (const [name, t] of this.transports) {
      if (this.remotes.has(name)) continue;
      t.close();
      this.transports.delete(name);
    }
  }

  private newTransport(r: RemoteGateway): TunnelTransport {
    const c = this.d.config;
    const outlier = { consecutiveFailures: c.outlierFailures, baseEjectionMs: c.outlierEjectionMs, maxEjectionMs: c.outlierMaxEjectionMs };
    const common = { trustDomain: c.trustDomain, connectTimeoutMs: c.connectTimeoutMs, context: this.d.context, logger: this.d.logger, metrics: this.d.metrics, outlier };
    if (this.transportOf(r) === 'connect') {
      return new H2Transport(new H2Pool(r, { ...common, size: c.poolSize, streamWindow: c.streamWindow, connectionWindow: c.connectionWindow, streamWritableHighWaterMark: RELAY_BUFFER, keepalive: { intervalMs: c.keepaliveMs, timeoutMs: c.keepaliveTimeoutMs } }), c.connectTimeoutMs);
    }
    return new PipeTransport(new PipePool(r, { ...common, warm: c.pipeWarm }), c.connectTimeoutMs);
  }

  private syncListeners(): void {
    for (const [key, l] of this.listeners) {
      if (!this.routes.has(l.port)) {
        // Stops accepting; connections already tunneled through this port go on.
        l.server.close();
        this.listeners.delete(key);
        this.d.logger.info('outbound listener closed', { outboundPort: l.port, host: l.host });
      }
    }
    let unbound = false;
    for (const port of this.routes.keys()) {
      for (const host of this.d.config.host) {
        const l = this.listeners.get(keyOf(port, host));
        if (l && l.bound) continue;
        if (l && !l.failed) {
          // Its bind is under way: never replace it. In a worker, node:cluster would take a second listen on the
          // (port, address) for another socket and bind it beside the sibling workers' (EADDRINUSE, and every
          // retry after it too): routes arriving in a burst at start left a worker without outbound listeners.
          unbound = true;
          continue;
        }
        if (l) l.server.close();
        // A retry of a failed bind stays counted as failed, not opening, until it binds.
        this.listen(port, host, l?.failed === true);
        unbound = true;
      }
    }
    if (unbound && !this.rebindTimer) {
      this.rebindTimer = setTimeout(() => {
        this.rebindTimer = undefined;
        if (!this.draining && [...this.listeners.values()].some((x) => !x.bound)) this.syncListeners();
      }, REBIND_MS);
      this.rebindTimer.unref();
    }
  }

  private listen(port: number, host: string, failed = false): void {
    const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => this.onConnection(port, s));
    const l: Listener = { port, host, server, bound: false, failed };
    this.listeners.set(keyOf(port, host), l);
    server.on('error', (err: NodeJS.ErrnoException) => {
      l.failed = true;
      this.d.logger.error('cannot listen on outbound port; will retry', { outboundPort: port, host, error: err.code ?? err.message });
    });
    server.listen(port, host, () => {
      l.bound = true;
      this.d.logger.info('outbound listener open', { outboundPort: port, host, route: this.routes.get(port) });
    });
  }

  private trackSocket(local: net.Socket): void {
    this.sockets.add(local);
    local.on('close', () => this.sockets.delete(local));
    local.on('error', noop);
  }

  /** Listeners of the current routes whose first bind has not finished yet (/ready waits for none). */
  opening(): number {
    return [...this.listeners.values()].filter((l) => !l.bound && !l.failed).length;
  }

  /** Ports with a live listener on every address (for tests). */
  boundPorts(): number[] {
    const bound = new Map<number, number>();
    for (const l of this.listeners.values()) if (l.bound) bound.set(l.port, (bound.get(l.port) ?? 0) + 1);
    return [...bound].filter(([, n]) => n === this.d.config.host.length).map(([p]) => p).sort((a, b) => a - b);
  }

  poolReady(cluster: string): number {
    return this.transports.get(cluster)?.ready() ?? 0;
  }

  private onConnection(port: number, local: net.Socket): void {
    this.trackSocket(local);
    const tunnel = new OutboundTunnel(local, port, this.tunnelDeps);
    let resolved: ReturnType<typeof resolveOutbound>;
    try {
      resolved = resolveOutbound(port, this.routes, this.remotes);
    } catch (err) {
      return tunnel.refuse(err instanceof GatewayError ? err : new GatewayError('NO_ROUTE', (err as Error).message));
    }
    tunnel.start(resolved.route, resolved.remote, this.transports.get(resolved.remote.cluster), this.attest.claimFor(local.remoteAddress));
  }

  startDrain(): void {
    this.draining = true;
    if (this.rebindTimer) clearTimeout(this.rebindTimer);
    for (const l of this.listeners.values()) l.server.close();
    this.listeners.clear();
  }

  destroy(): void {
    this.tunnelDeps.refusals.stop();
    this.startDrain();
    for (const t of this.transports.values()) t.close(true);
    for (const s of this.sockets) s.destroy();
  }

  /** After a drain: close pools gracefully (streams already done). */
  closePools(): void {
    for (const t of this.transports.values()) t.close();
  }
}

function noop(): void {}
