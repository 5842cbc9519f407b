// The trust core's public surface: PKI (roots, issuers, leaves, CSRs), SPIFFE ids, trust bundles and TLS
// with mesh identities. Light by design (node:crypto and a small DER module: no ASN.1 library, no gRPC, no
// Kubernetes client), so the gateway loads it; the Identity service and its client live in src/identity.
export { TrustError, isTrustError, type TrustErrorCode } from './errors.js';
export { spiffeId, parseSpiffeId, parseWorkloadId, validateTrustDomain, type SpiffeId } from './spiffe.js';
export {
  createRoot, createIssuer, issueLeaf, loadAuthority, generateKeyPair, loadPrivateKey, loadPublicKey,
  DEFAULT_ROOT_VALIDITY_DAYS, DEFAULT_ISSUER_VALIDITY_DAYS, DEFAULT_LEAF_TTL_SECONDS,
  type CertificateAuthority, type Leaf, type KeyPair, type CreateRootOptions, type CreateIssuerOptions, type IssueLeafOptions,
} from './pki.js';
export { createCsr, parseCsr, MAX_CSR_BYTES, type ParsedCsr } from './csr.js';
export { TrustBundle, trustKey, type BundleRoot } from './bundle.js';
export {
  ROOT_CERT_FILE, ROOT_KEY_FILE, ISSUER_CERT_FILE, ISSUER_KEY_FILE,
  writeAuthority, readAuthority, writeRoot, readRoot, writeIssuer, readIssuer,
} from './files.js';
export {
  secureContextOptions, createSecureContext, serverTlsOptions, clientTlsOptions, checkPeerCertificate, peerIdentity, verifiedPeer, verifyChain,
  type TlsCredentials, type IdentityMatcher, type VerifiedPeer,
} from './tls.js';
export { parseCertPem, parseCertsPem, parseCertDer, uriSans, subjectAttributes, issuerAttributes, type ParsedCert, type NameFields } from './x509.js';
export { toPem, pemBlocks } from './der.js';
