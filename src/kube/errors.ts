// Errors from the Kubernetes API, whichever client raised them: our KubeClient throws KubeApiError; client-node
// 1.x throws ApiException. Both carry the HTTP status in `code`, so the predicates below work on either.

/** An API request that got a non-2xx answer. `code` is the HTTP status; `reason` the Status reason if any. */
export class KubeApiError extends Error {
  readonly name = 'KubeApiError';
  constructor(
    readonly code: number,
    message: string,
    readonly reason?: string,
    readonly body?: unknown,
  ) {
    super(message);
  }
}

/** The API server could not be reached at all (refused, reset, DNS, TLS, timeout). */
export class KubeUnreachableError extends Error {
  readonly name = 'KubeUnreachableError';
  readonly code = 'KUBE_UNREACHABLE';
  constructor(message: string, readonly cause?: unknown) {
    super(message);
  }
}

/** The caller's AbortSignal fired (e.g. its reconcile timed out): the request was not sent, or was cut off. */
export class KubeAbortedError extends Error {
  readonly name = 'KubeAbortedError';
  readonly code = 'KUBE_ABORTED';
}

/** Configuration could not be loaded (no kubeconfig, bad YAML, unknown context). */
export class KubeConfigError extends Error {
  readonly name = 'KubeConfigError';
  readonly code = 'KUBE_CONFIG';
}

/** HTTP status of an API error from either client, or undefined for non-HTTP failures. */
export function statusCodeOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.statusCode === 'number') return e.statusCode;
  return undefined;
}

export const isNotFound = (err: unknown): boolean => statusCodeOf(err) === 404;
export const isConflict = (err: unknown): boolean => statusCodeOf(err) === 409;
export const isGone = (err: unknown): boolean => statusCodeOf(err) === 410;
export const isAlreadyExists = (err: unknown): boolean => statusCodeOf(err) === 409;
/** 401 or 403: the credentials are wrong, expired or lack permission. */
export const isAuthError = (err: unknown): boolean => {
  const c = statusCodeOf(err);
  return c === 401 || c === 403;
};

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
