// The Identity service's decision: may this token have a certificate for this identity and this CSR?
// Returns a leaf or throws CertifyError, a domain error; only the gRPC adapter turns kinds into status codes.
import { z } from 'zod';
import { IDENTITY_TOKEN_AUDIENCE, ISSUER_SECRET, MESH_NAMESPACE, isLinkServiceAccount } from '../api/index.js';
import { TrustError, parseCsr, MAX_CSR_BYTES, parseWorkloadId, issueLeaf, type CertificateAuthority, type Leaf } from '../trust/index.js';
import { serviceAccountOf, type TokenReviewer } from './token-review.js';

export type CertifyErrorKind = 'invalid-argument' | 'unauthenticated' | 'permission-denied' | 'unavailable';

export class CertifyError extends Error {
  constructor(
    readonly kind: CertifyErrorKind,
    /** A stable code for logs and metrics, e.g. CSR_IDENTITY_MISMATCH. */
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'CertifyError';
  }
}

export const MAX_TOKEN_BYTES = 16 * 1024;

export const certifyRequestSchema = z.object({
  identity: z.string().min(1, 'identity is empty').max(2048, 'identity is longer than 2048 bytes'),
  token: z.instanceof(Buffer).refine((b) => b.length > 0, 'token is empty').refine((b) => b.length <= MAX_TOKEN_BYTES, `token is longer than ${MAX_TOKEN_BYTES} bytes`),
  csr: z.instanceof(Buffer).refine((b) => b.length > 0, 'csr is empty').refine((b) => b.length <= MAX_CSR_BYTES, `csr is longer than ${MAX_CSR_BYTES} bytes`),
});

export type CertifyRequest = z.infer<typeof certifyRequestSchema>;

export interface CertifyDeps {
  reviewer: TokenReviewer;
  /** The current issuer (reloaded from the Secret); undefined while none is loaded. */
  issuer: () => CertificateAuthority | undefined;
  ttlSeconds: number;
  audience?: string;
  /** The mesh namespace, where the link ServiceAccounts live (default mesh-system). */
  meshNamespace?: string;
  now?: () => Date;
}

export async function certify(input: unknown, deps: CertifyDeps): Promise<Leaf> {
  const parsed = certifyRequestSchema.safeParse(input);
  if (!parsed.success) {
    throw new CertifyError('invalid-argument', 'BAD_REQUEST', parsed.error.issues.map((i) => `${i.path.join('.') || 'request'}: ${i.message}`).join('; '));
  }
  const req = parsed.data;
  const issuer = deps.issuer();
  if (!issuer) throw new CertifyError('unavailable', 'NO_ISSUER', `the identity service has no issuer loaded yet (Secret ${ISSUER_SECRET} missing or invalid)`);

  let id;
  try {
    id = parseWorkloadId(req.identity, issuer.trustDomain);
  } catch (err) {
    throw new CertifyError('invalid-argument', 'BAD_IDENTITY', (err as Error).message);
  }
  // A link ServiceAccount may mint tokens for itself (renewal), any audience included: its tokens are
  // another cluster's read credentials, never a workload identity here.
  if (isLinkServiceAccount(id.namespace, id.serviceAccount, deps.meshNamespace ?? MESH_NAMESPACE)) {
    throw new CertifyError('permission-denied', 'LINK_CREDENTIALS', `${req.identity} is a link ServiceAccount (another cluster's read credentials), never a workload identity`);
  }

  // Cheap, local checks before the network round trip.
  let csr;
  try {
    csr = parseCsr(req.csr);
  } catch (err) {
    throw new CertifyError('invalid-argument', err instanceof TrustError && err.code === 'CSR_SIGNATURE' ? 'CSR_SIGNATURE' : 'BAD_CSR', (err as Error).message);
  }
  if (csr.otherSans) throw new CertifyError('invalid-argument', 'CSR_EXTRA_NAMES', 'the CSR asks for DNS, IP or email names; only the SPIFFE URI is issued');
  if (csr.uris.length !== 1 || csr.uris[0] !== req.identity) {
    throw new CertifyError('permission-denied', 'CSR_IDENTITY_MISMATCH', `the CSR asks for ${csr.uris.length ? csr.uris.join(', ') : 'no URI SAN'}, but the request is for ${req.identity}`);
  }

  const audience = deps.audience ?? IDENTITY_TOKEN_AUDIENCE;
  let review;
  try {
    review = await deps.reviewer.review(req.token.toString('utf8').trim(), [audience]);
  } catch (err) {
    throw new CertifyError('unavailable', 'TOKEN_REVIEW_FAILED', `could not review the token with the API server: ${(err as Error).message}`);
  }
  if (!review.authenticated) throw new CertifyError('unauthenticated', 'TOKEN_REJECTED', `the ServiceAccount token was not accepted: ${review.error}`);
  if (review.audiences && !review.audiences.includes(audience)) {
    throw new CertifyError('unauthenticated', 'TOKEN_AUDIENCE', `the token is not for audience ${audience} (it is for ${review.audiences.join(', ') || 'none'})`);
  }
  const sa = serviceAccountOf(review.username);
  if (!sa) throw new CertifyError('permission-denied', 'NOT_A_SERVICEACCOUNT', `the token belongs to ${review.username}, not a ServiceAccount`);
  if (sa.namespace !== id.namespace || sa.name !== id.serviceAccount) {
    throw new CertifyError('permission-denied', 'IDENTITY_MISMATCH', `the token proves ServiceAccount ${sa.namespace}/${sa.name}, but the request is for ${req.identity}`);
  }
  try {
    return issueLeaf({ issuer, identity: req.identity, csr, ttlSeconds: deps.ttlSeconds, now: deps.now?.() });
  } catch (err) {
    if (err instanceof TrustError && err.code === 'ISSUER_EXPIRED') throw new CertifyError('unavailable', 'ISSUER_EXPIRED', err.message);
    throw new CertifyError('invalid-argument', 'ISSUE_FAILED', (err as Error).message);
  }
}
