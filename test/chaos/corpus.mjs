// Shared by the chaos children (plain Node, the built package) and the tests that check them.
import { createRecursiveSplitter } from 'kumiki';
import { trigramEmbedder } from '../helpers/trigram-embedder.mjs';

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

/** The dense embedder of the chaos runs (hashed character trigrams). */
export const chaosEmbedder = () => trigramEmbedder(24, 'trigram');
