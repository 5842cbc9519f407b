// Gateway probe worker: an HTTP/2 GET /live over mutual TLS to each remote gateway address, with the
// controller's own identity, on a jittered period. It reports the link's verdict only when it changes:
// unhealthy after `failureThreshold` consecutive failed rounds, healthy again on the first success.
// Its verdict and last result are observations of the remote gateway (as an informer's cache is of the API):
// the Link status reads them; a restarted controller makes them again.
import http2 from 'node:http2';
import tls from 'node:tls';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { durationMs, type LinkSpec } from '../api/index.js';
import { clientTlsOptions, type TrustBundle } from '../trust/index.js';
import type { Logger } from '../log/index.js';
import { errorMessage, realClock, type Clock } from '../kube/index.js';
import { FlatProber, type FlatTarget } from './flat-probe.js';
import { ThresholdProber } from './threshold-prober.js';

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
  clock?: Clock;
  onResult(r: ProbeResult): void;
  onChange(healthy: boolean, r: ProbeResult): void;
  /** A round ended: `last` is its best result. */
  onRound?(r: ProbeResult): void;
}

/** One probe: HTTP/2 GET over mTLS; resolves with the outcome, never rejects. */
export async function probeOnce(
  address: string,
  port: number,
  path: string,
  timeoutMs: number,
  identity: string,
  creds: ProbeCredentials | undefined,
  clock: Clock = realClock,
): Promise<ProbeResult> {
  const started = performance.now();
  const time = new Date(clock.now());
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

export class GatewayProber extends ThresholdProber<ProbeResult> {
  constructor(readonly opts: ProberOptions) {
    super(opts);
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

  protected async measure(): Promise<ProbeResult> {
    const addrs = await this.resolve();
    const creds = this.opts.credentials();
    let best: ProbeResult | undefined;
    for (const a of addrs) {
      const r = await probeOnce(a, this.opts.port, this.opts.path, this.opts.timeoutMs, this.opts.identity, creds, this.clock);
      this.opts.onResult(r);
      // Every address is probed (each gateway replica); the link is healthy if any answers.
      if (!best || (r.ok && (!best.ok || r.latencyMs < best.latencyMs))) best = r;
    }
    best ??= { ok: false, latencyMs: 0, address: '', message: 'no gateway address resolved', time: new Date(this.clock.now()) };
    return best;
  }

  protected override afterRound(r: ProbeResult): void {
    this.opts.onRound?.(r);
  }

  protected logChange(healthy: boolean, r: ProbeResult | undefined, misses: number): void {
    if (healthy) this.opts.logger.info('gateway reachable again', { link: this.opts.link, address: r?.address, latencyMs: r?.latencyMs });
    else this.opts.logger.warn('gateway unreachable, marking shadow endpoints not ready', { link: this.opts.link, misses, error: r?.message });
  }
}

/** What the Link status reads of a link's prober. */
export interface ProbeView {
  healthy: boolean;
  last?: ProbeResult;
}

export interface ProbersOptions {
  credentials: () => ProbeCredentials | undefined;
  logger: Logger;
  clock: Clock;
  /** Every probe result (for metrics). */
  onResult(link: string, r: ProbeResult): void;
  /** The first round of a new prober ended: the link has a probe result to report. */
  onFirstRound(link: string): void;
  /** The link's verdict changed: its shadows' endpoints change readiness. */
  onChange(link: string, healthy: boolean): void;
  /** Flat links (issue 14): the remote endpoints a round samples. Without it flat links are not probed. */
  flatTargets?: (link: string) => FlatTarget[];
  /** A flat link's verdict changed: the imports follow it. */
  onFlatChange?: (link: string, healthy: boolean) => void;
}

/** One prober per Link that has a gateway, rebuilt when the gateway or probe settings change. */
export class Probers {
  private readonly probers = new Map<string, { prober: GatewayProber; shape: string }>();
  private readonly flat = new Map<string, { prober: FlatProber; shape: string }>();

  constructor(private readonly opts: ProbersOptions) {}

  view(link: string): ProbeView | undefined {
    const p = this.probers.get(link)?.prober;
    return p && { healthy: p.healthy, last: p.last };
  }

  /** Healthy unless the link's prober has seen failureThreshold misses. */
  healthy(link: string): boolean {
    return this.probers.get(link)?.prober.healthy ?? true;
  }

  /** A flat link's data path: healthy unless failureThreshold rounds of TCP connects to its endpoints all failed. */
  flatView(link: string): { healthy: boolean; message?: string } {
    const p = this.flat.get(link)?.prober;
    return { healthy: p?.healthy ?? true, ...(p?.last ? { message: p.last.message } : {}) };
  }

  private ensureFlat(link: string, spec: LinkSpec): void {
    const shape = JSON.stringify(spec.probe);
    if (this.flat.get(link)?.shape === shape) return;
    this.flat.get(link)?.prober.stop();
    this.flat.delete(link);
    const targets = this.opts.flatTargets;
    if (!targets) return;
    const prober: FlatProber = new FlatProber({
      link,
      periodMs: durationMs(spec.probe.period),
      timeoutMs: durationMs(spec.probe.timeout),
      failureThreshold: spec.probe.failureThreshold,
      targets: () => targets(link),
      logger: this.opts.logger,
      clock: this.opts.clock,
      onChange: (healthy) => {
        if (this.flat.get(link)?.prober === prober) this.opts.onFlatChange?.(link, healthy);
      },
    });
    this.flat.set(link, { prober, shape });
    prober.start();
  }

  ensure(link: string, spec: LinkSpec): void {
    const gw = spec.gateway;
    if (!gw) {
      this.drop(link);
      this.ensureFlat(link, spec);
      return;
    }
    this.flat.get(link)?.prober.stop();
    this.flat.delete(link);
    const shape = JSON.stringify([gw, spec.probe]);
    const have = this.probers.get(link);
    if (have?.shape === shape) return;
    this.drop(link);
    let first = true;
    const prober: GatewayProber = new GatewayProber({
      link,
      addresses: gw.addresses,
      port: spec.probe.port ?? gw.port,
      path: spec.probe.path,
      periodMs: durationMs(spec.probe.period),
      timeoutMs: durationMs(spec.probe.timeout),
      failureThreshold: spec.probe.failureThreshold,
      identity: gw.identity,
      credentials: this.opts.credentials,
      logger: this.opts.logger,
      clock: this.opts.clock,
      onResult: (r) => {
        if (this.probers.get(link)?.prober === prober) this.opts.onResult(link, r);
      },
      onRound: () => {
        if (first && this.probers.get(link)?.prober === prober) this.opts.onFirstRound(link);
        first = false;
      },
      onChange: (healthy) => {
        if (this.probers.get(link)?.prober === prober) this.opts.onChange(link, healthy);
      },
    });
    this.probers.set(link, { prober, shape });
    prober.start();
  }

  drop(link: string): void {
    this.probers.get(link)?.prober.stop();
    this.probers.delete(link);
  }

  /** Both probers of a link (the Link is gone, invalid or not the owner of its target). */
  dropAll(link: string): void {
    this.drop(link);
    this.flat.get(link)?.prober.stop();
    this.flat.delete(link);
  }

  stop(): void {
    for (const link of [...this.probers.keys(), ...this.flat.keys()]) this.dropAll(link);
  }
}
