/** The options of `createGateway`, validated with zod. */
import { z } from 'zod';
import type { ScopeStoreOptions } from '../auth/scoped.js';
import type { Authenticator, Authorizer, Principal } from '../core/auth.js';
import type { Cache } from '../core/cache.js';
import type { DenseEmbedder } from '../core/embedder.js';
import type { ModelRunner } from '../core/runner.js';
import { denseEmbedderSchema, runnerSchema, storeSchema } from '../core/schemas.js';
import { implementing } from '../core/validate.js';
import { functionSchema } from '../http/credentials.js';
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
};

export type GatewayOptions = {
  /** Chat models by the name clients send as `model`. */
  models?: Record<string, ModelRunner>;
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
  z.record(z.string().min(1, `${what} names must not be empty`), item);

const retrieveConfigSchema = z
  .object({
    store: storeSchema,
    collection: z.string().min(1, 'collection must not be empty'),
    embedder: denseEmbedderSchema.optional(),
    defaultMode: z.enum(['dense', 'sparse', 'hybrid']).optional(),
    maxLimit: z.number().int().min(1).max(1000).optional(),
  })
  .loose();

export const optionsSchema = z
  .object({
    models: recordOf(runnerSchema, 'model').optional(),
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
    if (models.length + embedders.length + Object.keys(value.search?.collections ?? {}).length === 0) {
      context.addIssue({ code: 'custom', path: [], message: 'give at least one of models, embedders or search' });
    }
    for (const name of embedders.filter((name) => models.includes(name))) {
      context.addIssue({
        code: 'custom',
        path: ['embedders', name],
        message: `"${name}" names both a chat model and an embedder; /v1/models needs distinct names`,
      });
    }
  });
