// The trust component's public surface: PKI (roots, issuers, leaves, CSRs), SPIFFE ids, trust bundles,
// TLS helpers, and (below) the Identity service and its client.
export { TrustError, isTrustError, type TrustErrorCode } from './errors.js';
export { DEFAULT_TRUST_DOMAIN, spiffeId, parseSpiffeId, parseWorkloadId, validateTrustDomain, type SpiffeId } from './spiffe.js';
export {
  createRoot, createIssuer, issueLeaf, loadAuthority, generateKeyPair, loadPrivateKey, loadPublicKey,
  DEFAULT_ROOT_VALIDITY_DAYS, DEFAULT_ISSUER_VALIDITY_DAYS, DEFAULT_LEAF_TTL_SECONDS,
  type CertificateAuthority, type Leaf, type KeyPair, type CreateRootOptions, type CreateIssuerOptions, type IssueLeafOptions,
} from './pki.js';
export { createCsr, parseCsr, MAX_CSR_BYTES, type ParsedCsr } from './csr.js';
export { TrustBundle, type BundleRoot } from './bundle.js';
export {
  ROOT_CERT_FILE, ROOT_KEY_FILE, ISSUER_CERT_FILE, ISSUER_KEY_FILE,
  writeAuthority, readAuthority, writeRoot, readRoot, writeIssuer, readIssuer,
} from './files.js';
export {
  secureContextOptions, createSecureContext, serverTlsOptions, clientTlsOptions, checkPeerCertificate, peerIdentity, verifyChain,
  type TlsCredentials, type IdentityMatcher,
} from './tls.js';
export { parseCertPem, parseCertsPem, uriSans, type ParsedCert } from './x509.js';
export { toPem, pemBlocks } from './der.js';
export { certify, CertifyError, certifyRequestSchema, MAX_TOKEN_BYTES, type CertifyErrorKind, type CertifyRequest, type CertifyDeps } from './certify.js';
export { KubeTokenReviewer, KeepAliveTokenReviewer, IDENTITY_TOKEN_AUDIENCE, serviceAccountOf, type TokenReviewer, type TokenReviewResult } from './token-review.js';
export {
  StaticTrustSource, KubeTrustSource, materialFromObjects, checkMaterial,
  MESH_NAMESPACE, ISSUER_SECRET, TRUST_ROOTS_CONFIGMAP, TRUST_ROOTS_KEY,
  type TrustMaterial, type TrustSource, type KubeTrustSourceOptions,
} from './trust-source.js';
export {
  startIdentityService, identityPackage, IDENTITY_PORT, IDENTITY_SERVICE_ACCOUNT, IDENTITY_PROTO_PATH, MAX_REQUEST_BYTES,
  type IdentityService, type IdentityServiceOptions,
} from './identity-server.js';
export { IdentityClient, IdentityCallError, type CertifyResult, type IdentityClientOptions } from './identity-client.js';
export {
  CertificateManager, RENEW_FRACTION, type CertificateState, type Credentials, type CertificateManagerOptions,
} from './certificate-manager.js';
