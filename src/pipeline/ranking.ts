/**
 * The ranking steps `retrieve()` composes beyond one store search: pseudo-relevance feedback on the
 * BM25 query, weighted fusion of a dense and a sparse ranking, and ranking sources instead of chunks.
 */

import { type ExpandableEncoder, expandQuery, type QueryExpansion } from '../bm25/expansion.js';
import type { SparseEmbedder } from '../core/embedder.js';
import type { Filter } from '../core/filter.js';
import { type Fusion, fuse } from '../core/fusion.js';
import type { Store } from '../core/store.js';
import type { Match, SparseVector } from '../core/types.js';
import {
  type DocumentHit,
  type Grouping,
  groupChunks,
  loadSourceTexts,
  type SourceTexts,
  scoreSources,
} from './documents.js';
import { withSpan } from './telemetry.js';

/** One query against one collection: the vectors it searches with and where. */
export type SearchContext = {
  store: Store;
  collection: string;
  filter?: Filter;
  /** Chunks scoring below this are dropped from each search (before fusion and grouping). */
  minScore?: number;
  /** Return the matches' vectors too (MMR compares them). */
  includeVectors?: boolean;
  abortSignal?: AbortSignal;
  dense?: { vector: Float32Array; space: string };
  /** `embedder` holds the collection's statistics (the fork `bindStatistics` returns). */
  sparse?: { vector: SparseVector; space: string; embedder: SparseEmbedder };
};

/**
 * One store search: with the dense or the sparse vector alone, or with both fused by reciprocal-rank
 * fusion in the store (`{ rrf: k }`, natively where the store can).
 */
export async function searchOne(
  context: SearchContext,
  leg: 'dense' | 'sparse' | { rrf: number | undefined },
  limit: number,
): Promise<Match[]> {
  const { store, collection } = context;
  const dense = { vector: context.dense?.vector as Float32Array, embeddingSpace: context.dense?.space as string };
  const sparse = {
    sparseVector: context.sparse?.vector as SparseVector,
    sparseEmbeddingSpace: context.sparse?.space as string,
  };
  const query =
    leg === 'dense'
      ? dense
      : leg === 'sparse'
        ? sparse
        : { ...dense, ...sparse, fusion: { method: 'rrf' as const, ...(leg.rrf !== undefined ? { k: leg.rrf } : {}) } };
  const matches = await withSpan(
    'kumiki.store.search',
    { 'kumiki.store.provider': store.provider, 'kumiki.collection': collection },
    () =>
      store.search({
        collection,
        ...query,
        limit,
        ...(context.filter ? { filter: context.filter } : {}),
        ...(context.includeVectors ? { includeVectors: true } : {}),
        ...(context.abortSignal ? { abortSignal: context.abortSignal } : {}),
      }),
  );
  const threshold = context.minScore;
  return threshold === undefined ? matches : matches.filter((match) => match.score >= threshold);
}

/** Dense and sparse searched apart (`depth` each) and fused here, keeping `limit`. */
export async function searchFused(
  context: SearchContext,
  fusion: Fusion,
  depth: number,
  limit: number,
): Promise<Match[]> {
  const [dense, sparse] = await Promise.all([searchOne(context, 'dense', depth), searchOne(context, 'sparse', depth)]);
  return fuse(dense, sparse, fusion, limit);
}

/**
 * Sources for the sparse query, best first: the chunks of the first `candidates` hits grouped by
 * source and scored as `grouping.score` says (`document`: the whole source's text weighted by the
 * collection's statistics; texts are read once into `texts`).
 */
async function rankSparseSources(
  context: SearchContext,
  grouping: Grouping,
  candidates: number,
  texts: SourceTexts,
): Promise<DocumentHit[]> {
  const chunks = await searchOne(context, 'sparse', candidates);
  const hits = groupChunks(chunks, grouping.score === 'sum' ? 'sum' : 'max', grouping.passages);
  if (grouping.score !== 'document' || hits.length === 0) return hits;
  const sparse = context.sparse as NonNullable<SearchContext['sparse']>;
  const versions = versionsOf(hits);
  const filterKey = context.filter ? JSON.stringify(context.filter) : '';
  const keys = hits.map((hit) =>
    JSON.stringify([context.collection, hit.source, versions.get(hit.source) ?? null, filterKey, grouping.titleWeight]),
  );
  const scores = await scoreSources({
    embedder: sparse.embedder,
    query: sparse.vector,
    keys,
    textOf: async (missing) => {
      const sources = missing.map((i) => (hits[i] as DocumentHit).source);
      await readSources(context, sources, versions, texts, grouping.titleWeight);
      return sources.map((source) => texts.get(source) ?? '');
    },
    ...(context.abortSignal ? { abortSignal: context.abortSignal } : {}),
  });
  return hits
    .map((hit, i) => ({ ...hit, score: scores[i] as number }))
    .sort((a, b) => b.score - a.score || (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
}

/** Source → version (`payload.sourceHash`) of its best hit: the version whose chunks make its text. */
function versionsOf(hits: readonly DocumentHit[]): Map<string, string> {
  const versions = new Map<string, string>();
  for (const hit of hits) {
    const hash = hit.chunks[0]?.payload.sourceHash;
    if (typeof hash === 'string') versions.set(hit.source, hash);
  }
  return versions;
}

/** Puts the texts of `sources` (not yet in `texts`) back together from the store. */
async function readSources(
  context: SearchContext,
  sources: readonly string[],
  versions: ReadonlyMap<string, string>,
  texts: SourceTexts,
  titleWeight: number,
): Promise<void> {
  if (sources.every((source) => texts.has(source))) return;
  await withSpan('kumiki.retrieve.sources', { 'kumiki.retrieve.sources': sources.length }, () =>
    loadSourceTexts({
      store: context.store,
      collection: context.collection,
      sources,
      versions,
      ...(context.filter ? { filter: context.filter } : {}),
      into: texts,
      titleWeight,
      ...(context.abortSignal ? { abortSignal: context.abortSignal } : {}),
    }),
  );
}

/**
 * The sparse query expanded with pseudo-relevance feedback: the first results of the query as it is
 * (its first sources when grouping scores whole documents, else its first chunks) feed
 * `expandQuery`. Returns the expanded vector.
 */
export async function expandSparseQuery(
  context: SearchContext,
  expansion: Required<QueryExpansion>,
  grouping: Grouping | undefined,
  texts: SourceTexts,
): Promise<SparseVector> {
  const sparse = context.sparse as NonNullable<SearchContext['sparse']>;
  return withSpan('kumiki.retrieve.expand', { 'kumiki.retrieve.expansion': expansion.method }, async () => {
    const { minScore: _minScore, includeVectors: _includeVectors, ...unfiltered } = context;
    let feedback: Array<{ text: string; score: number }>;
    if (grouping?.score === 'document') {
      // The first sources of the same ranking without expansion.
      const first = (await rankSparseSources(unfiltered, grouping, grouping.candidates, texts)).slice(
        0,
        expansion.documents,
      );
      await readSources(
        unfiltered,
        first.map((hit) => hit.source),
        versionsOf(first),
        texts,
        grouping.titleWeight,
      );
      feedback = first.map((hit) => ({ text: texts.get(hit.source) ?? '', score: hit.score }));
    } else {
      feedback = (await searchOne(unfiltered, 'sparse', expansion.documents)).map((match) => ({
        text: typeof match.payload.text === 'string' ? match.payload.text : '',
        score: match.score,
      }));
    }
    return expandQuery({
      encoder: sparse.embedder as unknown as ExpandableEncoder,
      query: sparse.vector,
      feedback,
      expansion,
      ...(context.abortSignal ? { abortSignal: context.abortSignal } : {}),
    });
  });
}

/**
 * Sources ranked for the query, best first, at most `limit`, each with its chunk hits (best first).
 * Dense ranks sources by their chunks (`max` or `sum`); sparse by `grouping.score`; hybrid fuses the
 * two source rankings with `fusion`, and orders each source's chunks by their fused chunk ranking.
 */
export async function rankSources(
  context: SearchContext,
  grouping: Grouping,
  fusion: Fusion,
  limit: number,
  texts: SourceTexts,
): Promise<DocumentHit[]> {
  const denseHits = async () => {
    const chunks = await searchOne(context, 'dense', grouping.candidates);
    return { chunks, hits: groupChunks(chunks, grouping.score === 'sum' ? 'sum' : 'max', grouping.passages) };
  };
  if (!context.sparse) return (await denseHits()).hits.slice(0, limit);
  const sparseHits = await rankSparseSources(context, grouping, grouping.candidates, texts);
  if (!context.dense) return sparseHits.slice(0, limit);
  const dense = await denseHits();
  const asMatch = (hit: DocumentHit): Match => ({ id: hit.source, score: hit.score, payload: {} });
  const fused = fuse(dense.hits.map(asMatch), sparseHits.map(asMatch), fusion, limit);
  // Each source's chunks from both searches, in the order of the fused chunk ranking.
  const sparseChunks = sparseHits.flatMap((hit) => hit.chunks).sort((a, b) => b.score - a.score);
  const order = fuse(dense.chunks, sparseChunks, fusion);
  const chunksOf = new Map<string, Match[]>();
  for (const match of order) {
    const source = match.payload.source as string;
    const list = chunksOf.get(source) ?? [];
    list.push(match);
    chunksOf.set(source, list);
  }
  return fused.map((match) => ({
    source: String(match.id),
    score: match.score,
    chunks: chunksOf.get(String(match.id)) ?? [],
  }));
}
