// Outbound: one listener per outbound port that a shadow Service maps (opened and closed as shadows come
// and go; closing one never touches another's flows), each accepted connection tunneled to the remote
// gateway of its Link, as an HTTP/2 CONNECT stream over the pool or as a pre-handshaked tls-pipe.
import net from 'node:net';
import http2 from 'node:http2';
import type tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../log/index.js';
import type { GatewayConfig } from '../config.js';
import { GatewayError } from '../errors.js';
import type { ByteTally, GatewayMetrics, TunnelLabels } from '../metrics.js';
import { relay, socketEnd, h2End, RELAY_BUFFER, type RelayEnd } from '../relay.js';
import { formatAuthority, resolveOutbound } from '../routing.js';
import type { OutboundRoute, RemoteGateway, Transport } from '../types.js';
import { H2Pool } from '../pool/h2-pool.js';
import { PipePool } from '../pool/pipe-pool.js';
import type { Dialed } from '../pool/connect.js';
import { pipeHeader, readPipeStatus } from '../pipe-protocol.js';

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = http2.constants;

/** Every listener this long after a failed bind (port taken) is retried. */
const REBIND_MS = 2_000;

export interface OutboundDeps {
  config: GatewayConfig;
  logger: Logger;
  metrics: GatewayMetrics;
  context: () => tls.SecureContext | undefined;
}

interface Listener {
  server: net.Server;
  bound: boolean;
}

export class Outbound {
  private readonly listeners = new Map<number, Listener>();
  private routes = new Map<number, OutboundRoute>();
  private remotes = new Map<string, RemoteGateway>();
  private readonly h2Pools = new Map<string, H2Pool>();
  private readonly pipePools = new Map<string, PipePool>();
  private readonly sockets = new Set<net.Socket>();
  private rebindTimer: NodeJS.Timeout | undefined;
  private draining = false;
  active = 0;

  constructor(private readonly d: OutboundDeps) {}

  transportOf(remote: RemoteGateway): Transport {
    return remote.transport ?? this.d.config.defaultTransport;
  }

  /** Applies a new routing state: listeners and pools follow it. */
  update(routes: OutboundRoute[], remotes: RemoteGateway[]): void {
    const { min, max } = this.d.config.outboundPorts;
    const next = new Map<number, OutboundRoute>();
    for (const r of routes) {
      // The range bounds what a shadow annotation can make us bind (never 4143/4191 or a system port).
      if (r.outboundPort < min || r.outboundPort > max) {
        this.d.logger.warn('outbound port outside the configured range; ignored', { outboundPort: r.outboundPort, range: `${min}-${max}`, namespace: r.namespace, service: r.service, remoteCluster: r.remoteCluster });
        continue;
      }
      next.set(r.outboundPort, r);
    }
    this.routes = next;
    this.remotes = new Map(remotes.map((r) => [r.cluster, r]));
    this.syncPools();
    if (!this.draining) this.syncListeners();
  }

  private syncPools(): void {
    const c = this.d.config;
    const common = { trustDomain: c.trustDomain, connectTimeoutMs: c.connectTimeoutMs, context: this.d.context, logger: this.d.logger, metrics: this.d.metrics };
    for (const [name, r] of this.remotes) {
      const t = this.transportOf(r);
      if (t === 'connect') {
        const p = this.h2Pools.get(name);
        if (p) p.update(r);
        else this.h2Pools.set(name, new H2Pool(r, { ...common, size: c.poolSize, streamWindow: c.streamWindow, connectionWindow: c.connectionWindow }));
        this.pipePools.get(name)?.close();
        this.pipePools.delete(name);
      } else {
        const p = this.pipePools.get(name);
        if (p) p.update(r);
        else this.pipePools.set(name, new PipePool(r, { ...common, warm: c.pipeWarm }));
        this.h2Pools.get(name)?.close();
        this.h2Pools.delete(name);
      }
    }
    for (const [name, p] of this.h2Pools) {
      if (this.remotes.has(name)) continue;
      p.close();
      this.h2Pools.delete(name);
    }
    for (const [name, p] of this.pipePools) {
      if (this.remotes.has(name)) continue;
      p.close();
      this.pipePools.delete(name);
    }
  }

  private syncListeners(): void {
    for (const [port, l] of this.listeners) {
      if (!this.routes.has(port)) {
        // Stops accepting; connections already tunneled through this port go on.
        l.server.close();
        this.listeners.delete(port);
        this.d.logger.info('outbound listener closed', { outboundPort: port });
      }
    }
    let unbound = false;
    for (const port of this.routes.keys()) {
      const l = this.listeners.get(port);
      if (l && l.bound) continue;
      if (l) l.server.close();
      this.listen(port);
      unbound = true;
    }
    if (unbound && !this.rebindTimer) {
      this.rebindTimer = setTimeout(() => {
        this.rebindTimer = undefined;
        if (!this.draining && [...this.listeners.values()].some((x) => !x.bound)) this.syncListeners();
      }, REBIND_MS);
      this.rebindTimer.unref();
    }
  }

  private listen(port: number): void {
    const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => this.onConnection(port, s));
    const l: Listener = { server, bound: false };
    this.listeners.set(port, l);
    server.on('error', (err: NodeJS.ErrnoException) => {
      this.d.logger.error('cannot listen on outbound port; will retry', { outboundPort: port, host: this.d.config.host, error: err.code ?? err.message });
    });
    server.listen(port, this.d.config.host, () => {
      l.bound = true;
      this.d.logger.info('outbound listener open', { outboundPort: port, route: this.routes.get(port) });
    });
  }

  private trackSocket(local: net.Socket): void {
    this.sockets.add(local);
    local.on('close', () => this.sockets.delete(local));
    local.on('error', noop);
  }

  private finisher(tally: ByteTally): () => void {
    return () => {
      this.active--;
      this.d.metrics.closeTunnel(tally);
    };
  }

  /** Ports with a live listener (for tests and /ready). */
  boundPorts(): number[] {
    return [...this.listeners].filter(([, l]) => l.bound).map(([p]) => p).sort((a, b) => a - b);
  }

  poolReady(cluster: string): number {
    return this.h2Pools.get(cluster)?.readySessions() ?? this.pipePools.get(cluster)?.size() ?? 0;
  }

  private onConnection(port: number, local: net.Socket): void {
    const { config: c, metrics, logger } = this.d;
    // The closures that outlive the tunnel's setup (close, idle timeout, finish) come from small helpers:
    // one made here would keep this whole scope (the setup's closures and early bytes) per open tunnel.
    this.trackSocket(local);
    let route: OutboundRoute;
    let remote: RemoteGateway;
    try {
      ({ route, remote } = resolveOutbound(port, this.routes, this.remotes));
    } catch (err) {
      this.refuse(local, (err as GatewayError).code ?? 'NO_ROUTE', (err as Error).message, { outboundPort: port });
      return;
    }
    const labels: TunnelLabels = { direction: 'outbound', remote_cluster: route.remoteCluster, namespace: route.namespace, service: route.service };
    metrics.countConnection('outbound', route.remoteCluster);
    if (this.active >= c.maxTunnels) {
      this.refuse(local, 'OVERLOADED', `tunnel limit ${c.maxTunnels} reached`, labels);
      return;
    }
    const authority = formatAuthority(route, remote.clusterDomain);
    const started = performance.now();
    const tally = metrics.openTunnel(labels);
    this.active++;
    const finish = this.finisher(tally);
    local.setTimeout(c.idleTimeoutMs, destroyer(local));
    const fail = (code: string, message: string) => {
      finish();
      this.refuse(local, code, message, labels, authority);
    };
    // Until the remote answers, the client's bytes are kept (references, bounded) as well as sent, so a
    // tunnel request refused before it reached the target (HTTP/2: REFUSED_STREAM, above a GOAWAY's
    // last-stream-id, its session gone; tls-pipe: closed before any answer; both: a DRAINING refusal) is
    // replayed once on another connection: a remote gateway that rolls loses no request. After a 200 the
    // bytes may have reached the target: no retry.
    const early = holdEarly(local, tally);
    let settled = false;
    /** Cancels the attempt in flight (the stream or pipe whose answer is awaited). */
    let abortAttempt: (() => void) | undefined;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      early.detach();
      return true;
    };
    early.onLocalGone(() => {
      if (!settle()) return;
      // The client left before the answer: the remote side is cancelled.
      abortAttempt?.();
      finish();
    });
    const giveUp = (code: string, message: string) => {
      if (settle()) fail(code, message);
    };
    const unavailable = (err: Error) => giveUp(err instanceof GatewayError ? err.code : 'REMOTE_UNAVAILABLE', err.message);
    const refused = (status: number | undefined, reason: string) => {
      if (settle()) fail('REMOTE_REFUSED', `remote gateway refused the tunnel: ${status ?? '-'} ${reason}`);
    };
    const timedOut = () => {
      if (!settle()) return;
      abortAttempt?.();
      fail('UPSTREAM_TIMEOUT', `remote gateway did not answer the tunnel request within ${c.connectTimeoutMs} ms`);
    };
    const opened = (remoteEnd: RelayEnd) => {
      if (!settle()) return;
      metrics.connect.observe({ direction: 'outbound' }, (performance.now() - started) / 1000);
      relay(socketEnd(local), remoteEnd, tally, finish);
      local.resume();
    };
    const retry = (retried: boolean, why: string): boolean => {
      if (retried || settled || local.destroyed) return false;
      metrics.retries.inc({ remote_cluster: route.remoteCluster });
      logger.info('tunnel request refused before it reached the target; retrying on another connection', { why, authority, remoteCluster: route.remoteCluster, outboundPort: port });
      attempt(true);
      return true;
    };

    let attempt: (retried: boolean) => void;
    if (this.transportOf(remote) === 'connect') {
      const pool = this.h2Pools.get(remote.cluster);
      if (!pool) return giveUp('NO_ROUTE', `no pool for ${remote.cluster}`);
      const open = (session: http2.ClientHttp2Session, retried: boolean) => {
        if (settled) return;
        let s: http2.ClientHttp2Stream;
        try {
          s = session.request({ ':method': 'CONNECT', ':authority': authority }, { endStream: false });
        } catch (err) {
          if (retry(retried, (err as Error).message)) return;
          return giveUp('REMOTE_UNAVAILABLE', (err as Error).message);
        }
        s.on('error', noop);
        pool.track(session, s);
        abortAttempt = () => {
          if (!s.destroyed) s.close(NGHTTP2_CANCEL);
        };
        early.sendTo(s);
        let answered = false;
        const deadline = setTimeout(timedOut, c.connectTimeoutMs);
        const onEarlyClose = () => {
          clearTimeout(deadline);
          if (answered || settled) return;
          const refusedStream = s.rstCode === NGHTTP2_REFUSED_STREAM || session.closed || session.destroyed;
          if (refusedStream && retry(retried, `stream closed before the answer (rst ${String(s.rstCode)})`)) return;
          giveUp('REMOTE_UNAVAILABLE', `the remote gateway closed the tunnel request before answering (rst ${String(s.rstCode)})`);
        };
        s.once('close', onEarlyClose);
        s.once('response', (headers) => {
          answered = true;
          clearTimeout(deadline);
          if (settled) return;
          const status = Number(headers[':status']);
          if (status === 200) {
            s.off('close', onEarlyClose);
            return opened(h2End(s));
          }
          const reason = String(headers['mesh-refusal-reason'] ?? `HTTP ${status}`);
          s.close(NGHTTP2_CANCEL);
          // A draining replica refused before dialling the target: another one will take it.
          if (reason === 'DRAINING' && retry(retried, 'remote replica draining')) return;
          refused(status, reason);
        });
      };
      // A warm session opens the stream in this same turn (no promise hop between accept and CONNECT).
      attempt = (retried) => {
        const next = pool.pick();
        if (next) open(next, retried);
        else pool.acquire().then((s) => open(s, retried), unavailable);
      };
    } else {
      const pool = this.pipePools.get(remote.cluster);
      if (!pool) return giveUp('NO_ROUTE', `no pool for ${remote.cluster}`);
      let header: Buffer;
      try {
        header = pipeHeader(authority);
      } catch (err) {
        return giveUp('BAD_AUTHORITY', (err as Error).message);
      }
      const open = ({ sock, raw }: Dialed, retried: boolean) => {
        if (settled) {
          sock.destroy();
          return;
        }
        sock.on('error', noop);
        abortAttempt = () => raw.destroy();
        sock.write(header);
        early.sendTo(sock);
        const deadline = setTimeout(timedOut, c.connectTimeoutMs);
        readPipeStatus(sock, (err, status, reason) => {
          clearTimeout(deadline);
          if (settled) return;
          if (!err && status === 200) return opened(socketEnd(sock, raw));
          raw.destroy();
          // Closed before any answer: mostly a warm pipe the remote dropped (its drain closes idle pipes), so
          // nothing reached the target. A remote that crashed between dialling the target and answering may
          // have passed the first bytes on: the same window as an HTTP/2 session lost before its response.
          if (err && retry(retried, err.message)) return;
          if (!err && reason?.startsWith('DRAINING') && retry(retried, 'remote replica draining')) return;
          refused(status, reason ?? err?.message ?? '');
        });
      };
      attempt = (retried) => {
        pool.take(retried).then((d) => open(d, retried), unavailable);
      };
    }
    attempt(false);
  }

  private refuse(local: net.Socket, reason: string, message: string, labels: Partial<TunnelLabels> & { outboundPort?: number }, authority?: string): void {
    this.d.metrics.refuse('outbound', reason, labels);
    this.d.logger.warn('outbound connection refused', { reason, detail: message, authority, ...labels });
    // A reset, not a FIN: the client must not mistake a refused tunnel for an empty answer.
    resetSocket(local);
  }

  startDrain(): void {
    this.draining = true;
    if (this.rebindTimer) clearTimeout(this.rebindTimer);
    for (const l of this.listeners.values()) l.server.close();
    this.listeners.clear();
  }

  destroy(): void {
    this.startDrain();
    for (const p of this.h2Pools.values()) p.close(true);
    for (const p of this.pipePools.values()) p.close();
    for (const s of this.sockets) s.destroy();
  }

  /** After a drain: close pools gracefully (streams already done). */
  closePools(): void {
    for (const p of this.h2Pools.values()) p.close();
    for (const p of this.pipePools.values()) p.close();
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

function destroyer(s: net.Socket): () => void {
  return () => s.destroy();
}

function noop(): void {}

/** The client's bytes (and FIN) before the remote answered: kept, bounded by RELAY_BUFFER (the client is
 * paused beyond it), and written to every attempt, so a refused attempt can be replayed on another. */
function holdEarly(local: net.Socket, tally: { up: number }) {
  const chunks: Buffer[] = [];
  let bytes = 0;
  let ended = false;
  let target: Duplex | undefined;
  let gone: (() => void) | undefined;
  const onData = (chunk: Buffer) => {
    chunks.push(chunk);
    bytes += chunk.length;
    tally.up += chunk.length;
    target?.write(chunk);
    if (bytes >= RELAY_BUFFER) local.pause();
  };
  const onEnd = () => {
    ended = true;
    target?.end();
  };
  const onClose = () => gone?.();
  local.on('data', onData);
  local.once('end', onEnd);
  local.once('close', onClose);
  return {
    /** A new attempt: everything so far is written to it, and what follows too. */
    sendTo(t: Duplex): void {
      target = t;
      for (const c of chunks) t.write(c);
      if (ended) t.end();
    },
    onLocalGone(f: () => void): void {
      gone = f;
    },
    detach(): void {
      local.off('data', onData);
      local.off('end', onEnd);
      local.off('close', onClose);
      chunks.length = 0;
      target = undefined;
    },
  };
}
