import { FILTER_OPERATORS } from '../../core/filter.js';
import { parseArgument } from '../../core/validate.js';
import { createPgContext, type PgvectorStore, type PgvectorStoreOptions } from './client.js';
import { collectionMethods } from './collections.js';
import { BACKEND } from './filter-sql.js';
import { rowMethods } from './rows.js';
import { optionsSchema } from './schemas.js';

export type { PgvectorStore, PgvectorStoreOptions };

/**
 * A Store on PostgreSQL with pgvector, through node-postgres (`pg`, loaded on first use). One table
 * per collection (`key bytea`, `embedding vector(d)`, `sparse sparsevec`, `payload jsonb`), a
 * catalog table with dimensions, metric and embedding-space fingerprints, and an alias table.
 * Exact search by default; filters run natively as SQL over jsonb with every value a bind parameter.
 *
 * The modules: client.ts (pool, statements, transactions, catalog lookups), collections.ts
 * (collections and aliases), rows.ts (records and search); the semantics every server store shares
 * (hybrid search, reopening, embedding-space checks, batching, retries) are in ../kernel.
 */
export function createPgvectorStore(options: PgvectorStoreOptions = {}): PgvectorStore {
  const settings = parseArgument(optionsSchema, options, 'pgvector store options');
  const ctx = createPgContext(settings);
  return {
    specificationVersion: 'kumiki.store.v1',
    provider: BACKEND,
    capabilities: {
      dense: true,
      sparse: true,
      hybrid: true,
      metrics: ['cosine', 'dot', 'euclidean'],
      filterOperators: FILTER_OPERATORS,
      persistent: true,
      aliases: true,
    },
    ...collectionMethods(ctx),
    ...rowMethods(ctx),
    client: ctx.pool,
    dispose: ctx.dispose,
  };
}
