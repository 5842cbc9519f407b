// The Identity page: each cluster's trust roots and issuer (certificates only; keys are never read into
// a view), and where a root rotation stands (`mesh trust rotate --help` has the three steps).
import { TrustBundle, parseCertPem, type ParsedCert, type BundleRoot } from '../trust/index.js';
import { errorMessage } from '../kube/index.js';
import type { CertView, ClusterTrustView, Health, IdentityResponse } from './model.js';
import type { TrustPems } from './cluster-source.js';

/** Below this many days an issuer or root is shown amber (the `mesh check` threshold for issuers). */
export const EXPIRY_WARN_DAYS = 30;

function certView(cert: ParsedCert, now: Date, trustDomain?: string): CertView {
  const subject = cert.x509.subject.replace(/\n/g, ', ');
  return {
    subject,
    fingerprint: cert.x509.fingerprint256,
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    daysLeft: Math.floor((cert.notAfter.getTime() - now.getTime()) / 86_400_000),
    ...(trustDomain ? { trustDomain } : {}),
  };
}

function signerOf(cert: ParsedCert, roots: readonly BundleRoot[]): BundleRoot | undefined {
  return roots.find((r) => cert.x509.checkIssued(r.cert.x509) && cert.x509.verify(r.cert.x509.publicKey));
}

/**
 * Where a rotation stands: one root that signed the issuer is steady; several roots mean a rotation is under
 * way — the issuer still under an older root (step 1 done) or already under the newest (step 2 done, the
 * old root can go after one leaf lifetime); an issuer no root signed is broken.
 */
export function rotationState(roots: readonly BundleRoot[], signer: BundleRoot | undefined): Pick<ClusterTrustView, 'rotation' | 'rotationText'> {
  if (!signer) return { rotation: 'broken', rotationText: 'the issuer is not signed by any root of the trust bundle: workloads here cannot be verified' };
  if (roots.length === 1) return { rotation: 'steady', rotationText: 'one root, which signed the issuer' };
  const newest = [...roots].sort((a, b) => b.cert.notBefore.getTime() - a.cert.notBefore.getTime())[0];
  if (newest.fingerprint === signer.fingerprint) {
    return { rotation: 'issuer-rotated', rotationText: `rotation step 2 done: the issuer is under the newest root; ${roots.length - 1} older root(s) still trusted until every leaf from the old issuer has expired (step 3 removes them)` };
  }
  return { rotation: 'new-root-added', rotationText: `rotation step 1 done: ${roots.length} roots trusted, the issuer is still under an older root (step 2 reissues it under the new one)` };
}

export function clusterTrust(cluster: string, reachable: boolean, pems: TrustPems | undefined, now: Date): ClusterTrustView {
  const problems: string[] = [];
  if (pems?.error) problems.push(pems.error);
  let bundle: TrustBundle | undefined;
  if (pems?.bundlePem) {
    try {
      bundle = TrustBundle.fromPem(pems.bundlePem);
    } catch (err) {
      problems.push(`trust bundle unreadable: ${errorMessage(err)}`);
    }
  }
  const roots = bundle?.roots ?? [];
  let issuer: ClusterTrustView['issuer'] = null;
  let signer: BundleRoot | undefined;
  if (pems?.issuerCertPem) {
    try {
      const cert = parseCertPem(pems.issuerCertPem);
      signer = signerOf(cert, roots);
      issuer = { ...certView(cert, now), signedBy: signer?.fingerprint ?? null };
    } catch (err) {
      problems.push(`issuer certificate unreadable: ${errorMessage(err)}`);
    }
  }
  const rot = !pems || (!bundle && !issuer) ? { rotation: 'unknown' as const, rotationText: pems ? 'no trust material readable' : 'not read yet' } : rotationState(roots, signer);
  const views = roots.map((r) => certView(r.cert, now, r.trustDomain));
  const expiring = [...views, ...(issuer ? [issuer] : [])].filter((v) => v.daysLeft < EXPIRY_WARN_DAYS);
  for (const v of expiring) problems.push(`${v.subject} ${v.daysLeft < 0 ? 'has expired' : `expires in ${v.daysLeft} day(s)`}`);
  const health: Health = !reachable && !pems ? 'unknown' : rot.rotation === 'broken' || expiring.some((v) => v.daysLeft < 0) ? 'failed' : problems.length > 0 || rot.rotation === 'unknown' ? 'warn' : 'ok';
  return { cluster, reachable, roots: views, issuer, ...rot, problems, health };
}

/** Do all clusters with readable roots trust at least one root in common (they must, to link)? */
export function sharedRoot(views: ClusterTrustView[]): IdentityResponse['shared'] {
  const withRoots = views.filter((v) => v.roots.length > 0);
  if (withRoots.length < 2) return { ok: true, detail: withRoots.length === 1 ? 'one cluster with trust roots' : 'no trust roots read yet' };
  let common = new Set(withRoots[0].roots.map((r) => r.fingerprint));
  for (const v of withRoots.slice(1)) common = new Set(v.roots.map((r) => r.fingerprint).filter((f) => common.has(f)));
  if (common.size === 0) return { ok: false, detail: `no root is trusted by all of ${withRoots.map((v) => v.cluster).join(', ')}: their workloads cannot verify each other` };
  return { ok: true, detail: `every cluster trusts ${[...common].map((f) => `${f.slice(0, 23)}…`).join(', ')}` };
}
