/** How records become Milvus rows and back, and the checks Milvus needs beyond the kernel's. */
import { InvalidArgumentError } from '../../core/errors.js';
import type { JsonObject, SparseVector, StoredRecord, VectorRecord } from '../../core/types.js';
import { utf8Length } from '../kernel/batches.js';
import { checkRecordVectors } from '../kernel/checks.js';
import {
  COMPONENT,
  type Described,
  FIELDS,
  MAX_JSON_BYTES,
  type Meta,
  MIN_SPARSE_VALUE,
  toCollection,
} from './client.js';
import { type MilvusExpression, payloadTerms } from './filter.js';
import { decodeId, encodeId } from './keys.js';

/** A record as a Milvus row. */
export type Row = {
  [FIELDS.pk]: string;
  [FIELDS.payload]: JsonObject;
  [FIELDS.terms]: Record<string, unknown>;
  [FIELDS.dense]?: number[];
  [FIELDS.sparse]?: { indices: number[]; values: number[] };
};

/** Sparse vector in the SDK's `{ indices, values }` form, sorted by index (Milvus requires it). */
export function sortedSparse(vector: { indices: ArrayLike<number>; values: ArrayLike<number> }): {
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
export function readSparse(value: unknown): { indices: Uint32Array; values: Float32Array } | undefined {
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

export function readRecord(row: Record<string, unknown>, includeVectors: boolean): StoredRecord {
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
export function rowBytes(row: Row, jsonBytes: number): number {
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
export function checkJsonSizes(row: Row, where: string, index: number): number {
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
export function smallSparseValue(vector: SparseVector): number | undefined {
  for (let i = 0; i < vector.values.length; i++) {
    if (!((vector.values[i] as number) >= MIN_SPARSE_VALUE)) return i;
  }
  return undefined;
}

export const sparseValueMessage = (who: string) =>
  `${who} a sparse value below ${MIN_SPARSE_VALUE}: Milvus leaves out of sparse search every record whose score is not positive, so on Milvus sparse values must be positive (at least ${MIN_SPARSE_VALUE}); drop zero entries, and use a sparse encoder with positive weights (BM25, SPLADE)`;

/** Joins expressions with `and`, each in parentheses; template names must not clash. */
export function allOf(...parts: (MilvusExpression | undefined)[]): MilvusExpression {
  const present = parts.filter((part): part is MilvusExpression => part !== undefined && part.expr !== '');
  if (present.length === 0) return { expr: '', exprValues: {} };
  if (present.length === 1) return present[0] as MilvusExpression;
  return {
    expr: present.map((part) => `(${part.expr})`).join(' and '),
    exprValues: Object.assign({}, ...present.map((part) => part.exprValues)),
  };
}

export function idsIn(keys: string[]): MilvusExpression {
  return { expr: `${FIELDS.pk} in {ids}`, exprValues: { ids: keys } };
}

export const checkRecords = (described: Described, records: readonly VectorRecord[]): void => {
  records.forEach((record, index) => {
    const where = `record ${index} (id ${JSON.stringify(record.id)})`;
    const issue = (path: string, message: string) =>
      new InvalidArgumentError({ argument: 'records', issues: [{ path: `${index}.${path}`, message }] });
    checkRecordVectors(toCollection(described), record, index, COMPONENT);
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

export const toRow = (meta: Meta, record: VectorRecord): Row => {
  const payload = record.payload ?? {};
  const row: Row = { pk: encodeId(record.id), payload, terms: payloadTerms(payload) };
  if (meta.dimensions !== undefined && record.vector) row.dense = Array.from(record.vector);
  if (meta.sparse) row.sparse = record.sparseVector ? sortedSparse(record.sparseVector) : { indices: [], values: [] };
  return row;
};

export const vectorFields = (meta: Meta): string[] => [
  ...(meta.dimensions === undefined ? [] : [FIELDS.dense]),
  ...(meta.sparse ? [FIELDS.sparse] : []),
];
export const outputFields = (meta: Meta, includeVectors: boolean): string[] => [
  FIELDS.pk,
  FIELDS.payload,
  ...(includeVectors ? vectorFields(meta) : []),
];
