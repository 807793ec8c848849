/**
 * Argument schemas of the pgvector store. The Store-method schemas have the memory store's shapes,
 * so the same mistakes give the same `InvalidArgumentError`s; the limits that differ are pgvector's
 * (at most 16,000 dense dimensions).
 */
import { z } from 'zod';
import { embeddingSpaceSchema } from '../../core/fingerprint.js';
import { denseVectorSchema, recordIdSchema, sparseVectorSchema, vectorRecordSchema } from '../../core/types.js';
import { filterSchema } from '../../filter/ast.js';
import { MAX_DIMENSIONS } from './encoding.js';

export const collectionName = z
  .string()
  .min(1, 'collection names must not be empty')
  .max(255)
  .regex(
    /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/,
    'collection names use letters, digits, "_", "-" and "." and start with a letter, digit or "_"',
  );
const spaceOrFingerprint = z.union([z.string().min(1), embeddingSpaceSchema]);
const signal = z
  .custom<AbortSignal>((value) => value instanceof AbortSignal, 'abortSignal must be an AbortSignal')
  .optional();

export const createSchema = z
  .object({
    name: collectionName,
    dimensions: z
      .number()
      .int()
      .min(1)
      .max(MAX_DIMENSIONS, `pgvector's vector type holds at most ${MAX_DIMENSIONS} dimensions`)
      .optional(),
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
  });
export const openSchema = z
  .object({
    name: collectionName,
    embeddingSpace: spaceOrFingerprint.optional(),
    sparseEmbeddingSpace: spaceOrFingerprint.optional(),
    abortSignal: signal,
  })
  .strict();
export const listSchema = z.object({ abortSignal: signal }).strict().optional();
export const deleteCollectionSchema = z.object({ name: collectionName, abortSignal: signal }).strict();
export const explainSchema = z.object({ collection: collectionName, filter: filterSchema }).strict();
export const aliasSchema = z
  .object({ alias: collectionName, collection: collectionName, abortSignal: signal })
  .strict();
export const deleteAliasSchema = z.object({ alias: collectionName, abortSignal: signal }).strict();
export const upsertSchema = z
  .object({ collection: collectionName, records: z.array(vectorRecordSchema), abortSignal: signal })
  .strict();
export const getSchema = z
  .object({
    collection: collectionName,
    ids: z.array(recordIdSchema),
    includeVectors: z.boolean().optional(),
    abortSignal: signal,
  })
  .strict();
export const deleteSchema = z.union([
  z.object({ collection: collectionName, ids: z.array(recordIdSchema), abortSignal: signal }).strict(),
  z.object({ collection: collectionName, filter: filterSchema, abortSignal: signal }).strict(),
]);
export const countSchema = z
  .object({ collection: collectionName, filter: filterSchema.optional(), abortSignal: signal })
  .strict();
export const scrollSchema = z
  .object({
    collection: collectionName,
    filter: filterSchema.optional(),
    limit: z.number().int().min(1).max(10_000).optional(),
    cursor: z.string().optional(),
    includeVectors: z.boolean().optional(),
    abortSignal: signal,
  })
  .strict();
export const searchSchema = z
  .object({
    collection: collectionName,
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
    abortSignal: signal,
  })
  .strict()
  .refine((value) => value.vector !== undefined || value.sparseVector !== undefined, {
    message: 'search needs a vector, a sparseVector, or both (hybrid)',
  })
  .refine((value) => value.fusion === undefined || (value.vector !== undefined && value.sparseVector !== undefined), {
    message: 'fusion applies to hybrid search only: pass both vector and sparseVector, or drop fusion',
    path: ['fusion'],
  });

/** A Postgres identifier the adapter creates or addresses: schema names and table prefixes. */
const identifier = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const optionsSchema = z
  .object({
    connectionString: z.string().min(1).optional(),
    pool: z
      .custom<object>(
        (value) =>
          typeof value === 'object' &&
          value !== null &&
          typeof (value as { query?: unknown }).query === 'function' &&
          typeof (value as { connect?: unknown }).connect === 'function',
        'pool must be a pg.Pool (an object with query() and connect())',
      )
      .optional(),
    poolConfig: z.record(z.string(), z.unknown()).optional(),
    schema: z
      .string()
      .max(63)
      .regex(identifier, 'schema must be a plain identifier: letters, digits and "_"')
      .optional(),
    tablePrefix: z
      .string()
      .min(1)
      .max(20)
      .regex(identifier, 'tablePrefix must be letters, digits and "_", starting with a letter or "_"')
      .optional(),
    batch: z
      .object({
        maxCount: z.number().int().min(1).max(100_000).optional(),
        maxBytes: z.number().int().min(1024).optional(),
      })
      .strict()
      .optional(),
    concurrency: z.number().int().min(1).max(64).optional(),
    retries: z.number().int().min(0).max(10).optional(),
    retryDelayMs: z.number().int().min(0).optional(),
    catalogCacheMs: z.number().int().min(0).optional(),
    index: z
      .union([
        z.literal('exact'),
        z
          .object({
            type: z.literal('hnsw'),
            m: z.number().int().min(2).max(100).optional(),
            efConstruction: z.number().int().min(4).max(1000).optional(),
          })
          .strict(),
      ])
      .optional(),
  })
  .strict()
  .refine(
    (value) => value.pool === undefined || (value.connectionString === undefined && value.poolConfig === undefined),
    {
      message: 'pass either pool (an existing pg.Pool) or connectionString/poolConfig, not both',
    },
  );
