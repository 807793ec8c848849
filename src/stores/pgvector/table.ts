/**
 * The table of one collection: its catalog entry, its DDL, and how records become rows and back.
 *
 * Columns: `key bytea PRIMARY KEY` (the id, see `encodeId`), `embedding vector(d)` (collections with
 * dimensions), `sparse sparsevec` + `sparse_indices integer[]` (collections with sparse vectors; the
 * index array keeps zero weights, which sparsevec drops, and has a GIN index for the "shares an
 * index" test) and `payload jsonb`. Tables created before kumiki normalised `-0` at the Store boundary
 * also have a `payload_exact text` column, which is no longer written or read.
 */
import { InvalidArgumentError } from '../../core/errors.js';
import type { EmbeddingSpace } from '../../core/fingerprint.js';
import type { Metric } from '../../core/store.js';
import type { JsonObject, Match, RecordId, StoredRecord, VectorRecord } from '../../core/types.js';
import { checkRecordVectors } from '../kernel/checks.js';
import {
  decodeId,
  encodeId,
  indicesText,
  parseSparse,
  parseVector,
  SPARSE_DIMENSIONS,
  sortedSparse,
  sparseText,
  vectorText,
} from './encoding.js';
import { BACKEND } from './filter-sql.js';

/** A row of the catalog table. */
export type CatalogRow = {
  name: string;
  table_name: string;
  dimensions: number | null;
  metric: Metric;
  sparse: boolean;
  fingerprint: string | null;
  sparse_fingerprint: string | null;
  space: EmbeddingSpace | null;
  sparse_space: EmbeddingSpace | null;
  search_index: 'exact' | 'hnsw';
  /** When the collection was created (microseconds), the collection's epoch; absent on a row being inserted. */
  epoch?: string;
};

/** A record as a SELECT of `selectColumns` returns it. */
export type RecordRow = {
  key: Buffer;
  /** Parsed by pg. */
  payload: JsonObject;
  embedding?: string | null;
  sparse?: string | null;
  sparse_indices?: number[] | null;
  score?: number;
};

/** One record ready for the INSERT: every column as the text pg sends. */
export type Row = {
  id: RecordId;
  key: Buffer;
  embedding: string | null;
  sparse: string | null;
  indices: string | null;
  payload: string;
};

export const CATALOG_COLUMNS =
  'name, table_name, dimensions, metric, sparse, fingerprint, sparse_fingerprint, space, sparse_space, search_index';
/** The creation time (to the microsecond) is the collection's epoch: a table created again gets another. */
export const CATALOG_EPOCH = `to_char(created_at AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISSUS') AS epoch`;
/** The catalog columns as read back, with the epoch. */
export const CATALOG_SELECT = `${CATALOG_COLUMNS}, ${CATALOG_EPOCH}`;

/** pgvector's distance operator, HNSW operator class and the contract's score for each metric. */
export const DENSE_DISTANCE: Record<
  Metric,
  { operator: string; opclass: string; score: (distance: string) => string }
> = {
  // Cosine distance is NaN when a vector is all zeros; the contract scores that 0.
  cosine: { operator: '<=>', opclass: 'vector_cosine_ops', score: (d) => `coalesce(nullif(1 - (${d}), 'NaN'), 0)` },
  dot: { operator: '<#>', opclass: 'vector_ip_ops', score: (d) => `-(${d})` },
  euclidean: { operator: '<->', opclass: 'vector_l2_ops', score: (d) => `-(${d})` },
};

/**
 * CREATE TABLE and CREATE INDEX statements of a new collection. Dimensions and HNSW parameters are
 * validated integers and the table name is a quoted identifier; everything else is fixed text.
 */
export function createTableSql(
  meta: CatalogRow,
  qualifiedTable: string,
  index: 'exact' | { type: 'hnsw'; m?: number; efConstruction?: number },
): string[] {
  const columns = ['key bytea PRIMARY KEY'];
  if (meta.dimensions !== null) columns.push(`embedding vector(${meta.dimensions}) NOT NULL`);
  if (meta.sparse) columns.push(`sparse sparsevec(${SPARSE_DIMENSIONS})`, 'sparse_indices integer[]');
  columns.push('payload jsonb NOT NULL');
  const statements = [`CREATE TABLE ${qualifiedTable} (${columns.join(', ')})`];
  if (meta.sparse) statements.push(`CREATE INDEX ON ${qualifiedTable} USING gin (sparse_indices)`);
  if (meta.search_index === 'hnsw' && typeof index === 'object') {
    statements.push(
      `CREATE INDEX ON ${qualifiedTable} USING hnsw (embedding ${DENSE_DISTANCE[meta.metric].opclass})
       WITH (m = ${index.m ?? 16}, ef_construction = ${index.efConstruction ?? 64})`,
    );
  }
  return statements;
}

/** Validates a whole batch and turns it into rows; the last of duplicate ids wins. */
export function prepareRows(meta: CatalogRow, records: readonly VectorRecord[]): Row[] {
  const rows = new Map<string, Row>();
  records.forEach((record, index) => {
    checkRecordVectors(meta, record, index, BACKEND);
    const where = `record ${index} (id ${JSON.stringify(record.id)})`;
    const problem = (path: string, message: string) =>
      new InvalidArgumentError({ argument: 'records', issues: [{ path: `${index}${path}`, message }] });
    let sparse: { indices: number[]; values: number[] } | undefined;
    if (record.sparseVector !== undefined) {
      sparse = sortedSparse(record.sparseVector);
      const largest = sparse.indices.at(-1);
      if (largest !== undefined && largest >= SPARSE_DIMENSIONS) {
        throw problem(
          '.sparseVector.indices',
          `${where} has sparse index ${largest}; pgvector's sparsevec holds indices below ${SPARSE_DIMENSIONS}`,
        );
      }
    }
    const key = encodeId(record.id);
    const hex = key.toString('hex');
    rows.delete(hex);
    rows.set(hex, {
      id: record.id,
      key,
      embedding: record.vector === undefined ? null : vectorText(record.vector),
      sparse: sparse === undefined ? null : sparseText(sparse),
      indices: sparse === undefined ? null : indicesText(sparse.indices),
      payload: JSON.stringify(record.payload ?? {}),
    });
  });
  return [...rows.values()];
}

/** Bytes a row adds to an INSERT's parameters, for batching. */
export const rowBytes = (row: Row): number =>
  row.key.length +
  (row.embedding?.length ?? 0) +
  (row.sparse?.length ?? 0) +
  (row.indices?.length ?? 0) +
  Buffer.byteLength(row.payload);

/** One INSERT … ON CONFLICT for a whole batch: one array parameter per column, unnested. */
export function insertSql(meta: CatalogRow, qualifiedTable: string): string {
  const columns: [string, string][] = [['key', 'bytea']];
  if (meta.dimensions !== null) columns.push(['embedding', 'vector']);
  if (meta.sparse) columns.push(['sparse', 'sparsevec'], ['sparse_indices', 'text']);
  columns.push(['payload', 'jsonb']);
  const names = columns.map(([name]) => name);
  const selected = names.map((name) => (name === 'sparse_indices' ? 'u.sparse_indices::integer[]' : `u.${name}`));
  return `INSERT INTO ${qualifiedTable} (${names.join(', ')})
    SELECT ${selected.join(', ')}
    FROM unnest(${columns.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ')}) AS u(${names.join(', ')})
    ON CONFLICT (key) DO UPDATE SET ${names
      .slice(1)
      .map((name) => `${name} = EXCLUDED.${name}`)
      .join(', ')}`;
}

/** The parameters of `insertSql` for a batch: one array per column. */
export function insertValues(meta: CatalogRow, batch: readonly Row[]): unknown[] {
  const column = (pick: (row: Row) => unknown) => batch.map(pick);
  const values: unknown[] = [column((row) => row.key)];
  if (meta.dimensions !== null) values.push(column((row) => row.embedding));
  if (meta.sparse)
    values.push(
      column((row) => row.sparse),
      column((row) => row.indices),
    );
  values.push(column((row) => row.payload));
  return values;
}

/** The columns `toRecord` reads. */
export function selectColumns(meta: CatalogRow, includeVectors: boolean): string {
  // Plain columns: a top-k sort computes its select list for every candidate row, so nothing is
  // converted here (pg reads vectors and sparsevecs as text anyway).
  const columns = ['key', 'payload'];
  if (includeVectors && meta.dimensions !== null) columns.push('embedding');
  if (includeVectors && meta.sparse) columns.push('sparse', 'sparse_indices');
  return columns.join(', ');
}

export function toRecord(row: RecordRow): StoredRecord {
  const record: StoredRecord = { id: decodeId(row.key), payload: row.payload };
  if (typeof row.embedding === 'string') record.vector = parseVector(row.embedding);
  if (typeof row.sparse === 'string' && row.sparse_indices) {
    record.sparseVector = parseSparse(row.sparse_indices, row.sparse);
  }
  return record;
}

export const toMatch = (row: RecordRow): Match => ({ ...toRecord(row), score: row.score ?? 0 });
