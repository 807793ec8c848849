/** The comparison libraries of an evaluation (optional dev dependencies): wink-bm25-text-search and minisearch. */
import { performance } from 'node:perf_hooks';
import porter2 from 'wink-porter2-stemmer';
import { ENGLISH_STOPWORDS } from '../bm25/stopwords.js';
import { throwIfAborted } from '../core/errors.js';
import { importOptional } from '../internal/optional.js';
import { collectionText, type TestCollection } from './collection.js';
import type { Progress, Ranked } from './kumiki.js';

export const WINK = 'wink-bm25-text-search';
export const MINISEARCH = 'minisearch';

/** What a comparison library ranks: the scored queries (all when `queries` is undefined), `limit` ids each. */
type PeerOptions = {
  collection: TestCollection;
  limit: number;
  queries: ReadonlySet<string> | undefined;
  progress: Progress;
  abortSignal: AbortSignal | undefined;
};

/** Ranks the scored queries with `search`, keeping the first `limit` ids. */
function rankAll(options: PeerOptions, phase: string, search: (text: string) => string[]): Ranked {
  const { collection, limit, queries, progress, abortSignal } = options;
  const rankings = new Map<string, string[]>();
  const selected = collection.queries.filter((query) => queries === undefined || queries.has(query.id));
  const started = performance.now();
  for (const { id, text } of selected) {
    throwIfAborted(abortSignal, 'evaluateRetrieval');
    rankings.set(id, search(text).slice(0, limit));
    progress.advance(1, phase);
  }
  return { rankings, queryMs: (performance.now() - started) / Math.max(1, selected.length) };
}

type PeerResult = Ranked & { indexMs: number; note: string };

/** wink-bm25-text-search with the wink-nlp-utils preparation its README recommends (as bench/bm25.ts). */
async function runWink(options: PeerOptions): Promise<PeerResult> {
  const { collection, progress, abortSignal } = options;
  const adapter = 'evaluation';
  const bm25 = (await importOptional(WINK, adapter, () => import('wink-bm25-text-search'))).default;
  const nlp = (await importOptional('wink-nlp-utils', adapter, () => import('wink-nlp-utils'))).default;
  throwIfAborted(abortSignal, 'evaluateRetrieval');
  const started = performance.now();
  const engine = bm25();
  engine.defineConfig({ fldWeights: { text: 1 } });
  engine.definePrepTasks([
    nlp.string.lowerCase,
    nlp.string.tokenize0,
    nlp.tokens.removeWords,
    nlp.tokens.stem,
    nlp.tokens.propagateNegations,
  ]);
  for (const document of collection.documents) engine.addDoc({ text: collectionText(document) }, document.id);
  engine.consolidate();
  const indexMs = performance.now() - started;
  progress.advance(collection.documents.length, `${WINK}: indexing`);
  const ranked = rankAll(options, `${WINK}: querying`, (text) =>
    engine.search(text, collection.documents.length).map(([id]) => String(id)),
  );
  return {
    ...ranked,
    indexMs,
    note: 'wink-nlp-utils prep: lowerCase, tokenize0, removeWords, stem, propagateNegations',
  };
}

const STOPWORDS = new Set(ENGLISH_STOPWORDS);

/** minisearch on one text field, with Porter2 stemming and kumiki's English stop words. */
async function runMiniSearch(options: PeerOptions): Promise<PeerResult> {
  const { collection, progress, abortSignal } = options;
  const MiniSearch = (await importOptional(MINISEARCH, 'evaluation', () => import('minisearch'))).default;
  throwIfAborted(abortSignal, 'evaluateRetrieval');
  const started = performance.now();
  const processTerm = (term: string) => {
    const word = term.toLowerCase();
    return STOPWORDS.has(word) ? null : porter2(word);
  };
  const index = new MiniSearch<{ id: string; text: string }>({
    fields: ['text'],
    processTerm,
    searchOptions: { processTerm },
  });
  index.addAll(collection.documents.map((document) => ({ id: document.id, text: collectionText(document) })));
  const indexMs = performance.now() - started;
  progress.advance(collection.documents.length, `${MINISEARCH}: indexing`);
  const ranked = rankAll(options, `${MINISEARCH}: querying`, (text) => index.search(text).map((hit) => String(hit.id)));
  return { ...ranked, indexMs, note: "Porter2 stemming (wink-porter2-stemmer), English stop words (kumiki's list)" };
}

/** The comparison libraries, by row id. */
export const PEERS = [
  [WINK, runWink],
  [MINISEARCH, runMiniSearch],
] as const;

/** The comparison library with the highest nDCG@10, if one was measured. */
export function bestPeer(rows: ReadonlyArray<{ id: string; ndcg10: number | null }>): string | undefined {
  const peers = rows.filter((row) => (row.id === WINK || row.id === MINISEARCH) && row.ndcg10 !== null);
  peers.sort((a, b) => (b.ndcg10 as number) - (a.ndcg10 as number));
  return peers[0]?.id;
}
