// One error class for the trust module, with a stable code per failure so callers (the gRPC adapter,
// the CLI, the gateway) can map it without parsing messages.
export type TrustErrorCode =
  | 'INVALID_SPIFFE_ID'
  | 'INVALID_PEM'
  | 'INVALID_KEY'
  | 'INVALID_CERT'
  | 'INVALID_CSR'
  | 'CSR_SIGNATURE'
  | 'ISSUER_EXPIRED'
  | 'INVALID_ARGUMENT'
  | 'FILE_ERROR'
  | 'NO_PEER_CERT'
  | 'PEER_UNTRUSTED'
  | 'PEER_NO_IDENTITY'
  | 'WRONG_TRUST_DOMAIN'
  | 'PEER_NOT_ALLOWED';

export class TrustError extends Error {
  constructor(
    readonly code: TrustErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'TrustError';
  }
}

export function isTrustError(err: unknown, code?: TrustErrorCode): err is TrustError {
  return err instanceof TrustError && (code === undefined || err.code === code);
}
