import type { Pool, PoolClient, PoolConfig, QueryResult, QueryResultRow } from 'pg';
import { ConflictError, InvalidArgumentError, NotFoundError, throwIfAborted } from '../../core/errors.js';
import { FILTER_OPERATORS, type Filter } from '../../core/filter.js';
import type { EmbeddingSpace } from '../../core/fingerprint.js';
import { DEFAULT_RRF_K, reciprocalRankFusion } from '../../core/fusion.js';
import { sha256Hex } from '../../core/sha256.js';
import type {
  AliasInfo,
  CollectionInfo,
  CountOptions,
  CreateCollectionOptions,
  DeleteOptions,
  ExplainedFilter,
  GetOptions,
  OpenCollectionOptions,
  ScrollOptions,
  ScrollPage,
  SearchOptions,
  Store,
  UpsertOptions,
} from '../../core/store.js';
import type { DenseVectorInput, Match, SparseVector, StoredRecord } from '../../core/types.js';
import { parseArgument } from '../../core/validate.js';
import { importOptional, lazy } from '../../internal/optional.js';
import { withRetry } from '../../internal/retry.js';
import {
  checkEmbeddingSpace,
  checkReopen,
  checkSearchVectors,
  decodeCursor,
  encodeCursor,
  splitBatches,
  toFingerprint,
  writeBatches,
} from '../kernel/checks.js';
import {
  encodeId,
  indicesText,
  MAX_HNSW_DIMENSIONS,
  quoteIdent,
  SPARSE_DIMENSIONS,
  sortedSparse,
  sparseText,
  vectorText,
} from './encoding.js';
import { type ErrorContext, translateError } from './errors.js';
import { BACKEND, filterToSql } from './filter-sql.js';
import {
  aliasSchema,
  countSchema,
  createSchema,
  deleteAliasSchema,
  deleteCollectionSchema,
  deleteSchema,
  explainSchema,
  getSchema,
  listSchema,
  openSchema,
  optionsSchema,
  scrollSchema,
  searchSchema,
  upsertSchema,
} from './schemas.js';
import {
  CATALOG_COLUMNS,
  CATALOG_EPOCH,
  CATALOG_SELECT,
  type CatalogRow,
  createTableSql,
  DENSE_DISTANCE,
  insertSql,
  insertValues,
  prepareRows,
  type RecordRow,
  rowBytes,
  selectColumns,
  toMatch,
  toRecord,
} from './table.js';

export type PgvectorStoreOptions = {
  /** `postgres://user:password@host:5432/db`. Without it (and without `pool`), pg reads the PG* environment variables. */
  connectionString?: string;
  /** An existing `pg.Pool` to use instead of creating one; `dispose()` leaves it open. */
  pool?: Pool;
  /** Extra settings for the pool the store creates (`max`, `ssl`, timeouts, …). */
  poolConfig?: PoolConfig;
  /** Schema holding kumiki's tables; created if missing. Default `public`. */
  schema?: string;
  /** Prefix of every table kumiki creates (catalog, aliases, one table per collection). Default `kumiki_`. */
  tablePrefix?: string;
  /** Upsert batches: at most `maxCount` records (default 500) and `maxBytes` of SQL parameters (default 8 MiB). */
  batch?: { maxCount?: number; maxBytes?: number };
  /** Upsert batches in flight at once; default 4. */
  concurrency?: number;
  /** Retries of a statement that failed with a retryable error (connection loss, deadlock, serialization); default 3. */
  retries?: number;
  /** First retry backoff in ms, doubling with full jitter; default 200. */
  retryDelayMs?: number;
  /**
   * Dense index of the collections this store creates. `exact` (default) scans, so rankings are
   * exact. `hnsw` builds a pgvector HNSW index (at most 2,000 dimensions): faster on large
   * collections, but search becomes approximate and filtered searches may return fewer matches.
   */
  index?: 'exact' | { type: 'hnsw'; m?: number; efConstruction?: number };
  /**
   * How long (ms) a collection's catalog entry (where an alias points, the table, dimensions, metric)
   * is reused before it is read again; default 1000, `0` reads it on every call. This store's own
   * catalog changes take effect at once; another process's alias switch is seen within this time.
   */
  catalogCacheMs?: number;
};

export type PgvectorStore = Store &
  Required<Pick<Store, 'setAlias' | 'deleteAlias' | 'listAliases'>> & {
    /** The `pg.Pool` the store uses, after the first-use setup (extension, schema, catalog tables). */
    client(): Promise<Pool>;
  };

type Queryable = Pick<PoolClient, 'query'>;

function addressOf(options: { connectionString?: string; pool?: object; poolConfig?: PoolConfig }): string | undefined {
  const config = (options.pool as { options?: PoolConfig } | undefined)?.options ?? options.poolConfig;
  const connectionString = options.connectionString ?? config?.connectionString;
  if (connectionString !== undefined) {
    try {
      const url = new URL(connectionString);
      return `${url.hostname || 'localhost'}:${url.port || 5432}`;
    } catch {
      return undefined;
    }
  }
  return config?.host === undefined ? undefined : `${config.host}:${config.port ?? 5432}`;
}

/**
 * A Store on PostgreSQL with pgvector, through node-postgres (`pg`, loaded on first use). One table
 * per collection (`key bytea`, `embedding vector(d)`, `sparse sparsevec`, `payload jsonb`), a
 * catalog table with dimensions, metric and embedding-space fingerprints, and an alias table.
 * Exact search by default; filters run natively as SQL over jsonb with every value a bind parameter.
 */
export function createPgvectorStore(options: PgvectorStoreOptions = {}): PgvectorStore {
  const settings = parseArgument(optionsSchema, options, 'pgvector store options');
  const schema = settings.schema ?? 'public';
  const prefix = settings.tablePrefix ?? 'kumiki_';
  const retries = settings.retries ?? 3;
  const baseDelayMs = settings.retryDelayMs ?? 200;
  const concurrency = settings.concurrency ?? 4;
  const limits = { maxCount: settings.batch?.maxCount ?? 500, maxBytes: settings.batch?.maxBytes ?? 8 * 2 ** 20 };
  const index = settings.index ?? 'exact';
  const address = addressOf(settings);
  const cacheMs = settings.catalogCacheMs ?? 1000;
  /** Catalog entries by the name (collection or alias) they were resolved from. */
  const cache = new Map<string, { meta: CatalogRow; at: number }>();
  const table = (name: string) => `${quoteIdent(schema)}.${quoteIdent(name)}`;
  const catalog = table(`${prefix}collections`);
  const aliasTable = table(`${prefix}aliases`);
  const lockKey = `kumiki:${schema}.${prefix}`;
  let disposed = false;

  const ownsPool = settings.pool === undefined;
  let created: Pool | undefined;
  const connect = lazy(async (): Promise<Pool> => {
    if (settings.pool) return settings.pool as Pool;
    const pg = await importOptional('pg', BACKEND, () => import('pg'));
    created = new pg.Pool({
      max: 10,
      ...(settings.poolConfig as PoolConfig | undefined),
      ...(settings.connectionString === undefined ? {} : { connectionString: settings.connectionString }),
    });
    // An idle connection that breaks must not crash the process; the next query reports it.
    created.on('error', () => undefined);
    return created;
  });

  const query = async <R extends QueryResultRow>(
    target: Queryable,
    text: string,
    values: unknown[],
    context: Omit<ErrorContext, 'address'>,
  ): Promise<QueryResult<R>> => {
    try {
      return await target.query<R>(text, values);
    } catch (error) {
      throw translateError(error, { ...context, address });
    }
  };

  /**
   * Runs `body` in a transaction holding the store's catalog lock; retried whole on retryable errors.
   * Every catalog change goes through here, so cached catalog entries are dropped afterwards.
   */
  const transaction = <T>(
    pool: Pool,
    operation: string,
    abortSignal: AbortSignal | undefined,
    body: (client: PoolClient) => Promise<T>,
  ): Promise<T> =>
    withRetry(
      async () => {
        let client: PoolClient;
        try {
          client = await pool.connect();
        } catch (error) {
          throw translateError(error, { operation, address });
        }
        let broken = false;
        try {
          await query(client, 'BEGIN', [], { operation });
          await query(client, 'SELECT pg_advisory_xact_lock(hashtext($1))', [lockKey], { operation });
          const result = await body(client);
          await query(client, 'COMMIT', [], { operation });
          return result;
        } catch (error) {
          await client.query('ROLLBACK').catch(() => {
            broken = true;
          });
          throw error;
        } finally {
          client.release(broken);
          cache.clear();
        }
      },
      { retries, baseDelayMs, abortSignal, operation },
    );

  const ready = lazy(async (): Promise<Pool> => {
    const pool = await connect();
    await transaction(pool, 'setup', undefined, async (client) => {
      const context = { operation: 'setup' };
      const found = await query<{ vector: boolean; schema: boolean; catalog: string | null; aliases: string | null }>(
        client,
        `SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'vector') AS vector,
                EXISTS (SELECT FROM pg_namespace WHERE nspname = $1) AS schema,
                to_regclass($2) AS catalog, to_regclass($3) AS aliases`,
        [schema, catalog, aliasTable],
        context,
      );
      const state = found.rows[0];
      // Each step runs only when needed, so a role without CREATE privileges can use an existing setup.
      if (!state?.vector) await query(client, 'CREATE EXTENSION IF NOT EXISTS vector', [], context);
      if (!state?.schema) await query(client, `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`, [], context);
      if (!state?.catalog) {
        await query(
          client,
          `CREATE TABLE IF NOT EXISTS ${catalog} (
            name text PRIMARY KEY,
            table_name text NOT NULL UNIQUE,
            dimensions integer,
            metric text NOT NULL,
            sparse boolean NOT NULL,
            fingerprint text,
            sparse_fingerprint text,
            space jsonb,
            sparse_space jsonb,
            search_index text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now())`,
          [],
          context,
        );
      }
      if (!state?.aliases) {
        await query(
          client,
          `CREATE TABLE IF NOT EXISTS ${aliasTable} (
            alias text PRIMARY KEY,
            collection text NOT NULL REFERENCES ${catalog} (name) ON DELETE CASCADE)`,
          [],
          context,
        );
      }
    });
    return pool;
  });

  const start = async (operation: string, abortSignal?: AbortSignal): Promise<Pool> => {
    if (disposed) {
      throw new ConflictError({ message: 'This pgvector store was disposed; create a new one.', component: BACKEND });
    }
    const pool = await ready();
    throwIfAborted(abortSignal, operation);
    return pool;
  };

  /** A statement outside a transaction, retried on retryable errors. */
  const run = <R extends QueryResultRow>(
    pool: Pool,
    text: string,
    values: unknown[],
    context: Omit<ErrorContext, 'address'>,
    abortSignal?: AbortSignal,
  ): Promise<QueryResult<R>> =>
    withRetry(() => query<R>(pool, text, values, context), {
      retries,
      baseDelayMs,
      abortSignal,
      operation: context.operation,
    });

  const notFound = (name: string) =>
    new NotFoundError({
      resource: 'Collection',
      name,
      hint: 'Create it first with createCollection({ name, dimensions }).',
      component: BACKEND,
    });

  /** The catalog row of a collection or of the collection an alias points at, read now. */
  const resolve = async (
    pool: Pool,
    name: string,
    operation: string,
    abortSignal?: AbortSignal,
  ): Promise<CatalogRow> => {
    const result = await run<CatalogRow>(
      pool,
      `SELECT ${CATALOG_SELECT} FROM ${catalog}
       WHERE name = coalesce((SELECT collection FROM ${aliasTable} WHERE alias = $1), $1)`,
      [name],
      { operation },
      abortSignal,
    );
    const row = result.rows[0];
    if (!row) throw notFound(name);
    if (cacheMs > 0) cache.set(name, { meta: row, at: Date.now() });
    return row;
  };

  /**
   * Runs `body` with the collection's catalog row, cached for `catalogCacheMs`. When `body` fails on
   * a cached row that is no longer current (the collection was deleted, re-created or its alias
   * switched by another process), the row is read again and `body` runs once more.
   */
  const withCollection = async <T>(
    pool: Pool,
    name: string,
    operation: string,
    abortSignal: AbortSignal | undefined,
    body: (meta: CatalogRow) => Promise<T>,
  ): Promise<T> => {
    const cached = cache.get(name);
    if (cached === undefined || Date.now() - cached.at >= cacheMs) {
      return body(await resolve(pool, name, operation, abortSignal));
    }
    try {
      return await body(cached.meta);
    } catch (error) {
      cache.delete(name);
      const current = await resolve(pool, name, operation, abortSignal);
      if (JSON.stringify(current) === JSON.stringify(cached.meta)) throw error;
      return body(current);
    }
  };

  const countRows = async (target: Queryable, meta: CatalogRow, operation: string): Promise<number> => {
    const result = await query<{ count: string }>(
      target,
      `SELECT count(*) AS count FROM ${table(meta.table_name)}`,
      [],
      {
        operation,
        collection: meta.name,
      },
    );
    return Number(result.rows[0]?.count ?? 0);
  };

  const info = (meta: CatalogRow, count: number): CollectionInfo => ({
    name: meta.name,
    dimensions: meta.dimensions ?? undefined,
    metric: meta.metric,
    sparse: meta.sparse,
    fingerprint: meta.fingerprint ?? undefined,
    sparseFingerprint: meta.sparse_fingerprint ?? undefined,
    count,
    ...(meta.epoch ? { epoch: `pg:${meta.epoch}` } : {}),
  });

  const checkSpace = (meta: CatalogRow, given: EmbeddingSpace | string | undefined, kind: 'dense' | 'sparse') =>
    checkEmbeddingSpace(
      kind === 'dense'
        ? { collection: meta.name, fingerprint: meta.fingerprint, space: meta.space }
        : { collection: meta.name, fingerprint: meta.sparse_fingerprint, space: meta.sparse_space },
      given,
      kind,
      BACKEND,
    );

  const where = (filter: Filter | undefined, params: unknown[]): string =>
    filter === undefined ? 'TRUE' : filterToSql(filter, params);

  const searchDense = async (
    pool: Pool,
    meta: CatalogRow,
    search: { vector: DenseVectorInput; limit: number; filter?: Filter; includeVectors: boolean },
    abortSignal: AbortSignal | undefined,
  ): Promise<Match[]> => {
    const params: unknown[] = [vectorText(search.vector)];
    const { operator, score } = DENSE_DISTANCE[meta.metric];
    const distance = `embedding ${operator} $1::vector`;
    const condition = where(search.filter, params);
    params.push(search.limit);
    // An HNSW index serves only ORDER BY <distance>; exact search orders by the score itself.
    const order = meta.search_index === 'hnsw' ? distance : 'score DESC, key';
    const result = await run<RecordRow>(
      pool,
      `SELECT ${selectColumns(meta, search.includeVectors)}, ${score(distance)} AS score
       FROM ${table(meta.table_name)} WHERE ${condition} ORDER BY ${order} LIMIT $${params.length}`,
      params,
      { operation: `search in "${meta.name}"`, collection: meta.name },
      abortSignal,
    );
    return result.rows.map(toMatch);
  };

  const searchSparse = async (
    pool: Pool,
    meta: CatalogRow,
    search: { vector: SparseVector; limit: number; filter?: Filter; includeVectors: boolean },
    abortSignal: AbortSignal | undefined,
  ): Promise<Match[]> => {
    const query = sortedSparse(search.vector);
    // Stored indices are all below SPARSE_DIMENSIONS, so larger query indices share nothing.
    const keep = query.indices.flatMap((index, i) => (index < SPARSE_DIMENSIONS ? [i] : []));
    if (keep.length === 0) return [];
    const indices = keep.map((i) => query.indices[i] as number);
    const params: unknown[] = [
      sparseText({ indices, values: keep.map((i) => query.values[i] as number) }),
      indicesText(indices),
    ];
    const condition = where(search.filter, params);
    params.push(search.limit);
    const result = await run<RecordRow>(
      pool,
      `SELECT ${selectColumns(meta, search.includeVectors)}, -(sparse <#> $1::sparsevec) AS score
       FROM ${table(meta.table_name)} WHERE sparse_indices && $2::integer[] AND ${condition}
       ORDER BY score DESC, key LIMIT $${params.length}`,
      params,
      { operation: `sparse search in "${meta.name}"`, collection: meta.name },
      abortSignal,
    );
    return result.rows.map(toMatch);
  };

  const store: PgvectorStore = {
    specificationVersion: 'kumiki.store.v1',
    provider: BACKEND,
    capabilities: {
      dense: true,
      sparse: true,
      hybrid: true,
      metrics: ['cosine', 'dot', 'euclidean'],
      filterOperators: FILTER_OPERATORS,
      persistent: true,
      aliases: true,
    },

    async createCollection(input: CreateCollectionOptions): Promise<CollectionInfo> {
      const config = parseArgument(createSchema, input, 'createCollection options');
      const operation = `createCollection "${config.name}"`;
      if (index !== 'exact' && config.dimensions !== undefined && config.dimensions > MAX_HNSW_DIMENSIONS) {
        throw new InvalidArgumentError({
          argument: 'createCollection options',
          issues: [
            {
              path: 'dimensions',
              message: `pgvector's HNSW index covers at most ${MAX_HNSW_DIMENSIONS} dimensions; use index: 'exact' for ${config.dimensions}`,
            },
          ],
        });
      }
      const pool = await start(operation, config.abortSignal);
      return transaction(pool, operation, config.abortSignal, async (client) => {
        const alias = await query<{ collection: string }>(
          client,
          `SELECT collection FROM ${aliasTable} WHERE alias = $1`,
          [config.name],
          { operation },
        );
        const target = alias.rows[0]?.collection;
        if (target !== undefined) {
          throw new ConflictError({
            message: `"${config.name}" is an alias (of "${target}"); pick another collection name or delete the alias.`,
            component: BACKEND,
          });
        }
        const existing = (
          await query<CatalogRow>(client, `SELECT ${CATALOG_SELECT} FROM ${catalog} WHERE name = $1`, [config.name], {
            operation,
          })
        ).rows[0];
        if (existing) {
          checkReopen(existing, config, BACKEND);
          checkSpace(existing, config.embeddingSpace, 'dense');
          checkSpace(existing, config.sparseEmbeddingSpace, 'sparse');
          return info(existing, await countRows(client, existing, operation));
        }
        const slug = config.name
          .toLowerCase()
          .replace(/[^a-z0-9_]/g, '_')
          .slice(0, 63 - prefix.length - 13);
        const meta: CatalogRow = {
          name: config.name,
          table_name: `${prefix}${slug}_${sha256Hex(config.name).slice(0, 12)}`,
          dimensions: config.dimensions ?? null,
          metric: config.metric ?? 'cosine',
          sparse: config.sparse ?? true,
          fingerprint: toFingerprint(config.embeddingSpace) ?? null,
          sparse_fingerprint: toFingerprint(config.sparseEmbeddingSpace) ?? null,
          space: typeof config.embeddingSpace === 'object' ? config.embeddingSpace : null,
          sparse_space: typeof config.sparseEmbeddingSpace === 'object' ? config.sparseEmbeddingSpace : null,
          search_index: index === 'exact' || config.dimensions === undefined ? 'exact' : 'hnsw',
        };
        const inserted = await query<{ epoch: string }>(
          client,
          `INSERT INTO ${catalog} (${CATALOG_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING ${CATALOG_EPOCH}`,
          [
            meta.name,
            meta.table_name,
            meta.dimensions,
            meta.metric,
            meta.sparse,
            meta.fingerprint,
            meta.sparse_fingerprint,
            meta.space === null ? null : JSON.stringify(meta.space),
            meta.sparse_space === null ? null : JSON.stringify(meta.sparse_space),
            meta.search_index,
          ],
          { operation },
        );
        for (const statement of createTableSql(meta, table(meta.table_name), index)) {
          await query(client, statement, [], { operation });
        }
        return info({ ...meta, ...(inserted.rows[0] ?? {}) }, 0);
      });
    },

    async openCollection(input: OpenCollectionOptions): Promise<CollectionInfo> {
      const config = parseArgument(openSchema, input, 'openCollection options');
      const operation = `openCollection "${config.name}"`;
      const pool = await start(operation, config.abortSignal);
      const meta = await resolve(pool, config.name, operation);
      checkSpace(meta, config.embeddingSpace, 'dense');
      checkSpace(meta, config.sparseEmbeddingSpace, 'sparse');
      return info(meta, await countRows(pool, meta, operation));
    },

    async listCollections(input?: { abortSignal?: AbortSignal }): Promise<CollectionInfo[]> {
      const parsed = parseArgument(listSchema, input, 'listCollections options');
      const operation = 'listCollections';
      const pool = await start(operation, parsed?.abortSignal);
      const rows = (
        await run<CatalogRow>(pool, `SELECT ${CATALOG_SELECT} FROM ${catalog} ORDER BY name`, [], { operation })
      ).rows;
      return Promise.all(rows.map(async (meta) => info(meta, await countRows(pool, meta, operation))));
    },

    async deleteCollection(input: { name: string; abortSignal?: AbortSignal }): Promise<boolean> {
      const { name, abortSignal } = parseArgument(deleteCollectionSchema, input, 'deleteCollection options');
      const operation = `deleteCollection "${name}"`;
      const pool = await start(operation, abortSignal);
      return transaction(pool, operation, abortSignal, async (client) => {
        const alias = await query<{ collection: string }>(
          client,
          `SELECT collection FROM ${aliasTable} WHERE alias = $1`,
          [name],
          { operation },
        );
        const target = alias.rows[0]?.collection;
        if (target !== undefined) {
          throw new ConflictError({
            message: `"${name}" is an alias of "${target}"; delete the alias with deleteAlias, or the collection by its own name.`,
            component: BACKEND,
          });
        }
        // Aliases of the collection go with it (ON DELETE CASCADE).
        const deleted = await query<{ table_name: string }>(
          client,
          `DELETE FROM ${catalog} WHERE name = $1 RETURNING table_name`,
          [name],
          { operation },
        );
        const row = deleted.rows[0];
        if (!row) return false;
        await query(client, `DROP TABLE IF EXISTS ${table(row.table_name)}`, [], { operation });
        return true;
      });
    },

    async upsert(input: UpsertOptions): Promise<{ upserted: number }> {
      const { collection, records, abortSignal } = parseArgument(upsertSchema, input, 'upsert options');
      const operation = `upsert into "${collection}"`;
      const pool = await start('upsert', abortSignal);
      await withCollection(pool, collection, operation, abortSignal, async (meta) => {
        const rows = prepareRows(meta, records);
        if (rows.length === 0) return;
        const batches = splitBatches(rows, limits, rowBytes, (row) => `record ${JSON.stringify(row.id)}`);
        const sql = insertSql(meta, table(meta.table_name));
        throwIfAborted(abortSignal, 'upsert');
        await writeBatches({
          collection: meta.name,
          batches,
          idOf: (row) => row.id,
          concurrency,
          retry: { retries, baseDelayMs, abortSignal },
          write: async (batch) => {
            await query(pool, sql, insertValues(meta, batch), { operation, collection: meta.name });
          },
          component: BACKEND,
        });
      });
      return { upserted: records.length };
    },

    async get(input: GetOptions): Promise<StoredRecord[]> {
      const { collection, ids, includeVectors, abortSignal } = parseArgument(getSchema, input, 'get options');
      const operation = `get from "${collection}"`;
      const pool = await start(operation, abortSignal);
      const rows = await withCollection(pool, collection, operation, abortSignal, async (meta) => {
        if (ids.length === 0) return [];
        const result = await run<RecordRow>(
          pool,
          `SELECT ${selectColumns(meta, includeVectors ?? false)} FROM ${table(meta.table_name)} WHERE key = ANY($1::bytea[])`,
          [ids.map(encodeId)],
          { operation, collection: meta.name },
          abortSignal,
        );
        return result.rows;
      });
      const found = new Map(rows.map((row) => [row.key.toString('hex'), row]));
      return ids.flatMap((id) => {
        const row = found.get(encodeId(id).toString('hex'));
        return row ? [toRecord(row)] : [];
      });
    },

    async delete(input: DeleteOptions): Promise<{ deleted: number }> {
      const parsed = parseArgument(deleteSchema, input, 'delete options');
      const operation = `delete from "${parsed.collection}"`;
      const pool = await start('delete', parsed.abortSignal);
      const params: unknown[] = [];
      const condition = 'ids' in parsed ? 'key = ANY($1::bytea[])' : filterToSql(parsed.filter, params);
      if ('ids' in parsed) params.push(parsed.ids.map(encodeId));
      const result = await withCollection(pool, parsed.collection, operation, parsed.abortSignal, (meta) =>
        run(
          pool,
          `DELETE FROM ${table(meta.table_name)} WHERE ${condition}`,
          params,
          { operation, collection: meta.name },
          parsed.abortSignal,
        ),
      );
      return { deleted: result.rowCount ?? 0 };
    },

    async count(input: CountOptions): Promise<number> {
      const { collection, filter, abortSignal } = parseArgument(countSchema, input, 'count options');
      const operation = `count in "${collection}"`;
      const pool = await start(operation, abortSignal);
      const params: unknown[] = [];
      const condition = where(filter, params);
      const result = await withCollection(pool, collection, operation, abortSignal, (meta) =>
        run<{ count: string }>(
          pool,
          `SELECT count(*) AS count FROM ${table(meta.table_name)} WHERE ${condition}`,
          params,
          { operation, collection: meta.name },
          abortSignal,
        ),
      );
      return Number(result.rows[0]?.count ?? 0);
    },

    async scroll(input: ScrollOptions): Promise<ScrollPage> {
      const parsed = parseArgument(scrollSchema, input, 'scroll options');
      const after = parsed.cursor === undefined ? undefined : decodeCursor(parsed.cursor);
      const operation = `scroll "${parsed.collection}"`;
      const pool = await start(operation, parsed.abortSignal);
      const limit = parsed.limit ?? 100;
      const params: unknown[] = [];
      const conditions = [where(parsed.filter, params)];
      if (after !== undefined) {
        params.push(encodeId(after));
        conditions.push(`key > $${params.length}::bytea`);
      }
      params.push(limit + 1);
      const result = await withCollection(pool, parsed.collection, operation, parsed.abortSignal, (meta) =>
        run<RecordRow>(
          pool,
          `SELECT ${selectColumns(meta, parsed.includeVectors ?? false)} FROM ${table(meta.table_name)}
           WHERE ${conditions.join(' AND ')} ORDER BY key LIMIT $${params.length}`,
          params,
          { operation, collection: meta.name },
          parsed.abortSignal,
        ),
      );
      const records = result.rows.slice(0, limit).map(toRecord);
      const last = records.at(-1);
      return { records, nextCursor: result.rows.length > limit && last ? encodeCursor(last.id) : undefined };
    },

    async search(input: SearchOptions): Promise<Match[]> {
      const parsed = parseArgument(searchSchema, input, 'search options');
      const operation = `search in "${parsed.collection}"`;
      const pool = await start('search', parsed.abortSignal);
      const limit = parsed.limit ?? 10;
      const includeVectors = parsed.includeVectors ?? false;
      const hybrid = parsed.vector !== undefined && parsed.sparseVector !== undefined;
      const depth = hybrid ? Math.max(parsed.fusion?.prefetch ?? limit * 4, limit) : limit;
      const [dense, sparse] = await withCollection(pool, parsed.collection, operation, parsed.abortSignal, (meta) => {
        checkSearchVectors(meta, parsed.vector, parsed.sparseVector, BACKEND);
        checkSpace(meta, parsed.embeddingSpace, 'dense');
        checkSpace(meta, parsed.sparseEmbeddingSpace, 'sparse');
        const common = { limit: depth, filter: parsed.filter, includeVectors };
        return Promise.all([
          parsed.vector ? searchDense(pool, meta, { ...common, vector: parsed.vector }, parsed.abortSignal) : [],
          parsed.sparseVector
            ? searchSparse(pool, meta, { ...common, vector: parsed.sparseVector }, parsed.abortSignal)
            : [],
        ]);
      });
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
      const operation = `explain for "${collection}"`;
      const pool = await start(operation);
      await withCollection(pool, collection, operation, undefined, async () => undefined);
      const params: unknown[] = [];
      const sql = filterToSql(filter, params);
      return { backend: BACKEND, native: { sql, params } };
    },

    async setAlias(input: { alias: string; collection: string; abortSignal?: AbortSignal }): Promise<void> {
      const { alias, collection, abortSignal } = parseArgument(aliasSchema, input, 'setAlias options');
      const operation = `setAlias "${alias}"`;
      const pool = await start(operation, abortSignal);
      await transaction(pool, operation, abortSignal, async (client) => {
        const names = await query<{ name: string }>(
          client,
          `SELECT name FROM ${catalog} WHERE name = ANY($1::text[])`,
          [[alias, collection]],
          { operation },
        );
        const existing = new Set(names.rows.map((row) => row.name));
        if (existing.has(alias)) {
          throw new ConflictError({
            message: `"${alias}" is a collection; an alias cannot take its name.`,
            component: BACKEND,
          });
        }
        if (!existing.has(collection)) {
          throw new NotFoundError({
            resource: 'Collection',
            name: collection,
            hint: 'Aliases point at collections by their own names.',
            component: BACKEND,
          });
        }
        // One statement: readers see the old target or the new one, never neither.
        await query(
          client,
          `INSERT INTO ${aliasTable} (alias, collection) VALUES ($1, $2)
           ON CONFLICT (alias) DO UPDATE SET collection = EXCLUDED.collection`,
          [alias, collection],
          { operation },
        );
      });
    },

    async deleteAlias(input: { alias: string; abortSignal?: AbortSignal }): Promise<boolean> {
      const { alias, abortSignal } = parseArgument(deleteAliasSchema, input, 'deleteAlias options');
      const operation = `deleteAlias "${alias}"`;
      const pool = await start(operation, abortSignal);
      const result = await run(pool, `DELETE FROM ${aliasTable} WHERE alias = $1`, [alias], { operation }, abortSignal);
      cache.delete(alias);
      return (result.rowCount ?? 0) > 0;
    },

    async listAliases(input?: { abortSignal?: AbortSignal }): Promise<AliasInfo[]> {
      const parsed = parseArgument(listSchema, input, 'listAliases options');
      const operation = 'listAliases';
      const pool = await start(operation, parsed?.abortSignal);
      const result = await run<AliasInfo>(
        pool,
        `SELECT alias, collection FROM ${aliasTable} ORDER BY alias`,
        [],
        { operation },
        parsed?.abortSignal,
      );
      return result.rows.map((row) => ({ alias: row.alias, collection: row.collection }));
    },

    async client(): Promise<Pool> {
      return start('client');
    },

    async dispose(): Promise<void> {
      if (disposed) return;
      disposed = true;
      if (ownsPool && created) await created.end();
    },
  };
  return store;
}
