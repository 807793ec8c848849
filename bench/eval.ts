/**
 * Retrieval quality on CISI through the product path (`ingest()` + `retrieve()`), next to
 * wink-bm25-text-search and minisearch. No dense model can be loaded offline here, so the dense and
 * hybrid rows say they were skipped; `kumiki eval --embedder …` measures them where a model exists.
 *
 *   npx tsx bench/eval.ts
 */
import { fileURLToPath } from 'node:url';
import { evaluateRetrieval, formatEvaluation } from '../src/eval/index.js';
import { cisiDirectory } from './cisi.js';

/** Runs the evaluation once and returns a markdown section with its table. */
export async function runEvalBench(): Promise<string> {
  const result = await evaluateRetrieval({ dataDirectory: cisiDirectory() });
  return ['### Retrieval evaluation (CISI)', '', formatEvaluation(result)].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(await runEvalBench());
}
