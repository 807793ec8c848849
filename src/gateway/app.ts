/**
 * `createGateway`: an OpenAI-compatible HTTP API (chat completions, responses, legacy completions,
 * embeddings, models) plus kumiki's /v1/search, retrieval-augmented knowledge models, health,
 * readiness and Prometheus metrics, as a Hono app that any fetch runtime can serve.
 *
 * The app is composed here: the middleware of middleware/ (request state, logs and error mapping on
 * every path; authentication and rate limits on /v1/*) and one Hono sub-app per endpoint family from
 * routes/, mounted under `basePath`.
 */
import { Hono } from 'hono';
import { type ScopeStoreOptions, scopeStore } from '../auth/scoped.js';
import type { DenseEmbedder } from '../core/embedder.js';
import { KumikiError } from '../core/errors.js';
import type { ModelRunner } from '../core/runner.js';
import { parseArgument } from '../core/validate.js';
import { ModelScheduler } from './admission.js';
import type { Env, KnowledgeEntry, ModelEntry, RetrieveFor } from './context.js';
import { generations } from './generate.js';
import { GatewayMetrics } from './metrics.js';
import { ANONYMOUS, createAccess } from './middleware/access.js';
import { jsonReader } from './middleware/body.js';
import { notFound, onError, requestState } from './middleware/request.js';
import {
  type GatewayAdmission,
  type GatewayModel,
  type GatewayOptions,
  type KnowledgeModel,
  optionsSchema,
  type RetrieveConfig,
} from './options.js';
import { chatCompletions } from './routes/chat.js';
import { completions } from './routes/completions.js';
import { embeddings } from './routes/embeddings.js';
import { modelsAndHealth } from './routes/models.js';
import { responses } from './routes/responses.js';
import { search } from './routes/search.js';
import type { Served } from './served.js';
import { nowSeconds } from './wire.js';

const DEFAULT_SLOTS = 4;
const DEFAULT_MAX_QUEUE = 64;
const DEFAULT_QUEUE_TIMEOUT_MS = 30_000;
const DEFAULT_TIMEOUT_MS = 300_000;

/** The Hono app `createGateway` returns. */
export type Gateway = Hono<Env>;

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
  const createdAt = nowSeconds();
  const scopeOption = options.search?.scopeByTenant;
  const scope: ScopeStoreOptions | undefined =
    scopeOption === true ? {} : scopeOption === false || scopeOption === undefined ? undefined : scopeOption;
  // Checks the scope options now rather than on the first search.
  const firstStore = [...collections.values()][0]?.store;
  if (scope && firstStore) scopeStore(firstStore, { ...ANONYMOUS, tenant: 'check' }, scope);
  /** The store a search or knowledge model reads: scoped to the caller's tenant when configured. */
  const retrieveOptions: RetrieveFor = (state, config) => {
    const { defaultMode, maxLimit: _maxLimit, ...retrieveConfig } = config;
    if (scope && state.principal) retrieveConfig.store = scopeStore(config.store, state.principal, scope);
    return { ...retrieveConfig, ...(defaultMode === undefined ? {} : { mode: defaultMode }) };
  };

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
  const access = createAccess({
    authenticate: parsed.authenticate,
    authorize: parsed.authorize,
    rateLimit: parsed.rateLimit,
    metrics,
  });
  const served: Served = {
    models,
    knowledge,
    embedders,
    collections,
    metrics,
    serveMetrics: parsed.metrics !== false,
    access,
    readJson: jsonReader(parsed.maxBodyBytes),
    retrieveOptions,
    ...generations({ models, knowledge, access, metrics, retrieveOptions }),
    load,
    createdAt,
  };

  // Middleware, error and not-found handlers sit on the root, so that they also see paths outside
  // basePath; routes go on a view of the same router under basePath.
  const root: Gateway = new Hono<Env>();
  root.use('*', requestState({ metrics, logger: parsed.logger, prefix: parsed.basePath ?? '' }));
  root.onError(onError);
  root.notFound(notFound);
  const app: Gateway = parsed.basePath ? root.basePath(parsed.basePath) : root;
  app.use('/v1/*', access.guard);
  for (const endpoints of [modelsAndHealth, chatCompletions, responses, completions, embeddings, search]) {
    app.route('/', endpoints(served));
  }
  return root;
}
