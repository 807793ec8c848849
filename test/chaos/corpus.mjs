// Shared by the chaos children (plain Node, the built package) and the tests that check them.
import { createRecursiveSplitter } from 'kumiki';

const TOPICS = ['tides', 'bookbinding', 'glaciers', 'printing presses', 'orchards', 'lighthouses', 'violins'];

/** Version v of a 40-document corpus: each version edits about a third of the documents and drops three. */
export function chaosCorpus(version) {
  const dropped = new Set([(version * 7) % 40, (version * 11 + 3) % 40, (version * 13 + 5) % 40]);
  return Array.from({ length: 40 }, (_, i) => i)
    .filter((i) => !dropped.has(i))
    .map((i) => ({
      uri: `mem://chaos/${i}`,
      contentType: 'text/markdown',
      text: `# Document ${i}\n\n${Array.from(
        { length: 2 + (i % 4) },
        (_, p) =>
          `Part ${p} of document ${i} covers ${TOPICS[(i + p) % TOPICS.length]}.${(i + version) % 3 === 0 ? ` Revised in version ${version}.` : ''}`,
      ).join('\n\n')}`,
    }));
}

export const chaosSplitter = createRecursiveSplitter({ chunkSize: 80, chunkOverlap: 0, unit: 'characters' });

/** A small deterministic dense embedder: hashed character trigrams, L2-normalised. */
export function chaosEmbedder() {
  const dimensions = 24;
  return {
    specificationVersion: 'kumiki.embedder.v1',
    provider: 'test',
    modelId: 'trigram',
    kind: 'dense',
    maxBatchSize: 64,
    supportsParallelCalls: true,
    space: async () => ({ provider: 'test', model: 'trigram', dimensions, normalize: true }),
    embed: async ({ values }) => ({
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
    }),
  };
}
