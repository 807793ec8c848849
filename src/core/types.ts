import * as z from 'zod/mini';
import type { JsonObject, JsonValue } from './json.js';
import { copyJson, FLOAT32_MAX, isFloat32, MAX_ID_BYTES, utf8Length } from './json.js';

export type { JsonObject, JsonValue } from './json.js';

/** A record id: a non-empty string or a safe integer. `1` and `"1"` are different ids. */
export type RecordId = string | number;

/** A sparse vector: parallel arrays of distinct non-negative integer indices and finite values. */
export type SparseVector = {
  readonly indices: ArrayLike<number>;
  readonly values: ArrayLike<number>;
};

/** A dense vector as accepted by kumiki: a plain array or a `Float32Array`/`Float64Array`. */
export type DenseVectorInput = readonly number[] | Float32Array | Float64Array;

/** What callers write into a Store. At least one of `vector` and `sparseVector` is usually present. */
export type VectorRecord = {
  id: RecordId;
  vector?: DenseVectorInput;
  sparseVector?: SparseVector;
  payload?: JsonObject;
};

/** What a Store returns for a record. Vectors are included only when asked for. */
export type StoredRecord = {
  id: RecordId;
  payload: JsonObject;
  vector?: Float32Array;
  sparseVector?: { indices: Uint32Array; values: Float32Array };
};

/** A search hit. `score` is always "higher is closer" (see docs/stores.md for each metric). */
export type Match = StoredRecord & { score: number };

/** A JSON value schema built on `copyJson`: the output is a normalised copy (see copyJson for the rules). */
const jsonSchema = <T extends JsonValue>(root: 'object' | 'value') =>
  checkedSchema((value) => copyJson(value, root) as Checked<T>);

/** Any kumiki JSON value (see `copyJson`); parsing returns a normalised copy. */
export const jsonValueSchema: z.ZodMiniType<JsonValue> = jsonSchema('value');

/** A kumiki JSON object, e.g. a record's payload (see `copyJson`); parsing returns a normalised copy. */
export const jsonObjectSchema: z.ZodMiniType<JsonObject> = jsonSchema('object');

/** Checks a record id: a non-empty string of at most `MAX_ID_BYTES` UTF-8 bytes, or a safe integer. */
export function checkRecordId(value: unknown): Checked<RecordId> {
  if (typeof value === 'string') {
    if (value.length === 0) return { ok: false, path: [], message: 'string ids must not be empty' };
    if (value.length <= MAX_ID_BYTES / 3) return { ok: true, value };
    const bytes = utf8Length(value);
    if (bytes <= MAX_ID_BYTES) return { ok: true, value };
    return {
      ok: false,
      path: [],
      message: `string ids are limited to ${MAX_ID_BYTES} UTF-8 bytes (what every store can index), got ${bytes}; use a hash of a longer key`,
    };
  }
  if (typeof value === 'number' && Number.isFinite(value)) {
    if (Number.isSafeInteger(value)) return { ok: true, value };
    return { ok: false, path: [], message: 'numeric ids must be safe integers' };
  }
  // NaN, Infinity, true: neither a string nor an integer.
  return { ok: false, path: [], message: 'ids must be non-empty strings or safe integers' };
}

/**
 * A zod schema running a `check…` function on what `input` (by default anything) parsed: the
 * checked value, or its problem as an issue.
 */
function checkedSchema<I, T>(
  check: (value: I) => Checked<T>,
  input: z.ZodMiniType<I> = z.unknown() as z.ZodMiniType<I>,
): z.ZodMiniType<T> {
  return z.pipe(
    input,
    z.transform((value: I, ctx) => {
      const checked = check(value);
      if (checked.ok) return checked.value;
      ctx.issues.push({ code: 'custom', path: checked.path, message: checked.message, input: value });
      return z.NEVER;
    }),
  ) as unknown as z.ZodMiniType<T>;
}

export const recordIdSchema = checkedSchema(checkRecordId);

/**
 * The first vector component that is not a finite float32 (`1e39` would be stored as `Infinity`),
 * and whether any is `-0` (normalised to `0`, as payload numbers are, so every store returns the same).
 */
function inspectComponents(values: ArrayLike<unknown>): { bad: number | undefined; negativeZero: boolean } {
  let negativeZero = false;
  if (values instanceof Float32Array) {
    // Every element is a float32 already: only NaN and ±Infinity (where `x - x` is not 0) are bad.
    // Four at a time with no branch per element; any NaN, infinity or zero sends the vector to the
    // loop below, which finds the index. (A product of four float32 values is 0 only when one is:
    // it cannot underflow in float64.)
    const n = values.length;
    let sum = 0;
    let zero = false;
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      const a = values[i] as number;
      const b = values[i + 1] as number;
      const c = values[i + 2] as number;
      const d = values[i + 3] as number;
      sum += a - a + (b - b) + (c - c) + (d - d);
      if (a * b * c * d === 0) zero = true;
    }
    for (; i < n; i++) {
      const a = values[i] as number;
      sum += a - a;
      if (a === 0) zero = true;
    }
    if (sum === 0 && !zero) return { bad: undefined, negativeZero: false };
  }
  for (let i = 0; i < values.length; i++) {
    const element = values[i];
    if (typeof element !== 'number' || !isFloat32(element)) return { bad: i, negativeZero };
    if (element === 0 && 1 / element < 0) negativeZero = true;
  }
  return { bad: undefined, negativeZero };
}

const componentMessage = (name: string, element: unknown) =>
  `${name} must be finite numbers within float32 range (magnitude at most ${FLOAT32_MAX}), got ${String(element)}`;

/** A checked value, or what is wrong with it (`path` inside the value). */
export type Checked<T> = { ok: true; value: T } | { ok: false; path: (string | number)[]; message: string };

/**
 * Checks a dense vector with a plain loop (zod per element would dominate bulk upserts); copies it
 * only to turn `-0` into `0`. The one rule for vectors: `denseVectorSchema` and the stores' upsert
 * fast path both call it.
 */
export function checkDenseVector(value: unknown): Checked<DenseVectorInput> {
  if (!(Array.isArray(value) || value instanceof Float32Array || value instanceof Float64Array)) {
    return { ok: false, path: [], message: 'vectors must be number arrays, Float32Arrays or Float64Arrays' };
  }
  if (value.length === 0) return { ok: false, path: [], message: 'vectors must not be empty' };
  const { bad, negativeZero } = inspectComponents(value);
  if (bad !== undefined) return { ok: false, path: [bad], message: componentMessage('vector values', value[bad]) };
  const vector = value as DenseVectorInput;
  return { ok: true, value: negativeZero ? (vector.map((x: number) => x + 0) as DenseVectorInput) : vector };
}

export const denseVectorSchema = checkedSchema(checkDenseVector);

type NumberArrayLike = readonly number[] | Uint32Array | Int32Array | Float32Array | Float64Array;

const isNumberArrayLike = (value: unknown): value is NumberArrayLike =>
  Array.isArray(value) ||
  value instanceof Uint32Array ||
  value instanceof Int32Array ||
  value instanceof Float32Array ||
  value instanceof Float64Array;

/**
 * An array or typed array; its elements are checked by `checkSparseComponents`, so a `NaN` or
 * `Infinity` in a plain array gets the same message, with its index, as in a typed array.
 */
const numberArrayLike = z.custom<NumberArrayLike>(
  isNumberArrayLike,
  'must be an array of numbers, a Uint32Array, an Int32Array, a Float32Array or a Float64Array',
);

/** Checks the parts of a sparse vector: same lengths, distinct indices in [0, 2^32), finite float32 values. */
function checkSparseComponents(value: { indices: NumberArrayLike; values: NumberArrayLike }): Checked<SparseVector> {
  const { indices, values } = value;
  if (indices.length !== values.length) {
    return {
      ok: false,
      path: [],
      message: `indices (${indices.length}) and values (${values.length}) must have the same length`,
    };
  }
  // Encoders emit ascending indices, which are distinct without a set; others are checked with one.
  // The first problem in index order is reported, as one pass with a set would.
  let outOfRange = indices.length;
  let ascending = true;
  for (let i = 0; i < indices.length; i++) {
    const index = indices[i] as number;
    if (!Number.isInteger(index) || index < 0 || index > 0xffffffff) {
      outOfRange = i;
      break;
    }
    if (i > 0 && index <= (indices[i - 1] as number)) ascending = false;
  }
  if (!ascending) {
    const seen = new Set<number>();
    for (let i = 0; i < outOfRange; i++) {
      const index = indices[i] as number;
      if (seen.has(index)) return { ok: false, path: ['indices', i], message: `index ${index} appears twice` };
      seen.add(index);
    }
  }
  if (outOfRange < indices.length) {
    return { ok: false, path: ['indices', outOfRange], message: 'indices must be integers in [0, 2^32)' };
  }
  const { bad, negativeZero } = inspectComponents(values);
  if (bad !== undefined) return { ok: false, path: ['values', bad], message: componentMessage('values', values[bad]) };
  if (!negativeZero) return { ok: true, value };
  return { ok: true, value: { indices, values: (values as Float32Array).map((x: number) => x + 0) } };
}

/**
 * A sparse vector, when `value` is shaped like one (an object with array-like `indices` and
 * `values`); `undefined` sends the caller to `sparseVectorSchema` for the message about its shape.
 */
export function checkSparseVector(value: unknown): Checked<SparseVector> | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { indices, values } = value as Record<string, unknown>;
  if (!isNumberArrayLike(indices) || !isNumberArrayLike(values)) return undefined;
  return checkSparseComponents({ indices, values });
}

export const sparseVectorSchema = checkedSchema(
  checkSparseComponents,
  z.object({ indices: numberArrayLike, values: numberArrayLike }),
);

export const vectorRecordSchema = z.object({
  id: recordIdSchema,
  vector: z.optional(denseVectorSchema),
  sparseVector: z.optional(sparseVectorSchema),
  payload: z.optional(jsonObjectSchema),
});
