/**
 * How kumiki values are written to and read from Postgres: record ids as order-preserving byte keys,
 * dense vectors as pgvector `vector` text, sparse vectors as `sparsevec` text plus an index array,
 * and quoted identifiers. Payloads are `jsonb`: the Store boundary (core/json.ts) already refused what
 * jsonb cannot hold and turned `-0` into `0`.
 */
import type { DenseVectorInput, RecordId, SparseVector } from '../../core/types.js';

/** pgvector's `sparsevec` holds at most 10^9 dimensions; kumiki index `i` is stored as `i + 1`. */
export const SPARSE_DIMENSIONS = 1_000_000_000;
/** pgvector's `vector` type holds at most 16,000 dimensions. */
export const MAX_DIMENSIONS = 16_000;
/** pgvector's HNSW index covers `vector` columns of at most 2,000 dimensions. */
export const MAX_HNSW_DIMENSIONS = 2_000;

const INTEGER_TAG = 0;
const STRING_TAG = 1;

/**
 * The primary key of a record: a tag byte (0 for integers, 1 for strings), then the integer as
 * 8-byte offset binary or the string as UTF-16BE code units. Byte order of the keys is exactly the
 * contract's id order (integers ascending, then strings by UTF-16 code unit), `1` and `"1"` differ,
 * and every JavaScript string (even one with a lone surrogate) round-trips.
 */
export function encodeId(id: RecordId): Buffer {
  if (typeof id === 'number') {
    const key = Buffer.alloc(9);
    key[0] = INTEGER_TAG;
    key.writeBigInt64BE(BigInt(id), 1);
    key[1] = (key[1] as number) ^ 0x80;
    return key;
  }
  const units = Buffer.from(id, 'utf16le').swap16();
  const key = Buffer.alloc(1 + units.length);
  key[0] = STRING_TAG;
  units.copy(key, 1);
  return key;
}

export function decodeId(key: Buffer): RecordId {
  if (key[0] === INTEGER_TAG) {
    const copy = Buffer.from(key.subarray(1));
    copy[0] = (copy[0] as number) ^ 0x80;
    return Number(copy.readBigInt64BE(0));
  }
  return Buffer.from(key.subarray(1)).swap16().toString('utf16le');
}

export function vectorText(vector: DenseVectorInput): string {
  let text = '[';
  for (let i = 0; i < vector.length; i++) text += i === 0 ? String(vector[i]) : `,${vector[i]}`;
  return `${text}]`;
}

export function parseVector(text: string): Float32Array {
  return Float32Array.from(text.slice(1, -1).split(','), Number);
}

/** Indices ascending and their values, as stored. */
export function sortedSparse(vector: SparseVector): { indices: number[]; values: number[] } {
  const order = Array.from({ length: vector.indices.length }, (_, i) => i).sort(
    (a, b) => (vector.indices[a] as number) - (vector.indices[b] as number),
  );
  return {
    indices: order.map((i) => vector.indices[i] as number),
    values: order.map((i) => vector.values[i] as number),
  };
}

/** `sparsevec` text (1-based indices); pgvector drops zero values, which `sparse_indices` keeps. */
export function sparseText(sparse: { indices: readonly number[]; values: readonly number[] }): string {
  const entries = sparse.indices.map((index, i) => `${index + 1}:${sparse.values[i]}`);
  return `{${entries.join(',')}}/${SPARSE_DIMENSIONS}`;
}

/** Postgres array text of the indices, e.g. `{3,7}`. */
export function indicesText(indices: readonly number[]): string {
  return `{${indices.join(',')}}`;
}

/** Rebuilds a stored sparse vector from its index array and `sparsevec` text (zero values restored). */
export function parseSparse(indices: readonly number[], text: string): { indices: Uint32Array; values: Float32Array } {
  const byIndex = new Map<number, number>();
  const body = text.slice(1, text.indexOf('}'));
  if (body.length > 0) {
    for (const entry of body.split(',')) {
      const colon = entry.indexOf(':');
      byIndex.set(Number(entry.slice(0, colon)) - 1, Number(entry.slice(colon + 1)));
    }
  }
  return {
    indices: Uint32Array.from(indices),
    values: Float32Array.from(indices, (index) => byIndex.get(index) ?? 0),
  };
}

/** Quotes a Postgres identifier that the adapter validated (schema, table): doubles any `"`. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
