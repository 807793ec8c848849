/** The options of `createGateway`, validated with zod. */
import { z } from 'zod';
import type { ScopeStoreOptions } from '../auth/scoped.js';
import type { Authenticator, Authorizer, Principal } from '../core/auth.js';
import type { Cache } from '../core/cache.js';
import type { DenseEmbedder } from '../core/embedder.js';
import type { ModelRunner } from '../core/runner.js';
import { denseEmbedderSchema, runnerSchema, storeSchema } from '../core/schemas.js';
import { functionSchema, implementing } from '../core/validate.js';
import type { RetrieveOptions } from '../pipeline/retrieve.js';

/** How one searchable collection is retrieved; the request supplies query, limit, filter and mode. */
export type RetrieveConfig = Omit<RetrieveOptions, 'query' | 'limit' | 'filter' | 'abortSignal' | 'mode'> & {
  /** Mode when the request names none; default: what `retrieve()` picks from the embedders given. */
  defaultMode?: 'dense' | 'sparse' | 'hybrid';
  /** The largest `limit` a request may ask for; default 50. */
  maxLimit?: number;
};

/** One structured log entry per request; secrets are already redacted. */
export type GatewayLogEntry = {
  time: string;
  level: 'info' | 'warn' | 'error';
  requestId: string;
  method: string;
  /** Path and query as received (secret-named query parameters masked). */
  path: string;
  /** The gateway route that handled it (`/v1/chat/completions`, …), or `unmatched`. */
  route: string;
  status: number;
  durationMs: number;
  subject?: string;
  tenant?: string;
  model?: string;
  stream?: boolean;
  tokens?: { prompt: number; completion: number; embedding: number };
  /** Request headers, with credential-bearing ones replaced by `[REDACTED]`. */
  headers: Record<string, string>;
  error?: { type: string; code: string | null; message: string; cause?: string };
  /** Problems that did not fail the request (a token count that could not be recorded). */
  warnings?: string[];
};

export type GatewayRateLimit = {
  /** Where counters live; must implement `increment` (the keyv cache on Redis shares them between instances). */
  cache: Cache;
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  /** Whose allowance a request uses; default the principal's subject. */
  key?: (principal: Principal) => string;
  /** Prefix of the counter keys; default `kumiki-gateway:rl`. */
  prefix?: string;
  /**
   * When the counters cannot be reached (Redis down): `false` (default) refuses requests with 503 and
   * `Retry-After`; `true` lets them through unlimited, with a warning in each log entry.
   */
  failOpen?: boolean;
};

/** How many requests a chat model serves at once, and how the rest wait. */
export type GatewayAdmission = {
  /**
   * Requests generating at once per model. Default: the runner's `sequences` when it has them (the
   * llama.cpp runner), else 4.
   */
  slots?: number;
  /** Requests waiting for a slot per model; more get 429 with `Retry-After`. Default 64. */
  maxQueue?: number;
  /** Longest wait for a slot; then 503 with `Retry-After`. Default 30,000 ms. */
  queueTimeoutMs?: number;
  /**
   * Longest a request may take, queue included; then 504 (`x-kumiki-timeout-ms` may ask for less).
   * Default 300,000 ms.
   */
  timeoutMs?: number;
};

/** A chat model with its own serving limits (each defaults to `admission`'s). */
export type GatewayModel = GatewayAdmission & {
  runner: ModelRunner;
  /** The largest `max_tokens` a request may ask for (400 beyond); default: only the context limits it. */
  maxTokens?: number;
};

/**
 * A retrieval-augmented model: clients chat with it like any model, and each answer is grounded in
 * passages retrieved for the latest user turn (`answer()` of kumiki's pipeline), with citations.
 */
export type KnowledgeModel = {
  /** The chat model (a name in `models`) that writes the answers; its slots and limits apply. */
  model: string;
  /** A collection of `search.collections` to retrieve from (its configuration and tenant scoping). */
  collection?: string;
  /** Or retrieval configured here, as for a search collection. */
  retrieval?: RetrieveConfig;
  /** Passages retrieved per answer; default 5. */
  limit?: number;
  /** Replaces `answer()`'s default instructions. */
  instructions?: string;
  /** The answer when nothing relevant is found (the model is not called). */
  noAnswer?: string;
  /** Characters of passages given to the model; default 6,000. */
  maxContextChars?: number;
  /** Rewrite a follow-up into a standalone question with the model before retrieving; default false. */
  condense?: boolean;
};

export type GatewayOptions = {
  /** Chat models by the name clients send as `model`: a runner, or a runner with its limits. */
  models?: Record<string, ModelRunner | GatewayModel>;
  /** Retrieval-augmented models by name (served on /v1/chat/completions and /v1/responses). */
  knowledge?: Record<string, KnowledgeModel>;
  /** Defaults of every model's slots, queue and time limit. */
  admission?: GatewayAdmission;
  /**
   * Load every model when the gateway is created (`describeModel()`), so that no caller pays for it;
   * `/readyz` answers 503 until they are loaded. Default true.
   */
  preload?: boolean;
  /** After loading, generate one token with each model (fills caches, compiles kernels). Default false. */
  warmUp?: boolean;
  /** Embedding models by the name clients send as `model` to /v1/embeddings. */
  embedders?: Record<string, DenseEmbedder>;
  /** Collections searchable through POST /v1/search. */
  search?: {
    collections: Record<string, RetrieveConfig>;
    /**
     * Scope every search to the caller's tenant with `scopeStore` (kumiki/auth): `true` for the
     * defaults (payload field `tenant`), or its options. A principal without a tenant gets 403.
     */
    scopeByTenant?: boolean | ScopeStoreOptions;
  };
  /** Establishes who calls; throw UnauthorizedError to refuse. Required unless `allowAnonymous`. */
  authenticate?: Authenticator;
  /** Without `authenticate`: every request runs as the principal `anonymous`. */
  allowAnonymous?: boolean;
  /** Decides model and collection access; default: every authenticated principal may use everything. */
  authorize?: Authorizer;
  rateLimit?: GatewayRateLimit;
  /** Largest request body accepted; default 1 MiB (1,048,576 bytes). Larger bodies get 413. */
  maxBodyBytes?: number;
  /** Receives one entry per request, after its response (or stream) ended. */
  logger?: (entry: GatewayLogEntry) => void;
  /** Prefix of every route, e.g. `/ai`; default none. */
  basePath?: string;
  /** Serve GET /metrics (unauthenticated, like /healthz and /readyz); default true. */
  metrics?: boolean;
};

const recordOf = <T extends z.ZodType>(item: T, what: string) =>
  z.record(
    z.string().min(1, `${what} names must not be empty`).max(256, `${what} names are at most 256 characters`),
    item,
  );

const positiveInt = (name: string) => z.number().int(`${name} must be an integer`).min(1, `${name} must be at least 1`);

const admissionShape = {
  slots: positiveInt('slots').max(1024, 'slots must be at most 1024').optional(),
  maxQueue: z.number().int('maxQueue must be an integer').min(0, 'maxQueue must be at least 0').optional(),
  queueTimeoutMs: positiveInt('queueTimeoutMs').optional(),
  timeoutMs: positiveInt('timeoutMs').optional(),
};

const modelSchema = z.union([
  runnerSchema,
  z.object({ runner: runnerSchema, maxTokens: positiveInt('maxTokens').optional(), ...admissionShape }).strict(),
]);

const retrieveConfigSchema = z
  .object({
    store: storeSchema,
    collection: z.string().min(1, 'collection must not be empty'),
    embedder: denseEmbedderSchema.optional(),
    defaultMode: z.enum(['dense', 'sparse', 'hybrid']).optional(),
    maxLimit: z.number().int().min(1).max(1000).optional(),
  })
  .loose();

const knowledgeSchema = z
  .object({
    model: z.string().min(1, 'model must name a chat model of models'),
    collection: z.string().min(1).optional(),
    retrieval: retrieveConfigSchema.optional(),
    limit: positiveInt('limit').max(100, 'limit must be at most 100').optional(),
    instructions: z.string().min(1).optional(),
    noAnswer: z.string().min(1).optional(),
    maxContextChars: z.number().int().min(100, 'maxContextChars must be at least 100').optional(),
    condense: z.boolean().optional(),
  })
  .strict()
  .refine((value) => (value.collection === undefined) !== (value.retrieval === undefined), {
    message: 'give either collection (a name in search.collections) or retrieval, not both',
  });

export const optionsSchema = z
  .object({
    models: recordOf(modelSchema, 'model').optional(),
    knowledge: recordOf(knowledgeSchema, 'knowledge model').optional(),
    admission: z.object(admissionShape).strict().optional(),
    preload: z.boolean().optional(),
    warmUp: z.boolean().optional(),
    embedders: recordOf(denseEmbedderSchema, 'embedder').optional(),
    search: z
      .object({
        collections: recordOf(retrieveConfigSchema, 'collection'),
        scopeByTenant: z
          .union([z.boolean(), z.record(z.string(), z.unknown())], {
            error: 'scopeByTenant must be true, false or scopeStore options ({ tenantField, aclField, … })',
          })
          .optional(),
      })
      .strict()
      .optional(),
    authenticate: functionSchema<Authenticator>(
      'authenticate must be a function (request) => Promise<Principal>',
    ).optional(),
    allowAnonymous: z.boolean().optional(),
    authorize: z
      .custom<Authorizer>(
        (value) => typeof value === 'object' && value !== null && typeof (value as Authorizer).can === 'function',
        'authorize must be an Authorizer ({ can(principal, action, resource) })',
      )
      .optional(),
    rateLimit: z
      .object({
        cache: implementing<Cache>(
          'rateLimit.cache must be a kumiki Cache with increment() (e.g. createKeyvCache({ url: "redis://…" }))',
          { fields: { specificationVersion: 'kumiki.cache.v1' }, methods: ['increment'] },
        ),
        requestsPerMinute: z.number().int().min(1, 'requestsPerMinute must be at least 1').optional(),
        tokensPerMinute: z.number().int().min(1, 'tokensPerMinute must be at least 1').optional(),
        key: functionSchema<(principal: Principal) => string>(
          'key must be a function (principal) => string',
        ).optional(),
        prefix: z.string().min(1).optional(),
        failOpen: z.boolean().optional(),
      })
      .strict()
      .refine(
        (value) => value.requestsPerMinute !== undefined || value.tokensPerMinute !== undefined,
        'rateLimit needs requestsPerMinute, tokensPerMinute or both',
      )
      .optional(),
    maxBodyBytes: z.number().int().min(1, 'maxBodyBytes must be at least 1').optional(),
    logger: functionSchema<(entry: GatewayLogEntry) => void>('logger must be a function (entry) => void').optional(),
    basePath: z
      .string()
      .regex(/^\/[A-Za-z0-9._~/-]*[^/]$/, 'basePath must start with / and not end with / (e.g. "/ai")')
      .optional(),
    metrics: z.boolean().optional(),
  })
  .strict()
  .superRefine((value, context) => {
    if (!value.authenticate && value.allowAnonymous !== true) {
      context.addIssue({
        code: 'custom',
        path: ['authenticate'],
        message:
          'pass authenticate (e.g. createTokenVerifier(…).authenticate), or allowAnonymous: true to serve without authentication',
      });
    }
    const models = Object.keys(value.models ?? {});
    const embedders = Object.keys(value.embedders ?? {});
    const knowledge = Object.entries(value.knowledge ?? {});
    const collections = value.search?.collections ?? {};
    if (models.length + embedders.length + Object.keys(collections).length === 0) {
      context.addIssue({ code: 'custom', path: [], message: 'give at least one of models, embedders or search' });
    }
    for (const name of embedders.filter((name) => models.includes(name))) {
      context.addIssue({
        code: 'custom',
        path: ['embedders', name],
        message: `"${name}" names both a chat model and an embedder; /v1/models needs distinct names`,
      });
    }
    for (const [name, entry] of knowledge) {
      if (models.includes(name) || embedders.includes(name)) {
        context.addIssue({
          code: 'custom',
          path: ['knowledge', name],
          message: `"${name}" names a knowledge model and another model; /v1/models needs distinct names`,
        });
      }
      if (!Object.hasOwn(value.models ?? {}, entry.model)) {
        context.addIssue({
          code: 'custom',
          path: ['knowledge', name, 'model'],
          message: `"${entry.model}" is not a model of models; name the chat model that writes the answers`,
        });
      }
      if (entry.collection !== undefined && !Object.hasOwn(collections, entry.collection)) {
        context.addIssue({
          code: 'custom',
          path: ['knowledge', name, 'collection'],
          message: `"${entry.collection}" is not a collection of search.collections`,
        });
      }
    }
  });
