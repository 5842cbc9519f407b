// Errors the REST core answers with. Each becomes a Kubernetes `Status` object with the HTTP code and
// reason Kubernetes itself would send, so clients (client-node, kubectl) react exactly as they would
// against a real API server. `code` is a stable string for logs and tests.

export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export type StatusReason =
  | 'BadRequest'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Gone'
  | 'Invalid'
  | 'MethodNotAllowed'
  | 'NotAcceptable'
  | 'UnsupportedMediaType'
  | 'RequestEntityTooLarge'
  | 'Expired'
  | 'InternalError'
  | 'ServiceUnavailable'
  | 'Timeout';

const httpStatus: Record<StatusReason, number> = {
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  NotAcceptable: 406,
  AlreadyExists: 409,
  Conflict: 409,
  Gone: 410,
  Expired: 410,
  RequestEntityTooLarge: 413,
  UnsupportedMediaType: 415,
  Invalid: 422,
  InternalError: 500,
  ServiceUnavailable: 503,
  Timeout: 504,
};

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(
    readonly reason: StatusReason,
    message: string,
    readonly details: StatusDetails = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = httpStatus[reason];
    this.code = `APISERVER_${reason.replace(/[A-Z]/g, (c, i: number) => (i ? '_' : '') + c).toUpperCase()}`;
  }
}

export interface StatusObject {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message: string;
  reason: string;
  details?: StatusDetails;
  code: number;
}

function qualified(resource: string, group: string): string {
  return group ? `${resource}.${group}` : resource;
}

export const notFound = (resource: string, group: string, name: string): ApiError =>
  new ApiError('NotFound', `${qualified(resource, group)} "${name}" not found`, { name, group, kind: resource });

export const alreadyExists = (resource: string, group: string, name: string): ApiError =>
  new ApiError('AlreadyExists', `${qualified(resource, group)} "${name}" already exists`, { name, group, kind: resource });

export const conflict = (resource: string, group: string, name: string, why: string, causes?: StatusCause[]): ApiError =>
  new ApiError('Conflict', `Operation cannot be fulfilled on ${qualified(resource, group)} "${name}": ${why}`, {
    name,
    group,
    kind: resource,
    ...(causes ? { causes } : {}),
  });

export const badRequest = (message: string): ApiError => new ApiError('BadRequest', message);

/** 422 as Kubernetes' field validation writes it: `<Kind>[.group] "<name>" is invalid: <field>: <detail>`. */
export function invalid(kind: string, group: string, name: string, causes: StatusCause[]): ApiError {
  const text = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message)).join(', ');
  const what = group ? `${kind}.${group}` : kind;
  return new ApiError('Invalid', `${what} "${name}" is invalid: ${text}`, { name, group, kind, causes });
}

export const gone = (message: string): ApiError => new ApiError('Expired', message);

/** Any thrown value → a Status. Errors from the security module carry the same status/reason shape. */
export function toStatus(err: unknown): StatusObject {
  if (isStatusLike(err)) {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: err.message,
      reason: err.reason,
      ...(err.details && Object.keys(err.details).length ? { details: err.details } : {}),
      code: err.status,
    };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `Internal error: ${message}`, reason: 'InternalError', code: 500 };
}

function isStatusLike(err: unknown): err is { status: number; reason: string; message: string; details?: StatusDetails } {
  if (!(err instanceof Error)) return false;
  const e = err as Error & { status?: unknown; reason?: unknown };
  return typeof e.status === 'number' && typeof e.reason === 'string' && e.status >= 400 && e.status < 600;
}
