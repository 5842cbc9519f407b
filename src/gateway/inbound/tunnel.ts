// One inbound tunnel as a state machine, the same for every transport (HTTP/2 CONNECT, tls-pipe, and
// whatever framing comes next): a transport adapter turns its request into an InboundRequest and starts
// the tunnel; the tunnel decides, dials and relays, and ends in exactly one place (end), which owns the
// counters, the metrics, the log line and the answer.
//
//   accepted ──authorize──▶ authorized ──▶ dialing ──▶ relaying ──▶ closed
//       └──────── refused (status + reason) ──────┘         (abandoned: the client left first)
import type net from 'node:net';
import type { CallerClaim } from '../../api/index.js';
import type { Logger } from '../../log/index.js';
import type { GatewayConfig } from '../config.js';
import { GatewayError, type GatewayErrorCode } from '../errors.js';
import type { RateLimitedLog } from '../log-limit.js';
import type { ByteTally, GatewayMetrics, TunnelLabels } from '../metrics.js';
import type { IdleSweep } from '../idle.js';
import { relay, socketEnd, type RelayEnd } from '../relay.js';
import type { Backend, ExportedService } from '../types.js';
import { AccessDenied, authorize, linkedCluster, type AuthenticatedPeer, type AuthorizedTunnel, type InboundPolicy } from './authorize.js';
import { proxyHeaderFor, sendProxyHeader } from './proxy-protocol.js';
import { dialBackend } from './upstream.js';

export type InboundTunnelState = 'accepted' | 'authorized' | 'dialing' | 'relaying' | 'closed';

/** A tunnel request as a transport delivers it. */
export interface InboundRequest {
  /** The target as the client named it (:authority, the pipe header). */
  readonly authority: string | undefined;
  /** What the source gateway says about its client (mesh-caller-id / mesh-caller-cluster). */
  readonly claim: CallerClaim;
  /** The client went away before it was answered. */
  isGone(): boolean;
  /** Answers 200 and hands over the client's end of the tunnel; only an authorized tunnel can. */
  open(auth: AuthorizedTunnel): RelayEnd;
  /** Answers with the refusal (status, `mesh-refusal-reason`, text) or, where none can be sent, closes. */
  refuse(code: GatewayErrorCode, message: string): void;
  /** The transport stops taking requests itself in a drain (HTTP/2: the final GOAWAY of a graceful shutdown),
   * so a request it still hands on was sent before the peer knew: served, not refused DRAINING (a refusal
   * there was replayed onto a sibling session to the same draining replica and lost, issue 17 item 1). */
  readonly drainedByTransport?: boolean;
}

/** Shared by every inbound tunnel of one gateway. */
export interface InboundLoad {
  /** Tunnels relaying now (the tunnel limit and the drain wait on it). */
  active: number;
  draining: boolean;
  /** Round-robin position over a Service's backends. */
  next: number;
}

export interface InboundTunnelDeps {
  config: GatewayConfig;
  logger: Logger;
  metrics: GatewayMetrics;
  policy: () => InboundPolicy;
  load: InboundLoad;
  /** Closes tunnels without bytes for config.idleTimeoutMs (one coarse timer, not one per socket). */
  idle: IdleSweep;
  /** Refusal lines, rate limited: what a peer causes must not decide how much the gateway writes. */
  refusals: RateLimitedLog<InboundRefusalKind>;
}

export type InboundRefusalKind = 'connection' | 'tunnel';

/** At most this much of a peer's target text goes into a log line. */
const SHOWN_AUTHORITY = 120;

type Ending =
  | { kind: 'refused'; error: GatewayError; service: ExportedService | undefined; remoteCluster: string }
  | { kind: 'abandoned' }
  | { kind: 'relayed' };

export class InboundTunnel {
  private st: InboundTunnelState = 'accepted';
  private tally: ByteTally | undefined;

  constructor(
    private readonly req: InboundRequest,
    private readonly peer: AuthenticatedPeer,
    private readonly d: InboundTunnelDeps,
  ) {}

  /** accepted → authorized → dialing → relaying, or closed with a refusal. */
  start(): void {
    const { load, config: c } = this.d;
    if (load.draining && !this.req.drainedByTransport) return this.refuse(new GatewayError('DRAINING', 'gateway is draining; retry on another replica'));
    if (load.active >= c.maxTunnels) return this.refuse(new GatewayError('OVERLOADED', `tunnel limit ${c.maxTunnels} reached`));
    const a = authorize(this.req.authority, this.req.claim, this.peer, this.d.policy());
    if (!a.ok) return this.end({ kind: 'refused', ...a });
    this.st = 'authorized';
    this.dial(a.tunnel);
  }

  /** Refuses a request before authorization: one the transport cannot carry (not a CONNECT, a broken
   * header) or admission (draining, over the limit). */
  refuse(error: GatewayError): void {
    this.end({ kind: 'refused', error, service: undefined, remoteCluster: linkedCluster(this.peer, this.d.policy()) });
  }

  private dial(auth: AuthorizedTunnel): void {
    this.st = 'dialing';
    const started = performance.now();
    dialBackend(auth, this.d.config.connectTimeoutMs, this.d.load.next++, (err, upstream, backend) => {
      if (err || !upstream || !backend) return this.end({ kind: 'refused', error: err ?? new GatewayError('UPSTREAM_CONNECT', 'no backend'), service: auth.service, remoteCluster: auth.remoteCluster });
      this.d.metrics.connect.inbound(auth.service.namespace, auth.service.name, (performance.now() - started) / 1000);
      this.relay(auth, upstream, backend);
    });
  }

  private relay(auth: AuthorizedTunnel, upstream: net.Socket, backend: Backend): void {
    if (this.req.isGone()) {
      upstream.destroy();
      return this.end({ kind: 'abandoned' });
    }
    const { metrics, logger } = this.d;
    // Before the client's end opens: a header that cannot be written refuses the tunnel.
    let header: Buffer | undefined;
    try {
      header = proxyHeaderFor(auth, this.peer, backend, upstream);
    } catch (err) {
      upstream.destroy();
      return this.end({ kind: 'refused', error: new GatewayError('UPSTREAM_CONNECT', `cannot write the PROXY header: ${(err as Error).message}`), service: auth.service, remoteCluster: auth.remoteCluster });
    }
    const down = this.req.open(auth);
    this.st = 'relaying';
    const labels: TunnelLabels = { direction: 'inbound', remote_cluster: auth.remoteCluster, namespace: auth.service.namespace, service: auth.service.name };
    this.tally = metrics.openTunnel(labels);
    // The target reads the header first: sent before the relay passes on any client byte.
    if (header) this.tally.up += sendProxyHeader(upstream, down.stream, header);
    metrics.backends.served(labels.namespace, labels.service, backend);
    this.d.load.active++;
    const unwatch = this.d.idle.watch(this.tally, () => {
      down.reset();
      upstream.destroy();
    });
    relay(down, socketEnd(upstream), this.tally, () => {
      unwatch();
      this.end({ kind: 'relayed' });
    });
    // Per-tunnel hot path: winston builds and pipes the entry even when the level drops it.
    if (logger.isDebugEnabled()) logger.debug('inbound tunnel open', { peer: this.peer.id?.uri, caller: auth.verified.id, callerCluster: auth.verified.cluster, unknownCaller: auth.verified.unknown, namespace: labels.namespace, service: labels.service, backend: `${backend.address}:${backend.port}` });
  }

  /** The one way a tunnel ends. */
  private end(e: Ending): void {
    const was = this.st;
    if (was === 'closed') return;
    this.st = 'closed';
    const { metrics } = this.d;
    switch (e.kind) {
      case 'refused': {
        const { code, message } = e.error;
        // Labels only from bounded sets (exported Services, linked clusters), never from what the peer sent.
        const labels = { remote_cluster: e.remoteCluster, namespace: e.service?.namespace ?? '', service: e.service?.name ?? '' };
        metrics.refuse('inbound', code, labels);
        const authority = this.req.authority;
        const shown = authority !== undefined && authority.length > SHOWN_AUTHORITY ? `${authority.slice(0, SHOWN_AUTHORITY)}…` : authority;
        const denied = e.error instanceof AccessDenied ? e.error : undefined;
        if (denied) metrics.authzDenied.inc({ ...labels, source: denied.source });
        // A denial names the verified caller and its rule; any other refusal the claim as sent (bounded).
        const claim = this.req.claim;
        const why = denied
          ? { rule: denied.rule, ruleSource: denied.source, caller: denied.caller.id, callerCluster: denied.caller.cluster }
          : { caller: clip(claim.id), callerCluster: clip(claim.cluster) };
        const service = e.service ? `${labels.namespace}/${labels.service}` : undefined;
        this.d.refusals.warn('tunnel', code, 'inbound tunnel refused', { reason: code, detail: message, state: was, peer: this.peer.id?.uri, peerCluster: this.peer.cluster, remoteAddress: this.peer.address, authority: shown, service, ...why });
        this.req.refuse(code, message);
        return;
      }
      case 'abandoned':
        return;
      case 'relayed':
        this.d.load.active--;
        if (this.tally) metrics.closeTunnel(this.tally);
        return;
    }
  }
}

/** A peer's text, bounded for a log line. */
function clip(v: string | undefined): string | undefined {
  return v !== undefined && v.length > SHOWN_AUTHORITY ? `${v.slice(0, SHOWN_AUTHORITY)}…` : v;
}
