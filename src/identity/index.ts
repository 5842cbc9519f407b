// The Identity service (gRPC `mesh.identity.v1.Identity/Certify`) and what surrounds it: the validator
// (certify), TokenReview, the issuer and bundle source watched in mesh-system, the gRPC client, and the
// workload-side CertificateManager that renews a leaf through it. Apart from src/trust so that the trust
// core carries neither gRPC nor the Kubernetes client.
export { certify, CertifyError, certifyRequestSchema, MAX_TOKEN_BYTES, type CertifyErrorKind, type CertifyRequest, type CertifyDeps } from './certify.js';
export { KubeTokenReviewer, KeepAliveTokenReviewer, serviceAccountOf, type TokenReviewer, type TokenReviewResult } from './token-review.js';
export {
  StaticTrustSource, KubeTrustSource, materialFromObjects, checkMaterial, materialKey,
  type TrustMaterial, type TrustSource, type KubeTrustSourceOptions,
} from './trust-source.js';
export {
  startIdentityService, identityPackage, IDENTITY_PROTO_PATH, MAX_REQUEST_BYTES,
  type IdentityService, type IdentityServiceOptions,
} from './identity-server.js';
export { IdentityClient, IdentityCallError, type CertifyResult, type IdentityClientOptions } from './identity-client.js';
export {
  CertificateManager, RENEW_FRACTION, type CertificateState, type Credentials, type CertificateManagerOptions,
} from './certificate-manager.js';
