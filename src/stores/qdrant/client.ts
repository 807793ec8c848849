/**
 * The Qdrant store's connection: options, the client (created on first use), one request with
 * deadline, abort, retries and error translation, the server version check, and what kumiki keeps in
 * each collection's metadata (described and cached per name).
 */
import type { QdrantClient } from '@qdrant/js-client-rest';
import * as z from 'zod';
import { ConflictError, InvalidArgumentError, throwIfAborted } from '../../core/errors.js';
import { embeddingSpaceSchema } from '../../core/fingerprint.js';
import { checkServerRelease, type Release } from '../../core/server-version.js';
import type { Store } from '../../core/store.js';
import { raceAbort } from '../../internal/abort.js';
import { importOptional, lazy } from '../../internal/optional.js';
import { withRetry } from '../../internal/retry.js';
import { type CollectionRecord, createDescriptionCache } from '../kernel/collection.js';
import {
  collectionCacheShape,
  type ServerStoreOptions,
  type ServerStoreSettings,
  serverStoreOptionsShape,
  serverStoreSettings,
} from '../kernel/options.js';
import { storeArgumentSchemas } from '../kernel/schemas.js';
import { translateError } from './errors.js';
import { type QdrantFilter, qdrantKey } from './filter.js';

/** Payload index types kumiki can create for `indexedFields`. */
export type QdrantIndexType = 'keyword' | 'integer' | 'float' | 'bool';

export type QdrantStoreOptions = ServerStoreOptions & {
  /** Server URL, default `http://localhost:6333` (Qdrant Cloud: `https://…:6333`). */
  url?: string;
  /** API key, sent as the `api-key` header. */
  apiKey?: string;
  /** Deadline of each HTTP request, default 30 s; `TimeoutError` (retryable) when it passes. */
  timeoutMs?: number;
  /**
   * An existing `QdrantClient` to use instead of creating one from `url`/`apiKey` (which must then
   * be left out). Its own `timeout` applies to its requests as well.
   */
  client?: QdrantClient;
  /** Payload indexes to create with each new collection, by kumiki field path (e.g. `{ 'meta.lang': 'keyword' }`). */
  indexedFields?: Record<string, QdrantIndexType>;
  /**
   * Keep an exact copy of each dense vector of `cosine` collections (Qdrant normalizes cosine vectors
   * on write, so they would come back scaled to length 1). Default `true`; `false` saves the copy's
   * disk space and returns normalized vectors.
   */
  storeOriginalVectors?: boolean;
  /** How long collection settings (dimensions, metric) are cached per name, default 5,000 ms; 0 disables. */
  collectionCacheMs?: number;
};

export type QdrantStore = Store &
  Required<Pick<Store, 'setAlias' | 'deleteAlias' | 'listAliases'>> & {
    readonly provider: 'qdrant';
    /** The underlying `QdrantClient` (created on first use), for anything kumiki does not cover. */
    client(): Promise<QdrantClient>;
  };

export const COMPONENT = 'qdrant';
export const DENSE = 'dense';
export const DENSE_ORIGINAL = 'dense_original';
export const SPARSE = 'sparse';
const DEFAULT_URL = 'http://localhost:6333';
/** Collection `metadata` arrived in Qdrant 1.16; the adapter is built and checked against 1.18. */
const QDRANT_MINIMUM_VERSION: Release = [1, 16, 0];

/** Defaults of the shared server-store options: 256 points or 16 MiB of JSON per upsert (Qdrant refuses bodies over 32 MiB by default). */
export const QDRANT_DEFAULTS = { maxBatchSize: 256, maxBatchBytes: 16 * 1024 * 1024 };

export const optionsSchema = z
  .object({
    url: z
      .string()
      .regex(/^https?:\/\/[^\s]+$/, 'url must start with http:// or https://')
      .optional(),
    apiKey: z.string().min(1).optional(),
    timeoutMs: z.number().int().positive().optional(),
    client: z
      .custom<QdrantClient>(
        (value) => typeof value === 'object' && value !== null && typeof (value as QdrantClient).api === 'function',
        'client must be a QdrantClient from @qdrant/js-client-rest',
      )
      .optional(),
    ...serverStoreOptionsShape(QDRANT_DEFAULTS),
    indexedFields: z
      .record(
        z.string().regex(/^[^.]+(\.[^.]+)*$/, 'field must be dot-separated non-empty keys, e.g. "meta.author"'),
        z.enum(['keyword', 'integer', 'float', 'bool']),
      )
      .optional(),
    storeOriginalVectors: z.boolean().optional(),
    ...collectionCacheShape,
  })
  .strict()
  .refine((value) => value.client === undefined || (value.url === undefined && value.apiKey === undefined), {
    message: 'pass either client or url/apiKey, not both',
  });

// The Store-method schemas are shared by every store, so that the same mistakes get the same errors.
export const {
  create: createSchema,
  open: openSchema,
  list: listSchema,
  deleteCollection: deleteCollectionSchema,
  explain: explainSchema,
  setAlias: aliasSchema,
  deleteAlias: deleteAliasSchema,
  parseUpsert,
  get: getSchema,
  delete: deleteSchema,
  count: countSchema,
  scroll: scrollSchema,
  search: searchSchema,
} = storeArgumentSchemas();

/** What kumiki stores in Qdrant's collection `metadata` (Qdrant ≥ 1.16), under the key `kumiki`. */
export const collectionMetaSchema = z.object({
  version: z.literal(1),
  name: z.string(),
  dimensions: z.number().int().positive().optional(),
  metric: z.enum(['cosine', 'dot', 'euclidean']),
  sparse: z.boolean(),
  fingerprint: z.string().optional(),
  sparseFingerprint: z.string().optional(),
  embeddingSpace: z.optional(embeddingSpaceSchema),
  sparseEmbeddingSpace: z.optional(embeddingSpaceSchema),
  /** Random id given at creation (absent on collections from kumiki 0.1). */
  epoch: z.string().optional(),
});
export type CollectionMeta = z.infer<typeof collectionMetaSchema>;

export type Description = CollectionMeta & {
  /** The name kumiki was asked for (the collection's own name or an alias of it). */
  addressedAs: string;
  /** Whether points keep an exact copy of their dense vector (`dense_original`). */
  original: boolean;
  /** Keys of the collection's `integer` payload indexes (Qdrant truncates fractional bounds on them). */
  integerKeys: ReadonlySet<string>;
};

export type Api = ReturnType<QdrantClient['api']>;
export type Init = { signal: AbortSignal };

export type CallOptions = {
  operation: string;
  collection?: string;
  abortSignal?: AbortSignal;
  retry?: boolean;
  /** `false` for the version request itself. */
  checkVersion?: boolean;
};

/** What the collection and row methods share. */
export type QdrantContext = ServerStoreSettings & {
  settings: z.output<typeof optionsSchema>;
  url: string | undefined;
  keepOriginal: boolean;
  /** Payload indexes to create with each collection, as Qdrant keys. */
  indexedFields: [string, QdrantIndexType][];
  client(): Promise<QdrantClient>;
  /** One Qdrant request: deadline, abort, retries, and error translation in one place. */
  call<T>(how: CallOptions, request: (api: Api, init: Init) => Promise<{ data: { result?: T } }>): Promise<T>;
  /** The collection (or alias) as kumiki created it, cached for `collectionCacheMs` unless `fresh`. */
  describe(name: string, abortSignal?: AbortSignal, fresh?: boolean): Promise<Description>;
  forget(name: string): void;
  forgetAll(): void;
  countPoints(collection: string, filter: QdrantFilter | undefined, abortSignal?: AbortSignal): Promise<number>;
  aliasTargets(abortSignal?: AbortSignal): Promise<Map<string, string>>;
  dispose(): void;
};

/** A description as the kernel sees a collection. */
export const toCollection = (description: Description): CollectionRecord => ({
  name: description.name,
  dimensions: description.dimensions,
  metric: description.metric,
  sparse: description.sparse,
  fingerprint: description.fingerprint,
  sparseFingerprint: description.sparseFingerprint,
  space: description.embeddingSpace,
  sparseSpace: description.sparseEmbeddingSpace,
  epoch: description.epoch,
});

export function createQdrantContext(settings: z.output<typeof optionsSchema>): QdrantContext {
  const url = settings.client ? undefined : (settings.url ?? DEFAULT_URL).replace(/\/+$/, '');
  const timeoutMs = settings.timeoutMs ?? 30_000;
  const shared = serverStoreSettings(settings, QDRANT_DEFAULTS);
  const indexedFields = Object.entries(settings.indexedFields ?? {}).map(([field, type]): [string, QdrantIndexType] => {
    try {
      return [qdrantKey(field, { op: 'exists', field }), type];
    } catch (error) {
      throw new InvalidArgumentError({
        argument: 'Qdrant store options',
        issues: [{ path: `indexedFields.${field}`, message: (error as Error).message }],
      });
    }
  });
  let disposed = false;

  const client = lazy(async (): Promise<QdrantClient> => {
    if (settings.client) return settings.client;
    const { QdrantClient } = await importOptional(
      '@qdrant/js-client-rest',
      COMPONENT,
      () => import('@qdrant/js-client-rest'),
    );
    // kumiki enforces its own deadline per request (the client's would replace kumiki's abort signal).
    return new QdrantClient({
      url,
      ...(settings.apiKey ? { apiKey: settings.apiKey } : {}),
      timeout: Number.POSITIVE_INFINITY,
      checkCompatibility: false,
    });
  });

  /** One Qdrant request: deadline, abort, retries, and error translation in one place. */
  const call = async <T>(
    how: CallOptions,
    request: (api: Api, init: Init) => Promise<{ data: { result?: T } }>,
  ): Promise<T> => {
    if (disposed) {
      throw new ConflictError({ message: 'This Qdrant store was disposed; create a new one.', component: COMPONENT });
    }
    throwIfAborted(how.abortSignal, how.operation);
    const api = (await client()).api();
    if (how.checkVersion !== false) await versionChecked();
    const attempt = async (): Promise<T> => {
      const deadline = AbortSignal.timeout(timeoutMs);
      const signal = how.abortSignal ? AbortSignal.any([how.abortSignal, deadline]) : deadline;
      try {
        const response = await raceAbort(request(api, { signal }), signal, how.operation, COMPONENT);
        return response.data.result as T;
      } catch (error) {
        throw translateError(error, {
          operation: how.operation,
          url,
          collection: how.collection,
          abortSignal: how.abortSignal,
          ...(deadline.aborted ? { timedOut: { timeoutMs } } : {}),
        });
      }
    };
    if (how.retry === false) return attempt();
    return withRetry(attempt, {
      ...shared.retry,
      operation: how.operation,
      abortSignal: how.abortSignal,
    });
  };

  /** Reads the server's version (`GET /`) once, before the first other request. */
  const versionChecked = lazy(async (): Promise<void> => {
    const info = await call({ operation: 'read the server version', checkVersion: false }, (api, init) =>
      api.root({}, init).then((response) => ({ data: { result: response.data } })),
    );
    checkServerRelease({
      server: 'Qdrant',
      url: url ?? 'the server of the `client` option',
      version: String(info?.version ?? 'unknown'),
      minimum: QDRANT_MINIMUM_VERSION,
      needs: 'collection metadata',
      component: COMPONENT,
    });
  });

  const cache = createDescriptionCache<Description>(settings.collectionCacheMs ?? 5_000);

  const fetchDescription = async (name: string, abortSignal?: AbortSignal): Promise<Description> => {
    const info = await call({ operation: `read collection "${name}"`, collection: name, abortSignal }, (api, init) =>
      api.getCollection({ collection_name: name }, init),
    );
    const vectors = (info?.config.params.vectors ?? {}) as Record<string, unknown>;
    const meta = collectionMetaSchema.safeParse((info?.config.metadata as Record<string, unknown> | null)?.kumiki);
    if (!meta.success) {
      throw new ConflictError({
        message: `Qdrant collection "${name}" was not created by kumiki (its metadata has no valid "kumiki" entry); kumiki opens only collections it created.`,
        component: COMPONENT,
      });
    }
    const integerKeys = new Set(
      Object.entries(info?.payload_schema ?? {})
        .filter(([, schema]) => schema?.data_type === 'integer')
        .map(([key]) => key),
    );
    return { ...meta.data, addressedAs: name, original: DENSE_ORIGINAL in vectors, integerKeys };
  };

  const countPoints = (collection: string, filter: QdrantFilter | undefined, abortSignal?: AbortSignal) =>
    call({ operation: `count in "${collection}"`, collection, abortSignal }, (api, init) =>
      api.countPoints({ collection_name: collection, exact: true, ...(filter ? { filter } : {}) }, init),
    ).then((result) => result?.count ?? 0);

  const aliasTargets = async (abortSignal?: AbortSignal): Promise<Map<string, string>> => {
    const result = await call({ operation: 'list aliases', abortSignal }, (api, init) =>
      api.getCollectionsAliases({}, init),
    );
    return new Map((result?.aliases ?? []).map((entry) => [entry.alias_name, entry.collection_name]));
  };

  return {
    ...shared,
    settings,
    url,
    keepOriginal: settings.storeOriginalVectors ?? true,
    indexedFields,
    client,
    call,
    describe: (name, abortSignal, fresh = false) => cache.get(name, () => fetchDescription(name, abortSignal), fresh),
    forget: (name) => cache.delete(name),
    forgetAll: () => cache.clear(),
    countPoints,
    aliasTargets,
    dispose() {
      disposed = true;
      cache.clear();
    },
  };
}
