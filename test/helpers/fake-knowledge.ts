/**
 * What the knowledge-model tests share: a two-document collection (lighthouses, bread) and a runner
 * that answers like a grounded model, citing its first source with `[1]`, in small deltas.
 */
import type { ModelRunner } from '../../src/core/runner.js';
import type { SourceDocument } from '../../src/pipeline/types.js';

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
