// TLS with mesh identities. Node's TLS (OpenSSL) does path validation when `ca` = the bundle and
// `rejectUnauthorized` is on; these helpers add what OpenSSL does not know: peers are named by a SPIFFE
// URI SAN, not a hostname, and must be in our trust domain.
import tls, { type PeerCertificate, type TLSSocket } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { TrustError } from './errors.js';
import { TrustBundle } from './bundle.js';
import { issuerAttributes, parseCertDer, parseCertsPem, uriSans, type ParsedCert } from './x509.js';
import { parseSpiffeId, type SpiffeId } from './spiffe.js';

/** What a workload presents and trusts. `chainPem` is leaf first, then intermediates. */
export interface TlsCredentials {
  keyPem: string;
  chainPem: string;
  bundle: TrustBundle | string;
}

const bundlePem = (b: TrustBundle | string): string => (typeof b === 'string' ? b : b.pem());
const bundleOf = (b: TrustBundle | string): TrustBundle => (typeof b === 'string' ? TrustBundle.fromPem(b) : b);

/** key/cert/ca for tls.createSecureContext or server.setSecureContext. */
export function secureContextOptions(c: TlsCredentials): tls.SecureContextOptions {
  return { key: c.keyPem, cert: c.chainPem, ca: bundlePem(c.bundle), minVersion: 'TLSv1.2' };
}

export function createSecureContext(c: TlsCredentials): tls.SecureContext {
  return tls.createSecureContext(secureContextOptions(c));
}

/** Options for tls.createServer: mutual TLS, client chains verified against the bundle. */
export function serverTlsOptions(c: TlsCredentials, opts: { requireClientCert?: boolean; alpn?: string[] } = {}): tls.TlsOptions {
  const require = opts.requireClientCert ?? true;
  return { ...secureContextOptions(c), requestCert: true, rejectUnauthorized: require, ...(opts.alpn ? { ALPNProtocols: opts.alpn } : {}) };
}

/**
 * A check on the peer's identity: an exact SPIFFE id, a list of them, or a predicate. Undefined = any
 * identity in the bundle's trust domain(s).
 */
export type IdentityMatcher = string | string[] | ((id: SpiffeId) => boolean);

function matches(m: IdentityMatcher | undefined, id: SpiffeId): boolean {
  if (m === undefined) return true;
  if (typeof m === 'string') return id.uri === m;
  if (Array.isArray(m)) return m.includes(id.uri);
  return m(id);
}

/**
 * Options for tls.connect: present our chain (if any), verify the server against the bundle and check
 * its SPIFFE id instead of the hostname.
 */
export function clientTlsOptions(
  c: { keyPem?: string; chainPem?: string; bundle: TrustBundle | string },
  opts: { expectedIdentity?: IdentityMatcher; trustDomain?: string; alpn?: string[]; servername?: string } = {},
): tls.ConnectionOptions {
  const bundle = bundleOf(c.bundle);
  const domains = opts.trustDomain ? [opts.trustDomain] : bundle.trustDomains();
  return {
    ...(c.keyPem && c.chainPem ? { key: c.keyPem, cert: c.chainPem } : {}),
    ca: bundle.pem(),
    minVersion: 'TLSv1.2',
    rejectUnauthorized: true,
    ...(opts.alpn ? { ALPNProtocols: opts.alpn } : {}),
    ...(opts.servername ? { servername: opts.servername } : {}),
    checkServerIdentity: (_host: string, cert: PeerCertificate) => checkPeerCertificate(cert, domains, opts.expectedIdentity),
  };
}

/** The checkServerIdentity used above, exported for grpc-js's `checkServerIdentity` option. */
export function checkPeerCertificate(cert: PeerCertificate, trustDomains: string[], expected?: IdentityMatcher): Error | undefined {
  try {
    if (!cert?.raw) throw new TrustError('NO_PEER_CERT', 'the peer sent no certificate');
    const id = identityOf(parseCertDer(cert.raw), trustDomains);
    if (!matches(expected, id)) throw new TrustError('PEER_NOT_ALLOWED', `peer identity ${id.uri} is not the expected ${describe(expected)}`);
    return undefined;
  } catch (err) {
    return err as Error;
  }
}

function describe(m: IdentityMatcher | undefined): string {
  return typeof m === 'string' ? m : Array.isArray(m) ? m.join(' or ') : 'identity';
}

function identityOf(cert: ParsedCert, trustDomains: string[]): SpiffeId {
  const spiffe = uriSans(cert).filter((u) => u.startsWith('spiffe://'));
  if (spiffe.length !== 1) {
    throw new TrustError('PEER_NO_IDENTITY', spiffe.length === 0 ? 'the peer certificate has no SPIFFE URI SAN' : 'the peer certificate has more than one SPIFFE id');
  }
  const id = parseSpiffeId(spiffe[0]!);
  if (trustDomains.length > 0 && !trustDomains.includes(id.trustDomain)) {
    throw new TrustError('WRONG_TRUST_DOMAIN', `peer identity ${id.uri} is not in trust domain ${trustDomains.join(' or ')}`);
  }
  return id;
}

/** A peer whose certificate chain OpenSSL verified against the trust bundle during the handshake. */
export interface VerifiedPeer {
  id: SpiffeId;
  /**
   * The cluster whose issuer signed the peer's leaf: the OU of the leaf's issuer name (createIssuer puts
   * the cluster there). Authentic because the chain was verified and issuers cannot sign CAs (pathLen 0).
   * Undefined when the issuer names none.
   */
  cluster: string | undefined;
}

/**
 * The verified peer on a TLS socket: its SPIFFE id (in one of `trustDomain`, when given) and its issuer's
 * cluster. Throws TrustError: NO_PEER_CERT, PEER_UNTRUSTED (chain not verified against the bundle),
 * PEER_NO_IDENTITY, INVALID_SPIFFE_ID, WRONG_TRUST_DOMAIN.
 */
export function verifiedPeer(socket: TLSSocket, opts: { trustDomain?: string | string[] } = {}): VerifiedPeer {
  const cert = socket.getPeerX509Certificate();
  if (!cert) throw new TrustError('NO_PEER_CERT', 'the peer presented no certificate');
  if (!socket.authorized) {
    throw new TrustError('PEER_UNTRUSTED', `the peer certificate is not trusted: ${String(socket.authorizationError ?? 'not verified')}`);
  }
  const domains = opts.trustDomain === undefined ? [] : Array.isArray(opts.trustDomain) ? opts.trustDomain : [opts.trustDomain];
  const parsed = parseCertDer(cert);
  return { id: identityOf(parsed, domains), cluster: issuerAttributes(parsed).OU };
}

/** The verified SPIFFE id of the peer on a TLS socket (verifiedPeer without the cluster). */
export function peerIdentity(socket: TLSSocket, opts: { trustDomain?: string | string[] } = {}): SpiffeId {
  return verifiedPeer(socket, opts).id;
}

/**
 * Checks a chain (leaf first) against the bundle without a TLS handshake: signatures, CA flags, validity
 * at `now`, and the leaf's SPIFFE id in the roots' trust domain. Returns the leaf's identity.
 * (OpenSSL checks the same on a handshake; this is for files, CLIs and tests.)
 */
export function verifyChain(chainPem: string, bundle: TrustBundle | string, opts: { now?: Date } = {}): SpiffeId {
  const b = bundleOf(bundle);
  const chain = parseCertsPem(chainPem);
  if (chain.length === 0) throw new TrustError('INVALID_PEM', 'the chain has no certificates');
  const now = (opts.now ?? new Date()).getTime();
  const anchors = b.roots.map((r) => r.cert);
  for (const c of chain) {
    if (c.notBefore.getTime() > now || c.notAfter.getTime() < now) {
      throw new TrustError('PEER_UNTRUSTED', `certificate ${describeCert(c.x509)} is not valid now (valid ${c.notBefore.toISOString()} to ${c.notAfter.toISOString()})`);
    }
  }
  let cur = chain[0]!;
  const rest = chain.slice(1);
  for (let depth = 0; depth < 4; depth++) {
    const anchor = anchors.find((a) => cur.x509.checkIssued(a.x509) && cur.x509.verify(a.x509.publicKey));
    if (anchor) {
      if (!anchor.x509.ca) throw new TrustError('PEER_UNTRUSTED', 'the bundle root is not a CA');
      return identityOf(chain[0]!, b.trustDomains());
    }
    const next = rest.find((p) => cur.x509.checkIssued(p.x509) && cur.x509.verify(p.x509.publicKey));
    if (!next) throw new TrustError('PEER_UNTRUSTED', `no issuer for ${describeCert(cur.x509)} in the chain or the trust bundle`);
    if (!next.x509.ca) throw new TrustError('PEER_UNTRUSTED', `${describeCert(cur.x509)} is signed by ${describeCert(next.x509)}, which is not a CA`);
    cur = next;
  }
  throw new TrustError('PEER_UNTRUSTED', 'the chain is too long');
}

function describeCert(c: X509Certificate): string {
  return c.subject ? c.subject.replace(/\n/g, ', ') : (c.subjectAltName ?? 'certificate');
}
