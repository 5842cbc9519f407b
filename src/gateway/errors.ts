// One error class for the gateway, each failure with a stable code. Refusals on the wire map a code to an
// HTTP/2 status (inbound) or a socket reset (outbound); logs and metrics carry the same code as `reason`.
export type GatewayErrorCode =
  | 'BAD_AUTHORITY' // :authority / pipe header not <svc>.<ns>.svc.<domain>:<port>
  | 'NOT_CONNECT' // a method other than CONNECT (or GET /live)
  | 'UNKNOWN_SERVICE' // not an exported Service of this cluster
  | 'UNDECLARED_PORT' // exported Service, but not one of its ports
  | 'UNKNOWN_HOST' // headless pod hostname not found among the Service's endpoints
  | 'FORBIDDEN' // peer identity not allowed by policy
  | 'NO_ENDPOINTS' // the Service has no ready endpoint
  | 'UPSTREAM_CONNECT' // connecting to the target failed
  | 'UPSTREAM_TIMEOUT' // connecting to the target timed out
  | 'OVERLOADED' // stream / connection limit reached
  | 'DRAINING' // the gateway is shutting down
  | 'NO_ROUTE' // outbound port without a route, or link without gateway addresses
  | 'REMOTE_UNAVAILABLE' // no connection to the remote gateway could be made
  | 'REMOTE_REFUSED' // the remote gateway answered with a refusal
  | 'BAD_CONFIG'
  | 'USAGE' // a flag, or the environment a flag defaults to, is invalid (the CLI's exit 2)
  | 'BAD_CREDENTIALS';

export class GatewayError extends Error {
  constructor(
    readonly code: GatewayErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'GatewayError';
  }
}

/** HTTP status answered for an inbound refusal (CONNECT response or pipe status). */
export function statusFor(code: GatewayErrorCode): number {
  switch (code) {
    case 'BAD_AUTHORITY':
      return 400;
    case 'NOT_CONNECT':
      return 405;
    case 'FORBIDDEN':
      return 403;
    case 'UNKNOWN_SERVICE':
    case 'UNDECLARED_PORT':
    case 'UNKNOWN_HOST':
      return 404;
    case 'UPSTREAM_CONNECT':
    case 'REMOTE_REFUSED':
      return 502;
    case 'UPSTREAM_TIMEOUT':
      return 504;
    case 'NO_ENDPOINTS':
    case 'OVERLOADED':
    case 'DRAINING':
    case 'NO_ROUTE':
    case 'REMOTE_UNAVAILABLE':
      return 503;
    case 'BAD_CONFIG':
    case 'USAGE':
    case 'BAD_CREDENTIALS':
      return 500;
  }
}
