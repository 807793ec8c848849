/**
 * The outermost middleware and the error handlers: each request's state (its id, route label and
 * secrets), the in-flight gauge, request metrics and the log entry (after a stream has ended); thrown
 * errors and unknown routes answered as OpenAI error bodies with secrets scrubbed; the client's
 * disconnect as an AbortSignal.
 */
import type { Context, ErrorHandler, MiddlewareHandler, NotFoundHandler } from 'hono';
import type { Usage } from '../../core/runner.js';
import type { Env, RequestState } from '../context.js';
import { GatewayHttpError, type OpenAIErrorBody, shownName, toGatewayError } from '../errors.js';
import type { GatewayMetrics } from '../metrics.js';
import type { GatewayLogEntry } from '../options.js';
import { loggableHeaders, loggablePath, requestSecrets, scrub, scrubValue } from '../redact.js';

const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;
const ROUTES = new Set([
  '/v1/chat/completions',
  '/v1/responses',
  '/v1/completions',
  '/v1/embeddings',
  '/v1/models',
  '/v1/search',
  '/healthz',
  '/readyz',
  '/metrics',
]);

export type ClientSignal = { signal: AbortSignal; release: () => void; abort: () => void };

/** The error as its body, its message scrubbed of the request's secrets. */
export function errorBody(state: RequestState | undefined, error: GatewayHttpError): OpenAIErrorBody {
  const body = error.body();
  body.error.message = scrub(body.error.message, state?.secrets ?? []);
  return body;
}

function errorResponse(c: Context<Env>, error: GatewayHttpError): Response {
  const state = c.get('state');
  return c.json(errorBody(state, error), error.status as 400, error.headers);
}

/** Answers a thrown error with its status and OpenAI error body. */
export const onError: ErrorHandler<Env> = (error, c) => {
  const state = c.get('state');
  const translated = toGatewayError(error, state.requestId);
  state.error = translated;
  return errorResponse(c, translated);
};

export const notFound: NotFoundHandler<Env> = (c) => {
  const state = c.get('state');
  const error = new GatewayHttpError({
    status: 404,
    message: `No route ${c.req.method} ${shownName(new URL(c.req.url).pathname)}; see docs/gateway.md for the endpoints.`,
    type: 'invalid_request_error',
    code: 'unknown_url',
  });
  state.error = error;
  return errorResponse(c, error);
};

/** An AbortSignal that fires when the client disconnects (or `abort()` is called, e.g. a stream is cancelled). */
export function clientSignal(c: Context<Env>): ClientSignal {
  const controller = new AbortController();
  const incoming = c.req.raw.signal;
  const onAbort = () => controller.abort(incoming.reason);
  if (incoming.aborted) onAbort();
  else incoming.addEventListener('abort', onAbort, { once: true });
  return {
    signal: controller.signal,
    release: () => incoming.removeEventListener('abort', onAbort),
    abort: () => controller.abort(new Error('the client closed the stream')),
  };
}

/** Counts tokens in the metrics and the request's log entry. */
export function countTokens(
  metrics: GatewayMetrics,
  state: RequestState,
  model: string,
  usage: Usage | undefined,
  embedding = 0,
): void {
  if (usage) {
    state.tokens.prompt += usage.promptTokens;
    state.tokens.completion += usage.completionTokens;
    metrics.tokens.add({ model, kind: 'prompt' }, usage.promptTokens);
    metrics.tokens.add({ model, kind: 'completion' }, usage.completionTokens);
  }
  if (embedding > 0) {
    state.tokens.embedding += embedding;
    metrics.tokens.add({ model, kind: 'embedding' }, embedding);
  }
}

/** Request id, in-flight gauge, metrics and the log entry (after streams end). */
export function requestState(options: {
  metrics: GatewayMetrics;
  logger: ((entry: GatewayLogEntry) => void) | undefined;
  prefix: string;
}): MiddlewareHandler<Env> {
  const { metrics, logger, prefix } = options;
  /** The route a path belongs to, for metrics and logs (a bounded set of label values). */
  const routeOf = (path: string): string => {
    if (!path.startsWith(prefix)) return 'unmatched';
    const rest = path.slice(prefix.length);
    if (ROUTES.has(rest)) return rest;
    return rest.startsWith('/v1/models/') ? '/v1/models/:model' : 'unmatched';
  };

  function writeLog(c: Context<Env>, state: RequestState, status: number): void {
    const durationMs = Date.now() - state.startedAt;
    metrics.requests.add({ route: state.route, method: c.req.method, status: String(status) });
    metrics.duration.observe({ route: state.route }, durationMs / 1000);
    metrics.inFlight--;
    if (!logger) return;
    const error = state.error;
    const cause = error?.cause instanceof Error ? error.cause.message : undefined;
    const entry: GatewayLogEntry = {
      time: new Date(state.startedAt).toISOString(),
      level: status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info',
      requestId: state.requestId,
      method: c.req.method,
      path: loggablePath(c.req.raw),
      route: state.route,
      status,
      durationMs,
      ...(state.principal ? { subject: shownName(state.principal.subject) } : {}),
      ...(state.principal?.tenant ? { tenant: shownName(state.principal.tenant) } : {}),
      ...(state.model ? { model: state.model } : {}),
      ...(state.stream === undefined ? {} : { stream: state.stream }),
      ...(state.tokens.prompt + state.tokens.completion + state.tokens.embedding > 0 ? { tokens: state.tokens } : {}),
      headers: loggableHeaders(c.req.raw),
      ...(error
        ? { error: { type: error.type, code: error.code, message: error.message, ...(cause ? { cause } : {}) } }
        : {}),
      ...(state.warnings.length > 0 ? { warnings: state.warnings } : {}),
    };
    try {
      logger(scrubValue(entry, state.secrets));
    } catch (loggerError) {
      console.error('kumiki gateway: the logger threw', loggerError);
    }
  }

  return async (c, next) => {
    const incoming = c.req.header('x-request-id');
    const state: RequestState = {
      requestId: incoming && REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID(),
      counterId: crypto.randomUUID(),
      route: routeOf(c.req.path),
      startedAt: Date.now(),
      secrets: requestSecrets(c.req.raw),
      tokens: { prompt: 0, completion: 0, embedding: 0 },
      warnings: [],
    };
    c.set('state', state);
    metrics.inFlight++;
    try {
      await next();
    } finally {
      c.header('x-request-id', state.requestId);
      if (state.streamDone) void state.streamDone.then((status) => writeLog(c, state, status));
      else writeLog(c, state, c.res.status);
    }
  };
}
