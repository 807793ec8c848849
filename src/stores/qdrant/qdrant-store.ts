import { FILTER_OPERATORS } from '../../core/filter.js';
import { parseArgument } from '../../core/validate.js';
import {
  createQdrantContext,
  optionsSchema,
  type QdrantIndexType,
  type QdrantStore,
  type QdrantStoreOptions,
} from './client.js';
import { collectionMethods } from './collections.js';
import { rowMethods } from './rows.js';

export type { QdrantIndexType, QdrantStore, QdrantStoreOptions };

/**
 * A kumiki Store on a Qdrant server (≥ 1.16; built against 1.18) through `@qdrant/js-client-rest`,
 * which is imported on first use. See docs/adapters/qdrant.md.
 *
 * The modules: client.ts (client, requests, collection descriptions), collections.ts (collections
 * and aliases), rows.ts (points and search), points.ts (records as points); the semantics every
 * server store shares (hybrid search, reopening, embedding-space checks, batching, retries) are in
 * ../kernel.
 */
export function createQdrantStore(options: QdrantStoreOptions = {}): QdrantStore {
  const settings = parseArgument(optionsSchema, options, 'Qdrant store options');
  const ctx = createQdrantContext(settings);
  return {
    specificationVersion: 'kumiki.store.v1',
    provider: 'qdrant',
    capabilities: {
      dense: true,
      sparse: true,
      hybrid: true,
      metrics: ['cosine', 'dot', 'euclidean'],
      filterOperators: FILTER_OPERATORS,
      persistent: true,
      aliases: true,
    },
    client: ctx.client,
    ...collectionMethods(ctx),
    ...rowMethods(ctx),
    async dispose(): Promise<void> {
      ctx.dispose();
    },
  };
}
