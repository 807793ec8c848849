/**
 * The Milvus store's connection: options, the client (connected on first use), one request with
 * error translation and status checks (with kumiki's retries for idempotent ones), the server version
 * check, and the `kumiki.collection` property that describes each collection.
 */
import type { ConsistencyLevelEnum, DescribeCollectionResponse, MilvusClient } from '@zilliz/milvus2-sdk-node';
import * as z from 'zod';
import { ConflictError, NotFoundError } from '../../core/errors.js';
import { embeddingSpaceSchema } from '../../core/fingerprint.js';
import { checkServerRelease, type Release } from '../../core/server-version.js';
import type { Metric, Store } from '../../core/store.js';
import { importOptional, lazy } from '../../internal/optional.js';
import { withRetry } from '../../internal/retry.js';
import type { CollectionRecord } from '../kernel/collection.js';
import {
  type ServerStoreOptions,
  type ServerStoreSettings,
  serverStoreOptionsShape,
  serverStoreSettings,
} from '../kernel/options.js';
import { storeArgumentSchemas } from '../kernel/schemas.js';
import { checkStatus, type ErrorContext, type MilvusStatus, translateError } from './errors.js';
import { type MilvusExpression, TERMS_FIELD } from './filter.js';

export type MilvusStoreOptions = ServerStoreOptions & {
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
  /** An existing client to use instead of connecting (it is not closed by `dispose`). */
  client?: MilvusClient;
};

export type MilvusStore = Store &
  Required<Pick<Store, 'setAlias' | 'deleteAlias' | 'listAliases'>> & {
    /** The underlying `MilvusClient` (connects on first call), for what kumiki does not cover. */
    client(): Promise<MilvusClient>;
  };

export const COMPONENT = 'milvus';
export const PROPERTY = 'kumiki.collection';
export const FIELDS = { pk: 'pk', dense: 'dense', sparse: 'sparse', payload: 'payload', terms: TERMS_FIELD } as const;
/** Milvus caps `limit + offset` of one query at 16,384; `get` and `delete` ask in chunks below that. */
export const ID_CHUNK = 1000;
/** Reads see every write that finished before them (Milvus's default, `Bounded`, may not). */
export const STRONG = 0 as ConsistencyLevelEnum;
export const METRIC_TYPES: Record<Metric, string> = { cosine: 'COSINE', dot: 'IP', euclidean: 'L2' };
/** Expression template values (`exprValues`) arrived in Milvus 2.5. */
export const MILVUS_MINIMUM_VERSION: Release = [2, 5, 0];
/** Milvus refuses a JSON field value longer than this many bytes (`common.JSONMaxLength`, default 64 KiB). */
export const MAX_JSON_BYTES = 65_536;
/**
 * The smallest sparse value kumiki sends. Milvus leaves out of a sparse search every record whose
 * float32 score is not positive; with values of at least 1e-18 every product, and so every score of a
 * record sharing an index with the query, is a positive normal float32 (1e-36 > 2^-126).
 */
export const MIN_SPARSE_VALUE = 1e-18;

/** Defaults of the shared server-store options: 1,000 records or 16 MiB per upsert, well under the 64 MiB gRPC message limit of a default Milvus server. */
export const MILVUS_DEFAULTS = {
  maxBatchSize: 1000,
  maxBatchBytes: 16 * 1024 * 1024,
  maxBatchBytesLimit: 64 * 1024 * 1024,
};

export const optionsSchema = z
  .object({
    address: z.string().min(1).optional(),
    token: z.string().min(1).optional(),
    username: z.string().min(1).optional(),
    password: z.string().optional(),
    database: z.string().min(1).optional(),
    timeoutMs: z.number().int().positive().optional(),
    ...serverStoreOptionsShape(MILVUS_DEFAULTS),
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
export const {
  create: createSchema,
  open: openSchema,
  list: listSchema,
  deleteCollection: nameSchema,
  explain: explainSchema,
  setAlias: aliasSchema,
  deleteAlias: deleteAliasSchema,
  parseUpsert,
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

export const metaSchema = z.object({
  version: z.literal(1),
  /** The encoding of the `terms` field: 2 = range bounds as order-preserving strings (see filter.ts). */
  terms: z.literal(2).optional(),
  dimensions: z.number().int().positive().optional(),
  metric: z.enum(['cosine', 'dot', 'euclidean']),
  sparse: z.boolean(),
  fingerprint: z.string().optional(),
  sparseFingerprint: z.string().optional(),
  space: z.optional(embeddingSpaceSchema),
  sparseSpace: z.optional(embeddingSpaceSchema),
});
export type Meta = z.infer<typeof metaSchema>;

/** A collection as described by Milvus: its real name (aliases resolved) and kumiki metadata. */
export type Described = {
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
export const realName = (response: DescribeCollectionResponse, asked: string): string => response.schema?.name || asked;

/** The epoch of a described collection: Milvus gives every collection it creates a new id. */
export function epochOf(response: DescribeCollectionResponse): { epoch?: string } {
  const id = response.collectionID;
  return id === undefined || id === null || String(id) === '' || String(id) === '0' ? {} : { epoch: `milvus:${id}` };
}

/** A described collection as the kernel sees it. */
export const toCollection = (described: Described): CollectionRecord => ({
  name: described.name,
  dimensions: described.meta.dimensions,
  metric: described.meta.metric,
  sparse: described.meta.sparse,
  fingerprint: described.meta.fingerprint,
  sparseFingerprint: described.meta.sparseFingerprint,
  space: described.meta.space,
  sparseSpace: described.meta.sparseSpace,
  epoch: described.epoch,
});

/** What the collection and row methods share. */
export type MilvusContext = ServerStoreSettings & {
  timeoutMs: number;
  /** The context of an error raised by `operation`. */
  context(operation: string, collection?: string): ErrorContext;
  /** Runs one SDK call, translating whatever it throws; `status` picks the status to verify. */
  call<T>(
    ctx: ErrorContext,
    fn: (client: MilvusClient) => Promise<T>,
    status: (result: T) => MilvusStatus | undefined,
  ): Promise<T>;
  /** `call` with kumiki's retries, for idempotent requests. */
  retried<T>(
    ctx: ErrorContext,
    abortSignal: AbortSignal | undefined,
    fn: (client: MilvusClient) => Promise<T>,
    status: (result: T) => MilvusStatus | undefined,
  ): Promise<T>;
  /** Describes a collection or alias without the SDK's cache; `undefined` when it does not exist. */
  describe(name: string, abortSignal?: AbortSignal): Promise<DescribeCollectionResponse | undefined>;
  /** kumiki's metadata of a described collection; `ConflictError` when it is not kumiki's. */
  readMeta(response: DescribeCollectionResponse, name: string): Meta;
  /** Resolves a collection or alias to its real name and metadata; `NotFoundError` when missing. */
  resolve(name: string, abortSignal?: AbortSignal): Promise<Described>;
  countRows(real: string, filter: MilvusExpression, abortSignal?: AbortSignal): Promise<number>;
  connect(): Promise<MilvusClient>;
  dispose(): Promise<void>;
};

export function createMilvusContext(settings: z.output<typeof optionsSchema>): MilvusContext {
  const address = settings.address ?? 'localhost:19530';
  const timeoutMs = settings.timeoutMs ?? 30_000;
  const shared = serverStoreSettings(settings, MILVUS_DEFAULTS);
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
      ...shared.retry,
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

  return {
    ...shared,
    timeoutMs,
    context,
    call,
    retried,
    describe,
    readMeta,
    resolve,
    countRows,
    connect,
    async dispose() {
      if (disposed) return;
      disposed = true;
      if (settings.client || !connecting) return;
      const client = await connection().catch(() => undefined);
      await client?.closeConnection();
    },
  };
}
