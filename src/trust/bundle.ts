// The trust bundle: the root or roots a peer's chain must end in. Several roots are normal during a
// rotation (old + new); a certificate from any other root is refused.
import { TrustError } from './errors.js';
import { certPem, parseCertsPem, subjectAttributes, type ParsedCert } from './x509.js';

export interface BundleRoot {
  cert: ParsedCert;
  pem: string;
  /** SHA-256 fingerprint, as Node prints it (AA:BB:…). */
  fingerprint: string;
  trustDomain?: string;
}

export class TrustBundle {
  readonly roots: readonly BundleRoot[];

  constructor(roots: BundleRoot[]) {
    if (roots.length === 0) throw new TrustError('INVALID_CERT', 'a trust bundle needs at least one root');
    // Same root twice is harmless but noisy in a PEM file: keep the first.
    const seen = new Set<string>();
    this.roots = roots.filter((r) => (seen.has(r.fingerprint) ? false : (seen.add(r.fingerprint), true)));
  }

  static fromPem(pem: string): TrustBundle {
    const certs = parseCertsPem(pem);
    if (certs.length === 0) throw new TrustError('INVALID_PEM', 'the trust bundle has no CERTIFICATE PEM blocks');
    return new TrustBundle(certs.map(toRoot));
  }

  /** The roots as one PEM text (the ConfigMap's ca-bundle.crt, tls `ca`). */
  pem(): string {
    return this.roots.map((r) => r.pem).join('');
  }

  /** The bundle with `pem`'s roots added (a rotation's first step). */
  with(pem: string): TrustBundle {
    return new TrustBundle([...this.roots, ...TrustBundle.fromPem(pem).roots]);
  }

  /** The bundle without the roots in `pem` (a rotation's last step). Refuses to empty the bundle. */
  without(pem: string): TrustBundle {
    const drop = new Set(TrustBundle.fromPem(pem).roots.map((r) => r.fingerprint));
    const left = this.roots.filter((r) => !drop.has(r.fingerprint));
    if (left.length === 0) throw new TrustError('INVALID_ARGUMENT', 'removing these roots would leave the bundle empty');
    return new TrustBundle(left);
  }

  /** The roots' fingerprints in order: two bundles with the same key trust the same roots. */
  key(): string {
    return this.roots.map((r) => r.fingerprint).join(',');
  }

  has(fingerprint: string): boolean {
    return this.roots.some((r) => r.fingerprint === fingerprint);
  }

  /** The trust domains of the roots (normally one). */
  trustDomains(): string[] {
    return [...new Set(this.roots.map((r) => r.trustDomain).filter((t): t is string => t !== undefined))];
  }
}

function toRoot(cert: ParsedCert): BundleRoot {
  if (!cert.x509.ca) throw new TrustError('INVALID_CERT', `bundle entry ${cert.x509.subject?.replace(/\n/g, ', ')} is not a CA certificate`);
  return { cert, pem: certPem(cert), fingerprint: cert.x509.fingerprint256, trustDomain: subjectAttributes(cert).O };
}

/**
 * The generation of the trust material a credential was derived from: the issuer that signed it (when the
 * consumer sees one) and the bundle it verifies peers with. Every credential consumer (the controller's
 * probe, the Identity service's serving certificate, a workload's or gateway's CertificateManager) keeps
 * the key its credentials were made under and makes them again when the key changes: a root rotation
 * changes the bundle first and the issuers later, so keying on either alone misses a step.
 */
export function trustKey(bundle: TrustBundle, issuerFingerprint = ''): string {
  return `${issuerFingerprint}|${bundle.key()}`;
}
