// Plain JavaScript, so the chaos children (plain Node, the built package) share it with the tests.

/** A small real embedder: hashed character trigrams, L2-normalised. Deterministic, no model files. */
export function trigramEmbedder(dimensions, model) {
  const embedder = {
    specificationVersion: 'kumiki.embedder.v1',
    provider: 'test',
    modelId: model,
    kind: 'dense',
    maxBatchSize: 64,
    supportsParallelCalls: true,
    calls: 0,
    space: async () => ({ provider: 'test', model, dimensions, normalize: true }),
    embed: async ({ values }) => {
      embedder.calls++;
      return {
        vectors: values.map((text) => {
          const vector = new Float32Array(dimensions);
          const padded = `  ${text.toLowerCase()} `;
          for (let i = 0; i + 3 <= padded.length; i++) {
            let hash = 2166136261;
            for (const char of padded.slice(i, i + 3)) hash = Math.imul(hash ^ (char.codePointAt(0) ?? 0), 16777619);
            vector[(hash >>> 0) % dimensions] += 1;
          }
          const norm = Math.hypot(...vector) || 1;
          return vector.map((x) => x / norm);
        }),
      };
    },
  };
  return embedder;
}
