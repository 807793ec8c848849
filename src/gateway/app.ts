/**
 * `createGateway`: an OpenAI-compatible HTTP API (chat completions, embeddings, models) plus kumiki's
 * /v1/search, health, readiness and Prometheus metrics, as a Hono app that any fetch runtime can serve.
 */
import { type Context, Hono } from 'hono';
import { type ScopeStoreOptions, scopeStore } from '../auth/scoped.js';
import type { Principal } from '../core/auth.js';
import type { DenseEmbedder } from '../core/embedder.js';
import { KumikiError } from '../core/errors.js';
import type { GenerateOptions, ModelRunner, StreamPart, Usage } from '../core/runner.js';
import { parseArgument } from '../core/validate.js';
import type { Filter } from '../filter/ast.js';
import { retrieve } from '../pipeline/retrieve.js';
import { mapLimit } from '../stores/shared.js';
import { GatewayHttpError, invalidRequest, modelNotFound, type OpenAIErrorBody, toGatewayError } from './errors.js';
import { GatewayMetrics } from './metrics.js';
import { type GatewayLogEntry, type GatewayOptions, optionsSchema } from './options.js';
import { RateLimiter } from './rate-limit.js';
import { loggableHeaders, loggablePath, requestSecrets, scrub, scrubValue } from './redact.js';
import {
  type ChatRequest,
  chatRequestSchema,
  embeddingsRequestSchema,
  float32Base64,
  searchRequestSchema,
  toGenerateOptions,
  wireFinishReason,
  wireToolCalls,
  wireUsage,
} from './wire.js';

const DEFAULT_MAX_BODY_BYTES = 1_048_576;
const DEFAULT_MAX_SEARCH_LIMIT = 50;
const READY_TIMEOUT_MS = 5_000;
const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;
const ROUTES = new Set([
  '/v1/chat/completions',
  '/v1/embeddings',
  '/v1/models',
  '/v1/search',
  '/healthz',
  '/readyz',
  '/metrics',
]);
const ANONYMOUS: Principal = { subject: 'anonymous', tenant: undefined, roles: [], scopes: [], claims: {} };

type RequestState = {
  requestId: string;
  route: string;
  startedAt: number;
  secrets: string[];
  principal?: Principal;
  model?: string;
  stream?: boolean;
  tokens: { prompt: number; completion: number; embedding: number };
  error?: GatewayHttpError;
  warnings: string[];
  /** For streamed answers: resolves with the final status when the stream has ended. */
  streamDone?: Promise<number>;
};

type Env = { Variables: { state: RequestState } };

/** The Hono app `createGateway` returns. */
export type Gateway = Hono<Env>;

const encoder = new TextEncoder();
const sse = (data: unknown) => encoder.encode(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
const nowSeconds = () => Math.floor(Date.now() / 1000);
const randomId = () => crypto.randomUUID().replace(/-/g, '');

function closeQuietly(controller: ReadableStreamDefaultController<Uint8Array>): void {
  try {
    controller.close();
  } catch {
    // Already closed or cancelled by the server after the client left: nothing to deliver.
  }
}

/** Runner stream parts; runners that cannot stream answer once, as a single delta. */
async function* partsOf(runner: ModelRunner, options: GenerateOptions): AsyncGenerator<StreamPart> {
  if (runner.capabilities.streaming) {
    yield* runner.stream(options);
    return;
  }
  const result = await runner.generate(options);
  if (result.text) yield { type: 'text-delta', text: result.text };
  for (const toolCall of result.toolCalls ?? []) yield { type: 'tool-call', toolCall };
  yield { type: 'finish', finishReason: result.finishReason, usage: result.usage };
}

/**
 * Builds the gateway. Throws InvalidArgumentError for bad options (no `authenticate` without
 * `allowAnonymous: true`, a rate-limit cache without `increment`, …). See docs/gateway.md.
 */
export function createGateway(options: GatewayOptions): Gateway {
  const parsed = parseArgument(optionsSchema, options, 'gateway options');
  const models = parsed.models ?? {};
  const embedders: Record<string, DenseEmbedder> = parsed.embedders ?? {};
  const collections = options.search?.collections ?? {};
  const scopeOption = options.search?.scopeByTenant;
  const scope: ScopeStoreOptions | undefined =
    scopeOption === true ? {} : scopeOption === false || scopeOption === undefined ? undefined : scopeOption;
  // Checks the scope options now rather than on the first search.
  const firstStore = Object.values(collections)[0]?.store;
  if (scope && firstStore) scopeStore(firstStore, { ...ANONYMOUS, tenant: 'check' }, scope);
  const authenticate = parsed.authenticate ?? (async () => ANONYMOUS);
  const authorize = parsed.authorize;
  const maxBodyBytes = parsed.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const logger = parsed.logger;
  const metrics = new GatewayMetrics();
  const createdAt = nowSeconds();
  const rateLimit = parsed.rateLimit;
  const limiter = rateLimit
    ? new RateLimiter(
        rateLimit.cache,
        rateLimit.prefix ?? 'kumiki-gateway:rl',
        rateLimit.requestsPerMinute,
        rateLimit.tokensPerMinute,
      )
    : undefined;
  const limitKey = (principal: Principal) => (rateLimit?.key ? rateLimit.key(principal) : principal.subject);

  const prefix = parsed.basePath ?? '';
  /** The route a path belongs to, for metrics and logs (a bounded set of label values). */
  const routeOf = (path: string): string => {
    if (!path.startsWith(prefix)) return 'unmatched';
    const rest = path.slice(prefix.length);
    if (ROUTES.has(rest)) return rest;
    return rest.startsWith('/v1/models/') ? '/v1/models/:model' : 'unmatched';
  };

  // Middleware, error and not-found handlers sit on the root, so that they also see paths outside
  // basePath; routes go on a view of the same router under basePath.
  const root: Gateway = new Hono<Env>();
  let app: Gateway = root;

  function errorResponse(c: Context<Env>, error: GatewayHttpError): Response {
    const state = c.get('state');
    const body: OpenAIErrorBody = error.body();
    body.error.message = scrub(body.error.message, state?.secrets ?? []);
    return c.json(body, error.status as 400, error.headers);
  }

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
      ...(state.principal ? { subject: state.principal.subject } : {}),
      ...(state.principal?.tenant ? { tenant: state.principal.tenant } : {}),
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

  /** Counts tokens in metrics and against the caller's token allowance. */
  async function recordTokens(state: RequestState, model: string, usage: Usage | undefined, embedding = 0) {
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
    const total = (usage ? usage.promptTokens + usage.completionTokens : 0) + embedding;
    if (limiter && state.principal && total > 0) {
      try {
        await limiter.spend(limitKey(state.principal), total);
      } catch (error) {
        state.warnings.push(
          `could not record ${total} tokens against the rate limit: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
  }

  async function readJson(c: Context<Env>): Promise<unknown> {
    const tooLarge = () =>
      new GatewayHttpError({
        status: 413,
        message: `The request body is larger than the gateway's limit of ${maxBodyBytes} bytes.`,
        type: 'invalid_request_error',
        code: 'request_too_large',
      });
    const declared = Number(c.req.header('content-length') ?? Number.NaN);
    if (Number.isFinite(declared) && declared > maxBodyBytes) throw tooLarge();
    const body = c.req.raw.body;
    if (!body) throw invalidRequest('The request has no body; send a JSON object.', null, 'missing_body');
    const reader = body.getReader();
    const parts: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBodyBytes) {
        await reader.cancel();
        throw tooLarge();
      }
      parts.push(value);
    }
    const bytes = new Uint8Array(size);
    let offset = 0;
    for (const part of parts) {
      bytes.set(part, offset);
      offset += part.byteLength;
    }
    try {
      return JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      throw invalidRequest('The request body is not valid JSON.', null, 'invalid_json');
    }
  }

  function allow(
    state: RequestState,
    action: 'generate' | 'embed' | 'search',
    kind: 'model' | 'collection',
    name: string,
  ) {
    if (!authorize || !state.principal) return;
    if (!authorize.can(state.principal, action, { kind, name })) {
      throw new GatewayHttpError({
        status: 403,
        message: `"${state.principal.subject}" may not ${action} with the ${kind} "${name}".`,
        type: 'permission_error',
        code: 'forbidden',
        param: kind === 'model' ? 'model' : 'collection',
      });
    }
  }

  /** An AbortSignal that fires when the client disconnects. */
  function clientSignal(c: Context<Env>): { signal: AbortSignal; release: () => void; abort: () => void } {
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

  // Outermost: request id, in-flight gauge, metrics and the log entry (after streams end).
  root.use('*', async (c, next) => {
    const incoming = c.req.header('x-request-id');
    const state: RequestState = {
      requestId: incoming && REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID(),
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
  });

  root.onError((error, c) => {
    const state = c.get('state');
    const translated = toGatewayError(error, state.requestId);
    state.error = translated;
    return errorResponse(c, translated);
  });

  root.notFound((c) => {
    const state = c.get('state');
    const error = new GatewayHttpError({
      status: 404,
      message: `No route ${c.req.method} ${new URL(c.req.url).pathname}; see docs/gateway.md for the endpoints.`,
      type: 'invalid_request_error',
      code: 'unknown_url',
    });
    state.error = error;
    return errorResponse(c, error);
  });

  if (parsed.basePath) app = root.basePath(parsed.basePath);

  // Authentication and rate limits for the API routes.
  app.use('/v1/*', async (c, next) => {
    const state = c.get('state');
    state.principal = await authenticate(c.req.raw);
    if (limiter) {
      const decision = await limiter.admit(limitKey(state.principal));
      if (!decision.allowed) {
        metrics.rateLimited.add({ limit: decision.kind });
        const seconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
        throw new GatewayHttpError({
          status: 429,
          message: `Rate limit of ${decision.limit} ${decision.kind} per minute reached for this caller; retry in ${seconds} s.`,
          type: decision.kind,
          code: 'rate_limit_exceeded',
          headers: { 'retry-after': String(seconds) },
        });
      }
    }
    await next();
  });

  app.get('/healthz', (c) => {
    return c.json({ status: 'ok' });
  });

  app.get('/readyz', async (c) => {
    const checks = await Promise.all(
      Object.entries(models).map(async ([name, runner]) => {
        let timer: ReturnType<typeof setTimeout> | undefined;
        try {
          await Promise.race([
            runner.describeModel(),
            new Promise((_, reject) => {
              timer = setTimeout(() => reject(new Error(`no answer within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
            }),
          ]);
          return [name, 'ok'] as const;
        } catch (error) {
          return [name, KumikiError.isInstance(error) ? error.name : 'error'] as const;
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    const ready = checks.every(([, result]) => result === 'ok');
    return c.json({ status: ready ? 'ready' : 'unready', models: Object.fromEntries(checks) }, ready ? 200 : 503);
  });

  if (parsed.metrics !== false) {
    app.get('/metrics', (c) => {
      return c.body(metrics.render(), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
    });
  }

  const modelEntry = (id: string, ownedBy: string) => ({ id, object: 'model', created: createdAt, owned_by: ownedBy });
  const visibleModels = (principal: Principal | undefined) => [
    ...Object.entries(models)
      .filter(([name]) => !authorize || !principal || authorize.can(principal, 'generate', { kind: 'model', name }))
      .map(([name, runner]) => modelEntry(name, runner.provider)),
    ...Object.entries(embedders)
      .filter(([name]) => !authorize || !principal || authorize.can(principal, 'embed', { kind: 'model', name }))
      .map(([name, embedder]) => modelEntry(name, embedder.provider)),
  ];

  app.get('/v1/models', (c) => {
    const state = c.get('state');
    return c.json({ object: 'list', data: visibleModels(state.principal) });
  });

  app.get('/v1/models/:model{.+}', (c) => {
    const state = c.get('state');
    const name = c.req.param('model');
    const found = visibleModels(state.principal).find((entry) => entry.id === name);
    if (!found) throw modelNotFound(name, 'chat and embedding');
    return c.json(found);
  });

  app.post('/v1/chat/completions', async (c) => {
    const state = c.get('state');
    const request = parseArgument(chatRequestSchema, await readJson(c), 'chat completion request');
    const runner = models[request.model];
    if (!runner) throw modelNotFound(request.model, 'chat');
    allow(state, 'generate', 'model', request.model);
    state.model = request.model;
    state.stream = request.stream === true;
    checkCapabilities(runner, request);
    const client = clientSignal(c);
    const generate = toGenerateOptions(request, client.signal);
    const id = `chatcmpl-${randomId()}`;
    const created = nowSeconds();
    if (!request.stream) {
      try {
        const result = await runner.generate(generate);
        await recordTokens(state, request.model, result.usage);
        const toolCalls = result.toolCalls ?? [];
        return c.json({
          id,
          object: 'chat.completion',
          created,
          model: request.model,
          choices: [
            {
              index: 0,
              message: {
                role: 'assistant',
                content:
                  result.object !== undefined
                    ? JSON.stringify(result.object)
                    : toolCalls.length > 0 && !result.text
                      ? null
                      : result.text,
                refusal: null,
                ...(toolCalls.length > 0
                  ? { tool_calls: wireToolCalls(toolCalls).map(({ index: _index, ...call }) => call) }
                  : {}),
              },
              logprobs: null,
              finish_reason: wireFinishReason(result.finishReason),
            },
          ],
          ...(result.usage ? { usage: wireUsage(result.usage) } : {}),
        });
      } finally {
        client.release();
      }
    }
    return streamChat(state, runner, request, generate, client, id, created);
  });

  function checkCapabilities(runner: ModelRunner, request: ChatRequest) {
    if (request.tools && request.tools.length > 0 && !runner.capabilities.tools) {
      throw invalidRequest(`The model "${request.model}" does not support tools.`, 'tools', 'unsupported_parameter');
    }
    const format = request.response_format?.type;
    if ((format === 'json_schema' || format === 'json_object') && runner.capabilities.structuredOutput.length === 0) {
      throw invalidRequest(
        `The model "${request.model}" does not support structured output.`,
        'response_format',
        'unsupported_parameter',
      );
    }
  }

  async function streamChat(
    state: RequestState,
    runner: ModelRunner,
    request: ChatRequest,
    generate: GenerateOptions,
    client: ReturnType<typeof clientSignal>,
    id: string,
    created: number,
  ): Promise<Response> {
    const includeUsage = request.stream_options?.include_usage === true;
    const iterator = partsOf(runner, generate)[Symbol.asyncIterator]();
    // The first part is awaited before answering, so failures at the start get a proper status.
    let first: IteratorResult<StreamPart>;
    try {
      first = await iterator.next();
    } catch (error) {
      client.release();
      throw error;
    }
    const chunk = (choice: Record<string, unknown> | undefined, usage?: Usage) => ({
      id,
      object: 'chat.completion.chunk',
      created,
      model: request.model,
      choices: choice ? [{ index: 0, logprobs: null, finish_reason: null, ...choice }] : [],
      ...(includeUsage ? { usage: usage ? wireUsage(usage) : null } : {}),
    });
    let finished: (status: number) => void = () => {};
    state.streamDone = new Promise<number>((resolve) => {
      finished = resolve;
    });
    let toolIndex = 0;
    let pending: IteratorResult<StreamPart> | undefined = first;
    let ended = false;
    const end = (status: number) => {
      if (ended) return;
      ended = true;
      client.release();
      finished(status);
    };
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(sse(chunk({ delta: { role: 'assistant', content: '' } })));
      },
      async pull(controller) {
        try {
          const next = pending ?? (await iterator.next());
          pending = undefined;
          if (ended) {
            // The client went away while the runner was producing this part.
            closeQuietly(controller);
            return;
          }
          if (next.done) {
            controller.enqueue(sse('[DONE]'));
            controller.close();
            end(200);
            return;
          }
          const part = next.value;
          if (part.type === 'text-delta') {
            if (part.text) controller.enqueue(sse(chunk({ delta: { content: part.text } })));
          } else if (part.type === 'tool-call') {
            const [call] = wireToolCalls([part.toolCall]);
            controller.enqueue(sse(chunk({ delta: { tool_calls: [{ ...call, index: toolIndex++ }] } })));
          } else {
            await recordTokens(state, request.model, part.usage);
            controller.enqueue(sse(chunk({ delta: {}, finish_reason: wireFinishReason(part.finishReason) })));
            if (includeUsage && part.usage) controller.enqueue(sse(chunk(undefined, part.usage)));
          }
        } catch (error) {
          if (ended) {
            closeQuietly(controller);
            return;
          }
          // Headers are sent: the failure travels as an OpenAI error event, which clients raise.
          const translated = toGatewayError(error, state.requestId);
          state.error = translated;
          const body = translated.body();
          body.error.message = scrub(body.error.message, state.secrets);
          controller.enqueue(sse(body));
          controller.close();
          end(translated.status);
        }
      },
      async cancel() {
        client.abort();
        end(499);
        await iterator.return?.(undefined);
      },
    });
    client.signal.addEventListener('abort', () => end(499), { once: true });
    return new Response(body, {
      status: 200,
      headers: {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        'x-accel-buffering': 'no',
      },
    });
  }

  app.post('/v1/embeddings', async (c) => {
    const state = c.get('state');
    const request = parseArgument(embeddingsRequestSchema, await readJson(c), 'embeddings request');
    const embedder = embedders[request.model];
    if (!embedder) throw modelNotFound(request.model, 'embedding');
    allow(state, 'embed', 'model', request.model);
    state.model = request.model;
    const values = typeof request.input === 'string' ? [request.input] : request.input;
    const empty = values.findIndex((value) => value.length === 0);
    if (empty >= 0) {
      throw invalidRequest(
        'input must not contain empty strings',
        typeof request.input === 'string' ? 'input' : `input.${empty}`,
      );
    }
    const batches: string[][] = [];
    for (let i = 0; i < values.length; i += embedder.maxBatchSize)
      batches.push(values.slice(i, i + embedder.maxBatchSize));
    const client = clientSignal(c);
    let results: Awaited<ReturnType<DenseEmbedder['embed']>>[];
    try {
      results = await mapLimit(batches, embedder.supportsParallelCalls ? 4 : 1, (batch) =>
        embedder.embed({ values: batch, role: request.input_type ?? 'document', abortSignal: client.signal }),
      );
    } finally {
      client.release();
    }
    const vectors = results.flatMap((result) => result.vectors);
    const tokens = results.reduce((sum, result) => sum + (result.usage?.tokens ?? 0), 0);
    const dimensions = vectors[0]?.length;
    if (request.dimensions !== undefined && request.dimensions !== dimensions) {
      throw invalidRequest(
        `The model "${request.model}" gives ${dimensions}-dimensional vectors and cannot shorten them; omit dimensions.`,
        'dimensions',
        'unsupported_parameter',
      );
    }
    await recordTokens(state, request.model, undefined, tokens);
    const base64 = request.encoding_format === 'base64';
    return c.json({
      object: 'list',
      data: vectors.map((vector, index) => ({
        object: 'embedding',
        index,
        embedding: base64 ? float32Base64(vector) : Array.from(vector),
      })),
      model: request.model,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    });
  });

  app.post('/v1/search', async (c) => {
    const state = c.get('state');
    const request = parseArgument(searchRequestSchema, await readJson(c), 'search request');
    const config = collections[request.collection];
    if (!config) {
      throw new GatewayHttpError({
        status: 404,
        message: `The collection "${request.collection}" is not searchable through this gateway.`,
        type: 'invalid_request_error',
        code: 'collection_not_found',
        param: 'collection',
      });
    }
    allow(state, 'search', 'collection', request.collection);
    const maxLimit = config.maxLimit ?? DEFAULT_MAX_SEARCH_LIMIT;
    if (request.limit !== undefined && request.limit > maxLimit) {
      throw invalidRequest(`limit must be at most ${maxLimit} for the collection "${request.collection}"`, 'limit');
    }
    const { defaultMode, maxLimit: _maxLimit, ...retrieveConfig } = config;
    if (scope && state.principal) retrieveConfig.store = scopeStore(config.store, state.principal, scope);
    const mode = request.mode ?? defaultMode;
    const client = clientSignal(c);
    try {
      const chunks = await retrieve({
        ...retrieveConfig,
        query: request.query,
        ...(request.limit === undefined ? {} : { limit: request.limit }),
        ...(request.filter === undefined ? {} : { filter: request.filter as Filter }),
        ...(mode === undefined ? {} : { mode }),
        abortSignal: client.signal,
      });
      return c.json({
        object: 'list',
        data: chunks.map((chunk) => ({
          id: chunk.id,
          score: chunk.score,
          text: chunk.text,
          citation: chunk.citation,
          payload: chunk.payload,
        })),
      });
    } finally {
      client.release();
    }
  });

  return root;
}
