// A workload's certificate source (as in linkerd2-proxy's identity module): makes a P-256 key, asks the
// Identity service for a leaf with its ServiceAccount token, renews at 70% of the leaf's life and retries
// with capped exponential backoff while the old leaf is still valid. Consumers get the key and chain,
// never a signing key: `current()` / `secureContextOptions()` for new connections and a 'credentials'
// event so servers can call setSecureContext (existing connections keep their old context). A bundle read
// from a function (a ConfigMap mount) is checked every few seconds: a changed bundle (a root rotation) means
// new credentials at once — the new bundle for peers, and a leaf from whichever issuer signs now.
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import type tls from 'node:tls';
import { silentLogger, type Logger } from '../log/index.js';
import {
  createCsr, generateKeyPair, TrustBundle, trustKey, parseWorkloadId, verifyChain, secureContextOptions, serverTlsOptions, clientTlsOptions, type IdentityMatcher,
} from '../trust/index.js';
import { IdentityClient, type CertifyResult } from './identity-client.js';

export type CertificateState = 'Initializing' | 'Available' | 'Unavailable';

export interface Credentials {
  identity: string;
  keyPem: string;
  /** Leaf first, then intermediates. */
  chainPem: string;
  bundle: TrustBundle;
  notAfter: Date;
}

/** Renew when this fraction of the leaf's life has passed. */
export const RENEW_FRACTION = 0.7;
export const BACKOFF_INITIAL_MS = 500;
export const BACKOFF_MAX_MS = 60_000;
export const BUNDLE_CHECK_MS = 5000;
/** setTimeout's limit (2^31-1 ms, ~24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface CertificateManagerOptions {
  identity: string;
  /** Identity service host:port, or a ready client (tests, in-process use). */
  address?: string;
  /**
   * Turns `address` into the host:port to dial, before each new channel. For processes that cannot use
   * the system resolver for cluster names (the sandbox's MESH_CLUSTER_DNS); default: dial as given.
   */
  resolveAddress?: (address: string) => Promise<string>;
  client?: Pick<IdentityClient, 'certify'>;
  /** The projected token file; re-read before every request (kubelet rotates it). */
  tokenFile?: string;
  token?: () => Promise<string> | string;
  /** Trust bundle PEM, or a function that returns the current one (e.g. re-reads the ConfigMap mount). */
  bundle: string | (() => Promise<string> | string);
  renewFraction?: number;
  /** How often a bundle function is read for a change (default 5 s; 0: never). */
  bundleCheckMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  logger?: Logger;
}

export interface CertificateManagerEvents {
  credentials: [Credentials];
  state: [CertificateState];
}

export class CertificateManager extends EventEmitter<CertificateManagerEvents> {
  private creds: Credentials | undefined;
  private st: CertificateState = 'Initializing';
  private timer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private bundleTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private stopped = false;
  private inFlight: Promise<void> | undefined;
  private client: Pick<IdentityClient, 'certify'> | undefined;
  private ownedClient: IdentityClient | undefined;
  private clientBundle = '';
  private readonly log: Logger;
  lastError: string | undefined;

  constructor(private readonly opts: CertificateManagerOptions) {
    super();
    parseWorkloadId(opts.identity);
    if (!opts.tokenFile && !opts.token) throw new Error('CertificateManager needs tokenFile or token');
    if (!opts.address && !opts.client) throw new Error('CertificateManager needs address or client');
    this.log = opts.logger ?? silentLogger();
    this.client = opts.client;
  }

  get state(): CertificateState {
    return this.st;
  }

  current(): Credentials | undefined {
    return this.creds;
  }

  /** Starts fetching; resolves with the first credentials (retries until then, or until stop()). */
  start(): Promise<Credentials> {
    void this.refresh();
    this.watchBundle();
    return this.ready();
  }

  ready(): Promise<Credentials> {
    if (this.creds) return Promise.resolve(this.creds);
    return new Promise((resolve, reject) => {
      const onCreds = (c: Credentials) => { cleanup(); resolve(c); };
      const onState = () => { if (this.stopped) { cleanup(); reject(new Error('certificate manager stopped')); } };
      const cleanup = () => { this.off('credentials', onCreds); this.off('state', onState); };
      this.on('credentials', onCreds);
      this.on('state', onState);
    });
  }

  /** key/cert/ca for setSecureContext or createSecureContext. Throws while no certificate is held. */
  secureContextOptions(): tls.SecureContextOptions {
    return secureContextOptions(this.need());
  }

  serverTlsOptions(o?: { requireClientCert?: boolean; alpn?: string[] }): tls.TlsOptions {
    return serverTlsOptions(this.need(), o);
  }

  clientTlsOptions(o?: { expectedIdentity?: IdentityMatcher; alpn?: string[]; servername?: string }): tls.ConnectionOptions {
    return clientTlsOptions(this.need(), o);
  }

  /** Renew now (e.g. after the trust bundle changed). */
  renewNow(): Promise<void> {
    return this.refresh();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.expiryTimer);
    clearInterval(this.bundleTimer);
    this.ownedClient?.close();
    this.emit('state', this.st);
  }

  private need(): Credentials {
    if (!this.creds) throw new Error(`no certificate for ${this.opts.identity} yet (state ${this.st}${this.lastError ? `: ${this.lastError}` : ''})`);
    return this.creds;
  }

  private setState(s: CertificateState): void {
    if (s === this.st) return;
    this.st = s;
    this.log.info('identity state', { identity: this.opts.identity, state: s, ...(this.lastError ? { lastError: this.lastError } : {}) });
    this.emit('state', s);
  }

  private refresh(): Promise<void> {
    this.inFlight ??= this.attempt().finally(() => { this.inFlight = undefined; });
    return this.inFlight;
  }

  private async clientFor(bundlePem: string): Promise<Pick<IdentityClient, 'certify'>> {
    if (this.opts.client) return this.opts.client;
    if (!this.ownedClient || this.clientBundle !== bundlePem || this.failures > 0) {
      // A new channel when the bundle changed, or after a failure (the service may have moved).
      this.ownedClient?.close();
      const address = this.opts.resolveAddress ? await this.opts.resolveAddress(this.opts.address!) : this.opts.address!;
      this.ownedClient = new IdentityClient({ address, bundle: bundlePem });
      this.clientBundle = bundlePem;
    }
    return this.ownedClient;
  }

  private async attempt(): Promise<void> {
    if (this.stopped) return;
    clearTimeout(this.timer);
    try {
      const bundlePem = typeof this.opts.bundle === 'string' ? this.opts.bundle : await this.opts.bundle();
      const bundle = TrustBundle.fromPem(bundlePem);
      const token = this.opts.token ? await this.opts.token() : await readFile(this.opts.tokenFile!, 'utf8');
      const kp = generateKeyPair();
      const csr = createCsr({ key: kp.key, identity: this.opts.identity });
      this.client = await this.clientFor(bundlePem);
      const res: CertifyResult = await this.client.certify({ identity: this.opts.identity, token: token.trim(), csr });
      // Never hand out a chain our own peers would refuse.
      const got = verifyChain(res.chainPem, bundle);
      if (got.uri !== this.opts.identity) throw new Error(`the service issued ${got.uri}, not ${this.opts.identity}`);
      if (this.stopped) return;
      const notAfter = res.validUntil.getTime() > 0 ? res.validUntil : new Date(Date.now() + 3600_000);
      this.creds = { identity: this.opts.identity, keyPem: kp.keyPem, chainPem: res.chainPem, bundle, notAfter };
      this.failures = 0;
      this.lastError = undefined;
      const now = Date.now();
      const renewIn = Math.max(0, (notAfter.getTime() - now) * (this.opts.renewFraction ?? RENEW_FRACTION));
      this.schedule(renewIn);
      this.armExpiry(notAfter);
      this.log.info('certificate obtained', { identity: this.opts.identity, notAfter: notAfter.toISOString(), renewInMs: Math.round(renewIn) });
      this.emit('credentials', this.creds);
      this.setState('Available');
    } catch (err) {
      if (this.stopped) return;
      this.failures++;
      this.lastError = (err as Error).message;
      const base = Math.min(this.opts.backoffMaxMs ?? BACKOFF_MAX_MS, (this.opts.backoffInitialMs ?? BACKOFF_INITIAL_MS) * 2 ** (this.failures - 1));
      const delay = base / 2 + Math.random() * (base / 2);
      const stillValid = this.creds !== undefined && this.creds.notAfter.getTime() > Date.now();
      this.log.warn('certificate request failed; retrying', { identity: this.opts.identity, attempt: this.failures, retryInMs: Math.round(delay), stillValid, error: this.lastError });
      if (!stillValid && this.st !== 'Initializing') this.setState('Unavailable');
      this.schedule(delay);
    }
  }

  /** Reads a bundle function now and then; new credentials when its roots differ from those in use. */
  private watchBundle(): void {
    const read = this.opts.bundle;
    const every = this.opts.bundleCheckMs ?? BUNDLE_CHECK_MS;
    if (typeof read === 'string' || every <= 0 || this.bundleTimer) return;
    this.bundleTimer = setInterval(() => {
      void (async () => {
        if (!this.creds || this.inFlight || this.stopped) return;
        let now: TrustBundle;
        try {
          now = TrustBundle.fromPem(await read());
        } catch {
          return; // a half-written or broken file: the renewal reports it if it persists
        }
        if (trustKey(now) === trustKey(this.creds.bundle)) return;
        this.log.info('trust bundle changed; renewing the certificate now', { identity: this.opts.identity, roots: now.roots.length });
        await this.refresh();
      })();
    }, every);
    this.bundleTimer.unref();
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    // Capped: Node fires longer timeouts at once, which would turn a long-lived leaf into a renewal loop.
    this.timer = setTimeout(() => void this.refresh(), Math.min(ms, MAX_TIMER_MS));
    this.timer.unref();
  }

  private armExpiry(notAfter: Date): void {
    clearTimeout(this.expiryTimer);
    const left = notAfter.getTime() - Date.now();
    this.expiryTimer = setTimeout(() => {
      if (this.creds?.notAfter.getTime() !== notAfter.getTime()) return;
      if (Date.now() < notAfter.getTime()) this.armExpiry(notAfter);
      else this.setState('Unavailable');
    }, Math.min(Math.max(0, left), MAX_TIMER_MS));
    this.expiryTimer.unref();
  }
}
