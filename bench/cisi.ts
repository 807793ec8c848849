/**
 * The CISI collection and metrics for the benchmarks: they live in src/eval/cisi.ts (shipped as
 * `kumiki/eval`); this module adds the benchmarks' default data location.
 *
 * The files live in the shared data folder beside the repository: `../shared/data/cisi` from the
 * repository root (override with KUMIKI_CISI_DIR).
 */
import { fileURLToPath } from 'node:url';
import { type Cisi, loadCisi as loadCisiFrom } from '../src/eval/cisi.js';

export { CISI_FILES, type Cisi, type CisiDocument, type CisiQuery, documentText } from '../src/eval/cisi.js';
export {
  averagePrecision,
  evaluateRankings as evaluate,
  type Metrics,
  ndcgAt,
  recallAt,
} from '../src/eval/metrics.js';

/** `../shared/data/cisi` relative to the repository root, or `KUMIKI_CISI_DIR`. */
export function cisiDirectory(): string {
  return process.env.KUMIKI_CISI_DIR ?? fileURLToPath(new URL('../../shared/data/cisi', import.meta.url));
}

/** Loads the collection from `directory` (default `cisiDirectory()`). */
export function loadCisi(directory = cisiDirectory()): Cisi {
  return loadCisiFrom(directory);
}
