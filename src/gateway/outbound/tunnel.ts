// One outbound tunnel as a state machine: a client connection accepted on an outbound port, carried to the
// remote gateway by a TunnelTransport, relayed, and ended in exactly one place (end), which owns the
// counters, the metrics, the log line and the client's reset.
//
//   accepted ──▶ requesting ──200──▶ relaying ──▶ closed
//                 │  ▲ replay once (refused before it reached the target)
//                 └──┘
//   any state ──refused──▶ closed (client reset)        requesting ──client left──▶ closed (abandoned)
//
// Until the remote answers, the client's bytes are sent and also kept (EarlyBytes), so a request refused
// before it reached the target (HTTP/2: REFUSED_STREAM, above a GOAWAY's last-stream-id, its session gone;
// tls-pipe: closed before any answer; both: a DRAINING refusal) is replayed once on another connection: a
// remote gateway that rolls loses no request. After a 200 the bytes may have reached the target: no retry.
// A request reset or unanswered before any client byte went out is replayed too; the replay avoids the
// failed attempt's address (outlier detection, pool/outlier.ts).
import type net from 'node:net';
import type { Logger } from '../../log/index.js';
import type { GatewayConfig } from '../config.js';
import { GatewayError, type GatewayErrorCode } from '../errors.js';
import type { RateLimitedLog } from '../log-limit.js';
import type { ByteTally, GatewayMetrics, TunnelLabels } from '../metrics.js';
import type { IdleSweep } from '../idle.js';
import { relay, socketEnd, type RelayEnd } from '../relay.js';
import { formatAuthority } from '../routing.js';
import type { OutboundRoute, RemoteGateway } from '../types.js';
import type { AttestedClaim } from './attest.js';
import { EarlyBytes } from './early.js';
import type { AttemptPlace, PendingRequest, RequestEvents, TunnelTransport } from './transport.js';

export type OutboundTunnelState = 'accepted' | 'requesting' | 'relaying' | 'closed';

export interface OutboundTunnelDeps {
  config: GatewayConfig;
  logger: Logger;
  metrics: GatewayMetrics;
  /** Tunnels open now on this gateway's outbound side (the tunnel limit and the drain wait on it). */
  load: { active: number };
  /** Closes tunnels without bytes for config.idleTimeoutMs (one coarse timer, not one per socket). */
  idle: IdleSweep;
  /** Refusal lines, rate limited (a local client connecting in a loop decides how often they happen). */
  refusals: RateLimitedLog<'outbound'>;
}

type Ending =
  | { kind: 'refused'; code: GatewayErrorCode; message: string }
  | { kind: 'abandoned' }
  | { kind: 'relayed' };

export class OutboundTunnel implements RequestEvents {
  private st: OutboundTunnelState = 'accepted';
  private labels: TunnelLabels | undefined;
  private authority = '';
  private tally: ByteTally | undefined;
  private early: EarlyBytes | undefined;
  private transport: TunnelTransport | undefined;
  private pending: PendingRequest | undefined;
  private replayed = false;
  /** Where the last attempt went: a replay avoids it (outlier detection, issue 14). */
  private place: AttemptPlace | undefined;
  private started = 0;
  private unwatch: (() => void) | undefined;
  private claim: AttestedClaim | undefined;

  constructor(
    private readonly local: net.Socket,
    private readonly outboundPort: number,
    private readonly d: OutboundTunnelDeps,
  ) {}

  /** accepted → requesting: the route is known; send the tunnel request. */
  start(route: OutboundRoute, remote: RemoteGateway, transport: TunnelTransport | undefined, claim: AttestedClaim): void {
    this.claim = claim;
    const { config: c, metrics } = this.d;
    const labels: TunnelLabels = { direction: 'outbound', remote_cluster: route.remoteCluster, namespace: route.namespace, service: route.service };
    this.labels = labels;
    metrics.countConnection('outbound', route.remoteCluster);
    if (this.d.load.active >= c.maxTunnels) return this.refuse(new GatewayError('OVERLOADED', `tunnel limit ${c.maxTunnels} reached`));
    if (!transport) return this.refuse(new GatewayError('NO_ROUTE', `no pool for ${remote.cluster}`));
    this.authority = formatAuthority(route, remote.clusterDomain);
    this.transport = transport;
    this.started = performance.now();
    this.tally = metrics.openTunnel(labels);
    this.d.load.active++;
    this.unwatch = this.d.idle.watch(this.tally, this.onIdle);
    this.early = new EarlyBytes(this.local, this.tally);
    this.early.onLocalGone(this.onLocalGone);
    this.send();
  }

  /** Refuses the client (a reset): no route, over the limit, or the request failed for good. */
  refuse(err: GatewayError): void {
    this.end({ kind: 'refused', code: err.code, message: err.message });
  }

  opened(remote: RelayEnd): void {
    if (this.st !== 'requesting') {
      remote.reset();
      return;
    }
    this.st = 'relaying';
    this.pending = undefined;
    this.early?.detach();
    this.early = undefined;
    this.d.metrics.connect.outbound(this.labels!.remote_cluster, (performance.now() - this.started) / 1000);
    relay(socketEnd(this.local), remote, this.tally!, this.onRelayed);
    this.local.resume();
  }

  failed(code: GatewayErrorCode, message: string, replayable: boolean, place?: AttemptPlace): void {
    if (this.st !== 'requesting') return;
    this.pending = undefined;
    this.place = place;
    if (replayable && !this.replayed && !this.local.destroyed) {
      this.replayed = true;
      const cluster = this.labels?.remote_cluster ?? '';
      this.d.metrics.retries.inc({ remote_cluster: cluster });
      this.d.logger.info('tunnel request failed before it could reach the target; retrying on another connection (another address when there is one)', { why: message, authority: this.authority, remoteCluster: cluster, remoteAddress: place?.address, outboundPort: this.outboundPort });
      this.send();
      return;
    }
    this.end({ kind: 'refused', code, message });
  }

  private send(): void {
    this.st = 'requesting';
    const pending = this.transport!.request(this.authority, this.claim!, this.early!, this, this.replayed, this.place);
    // A transport may answer at once (e.g. no session at all): keep only a request still in flight.
    if (this.st === 'requesting' && this.pending === undefined) this.pending = pending;
  }

  private readonly onLocalGone = (): void => {
    if (this.st !== 'requesting') return;
    // The client left before the answer: the remote side is cancelled.
    this.pending?.cancel();
    this.end({ kind: 'abandoned' });
  };

  private readonly onIdle = (): void => {
    this.local.destroy();
  };

  private readonly onRelayed = (): void => {
    this.end({ kind: 'relayed' });
  };

  /** The one way a tunnel ends. */
  private end(e: Ending): void {
    const was = this.st;
    if (was === 'closed') return;
    this.st = 'closed';
    this.pending = undefined;
    this.unwatch?.();
    this.early?.detach();
    this.early = undefined;
    const { metrics } = this.d;
    if (this.tally) {
      this.d.load.active--;
      metrics.closeTunnel(this.tally);
    }
    if (e.kind !== 'refused') return;
    metrics.refuse('outbound', e.code, this.labels ?? {});
    this.d.refusals.warn('outbound', e.code, 'outbound connection refused', { reason: e.code, detail: e.message, state: was, authority: this.authority || undefined, outboundPort: this.outboundPort, remoteAddress: this.place?.address, caller: this.claim?.id, clientAddress: this.local.remoteAddress, ...this.labels });
    // A reset, not a FIN: the client must not mistake a refused tunnel for an empty answer.
    resetSocket(this.local);
  }
}

function resetSocket(s: net.Socket): void {
  if (s.destroyed) return;
  try {
    s.resetAndDestroy();
  } catch {
    s.destroy();
  }
}
