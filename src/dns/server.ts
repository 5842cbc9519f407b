// The cluster DNS server: UDP and TCP on one address and port, answering from a DnsRecordSource.
// Bytes in, bytes out; decisions live in answer.ts. Every buffer is bounded and every bad packet ends
// in a FORMERR, a drop, or a closed TCP connection, never in a thrown error that escapes.
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import { z } from 'zod';
import { createLogger, type Logger } from '../log/index.js';
import { handleQuery, servfailFor, type RcodeName } from './answer.js';
import { DnsError } from './errors.js';
import type { DnsRecordSource } from './records.js';

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[0-9.]+):\d{1,5}$/, 'must be ip:port (or [ipv6]:port)')
  .transform((s) => {
    const i = s.lastIndexOf(':');
    return { host: s.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(s.slice(i + 1)) };
  })
  .refine((v) => v.port > 0 && v.port < 65536, 'port out of range');

export const DnsServerOptionsSchema = z.object({
  address: z.union([z.ipv4(), z.ipv6()]).default('127.0.0.1'),
  /** 0 = pick a port free for both UDP and TCP. Port 53 needs root (or CAP_NET_BIND_SERVICE). */
  port: z.number().int().min(0).max(65535).default(0),
  ttl: z.number().int().min(0).max(86400).default(5),
  /** `ip:port` of a resolver for names outside the domain. None by default: such names get REFUSED. */
  upstream: hostPort.optional(),
  upstreamTimeoutMs: z.number().int().min(100).max(30_000).default(2_000),
  maxTcpConnections: z.number().int().min(1).max(100_000).default(256),
  /** Idle TCP connections are closed after this (RFC 7766 suggests seconds, not minutes). */
  tcpIdleMs: z.number().int().min(100).max(600_000).default(10_000),
  udp: z.boolean().default(true),
  tcp: z.boolean().default(true),
});
export type DnsServerOptions = z.input<typeof DnsServerOptionsSchema>;

export interface DnsServerStats {
  queries: number;
  byRcode: Partial<Record<RcodeName, number>>;
  truncated: number;
  dropped: number;
  forwarded: number;
  tcpConnections: number;
  tcpRejected: number;
}

export interface DnsServer {
  address: string;
  port: number;
  stats(): DnsServerStats;
  close(): Promise<void>;
}

/** Largest DNS message over TCP (two-byte length prefix). */
const MAX_TCP_MESSAGE = 65535;
const UPSTREAM_MAX_PENDING = 1024;

type Warn = (msg: string, fields: Record<string, unknown>) => void;
type Answer = (msg: Buffer, transport: 'udp' | 'tcp', peer: string) => Promise<Buffer | undefined>;

export async function startDnsServer(source: DnsRecordSource | readonly DnsRecordSource[], options: DnsServerOptions = {}, logger?: Logger): Promise<DnsServer> {
  const parsed = DnsServerOptionsSchema.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new DnsError('DNS_INVALID_CONFIG', `dns server options: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
  }
  const opts = parsed.data;
  const zones: readonly DnsRecordSource[] = Array.isArray(source) ? source : [source as DnsRecordSource];
  if (zones.length === 0) throw new DnsError('DNS_INVALID_CONFIG', 'dns server: at least one zone is needed');
  const domains = zones.map((z) => z.domain).join(',');
  const log = logger ?? createLogger('dns', { fields: { domain: domains } });
  const stats: DnsServerStats = { queries: 0, byRcode: {}, truncated: 0, dropped: 0, forwarded: 0, tcpConnections: 0, tcpRejected: 0 };
  const warn = rateLimitedWarn(log);
  const upstream = new UpstreamForwarder(opts, log, warn);

  const answer: Answer = async (msg, transport, peer) => {
    stats.queries++;
    const out = handleQuery(msg, transport, { source: zones, ttl: opts.ttl, forwarding: opts.upstream !== undefined });
    if (out.kind === 'drop') {
      stats.dropped++;
      warn(`dropped a DNS packet from ${peer}: ${out.reason}`, { peer, reason: out.reason });
      return undefined;
    }
    if (out.kind === 'forward') {
      stats.forwarded++;
      return upstream.forward(msg);
    }
    stats.byRcode[out.rcode] = (stats.byRcode[out.rcode] ?? 0) + 1;
    if (out.truncated) stats.truncated++;
    if (out.rcode === 'FORMERR') warn(`malformed DNS query from ${peer}, answered FORMERR`, { peer, transport });
    return out.bytes;
  };

  const conns = new Set<Socket>();
  const onTcp = (sock: Socket) => {
    stats.tcpConnections++;
    conns.add(sock);
    sock.on('close', () => conns.delete(sock));
    serveTcpConnection(sock, opts.tcpIdleMs, answer, log, warn);
  };
  const onDrop = () => {
    stats.tcpRejected++;
    warn(`DNS TCP connection refused: ${opts.maxTcpConnections} connections open`, {});
  };
  const { udp, tcp } = await listenOnOnePort(opts, log, onTcp, onDrop);
  udp?.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
    const peer = `${rinfo.address}:${rinfo.port}`;
    answer(msg, 'udp', peer).then(
      (bytes) => {
        if (bytes) udp.send(bytes, rinfo.port, rinfo.address);
      },
      (err: unknown) => log.error('DNS UDP answer failed', { peer, error: String(err) }),
    );
  });
  const port = udp ? udp.address().port : (tcp?.address() as { port: number }).port;
  log.info('cluster DNS listening', { address: opts.address, port, zones: domains, udp: Boolean(udp), tcp: Boolean(tcp), upstream: opts.upstream ? `${opts.upstream.host}:${opts.upstream.port}` : 'none' });

  return {
    address: opts.address,
    port,
    stats: () => ({ ...stats, byRcode: { ...stats.byRcode } }),
    async close() {
      upstream.close();
      for (const c of conns) c.destroy();
      await Promise.all([
        udp ? new Promise<void>((r) => udp.close(() => r())) : Promise.resolve(),
        tcp ? new Promise<void>((r) => tcp.close(() => r())) : Promise.resolve(),
      ]);
    },
  };
}

type ServerOpts = z.output<typeof DnsServerOptionsSchema>;

/** Forwarding goes over UDP from one socket, matched by a fresh id; pending entries are bounded. */
class UpstreamForwarder {
  private sock: UdpSocket | undefined;
  private readonly pending = new Map<number, { id: number; resolve: (b: Buffer | undefined) => void; timer: NodeJS.Timeout }>();
  private nextId = Math.floor(Math.random() * 0xffff);

  constructor(
    private readonly opts: ServerOpts,
    private readonly log: Logger,
    private readonly warn: Warn,
  ) {}

  forward(msg: Buffer): Promise<Buffer | undefined> {
    const up = this.opts.upstream;
    if (!up || this.pending.size >= UPSTREAM_MAX_PENDING) return Promise.resolve(servfailFor(msg));
    const sock = this.socket(up);
    return new Promise((resolve) => {
      let id = this.nextId;
      while (this.pending.has(id)) id = (id + 1) & 0xffff;
      this.nextId = (id + 1) & 0xffff;
      const originalId = msg.readUInt16BE(0);
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.warn(`upstream DNS ${up.host}:${up.port} did not answer in ${this.opts.upstreamTimeoutMs} ms`, { upstream: `${up.host}:${up.port}` });
        resolve(servfailFor(msg));
      }, this.opts.upstreamTimeoutMs);
      this.pending.set(id, { id: originalId, resolve, timer });
      const out = Buffer.from(msg);
      out.writeUInt16BE(id, 0);
      sock.send(out, up.port, up.host);
    });
  }

  close(): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.resolve(undefined);
    }
    this.pending.clear();
    this.sock?.close();
  }

  private socket(up: { host: string; port: number }): UdpSocket {
    if (this.sock) return this.sock;
    const sock = createSocket(isIPv6(up.host) ? 'udp6' : 'udp4');
    sock.on('error', (err) => this.log.warn('upstream DNS socket error', { upstream: `${up.host}:${up.port}`, error: err.message }));
    sock.on('message', (reply) => {
      if (reply.length < 12) return;
      const p = this.pending.get(reply.readUInt16BE(0));
      if (!p) return;
      this.pending.delete(reply.readUInt16BE(0));
      clearTimeout(p.timer);
      const copy = Buffer.from(reply);
      copy.writeUInt16BE(p.id, 0);
      p.resolve(copy);
    });
    this.sock = sock;
    return sock;
  }
}

/** DNS over TCP (RFC 7766): length-prefixed messages answered in order, one at a time, with bounded buffering. */
function serveTcpConnection(sock: Socket, idleMs: number, answer: Answer, log: Logger, warn: Warn): void {
  const peer = `${sock.remoteAddress}:${sock.remotePort}`;
  sock.setTimeout(idleMs, () => sock.destroy());
  sock.on('error', () => sock.destroy());
  // Accumulate at most one full message plus its prefix; anything beyond waits in the kernel because
  // we pause while a message is being answered.
  let buf: Buffer = Buffer.alloc(0);
  let busy = false;
  const pump = async () => {
    if (busy) return;
    busy = true;
    sock.pause();
    try {
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (len === 0) {
          warn(`DNS TCP message of length 0 from ${peer}, closing`, { peer });
          sock.destroy();
          return;
        }
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        const bytes = await answer(Buffer.from(msg), 'tcp', peer);
        if (sock.destroyed) return;
        if (!bytes) {
          // Undecodable beyond a header: the stream may be out of sync, so end it (RFC 7766 §6.2.5 allows it).
          sock.destroy();
          return;
        }
        const frame = Buffer.allocUnsafe(2 + bytes.length);
        frame.writeUInt16BE(bytes.length, 0);
        bytes.copy(frame, 2);
        if (!sock.write(frame)) await new Promise<void>((r) => sock.once('drain', r));
      }
    } finally {
      busy = false;
      if (!sock.destroyed) sock.resume();
    }
  };
  sock.on('data', (chunk: Buffer) => {
    // More than one message buffered: the client pipelines faster than we answer; apply backpressure
    // by pausing rather than growing the buffer without bound.
    if (buf.length + chunk.length > MAX_TCP_MESSAGE + 2 + 2) sock.pause();
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    if (buf.length > 2 * (MAX_TCP_MESSAGE + 2)) {
      warn(`DNS TCP buffer over limit for ${peer}, closing`, { peer });
      sock.destroy();
      return;
    }
    void pump().catch((err: unknown) => {
      log.error('DNS TCP answer failed', { peer, error: String(err) });
      sock.destroy();
    });
  });
}

/**
 * UDP and TCP on one address and port. With port 0 they must still share one port (clients fall back
 * from UDP to TCP on the same port): take an ephemeral UDP port, then try TCP on it, a few times.
 */
async function listenOnOnePort(opts: ServerOpts, log: Logger, onTcp: (s: Socket) => void, onDrop: () => void): Promise<{ udp?: UdpSocket; tcp?: Server }> {
  const family = isIPv6(opts.address) ? 'udp6' : 'udp4';
  const openUdp = (port: number): Promise<UdpSocket> =>
    new Promise((resolve, reject) => {
      const s = createSocket({ type: family, reuseAddr: false });
      s.once('error', reject);
      s.bind(port, opts.address, () => {
        s.off('error', reject);
        s.on('error', (err) => log.error('DNS UDP socket error', { error: err.message }));
        resolve(s);
      });
    });
  const openTcp = (port: number): Promise<Server> =>
    new Promise((resolve, reject) => {
      const srv = createServer({ allowHalfOpen: false }, onTcp);
      srv.maxConnections = opts.maxTcpConnections;
      srv.on('drop', onDrop);
      srv.once('error', reject);
      srv.listen(port, opts.address, () => {
        srv.off('error', reject);
        srv.on('error', (err) => log.error('DNS TCP server error', { error: err.message }));
        resolve(srv);
      });
    });
  let lastErr: unknown;
  for (let attempt = 0; attempt < 20; attempt++) {
    let udp: UdpSocket | undefined;
    try {
      if (opts.udp) {
        udp = await openUdp(opts.port);
        return { udp, tcp: opts.tcp ? await openTcp(udp.address().port) : undefined };
      }
      if (opts.tcp) return { tcp: await openTcp(opts.port) };
      break;
    } catch (err) {
      lastErr = err;
      udp?.close();
      if (opts.port !== 0) break;
    }
  }
  const e = lastErr as NodeJS.ErrnoException | undefined;
  const hint = e?.code === 'EACCES' ? ' (ports below 1024 need root or CAP_NET_BIND_SERVICE)' : '';
  throw new DnsError('DNS_LISTEN_FAILED', `cannot listen on ${opts.address}:${opts.port}: ${e?.message ?? 'unknown error'}${hint}`, { cause: lastErr });
}

/** At most one warning a second per server, with a count of what was suppressed: bad packets must not flood logs. */
function rateLimitedWarn(log: Logger): (msg: string, fields: Record<string, unknown>) => void {
  let last = 0;
  let suppressed = 0;
  return (msg, fields) => {
    const now = Date.now();
    if (now - last < 1000) {
      suppressed++;
      return;
    }
    last = now;
    log.warn(msg, { ...fields, ...(suppressed ? { suppressedSinceLast: suppressed } : {}) });
    suppressed = 0;
  };
}
