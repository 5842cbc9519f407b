// Inbound: the mTLS tunnel port (4143). Each TCP connection gets a TLS handshake with a deadline; the
// peer chain is verified against the trust bundle by OpenSSL (failures answer with a TLS alert). After
// the handshake, ALPN picks the protocol: `h2` → HTTP/2 CONNECT streams (and GET /live for the mirror's
// probes), `mesh-pipe/1` → one tunnel with the target in a short header. Every target is resolved only
// against this cluster's exported Services, so an IP, the API server or our own admin port can never
// be named.
import net from 'node:net';
import tls from 'node:tls';
import http2 from 'node:http2';
import type { Logger } from '../../log/index.js';
import { GatewayError, statusFor, type GatewayErrorCode } from '../errors.js';
import type { GatewayConfig } from '../config.js';
import type { GatewayMetrics, TunnelLabels } from '../metrics.js';
import { relay, socketEnd, h2End, type RelayEnd } from '../relay.js';
import { checkPolicy, parseAuthority, resolveTarget, type ExportIndex, type InboundDecision } from '../routing.js';
import { ALPN_H2, ALPN_PIPE, verifiedPeerIdentity, secureOptions } from '../tls.js';
import type { Credentials } from '../types.js';
import { readPipeHeader, writePipeStatus } from '../pipe-protocol.js';


export interface InboundDeps {
  config: GatewayConfig;
  logger: Logger;
  metrics: GatewayMetrics;
  exports: () => ExportIndex;
}

/** A peer that passed the TLS handshake and chain verification; only this reaches routing. */
interface AuthenticatedPeer {
  identity: string | undefined;
  /** The peer's cluster: the OU of the issuer that signed its leaf (src/trust puts the cluster name there). */
  cluster?: string;
  address: string;
}

export class InboundServer {
  private readonly server: tls.Server;
  private readonly handshakeStart = new WeakMap<net.Socket, number>();
  private readonly h2: http2.Http2Server;
  private readonly peers = new WeakMap<http2.Http2Session, AuthenticatedPeer>();
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private readonly sockets = new Set<net.Socket>();
  /** tls-pipe connections still waiting for their header (the remote's warm pool). */
  private readonly idlePipes = new Set<net.Socket>();
  private pendingPeer: AuthenticatedPeer | undefined;
  private draining = false;
  private rr = 0;
  /** Tunnels open now (both transports). */
  active = 0;

  constructor(private readonly d: InboundDeps) {
    const c = d.config;
    // tls.Server (not a TLSSocket over net.Server): only it hands HTTP/2 a socket with nothing read ahead.
    this.server = tls.createServer({
      allowHalfOpen: true,
      noDelay: true,
      requestCert: true,
      // The chain is checked in onSecure (sock.authorized) so that every refusal is logged and counted;
      // Node's own rejectUnauthorized would destroy the socket silently. Nothing is read before the check.
      rejectUnauthorized: false,
      ALPNProtocols: [ALPN_H2, ALPN_PIPE],
      handshakeTimeout: c.handshakeTimeoutMs,
    });
    this.server.on('connection', (raw: net.Socket) => {
      this.sockets.add(raw);
      raw.on('close', () => this.sockets.delete(raw));
      d.metrics.countConnection('inbound', '');
      this.handshakeStart.set(raw, performance.now());
    });
    this.server.on('secureConnection', (sock: tls.TLSSocket) => this.onSecure(sock));
    this.server.on('tlsClientError', (err: NodeJS.ErrnoException, sock: tls.TLSSocket) => {
      this.tlsRefused(tlsReason(err), err.message, sock.remoteAddress ?? '');
      // With a listener here Node leaves the socket open: close it.
      sock.destroy();
    });
    this.server.maxConnections = c.maxInboundConnections;
    this.server.on('drop', (info) => {
      d.metrics.refuse('inbound', 'OVERLOADED');
      d.logger.warn('inbound connection refused: connection limit reached', { reason: 'OVERLOADED', remoteAddress: info?.remoteAddress, limit: c.maxInboundConnections });
    });
    this.h2 = http2.createServer({
      maxSessionMemory: 256,
      settings: { initialWindowSize: c.streamWindow, maxConcurrentStreams: c.maxStreamsPerConnection, maxFrameSize: 64 * 1024 },
    });
    this.h2.on('session', (session) => {
      const peer = this.pendingPeer;
      this.pendingPeer = undefined;
      if (peer) this.peers.set(session, peer);
      this.sessions.add(session);
      session.on('close', () => this.sessions.delete(session));
      session.on('error', (err) => d.logger.debug('inbound session error', { peer: peer?.identity, error: err.message }));
      try {
        session.setLocalWindowSize(c.connectionWindow);
      } catch {
        // Session already gone.
      }
      if (this.draining) session.close();
    });
    this.h2.on('stream', (stream, headers) => this.onStream(stream, headers));
  }

  /** New certificate / bundle for new handshakes; established connections keep theirs. */
  setCredentials(c: Credentials): void {
    this.server.setSecureContext(secureOptions(c));
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.d.config.tunnelPort, this.d.config.host, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as net.AddressInfo).port);
      });
    });
  }

  private onSecure(sock: tls.TLSSocket): void {
    const raw = rawOf(sock);
    const started = this.handshakeStart.get(raw);
    if (started !== undefined) this.d.metrics.handshake.observe({ direction: 'inbound' }, (performance.now() - started) / 1000);
    sock.on('error', noop);
    if (!sock.authorized) {
      const cert = sock.getPeerCertificate();
      const noCert = !cert || Object.keys(cert).length === 0;
      const code = String(sock.authorizationError ?? '');
      const reason = noCert ? 'NO_CLIENT_CERT' : code === 'CERT_HAS_EXPIRED' ? 'CERT_EXPIRED' : 'UNTRUSTED_CERT';
      this.tlsRefused(reason, noCert ? 'peer sent no client certificate' : `peer certificate not trusted: ${code}`, sock.remoteAddress ?? '');
      sock.destroy();
      return;
    }
    const issuerOu = sock.getPeerCertificate(true)?.issuerCertificate?.subject?.OU;
    const cluster = Array.isArray(issuerOu) ? issuerOu[0] : issuerOu;
    const peer: AuthenticatedPeer = { identity: verifiedPeerIdentity(sock), address: sock.remoteAddress ?? '', ...(cluster ? { cluster } : {}) };
    if (this.draining) {
      this.tlsRefused('DRAINING', 'gateway is draining', peer.address, peer.identity);
      sock.destroy();
      return;
    }
    if (sock.alpnProtocol === ALPN_PIPE) {
      this.onPipe(sock, raw, peer);
    } else if (sock.alpnProtocol === ALPN_H2) {
      // The listener allows half-open sockets (the pipe transport relays FIN); an HTTP/2 connection whose
      // peer sent FIN can receive nothing more, so it is closed rather than left half-open.
      sock.once('end', () => sock.destroy());
      this.pendingPeer = peer;
      this.h2.emit('connection', sock);
    } else {
      this.tlsRefused('NO_ALPN', `peer offered no supported ALPN protocol (want ${ALPN_H2} or ${ALPN_PIPE})`, peer.address, peer.identity);
      sock.end('mesh gateway: this port speaks HTTP/2 (ALPN h2) or mesh-pipe/1 over mTLS\n');
    }
  }

  private tlsRefused(reason: string, message: string, remoteAddress: string, identity?: string): void {
    this.d.metrics.refuse('inbound', reason);
    this.d.logger.warn('inbound connection refused', { reason, detail: message, remoteAddress, peer: identity });
  }

  /** Authorizes and resolves a target; throws GatewayError with the refusal reason. */
  private decide(authority: string | undefined, peer: AuthenticatedPeer): InboundDecision {
    const c = this.d.config;
    if (this.draining) throw new GatewayError('DRAINING', 'gateway is draining; retry on another replica');
    if (this.active >= c.maxTunnels) throw new GatewayError('OVERLOADED', `tunnel limit ${c.maxTunnels} reached`);
    const target = parseAuthority(authority, c.clusterDomain);
    // Policy before existence: an unauthorized peer learns nothing about which Services exist.
    checkPolicy(peer, c.trustDomain, c.allowedIdentities);
    const decision = resolveTarget(target, this.d.exports());
    checkPolicy(peer, c.trustDomain, decision.service.allowedIdentities);
    return decision;
  }

  private refusal(err: unknown, authority: string | undefined, peer: AuthenticatedPeer): { code: GatewayErrorCode; message: string } {
    const code: GatewayErrorCode = err instanceof GatewayError ? err.code : 'UPSTREAM_CONNECT';
    const message = err instanceof Error ? err.message : String(err);
    const [svc, ns] = (authority ?? '').split('.');
    this.d.metrics.refuse('inbound', code, { namespace: ns ?? '', service: svc ?? '' });
    this.d.logger.warn('inbound tunnel refused', { reason: code, detail: message, peer: peer.identity, peerCluster: peer.cluster, remoteAddress: peer.address, authority });
    return { code, message };
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const peer = this.peers.get(stream.session as http2.ServerHttp2Session) ?? { identity: undefined, address: '' };
    stream.on('error', noop);
    const method = headers[':method'];
    const authority = headers[':authority'];
    if (method === 'GET' && headers[':path'] === '/live') {
      stream.respond({ ':status': 200, 'content-type': 'text/plain' });
      stream.end('live\n');
      return;
    }
    const refuse = (err: unknown) => {
      const { code, message } = this.refusal(err, authority, peer);
      if (stream.destroyed) return;
      stream.respond({ ':status': statusFor(code), 'mesh-refusal-reason': code, 'content-type': 'text/plain' });
      stream.end(`${code}: ${message}\n`);
    };
    if (method !== 'CONNECT') {
      refuse(new GatewayError('NOT_CONNECT', `method ${String(method)} is not supported; open tunnels with CONNECT`));
      return;
    }
    let decision: InboundDecision;
    try {
      decision = this.decide(authority, peer);
    } catch (err) {
      refuse(err);
      return;
    }
    this.connectUpstream(decision, peer, (err, upstream, labels) => {
      if (err || !upstream || !labels) {
        refuse(err);
        return;
      }
      if (stream.destroyed) {
        upstream.destroy();
        return;
      }
      stream.respond({ ':status': 200 }, { endStream: false });
      this.track(h2End(stream), upstream, labels);
    });
  }

  private onPipe(sock: tls.TLSSocket, raw: net.Socket, peer: AuthenticatedPeer): void {
    const c = this.d.config;
    // A pre-warmed pipe waits idle for its header; it is authenticated, and the idle timeout bounds it.
    raw.setTimeout(c.idleTimeoutMs, () => raw.destroy());
    this.idlePipes.add(raw);
    raw.once('close', () => this.idlePipes.delete(raw));
    readPipeHeader(sock, (err, authority) => {
      this.idlePipes.delete(raw);
      if (err) {
        // An idle pipe closed by our own drain is no refusal.
        if (this.draining && raw.destroyed) return;
        this.refusal(err, authority, peer);
        raw.destroy();
        return;
      }
      let decision: InboundDecision;
      try {
        decision = this.decide(authority, peer);
      } catch (e) {
        const { code, message } = this.refusal(e, authority, peer);
        writePipeStatus(sock, statusFor(code), `${code}: ${message}`);
        sock.end();
        return;
      }
      this.connectUpstream(decision, peer, (e, upstream, labels) => {
        if (e || !upstream || !labels) {
          const { code, message } = this.refusal(e, authority, peer);
          writePipeStatus(sock, statusFor(code), `${code}: ${message}`);
          sock.end();
          return;
        }
        writePipeStatus(sock, 200, '');
        raw.setTimeout(0);
        this.track(socketEnd(sock, raw), upstream, labels);
      });
    });
  }

  private connectUpstream(decision: InboundDecision, peer: AuthenticatedPeer, done: (err: unknown, s?: net.Socket, labels?: TunnelLabels) => void): void {
    const { config: c, metrics } = this.d;
    const candidates = decision.candidates;
    const labels: TunnelLabels = { direction: 'inbound', remote_cluster: '', namespace: decision.service.namespace, service: decision.service.name };
    const started = performance.now();
    let attempt = 0;
    const tryOne = () => {
      const b = candidates[(this.rr++ + attempt) % candidates.length]!;
      const s = net.connect({ host: b.address, port: b.port, allowHalfOpen: true, noDelay: true });
      const timer = setTimeout(() => s.destroy(new GatewayError('UPSTREAM_TIMEOUT', `connect to ${b.address}:${b.port} timed out after ${c.connectTimeoutMs} ms`)), c.connectTimeoutMs);
      const fail = (err: Error) => {
        clearTimeout(timer);
        s.destroy();
        // One more endpoint, if there is another, before giving up.
        if (++attempt < Math.min(2, candidates.length)) return tryOne();
        const e = err instanceof GatewayError ? err : new GatewayError('UPSTREAM_CONNECT', `connect to ${b.address}:${b.port} failed: ${err.message}`);
        done(e);
      };
      s.once('error', fail);
      s.once('connect', () => {
        clearTimeout(timer);
        s.off('error', fail);
        metrics.connect.observe({ direction: 'inbound' }, (performance.now() - started) / 1000);
        // Per-tunnel hot path: winston builds and pipes the entry even when the level drops it.
        if (this.d.logger.isDebugEnabled()) this.d.logger.debug('inbound tunnel open', { peer: peer.identity, namespace: labels.namespace, service: labels.service, backend: `${b.address}:${b.port}` });
        done(undefined, s, labels);
      });
    };
    tryOne();
  }

  private track(down: RelayEnd, upstream: net.Socket, labels: TunnelLabels): void {
    const c = this.d.config;
    const tally = this.d.metrics.openTunnel(labels);
    this.active++;
    upstream.setTimeout(c.idleTimeoutMs, () => {
      down.reset();
      upstream.destroy();
    });
    relay(down, socketEnd(upstream), tally, () => {
      this.active--;
      this.d.metrics.closeTunnel(tally);
    });
  }

  /** Stop accepting; GOAWAY every HTTP/2 session so peers open new streams elsewhere, close idle pipes; live
   * tunnels go on. */
  startDrain(): void {
    this.draining = true;
    this.server.close();
    for (const s of this.sessions) s.close();
    // Warm pipes that carry no tunnel yet: closed unanswered, which tells the remote that a request it may
    // have just sent on one never reached a target (it replays it elsewhere) and empties its warm pool.
    for (const raw of this.idlePipes) raw.destroy();
  }

  /** Hard stop: every connection goes. */
  destroy(): void {
    this.draining = true;
    this.server.close();
    for (const s of this.sessions) s.destroy();
    for (const s of this.sockets) s.destroy();
  }

  listening(): boolean {
    return this.server.listening;
  }
}

function noop(): void {}

/** The TCP socket under a server-side TLS socket (so a reset can be a real RST). */
function rawOf(sock: tls.TLSSocket): net.Socket {
  return (sock as unknown as { _parent?: net.Socket })._parent ?? sock;
}

/** A short, stable reason for a failed handshake, for logs and the refusal metric. */
export function tlsReason(err: NodeJS.ErrnoException): string {
  const code = String(err.code ?? '');
  const msg = err.message ?? '';
  if (/wrong version number|http request|unknown protocol|packet length too long/i.test(msg)) return 'NOT_TLS';
  if (/peer did not return a certificate|certificate required/i.test(msg)) return 'NO_CLIENT_CERT';
  if (/certificate has expired|CERT_HAS_EXPIRED/i.test(msg + code)) return 'CERT_EXPIRED';
  if (/unable to get (local )?issuer|self.signed|unknown ca|certificate verify failed/i.test(msg)) return 'UNTRUSTED_CERT';
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'HANDSHAKE_TIMEOUT';
  if (/ECONNRESET|EPIPE/.test(code)) return 'PEER_RESET';
  return 'TLS_ERROR';
}
