// The Identity service's own serving certificate: issued in-process from the current issuer, reissued when
// the trust material changes and at 70% of its life, and pushed into the running gRPC server (new
// connections get the new certificate, open ones continue) through grpc-js's CertificateProvider API.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../log/index.js';
import { generateKeyPair, issueLeaf, type Leaf } from '../trust/index.js';
import type { TrustMaterial, TrustSource } from './trust-source.js';

/**
 * A CertificateProvider (grpc-js experimental API) that we push certificates into; grpc-js then calls
 * setSecureContext on its server, so new connections get the new certificate and old ones continue.
 */
export class PushCertificateProvider implements grpc.experimental.CertificateProvider {
  private identity: grpc.experimental.IdentityCertificateUpdate | null = null;
  private ca: grpc.experimental.CaCertificateUpdate | null = null;
  private readonly idListeners = new Set<grpc.experimental.IdentityCertificateUpdateListener>();
  private readonly caListeners = new Set<grpc.experimental.CaCertificateUpdateListener>();

  push(keyPem: string, chainPem: string, bundlePem: string): void {
    this.ca = { caCertificate: Buffer.from(bundlePem) };
    this.identity = { certificate: Buffer.from(chainPem), privateKey: Buffer.from(keyPem) };
    this.caListeners.forEach((l) => l(this.ca));
    this.idListeners.forEach((l) => l(this.identity));
  }
  addCaCertificateListener(l: grpc.experimental.CaCertificateUpdateListener): void {
    this.caListeners.add(l);
    // Deliver later: grpc-js registers its watcher only after adding us as a listener (1.14), so an
    // immediate call would be lost and the server would drop every connection until the next update.
    queueMicrotask(() => { if (this.ca && this.caListeners.has(l)) l(this.ca); });
  }
  removeCaCertificateListener(l: grpc.experimental.CaCertificateUpdateListener): void {
    this.caListeners.delete(l);
  }
  addIdentityCertificateListener(l: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.idListeners.add(l);
    queueMicrotask(() => { if (this.identity && this.idListeners.has(l)) l(this.identity); });
  }
  removeIdentityCertificateListener(l: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.idListeners.delete(l);
  }
}

/** setTimeout fires at once above 2^31-1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class ServingCertificate {
  readonly provider = new PushCertificateProvider();
  private leaf: Leaf | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly source: TrustSource,
    private readonly identity: string,
    private readonly ttlSeconds: number,
    private readonly log: Logger,
  ) {
    const first = source.current();
    if (first) this.reissue(first, 'start');
    source.onChange((m) => this.reissue(m, 'trust material changed'));
  }

  current(): Leaf | undefined {
    return this.leaf;
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  private reissue(m: TrustMaterial, why: string): void {
    try {
      const kp = generateKeyPair();
      const leaf = issueLeaf({ issuer: m.issuer, identity: this.identity, publicKey: kp.publicKey, ttlSeconds: this.ttlSeconds });
      this.leaf = leaf;
      this.provider.push(kp.keyPem, leaf.chainPem, m.bundle.pem());
      this.log.info('identity service certificate issued', { identity: this.identity, why, notAfter: leaf.notAfter.toISOString() });
      clearTimeout(this.timer);
      const life = leaf.notAfter.getTime() - Date.now();
      this.timer = setTimeout(() => {
        const cur = this.source.current();
        if (cur) this.reissue(cur, 'renewal');
      }, Math.min(Math.max(1_000, life * 0.7), MAX_TIMER_MS));
      this.timer.unref();
    } catch (err) {
      this.log.error('could not issue the identity service certificate; keeping the old one', { identity: this.identity, error: (err as Error).message });
    }
  }
}
