/**
 * What the knowledge-model tests share: a two-document collection (lighthouses, bread) and a runner
 * that answers like a grounded model, citing its first source with `[1]`, in small deltas.
 */
import { createBm25Encoder } from '../../src/bm25/index.js';
import type { ModelRunner } from '../../src/core/runner.js';
import type { RetrieveConfig } from '../../src/gateway/index.js';
import { ingest } from '../../src/pipeline/ingest.js';
import type { SourceDocument } from '../../src/pipeline/types.js';
import { createMemoryStore } from '../../src/stores/memory/index.js';

export const KB_DOCUMENTS: SourceDocument[] = [
  {
    uri: 'file:///kb/lighthouse.md',
    contentType: 'text/markdown',
    text: '# Lighthouses\n\nA lighthouse warns ships with a bright lamp and a lens.',
  },
  {
    uri: 'file:///kb/bread.md',
    contentType: 'text/markdown',
    text: '# Bread\n\nBread rises because yeast makes gas in the dough.',
  },
];

/** `KB_DOCUMENTS` ingested (BM25) into a memory store, as a gateway search collection `kb`. */
export async function knowledgeBase(): Promise<RetrieveConfig> {
  const store = createMemoryStore();
  const sparseEmbedder = createBm25Encoder();
  await ingest({ store, collection: 'kb', sparseEmbedder, documents: KB_DOCUMENTS });
  return { store, collection: 'kb', sparseEmbedder };
}

/** The citing runner's answer. */
export const CITED = 'A lighthouse warns ships with a lamp [1].';

/** A model that cites its first source, as a grounded model does: `CITED` in three deltas. */
export function citingRunner(): ModelRunner {
  const usage = { promptTokens: 30, completionTokens: 9 };
  return {
    specificationVersion: 'kumiki.runner.v1',
    provider: 'citing',
    modelId: 'citing',
    capabilities: { streaming: true, structuredOutput: [], tools: false, seed: true },
    describeModel: async () => ({ provider: 'citing', model: 'citing' }),
    generate: async () => ({ text: CITED, finishReason: 'stop', usage }),
    async *stream() {
      yield { type: 'text-delta', text: 'A lighthouse warns ' };
      yield { type: 'text-delta', text: 'ships with a lamp ' };
      yield { type: 'text-delta', text: '[1].' };
      yield { type: 'finish', finishReason: 'stop', usage };
    },
  };
}
