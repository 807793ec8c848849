/**
 * Pseudo-relevance feedback for the BM25 encoder: the first results of a query are taken as
 * relevant, the terms that mark them out are added to the query, and the query runs again. Built on
 * the encoder's public API only (`embed`, `exportState`, `stats`, `space`), on the encoder that holds
 * the collection's statistics (the fork `bindStatistics` returns). See docs/bm25.md.
 */
import * as z from 'zod';
import { InvalidArgumentError } from '../core/errors.js';
import type { SparseVector } from '../core/types.js';
import { parseArgument } from '../core/validate.js';
import type { Bm25Encoder } from './encoder.js';
import { BM25_STATE_FORMAT } from './state.js';

/**
 * How feedback terms are weighted:
 * - `bo1`: the Bose-Einstein model of Amati (2003), as in Terrier: a term scores
 *   `tf·log2((1+p)/p) + log2(1+p)`, where `tf` is its frequency in the feedback documents and `p` its
 *   share of the collection (here document frequency / documents: the encoder keeps document, not
 *   collection, frequencies).
 * - `rm3`: the relevance model of Lavrenko and Croft (2001) with RM3's interpolation: a term scores
 *   the sum over feedback documents of its share of the document, weighted by the document's score.
 */
export type ExpansionMethod = 'bo1' | 'rm3';

export type QueryExpansion = {
  /** Default `bo1`. */
  method?: ExpansionMethod;
  /** Feedback documents (the first results of the original query), default 10. */
  documents?: number;
  /** Terms added (the best-weighted of the feedback documents'), default 10. */
  terms?: number;
  /**
   * Share of the original query in the expanded one, 0–1 (exclusive of 0), default 0.5. The rest is the
   * feedback terms'. The original terms keep their weights; the feedback terms are added on top.
   */
  originalWeight?: number;
};

/** The settings chosen on CISI's training queries (docs/benchmarks.md): Terrier's and Anserini's usual ones. */
export const DEFAULT_EXPANSION: Required<QueryExpansion> = Object.freeze({
  method: 'bo1',
  documents: 10,
  terms: 10,
  originalWeight: 0.5,
});

export const queryExpansionSchema = z
  .object({
    method: z.enum(['bo1', 'rm3'], { error: "expansion.method must be 'bo1' or 'rm3'" }).optional(),
    documents: z.number().int().min(1, 'expansion.documents must be at least 1').max(1000).optional(),
    terms: z.number().int().min(1, 'expansion.terms must be at least 1').max(1000).optional(),
    originalWeight: z
      .number()
      .gt(0, 'expansion.originalWeight must be above 0 (0 would drop the query)')
      .max(1, 'expansion.originalWeight must be at most 1')
      .optional(),
  })
  .strict();

/** The IDF the encoder declares in its embedding space, and the one computed here. */
const IDF_FORMULA = 'ln(1+(N-df+0.5)/(df+0.5))';
const idf = (df: number, n: number): number => Math.log(1 + (n - df + 0.5) / (df + 0.5));

/** Document frequencies by hashed term, from one statistics snapshot (`key` identifies the snapshot). */
type TermStatistics = { key: string; documents: number; indices: Uint32Array; frequencies: Uint32Array };

/** Per encoder object: forks handed out by `bindStatistics` are replaced, never changed, when statistics move. */
const statisticsCache = new WeakMap<object, TermStatistics>();

/** The encoder the expansion can read: kumiki's BM25 encoder (its statistics and IDF). */
export type ExpandableEncoder = Pick<Bm25Encoder, 'embed' | 'exportState' | 'stats' | 'space'>;

/** Whether `embedder` is kumiki's BM25 encoder (the only sparse embedder whose statistics expansion can read). */
export function isExpandable(embedder: unknown): embedder is ExpandableEncoder {
  const candidate = embedder as Partial<Bm25Encoder> | undefined;
  return (
    candidate?.provider === 'kumiki' &&
    candidate.modelId === 'bm25' &&
    typeof candidate.exportState === 'function' &&
    typeof candidate.stats === 'function' &&
    typeof candidate.embed === 'function'
  );
}

const notExpandable = (message: string) =>
  new InvalidArgumentError({ argument: 'sparseEmbedder', component: 'bm25', issues: [{ path: '', message }] });

function termStatistics(encoder: ExpandableEncoder): TermStatistics {
  const { documentCount, totalLength, vocabularySize } = encoder.stats();
  const key = `${documentCount}:${totalLength}:${vocabularySize}`;
  const cached = statisticsCache.get(encoder);
  if (cached?.key === key) return cached;
  const state = encoder.exportState();
  if (state?.format !== BM25_STATE_FORMAT) {
    throw notExpandable(
      `query expansion reads BM25 statistics in format "${BM25_STATE_FORMAT}", the encoder exported ${JSON.stringify(state?.format)}; pass expansion: false`,
    );
  }
  const statistics = {
    key,
    documents: state.documentCount,
    indices: Uint32Array.from(state.indices),
    frequencies: Uint32Array.from(state.documentFrequencies),
  };
  statisticsCache.set(encoder, statistics);
  return statistics;
}

/** Document frequency of a hashed term (indices are ascending: binary search). */
function documentFrequency(statistics: TermStatistics, index: number): number {
  let low = 0;
  let high = statistics.indices.length - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const value = statistics.indices[middle] as number;
    if (value === index) return statistics.frequencies[middle] as number;
    if (value < index) low = middle + 1;
    else high = middle - 1;
  }
  return 0;
}

export type FeedbackDocument = { text: string; score: number };

/**
 * The expanded query vector: the original `query` (as the encoder weighted it) plus the `terms`
 * best feedback terms of `feedback` (the first results, best first; only the first `documents` are
 * read), each weighted by its feedback weight times its IDF. Returns `query` unchanged when there is
 * no feedback. `encoder` must hold the statistics `query` was weighted with.
 */
export async function expandQuery(options: {
  encoder: ExpandableEncoder;
  query: SparseVector;
  feedback: readonly FeedbackDocument[];
  expansion?: QueryExpansion;
  abortSignal?: AbortSignal;
}): Promise<SparseVector> {
  const settings = {
    ...DEFAULT_EXPANSION,
    ...parseArgument(queryExpansionSchema, options.expansion ?? {}, 'expansion'),
  };
  const { encoder, query } = options;
  const feedback = options.feedback.slice(0, settings.documents).filter((document) => document.text.length > 0);
  const space = await encoder.space();
  if (space.extra?.idf !== IDF_FORMULA) {
    throw notExpandable(
      `query expansion weighs terms with the IDF ${IDF_FORMULA}, the encoder declares ${JSON.stringify(space.extra?.idf)}; pass expansion: false`,
    );
  }
  if (feedback.length === 0 || query.indices.length === 0) return query;
  const statistics = termStatistics(encoder);
  const n = statistics.documents;
  const idfOf = (index: number) => idf(documentFrequency(statistics, index), n);

  // Each feedback text weighted as a query: IDF × term frequency (or IDF alone with binary query
  // term frequency), so dividing by the IDF gives the term counts the encoder sees.
  const { vectors } = await encoder.embed({
    values: feedback.map((document) => document.text),
    role: 'query',
    ...(options.abortSignal ? { abortSignal: options.abortSignal } : {}),
  });
  const weights = new Map<number, number>();
  const scoreSum = feedback.reduce((sum, document) => sum + Math.max(document.score, 0), 0);
  vectors.forEach((vector, i) => {
    const counts: Array<[number, number]> = [];
    let length = 0;
    for (let j = 0; j < vector.indices.length; j++) {
      const index = vector.indices[j] as number;
      const termIdf = idfOf(index);
      const count = termIdf > 0 ? Math.max(1, Math.round((vector.values[j] as number) / termIdf)) : 1;
      counts.push([index, count]);
      length += count;
    }
    const score = (feedback[i] as FeedbackDocument).score;
    const documentWeight =
      settings.method === 'rm3' ? (scoreSum > 0 ? Math.max(score, 0) / scoreSum : 1 / feedback.length) / length : 1;
    for (const [index, count] of counts) weights.set(index, (weights.get(index) ?? 0) + documentWeight * count);
  });
  if (settings.method === 'bo1') {
    for (const [index, frequency] of weights) {
      const p = Math.max(documentFrequency(statistics, index), 1) / Math.max(n, 1);
      weights.set(index, frequency * Math.log2((1 + p) / p) + Math.log2(1 + p));
    }
  }
  const chosen = [...weights]
    .filter(([, weight]) => weight > 0 && Number.isFinite(weight))
    .sort((a, b) => b[1] - a[1] || a[0] - b[0])
    .slice(0, settings.terms);
  const chosenSum = chosen.reduce((sum, [, weight]) => sum + weight, 0);
  if (chosen.length === 0 || chosenSum <= 0) return query;

  // Query term weights without IDF: counts, or 1 each with binary query term frequency.
  const original = new Map<number, number>();
  let originalSum = 0;
  for (let i = 0; i < query.indices.length; i++) {
    const index = query.indices[i] as number;
    const termIdf = idfOf(index);
    const weight = termIdf > 0 ? (query.values[i] as number) / termIdf : 0;
    original.set(index, weight);
    originalSum += weight;
  }
  if (originalSum <= 0) return query;
  // original + (1 − α)/α · |q| · feedback share: the original terms keep their weights, so scores stay
  // on the scale of the unexpanded query's and the ranking is that of the RM3-style interpolation.
  const scale = ((1 - settings.originalWeight) / settings.originalWeight) * originalSum;
  const expanded = new Map<number, number>();
  for (let i = 0; i < query.indices.length; i++) expanded.set(query.indices[i] as number, query.values[i] as number);
  for (const [index, weight] of chosen) {
    expanded.set(index, (expanded.get(index) ?? 0) + scale * (weight / chosenSum) * idfOf(index));
  }
  const indices = Uint32Array.from(expanded.keys()).sort();
  const values = new Float32Array(indices.length);
  for (let i = 0; i < indices.length; i++) values[i] = expanded.get(indices[i] as number) as number;
  return { indices, values };
}
