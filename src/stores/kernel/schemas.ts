/**
 * Argument schemas of the Store methods, shared by every Store adapter so that the same mistake
 * gives the same `InvalidArgumentError` on every backend. Adapters pass what differs: their rule
 * for collection names and their dimension limit.
 */
import * as z from 'zod/mini';
import { filterSchema } from '../../core/filter.js';
import { embeddingSpaceSchema } from '../../core/fingerprint.js';
import { copyJson, isPlainObject } from '../../core/json.js';
import type { UpsertOptions } from '../../core/store.js';
import {
  checkDenseVector,
  checkRecordId,
  checkSparseVector,
  denseVectorSchema,
  recordIdSchema,
  sparseVectorSchema,
  type VectorRecord,
  vectorRecordSchema,
} from '../../core/types.js';
import { parseArgument } from '../../core/validate.js';

/** The default rule for collection and alias names (memory, pgvector, Qdrant). */
export const defaultCollectionName = z
  .string()
  .check(
    z.minLength(1, 'collection names must not be empty'),
    z.maxLength(255),
    z.regex(
      /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/,
      'collection names use letters, digits, "_", "-" and "." and start with a letter, digit or "_"',
    ),
  );

export const abortSignalSchema = z.optional(
  z.custom<AbortSignal>((value) => value instanceof AbortSignal, 'abortSignal must be an AbortSignal'),
);

const spaceOrFingerprint = z.union([z.string().check(z.minLength(1)), embeddingSpaceSchema]);

export type StoreSchemaOptions = {
  /** A classic or `zod/mini` schema. */
  collectionName?: z.core.$ZodType<string>;
  /** Most dense dimensions the backend holds; default 65,536. */
  maxDimensions?: number;
  /** Message when `dimensions` is over the limit. */
  dimensionsMessage?: string;
};

/** Builds the schemas of every Store method for one backend. */
export function storeArgumentSchemas(options: StoreSchemaOptions = {}) {
  const name = options.collectionName ?? defaultCollectionName;
  const signal = abortSignalSchema;
  const maxDimensions = options.maxDimensions ?? 65_536;
  const upsert = z.strictObject({ collection: name, records: z.array(vectorRecordSchema), abortSignal: signal });
  return {
    collectionName: name,
    /**
     * `upsert`'s arguments: what `upsert` parses to, taken through `parseUpsertFast` when it can.
     * With `float32Unchecked`, the values of Float32Array vectors are not looked at: the caller
     * checks them as it stores them (the memory store's arena does, in the pass that computes norms)
     * and, when one is bad, undoes the write and calls `parseUpsert` again without it, for the error.
     */
    parseUpsert(input: unknown, options: { float32Unchecked?: boolean } = {}): UpsertOptions {
      const fast = parseUpsertFast(name, input, options.float32Unchecked === true);
      return fast ?? parseArgument(upsert, input, 'upsert options');
    },
    create: z
      .strictObject({
        name,
        dimensions: z.optional(z.number().check(z.int(), z.gte(1), z.lte(maxDimensions, options.dimensionsMessage))),
        metric: z.optional(z.enum(['cosine', 'dot', 'euclidean'])),
        sparse: z.optional(z.boolean()),
        embeddingSpace: z.optional(spaceOrFingerprint),
        sparseEmbeddingSpace: z.optional(spaceOrFingerprint),
        ifExists: z.optional(z.enum(['error', 'open'])),
        abortSignal: signal,
      })
      .check(
        z.refine((value) => value.dimensions !== undefined || value.sparse !== false, {
          message: 'a collection needs dense dimensions, sparse vectors, or both',
        }),
      ),
    open: z.strictObject({
      name,
      embeddingSpace: z.optional(spaceOrFingerprint),
      sparseEmbeddingSpace: z.optional(spaceOrFingerprint),
      abortSignal: signal,
    }),
    list: z.optional(z.strictObject({ abortSignal: signal })),
    deleteCollection: z.strictObject({ name, abortSignal: signal }),
    explain: z.strictObject({ collection: name, filter: filterSchema }),
    setAlias: z.strictObject({ alias: name, collection: name, abortSignal: signal }),
    deleteAlias: z.strictObject({ alias: name, abortSignal: signal }),
    upsert,
    get: z.strictObject({
      collection: name,
      ids: z.array(recordIdSchema),
      includeVectors: z.optional(z.boolean()),
      abortSignal: signal,
    }),
    delete: z.union([
      z.strictObject({ collection: name, ids: z.array(recordIdSchema), abortSignal: signal }),
      z.strictObject({ collection: name, filter: filterSchema, abortSignal: signal }),
    ]),
    count: z.strictObject({ collection: name, filter: z.optional(filterSchema), abortSignal: signal }),
    scroll: z.strictObject({
      collection: name,
      filter: z.optional(filterSchema),
      limit: z.optional(z.number().check(z.int(), z.gte(1), z.lte(10_000))),
      cursor: z.optional(z.string()),
      includeVectors: z.optional(z.boolean()),
      abortSignal: signal,
    }),
    search: z
      .strictObject({
        collection: name,
        vector: z.optional(denseVectorSchema),
        sparseVector: z.optional(sparseVectorSchema),
        limit: z.optional(z.number().check(z.int(), z.gte(1), z.lte(10_000))),
        filter: z.optional(filterSchema),
        fusion: z.optional(
          z.strictObject({
            method: z.literal('rrf'),
            k: z.optional(z.number().check(z.positive())),
            prefetch: z.optional(z.number().check(z.int(), z.gte(1), z.lte(10_000))),
          }),
        ),
        scoreThreshold: z.optional(z.number()),
        includeVectors: z.optional(z.boolean()),
        embeddingSpace: z.optional(spaceOrFingerprint),
        sparseEmbeddingSpace: z.optional(spaceOrFingerprint),
        abortSignal: signal,
      })
      .check(
        z.refine((value) => value.vector !== undefined || value.sparseVector !== undefined, {
          message: 'search needs a vector, a sparseVector, or both (hybrid)',
        }),
        z.refine(
          (value) => value.fusion === undefined || (value.vector !== undefined && value.sparseVector !== undefined),
          {
            message: 'fusion applies to hybrid search only: pass both vector and sparseVector, or drop fusion',
            path: ['fusion'],
          },
        ),
      ),
  };
}

const UPSERT_KEYS = new Set(['collection', 'records', 'abortSignal']);
const RECORD_KEYS = new Set(['id', 'vector', 'sparseVector', 'payload']);

/**
 * The upsert schema's result, computed without zod's per-record machinery (which dominated bulk
 * upserts) by the same checks the schema runs (`checkRecordId`, `checkDenseVector`,
 * `checkSparseVector`, `copyJson`), or `undefined` at the first thing it does not take as plainly
 * valid, so the schema parses the input and reports every problem in its own words.
 */
function parseUpsertFast(
  name: z.core.$ZodType<string>,
  input: unknown,
  float32Unchecked: boolean,
): UpsertOptions | undefined {
  if (!isPlainObject(input)) return undefined;
  for (const key in input) if (!UPSERT_KEYS.has(key)) return undefined;
  const { collection, records, abortSignal } = input;
  if (!Array.isArray(records) || !z.safeParse(name, collection).success) return undefined;
  if (abortSignal !== undefined && !(abortSignal instanceof AbortSignal)) return undefined;
  const parsed: VectorRecord[] = new Array(records.length);
  for (let i = 0; i < records.length; i++) {
    const record: unknown = records[i];
    if (!isPlainObject(record)) return undefined;
    for (const key in record) if (!RECORD_KEYS.has(key)) return undefined;
    const id = checkRecordId(record.id);
    if (!id.ok) return undefined;
    const out: VectorRecord = { id: id.value };
    // Each field is read once, as the schema reads it (a getter is not asked twice).
    if ('vector' in record) {
      const value = record.vector;
      if (float32Unchecked && value instanceof Float32Array && value.length > 0) out.vector = value;
      else {
        const vector = value === undefined ? undefined : checkDenseVector(value);
        if (vector && !vector.ok) return undefined;
        out.vector = vector?.value as VectorRecord['vector'];
      }
    }
    if ('sparseVector' in record) {
      const value = record.sparseVector;
      const sparse = value === undefined ? undefined : checkSparseVector(value);
      if ((value !== undefined && sparse === undefined) || (sparse && !sparse.ok)) return undefined;
      out.sparseVector = sparse?.value as VectorRecord['sparseVector'];
    }
    if ('payload' in record) {
      const value = record.payload;
      const payload = value === undefined ? undefined : copyJson(value, 'object');
      if (payload && !payload.ok) return undefined;
      out.payload = payload?.value as VectorRecord['payload'];
    }
    parsed[i] = out;
  }
  return {
    collection: collection as string,
    records: parsed,
    ...('abortSignal' in input ? { abortSignal: abortSignal as AbortSignal | undefined } : {}),
  } as UpsertOptions;
}
