import * as z from 'zod';
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
function jsonSchema<T extends JsonValue>(root: 'object' | 'value'): z.ZodType<T> {
  return z.unknown().transform((value, ctx) => {
    const copy = copyJson(value, root);
    if (copy.ok) return copy.value as T;
    ctx.issues.push({ code: 'custom', path: copy.path, message: copy.message, input: value });
    return z.NEVER;
  });
}

/** Any kumiki JSON value (see `copyJson`); parsing returns a normalised copy. */
export const jsonValueSchema: z.ZodType<JsonValue> = jsonSchema('value');

/** A kumiki JSON object, e.g. a record's payload (see `copyJson`); parsing returns a normalised copy. */
export const jsonObjectSchema: z.ZodType<JsonObject> = jsonSchema('object');

export const recordIdSchema = z.union(
  [
    z
      .string()
      .min(1, 'string ids must not be empty')
      .superRefine((id, ctx) => {
        if (id.length <= MAX_ID_BYTES / 3) return;
        const bytes = utf8Length(id);
        if (bytes <= MAX_ID_BYTES) return;
        ctx.addIssue({
          code: 'custom',
          message: `string ids are limited to ${MAX_ID_BYTES} UTF-8 bytes (what every store can index), got ${bytes}; use a hash of a longer key`,
        });
      }),
    z.number().refine(Number.isSafeInteger, 'numeric ids must be safe integers'),
  ],
  // Without it, a value neither branch can take (NaN, Infinity, true) would be just "Invalid input".
  { error: 'ids must be non-empty strings or safe integers' },
);

/**
 * The first vector component that is not a finite float32 (`1e39` would be stored as `Infinity`),
 * and whether any is `-0` (normalised to `0`, as payload numbers are, so every store returns the same).
 */
function inspectComponents(values: ArrayLike<unknown>): { bad: number | undefined; negativeZero: boolean } {
  let negativeZero = false;
  for (let i = 0; i < values.length; i++) {
    const element = values[i];
    if (typeof element !== 'number' || !isFloat32(element)) return { bad: i, negativeZero };
    if (element === 0 && 1 / element < 0) negativeZero = true;
  }
  return { bad: undefined, negativeZero };
}

const componentMessage = (name: string, element: unknown) =>
  `${name} must be finite numbers within float32 range (magnitude at most ${FLOAT32_MAX}), got ${String(element)}`;

/** Checks vectors with a plain loop (zod per element would dominate bulk upserts); copies one only to turn `-0` into `0`. */
export const denseVectorSchema = z.unknown().transform((value, ctx) => {
  if (!(Array.isArray(value) || value instanceof Float32Array || value instanceof Float64Array)) {
    ctx.issues.push({
      code: 'custom',
      message: 'vectors must be number arrays, Float32Arrays or Float64Arrays',
      input: value,
    });
    return z.NEVER;
  }
  if (value.length === 0) {
    ctx.issues.push({ code: 'custom', message: 'vectors must not be empty', input: value });
    return z.NEVER;
  }
  const { bad, negativeZero } = inspectComponents(value);
  if (bad !== undefined) {
    ctx.issues.push({
      code: 'custom',
      path: [bad],
      message: componentMessage('vector values', value[bad]),
      input: value,
    });
    return z.NEVER;
  }
  const vector = value as DenseVectorInput;
  return negativeZero ? (vector.map((x: number) => x + 0) as DenseVectorInput) : vector;
}) as unknown as z.ZodType<DenseVectorInput>;

/**
 * An array or typed array; its elements are checked by the transform below, so a `NaN` or `Infinity`
 * in a plain array gets the same message, with its index, as in a typed array.
 */
const numberArrayLike = z.custom<readonly number[] | Uint32Array | Int32Array | Float32Array | Float64Array>(
  (value) =>
    Array.isArray(value) ||
    value instanceof Uint32Array ||
    value instanceof Int32Array ||
    value instanceof Float32Array ||
    value instanceof Float64Array,
  'must be an array of numbers, a Uint32Array, an Int32Array, a Float32Array or a Float64Array',
);

export const sparseVectorSchema = z
  .object({ indices: numberArrayLike, values: numberArrayLike })
  .transform((value, ctx) => {
    const issue = (path: (string | number)[], message: string) => {
      ctx.issues.push({ code: 'custom', path, message, input: value });
      return z.NEVER;
    };
    if (value.indices.length !== value.values.length) {
      return issue(
        [],
        `indices (${value.indices.length}) and values (${value.values.length}) must have the same length`,
      );
    }
    const seen = new Set<number>();
    for (let i = 0; i < value.indices.length; i++) {
      const index = value.indices[i] as number;
      if (!Number.isInteger(index) || index < 0 || index > 0xffffffff) {
        return issue(['indices', i], 'indices must be integers in [0, 2^32)');
      }
      if (seen.has(index)) return issue(['indices', i], `index ${index} appears twice`);
      seen.add(index);
    }
    const { bad, negativeZero } = inspectComponents(value.values);
    if (bad !== undefined) return issue(['values', bad], componentMessage('values', value.values[bad]));
    if (!negativeZero) return value;
    const values = value.values as Float32Array | Float64Array | number[];
    return { indices: value.indices, values: values.map((x: number) => x + 0) };
  });

export const vectorRecordSchema = z.object({
  id: recordIdSchema,
  vector: denseVectorSchema.optional(),
  sparseVector: sparseVectorSchema.optional(),
  payload: jsonObjectSchema.optional(),
});
