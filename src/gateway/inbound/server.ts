// Inbound: the mTLS tunnel port. Each TCP connection gets a TLS handshake with a deadline; the peer chain
// is verified against the trust bundle by OpenSSL and the peer's identity read by src/trust (the one SPIFFE
// parser). After the handshake, ALPN picks the transport: `h2` → HTTP/2 CONNECT streams (and GET /live for
// the mirror's probes), `mesh-pipe/1` → one tunnel with the target in a short header. Every tunnel is an
// InboundTunnel (tunnel.ts), authorized against this cluster's exported Services only (authorize.ts), so
// an IP, the API server or our own admin port can never be named.
import net from 'node:net';
import tls from 'node:tls';
import { gracefulShutdown, type H2Session } from '../../h2/index.js';
import { verifiedPeer, type VerifiedPeer } from '../../trust/index.js';
import type { Logger } from '../../log/index.js';
import type { GatewayConfig } from '../config.js';
import { RateLimitedLog } from '../log-limit.js';
import type { GatewayMetrics, TlsRefusalReason } from '../metrics.js';
import { ALPN_H2, ALPN_PIPE, alertFor, alertRecord, noteKeylog, secureOptions, type HandshakeKeys } from '../tls.js';
import type { Credentials } from '../types.js';
import type { AuthenticatedPeer, InboundPolicy } from './authorize.js';
import { serveH2 } from './h2.js';
import { IdleSweep } from '../idle.js';
import { listenEach } from '../listen.js';
import { servePipe } from './pipe.js';
import type { InboundLoad, InboundRefusalKind, InboundTunnelDeps } from './tunnel.js';

export interface InboundDeps {
  config: GatewayConfig;
  logger: Logger;
  metrics: GatewayMetrics;
  policy: () => InboundPolicy;
  /** Session-ticket keys shared across workers (else each process makes its own). */
  ticketKeys?: Buffer;
}

/** A TCP connection between accept and the end of its handshake. */
interface Accepted {
  raw: net.Socket;
  started: number;
  keys: HandshakeKeys;
}

/** How long a refused client gets to read its alert before the connection is destroyed. */
const ALERT_LINGER_MS = 1_000;

export class InboundServer {
  /** Never listens itself: the TCP listeners of every address hand it their connections (acceptor). */
  private readonly server: tls.Server;
  private listeners: net.Server[] = [];
  /** Accepted connections by their 4-tuple: Node hands a server TLSSocket no public link to the TCP socket
   * under it, and a reset must be a TCP RST on that socket. */
  private readonly accepted = new Map<string, Accepted>();
  private readonly sessions = new Set<H2Session>();
  private readonly sockets = new Set<net.Socket>();
  /** tls-pipe connections still waiting for their header (the remote's warm pool). */
  private readonly idlePipes = new Set<tls.TLSSocket>();
  private readonly load: InboundLoad = { active: 0, draining: false, next: 0 };
  private readonly tunnelDeps: InboundTunnelDeps;
  private readonly refusals: RateLimitedLog<InboundRefusalKind>;

  constructor(private readonly d: InboundDeps) {
    const c = d.config;
    this.refusals = new RateLimitedLog(d.logger);
    this.tunnelDeps = { config: c, logger: d.logger, metrics: d.metrics, policy: d.policy, load: this.load, idle: new IdleSweep(c.idleTimeoutMs), refusals: this.refusals };
    // tls.Server (not a TLSSocket over net.Server): only it verifies the client chain, and it hands on a
    // socket with nothing read ahead.
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
    this.server.on('connection', (raw: net.Socket) => this.onConnection(raw));
    this.server.on('secureConnection', (sock: tls.TLSSocket) => this.onSecure(sock));
    // Key log lines only so that a refused client certificate gets a proper alert (tls.ts alertRecord).
    this.server.on('keylog', (line: Buffer, sock: tls.TLSSocket) => {
      const conn = this.accepted.get(tupleOf(sock));
      if (conn) noteKeylog(conn.keys, line, conn.raw.bytesWritten);
    });
    this.server.on('tlsClientError', (err: NodeJS.ErrnoException, sock: tls.TLSSocket) => {
      this.tlsRefused(tlsReason(err), err.message, sock.remoteAddress ?? '');
      // With a listener here Node leaves the socket open: close it.
      sock.destroy();
    });
    if (d.ticketKeys) this.server.setTicketKeys(d.ticketKeys);
  }

  /** Tunnels relaying now (both transports). */
  get active(): number {
    return this.load.active;
  }

  /** New certificate / bundle for new handshakes; established connections keep theirs. */
  setCredentials(c: Credentials): void {
    this.server.setSecureContext({ ...secureOptions(c), ...(this.d.ticketKeys ? { ticketKeys: this.d.ticketKeys } : {}) });
  }

  /** Listens on every configured address (one port); resolves with the port. */
  async listen(): Promise<number> {
    const { port, servers } = await listenEach(this.d.config.host, this.d.config.tunnelPort, () => this.acceptor());
    this.listeners = servers;
    return port;
  }

  /** A TCP listener for one address that hands its connections to the one TLS server (one secure context
   * and session cache for every address). Its maxConnections drops over-limit connections before Node makes
   * a socket of them; with several addresses the limit also holds across them. */
  private acceptor(): net.Server {
    const c = this.d.config;
    const s = net.createServer({ allowHalfOpen: true, noDelay: true }, (raw) => {
      if (c.host.length > 1 && this.sockets.size >= c.maxInboundConnections) {
        raw.destroy();
        this.dropped(raw.remoteAddress);
        return;
      }
      this.server.emit('connection', raw);
    });
    s.maxConnections = c.maxInboundConnections;
    s.on('drop', (info) => this.dropped(info?.remoteAddress));
    return s;
  }

  private dropped(remoteAddress: string | undefined): void {
    this.d.metrics.refuse('inbound', 'OVERLOADED');
    this.refusals.warn('connection', 'OVERLOADED', 'inbound connection refused: connection limit reached', { reason: 'OVERLOADED', remoteAddress, limit: this.d.config.maxInboundConnections });
  }

  private onConnection(raw: net.Socket): void {
    const key = tupleOf(raw);
    this.sockets.add(raw);
    this.accepted.set(key, { raw, started: performance.now(), keys: {} });
    raw.once('close', () => {
      this.sockets.delete(raw);
      if (this.accepted.get(key)?.raw === raw) this.accepted.delete(key);
    });
    this.d.metrics.countConnection('inbound', '');
  }

  private onSecure(sock: tls.TLSSocket): void {
    const key = tupleOf(sock);
    const conn = this.accepted.get(key);
    this.accepted.delete(key);
    if (conn) this.d.metrics.handshake.observe({ direction: 'inbound' }, (performance.now() - conn.started) / 1000);
    sock.on('error', noop);
    const address = sock.remoteAddress ?? '';
    if (!sock.authorized) {
      const noCert = !sock.getPeerX509Certificate();
      const code = String(sock.authorizationError ?? '');
      const reason: TlsRefusalReason = noCert ? 'NO_CLIENT_CERT' : code === 'CERT_HAS_EXPIRED' ? 'CERT_EXPIRED' : 'UNTRUSTED_CERT';
      this.tlsRefused(reason, noCert ? 'peer sent no client certificate' : `peer certificate not trusted: ${code}`, address);
      refuseCertificate(sock, conn, alertFor(!noCert, code));
      return;
    }
    const peer = authenticated(sock, address);
    if (this.load.draining) {
      this.tlsRefused('DRAINING', 'gateway is draining', address, peer.id?.uri);
      sock.destroy();
      return;
    }
    if (sock.alpnProtocol === ALPN_PIPE) {
      servePipe(sock, conn?.raw ?? sock, peer, this.tunnelDeps, this.idlePipes);
    } else if (sock.alpnProtocol === ALPN_H2) {
      const session = serveH2(sock, peer, this.tunnelDeps);
      this.sessions.add(session);
      session.once('close', () => this.sessions.delete(session));
    } else {
      this.tlsRefused('NO_ALPN', `peer offered no supported ALPN protocol (want ${ALPN_H2} or ${ALPN_PIPE})`, address, peer.id?.uri);
      sock.end('mesh gateway: this port speaks HTTP/2 (ALPN h2) or mesh-pipe/1 over mTLS\n');
    }
  }

  private tlsRefused(reason: TlsRefusalReason, message: string, remoteAddress: string, identity?: string): void {
    this.d.metrics.refuse('inbound', reason);
    this.refusals.warn('connection', reason, 'inbound connection refused', { reason, detail: message, remoteAddress, peer: identity });
  }

  /** Stop accepting; shut every HTTP/2 session down gracefully (src/h2 gracefulShutdown: a GOAWAY notice, then
   * the final GOAWAY once the peer has sent whatever it opened before reading it) so peers open new streams
   * elsewhere and none they opened meanwhile is refused; close idle pipes; live tunnels go on. Resolves
   * when every session has ended (its final GOAWAY out and its streams done). */
  startDrain(): Promise<void> {
    this.load.draining = true;
    for (const l of this.listeners) l.close();
    // Each session ends once its streams have (tunnels still dialing included, which `active` does not count).
    const sessions = Promise.all([...this.sessions].map(async (s) => {
      await gracefulShutdown(s);
      if (!s.closed) await new Promise<void>((r) => s.once('close', () => r()));
    }));
    // Warm pipes that carry no tunnel yet: closed unanswered, which tells the remote that a request it may
    // have just sent on one never reached a target (it replays it elsewhere) and empties its warm pool.
    for (const s of this.idlePipes) s.destroy();
    return sessions.then(() => undefined);
  }

  /** Hard stop: every connection goes. */
  destroy(): void {
    this.refusals.stop();
    this.load.draining = true;
    for (const l of this.listeners) l.close();
    for (const s of this.sessions) s.destroy();
    for (const s of this.sockets) s.destroy();
  }

  listening(): boolean {
    return this.listeners.length > 0 && this.listeners.every((l) => l.listening);
  }
}

/** The peer of a verified connection. A chain that verified but carries no valid SPIFFE id is still a
 * peer: its tunnel requests are refused as FORBIDDEN, where the refusal is answered and counted. */
function authenticated(sock: tls.TLSSocket, address: string): AuthenticatedPeer {
  let v: VerifiedPeer | undefined;
  try {
    v = verifiedPeer(sock);
  } catch {
    v = undefined;
  }
  return { id: v?.id, address, port: sock.remotePort ?? 0, ...(v?.cluster !== undefined ? { cluster: v.cluster } : {}) };
}

/** Sends the alert that says why a client certificate was refused, where it can (tls.ts alertRecord: nothing
 * written under the application secret yet), then a FIN rather than a reset, so the client reads the alert
 * even if it already sent its first request; destroyed once the client closes, or after ALERT_LINGER_MS. */
function refuseCertificate(sock: tls.TLSSocket, conn: Accepted | undefined, description: number): void {
  const secret = conn?.keys.serverAppSecret;
  const untouched = conn !== undefined && conn.keys.writtenAtFinished === conn.raw.bytesWritten;
  const record = secret && untouched ? alertRecord(sock.getCipher().name, secret, description) : undefined;
  if (!conn || !record) {
    sock.destroy();
    return;
  }
  sock.on('data', noop);
  // The listener allows half-open sockets: the client's FIN (it read the alert) ends this one.
  sock.once('end', () => sock.destroy());
  conn.raw.write(record);
  conn.raw.end();
  const timer = setTimeout(() => sock.destroy(), ALERT_LINGER_MS);
  timer.unref();
  sock.once('close', () => clearTimeout(timer));
}

/** A connection's 4-tuple: unique among live TCP connections, and the same on the TLS socket over it. */
function tupleOf(s: net.Socket): string {
  return `${s.remoteAddress}|${s.remotePort}|${s.localAddress}|${s.localPort}`;
}

function noop(): void {}

/** A short, stable reason for a failed handshake, for logs and the refusal metric. */
export function tlsReason(err: NodeJS.ErrnoException): TlsRefusalReason {
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
