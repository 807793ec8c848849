/**
 * The one place where failures of `@qdrant/js-client-rest` become kumiki errors: HTTP statuses,
 * Qdrant's own messages, rate limits with Retry-After, timeouts, aborts and network failures.
 */
import {
  AbortedError,
  ConflictError,
  ForbiddenError,
  InvalidArgumentError,
  KumikiError,
  NotFoundError,
  TimeoutError,
  UnauthorizedError,
  UnavailableError,
} from '../../core/errors.js';

const COMPONENT = 'qdrant';

export type CallContext = {
  /** What was being done, e.g. `upsert into "docs"`. */
  operation: string;
  /** The server, for messages; `undefined` when the caller passed their own client. */
  url: string | undefined;
  /** The collection (or alias) the call addressed, for NotFoundError. */
  collection?: string;
  /** The caller's signal: when it fired, the failure is an abort. */
  abortSignal?: AbortSignal;
  /** Set when kumiki's own deadline fired. */
  timedOut?: { timeoutMs: number };
};

type HttpFailure = { status: number; statusText?: string; data?: unknown; url?: string };

function isHttpFailure(error: unknown): error is HttpFailure {
  return typeof error === 'object' && error !== null && typeof (error as HttpFailure).status === 'number';
}

/** Qdrant's explanation from an error body `{ status: { error } }`, else the HTTP status text. */
function qdrantMessage(failure: HttpFailure): string {
  const data = failure.data as { status?: { error?: unknown } } | string | undefined;
  if (typeof data === 'object' && data !== null && typeof data.status?.error === 'string') return data.status.error;
  if (typeof data === 'string' && data.length > 0) return data.slice(0, 500);
  return failure.statusText || `HTTP ${failure.status}`;
}

function where(context: CallContext, failure?: HttpFailure): string {
  const url = context.url ?? failure?.url;
  return url ? `Qdrant at ${url}` : 'Qdrant';
}

/** Translates anything a Qdrant call threw into a kumiki error. */
export function translateError(error: unknown, context: CallContext): KumikiError {
  if (context.abortSignal?.aborted) {
    return new AbortedError({ operation: context.operation, cause: context.abortSignal.reason, component: COMPONENT });
  }
  if (context.timedOut) {
    return new TimeoutError({
      operation: `Qdrant ${context.operation}`,
      timeoutMs: context.timedOut.timeoutMs,
      cause: error,
      component: COMPONENT,
    });
  }
  if (KumikiError.isInstance(error)) return error;
  const name = (error as { name?: unknown } | null)?.name;
  const message = error instanceof Error ? error.message : String(error);
  if (name === 'QdrantClientTimeoutError') {
    return new UnavailableError({
      message: `${where(context)} did not answer ${context.operation} in time (the client's own timeout).`,
      cause: error,
      url: context.url,
      component: COMPONENT,
    });
  }
  if (name === 'QdrantClientResourceExhaustedError' || message.startsWith('Invalid retryAfter value')) {
    // The client turns a 429 with Retry-After into this error and keeps only the delay in seconds.
    const seconds = (error as { retry_after?: unknown }).retry_after;
    const retryAfterMs = typeof seconds === 'number' && Number.isFinite(seconds) ? seconds * 1000 : undefined;
    return new UnavailableError({
      message: `${where(context)} is rate limiting ${context.operation} (429)${retryAfterMs === undefined ? '' : `; retry after ${retryAfterMs} ms`}.`,
      statusCode: 429,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      url: context.url,
      cause: error,
      component: COMPONENT,
    });
  }
  if (isHttpFailure(error)) return translateStatus(error, context);
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  if (error instanceof TypeError || (typeof cause === 'object' && cause !== null)) {
    const reason = typeof cause?.message === 'string' && cause.message ? cause.message : message;
    return new UnavailableError({
      message: `Cannot reach ${where(context)} for ${context.operation}: ${reason}. Check that the server runs and the url is right.`,
      url: context.url,
      cause: error,
      component: COMPONENT,
    });
  }
  return new UnavailableError({
    message: `${where(context)} failed during ${context.operation}: ${message}`,
    url: context.url,
    isRetryable: false,
    cause: error,
    component: COMPONENT,
  });
}

function translateStatus(failure: HttpFailure, context: CallContext): KumikiError {
  const detail = qdrantMessage(failure);
  const status = failure.status;
  const base = { cause: failure, component: COMPONENT };
  if (status === 401) {
    return new UnauthorizedError({
      ...base,
      message: `${where(context, failure)} refused ${context.operation} (401): ${detail}. Pass a valid apiKey.`,
    });
  }
  if (status === 403) {
    return new ForbiddenError({
      ...base,
      message: `${where(context, failure)} does not permit ${context.operation} (403): ${detail}`,
    });
  }
  if (status === 404) {
    return new NotFoundError({
      ...base,
      resource: 'Collection',
      name: context.collection ?? '(unknown)',
      hint: `Qdrant: ${detail}`,
    });
  }
  if (status === 409 || (status === 400 && /already exists/i.test(detail))) {
    return new ConflictError({
      ...base,
      message: `${where(context, failure)} refused ${context.operation}: ${detail}`,
    });
  }
  if (status === 429 || status === 408 || status >= 500) {
    return new UnavailableError({
      ...base,
      message: `${where(context, failure)} could not serve ${context.operation} (${status}): ${detail}`,
      statusCode: status,
      url: context.url ?? failure.url,
    });
  }
  if (status >= 400) {
    return new InvalidArgumentError({
      ...base,
      argument: `${context.operation} request`,
      issues: [{ path: '', message: `Qdrant answered ${status}: ${detail}` }],
    });
  }
  return new UnavailableError({
    ...base,
    message: `${where(context, failure)} answered ${context.operation} with an unexpected status ${status}: ${detail}`,
    statusCode: status,
    url: context.url ?? failure.url,
    isRetryable: false,
  });
}
