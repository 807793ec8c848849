/** Embedding an ingest's chunks: batches within the embedders' limits, a few calls in flight, BM25 statistics kept in step. */
import type { DenseEmbedder, SparseEmbedder } from '../core/embedder.js';
import { InvalidArgumentError, throwIfAborted } from '../core/errors.js';
import type { RecordId, SparseVector } from '../core/types.js';
import { mapLimit } from '../internal/concurrency.js';
import type { statisticsWriter } from './statistics.js';
import { withSpan } from './telemetry.js';

/** How ingest embeds chunks: the embedders, batching, and the counters it keeps. */
export type ChunkEmbedding = {
  dense: DenseEmbedder | undefined;
  sparse: SparseEmbedder | undefined;
  /** The collection's BM25 statistics, when the sparse embedder keeps them (`statisticsWriter`). */
  statistics: Awaited<ReturnType<typeof statisticsWriter>> | undefined;
  /** Texts per embedding call, default min(64, embedder.maxBatchSize). */
  batchSize: number | undefined;
  /** Embedding calls in flight, default 2 (1 for embedders without parallel calls). */
  concurrency: number | undefined;
  abortSignal: AbortSignal | undefined;
  /** Called before each embedding call. */
  onCall(): void;
  /** Called after each call with the texts it counts for progress (the dense embedder's, else the sparse one's). */
  onEmbedded(count: number): void;
};

/** Embeds the chunk texts (`ids` are their record ids) with the dense and the sparse embedder, each in batches. */
export async function embedChunks(
  embedding: ChunkEmbedding,
  ids: RecordId[],
  texts: string[],
): Promise<[Float32Array[] | undefined, SparseVector[] | undefined]> {
  const { dense, sparse } = embedding;
  return Promise.all([
    dense ? embedBatches<Float32Array>(embedding, dense, texts, true).then((batches) => batches.flat()) : undefined,
    sparse ? embedSparse(embedding, sparse, ids, texts) : undefined,
  ]);
}

async function embedSparse(
  embedding: ChunkEmbedding,
  embedder: SparseEmbedder,
  ids: RecordId[],
  texts: string[],
): Promise<SparseVector[]> {
  const { statistics } = embedding;
  const counted = !embedding.dense;
  if (!statistics) return (await embedBatches<SparseVector>(embedding, embedder, texts, counted)).flat();
  // Chunks about to be replaced leave the statistics and the new texts join them before any of
  // the new texts is weighted.
  await statistics.removeStored(ids);
  statistics.embedder.addDocuments(texts);
  return (await embedBatches<SparseVector>(embedding, statistics.embedder, texts, counted)).flat();
}

/** `counted`: progress counts the texts this embedder embeds (the dense one, else the sparse one). */
async function embedBatches<T>(
  embedding: ChunkEmbedding,
  embedder: DenseEmbedder | SparseEmbedder,
  texts: string[],
  counted: boolean,
): Promise<T[][]> {
  const { abortSignal } = embedding;
  const size = Math.min(embedding.batchSize ?? 64, embedder.maxBatchSize);
  const batches: string[][] = [];
  for (let i = 0; i < texts.length; i += size) batches.push(texts.slice(i, i + size));
  const parallel = embedder.supportsParallelCalls ? (embedding.concurrency ?? 2) : 1;
  return mapLimit(batches, parallel, (values) =>
    withSpan(
      'kumiki.embed',
      {
        'kumiki.embedder.provider': embedder.provider,
        'kumiki.embedder.model': embedder.modelId,
        'kumiki.embed.count': values.length,
      },
      async () => {
        throwIfAborted(abortSignal, 'ingest');
        embedding.onCall();
        const { vectors } = await embedder.embed({ values, role: 'document', ...(abortSignal ? { abortSignal } : {}) });
        if (vectors.length !== values.length) {
          throw new InvalidArgumentError({
            argument: 'embedder',
            issues: [
              {
                path: '',
                message: `${embedder.provider} returned ${vectors.length} vectors for ${values.length} texts`,
              },
            ],
          });
        }
        embedding.onEmbedded(counted ? values.length : 0);
        return vectors as T[];
      },
    ),
  );
}
