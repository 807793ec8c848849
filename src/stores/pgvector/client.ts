/**
 * The pgvector store's connection to Postgres: the pool (created on first use), statements with error
 * translation and retries, transactions under the store's catalog lock, first-use setup, and the
 * catalog lookup of a collection (cached, re-read when stale).
 */
import type { Pool, PoolClient, PoolConfig, QueryResult, QueryResultRow } from 'pg';
import { ConflictError, NotFoundError, throwIfAborted } from '../../core/errors.js';
import type { Store } from '../../core/store.js';
import { importOptional, lazy } from '../../internal/optional.js';
import { withRetry } from '../../internal/retry.js';
import { type CollectionRecord, createDescriptionCache } from '../kernel/collection.js';
import { type ServerStoreOptions, type ServerStoreSettings, serverStoreSettings } from '../kernel/options.js';
import { quoteIdent } from './encoding.js';
import { type ErrorContext, translateError } from './errors.js';
import { BACKEND } from './filter-sql.js';
import { CATALOG_SELECT, type CatalogRow } from './table.js';

export type PgvectorStoreOptions = ServerStoreOptions & {
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
  collectionCacheMs?: number;
};

export type PgvectorStore = Store &
  Required<Pick<Store, 'setAlias' | 'deleteAlias' | 'listAliases'>> & {
    /** The `pg.Pool` the store uses, after the first-use setup (extension, schema, catalog tables). */
    client(): Promise<Pool>;
  };

/** Defaults of the shared server-store options: 500 records or 8 MiB of SQL parameters per upsert. */
export const PGVECTOR_DEFAULTS = { maxBatchSize: 500, maxBatchBytes: 8 * 2 ** 20 };

export type Queryable = Pick<PoolClient, 'query'>;

/** The parsed options the client needs. */
export type PgSettings = Omit<PgvectorStoreOptions, 'pool'> & { pool?: object };

/** What the collection and row methods share. */
export type PgContext = ServerStoreSettings & {
  settings: PgSettings;
  index: 'exact' | { type: 'hnsw'; m?: number; efConstruction?: number };
  prefix: string;
  /** A schema-qualified, quoted table name. */
  table(name: string): string;
  catalog: string;
  aliasTable: string;
  /** The pool, after setup; `ConflictError` once disposed. */
  start(operation: string, abortSignal?: AbortSignal): Promise<Pool>;
  /** One statement, its failure translated; no retry. */
  query<R extends QueryResultRow>(
    target: Queryable,
    text: string,
    values: unknown[],
    context: Omit<ErrorContext, 'address'>,
  ): Promise<QueryResult<R>>;
  /** A statement outside a transaction, retried on retryable errors. */
  run<R extends QueryResultRow>(
    pool: Pool,
    text: string,
    values: unknown[],
    context: Omit<ErrorContext, 'address'>,
    abortSignal?: AbortSignal,
  ): Promise<QueryResult<R>>;
  /** `body` in a transaction holding the catalog lock, retried whole; cached catalog entries are dropped after. */
  transaction<T>(
    pool: Pool,
    operation: string,
    abortSignal: AbortSignal | undefined,
    body: (client: PoolClient) => Promise<T>,
  ): Promise<T>;
  /** The catalog row of a collection or of the collection an alias points at, read now. */
  resolve(pool: Pool, name: string, operation: string, abortSignal?: AbortSignal): Promise<CatalogRow>;
  /**
   * Runs `body` with the collection's catalog row, cached for `collectionCacheMs`. When `body` fails on
   * a cached row that is no longer current (deleted, re-created, alias switched by another process),
   * the row is read again and `body` runs once more.
   */
  withCollection<T>(
    pool: Pool,
    name: string,
    operation: string,
    abortSignal: AbortSignal | undefined,
    body: (meta: CatalogRow) => Promise<T>,
  ): Promise<T>;
  countRows(target: Queryable, meta: CatalogRow, operation: string): Promise<number>;
  forget(name: string): void;
  pool(): Promise<Pool>;
  dispose(): Promise<void>;
};

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

/** A catalog row as the kernel sees a collection. */
export const toCollection = (meta: CatalogRow): CollectionRecord => ({
  name: meta.name,
  dimensions: meta.dimensions ?? undefined,
  metric: meta.metric,
  sparse: meta.sparse,
  fingerprint: meta.fingerprint ?? undefined,
  sparseFingerprint: meta.sparse_fingerprint ?? undefined,
  space: meta.space ?? undefined,
  sparseSpace: meta.sparse_space ?? undefined,
  ...(meta.epoch ? { epoch: `pg:${meta.epoch}` } : {}),
});

export function createPgContext(settings: PgSettings): PgContext {
  const schema = settings.schema ?? 'public';
  const prefix = settings.tablePrefix ?? 'kumiki_';
  const shared = serverStoreSettings(settings, PGVECTOR_DEFAULTS);
  const { retries, baseDelayMs } = shared.retry;
  const address = addressOf(settings);
  /** Catalog entries by the name (collection or alias) they were resolved from. */
  const cache = createDescriptionCache<CatalogRow>(settings.collectionCacheMs ?? 1000);
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

  const query: PgContext['query'] = async (target, text, values, context) => {
    try {
      return await target.query(text, values);
    } catch (error) {
      throw translateError(error, { ...context, address });
    }
  };

  const transaction: PgContext['transaction'] = (pool, operation, abortSignal, body) =>
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

  const start: PgContext['start'] = async (operation, abortSignal) => {
    if (disposed) {
      throw new ConflictError({ message: 'This pgvector store was disposed; create a new one.', component: BACKEND });
    }
    const pool = await ready();
    throwIfAborted(abortSignal, operation);
    return pool;
  };

  const run: PgContext['run'] = (pool, text, values, context, abortSignal) =>
    withRetry(() => query(pool, text, values, context), {
      retries,
      baseDelayMs,
      abortSignal,
      operation: context.operation,
    });

  const resolve: PgContext['resolve'] = async (pool, name, operation, abortSignal) => {
    const result = await run<CatalogRow>(
      pool,
      `SELECT ${CATALOG_SELECT} FROM ${catalog}
       WHERE name = coalesce((SELECT collection FROM ${aliasTable} WHERE alias = $1), $1)`,
      [name],
      { operation },
      abortSignal,
    );
    const row = result.rows[0];
    if (!row) {
      throw new NotFoundError({
        resource: 'Collection',
        name,
        hint: 'Create it first with createCollection({ name, dimensions }).',
        component: BACKEND,
      });
    }
    return row;
  };

  const withCollection: PgContext['withCollection'] = async (pool, name, operation, abortSignal, body) => {
    let cached = true;
    const meta = await cache.get(name, () => {
      cached = false;
      return resolve(pool, name, operation, abortSignal);
    });
    if (!cached) return body(meta);
    try {
      return await body(meta);
    } catch (error) {
      cache.delete(name);
      const current = await cache.get(name, () => resolve(pool, name, operation, abortSignal), true);
      if (JSON.stringify(current) === JSON.stringify(meta)) throw error;
      return body(current);
    }
  };

  const countRows: PgContext['countRows'] = async (target, meta, operation) => {
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

  return {
    ...shared,
    settings,
    index: settings.index ?? 'exact',
    prefix,
    table,
    catalog,
    aliasTable,
    start,
    query,
    run,
    transaction,
    resolve,
    withCollection,
    countRows,
    forget: (name) => cache.delete(name),
    pool: () => start('client'),
    async dispose() {
      if (disposed) return;
      disposed = true;
      if (ownsPool && created) await created.end();
    },
  };
}
