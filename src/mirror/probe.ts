// Gateway probe worker: an HTTP/2 GET /live over mutual TLS to each remote gateway address, with the
// controller's own identity, on a jittered period. It reports the link's verdict only when it changes:
// unhealthy after `failureThreshold` consecutive failed rounds, healthy again on the first success.
import http2 from 'node:http2';
import tls from 'node:tls';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { clientTlsOptions, type TrustBundle } from '../trust/index.js';
import type { Logger } from '../log/index.js';
import { errorMessage } from '../kube/index.js';

export interface ProbeCredentials {
  keyPem: string;
  chainPem: string;
  bundle: TrustBundle | string;
}

export interface ProbeResult {
  ok: boolean;
  latencyMs: number;
  address: string;
  message: string;
  time: Date;
}

export interface ProberOptions {
  link: string;
  addresses: string[];
  port: number;
  path: string;
  periodMs: number;
  timeoutMs: number;
  failureThreshold: number;
  /** Expected SPIFFE id of the remote gateway. */
  identity: string;
  credentials: () => ProbeCredentials | undefined;
  logger: Logger;
  onResult(r: ProbeResult): void;
  onChange(healthy: boolean, r: ProbeResult): void;
}

/** One probe: HTTP/2 GET over mTLS; resolves with the outcome, never rejects. */
export async function probeOnce(
  address: string,
  port: number,
  path: string,
  timeoutMs: number,
  identity: string,
  creds: ProbeCredentials | undefined,
): Promise<ProbeResult> {
  const started = performance.now();
  const time = new Date();
  const done = (ok: boolean, message: string): ProbeResult => ({ ok, message, address, time, latencyMs: Math.round((performance.now() - started) * 100) / 100 });
  if (!creds) return done(false, 'no client credentials for the probe (identity not issued yet)');
  return new Promise<ProbeResult>((resolve) => {
    let settled = false;
    let session: http2.ClientHttp2Session | undefined;
    const finish = (r: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session?.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish(done(false, `timed out after ${timeoutMs} ms`)), timeoutMs);
    try {
      const opts = clientTlsOptions(creds, { expectedIdentity: identity, alpn: ['h2'] });
      session = http2.connect(`https://${isIP(address) === 6 ? `[${address}]` : address}:${port}`, {
        createConnection: () => tls.connect({ ...opts, host: address, port, servername: isIP(address) ? undefined : address }),
      });
      session.on('error', (err) => finish(done(false, errorMessage(err))));
      const req = session.request({ ':method': 'GET', ':path': path });
      req.on('response', (headers) => {
        const status = Number(headers[':status']);
        finish(done(status === 200, `HTTP ${status}`));
      });
      req.on('error', (err) => finish(done(false, errorMessage(err))));
      req.resume();
      req.end();
    } catch (err) {
      finish(done(false, errorMessage(err)));
    }
  });
}

export class GatewayProber {
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private misses = 0;
  healthy = true;
  last: ProbeResult | undefined;

  constructor(readonly opts: ProberOptions) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.round(), ms);
    this.timer.unref?.();
  }

  private async resolve(): Promise<string[]> {
    const out: string[] = [];
    for (const a of this.opts.addresses) {
      if (isIP(a)) out.push(a);
      else {
        try {
          // Hostnames are re-resolved each round, so a gateway that moves is followed.
          for (const r of await lookup(a, { all: true })) out.push(r.address);
        } catch (err) {
          this.opts.logger.warn('cannot resolve gateway address', { link: this.opts.link, address: a, error: errorMessage(err) });
        }
      }
    }
    return out;
  }

  private async round(): Promise<void> {
    const addrs = await this.resolve();
    const creds = this.opts.credentials();
    let best: ProbeResult | undefined;
    for (const a of addrs) {
      const r = await probeOnce(a, this.opts.port, this.opts.path, this.opts.timeoutMs, this.opts.identity, creds);
      this.opts.onResult(r);
      // Every address is probed (each gateway replica); the link is healthy if any answers.
      if (!best || (r.ok && (!best.ok || r.latencyMs < best.latencyMs))) best = r;
    }
    best ??= { ok: false, latencyMs: 0, address: '', message: 'no gateway address resolved', time: new Date() };
    if (this.stopped) return;
    this.last = best;
    if (best.ok) {
      this.misses = 0;
      if (!this.healthy) {
        this.healthy = true;
        this.opts.logger.info('gateway reachable again', { link: this.opts.link, address: best.address, latencyMs: best.latencyMs });
        this.opts.onChange(true, best);
      }
    } else {
      this.misses++;
      if (this.healthy && this.misses >= this.opts.failureThreshold) {
        this.healthy = false;
        this.opts.logger.warn('gateway unreachable, marking shadow endpoints not ready', { link: this.opts.link, misses: this.misses, error: best.message });
        this.opts.onChange(false, best);
      }
    }
    const jitter = 0.9 + Math.random() * 0.2;
    this.schedule(this.opts.periodMs * jitter);
  }
}
