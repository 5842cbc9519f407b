// Errors the security module throws from its request handlers. The REST core turns them into a
// Kubernetes `Status` (code = status, reason = reason, details.causes = causes), so a client sees
// exactly what Kubernetes would send for the same bad request.

export type StatusReason = 'BadRequest' | 'Invalid' | 'NotFound' | 'Conflict' | 'Forbidden' | 'Unauthorized';

/** One field-level problem, as in `Status.details.causes`. */
export interface StatusCause {
  /** `FieldValueInvalid`, `FieldValueRequired`, `FieldValueNotSupported` ... */
  reason: string;
  message: string;
  field: string;
}

const httpStatus: Record<StatusReason, number> = {
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  Conflict: 409,
  Invalid: 422,
};

/**
 * A request the security module refuses. Stable `code` (`AUTH_BAD_REQUEST`, `AUTH_INVALID`, ...) for logs
 * and tests; `status`/`reason`/`details` for the Status object the client sees.
 */
export class AuthRequestError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(
    readonly reason: StatusReason,
    message: string,
    readonly details: { name?: string; group?: string; kind?: string; causes?: StatusCause[] } = {},
  ) {
    super(message);
    this.name = 'AuthRequestError';
    this.status = httpStatus[reason];
    this.code = `AUTH_${reason.replace(/[A-Z]/g, (c, i: number) => (i ? '_' : '') + c).toUpperCase()}`;
  }
}

export function badRequest(message: string): AuthRequestError {
  return new AuthRequestError('BadRequest', message);
}

/** 422 like Kubernetes' field validation: `<Kind>.<group> "<name>" is invalid: <field>: <detail>`. */
export function invalid(kind: string, group: string, name: string, causes: StatusCause[]): AuthRequestError {
  const what = `${kind}.${group} "${name}"`;
  const text = causes.map((c) => `${c.field}: ${c.message}`).join(', ');
  return new AuthRequestError('Invalid', `${what} is invalid: ${text}`, { name, group, kind, causes });
}

export function notFound(resource: string, group: string, name: string): AuthRequestError {
  const gr = group ? `${resource}.${group}` : resource;
  return new AuthRequestError('NotFound', `${gr} "${name}" not found`, { name, group, kind: resource });
}
