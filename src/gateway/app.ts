/**
 * `createGateway`: an OpenAI-compatible HTTP API (chat completions, responses, legacy completions,
 * embeddings, models) plus kumiki's /v1/search, retrieval-augmented knowledge models, health,
 * readiness and Prometheus metrics, as a Hono app that any fetch runtime can serve.
 */
import { type Context, Hono } from 'hono';
import { type ScopeStoreOptions, scopeStore } from '../auth/scoped.js';
import type { Principal } from '../core/auth.js';
import type { DenseEmbedder } from '../core/embedder.js';
import { AbortedError, KumikiError, TimeoutError } from '../core/errors.js';
import type { Filter } from '../core/filter.js';
import type { GenerateOptions, ModelRunner, Usage } from '../core/runner.js';
import { parseArgument } from '../core/validate.js';
import { mapLimit } from '../internal/concurrency.js';
import { toolHistoryAsText } from '../internal/structured-output.js';
import { retrieve } from '../pipeline/retrieve.js';
import { ModelScheduler, type Slot } from './admission.js';
import {
  GatewayHttpError,
  invalidRequest,
  modelNotFound,
  type OpenAIErrorBody,
  shownName,
  toGatewayError,
} from './errors.js';
import { type Collected, collect, type GenerationEvent, knowledgeEvents, runnerEvents } from './generation.js';
import { GatewayMetrics } from './metrics.js';
import {
  type GatewayAdmission,
  type GatewayLogEntry,
  type GatewayModel,
  type GatewayOptions,
  type KnowledgeModel,
  optionsSchema,
  type RetrieveConfig,
} from './options.js';
import { CounterUnavailableError, RateLimiter } from './rate-limit.js';
import { loggableHeaders, loggablePath, requestSecrets, scrub, scrubValue } from './redact.js';
import {
  functionCallItem,
  messageItem,
  outputText,
  type ResponseState,
  responseObject,
  responsesOptions,
  responsesRequestSchema,
} from './responses.js';
import {
  chatRequestSchema,
  completionOptions,
  completionRequestSchema,
  embeddingsRequestSchema,
  float32Base64,
  type RequestedGeneration,
  searchRequestSchema,
  toGenerateOptions,
  wireFinishReason,
  wireToolCalls,
  wireUsage,
} from './wire.js';

const DEFAULT_MAX_BODY_BYTES = 1_048_576;
/** Deepest nesting of objects and arrays a request body may have (deeper JSON overflows recursive parsers). */
const MAX_BODY_DEPTH = 256;
const DEFAULT_MAX_SEARCH_LIMIT = 50;
const DEFAULT_SLOTS = 4;
const DEFAULT_MAX_QUEUE = 64;
const DEFAULT_QUEUE_TIMEOUT_MS = 30_000;
const DEFAULT_TIMEOUT_MS = 300_000;
const DEFAULT_KNOWLEDGE_LIMIT = 5;
const DEFAULT_CONTEXT_CHARS = 6_000;
/** Completion tokens reserved against the token limit for a request that names no maximum. */
const RESERVED_COMPLETION_TOKENS = 256;
/** Seconds a caller is told to wait when the rate-limit counters are unreachable. */
const COUNTER_RETRY_AFTER_S = 5;
const TIMEOUT_HEADER = 'x-kumiki-timeout-ms';
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
const ANONYMOUS: Principal = { subject: 'anonymous', tenant: undefined, roles: [], scopes: [], claims: {} };

type RequestState = {
  requestId: string;
  /** Unique per request, never from the client: the rate limiter's increment ids. */
  counterId: string;
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

/** A chat model as served: its runner, limits, slots and whether it is loaded. */
type ModelEntry = {
  name: string;
  runner: ModelRunner;
  scheduler: ModelScheduler;
  maxTokens: number | undefined;
  timeoutMs: number;
  readiness: { state: 'idle' | 'loading' | 'ready' | 'failed'; error?: string };
};

type KnowledgeEntry = {
  name: string;
  config: KnowledgeModel;
  model: ModelEntry;
  retrieval: RetrieveConfig;
};

/** What a generation request is answered by. */
type Target = { name: string; model: ModelEntry; knowledge: KnowledgeEntry | undefined };

/** A generation request as every endpoint turns it into: whose model, which options, streamed or not. */
type GenerationRequest = {
  model: string;
  stream: boolean;
  options: RequestedGeneration;
  /** The request field naming the completion budget, for errors. */
  maxTokensParam: string;
};

const encoder = new TextEncoder();
const sseData = (data: unknown) => `data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
const sseEvent = (data: { type: string; [key: string]: unknown }) =>
  `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`;
const nowSeconds = () => Math.floor(Date.now() / 1000);
const randomId = () => crypto.randomUUID().replace(/-/g, '');

/** Whether JSON text nests objects and arrays deeper than `max` (strings skipped); cheap, before parsing. */
function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (inString) {
      if (code === 0x5c)
        i++; // backslash: skip the escaped character
      else if (code === 0x22) inString = false;
    } else if (code === 0x22) inString = true;
    else if (code === 0x7b || code === 0x5b) {
      if (++depth > max) return true;
    } else if (code === 0x7d || code === 0x5d) depth--;
  }
  return false;
}

function closeQuietly(controller: ReadableStreamDefaultController<Uint8Array>): void {
  try {
    controller.close();
  } catch {
    // Already closed or cancelled by the server after the client left: nothing to deliver.
  }
}

/** An own entry of a configuration record: `__proto__`, `constructor` and the like are names like any other. */
function ownEntries<T>(record: Record<string, T> | undefined): Map<string, T> {
  return new Map(Object.entries(record ?? {}));
}

const isGatewayModel = (value: ModelRunner | GatewayModel): value is GatewayModel =>
  typeof (value as GatewayModel).runner === 'object' && typeof (value as ModelRunner).generate !== 'function';

/** The slots a runner can use at once: the llama.cpp runner says how many sequences it has. */
function runnerSlots(runner: ModelRunner): number | undefined {
  const sequences = (runner as { sequences?: unknown }).sequences;
  return typeof sequences === 'number' && Number.isInteger(sequences) && sequences > 0 ? sequences : undefined;
}

/**
 * Builds the gateway. Throws InvalidArgumentError for bad options (no `authenticate` without
 * `allowAnonymous: true`, a rate-limit cache without `increment`, …). See docs/gateway.md.
 */
export function createGateway(options: GatewayOptions): Gateway {
  const parsed = parseArgument(optionsSchema, options, 'gateway options');
  const embedders = ownEntries<DenseEmbedder>(parsed.embedders);
  const collections = ownEntries<RetrieveConfig>(options.search?.collections);
  const scopeOption = options.search?.scopeByTenant;
  const scope: ScopeStoreOptions | undefined =
    scopeOption === true ? {} : scopeOption === false || scopeOption === undefined ? undefined : scopeOption;
  // Checks the scope options now rather than on the first search.
  const firstStore = [...collections.values()][0]?.store;
  if (scope && firstStore) scopeStore(firstStore, { ...ANONYMOUS, tenant: 'check' }, scope);
  const authenticate = parsed.authenticate ?? (async () => ANONYMOUS);
  const authorize = parsed.authorize;
  const maxBodyBytes = parsed.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const logger = parsed.logger;
  const createdAt = nowSeconds();
  const rateLimit = parsed.rateLimit;
  const limiter = rateLimit
    ? new RateLimiter(rateLimit.cache, {
        prefix: rateLimit.prefix ?? 'kumiki-gateway:rl',
        requestsPerMinute: rateLimit.requestsPerMinute,
        tokensPerMinute: rateLimit.tokensPerMinute,
        failOpen: rateLimit.failOpen ?? false,
      })
    : undefined;
  /** Whose allowance, and whose fair share of the slots, a request uses. */
  const callerKey = (principal: Principal) => (rateLimit?.key ? rateLimit.key(principal) : principal.subject);

  const models = new Map<string, ModelEntry>();
  const metrics = new GatewayMetrics(() =>
    [...models.values()].map((entry) => ({ model: entry.name, ...entry.scheduler.stats() })),
  );
  const defaults: GatewayAdmission = parsed.admission ?? {};
  for (const [name, value] of ownEntries(options.models)) {
    const config: GatewayModel = isGatewayModel(value) ? value : { runner: value };
    const limits = {
      slots: config.slots ?? defaults.slots ?? runnerSlots(config.runner) ?? DEFAULT_SLOTS,
      maxQueue: config.maxQueue ?? defaults.maxQueue ?? DEFAULT_MAX_QUEUE,
      queueTimeoutMs: config.queueTimeoutMs ?? defaults.queueTimeoutMs ?? DEFAULT_QUEUE_TIMEOUT_MS,
    };
    const scheduler = new ModelScheduler(name, limits, {
      onGranted: (waitMs) => metrics.queueWait.observe({ model: name }, waitMs / 1000),
      onRejected: (reason) => metrics.queueRejected.add({ model: name, reason }),
    });
    models.set(name, {
      name,
      runner: config.runner,
      scheduler,
      maxTokens: config.maxTokens,
      timeoutMs: config.timeoutMs ?? defaults.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      readiness: { state: 'idle' },
    });
  }
  const knowledge = new Map<string, KnowledgeEntry>();
  for (const [name, config] of ownEntries(parsed.knowledge as Record<string, KnowledgeModel> | undefined)) {
    const retrieval = config.retrieval ?? (collections.get(config.collection as string) as RetrieveConfig);
    knowledge.set(name, { name, config, model: models.get(config.model) as ModelEntry, retrieval });
  }

  /** Loads a model (`describeModel()`, then one token with `warmUp`); `/readyz` reports the state. */
  function load(entry: ModelEntry): void {
    if (entry.readiness.state === 'loading' || entry.readiness.state === 'ready') return;
    entry.readiness = { state: 'loading' };
    void (async () => {
      await entry.runner.describeModel();
      if (parsed.warmUp === true) await entry.runner.generate({ prompt: 'Hello', maxTokens: 1, temperature: 0 });
    })().then(
      () => {
        entry.readiness = { state: 'ready' };
      },
      (error: unknown) => {
        entry.readiness = { state: 'failed', error: KumikiError.isInstance(error) ? error.name : 'error' };
      },
    );
  }
  if (parsed.preload !== false) for (const entry of models.values()) load(entry);

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

  function errorBody(state: RequestState | undefined, error: GatewayHttpError): OpenAIErrorBody {
    const body = error.body();
    body.error.message = scrub(body.error.message, state?.secrets ?? []);
    return body;
  }

  function errorResponse(c: Context<Env>, error: GatewayHttpError): Response {
    const state = c.get('state');
    return c.json(errorBody(state, error), error.status as 400, error.headers);
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

  /** Counts tokens in the metrics and the request's log entry. */
  function countTokens(state: RequestState, model: string, usage: Usage | undefined, embedding = 0): void {
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

  const counterDown = (error: CounterUnavailableError) =>
    new GatewayHttpError({
      status: 503,
      message: 'The rate limit cannot be checked right now, so the request was refused; retry later.',
      type: 'server_error',
      code: 'rate_limit_unavailable',
      headers: { 'retry-after': String(COUNTER_RETRY_AFTER_S) },
      cause: error,
    });

  /**
   * Charges tokens to the caller's allowance, once per `purpose`. A charge that cannot be recorded
   * fails the request when it is `required` (a reservation, unless failing open) and is a log warning
   * otherwise (the request already ran).
   */
  async function charge(state: RequestState, tokens: number, purpose: string, required: boolean): Promise<void> {
    if (!limiter || !state.principal || tokens === 0) return;
    try {
      await limiter.charge(callerKey(state.principal), tokens, `${state.counterId}:${purpose}`);
    } catch (error) {
      if (!(error instanceof CounterUnavailableError)) throw error;
      if (required && rateLimit?.failOpen !== true) throw counterDown(error);
      state.warnings.push(`could not record ${tokens} tokens against the rate limit: ${error.message}`);
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
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (error) {
        // The client went away while sending: nobody reads the answer; logged as 499.
        throw new AbortedError({ operation: 'reading the request body', cause: error, component: 'gateway' });
      }
      if (chunk.done) break;
      size += chunk.value.byteLength;
      if (size > maxBodyBytes) {
        await reader.cancel();
        throw tooLarge();
      }
      parts.push(chunk.value);
    }
    const bytes = new Uint8Array(size);
    let offset = 0;
    for (const part of parts) {
      bytes.set(part, offset);
      offset += part.byteLength;
    }
    const text = new TextDecoder().decode(bytes);
    if (nestsDeeperThan(text, MAX_BODY_DEPTH)) {
      throw invalidRequest(
        `The request body nests objects and arrays more than ${MAX_BODY_DEPTH} levels deep; flatten it (e.g. a filter's and/or/not).`,
        null,
        'too_deep',
      );
    }
    try {
      return JSON.parse(text);
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
        message: `"${shownName(state.principal.subject)}" may not ${action} with the ${kind} "${shownName(name)}".`,
        type: 'permission_error',
        code: 'forbidden',
        param: kind === 'model' ? 'model' : 'collection',
      });
    }
  }

  /** An AbortSignal that fires when the client disconnects (or `abort()` is called, e.g. a stream is cancelled). */
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

  /** The store a search or knowledge model reads: scoped to the caller's tenant when configured. */
  function retrieveOptions(state: RequestState, config: RetrieveConfig) {
    const { defaultMode, maxLimit: _maxLimit, ...retrieveConfig } = config;
    if (scope && state.principal) retrieveConfig.store = scopeStore(config.store, state.principal, scope);
    return { ...retrieveConfig, ...(defaultMode === undefined ? {} : { mode: defaultMode }) };
  }

  // Outermost: request id, in-flight gauge, metrics and the log entry (after streams end).
  root.use('*', async (c, next) => {
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
      message: `No route ${c.req.method} ${shownName(new URL(c.req.url).pathname)}; see docs/gateway.md for the endpoints.`,
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
      let decision: Awaited<ReturnType<RateLimiter['admit']>>;
      try {
        decision = await limiter.admit(callerKey(state.principal), state.counterId);
      } catch (error) {
        if (error instanceof CounterUnavailableError) throw counterDown(error);
        throw error;
      }
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
      if (decision.warning) state.warnings.push(decision.warning);
    }
    await next();
  });

  app.get('/healthz', (c) => {
    return c.json({ status: 'ok' });
  });

  app.get('/readyz', (c) => {
    const checks: Record<string, string> = {};
    for (const entry of models.values()) {
      if (entry.readiness.state === 'idle' || entry.readiness.state === 'failed') load(entry);
      const { state, error } = entry.readiness;
      checks[entry.name] = state === 'ready' ? 'ok' : state === 'loading' ? 'loading' : (error ?? 'error');
    }
    const ready = Object.values(checks).every((result) => result === 'ok');
    return c.json({ status: ready ? 'ready' : 'unready', models: checks }, ready ? 200 : 503);
  });

  if (parsed.metrics !== false) {
    app.get('/metrics', (c) => {
      return c.body(metrics.render(), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
    });
  }

  const modelEntry = (id: string, ownedBy: string) => ({ id, object: 'model', created: createdAt, owned_by: ownedBy });
  const visibleModels = (principal: Principal | undefined) => {
    const may = (action: 'generate' | 'embed', name: string) =>
      !authorize || !principal || authorize.can(principal, action, { kind: 'model', name });
    return [
      ...[...models.values()]
        .filter((entry) => may('generate', entry.name))
        .map((entry) => modelEntry(entry.name, entry.runner.provider)),
      ...[...knowledge.keys()].filter((name) => may('generate', name)).map((name) => modelEntry(name, 'kumiki')),
      ...[...embedders.entries()]
        .filter(([name]) => may('embed', name))
        .map(([name, embedder]) => modelEntry(name, embedder.provider)),
    ];
  };

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

  /** The target and adapted options of a generation request, once the caller may use the model. */
  function prepare(state: RequestState, request: GenerationRequest): { target: Target; options: RequestedGeneration } {
    const target = targetFor(state, request.model);
    state.stream = request.stream;
    return { target, options: adapt(target, request) };
  }

  /** The model or knowledge model a generation request names, once the caller may use it. */
  function targetFor(state: RequestState, name: string): Target {
    const model = models.get(name);
    const grounded = knowledge.get(name);
    if (!model && !grounded) throw modelNotFound(name, 'chat');
    allow(state, 'generate', 'model', name);
    state.model = shownName(name);
    return grounded
      ? { name, model: grounded.model, knowledge: grounded }
      : { name, model: model as ModelEntry, knowledge: undefined };
  }

  /**
   * The options as the target can take them: tools refused unless the model calls them (or
   * `tool_choice` is `none`, then they are left out), tool history written out as text for runners
   * without tools, structured output refused where unsupported, `max_tokens` within the model's cap.
   */
  function adapt(target: Target, request: GenerationRequest): RequestedGeneration {
    const { runner } = target.model;
    const callsTools = target.knowledge === undefined && runner.capabilities.tools;
    let options = request.options;
    if (options.tools && options.tools.length > 0 && !callsTools) {
      if (options.toolChoice !== 'none') {
        throw invalidRequest(
          target.knowledge
            ? `The knowledge model "${shownName(target.name)}" answers from its sources and calls no tools; leave tools out or send tool_choice: "none".`
            : `The model "${shownName(target.name)}" does not call tools; leave tools out or send tool_choice: "none".`,
          'tools',
          'unsupported_parameter',
        );
      }
    }
    if (!callsTools) {
      const { tools: _tools, toolChoice, ...rest } = options;
      if (toolChoice !== undefined && toolChoice !== 'none' && toolChoice !== 'auto') {
        throw invalidRequest(
          `The model "${shownName(target.name)}" does not call tools, so tool_choice cannot require one.`,
          'tool_choice',
          'unsupported_parameter',
        );
      }
      options = { ...rest, ...(rest.messages ? { messages: toolHistoryAsText(rest.messages) } : {}) };
    }
    if (options.schema && runner.capabilities.structuredOutput.length === 0) {
      throw invalidRequest(
        `The model "${shownName(target.name)}" does not support structured output.`,
        'response_format',
        'unsupported_parameter',
      );
    }
    const cap = target.model.maxTokens;
    if (cap !== undefined) {
      if (options.maxTokens !== undefined && options.maxTokens > cap) {
        throw invalidRequest(
          `${request.maxTokensParam} is too large: ${options.maxTokens}. This model supports at most ${cap} completion tokens, whereas you provided ${options.maxTokens}.`,
          request.maxTokensParam,
        );
      }
      if (options.maxTokens === undefined) options = { ...options, maxTokens: cap };
    }
    return options;
  }

  /** The request's time limit: the model's, or less when the client asks (`x-kumiki-timeout-ms`). */
  function timeoutOf(c: Context<Env>, entry: ModelEntry): number {
    const header = c.req.header(TIMEOUT_HEADER);
    if (header === undefined) return entry.timeoutMs;
    const asked = Number(header);
    if (!/^\d{1,9}$/.test(header.trim()) || asked < 1) {
      throw invalidRequest(`${TIMEOUT_HEADER} must be a whole number of milliseconds (at least 1)`, TIMEOUT_HEADER);
    }
    return Math.min(asked, entry.timeoutMs);
  }

  /** Roughly the tokens a request will use, reserved against the token limit until its usage is known. */
  function estimate(target: Target, options: RequestedGeneration): number {
    const characters =
      (options.prompt?.length ?? 0) +
      (options.messages ?? []).reduce((sum, message) => sum + message.content.length, 0);
    const context = target.knowledge ? (target.knowledge.config.maxContextChars ?? DEFAULT_CONTEXT_CHARS) : 0;
    return Math.ceil((characters + context) / 4) + (options.maxTokens ?? RESERVED_COMPLETION_TOKENS);
  }

  /**
   * Runs a generation under admission control: tokens reserved, a slot of the model (fair share
   * between callers, bounded queue), the request's time limit and the client's disconnect as the
   * runner's abort signal; afterwards the slot is released and the reservation settled with the
   * real usage (a failed generation keeps its reservation: every generation is charged).
   */
  async function* admitted(
    c: Context<Env>,
    state: RequestState,
    target: Target,
    options: RequestedGeneration,
    stream: boolean,
    client: ReturnType<typeof clientSignal>,
  ): AsyncGenerator<GenerationEvent> {
    const timeoutMs = timeoutOf(c, target.model);
    const reserved = limiter?.limitsTokens ? estimate(target, options) : 0;
    await charge(state, reserved, 'reserve', true);
    const deadline = new AbortController();
    const timer = setTimeout(
      () =>
        deadline.abort(
          new TimeoutError({
            operation: `The request to "${shownName(target.name)}"`,
            timeoutMs,
            component: 'gateway',
          }),
        ),
      timeoutMs,
    );
    const signal = AbortSignal.any([client.signal, deadline.signal]);
    let slot: Slot | undefined;
    let usage: Usage | undefined;
    try {
      slot = await target.model.scheduler.acquire(state.principal ? callerKey(state.principal) : 'anonymous', signal);
      signal.throwIfAborted();
      const generate: GenerateOptions = { ...options, abortSignal: signal };
      const events = target.knowledge
        ? knowledgeEvents({
            ...(options.messages ? { messages: options.messages } : { question: options.prompt ?? '' }),
            runner: target.model.runner,
            retrieval: {
              ...retrieveOptions(state, target.knowledge.retrieval),
              limit: target.knowledge.config.limit ?? DEFAULT_KNOWLEDGE_LIMIT,
            },
            ...(target.knowledge.config.instructions ? { instructions: target.knowledge.config.instructions } : {}),
            ...(target.knowledge.config.noAnswer ? { noAnswer: target.knowledge.config.noAnswer } : {}),
            ...(target.knowledge.config.maxContextChars
              ? { maxContextChars: target.knowledge.config.maxContextChars }
              : {}),
            ...(target.knowledge.config.condense ? { condense: true } : {}),
            ...(options.maxTokens === undefined ? {} : { maxTokens: options.maxTokens }),
            ...(options.temperature === undefined ? {} : { temperature: options.temperature }),
            ...(options.topP === undefined ? {} : { topP: options.topP }),
            ...(options.seed === undefined ? {} : { seed: options.seed }),
            ...(options.stop === undefined ? {} : { stop: options.stop }),
            ...(options.schema === undefined ? {} : { schema: options.schema }),
            abortSignal: signal,
          })
        : runnerEvents(target.model.runner, generate, stream);
      for await (const event of events) {
        if (event.type === 'finish') {
          usage = event.usage;
          countTokens(state, target.name, usage);
          for (const warning of event.warnings ?? []) state.warnings.push(warning);
        }
        yield event;
      }
    } catch (error) {
      if (deadline.signal.aborted && !client.signal.aborted) throw deadline.signal.reason;
      if (client.signal.aborted) {
        throw new AbortedError({ operation: 'the request (the client went away)', cause: error, component: 'gateway' });
      }
      throw error;
    } finally {
      clearTimeout(timer);
      slot?.release();
      if (usage !== undefined && reserved > 0) {
        await charge(state, usage.promptTokens + usage.completionTokens - reserved, 'settle', false);
      } else if (usage !== undefined) {
        await charge(state, usage.promptTokens + usage.completionTokens, 'usage', false);
      }
    }
  }

  /**
   * Answers a streamed generation: the first event is awaited before the response starts (so
   * admission refusals and early failures get their status), then `render` turns events into SSE
   * text; a later failure is sent as `renderError`'s event and ends the stream.
   */
  async function streamResponse(
    state: RequestState,
    events: AsyncGenerator<GenerationEvent>,
    client: ReturnType<typeof clientSignal>,
    render: {
      start(first: GenerationEvent | undefined): string;
      event(event: GenerationEvent): string;
      end(): string;
      error(body: OpenAIErrorBody): string;
    },
  ): Promise<Response> {
    let first: IteratorResult<GenerationEvent>;
    try {
      first = await events.next();
    } catch (error) {
      client.release();
      throw error;
    }
    let finished: (status: number) => void = () => {};
    state.streamDone = new Promise<number>((resolve) => {
      finished = resolve;
    });
    let pending: IteratorResult<GenerationEvent> | undefined = first;
    let ended = false;
    const end = (status: number) => {
      if (ended) return;
      ended = true;
      client.release();
      finished(status);
    };
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        const opening = render.start(first.done ? undefined : first.value);
        if (opening) controller.enqueue(encoder.encode(opening));
      },
      async pull(controller) {
        try {
          const next = pending ?? (await events.next());
          pending = undefined;
          if (ended) {
            // The client went away while the runner was producing this event.
            closeQuietly(controller);
            return;
          }
          if (next.done) {
            const closing = render.end();
            if (closing) controller.enqueue(encoder.encode(closing));
            controller.close();
            end(200);
            return;
          }
          const text = render.event(next.value);
          if (text) controller.enqueue(encoder.encode(text));
        } catch (error) {
          if (ended) {
            closeQuietly(controller);
            return;
          }
          // Headers are sent: the failure travels as an error event, which clients raise.
          const translated = toGatewayError(error, state.requestId);
          state.error = translated;
          controller.enqueue(encoder.encode(render.error(errorBody(state, translated))));
          controller.close();
          end(translated.status);
        }
      },
      async cancel() {
        client.abort();
        end(499);
        await events.return(undefined);
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

  /** A whole generation, for non-streamed answers; the client's signal is released after. */
  async function collected(
    c: Context<Env>,
    state: RequestState,
    target: Target,
    options: RequestedGeneration,
  ): Promise<Collected> {
    const client = clientSignal(c);
    try {
      return await collect(admitted(c, state, target, options, false, client));
    } finally {
      client.release();
    }
  }

  /** Knowledge models' extra fields: every numbered source, those the answer cites, and whether it was grounded. */
  const groundedFields = (sources: Collected['sources'], finish: Collected['finish']) =>
    sources === undefined
      ? {}
      : { sources, citations: finish.citations ?? [], grounded: finish.grounded ?? sources.length > 0 };

  const contentOf = (result: Collected) =>
    result.finish.object !== undefined
      ? JSON.stringify(result.finish.object)
      : result.toolCalls.length > 0 && !result.text
        ? null
        : result.text;

  app.post('/v1/chat/completions', async (c) => {
    const state = c.get('state');
    const request = parseArgument(chatRequestSchema, await readJson(c), 'chat completion request');
    const { target, options } = prepare(state, {
      model: request.model,
      stream: request.stream === true,
      options: toGenerateOptions(request),
      maxTokensParam: request.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens',
    });
    const id = `chatcmpl-${randomId()}`;
    const created = nowSeconds();
    if (!request.stream) {
      const result = await collected(c, state, target, options);
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
              content: contentOf(result),
              refusal: null,
              ...(result.toolCalls.length > 0
                ? { tool_calls: wireToolCalls(result.toolCalls).map(({ index: _index, ...call }) => call) }
                : {}),
            },
            logprobs: null,
            finish_reason: wireFinishReason(result.finish.finishReason),
          },
        ],
        ...(result.finish.usage ? { usage: wireUsage(result.finish.usage) } : {}),
        ...groundedFields(result.sources, result.finish),
      });
    }
    const includeUsage = request.stream_options?.include_usage === true;
    const chunk = (choice: Record<string, unknown> | undefined, usage?: Usage, extra: Record<string, unknown> = {}) =>
      sseData({
        id,
        object: 'chat.completion.chunk',
        created,
        model: request.model,
        choices: choice ? [{ index: 0, logprobs: null, finish_reason: null, ...choice }] : [],
        ...(includeUsage ? { usage: usage ? wireUsage(usage) : null } : {}),
        ...extra,
      });
    let toolIndex = 0;
    let sources: Collected['sources'];
    const client = clientSignal(c);
    return streamResponse(state, admitted(c, state, target, options, true, client), client, {
      start: () => chunk({ delta: { role: 'assistant', content: '' } }),
      event: (event) => {
        if (event.type === 'sources') {
          sources = event.sources;
          return '';
        }
        if (event.type === 'text-delta') return event.text ? chunk({ delta: { content: event.text } }) : '';
        if (event.type === 'tool-call') {
          const [call] = wireToolCalls([event.toolCall]);
          return chunk({ delta: { tool_calls: [{ ...call, index: toolIndex++ }] } });
        }
        return (
          chunk(
            { delta: {}, finish_reason: wireFinishReason(event.finishReason) },
            undefined,
            groundedFields(sources, event),
          ) + (includeUsage && event.usage ? chunk(undefined, event.usage) : '')
        );
      },
      end: () => sseData('[DONE]'),
      error: (body) => sseData(body),
    });
  });

  app.post('/v1/responses', async (c) => {
    const state = c.get('state');
    const request = parseArgument(responsesRequestSchema, await readJson(c), 'responses request');
    const { target, options } = prepare(state, {
      model: request.model,
      stream: request.stream === true,
      options: responsesOptions(request),
      maxTokensParam: 'max_output_tokens',
    });
    const response: ResponseState = {
      id: `resp_${randomId()}`,
      createdAt: nowSeconds(),
      model: request.model,
      request,
      messageId: `msg_${randomId()}`,
      text: '',
      toolCalls: [],
      finishReason: undefined,
      usage: undefined,
      sources: undefined,
      citations: undefined,
    };
    const callItem = (call: { id: string; name: string; arguments: unknown }) => ({
      id: `fc_${randomId()}`,
      callId: call.id,
      name: call.name,
      arguments: typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments ?? {}),
    });
    if (!request.stream) {
      const result = await collected(c, state, target, options);
      response.text = contentOf(result) ?? '';
      response.toolCalls = result.toolCalls.map(callItem);
      response.finishReason = result.finish.finishReason;
      response.usage = result.finish.usage;
      response.sources = result.sources;
      response.citations = result.finish.citations;
      return c.json(responseObject(response, 'done'));
    }
    let sequence = 0;
    const emit = (data: Record<string, unknown> & { type: string }) =>
      sseEvent({ ...data, sequence_number: sequence++ });
    // The message item is opened at the first text (a tool-call-only answer has none).
    let messageIndex: number | undefined;
    let outputs = 0;
    const openMessage = () => {
      if (messageIndex !== undefined) return '';
      messageIndex = outputs++;
      return (
        emit({
          type: 'response.output_item.added',
          output_index: messageIndex,
          item: messageItem(response, 'in_progress'),
        }) +
        emit({
          type: 'response.content_part.added',
          item_id: response.messageId,
          output_index: messageIndex,
          content_index: 0,
          part: { type: 'output_text', text: '', annotations: [], logprobs: [] },
        })
      );
    };
    const client = clientSignal(c);
    return streamResponse(state, admitted(c, state, target, options, true, client), client, {
      start: () =>
        emit({ type: 'response.created', response: responseObject(response, 'in_progress') }) +
        emit({ type: 'response.in_progress', response: responseObject(response, 'in_progress') }),
      event: (event) => {
        if (event.type === 'sources') {
          response.sources = event.sources;
          return '';
        }
        if (event.type === 'text-delta') {
          if (!event.text) return '';
          response.text += event.text;
          return (
            openMessage() +
            emit({
              type: 'response.output_text.delta',
              item_id: response.messageId,
              output_index: messageIndex,
              content_index: 0,
              delta: event.text,
              logprobs: [],
            })
          );
        }
        if (event.type === 'tool-call') {
          const call = callItem(event.toolCall);
          response.toolCalls.push(call);
          const index = outputs++;
          return (
            emit({
              type: 'response.output_item.added',
              output_index: index,
              item: functionCallItem(call, 'in_progress'),
            }) +
            emit({
              type: 'response.function_call_arguments.delta',
              item_id: call.id,
              output_index: index,
              delta: call.arguments,
            }) +
            emit({
              type: 'response.function_call_arguments.done',
              item_id: call.id,
              output_index: index,
              arguments: call.arguments,
            }) +
            emit({ type: 'response.output_item.done', output_index: index, item: functionCallItem(call, 'completed') })
          );
        }
        response.finishReason = event.finishReason;
        response.usage = event.usage;
        response.citations = event.citations;
        if (event.object !== undefined) response.text = JSON.stringify(event.object);
        let text = response.toolCalls.length === 0 ? openMessage() : '';
        if (messageIndex !== undefined) {
          const part = outputText(response);
          part.annotations.forEach((annotation, annotationIndex) => {
            text += emit({
              type: 'response.output_text.annotation.added',
              item_id: response.messageId,
              output_index: messageIndex,
              content_index: 0,
              annotation_index: annotationIndex,
              annotation,
            });
          });
          const status = event.finishReason === 'length' ? 'incomplete' : 'completed';
          text +=
            emit({
              type: 'response.output_text.done',
              item_id: response.messageId,
              output_index: messageIndex,
              content_index: 0,
              text: response.text,
              logprobs: [],
            }) +
            emit({
              type: 'response.content_part.done',
              item_id: response.messageId,
              output_index: messageIndex,
              content_index: 0,
              part,
            }) +
            emit({
              type: 'response.output_item.done',
              output_index: messageIndex,
              item: messageItem(response, status),
            });
        }
        const done = responseObject(response, 'done');
        return (
          text +
          emit({ type: done.status === 'incomplete' ? 'response.incomplete' : 'response.completed', response: done })
        );
      },
      end: () => '',
      error: (body) =>
        emit({ type: 'error', code: body.error.code, message: body.error.message, param: body.error.param }),
    });
  });

  app.post('/v1/completions', async (c) => {
    const state = c.get('state');
    const request = parseArgument(completionRequestSchema, await readJson(c), 'completion request');
    const { target, options } = prepare(state, {
      model: request.model,
      stream: request.stream === true,
      options: completionOptions(request),
      maxTokensParam: 'max_tokens',
    });
    if (target.knowledge) {
      throw invalidRequest(
        `The knowledge model "${shownName(target.name)}" answers chats; use /v1/chat/completions or /v1/responses.`,
        'model',
        'unsupported_parameter',
      );
    }
    const id = `cmpl-${randomId()}`;
    const created = nowSeconds();
    const echo = request.echo === true ? (options.prompt ?? '') : '';
    const choice = (text: string, finishReason: string | null) => ({
      text,
      index: 0,
      logprobs: null,
      finish_reason: finishReason,
    });
    if (!request.stream) {
      const result = await collected(c, state, target, options);
      return c.json({
        id,
        object: 'text_completion',
        created,
        model: request.model,
        choices: [choice(echo + result.text, wireFinishReason(result.finish.finishReason))],
        ...(result.finish.usage ? { usage: wireUsage(result.finish.usage) } : {}),
      });
    }
    const includeUsage = request.stream_options?.include_usage === true;
    const chunk = (choices: unknown[], usage?: Usage) =>
      sseData({
        id,
        object: 'text_completion',
        created,
        model: request.model,
        choices,
        ...(includeUsage ? { usage: usage ? wireUsage(usage) : null } : {}),
      });
    const client = clientSignal(c);
    return streamResponse(state, admitted(c, state, target, options, true, client), client, {
      start: () => (echo ? chunk([choice(echo, null)]) : ''),
      event: (event) => {
        if (event.type === 'text-delta') return event.text ? chunk([choice(event.text, null)]) : '';
        if (event.type !== 'finish') return '';
        return (
          chunk([choice('', wireFinishReason(event.finishReason))]) +
          (includeUsage && event.usage ? chunk([], event.usage) : '')
        );
      },
      end: () => sseData('[DONE]'),
      error: (body) => sseData(body),
    });
  });

  app.post('/v1/embeddings', async (c) => {
    const state = c.get('state');
    const request = parseArgument(embeddingsRequestSchema, await readJson(c), 'embeddings request');
    const embedder = embedders.get(request.model);
    if (!embedder) throw modelNotFound(request.model, 'embedding');
    allow(state, 'embed', 'model', request.model);
    state.model = shownName(request.model);
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
    countTokens(state, request.model, undefined, tokens);
    await charge(state, tokens, 'embed', false);
    if (request.dimensions !== undefined && request.dimensions !== dimensions) {
      throw invalidRequest(
        `The model "${shownName(request.model)}" gives ${dimensions}-dimensional vectors and cannot shorten them; omit dimensions.`,
        'dimensions',
        'unsupported_parameter',
      );
    }
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
    const config = collections.get(request.collection);
    if (!config) {
      throw new GatewayHttpError({
        status: 404,
        message: `The collection "${shownName(request.collection)}" is not searchable through this gateway.`,
        type: 'invalid_request_error',
        code: 'collection_not_found',
        param: 'collection',
      });
    }
    allow(state, 'search', 'collection', request.collection);
    const maxLimit = config.maxLimit ?? DEFAULT_MAX_SEARCH_LIMIT;
    if (request.limit !== undefined && request.limit > maxLimit) {
      throw invalidRequest(
        `limit must be at most ${maxLimit} for the collection "${shownName(request.collection)}"`,
        'limit',
      );
    }
    const client = clientSignal(c);
    try {
      const chunks = await retrieve({
        ...retrieveOptions(state, config),
        query: request.query,
        ...(request.limit === undefined ? {} : { limit: request.limit }),
        ...(request.filter === undefined ? {} : { filter: request.filter as Filter }),
        ...(request.mode === undefined ? {} : { mode: request.mode }),
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
