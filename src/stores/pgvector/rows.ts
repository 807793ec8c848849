/** The pgvector store's records: upsert, reads, deletes, counts, scrolls, searches and filter explanations. */
import type { Pool } from 'pg';
import { throwIfAborted } from '../../core/errors.js';
import type { Filter } from '../../core/filter.js';
import type {
  CountOptions,
  DeleteOptions,
  ExplainedFilter,
  GetOptions,
  ScrollOptions,
  ScrollPage,
  SearchOptions,
  Store,
  UpsertOptions,
} from '../../core/store.js';
import type { DenseVectorInput, Match, SparseVector, StoredRecord } from '../../core/types.js';
import { parseArgument } from '../../core/validate.js';
import { splitBatches, writeBatches } from '../kernel/batches.js';
import { checkSearchVectors, decodeCursor, encodeCursor } from '../kernel/checks.js';
import { checkSpaces } from '../kernel/collection.js';
import { finishSearch, planSearch } from '../kernel/search.js';
import { type PgContext, toCollection } from './client.js';
import { encodeId, indicesText, SPARSE_DIMENSIONS, sortedSparse, sparseText, vectorText } from './encoding.js';
import { BACKEND, filterToSql } from './filter-sql.js';
import {
  countSchema,
  deleteSchema,
  explainSchema,
  getSchema,
  parseUpsert,
  scrollSchema,
  searchSchema,
} from './schemas.js';
import {
  type CatalogRow,
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

type RowMethods = Pick<Store, 'upsert' | 'get' | 'delete' | 'count' | 'scroll' | 'search' | 'explain'>;

type NativeSearch<V> = { vector: V; limit: number; filter?: Filter | undefined; includeVectors: boolean };

export function rowMethods(ctx: PgContext): RowMethods {
  const { table, query, run, start, withCollection, limits, concurrency, retry } = ctx;

  const where = (filter: Filter | undefined, params: unknown[]): string =>
    filter === undefined ? 'TRUE' : filterToSql(filter, params);

  const searchDense = async (
    pool: Pool,
    meta: CatalogRow,
    search: NativeSearch<DenseVectorInput>,
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
    search: NativeSearch<SparseVector>,
    abortSignal: AbortSignal | undefined,
  ): Promise<Match[]> => {
    const sparse = sortedSparse(search.vector);
    // Stored indices are all below SPARSE_DIMENSIONS, so larger query indices share nothing.
    const keep = sparse.indices.flatMap((index, i) => (index < SPARSE_DIMENSIONS ? [i] : []));
    if (keep.length === 0) return [];
    const indices = keep.map((i) => sparse.indices[i] as number);
    const params: unknown[] = [
      sparseText({ indices, values: keep.map((i) => sparse.values[i] as number) }),
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

  return {
    async upsert(input: UpsertOptions): Promise<{ upserted: number }> {
      const { collection, records, abortSignal } = parseUpsert(input);
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
          retry: { ...retry, abortSignal },
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
      const plan = planSearch(parsed);
      const [dense, sparse] = await withCollection(pool, parsed.collection, operation, parsed.abortSignal, (meta) => {
        checkSearchVectors(toCollection(meta), parsed.vector, parsed.sparseVector, BACKEND);
        checkSpaces(toCollection(meta), parsed, BACKEND);
        const common = { limit: plan.depth, filter: parsed.filter, includeVectors: plan.includeVectors };
        return Promise.all([
          parsed.vector ? searchDense(pool, meta, { ...common, vector: parsed.vector }, parsed.abortSignal) : [],
          parsed.sparseVector
            ? searchSparse(pool, meta, { ...common, vector: parsed.sparseVector }, parsed.abortSignal)
            : [],
        ]);
      });
      return finishSearch(parsed, plan, { dense, sparse });
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
  };
}
