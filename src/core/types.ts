import { z } from 'zod';

/** A JSON value as stored in a record's payload. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

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

export const jsonValueSchema: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([
    z.string(),
    z.number().refine(Number.isFinite, 'numbers must be finite (JSON has no NaN or Infinity)'),
    z.boolean(),
    z.null(),
    z.array(jsonValueSchema),
    z.record(z.string(), jsonValueSchema),
  ]),
);

export const jsonObjectSchema = z.record(z.string(), jsonValueSchema);

export const recordIdSchema = z.union([
  z.string().min(1, 'string ids must not be empty'),
  z.number().refine(Number.isSafeInteger, 'numeric ids must be safe integers'),
]);

/** Checks vectors with a plain loop: zod per element would dominate bulk upserts. */
export const denseVectorSchema = z.unknown().superRefine((value, ctx) => {
  if (!(Array.isArray(value) || value instanceof Float32Array || value instanceof Float64Array)) {
    ctx.addIssue({ code: 'custom', message: 'vectors must be number arrays, Float32Arrays or Float64Arrays' });
    return;
  }
  if (value.length === 0) {
    ctx.addIssue({ code: 'custom', message: 'vectors must not be empty' });
    return;
  }
  for (let i = 0; i < value.length; i++) {
    const element: unknown = value[i];
    if (typeof element !== 'number' || !Number.isFinite(element)) {
      ctx.addIssue({
        code: 'custom',
        path: [i],
        message: `vector values must be finite numbers, got ${String(element)}`,
      });
      return;
    }
  }
}) as unknown as z.ZodType<DenseVectorInput>;

const numberArrayLike = z.union([
  z.array(z.number()),
  z.instanceof(Uint32Array),
  z.instanceof(Int32Array),
  z.instanceof(Float32Array),
  z.instanceof(Float64Array),
]);

export const sparseVectorSchema = z
  .object({ indices: numberArrayLike, values: numberArrayLike })
  .superRefine((value, ctx) => {
    if (value.indices.length !== value.values.length) {
      ctx.addIssue({
        code: 'custom',
        message: `indices (${value.indices.length}) and values (${value.values.length}) must have the same length`,
      });
      return;
    }
    const seen = new Set<number>();
    for (let i = 0; i < value.indices.length; i++) {
      const index = value.indices[i] as number;
      if (!Number.isInteger(index) || index < 0 || index > 0xffffffff) {
        ctx.addIssue({ code: 'custom', path: ['indices', i], message: 'indices must be integers in [0, 2^32)' });
        return;
      }
      if (seen.has(index)) {
        ctx.addIssue({ code: 'custom', path: ['indices', i], message: `index ${index} appears twice` });
        return;
      }
      seen.add(index);
      if (!Number.isFinite(value.values[i])) {
        ctx.addIssue({ code: 'custom', path: ['values', i], message: 'values must be finite numbers' });
        return;
      }
    }
  });

export const vectorRecordSchema = z.object({
  id: recordIdSchema,
  vector: denseVectorSchema.optional(),
  sparseVector: sparseVectorSchema.optional(),
  payload: jsonObjectSchema.optional(),
});
