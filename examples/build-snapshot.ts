// Builds the memory-store snapshot the Worker, the Next.js route and the Lambda handler serve: ingest
// with the same embedders the app will query with, then keep the bytes (upload them to KV, a blob
// store or the function bundle). Runs anywhere kumiki runs; `kumiki ingest` in the CLI writes one too.
import { createBm25Encoder, createMemoryStore, type Embedder, ingest, type SourceDocument } from 'kumiki';

export async function buildSnapshot(options: {
  documents: Iterable<SourceDocument> | AsyncIterable<SourceDocument>;
  embedder: Embedder;
  collection?: string;
}): Promise<Uint8Array> {
  let saved: Uint8Array | undefined;
  const store = createMemoryStore({
    persistence: {
      location: 'in memory',
      load: async () => undefined,
      save: async (bytes) => {
        saved = bytes;
      },
    },
    durability: 'manual',
  });
  await ingest({
    store,
    collection: options.collection ?? 'docs',
    documents: options.documents,
    embedder: options.embedder,
    sparseEmbedder: createBm25Encoder(),
  });
  await store.flush();
  await store.dispose();
  if (!saved) throw new Error('the store saved no snapshot');
  return saved;
}
