import type {
  ConsistencyLevelEnum,
  DescribeCollectionResponse,
  FieldType,
  MilvusClient,
} from '@zilliz/milvus2-sdk-node';
import { z } from 'zod';
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
import type { JsonObject, Match, SparseVector, StoredRecord, VectorRecord } from '../../core/types.js';
import { parseArgument } from '../../core/validate.js';
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
import { checkStatus, type ErrorContext, type MilvusStatus, translateError } from './errors.js';
import { type MilvusExpression, payloadTerms, TERMS_FIELD, translateFilter } from './filter.js';
import { decodeId, encodeId, MAX_KEY_BYTES } from './keys.js';

export type MilvusStoreOptions = {
  /** `host:port` of the Milvus gRPC endpoint; default `localhost:19530`. `https://…` turns TLS on. */
  address?: string;
  /** API key or `user:password` token (Zilliz Cloud, or Milvus with authentication). */
  token?: string;
  username?: string;
  password?: string;
  /** Database; default `default`. */
  database?: string;
  /** Deadline of each request in ms; default 30,000. */
  timeoutMs?: number;
  /** Most records per upsert request; default 1,000. */
  maxBatchRecords?: number;
  /**
   * Most bytes per upsert request (estimated from ids, vectors and JSON); default 16 MiB, well
   * under the 64 MiB gRPC message limit of a default Milvus server.
   */
  maxBatchBytes?: number;
  /** Upsert requests in flight at once; default 4. */
  concurrency?: number;
  /** Retries of a request that failed with a retryable error; default 3. */
  retries?: number;
  /** An existing client to use instead of connecting (it is not closed by `dispose`). */
  client?: MilvusClient;
};

export type MilvusStore = Store &
  Required<Pick<Store, 'setAlias' | 'deleteAlias' | 'listAliases'>> & {
    /** The underlying `MilvusClient` (connects on first call), for what kumiki does not cover. */
    client(): Promise<MilvusClient>;
  };

const COMPONENT = 'milvus';
const PROPERTY = 'kumiki.collection';
const FIELDS = { pk: 'pk', dense: 'dense', sparse: 'sparse', payload: 'payload', terms: TERMS_FIELD } as const;
/** Milvus caps `limit + offset` of one query at 16,384; `get` and `delete` ask in chunks below that. */
const ID_CHUNK = 1000;
/** Reads see every write that finished before them (Milvus's default, `Bounded`, may not). */
const STRONG = 0 as ConsistencyLevelEnum;
const METRIC_TYPES: Record<Metric, string> = { cosine: 'COSINE', dot: 'IP', euclidean: 'L2' };
/** Expression template values (`exprValues`) arrived in Milvus 2.5. */
const MILVUS_MINIMUM_VERSION: Release = [2, 5, 0];
/** Milvus refuses a JSON field value longer than this many bytes (`common.JSONMaxLength`, default 64 KiB). */
const MAX_JSON_BYTES = 65_536;
/**
 * The smallest sparse value kumiki sends. Milvus leaves out of a sparse search every record whose
 * float32 score is not positive; with values of at least 1e-18 every product, and so every score of a
 * record sharing an index with the query, is a positive normal float32 (1e-36 > 2^-126).
 */
const MIN_SPARSE_VALUE = 1e-18;

const optionsSchema = z
  .object({
    address: z.string().min(1).optional(),
    token: z.string().min(1).optional(),
    username: z.string().min(1).optional(),
    password: z.string().optional(),
    database: z.string().min(1).optional(),
    timeoutMs: z.number().int().positive().optional(),
    maxBatchRecords: z.number().int().min(1).max(100_000).optional(),
    maxBatchBytes: z
      .number()
      .int()
      .min(1024)
      .max(64 * 1024 * 1024)
      .optional(),
    concurrency: z.number().int().min(1).max(64).optional(),
    retries: z.number().int().min(0).max(20).optional(),
    client: z
      .custom<MilvusClient>(
        (value) =>
          typeof value === 'object' &&
          value !== null &&
          typeof (value as MilvusClient).describeCollection === 'function',
        'client must be a MilvusClient from @zilliz/milvus2-sdk-node',
      )
      .optional(),
  })
  .strict()
  .refine((value) => value.password === undefined || value.username !== undefined, {
    message: 'password needs username',
    path: ['password'],
  });

const collectionName = z
  .string()
  .min(1, 'collection names must not be empty')
  .max(255)
  .regex(
    /^[A-Za-z_][A-Za-z0-9_]*$/,
    'Milvus collection names use letters, digits and "_" and start with a letter or "_"',
  );
// The Store-method schemas are shared by every store, so that the same mistakes get the same errors.
const {
  create: createSchema,
  open: openSchema,
  list: listSchema,
  deleteCollection: nameSchema,
  explain: explainSchema,
  setAlias: aliasSchema,
  deleteAlias: deleteAliasSchema,
  upsert: upsertSchema,
  get: getSchema,
  delete: deleteSchema,
  count: countSchema,
  scroll: scrollSchema,
  search: searchSchema,
} = storeArgumentSchemas({
  collectionName,
  maxDimensions: 32_768,
  dimensionsMessage: 'Milvus float vectors hold at most 32,768 dimensions',
});

/** What kumiki stores in the collection's `kumiki.collection` property (JSON). */
const metaSchema = z.object({
  version: z.literal(1),
  /** The encoding of the `terms` field: 2 = range bounds as order-preserving strings (see filter.ts). */
  terms: z.literal(2).optional(),
  dimensions: z.number().int().positive().optional(),
  metric: z.enum(['cosine', 'dot', 'euclidean']),
  sparse: z.boolean(),
  fingerprint: z.string().optional(),
  sparseFingerprint: z.string().optional(),
  space: embeddingSpaceSchema.optional(),
  sparseSpace: embeddingSpaceSchema.optional(),
});
type Meta = z.infer<typeof metaSchema>;

/** A collection as described by Milvus: its real name (aliases resolved) and kumiki metadata. */
type Described = {
  name: string;
  meta: Meta;
  /** The collection's id in Milvus (a new one each time a collection is created): its epoch. */
  epoch?: string;
};

/**
 * The collection's own name. DescribeCollection on an alias answers with the alias in
 * `collection_name` (the name it was asked about) and the collection's name in `schema.name`
 * (milvus internal/proxy/task.go, describeCollectionTask).
 */
const realName = (response: DescribeCollectionResponse, asked: string): string => response.schema?.name || asked;

type Row = {
  [FIELDS.pk]: string;
  [FIELDS.payload]: JsonObject;
  [FIELDS.terms]: Record<string, unknown>;
  [FIELDS.dense]?: number[];
  [FIELDS.sparse]?: { indices: number[]; values: number[] };
};

/** Sparse vector in the SDK's `{ indices, values }` form, sorted by index (Milvus requires it). */
function sortedSparse(vector: { indices: ArrayLike<number>; values: ArrayLike<number> }): {
  indices: number[];
  values: number[];
} {
  const order = Array.from({ length: vector.indices.length }, (_, i) => i).sort(
    (a, b) => (vector.indices[a] as number) - (vector.indices[b] as number),
  );
  return {
    indices: order.map((i) => vector.indices[i] as number),
    values: order.map((i) => vector.values[i] as number),
  };
}

/** The SDK returns sparse vectors as `{ index: value }` objects. */
function readSparse(value: unknown): { indices: Uint32Array; values: Float32Array } | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const entries = Object.entries(value as Record<string, number>)
    .map(([index, weight]) => [Number(index), weight] as const)
    .sort((a, b) => a[0] - b[0]);
  if (entries.length === 0) return undefined;
  return {
    indices: Uint32Array.from(entries, (entry) => entry[0]),
    values: Float32Array.from(entries, (entry) => entry[1]),
  };
}

function readRecord(row: Record<string, unknown>, includeVectors: boolean): StoredRecord {
  const record: StoredRecord = {
    id: decodeId(String(row[FIELDS.pk])),
    payload: (row[FIELDS.payload] as JsonObject | null) ?? {},
  };
  if (includeVectors) {
    const dense = row[FIELDS.dense];
    if (Array.isArray(dense)) record.vector = Float32Array.from(dense as number[]);
    const sparse = readSparse(row[FIELDS.sparse]);
    if (sparse) record.sparseVector = sparse;
  }
  return record;
}

/** Approximate request bytes of a row: key, vectors and its JSON bytes, plus per-field framing. */
function rowBytes(row: Row, jsonBytes: number): number {
  return (
    utf8Length(row[FIELDS.pk]) +
    (row[FIELDS.dense]?.length ?? 0) * 4 +
    (row[FIELDS.sparse]?.indices.length ?? 0) * 8 +
    jsonBytes +
    64
  );
}

/**
 * Refuses a row whose `payload` or `terms` JSON is longer than Milvus accepts, naming the record;
 * returns the bytes of both.
 */
function checkJsonSizes(row: Row, where: string, index: number): number {
  let total = 0;
  for (const field of [FIELDS.payload, FIELDS.terms] as const) {
    // The SDK sends a JSON field as the UTF-8 bytes of JSON.stringify (as here).
    const bytes = utf8Length(JSON.stringify(row[field]));
    total += bytes;
    if (bytes <= MAX_JSON_BYTES) continue;
    const what =
      field === FIELDS.payload
        ? `its payload takes ${bytes} bytes of JSON`
        : `the filter terms derived from its payload take ${bytes} bytes of JSON (about 41 per distinct value and path; see docs/adapters/milvus.md)`;
    throw new InvalidArgumentError({
      argument: 'records',
      issues: [
        {
          path: `${index}.payload`,
          message: `${where}: ${what}, more than the ${MAX_JSON_BYTES} bytes Milvus accepts in one JSON field; make the payload smaller (fewer distinct values, e.g. move long lists into the text)`,
        },
      ],
    });
  }
  return total;
}

/** The position of the first sparse value below `MIN_SPARSE_VALUE` (zero, negative, tiny), if any. */
function smallSparseValue(vector: SparseVector): number | undefined {
  for (let i = 0; i < vector.values.length; i++) {
    if (!((vector.values[i] as number) >= MIN_SPARSE_VALUE)) return i;
  }
  return undefined;
}

const sparseValueMessage = (who: string) =>
  `${who} a sparse value below ${MIN_SPARSE_VALUE}: Milvus leaves out of sparse search every record whose score is not positive, so on Milvus sparse values must be positive (at least ${MIN_SPARSE_VALUE}); drop zero entries, and use a sparse encoder with positive weights (BM25, SPLADE)`;

/** Joins expressions with `and`, each in parentheses; template names must not clash. */
function allOf(...parts: (MilvusExpression | undefined)[]): MilvusExpression {
  const present = parts.filter((part): part is MilvusExpression => part !== undefined && part.expr !== '');
  if (present.length === 0) return { expr: '', exprValues: {} };
  if (present.length === 1) return present[0] as MilvusExpression;
  return {
    expr: present.map((part) => `(${part.expr})`).join(' and '),
    exprValues: Object.assign({}, ...present.map((part) => part.exprValues)),
  };
}

function idsIn(keys: string[]): MilvusExpression {
  return { expr: `${FIELDS.pk} in {ids}`, exprValues: { ids: keys } };
}

/**
 * A Store on Milvus (2.5 or later) through `@zilliz/milvus2-sdk-node` over gRPC. The library is
 * imported and the connection opened on first use. See docs/adapters/milvus.md.
 */
export function createMilvusStore(options: MilvusStoreOptions = {}): MilvusStore {
  const settings = parseArgument(optionsSchema, options, 'milvus store options');
  const address = settings.address ?? 'localhost:19530';
  const timeoutMs = settings.timeoutMs ?? 30_000;
  const limits = { maxCount: settings.maxBatchRecords ?? 1000, maxBytes: settings.maxBatchBytes ?? 16 * 1024 * 1024 };
  const concurrency = settings.concurrency ?? 4;
  const retries = settings.retries ?? 3;
  let disposed = false;
  let connecting = false;

  const connection = lazy(async (): Promise<MilvusClient> => {
    if (settings.client) return settings.client;
    const { MilvusClient: Client } = await importOptional(
      '@zilliz/milvus2-sdk-node',
      COMPONENT,
      () => import('@zilliz/milvus2-sdk-node'),
    );
    const client = new Client({
      address,
      ...(settings.token === undefined ? {} : { token: settings.token }),
      ...(settings.username === undefined ? {} : { username: settings.username, password: settings.password ?? '' }),
      ...(settings.database === undefined ? {} : { database: settings.database }),
      timeout: timeoutMs,
      // Retries are kumiki's (withRetry), so that they are bounded and visible in one place.
      maxRetries: 0,
      telemetry: { enabled: false },
    });
    try {
      await client.connectPromise;
    } catch (error) {
      await client.closeConnection().catch(() => undefined);
      throw translateError(error, { address, operation: 'connect', timeoutMs });
    }
    return client;
  });
  /** Reads the server's version once, before the first other request. */
  const versionChecked = lazy(async (): Promise<void> => {
    const client = await connection();
    const ctx = { address, operation: 'read the server version', timeoutMs };
    let response: Awaited<ReturnType<MilvusClient['getVersion']>>;
    try {
      response = await client.getVersion();
    } catch (error) {
      throw translateError(error, ctx);
    }
    // The SDK types leave it out, but the answer carries a status like every other.
    checkStatus((response as { status?: MilvusStatus }).status, ctx);
    checkServerRelease({
      server: 'Milvus',
      url: address,
      version: response.version || 'unknown',
      minimum: MILVUS_MINIMUM_VERSION,
      needs: 'expression template values',
      component: COMPONENT,
    });
  });
  const connect = async (): Promise<MilvusClient> => {
    connecting = true;
    const client = await connection();
    await versionChecked();
    return client;
  };

  const context = (operation: string, collection?: string): ErrorContext => ({
    address,
    operation,
    timeoutMs,
    ...(collection === undefined ? {} : { collection }),
  });

  /** Runs one SDK call, translating whatever it throws; `status` picks the status to verify. */
  const call = async <T>(
    ctx: ErrorContext,
    fn: (client: MilvusClient) => Promise<T>,
    status: (result: T) => MilvusStatus | undefined,
  ): Promise<T> => {
    if (disposed) {
      throw new ConflictError({ message: 'This Milvus store was disposed; create a new one.', component: COMPONENT });
    }
    const client = await connect();
    let result: T;
    try {
      result = await fn(client);
    } catch (error) {
      throw translateError(error, ctx);
    }
    checkStatus(status(result), ctx);
    return result;
  };
  /** `call` with kumiki's retries, for idempotent requests. */
  const retried = <T>(
    ctx: ErrorContext,
    abortSignal: AbortSignal | undefined,
    fn: (client: MilvusClient) => Promise<T>,
    status: (result: T) => MilvusStatus | undefined,
  ): Promise<T> =>
    withRetry(() => call(ctx, fn, status), {
      retries,
      operation: ctx.operation,
      ...(abortSignal === undefined ? {} : { abortSignal }),
    });

  /** Describes a collection or alias without the SDK's cache; `undefined` when it does not exist. */
  const describe = async (name: string, abortSignal?: AbortSignal): Promise<DescribeCollectionResponse | undefined> => {
    const ctx = context(`describe "${name}"`, name);
    const missing = (status: MilvusStatus | undefined) =>
      Number(status?.code ?? 0) === 100 || status?.error_code === 'CollectionNotExists';
    const response = await retried(
      ctx,
      abortSignal,
      (client) => client.describeCollection({ collection_name: name, timeout: timeoutMs }),
      (result) => (missing(result.status) ? undefined : result.status),
    );
    return missing(response.status) ? undefined : response;
  };

  const readMeta = (response: DescribeCollectionResponse, name: string): Meta => {
    const raw = response.properties?.find((property) => property.key === PROPERTY)?.value;
    let parsed: unknown;
    try {
      parsed = raw === undefined ? undefined : JSON.parse(String(raw));
    } catch {
      parsed = undefined;
    }
    const result = metaSchema.safeParse(parsed);
    if (!result.success) {
      throw new ConflictError({
        message: `Milvus collection "${name}" was not created by kumiki (its "${PROPERTY}" property is missing or altered); use another name.`,
        component: COMPONENT,
      });
    }
    if (result.data.terms !== 2) {
      throw new ConflictError({
        message: `Milvus collection "${name}" was written by an earlier kumiki whose filter terms compared large numbers wrongly; copy its records into a new collection (e.g. with reembed) and use that.`,
        component: COMPONENT,
      });
    }
    return result.data;
  };

  /** Resolves a collection or alias to its real name and metadata; `NotFoundError` when missing. */
  const resolve = async (name: string, abortSignal?: AbortSignal): Promise<Described> => {
    const response = await describe(name, abortSignal);
    if (!response) {
      throw new NotFoundError({
        resource: 'Collection',
        name,
        hint: 'Create it first with createCollection({ name, dimensions }).',
        component: COMPONENT,
      });
    }
    const real = realName(response, name);
    return { name: real, meta: readMeta(response, real), ...epochOf(response) };
  };

  const countRows = async (real: string, filter: MilvusExpression, abortSignal?: AbortSignal): Promise<number> => {
    const response = await retried(
      context(`count in "${real}"`, real),
      abortSignal,
      (client) =>
        client.query({
          collection_name: real,
          expr: filter.expr,
          ...(filter.expr === '' ? {} : { exprValues: filter.exprValues }),
          output_fields: ['count(*)'],
          consistency_level: STRONG,
          timeout: timeoutMs,
        }),
      (result) => result.status,
    );
    return Number(response.data[0]?.['count(*)'] ?? 0);
  };

  const infoOf = async (described: Described, abortSignal?: AbortSignal): Promise<CollectionInfo> => ({
    ...infoFields(described.name, described.meta),
    ...(described.epoch === undefined ? {} : { epoch: described.epoch }),
    count: await countRows(described.name, { expr: '', exprValues: {} }, abortSignal),
  });

  const checkSpace = (described: Described, given: EmbeddingSpace | string | undefined, kind: 'dense' | 'sparse') =>
    checkEmbeddingSpace(
      kind === 'dense'
        ? { collection: described.name, fingerprint: described.meta.fingerprint, space: described.meta.space }
        : {
            collection: described.name,
            fingerprint: described.meta.sparseFingerprint,
            space: described.meta.sparseSpace,
          },
      given,
      kind,
      COMPONENT,
    );

  const filterOf = (filter: Filter | undefined): MilvusExpression | undefined =>
    filter === undefined ? undefined : translateFilter(filter);

  const checkRecords = (described: Described, records: readonly VectorRecord[]): void => {
    const shape = { name: described.name, dimensions: described.meta.dimensions, sparse: described.meta.sparse };
    records.forEach((record, index) => {
      const where = `record ${index} (id ${JSON.stringify(record.id)})`;
      const issue = (path: string, message: string) =>
        new InvalidArgumentError({ argument: 'records', issues: [{ path: `${index}.${path}`, message }] });
      checkRecordVectors(shape, record, index, COMPONENT);
      if (record.sparseVector !== undefined) {
        for (let i = 0; i < record.sparseVector.indices.length; i++) {
          if ((record.sparseVector.indices[i] as number) >= 0xffffffff) {
            throw issue(`sparseVector.indices.${i}`, 'Milvus sparse indices must be below 2^32 - 1');
          }
        }
        const small = smallSparseValue(record.sparseVector);
        if (small !== undefined) throw issue(`sparseVector.values.${small}`, sparseValueMessage(`${where} has`));
      }
    });
  };

  const toRow = (meta: Meta, record: VectorRecord): Row => {
    const payload = record.payload ?? {};
    const row: Row = { pk: encodeId(record.id), payload, terms: payloadTerms(payload) };
    if (meta.dimensions !== undefined && record.vector) row.dense = Array.from(record.vector);
    if (meta.sparse) row.sparse = record.sparseVector ? sortedSparse(record.sparseVector) : { indices: [], values: [] };
    return row;
  };

  const vectorFields = (meta: Meta): string[] => [
    ...(meta.dimensions === undefined ? [] : [FIELDS.dense]),
    ...(meta.sparse ? [FIELDS.sparse] : []),
  ];
  const outputFields = (meta: Meta, includeVectors: boolean): string[] => [
    FIELDS.pk,
    FIELDS.payload,
    ...(includeVectors ? vectorFields(meta) : []),
  ];

  const queryRows = async (
    described: Described,
    filter: MilvusExpression,
    limit: number,
    includeVectors: boolean,
    operation: string,
    abortSignal?: AbortSignal,
  ): Promise<Record<string, unknown>[]> => {
    const response = await retried(
      context(operation, described.name),
      abortSignal,
      (client) =>
        client.query({
          collection_name: described.name,
          expr: filter.expr,
          exprValues: filter.exprValues,
          output_fields: outputFields(described.meta, includeVectors),
          limit,
          consistency_level: STRONG,
          timeout: timeoutMs,
        }),
      (result) => result.status,
    );
    return response.data;
  };

  const searchSide = async (
    described: Described,
    side: 'dense' | 'sparse',
    data: number[] | Record<string, number>,
    limit: number,
    filter: MilvusExpression | undefined,
    includeVectors: boolean,
    abortSignal: AbortSignal | undefined,
  ): Promise<Match[]> => {
    const metric = side === 'dense' ? described.meta.metric : 'dot';
    const response = await retried(
      context(`${side} search in "${described.name}"`, described.name),
      abortSignal,
      (client) =>
        client.search({
          collection_name: described.name,
          anns_field: side === 'dense' ? FIELDS.dense : FIELDS.sparse,
          data,
          limit,
          metric_type: side === 'dense' ? METRIC_TYPES[metric] : 'IP',
          params: side === 'dense' ? {} : { drop_ratio_search: 0 },
          ...(filter && filter.expr !== '' ? { filter: filter.expr, exprValues: filter.exprValues } : {}),
          output_fields: outputFields(described.meta, includeVectors),
          consistency_level: STRONG,
          timeout: timeoutMs,
        }),
      (result) => result.status,
    );
    const hits = (response.results as Record<string, unknown>[]).map((hit) => {
      const raw = Number(hit.score);
      // Milvus reports L2 as the squared distance; kumiki's score is the negated distance. Cosine
      // with an all-zero stored vector has no defined angle: kumiki scores it 0.
      const score = metric === 'euclidean' ? -Math.sqrt(Math.max(0, raw)) : Number.isNaN(raw) ? 0 : raw;
      return { ...readRecord(hit, includeVectors), score };
    });
    return hits.sort((a, b) => b.score - a.score);
  };

  const store: MilvusStore = {
    specificationVersion: 'kumiki.store.v1',
    provider: 'milvus',
    capabilities: {
      dense: true,
      sparse: true,
      hybrid: true,
      metrics: ['cosine', 'dot', 'euclidean'],
      filterOperators: FILTER_OPERATORS,
      persistent: true,
      aliases: true,
    },

    client: connect,

    async createCollection(input: CreateCollectionOptions): Promise<CollectionInfo> {
      const config = parseArgument(createSchema, input, 'createCollection options');
      throwIfAborted(config.abortSignal, 'createCollection');
      const existing = await describe(config.name, config.abortSignal);
      if (existing) {
        const real = realName(existing, config.name);
        if (real !== config.name) {
          throw new ConflictError({
            message: `"${config.name}" is an alias (of "${real}"); pick another collection name or delete the alias.`,
            component: COMPONENT,
          });
        }
        const described = { name: real, meta: readMeta(existing, real), ...epochOf(existing) };
        checkReopen(described.meta, config, COMPONENT);
        checkSpace(described, config.embeddingSpace, 'dense');
        checkSpace(described, config.sparseEmbeddingSpace, 'sparse');
        return infoOf(described, config.abortSignal);
      }
      const meta: Meta = {
        version: 1,
        terms: 2,
        metric: config.metric ?? 'cosine',
        sparse: config.sparse ?? true,
        ...(config.dimensions === undefined ? {} : { dimensions: config.dimensions }),
        ...(config.embeddingSpace === undefined ? {} : { fingerprint: toFingerprint(config.embeddingSpace) }),
        ...(config.sparseEmbeddingSpace === undefined
          ? {}
          : { sparseFingerprint: toFingerprint(config.sparseEmbeddingSpace) }),
        ...(typeof config.embeddingSpace === 'object' ? { space: config.embeddingSpace } : {}),
        ...(typeof config.sparseEmbeddingSpace === 'object' ? { sparseSpace: config.sparseEmbeddingSpace } : {}),
      };
      const fields: FieldType[] = [
        { name: FIELDS.pk, data_type: 'VarChar', is_primary_key: true, autoID: false, max_length: MAX_KEY_BYTES },
        { name: FIELDS.payload, data_type: 'JSON' },
        { name: FIELDS.terms, data_type: 'JSON' },
      ];
      const indexes: {
        field_name: string;
        index_type: string;
        metric_type: string;
        params?: Record<string, number>;
      }[] = [];
      if (meta.dimensions !== undefined) {
        fields.push({ name: FIELDS.dense, data_type: 'FloatVector', dim: meta.dimensions });
        indexes.push({ field_name: FIELDS.dense, index_type: 'FLAT', metric_type: METRIC_TYPES[meta.metric] });
      }
      if (meta.sparse) {
        fields.push({ name: FIELDS.sparse, data_type: 'SparseFloatVector' });
        indexes.push({
          field_name: FIELDS.sparse,
          index_type: 'SPARSE_INVERTED_INDEX',
          metric_type: 'IP',
          params: { drop_ratio_build: 0 },
        });
      }
      await call(
        context(`create collection "${config.name}"`, config.name),
        (client) =>
          client.createCollection({
            collection_name: config.name,
            description: 'kumiki collection',
            fields,
            index_params: indexes,
            enable_dynamic_field: false,
            consistency_level: 'Strong',
            properties: { [PROPERTY]: JSON.stringify(meta) },
            timeout: timeoutMs,
          }),
        (result) => result,
      );
      const created = await describe(config.name, config.abortSignal);
      return { ...infoFields(config.name, meta), count: 0, ...(created ? epochOf(created) : {}) };
    },

    async openCollection(input: OpenCollectionOptions): Promise<CollectionInfo> {
      const config = parseArgument(openSchema, input, 'openCollection options');
      const described = await resolve(config.name, config.abortSignal);
      checkSpace(described, config.embeddingSpace, 'dense');
      checkSpace(described, config.sparseEmbeddingSpace, 'sparse');
      return infoOf(described, config.abortSignal);
    },

    async listCollections(input?: { abortSignal?: AbortSignal }): Promise<CollectionInfo[]> {
      const abortSignal = parseArgument(listSchema, input, 'listCollections options')?.abortSignal;
      const response = await retried(
        context('list collections'),
        abortSignal,
        (client) => client.showCollections({ timeout: timeoutMs }),
        (result) => result.status,
      );
      const infos = await mapLimit(response.data, concurrency, async ({ name }) => {
        const described = await describe(name, abortSignal);
        if (!described?.properties?.some((property) => property.key === PROPERTY)) return undefined;
        let meta: Meta;
        try {
          meta = readMeta(described, name);
        } catch (error) {
          // Altered, or written by an earlier kumiki: opening it explains; listing leaves it out.
          if (ConflictError.isInstance(error)) return undefined;
          throw error;
        }
        return infoOf({ name, meta, ...epochOf(described) }, abortSignal);
      });
      return infos.filter((info): info is CollectionInfo => info !== undefined);
    },

    async deleteCollection(input: { name: string; abortSignal?: AbortSignal }): Promise<boolean> {
      const { name, abortSignal } = parseArgument(nameSchema, input, 'deleteCollection options');
      const existing = await describe(name, abortSignal);
      if (!existing) return false;
      const real = realName(existing, name);
      if (real !== name) {
        throw new ConflictError({
          message: `"${name}" is an alias of "${real}"; delete the alias with deleteAlias, or the collection by its own name.`,
          component: COMPONENT,
        });
      }
      readMeta(existing, name);
      // Milvus refuses to drop a collection that aliases point at; like the memory store, the
      // aliases go with it.
      for (const alias of existing.aliases ?? []) {
        await call(
          context(`drop alias "${alias}"`, alias),
          (client) => client.dropAlias({ alias, timeout: timeoutMs }),
          (result) => result,
        );
      }
      await call(
        context(`drop collection "${name}"`, name),
        (client) => client.dropCollection({ collection_name: name, timeout: timeoutMs }),
        (result) => result,
      );
      return true;
    },

    async upsert(input: UpsertOptions): Promise<{ upserted: number }> {
      const { collection, records, abortSignal } = parseArgument(upsertSchema, input, 'upsert options');
      throwIfAborted(abortSignal, 'upsert');
      const described = await resolve(collection, abortSignal);
      checkRecords(described, records);
      // Within a batch the last duplicate wins; Milvus may reject duplicate keys in one request.
      const latest = new Map<string, Row>();
      const jsonBytes = new Map<Row, number>();
      records.forEach((record, index) => {
        const row = toRow(described.meta, record);
        jsonBytes.set(row, checkJsonSizes(row, `record ${index} (id ${JSON.stringify(record.id)})`, index));
        latest.delete(row.pk);
        latest.set(row.pk, row);
      });
      const rows = [...latest.values()];
      const batches = splitBatches(
        rows,
        limits,
        (row) => rowBytes(row, jsonBytes.get(row) ?? 0),
        (row) => `record ${JSON.stringify(decodeId(row.pk))}`,
      );
      throwIfAborted(abortSignal, 'upsert');
      await writeBatches({
        collection,
        batches,
        idOf: (row) => decodeId(row.pk),
        concurrency,
        retry: { retries, ...(abortSignal === undefined ? {} : { abortSignal }) },
        component: COMPONENT,
        write: async (batch) => {
          await call(
            context(`upsert into "${collection}"`, collection),
            (client) => client.upsert({ collection_name: described.name, data: batch as never[], timeout: timeoutMs }),
            (result) => result.status,
          );
        },
      });
      return { upserted: records.length };
    },

    async get(input: GetOptions): Promise<StoredRecord[]> {
      const { collection, ids, includeVectors, abortSignal } = parseArgument(getSchema, input, 'get options');
      const described = await resolve(collection, abortSignal);
      const keys = [...new Set(ids.map(encodeId))];
      const found = new Map<string, StoredRecord>();
      for (let start = 0; start < keys.length; start += ID_CHUNK) {
        const chunk = keys.slice(start, start + ID_CHUNK);
        const rows = await queryRows(
          described,
          idsIn(chunk),
          chunk.length,
          includeVectors ?? false,
          `get from "${collection}"`,
          abortSignal,
        );
        for (const row of rows) found.set(String(row[FIELDS.pk]), readRecord(row, includeVectors ?? false));
      }
      return ids.flatMap((id) => {
        const record = found.get(encodeId(id));
        return record ? [record] : [];
      });
    },

    async delete(input: DeleteOptions): Promise<{ deleted: number }> {
      const parsed = parseArgument(deleteSchema, input, 'delete options');
      throwIfAborted(parsed.abortSignal, 'delete');
      const described = await resolve(parsed.collection, parsed.abortSignal);
      const remove = (expression: MilvusExpression) =>
        retried(
          context(`delete from "${parsed.collection}"`, parsed.collection),
          parsed.abortSignal,
          (client) =>
            client.deleteEntities({
              collection_name: described.name,
              expr: expression.expr,
              exprValues: expression.exprValues,
              timeout: timeoutMs,
            }),
          (result) => result.status,
        );
      if ('filter' in parsed) {
        const response = await remove(translateFilter(parsed.filter));
        return { deleted: Number(response.delete_cnt ?? 0) };
      }
      // Milvus counts the keys it was asked to delete, present or not; kumiki counts only those
      // that existed, so look them up first.
      const keys = [...new Set(parsed.ids.map(encodeId))];
      let deleted = 0;
      for (let start = 0; start < keys.length; start += ID_CHUNK) {
        const chunk = keys.slice(start, start + ID_CHUNK);
        const rows = await queryRows(
          described,
          idsIn(chunk),
          chunk.length,
          false,
          `delete from "${parsed.collection}"`,
          parsed.abortSignal,
        );
        const present = rows.map((row) => String(row[FIELDS.pk]));
        if (present.length === 0) continue;
        await remove(idsIn(present));
        deleted += present.length;
      }
      return { deleted };
    },

    async count(input: CountOptions): Promise<number> {
      const { collection, filter, abortSignal } = parseArgument(countSchema, input, 'count options');
      const described = await resolve(collection, abortSignal);
      return countRows(described.name, filterOf(filter) ?? { expr: '', exprValues: {} }, abortSignal);
    },

    async scroll(input: ScrollOptions): Promise<ScrollPage> {
      const parsed = parseArgument(scrollSchema, input, 'scroll options');
      const after = parsed.cursor === undefined ? undefined : decodeCursor(parsed.cursor);
      const described = await resolve(parsed.collection, parsed.abortSignal);
      const limit = parsed.limit ?? 100;
      const includeVectors = parsed.includeVectors ?? false;
      const expression = allOf(
        after === undefined ? undefined : { expr: `${FIELDS.pk} > {after}`, exprValues: { after: encodeId(after) } },
        filterOf(parsed.filter),
      );
      // Milvus returns the rows of a limited query in primary-key order, and primary keys sort in
      // kumiki's id order (see keys.ts). One extra row tells whether another page follows.
      const rows = await queryRows(
        described,
        expression,
        limit + 1,
        includeVectors,
        `scroll "${parsed.collection}"`,
        parsed.abortSignal,
      );
      // Keys hold no surrogates (see keys.ts), so JavaScript's string order is their UTF-8 byte order.
      const sorted = rows
        .map((row) => ({ key: String(row[FIELDS.pk]), row }))
        .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      const page = sorted.slice(0, limit).map(({ row }) => readRecord(row, includeVectors));
      const last = page.at(-1);
      return { records: page, nextCursor: sorted.length > limit && last ? encodeCursor(last.id) : undefined };
    },

    async search(input: SearchOptions): Promise<Match[]> {
      const parsed = parseArgument(searchSchema, input, 'search options');
      throwIfAborted(parsed.abortSignal, 'search');
      const described = await resolve(parsed.collection, parsed.abortSignal);
      const { meta } = described;
      const limit = parsed.limit ?? 10;
      const includeVectors = parsed.includeVectors ?? false;
      checkSearchVectors(
        { name: described.name, dimensions: meta.dimensions, sparse: meta.sparse },
        parsed.vector,
        parsed.sparseVector,
        COMPONENT,
      );
      checkSpace(described, parsed.embeddingSpace, 'dense');
      checkSpace(described, parsed.sparseEmbeddingSpace, 'sparse');
      const filter = filterOf(parsed.filter);
      const hybrid = parsed.vector !== undefined && parsed.sparseVector !== undefined;
      const depth = hybrid ? Math.max(parsed.fusion?.prefetch ?? limit * 4, limit) : limit;
      const small = parsed.sparseVector ? smallSparseValue(parsed.sparseVector) : undefined;
      if (small !== undefined) {
        throw new InvalidArgumentError({
          argument: 'search options',
          issues: [{ path: `sparseVector.values.${small}`, message: sparseValueMessage('the query has') }],
        });
      }
      const sparseQuery = parsed.sparseVector ? sortedSparse(parsed.sparseVector) : undefined;
      const zeroCosine = meta.metric === 'cosine' && parsed.vector?.every((value) => value === 0);
      const [dense, sparse] = await Promise.all([
        // Cosine against an all-zero query is 0 for every record (as in the memory store), so any
        // `depth` matching records are a correct answer; Milvus is not asked to divide by zero.
        zeroCosine
          ? queryRows(
              described,
              filter ?? { expr: '', exprValues: {} },
              depth,
              includeVectors,
              `search "${parsed.collection}"`,
              parsed.abortSignal,
            ).then((rows) => rows.map((row) => ({ ...readRecord(row, includeVectors), score: 0 })))
          : parsed.vector
            ? searchSide(
                described,
                'dense',
                Array.from(parsed.vector),
                depth,
                filter,
                includeVectors,
                parsed.abortSignal,
              )
            : [],
        // An empty sparse query shares no index with anything: no matches, as in the memory store.
        sparseQuery && sparseQuery.indices.length > 0
          ? searchSide(
              described,
              'sparse',
              Object.fromEntries(sparseQuery.indices.map((index, i) => [index, sparseQuery.values[i] as number])),
              depth,
              filter,
              includeVectors,
              parsed.abortSignal,
            )
          : [],
      ]);
      // Fused here rather than with Milvus's RRFRanker: same formula, but float64 scores, any k > 0
      // and the memory store's tie order (see docs/adapters/milvus.md).
      const matches = hybrid
        ? reciprocalRankFusion([dense, sparse], { k: parsed.fusion?.k ?? DEFAULT_RRF_K, limit })
        : parsed.vector
          ? dense
          : sparse;
      const threshold = parsed.scoreThreshold;
      return threshold === undefined ? matches : matches.filter((match) => match.score >= threshold);
    },

    async explain(input: { collection: string; filter: Filter }): Promise<ExplainedFilter> {
      const { collection, filter } = parseArgument(explainSchema, input, 'explain options');
      await resolve(collection);
      const expression = translateFilter(filter);
      return { backend: 'milvus', native: { field: TERMS_FIELD, ...expression } };
    },

    async setAlias(input: { alias: string; collection: string; abortSignal?: AbortSignal }): Promise<void> {
      const { alias, collection, abortSignal } = parseArgument(aliasSchema, input, 'setAlias options');
      const target = await describe(collection, abortSignal);
      if (!target || realName(target, collection) !== collection) {
        throw new NotFoundError({
          resource: 'Collection',
          name: collection,
          hint: 'Aliases point at collections by their own names.',
          component: COMPONENT,
        });
      }
      const current = await describe(alias, abortSignal);
      if (current && realName(current, alias) === alias) {
        throw new ConflictError({
          message: `"${alias}" is a collection; an alias cannot take its name.`,
          component: COMPONENT,
        });
      }
      // alterAlias switches an existing alias atomically; createAlias makes a new one.
      await call(
        context(`set alias "${alias}"`, alias),
        (client) =>
          current
            ? client.alterAlias({ alias, collection_name: collection, timeout: timeoutMs })
            : client.createAlias({ alias, collection_name: collection, timeout: timeoutMs }),
        (result) => result,
      );
    },

    async deleteAlias(input: { alias: string; abortSignal?: AbortSignal }): Promise<boolean> {
      const { alias, abortSignal } = parseArgument(deleteAliasSchema, input, 'deleteAlias options');
      const current = await describe(alias, abortSignal);
      if (!current || realName(current, alias) === alias) return false;
      await call(
        context(`drop alias "${alias}"`, alias),
        (client) => client.dropAlias({ alias, timeout: timeoutMs }),
        (result) => result,
      );
      return true;
    },

    async listAliases(input?: { abortSignal?: AbortSignal }): Promise<AliasInfo[]> {
      const abortSignal = parseArgument(listSchema, input, 'listAliases options')?.abortSignal;
      // The SDK lists aliases per collection only; describing each collection gives its aliases.
      const response = await retried(
        context('list aliases'),
        abortSignal,
        (client) => client.showCollections({ timeout: timeoutMs }),
        (result) => result.status,
      );
      const perCollection = await mapLimit(response.data, concurrency, async ({ name }) => {
        const described = await describe(name, abortSignal);
        return (described?.aliases ?? []).map((alias) => ({ alias, collection: name }));
      });
      return perCollection.flat();
    },

    async dispose(): Promise<void> {
      if (disposed) return;
      disposed = true;
      if (settings.client || !connecting) return;
      const client = await connection().catch(() => undefined);
      await client?.closeConnection();
    },
  };
  return store;
}

/** The epoch of a described collection: Milvus gives every collection it creates a new id. */
function epochOf(response: DescribeCollectionResponse): { epoch?: string } {
  const id = response.collectionID;
  return id === undefined || id === null || String(id) === '' || String(id) === '0' ? {} : { epoch: `milvus:${id}` };
}

function infoFields(name: string, meta: Meta): Omit<CollectionInfo, 'count'> {
  return {
    name,
    dimensions: meta.dimensions,
    metric: meta.metric,
    sparse: meta.sparse,
    fingerprint: meta.fingerprint,
    sparseFingerprint: meta.sparseFingerprint,
  };
}
