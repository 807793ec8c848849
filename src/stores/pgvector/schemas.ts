/**
 * Argument schemas of the pgvector store. The Store-method schemas have the memory store's shapes,
 * so the same mistakes give the same `InvalidArgumentError`s; the limits that differ are pgvector's
 * (at most 16,000 dense dimensions).
 */
import * as z from 'zod';
import { collectionCacheShape, serverStoreOptionsShape } from '../kernel/options.js';
import { storeArgumentSchemas } from '../kernel/schemas.js';
import { PGVECTOR_DEFAULTS } from './client.js';
import { MAX_DIMENSIONS } from './encoding.js';

// The Store-method schemas are shared by every store; pgvector's vector type caps the dimensions.
export const {
  collectionName,
  create: createSchema,
  open: openSchema,
  list: listSchema,
  deleteCollection: deleteCollectionSchema,
  explain: explainSchema,
  setAlias: aliasSchema,
  deleteAlias: deleteAliasSchema,
  parseUpsert,
  get: getSchema,
  delete: deleteSchema,
  count: countSchema,
  scroll: scrollSchema,
  search: searchSchema,
} = storeArgumentSchemas({
  maxDimensions: MAX_DIMENSIONS,
  dimensionsMessage: `pgvector's vector type holds at most ${MAX_DIMENSIONS} dimensions`,
});

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
    ...serverStoreOptionsShape(PGVECTOR_DEFAULTS),
    ...collectionCacheShape,
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
