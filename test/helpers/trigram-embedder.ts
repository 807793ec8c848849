import type { DenseEmbedder } from '../../src/index.js';

/** A small real embedder: hashed character trigrams, L2-normalised. Deterministic, no model files. */
export function trigramEmbedder(dimensions: number, model: string): DenseEmbedder & { calls: number } {
  const embedder = {
    specificationVersion: 'kumiki.embedder.v1' as const,
    provider: 'test',
    modelId: model,
    kind: 'dense' as const,
    maxBatchSize: 64,
    supportsParallelCalls: true,
    calls: 0,
    space: async () => ({ provider: 'test', model, dimensions, normalize: true }),
    embed: async ({ values }: { values: readonly string[] }) => {
      embedder.calls++;
      return {
        vectors: values.map((text) => {
          const vector = new Float32Array(dimensions);
          const padded = `  ${text.toLowerCase()} `;
          for (let i = 0; i + 3 <= padded.length; i++) {
            let hash = 2166136261;
            for (const char of padded.slice(i, i + 3)) hash = Math.imul(hash ^ (char.codePointAt(0) ?? 0), 16777619);
            vector[(hash >>> 0) % dimensions] = (vector[(hash >>> 0) % dimensions] ?? 0) + 1;
          }
          const norm = Math.hypot(...vector) || 1;
          return vector.map((x) => x / norm);
        }),
      };
    },
  };
  return embedder;
}
