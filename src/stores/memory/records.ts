/** Row-level helpers of the memory store: id order, sparse rows, payload copies. */
import type { JsonObject, JsonValue, RecordId, SparseVector } from '../../core/types.js';
import type { SparseRow } from './sparse-index.js';

/** Id order used by `scroll`: integers ascending, then strings by UTF-16 code unit. */
export function compareIds(a: RecordId, b: RecordId): number {
  if (typeof a === 'number') return typeof b === 'number' ? a - b : -1;
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A copy of a sparse vector with its indices ascending (sorted only when they are not already). */
export function toSparseRow(vector: SparseVector): SparseRow {
  const n = vector.indices.length;
  let sorted = true;
  for (let i = 1; i < n && sorted; i++) sorted = (vector.indices[i - 1] as number) < (vector.indices[i] as number);
  if (sorted) return { indices: Uint32Array.from(vector.indices), values: Float32Array.from(vector.values) };
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => (vector.indices[a] as number) - (vector.indices[b] as number),
  );
  return {
    indices: Uint32Array.from(order, (i) => vector.indices[i] as number),
    values: Float32Array.from(order, (i) => vector.values[i] as number),
  };
}

/** A deep copy of a JSON value (payloads are validated trees, at most 64 levels deep). */
export function cloneJson<T extends JsonValue>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    const copy = new Array(value.length);
    for (let i = 0; i < value.length; i++) copy[i] = cloneJson(value[i] as JsonValue);
    return copy as T;
  }
  const copy: JsonObject = {};
  for (const key of Object.keys(value)) copy[key] = cloneJson((value as JsonObject)[key] as JsonValue);
  return copy as T;
}
