import { FILTER_OPERATORS } from '../../core/filter.js';
import { parseArgument } from '../../core/validate.js';
import { createMilvusContext, type MilvusStore, type MilvusStoreOptions, optionsSchema } from './client.js';
import { collectionMethods } from './collections.js';
import { rowMethods } from './rows.js';

export type { MilvusStore, MilvusStoreOptions };

/**
 * A Store on Milvus (2.5 or later) through `@zilliz/milvus2-sdk-node` over gRPC. The library is
 * imported and the connection opened on first use. See docs/adapters/milvus.md.
 *
 * The modules: client.ts (connection, requests, collection descriptions), collections.ts
 * (collections and aliases), rows.ts (records and search), records.ts (records as rows); the
 * semantics every server store shares (hybrid search, reopening, embedding-space checks, batching,
 * retries) are in ../kernel.
 */
export function createMilvusStore(options: MilvusStoreOptions = {}): MilvusStore {
  const settings = parseArgument(optionsSchema, options, 'milvus store options');
  const ctx = createMilvusContext(settings);
  return {
    specificationVersion: 'kumiki.store.v1',
    provider: 'milvus',
    capabilities: {
      dense: true,
      sparse: true,
      hybrid: true,
      metrics: ['cosine', 'dot', 'euclidean'],
      filterOperators: FILTER_OPERATORS,
      persistent: true,
      aliases: true,
    },
    client: ctx.connect,
    ...collectionMethods(ctx),
    ...rowMethods(ctx),
    dispose: ctx.dispose,
  };
}
