import type { QdrantClient } from '@qdrant/js-client-rest';
import { z } from 'zod';
import { randomHex } from '../../core/bytes.js';
import { ConflictError, InvalidArgumentError, NotFoundError, throwIfAborted } from '../../core/errors.js';
import { FILTER_OPERATORS, type Filter } from '../../core/filter.js';
import { type EmbeddingSpace, embeddingSpaceSchema } from '../../core/fingerprint.js';
import { DEFAULT_RRF_K, reciprocalRankFusion } from '../../core/fusion.js';
import { checkServerRelease, type Release } from '../../core/server-version.js';
import type {
  AliasInfo,
  CollectionInfo,
  CountOptions,
  CreateCollectionOptions,
  DeleteOptions,
  ExplainedFilter,
  GetOptions,
  Metric,
  OpenCollectionOptions,
  ScrollOptions,
  ScrollPage,
  SearchOptions,
  Store,
  UpsertOptions,
} from '../../core/store.js';
import type { JsonValue, Match, StoredRecord, VectorRecord } from '../../core/types.js';
import { parseArgument } from '../../core/validate.js';
import { raceAbort } from '../../internal/abort.js';
import { mapLimit } from '../../internal/concurrency.js';
import { importOptional, lazy } from '../../internal/optional.js';
import { withRetry } from '../../internal/retry.js';
import {
  checkEmbeddingSpace,
  checkRecordVectors,
  checkReopen,
  checkSearchVectors,
  decodeCursor,
  encodeCursor,
  splitBatches,
  toFingerprint,
  utf8Length,
  writeBatches,
} from '../kernel/checks.js';
import { storeArgumentSchemas } from '../kernel/schemas.js';
import { translateError } from './errors.js';
import { DATA_KEY, META_KEY, type QdrantFilter, qdrantKey, toQdrantFilter } from './filter.js';
import { ORDER_LEVELS, pointIdOf } from './ids.js';
import { fromWirePayload, toWirePayload, type WirePoint } from './payload.js';
import { type ScrollRequest, scrollInIdOrder } from './scroll.js';

/** Payload index types kumiki can create for `indexedFields`. */
export type QdrantIndexType = 'keyword' | 'integer' | 'float' | 'bool';

export type QdrantStoreOptions = {
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
  /** Most points per upsert request, default 256. */
  maxBatchSize?: number;
  /** Most bytes (JSON) per upsert request, default 16 MiB; Qdrant refuses bodies over 32 MiB by default. */
  maxBatchBytes?: number;
  /** Upsert requests in flight at once, default 4. */
  concurrency?: number;
  /** Retries of a request that failed with a retryable error (429, 5xx, timeouts, network), default 3. */
  retries?: number;
  /** First retry backoff in ms (doubling, with jitter) when the server gives no Retry-After, default 200. */
  retryBaseDelayMs?: number;
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

const COMPONENT = 'qdrant';
const DENSE = 'dense';
const DENSE_ORIGINAL = 'dense_original';
const SPARSE = 'sparse';
const DEFAULT_URL = 'http://localhost:6333';
/** Collection `metadata` arrived in Qdrant 1.16; the adapter is built and checked against 1.18. */
const QDRANT_MINIMUM_VERSION: Release = [1, 16, 0];

const DISTANCE: Record<Metric, 'Cosine' | 'Dot' | 'Euclid'> = { cosine: 'Cosine', dot: 'Dot', euclidean: 'Euclid' };

const optionsSchema = z
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
    maxBatchSize: z.number().int().min(1).optional(),
    maxBatchBytes: z.number().int().min(1024).optional(),
    concurrency: z.number().int().min(1).max(64).optional(),
    retries: z.number().int().min(0).max(20).optional(),
    retryBaseDelayMs: z.number().int().min(0).optional(),
    indexedFields: z
      .record(
        z.string().regex(/^[^.]+(\.[^.]+)*$/, 'field must be dot-separated non-empty keys, e.g. "meta.author"'),
        z.enum(['keyword', 'integer', 'float', 'bool']),
      )
      .optional(),
    storeOriginalVectors: z.boolean().optional(),
    collectionCacheMs: z.number().int().min(0).optional(),
  })
  .strict()
  .refine((value) => value.client === undefined || (value.url === undefined && value.apiKey === undefined), {
    message: 'pass either client or url/apiKey, not both',
  });

// The Store-method schemas are shared by every store, so that the same mistakes get the same errors.
const {
  create: createSchema,
  open: openSchema,
  list: listSchema,
  deleteCollection: deleteCollectionSchema,
  explain: explainSchema,
  setAlias: aliasSchema,
  deleteAlias: deleteAliasSchema,
  upsert: upsertSchema,
  get: getSchema,
  delete: deleteSchema,
  count: countSchema,
  scroll: scrollSchema,
  search: searchSchema,
} = storeArgumentSchemas();

/** What kumiki stores in Qdrant's collection `metadata` (Qdrant ≥ 1.16), under the key `kumiki`. */
const collectionMetaSchema = z.object({
  version: z.literal(1),
  name: z.string(),
  dimensions: z.number().int().positive().optional(),
  metric: z.enum(['cosine', 'dot', 'euclidean']),
  sparse: z.boolean(),
  fingerprint: z.string().optional(),
  sparseFingerprint: z.string().optional(),
  embeddingSpace: embeddingSpaceSchema.optional(),
  sparseEmbeddingSpace: embeddingSpaceSchema.optional(),
  /** Random id given at creation (absent on collections from kumiki 0.1). */
  epoch: z.string().optional(),
});
type CollectionMeta = z.infer<typeof collectionMetaSchema>;

type Description = CollectionMeta & {
  /** The name kumiki was asked for (the collection's own name or an alias of it). */
  addressedAs: string;
  /** Whether points keep an exact copy of their dense vector (`dense_original`). */
  original: boolean;
  /** Keys of the collection's `integer` payload indexes (Qdrant truncates fractional bounds on them). */
  integerKeys: ReadonlySet<string>;
};

type Api = ReturnType<QdrantClient['api']>;
type Init = { signal: AbortSignal };

/**
 * A kumiki Store on a Qdrant server (≥ 1.16; built against 1.18) through `@qdrant/js-client-rest`,
 * which is imported on first use. See docs/adapters/qdrant.md.
 */
export function createQdrantStore(options: QdrantStoreOptions = {}): QdrantStore {
  const settings = parseArgument(optionsSchema, options, 'Qdrant store options');
  const url = settings.client ? undefined : (settings.url ?? DEFAULT_URL).replace(/\/+$/, '');
  const timeoutMs = settings.timeoutMs ?? 30_000;
  const retry = { retries: settings.retries ?? 3, baseDelayMs: settings.retryBaseDelayMs ?? 200 };
  const limits = { maxCount: settings.maxBatchSize ?? 256, maxBytes: settings.maxBatchBytes ?? 16 * 1024 * 1024 };
  const concurrency = settings.concurrency ?? 4;
  const keepOriginal = settings.storeOriginalVectors ?? true;
  const cacheMs = settings.collectionCacheMs ?? 5_000;
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

  type CallOptions = {
    operation: string;
    collection?: string;
    abortSignal?: AbortSignal;
    retry?: boolean;
    /** `false` for the version request itself. */
    checkVersion?: boolean;
  };

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
      ...retry,
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

  // ---- collection settings -------------------------------------------------------------------

  const cache = new Map<string, { expires: number; description: Promise<Description> }>();

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

  const describe = (name: string, abortSignal?: AbortSignal, fresh = false): Promise<Description> => {
    const now = Date.now();
    const cached = cache.get(name);
    if (!fresh && cached && cached.expires > now) return cached.description;
    const description = fetchDescription(name, abortSignal);
    if (cacheMs > 0) {
      cache.set(name, { expires: now + cacheMs, description });
      description.catch(() => cache.delete(name));
    }
    return description;
  };

  const countPoints = (collection: string, filter: QdrantFilter | undefined, abortSignal?: AbortSignal) =>
    call({ operation: `count in "${collection}"`, collection, abortSignal }, (api, init) =>
      api.countPoints({ collection_name: collection, exact: true, ...(filter ? { filter } : {}) }, init),
    ).then((result) => result?.count ?? 0);

  const infoOf = async (description: Description, abortSignal?: AbortSignal): Promise<CollectionInfo> => ({
    name: description.name,
    dimensions: description.dimensions,
    metric: description.metric,
    sparse: description.sparse,
    fingerprint: description.fingerprint,
    sparseFingerprint: description.sparseFingerprint,
    count: await countPoints(description.addressedAs, undefined, abortSignal),
    ...(description.epoch === undefined ? {} : { epoch: description.epoch }),
  });

  const checkSpace = (description: Description, given: EmbeddingSpace | string | undefined, kind: 'dense' | 'sparse') =>
    checkEmbeddingSpace(
      kind === 'dense'
        ? { collection: description.name, fingerprint: description.fingerprint, space: description.embeddingSpace }
        : {
            collection: description.name,
            fingerprint: description.sparseFingerprint,
            space: description.sparseEmbeddingSpace,
          },
      given,
      kind,
      COMPONENT,
    );

  const aliasTargets = async (abortSignal?: AbortSignal): Promise<Map<string, string>> => {
    const result = await call({ operation: 'list aliases', abortSignal }, (api, init) =>
      api.getCollectionsAliases({}, init),
    );
    return new Map((result?.aliases ?? []).map((entry) => [entry.alias_name, entry.collection_name]));
  };

  const createIndexes = (name: string, abortSignal?: AbortSignal) => {
    const fields: [string, QdrantIndexType][] = [
      [`${META_KEY}.n`, 'integer'],
      ...Array.from({ length: ORDER_LEVELS }, (_, level): [string, QdrantIndexType] => [
        `${META_KEY}.s${level}`,
        'integer',
      ]),
      ...indexedFields,
    ];
    return mapLimit(fields, concurrency, ([field_name, field_schema]) =>
      call(
        {
          operation: `create payload index "${field_name}" in "${name}"`,
          collection: name,
          abortSignal,
        },
        (api, init) => api.createFieldIndex({ collection_name: name, wait: true, field_name, field_schema }, init),
      ),
    );
  };

  // ---- records ---------------------------------------------------------------------------------

  const checkRecords = (description: Description, records: readonly VectorRecord[]): void => {
    const integerFields = [...description.integerKeys].flatMap((key) => {
      const path = dataPath(key);
      return path ? [{ key, path }] : [];
    });
    records.forEach((record, index) => {
      checkRecordVectors(description, record, index, COMPONENT);
      for (const { key, path } of integerFields) {
        const bad = valuesAt(record.payload ?? {}, path).find(
          (value) => typeof value === 'number' && !Number.isSafeInteger(value),
        );
        if (bad !== undefined) {
          throw new InvalidArgumentError({
            argument: 'records',
            issues: [
              {
                path: `${index}.payload.${path.join('.')}`,
                message: `record ${index} (id ${JSON.stringify(record.id)}) holds ${String(bad)} at "${path.join('.')}", which collection "${description.name}" indexes as integer (${key}); Qdrant's integer index holds only integers, so range filters would never find this record. Store integers between -(2^53 - 1) and 2^53 - 1 there, or index the field as 'float'`,
              },
            ],
          });
        }
      }
    });
  };

  const toPoint = (description: Description, record: VectorRecord) => {
    const vector: Record<string, number[] | { indices: number[]; values: number[] }> = {};
    if (record.vector) {
      const values = Array.from(record.vector);
      vector[DENSE] = description.metric === 'cosine' ? unitLength(values) : values;
      if (description.original) vector[DENSE_ORIGINAL] = values;
    }
    if (record.sparseVector) {
      vector[SPARSE] = {
        indices: Array.from(record.sparseVector.indices),
        values: Array.from(record.sparseVector.values),
      };
    }
    return { id: pointIdOf(record.id), vector, payload: toWirePayload(record.id, record.payload) };
  };

  const withVectorOf = (description: Description, includeVectors: boolean): boolean | string[] => {
    if (!includeVectors) return false;
    const names: string[] = [];
    if (description.dimensions !== undefined) names.push(description.original ? DENSE_ORIGINAL : DENSE);
    if (description.sparse) names.push(SPARSE);
    return names;
  };

  const toRecord = (description: Description, point: WirePoint, includeVectors: boolean): StoredRecord => {
    const decoded = fromWirePayload(point.payload);
    if (!decoded) {
      throw new ConflictError({
        message: `Point ${String(point.id)} in "${description.name}" has no kumiki id; was it written by another tool?`,
        component: COMPONENT,
      });
    }
    const record: StoredRecord = { id: decoded.id, payload: decoded.payload };
    if (includeVectors && typeof point.vector === 'object' && point.vector !== null) {
      const vectors = point.vector as Record<string, unknown>;
      const dense = vectors[description.original ? DENSE_ORIGINAL : DENSE];
      if (Array.isArray(dense)) record.vector = Float32Array.from(dense as number[]);
      const sparse = vectors[SPARSE] as { indices?: number[]; values?: number[] } | undefined;
      if (sparse?.indices && sparse.values) {
        record.sparseVector = { indices: Uint32Array.from(sparse.indices), values: Float32Array.from(sparse.values) };
      }
    }
    return record;
  };

  // ---- scroll ------------------------------------------------------------------------------------

  const pagesOf =
    (description: Description, withVector: boolean | string[], abortSignal: AbortSignal | undefined): ScrollRequest =>
    (body) => {
      const collection = description.addressedAs;
      return call({ operation: `scroll "${collection}"`, collection, abortSignal }, (api, init) =>
        api.scrollPoints({ collection_name: collection, with_payload: true, with_vector: withVector, ...body }, init),
      ).then((result) => ({
        points: (result?.points ?? []) as WirePoint[],
        next: result?.next_page_offset ?? undefined,
      }));
    };

  // ---- search ------------------------------------------------------------------------------------

  const toMatches = (description: Description, points: WirePoint[], includeVectors: boolean): Match[] =>
    points.map((point) => ({
      ...toRecord(description, point, includeVectors),
      // Qdrant reports Euclidean *distance*; kumiki scores are higher-is-closer.
      score: description.metric === 'euclidean' && point.score !== undefined ? -point.score : (point.score ?? 0),
    }));

  // ---- the store ---------------------------------------------------------------------------------

  const store: QdrantStore = {
    specificationVersion: 'kumiki.store.v1',
    provider: 'qdrant',
    capabilities: {
      dense: true,
      sparse: true,
      hybrid: true,
      metrics: ['cosine', 'dot', 'euclidean'],
      filterOperators: FILTER_OPERATORS,
      persistent: true,
      aliases: true,
    },

    client,

    async createCollection(input: CreateCollectionOptions): Promise<CollectionInfo> {
      const config = parseArgument(createSchema, input, 'createCollection options');
      const abortSignal = config.abortSignal;
      throwIfAborted(abortSignal, 'createCollection');
      const open = async (existing: Description): Promise<CollectionInfo> => {
        if (existing.name !== config.name) {
          throw new ConflictError({
            message: `"${config.name}" is an alias (of "${existing.name}"); pick another collection name or delete the alias.`,
            component: COMPONENT,
          });
        }
        checkReopen(existing, config, COMPONENT);
        checkSpace(existing, config.embeddingSpace, 'dense');
        checkSpace(existing, config.sparseEmbeddingSpace, 'sparse');
        return infoOf(existing, abortSignal);
      };
      const existing = await describe(config.name, abortSignal, true).catch((error: unknown) => {
        if (NotFoundError.isInstance(error)) return undefined;
        throw error;
      });
      if (existing) return open(existing);

      const metric = config.metric ?? 'cosine';
      const sparse = config.sparse ?? true;
      const meta: CollectionMeta = {
        version: 1,
        name: config.name,
        metric,
        sparse,
        epoch: randomHex(16),
        ...(config.dimensions === undefined ? {} : { dimensions: config.dimensions }),
        ...(config.embeddingSpace === undefined ? {} : { fingerprint: toFingerprint(config.embeddingSpace) }),
        ...(config.sparseEmbeddingSpace === undefined
          ? {}
          : { sparseFingerprint: toFingerprint(config.sparseEmbeddingSpace) }),
        ...(typeof config.embeddingSpace === 'object' ? { embeddingSpace: config.embeddingSpace } : {}),
        ...(typeof config.sparseEmbeddingSpace === 'object'
          ? { sparseEmbeddingSpace: config.sparseEmbeddingSpace }
          : {}),
      };
      const original = keepOriginal && metric === 'cosine' && config.dimensions !== undefined;
      const vectors =
        config.dimensions === undefined
          ? undefined
          : {
              [DENSE]: { size: config.dimensions, distance: DISTANCE[metric] },
              // Stored on disk, never indexed: only read back, so Qdrant's normalization does not show.
              ...(original
                ? {
                    [DENSE_ORIGINAL]: {
                      size: config.dimensions,
                      distance: 'Dot' as const,
                      on_disk: true,
                      hnsw_config: { m: 0 },
                    },
                  }
                : {}),
            };
      try {
        await call(
          {
            operation: `create collection "${config.name}"`,
            collection: config.name,
            retry: false,
            abortSignal,
          },
          (api, init) =>
            api.createCollection(
              {
                collection_name: config.name,
                ...(vectors ? { vectors } : {}),
                ...(sparse ? { sparse_vectors: { [SPARSE]: {} } } : {}),
                metadata: { kumiki: meta },
              },
              init,
            ),
        );
      } catch (error) {
        // Created meanwhile by someone else: open it when allowed.
        if (ConflictError.isInstance(error)) return open(await describe(config.name, abortSignal, true));
        throw error;
      }
      cache.delete(config.name);
      try {
        await createIndexes(config.name, abortSignal);
      } catch (error) {
        // Without its sort-key indexes the collection cannot be scrolled: do not leave it half made.
        await call({ operation: `delete collection "${config.name}"`, collection: config.name }, (api, init) =>
          api.deleteCollection({ collection_name: config.name }, init),
        ).catch(() => undefined);
        throw error;
      }
      // A description read while the indexes were being made would lack the integer ones.
      cache.delete(config.name);
      return {
        name: config.name,
        dimensions: config.dimensions,
        metric,
        sparse,
        fingerprint: meta.fingerprint,
        sparseFingerprint: meta.sparseFingerprint,
        count: 0,
      };
    },

    async openCollection(input: OpenCollectionOptions): Promise<CollectionInfo> {
      const config = parseArgument(openSchema, input, 'openCollection options');
      const description = await describe(config.name, config.abortSignal, true);
      checkSpace(description, config.embeddingSpace, 'dense');
      checkSpace(description, config.sparseEmbeddingSpace, 'sparse');
      return infoOf(description, config.abortSignal);
    },

    async listCollections(input: { abortSignal?: AbortSignal } = {}): Promise<CollectionInfo[]> {
      const { abortSignal } = parseArgument(listSchema, input, 'listCollections options') ?? {};
      const result = await call({ operation: 'list collections', abortSignal }, (api, init) =>
        api.getCollections({}, init),
      );
      const names = (result?.collections ?? []).map((collection) => collection.name);
      const infos = await mapLimit(names, 8, async (name) => {
        try {
          return await infoOf(await describe(name, abortSignal, true), abortSignal);
        } catch (error) {
          // Collections of other tools, or deleted meanwhile, are not kumiki collections to list.
          if (ConflictError.isInstance(error) || NotFoundError.isInstance(error)) return undefined;
          throw error;
        }
      });
      return infos.filter((info): info is CollectionInfo => info !== undefined);
    },

    async deleteCollection(input: { name: string; abortSignal?: AbortSignal }): Promise<boolean> {
      const { name, abortSignal } = parseArgument(deleteCollectionSchema, input, 'deleteCollection options');
      const aliases = await aliasTargets(abortSignal);
      if (aliases.has(name)) {
        throw new ConflictError({
          message: `"${name}" is an alias of "${aliases.get(name)}"; delete the alias with deleteAlias, or the collection by its own name.`,
          component: COMPONENT,
        });
      }
      cache.clear();
      try {
        const existed = await call(
          { operation: `delete collection "${name}"`, collection: name, abortSignal },
          (api, init) => api.deleteCollection({ collection_name: name }, init),
        );
        return existed === true;
      } catch (error) {
        if (NotFoundError.isInstance(error)) return false;
        throw error;
      }
    },

    async upsert(input: UpsertOptions): Promise<{ upserted: number }> {
      const { collection, records, abortSignal } = parseArgument(upsertSchema, input, 'upsert options');
      throwIfAborted(abortSignal, 'upsert');
      const description = await describe(collection, abortSignal);
      checkRecords(description, records);
      throwIfAborted(abortSignal, 'upsert');
      // Within a batch the last duplicate wins, even when copies would land in different requests.
      const last = new Map<string, VectorRecord>();
      for (const record of records) {
        const key = `${typeof record.id}:${record.id}`;
        last.delete(key);
        last.set(key, record);
      }
      const points = [...last.values()].map((record) => ({ record, point: toPoint(description, record) }));
      const batches = splitBatches(
        points,
        limits,
        (item) => utf8Length(JSON.stringify(item.point)) + 1,
        (item) => `record ${JSON.stringify(item.record.id)}`,
      );
      await writeBatches({
        collection,
        batches,
        idOf: (item) => item.record.id,
        concurrency,
        retry: { retries: 0 },
        component: COMPONENT,
        write: async (batch) => {
          await call({ operation: `upsert into "${collection}"`, collection, abortSignal }, (api, init) =>
            api.upsertPoints(
              { collection_name: collection, wait: true, points: batch.map((item) => item.point) },
              init,
            ),
          );
        },
      });
      return { upserted: records.length };
    },

    async get(input: GetOptions): Promise<StoredRecord[]> {
      const { collection, ids, includeVectors, abortSignal } = parseArgument(getSchema, input, 'get options');
      const description = await describe(collection, abortSignal);
      if (ids.length === 0) return [];
      const points = await call({ operation: `get from "${collection}"`, collection, abortSignal }, (api, init) =>
        api.getPoints(
          {
            collection_name: collection,
            ids: [...new Set(ids.map(pointIdOf))],
            with_payload: true,
            with_vector: withVectorOf(description, includeVectors ?? false),
          },
          init,
        ),
      );
      const found = new Map<string, StoredRecord>();
      for (const point of (points ?? []) as WirePoint[]) {
        const record = toRecord(description, point, includeVectors ?? false);
        found.set(`${typeof record.id}:${record.id}`, record);
      }
      return ids.flatMap((id) => found.get(`${typeof id}:${id}`) ?? []);
    },

    async delete(input: DeleteOptions): Promise<{ deleted: number }> {
      const parsed = parseArgument(deleteSchema, input, 'delete options');
      const { collection, abortSignal } = parsed;
      throwIfAborted(abortSignal, 'delete');
      const how = { operation: `delete from "${collection}"`, collection, abortSignal };
      if ('ids' in parsed) {
        const pointIds = [...new Set(parsed.ids.map(pointIdOf))];
        if (pointIds.length === 0) return { deleted: 0 };
        const existing = await call(how, (api, init) =>
          api.getPoints({ collection_name: collection, ids: pointIds, with_payload: false, with_vector: false }, init),
        );
        const present = (existing ?? []).map((point) => point.id);
        if (present.length > 0) {
          await call(how, (api, init) =>
            api.deletePoints({ collection_name: collection, wait: true, points: present }, init),
          );
        }
        return { deleted: present.length };
      }
      const filter = toQdrantFilter(parsed.filter, await describe(collection, abortSignal));
      const deleted = await countPoints(collection, filter, abortSignal);
      if (deleted > 0) {
        await call(how, (api, init) => api.deletePoints({ collection_name: collection, wait: true, filter }, init));
      }
      return { deleted };
    },

    async count(input: CountOptions): Promise<number> {
      const { collection, filter, abortSignal } = parseArgument(countSchema, input, 'count options');
      const native = filter ? toQdrantFilter(filter, await describe(collection, abortSignal)) : undefined;
      return countPoints(collection, native, abortSignal);
    },

    async scroll(input: ScrollOptions): Promise<ScrollPage> {
      const parsed = parseArgument(scrollSchema, input, 'scroll options');
      const after = parsed.cursor === undefined ? undefined : decodeCursor(parsed.cursor);
      const description = await describe(parsed.collection, parsed.abortSignal);
      const filter = parsed.filter ? toQdrantFilter(parsed.filter, description) : undefined;
      const includeVectors = parsed.includeVectors ?? false;
      const limit = parsed.limit ?? 100;
      const pages = pagesOf(description, withVectorOf(description, includeVectors), parsed.abortSignal);
      const points = await scrollInIdOrder(pages, filter, after, limit + 1);
      const records = points.slice(0, limit).map((point) => toRecord(description, point, includeVectors));
      const lastRecord = records.at(-1);
      return { records, nextCursor: points.length > limit && lastRecord ? encodeCursor(lastRecord.id) : undefined };
    },

    async search(input: SearchOptions): Promise<Match[]> {
      const parsed = parseArgument(searchSchema, input, 'search options');
      throwIfAborted(parsed.abortSignal, 'search');
      const description = await describe(parsed.collection, parsed.abortSignal);
      const filter = parsed.filter ? toQdrantFilter(parsed.filter, description) : undefined;
      checkSearchVectors(description, parsed.vector, parsed.sparseVector, COMPONENT);
      checkSpace(description, parsed.embeddingSpace, 'dense');
      checkSpace(description, parsed.sparseEmbeddingSpace, 'sparse');
      const limit = parsed.limit ?? 10;
      const includeVectors = parsed.includeVectors ?? false;
      const hybrid = parsed.vector !== undefined && parsed.sparseVector !== undefined;
      const depth = hybrid ? Math.max(parsed.fusion?.prefetch ?? limit * 4, limit) : limit;
      const common = {
        limit: depth,
        with_payload: true,
        with_vector: withVectorOf(description, includeVectors),
        ...(filter ? { filter } : {}),
      };
      const searches: { query: number[] | { indices: number[]; values: number[] }; using: string }[] = [];
      if (parsed.vector) {
        const query = Array.from(parsed.vector);
        searches.push({ query: description.metric === 'cosine' ? unitLength(query) : query, using: DENSE });
      }
      if (parsed.sparseVector) {
        searches.push({
          query: { indices: Array.from(parsed.sparseVector.indices), values: Array.from(parsed.sparseVector.values) },
          using: SPARSE,
        });
      }
      const collection = parsed.collection;
      const how = {
        operation: `search "${collection}"`,
        collection,
        abortSignal: parsed.abortSignal,
      };
      // Hybrid: both rankings in one request, fused here with kumiki's RRF (see docs/adapters/qdrant.md).
      const responses = await call(how, (api, init) =>
        api.queryBatchPoints(
          { collection_name: collection, searches: searches.map((search) => ({ ...search, ...common })) },
          init,
        ),
      );
      const rankings = (responses ?? []).map((response) =>
        toMatches(description, response.points as WirePoint[], includeVectors),
      );
      const matches = hybrid
        ? reciprocalRankFusion(rankings, { k: parsed.fusion?.k ?? DEFAULT_RRF_K, limit })
        : (rankings[0] ?? []);
      const threshold = parsed.scoreThreshold;
      return threshold === undefined ? matches : matches.filter((match) => match.score >= threshold);
    },

    async explain(input: { collection: string; filter: Filter }): Promise<ExplainedFilter> {
      const { collection, filter } = parseArgument(explainSchema, input, 'explain options');
      return { backend: 'qdrant', native: toQdrantFilter(filter, await describe(collection)) };
    },

    async setAlias(input: { alias: string; collection: string; abortSignal?: AbortSignal }): Promise<void> {
      const { alias, collection, abortSignal } = parseArgument(aliasSchema, input, 'setAlias options');
      cache.delete(alias);
      // One create_alias: Qdrant overwrites an existing alias in place, so readers see the old
      // collection or the new one. (Qdrant applies the actions of one request one by one without
      // rolling back, so delete_alias + create_alias would lose the alias when the create fails.)
      await call({ operation: `point alias "${alias}" at "${collection}"`, collection, abortSignal }, (api, init) =>
        api.updateAliases({ actions: [{ create_alias: { alias_name: alias, collection_name: collection } }] }, init),
      );
      cache.delete(alias);
    },

    async deleteAlias(input: { alias: string; abortSignal?: AbortSignal }): Promise<boolean> {
      const { alias, abortSignal } = parseArgument(deleteAliasSchema, input, 'deleteAlias options');
      if (!(await aliasTargets(abortSignal)).has(alias)) return false;
      cache.delete(alias);
      await call({ operation: `delete alias "${alias}"`, abortSignal }, (api, init) =>
        api.updateAliases({ actions: [{ delete_alias: { alias_name: alias } }] }, init),
      );
      return true;
    },

    async listAliases(input: { abortSignal?: AbortSignal } = {}): Promise<AliasInfo[]> {
      const { abortSignal } = parseArgument(listSchema, input, 'listAliases options') ?? {};
      return [...(await aliasTargets(abortSignal))].map(([alias, collection]) => ({ alias, collection }));
    },

    async dispose(): Promise<void> {
      disposed = true;
      cache.clear();
    },
  };
  return store;
}

/**
 * The vector scaled to length 1 (an all-zero vector stays as it is). Cosine collections get unit
 * vectors from kumiki: Qdrant normalizes in float32 and skips vectors whose squared length is below
 * `f32::EPSILON` (lib/segment/src/spaces/simple.rs `cosine_preprocess`, spaces/tools.rs), so a
 * vector shorter than about 3.5e-4 would be scored by raw dot product.
 */
function unitLength(values: number[]): number[] {
  let squared = 0;
  for (const value of values) squared += Math.fround(value) * Math.fround(value);
  const norm = Math.sqrt(squared);
  return norm === 0 ? values : values.map((value) => Math.fround(value) / norm);
}

/** The kumiki field path of a Qdrant payload key under `data` (`data.meta."my key"` → `['meta', 'my key']`). */
function dataPath(key: string): string[] | undefined {
  const segments: string[] = [];
  const pattern = /"([^"\\]*)"|([^."]+)/y;
  let at = 0;
  while (at < key.length) {
    pattern.lastIndex = at;
    const match = pattern.exec(key);
    if (!match) return undefined;
    segments.push(match[1] ?? (match[2] as string));
    at = pattern.lastIndex;
    if (key[at] === '.') at++;
    else if (at < key.length) return undefined;
  }
  return segments[0] === DATA_KEY && segments.length > 1 ? segments.slice(1) : undefined;
}

/** The values a payload index sees at a path: objects walked, one level of array flattened. */
function valuesAt(payload: Record<string, JsonValue>, path: string[]): JsonValue[] {
  let current: JsonValue | undefined = payload;
  for (const segment of path) {
    if (typeof current !== 'object' || current === null || Array.isArray(current)) return [];
    if (!Object.hasOwn(current, segment)) return [];
    current = current[segment];
  }
  if (current === undefined) return [];
  return Array.isArray(current) ? current : [current];
}
