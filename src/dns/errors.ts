/** Stable error codes of the DNS component, so callers can branch on `code`, not on messages. */
export type DnsErrorCode = 'DNS_INVALID_SERVICE' | 'DNS_INVALID_CONFIG' | 'DNS_LISTEN_FAILED';

export class DnsError extends Error {
  constructor(
    readonly code: DnsErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DnsError';
  }
}
