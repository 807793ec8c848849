/**
 * Argument schemas of the Store methods, shared by every Store adapter so that the same mistake
 * gives the same `InvalidArgumentError` on every backend. Adapters pass what differs: their rule
 * for collection names and their dimension limit.
 */
import { z } from 'zod';
import { filterSchema } from '../../core/filter.js';
import { embeddingSpaceSchema } from '../../core/fingerprint.js';
import { denseVectorSchema, recordIdSchema, sparseVectorSchema, vectorRecordSchema } from '../../core/types.js';

/** The default rule for collection and alias names (memory, pgvector, Qdrant). */
export const defaultCollectionName = z
  .string()
  .min(1, 'collection names must not be empty')
  .max(255)
  .regex(
    /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/,
    'collection names use letters, digits, "_", "-" and "." and start with a letter, digit or "_"',
  );

export const abortSignalSchema = z
  .custom<AbortSignal>((value) => value instanceof AbortSignal, 'abortSignal must be an AbortSignal')
  .optional();

const spaceOrFingerprint = z.union([z.string().min(1), embeddingSpaceSchema]);

export type StoreSchemaOptions = {
  collectionName?: z.ZodType<string>;
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
  return {
    collectionName: name,
    create: z
      .object({
        name,
        dimensions: z.number().int().min(1).max(maxDimensions, options.dimensionsMessage).optional(),
        metric: z.enum(['cosine', 'dot', 'euclidean']).optional(),
        sparse: z.boolean().optional(),
        embeddingSpace: spaceOrFingerprint.optional(),
        sparseEmbeddingSpace: spaceOrFingerprint.optional(),
        ifExists: z.enum(['error', 'open']).optional(),
        abortSignal: signal,
      })
      .strict()
      .refine((value) => value.dimensions !== undefined || value.sparse !== false, {
        message: 'a collection needs dense dimensions, sparse vectors, or both',
      }),
    open: z
      .object({
        name,
        embeddingSpace: spaceOrFingerprint.optional(),
        sparseEmbeddingSpace: spaceOrFingerprint.optional(),
        abortSignal: signal,
      })
      .strict(),
    list: z.object({ abortSignal: signal }).strict().optional(),
    deleteCollection: z.object({ name, abortSignal: signal }).strict(),
    explain: z.object({ collection: name, filter: filterSchema }).strict(),
    setAlias: z.object({ alias: name, collection: name, abortSignal: signal }).strict(),
    deleteAlias: z.object({ alias: name, abortSignal: signal }).strict(),
    upsert: z.object({ collection: name, records: z.array(vectorRecordSchema), abortSignal: signal }).strict(),
    get: z
      .object({
        collection: name,
        ids: z.array(recordIdSchema),
        includeVectors: z.boolean().optional(),
        abortSignal: signal,
      })
      .strict(),
    delete: z.union([
      z.object({ collection: name, ids: z.array(recordIdSchema), abortSignal: signal }).strict(),
      z.object({ collection: name, filter: filterSchema, abortSignal: signal }).strict(),
    ]),
    count: z.object({ collection: name, filter: filterSchema.optional(), abortSignal: signal }).strict(),
    scroll: z
      .object({
        collection: name,
        filter: filterSchema.optional(),
        limit: z.number().int().min(1).max(10_000).optional(),
        cursor: z.string().optional(),
        includeVectors: z.boolean().optional(),
        abortSignal: signal,
      })
      .strict(),
    search: z
      .object({
        collection: name,
        vector: denseVectorSchema.optional(),
        sparseVector: sparseVectorSchema.optional(),
        limit: z.number().int().min(1).max(10_000).optional(),
        filter: filterSchema.optional(),
        fusion: z
          .object({
            method: z.literal('rrf'),
            k: z.number().positive().optional(),
            prefetch: z.number().int().min(1).max(10_000).optional(),
          })
          .strict()
          .optional(),
        scoreThreshold: z.number().optional(),
        includeVectors: z.boolean().optional(),
        embeddingSpace: spaceOrFingerprint.optional(),
        sparseEmbeddingSpace: spaceOrFingerprint.optional(),
        abortSignal: signal,
      })
      .strict()
      .refine((value) => value.vector !== undefined || value.sparseVector !== undefined, {
        message: 'search needs a vector, a sparseVector, or both (hybrid)',
      })
      .refine(
        (value) => value.fusion === undefined || (value.vector !== undefined && value.sparseVector !== undefined),
        {
          message: 'fusion applies to hybrid search only: pass both vector and sparseVector, or drop fusion',
          path: ['fusion'],
        },
      ),
  };
}
