/**
 * Turns HTTP failures into kumiki errors, in one place, for every adapter that talks to a server over
 * fetch (the OpenAI-compatible embedder and runner). Messages name the request and what to do, carry
 * an excerpt of the response body, and never contain a secret. Internal: not part of the public surface.
 */
import {
  AbortedError,
  ForbiddenError,
  InvalidArgumentError,
  type KumikiError,
  NotFoundError,
  TimeoutError,
  UnauthorizedError,
  UnavailableError,
} from '../../core/errors.js';

/** Characters of a response body kept in error messages. */
const EXCERPT_LENGTH = 500;
const REDACTED = '[redacted]';
/** Header names whose values are credentials: never shown, and redacted wherever a server echoes them. */
const SECRET_HEADER = /auth|key|token|secret|cookie|session|password/i;

/**
 * The HTTP-level facts behind a translated error, kept as its `cause`: status, the request URL
 * (credentials and query values removed) and a redacted excerpt of the body.
 */
export class HttpResponseError extends Error {
  readonly status: number;
  readonly url: string;
  readonly bodyExcerpt: string;
  readonly retryAfterMs: number | undefined;
  constructor(options: { status: number; url: string; bodyExcerpt: string; retryAfterMs: number | undefined }) {
    super(`HTTP ${options.status} from ${options.url}${options.bodyExcerpt ? `: ${options.bodyExcerpt}` : ''}`);
    this.name = 'HttpResponseError';
    this.status = options.status;
    this.url = options.url;
    this.bodyExcerpt = options.bodyExcerpt;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** The HTTP status, URL and body excerpt behind a kumiki error, if an HTTP response caused it. */
export function httpDetails(error: unknown): HttpResponseError | undefined {
  for (let current = error, depth = 0; current !== undefined && current !== null && depth < 8; depth++) {
    if (current instanceof HttpResponseError) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Statuses worth retrying unchanged: request timeout, rate limiting, and server-side failures. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status !== 501 && status !== 505);
}

/**
 * Parses a `Retry-After` header: delay seconds (`120`) or an HTTP-date. Returns milliseconds from
 * `now` (never negative), or undefined when the header is absent or unreadable.
 */
export function retryAfterMs(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  if (!/[a-z]/i.test(text)) return undefined;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The secrets among request headers: values of Authorization, API-key, token and cookie headers. */
export function secretHeaderValues(headers: Headers): string[] {
  const secrets: string[] = [];
  headers.forEach((value, name) => {
    if (!SECRET_HEADER.test(name)) return;
    secrets.push(value);
    // `Bearer abc` is often echoed as just `abc`.
    const token = /^\s*\S+\s+(\S+)\s*$/.exec(value)?.[1];
    if (token) secrets.push(token);
  });
  return secrets;
}

/** Replaces every secret, and any `Bearer <token>` a server echoes, with `[redacted]`. */
export function redact(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of [...secrets].filter((s) => s.length > 0).sort((a, b) => b.length - a.length)) {
    result = result.split(secret).join(REDACTED);
  }
  return result.replace(/\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}/gi, `$1 ${REDACTED}`);
}

/** A short, single-line, redacted excerpt of a response body. */
export function bodyExcerpt(text: string, secrets: readonly string[]): string {
  const line = redact(text, secrets).replace(/\s+/g, ' ').trim();
  return line.length > EXCERPT_LENGTH ? `${line.slice(0, EXCERPT_LENGTH)}… (${line.length} characters)` : line;
}

/** A URL fit for messages: no user name or password, query values replaced. */
export function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    for (const key of [...parsed.searchParams.keys()]) parsed.searchParams.set(key, REDACTED);
    return parsed.toString();
  } catch {
    return '(invalid URL)';
  }
}

/** What an error message needs to know about the request. */
export type HttpErrorContext = {
  /** What was being done, e.g. `OpenAI-compatible embeddings request`. */
  operation: string;
  method: string;
  /** The URL as shown in messages (see `describeUrl`). */
  url: string;
  component: string;
  secrets: readonly string[];
};

const HINTS: Record<number, string> = {
  400: 'The server rejected the request as invalid; the excerpt says why.',
  401: 'Check the API key (apiKey option or token provider).',
  403: 'The credentials are valid but not allowed to do this; check the key’s permissions for this model.',
  404: 'Check the base URL (OpenAI-compatible servers usually serve under /v1) and the model name.',
  413: 'The request is too large for the server; send fewer or shorter inputs.',
  422: 'The server rejected the request as invalid; the excerpt says why.',
  429: 'The server is rate-limiting; requests are retried with backoff, honouring Retry-After.',
};

/** Translates a non-2xx response into the matching kumiki error, with an `HttpResponseError` as cause. */
export function errorFromResponse(
  response: { status: number; statusText: string; headers: Headers },
  body: string,
  context: HttpErrorContext,
): KumikiError {
  const { status } = response;
  const excerpt = bodyExcerpt(body, context.secrets);
  const retryAfter = retryAfterMs(response.headers.get('retry-after'));
  const cause = new HttpResponseError({ status, url: context.url, bodyExcerpt: excerpt, retryAfterMs: retryAfter });
  const hint =
    HINTS[status] ??
    (isRetryableStatus(status) ? 'The server failed or is overloaded; retryable.' : 'The server refused the request.');
  const statusText = response.statusText ? ` ${response.statusText}` : '';
  const detail = `${context.method} ${context.url} answered HTTP ${status}${statusText}${excerpt ? `: ${excerpt}` : ' with an empty body'}. ${hint}`;
  const message = `${context.operation} failed: ${detail}`;
  const common = { cause, component: context.component };
  switch (status) {
    case 400:
    case 413:
    case 422:
      return new InvalidArgumentError({
        ...common,
        argument: 'request',
        issues: [{ path: '', message: detail }],
        message,
      });
    case 401:
      return new UnauthorizedError({ ...common, message });
    case 403:
      return new ForbiddenError({ ...common, message });
    case 404:
      return new NotFoundError({ ...common, resource: 'Endpoint', name: context.url, hint: detail });
    default:
      return new UnavailableError({
        ...common,
        message,
        statusCode: status,
        retryAfterMs: retryAfter,
        url: context.url,
        isRetryable: isRetryableStatus(status),
      });
  }
}

/** The messages of an error and its causes, e.g. `fetch failed (connect ECONNREFUSED 127.0.0.1:1)`. */
function describeFailure(error: unknown): string {
  const parts: string[] = [];
  for (let current = error, depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    const text =
      current instanceof Error
        ? current.message || current.name
        : typeof current === 'string'
          ? current
          : JSON.stringify(current);
    const code = (current as { code?: unknown }).code;
    const withCode = typeof code === 'string' && !text.includes(code) ? `${text} [${code}]` : text;
    if (withCode && !parts.includes(withCode)) parts.push(withCode);
    current = (current as { cause?: unknown }).cause;
  }
  const [first, ...rest] = parts;
  return `${first ?? 'unknown error'}${rest.length > 0 ? ` (${rest.join('; ')})` : ''}`;
}

/**
 * Translates a failure that is not an HTTP status: the caller's abort, the timeout, or a network error
 * (refused, reset, DNS, a connection dropped while the body was read), which is retryable.
 */
export function errorFromFailure(
  error: unknown,
  context: HttpErrorContext & {
    phase: 'request' | 'body';
    timedOut: boolean;
    timeoutMs: number | undefined;
    aborted: boolean;
  },
): KumikiError {
  const operation = `${context.operation} (${context.method} ${context.url})`;
  if (context.timedOut && context.timeoutMs !== undefined) {
    return new TimeoutError({ operation, timeoutMs: context.timeoutMs, cause: error, component: context.component });
  }
  if (context.aborted) return new AbortedError({ operation, cause: error, component: context.component });
  const what =
    context.phase === 'request'
      ? `could not reach ${context.url}`
      : `the connection broke while reading the response from ${context.url}`;
  return new UnavailableError({
    message: `${context.operation} failed: ${what}: ${redact(describeFailure(error), context.secrets)}. Check that the server is running and reachable at that URL; network errors are retried.`,
    cause: error,
    component: context.component,
    url: context.url,
    isRetryable: true,
  });
}
