/**
 * Errors on the wire: every failure the gateway answers is an OpenAI error body
 * `{ error: { message, type, param, code } }` with a matching status. Kumiki errors are translated
 * here, in one place; anything else becomes a 500 that names only the request id.
 */
import {
  AbortedError,
  ConflictError,
  ContextLengthExceededError,
  ForbiddenError,
  InvalidArgumentError,
  KumikiError,
  NotFoundError,
  RateLimitedError,
  TimeoutError,
  UnauthorizedError,
  UnavailableError,
} from '../core/errors.js';

export type OpenAIErrorBody = {
  error: { message: string; type: string; param: string | null; code: string | null };
};

/** An answer the gateway decided on: status, OpenAI error fields and extra headers. */
export class GatewayHttpError extends Error {
  readonly status: number;
  readonly type: string;
  readonly param: string | null;
  readonly code: string | null;
  readonly headers: Record<string, string>;
  constructor(options: {
    status: number;
    message: string;
    type: string;
    code: string | null;
    param?: string | null;
    headers?: Record<string, string>;
    cause?: unknown;
  }) {
    super(options.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayHttpError';
    this.status = options.status;
    this.type = options.type;
    this.code = options.code;
    this.param = options.param ?? null;
    this.headers = options.headers ?? {};
  }

  body(): OpenAIErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** Names shown in messages and logs are cut to this many characters. */
const SHOWN_NAME_CHARS = 64;

/** A client-supplied name fit for a message or a log: at most 64 characters, saying how long it was. */
export function shownName(name: string): string {
  return name.length <= SHOWN_NAME_CHARS ? name : `${name.slice(0, SHOWN_NAME_CHARS)}… (${name.length} characters)`;
}

export const invalidRequest = (message: string, param: string | null = null, code: string | null = 'invalid_value') =>
  new GatewayHttpError({ status: 400, message, type: 'invalid_request_error', code, param });

export const modelNotFound = (model: string, kind: string) =>
  new GatewayHttpError({
    status: 404,
    message: `The model "${shownName(model)}" does not exist or you do not have access to it; GET /v1/models lists the ${kind} models this gateway serves.`,
    type: 'invalid_request_error',
    code: 'model_not_found',
    param: 'model',
  });

const retryAfterHeader = (ms: number | undefined): Record<string, string> =>
  ms === undefined ? {} : { 'retry-after': String(Math.max(1, Math.ceil(ms / 1000))) };

/** `issues` of an InvalidArgumentError as one message naming each field. */
function describeIssues(error: InvalidArgumentError): { message: string; param: string | null } {
  const first = error.issues[0];
  const detail = error.issues.map((issue) => (issue.path ? `${issue.path}: ${issue.message}` : issue.message));
  return { message: `Invalid request: ${detail.join('; ')}`, param: first?.path ? first.path : null };
}

/**
 * Translates any thrown value into the answer the client gets. 5xx messages never carry the
 * underlying message (it may name internal hosts); the request id lets operators find the log entry.
 */
export function toGatewayError(error: unknown, requestId: string): GatewayHttpError {
  if (error instanceof GatewayHttpError) return error;
  if (!KumikiError.isInstance(error)) {
    return new GatewayHttpError({
      status: 500,
      message: `The gateway failed to handle the request; quote request id ${requestId} to the operator.`,
      type: 'server_error',
      code: 'internal_error',
      cause: error,
    });
  }
  if (ContextLengthExceededError.isInstance(error)) {
    return new GatewayHttpError({
      status: 400,
      message: error.message,
      type: 'invalid_request_error',
      code: 'context_length_exceeded',
      param: 'messages',
    });
  }
  if (InvalidArgumentError.isInstance(error)) {
    const { message, param } = describeIssues(error);
    return new GatewayHttpError({ status: 400, message, type: 'invalid_request_error', code: 'invalid_value', param });
  }
  if (UnauthorizedError.isInstance(error)) {
    return new GatewayHttpError({
      status: 401,
      message: error.message,
      type: 'invalid_request_error',
      code: 'invalid_api_key',
      headers: { 'www-authenticate': 'Bearer' },
    });
  }
  const message = (error as KumikiError).message;
  if (ForbiddenError.isInstance(error)) {
    return new GatewayHttpError({ status: 403, message, type: 'permission_error', code: 'forbidden' });
  }
  if (NotFoundError.isInstance(error)) {
    return new GatewayHttpError({ status: 404, message, type: 'invalid_request_error', code: 'not_found' });
  }
  if (RateLimitedError.isInstance(error)) {
    return new GatewayHttpError({
      status: 429,
      message,
      type: 'requests',
      code: 'rate_limit_exceeded',
      headers: retryAfterHeader((error as RateLimitedError).retryAfterMs),
    });
  }
  if (UnavailableError.isInstance(error) && !(error as KumikiError).isRetryable) {
    // The backend answered, but with something unusable (not OpenAI-compatible, a structured answer
    // that failed its schema after the repair rounds): retrying the same request will not help.
    return new GatewayHttpError({
      status: 502,
      message: `The model or search backend gave an answer the gateway cannot use (request id ${requestId}).`,
      type: 'server_error',
      code: 'bad_gateway',
      cause: error,
    });
  }
  if (UnavailableError.isInstance(error)) {
    return new GatewayHttpError({
      status: 503,
      message: `The model or search backend is unavailable; retry later (request id ${requestId}).`,
      type: 'server_error',
      code: 'service_unavailable',
      headers: retryAfterHeader((error as UnavailableError).retryAfterMs),
      cause: error,
    });
  }
  if (TimeoutError.isInstance(error)) {
    return new GatewayHttpError({
      status: 504,
      message: `The backend did not answer in time; retry later (request id ${requestId}).`,
      type: 'server_error',
      code: 'timeout',
      cause: error,
    });
  }
  if (AbortedError.isInstance(error)) {
    // The client went away; nobody reads this answer, but logs and metrics record 499.
    return new GatewayHttpError({
      status: 499,
      message: 'The request was aborted.',
      type: 'invalid_request_error',
      code: 'aborted',
    });
  }
  if (ConflictError.isInstance(error)) {
    return new GatewayHttpError({
      status: 503,
      message: `The backend cannot serve requests in its current state (request id ${requestId}).`,
      type: 'server_error',
      code: 'service_unavailable',
      cause: error,
    });
  }
  return new GatewayHttpError({
    status: 500,
    message: `The gateway failed to handle the request; quote request id ${requestId} to the operator.`,
    type: 'server_error',
    code: 'internal_error',
    cause: error,
  });
}
