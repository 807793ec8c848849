/**
 * Documents, not just chunks: `retrieve({ groupBy: 'source' })` folds chunk hits back into the
 * sources they came from and ranks those. With BM25 the default scores each source as a whole: its
 * text is put back together from its stored chunks (by their character offsets) and weighted like one
 * document, so splitting a source into chunks costs nothing at the document level. See docs/pipeline.md.
 */
import * as z from 'zod';
import type { SparseEmbedder } from '../core/embedder.js';
import { InvalidArgumentError, throwIfAborted } from '../core/errors.js';
import type { Filter } from '../core/filter.js';
import type { Store } from '../core/store.js';
import type { Match, SparseVector } from '../core/types.js';
import { resetStatistics, type StatisticalEmbedder } from './statistics.js';

/**
 * How a source's score comes from its chunks:
 * - `document`: BM25 of the whole source (its chunks put back together) against the query; the
 *   dense side of a hybrid search, which cannot re-embed whole sources, uses `max`.
 * - `max`: its best chunk's score.
 * - `sum`: the sum of its `passages` best chunks' scores.
 */
export type DocumentScore = 'document' | 'max' | 'sum';

export type GroupBy =
  | 'source'
  | {
      by: 'source';
      /** Default `document` with a BM25 encoder, else `max`. */
      score?: DocumentScore;
      /** Best chunks returned per source (its passages), default 3. */
      passages?: number;
      /** Chunks fetched per search before grouping, default 4 × limit (at least 50, at most 10,000). */
      candidates?: number;
      /**
       * With `score: 'document'` and a BM25 encoder: the statistics whole sources are weighed with.
       * `sources` (default) counts the collection's sources, read once per statistics version (the same
       * figures as one chunk per source); `chunks` uses the chunk statistics kept with the collection
       * (no read, slightly different IDF).
       */
      statistics?: 'sources' | 'chunks';
      /**
       * With `score: 'document'`: the source's title (`payload.title`) counted this many more times in
       * its text, 0–10, default 0. This is BM25F with two fields, title (weight 1 + titleWeight, when
       * the text already holds the title once) and body (weight 1), sharing one length normalisation
       * (Robertson, Zaragoza and Taylor 2004): repeating a field is the same as weighting its term
       * frequencies. It changes the source statistics too.
       */
      titleWeight?: number;
    };

export const groupBySchema = z.union([
  z.literal('source'),
  z
    .object({
      by: z.literal('source', { error: "groupBy.by must be 'source'" }),
      score: z
        .enum(['document', 'max', 'sum'], { error: "groupBy.score must be 'document', 'max' or 'sum'" })
        .optional(),
      passages: z.number().int().min(1, 'groupBy.passages must be at least 1').max(100).optional(),
      candidates: z.number().int().min(1, 'groupBy.candidates must be at least 1').max(10_000).optional(),
      statistics: z
        .enum(['sources', 'chunks'], { error: "groupBy.statistics must be 'sources' or 'chunks'" })
        .optional(),
      titleWeight: z
        .number()
        .int('groupBy.titleWeight must be a whole number')
        .min(0, 'groupBy.titleWeight must be 0 to 10')
        .max(10, 'groupBy.titleWeight must be 0 to 10')
        .optional(),
    })
    .strict(),
]);

export type Grouping = {
  score: DocumentScore;
  passages: number;
  candidates: number;
  statistics: 'sources' | 'chunks';
  titleWeight: number;
};

/** `groupBy` with its defaults filled in, for `limit` documents. */
export function resolveGrouping(groupBy: GroupBy, limit: number, canScoreDocuments: boolean): Grouping {
  const options = groupBy === 'source' ? { by: 'source' as const } : groupBy;
  const score = options.score ?? (canScoreDocuments ? 'document' : 'max');
  if (score === 'document' && !canScoreDocuments) {
    throw new InvalidArgumentError({
      argument: 'retrieve options',
      issues: [
        {
          path: 'groupBy.score',
          message:
            "'document' re-scores whole sources with the sparse embedder: give a sparseEmbedder and a mode that uses it, or pick 'max' or 'sum'",
        },
      ],
    });
  }
  return {
    score,
    passages: options.passages ?? 3,
    candidates: options.candidates ?? Math.min(10_000, Math.max(50, 4 * limit)),
    statistics: options.statistics ?? 'sources',
    titleWeight: options.titleWeight ?? 0,
  };
}

/** A source with its score and its chunk hits (best first). */
export type DocumentHit = { source: string; score: number; chunks: Match[] };

function sourceOf(match: Match): string {
  if (typeof match.payload.source === 'string') return match.payload.source;
  throw new InvalidArgumentError({
    argument: 'collection',
    issues: [
      {
        path: '',
        message: `record ${JSON.stringify(match.id)} has no string payload.source to group by; groupBy reads collections written by ingest(), or records carrying that field`,
      },
    ],
  });
}

/**
 * Groups chunk hits (best first) by `payload.source`, scoring each source by its best chunk (`max`)
 * or the sum of its `passages` best (`sum`); sources in order of that score, ties in order of first hit.
 * A chunk without a string `payload.source` is refused with InvalidArgumentError.
 */
export function groupChunks(matches: readonly Match[], score: 'max' | 'sum', passages: number): DocumentHit[] {
  const groups = new Map<string, Match[]>();
  for (const match of matches) {
    const source = sourceOf(match);
    const group = groups.get(source);
    if (group) group.push(match);
    else groups.set(source, [match]);
  }
  const hits: DocumentHit[] = [];
  for (const [source, chunks] of groups) {
    const sorted = [...chunks].sort((a, b) => b.score - a.score);
    const value =
      score === 'max'
        ? (sorted[0] as Match).score
        : sorted.slice(0, passages).reduce((sum, chunk) => sum + chunk.score, 0);
    hits.push({ source, score: value, chunks: sorted });
  }
  return hits.sort((a, b) => b.score - a.score);
}

/** Texts of whole sources, keyed by source URI: put back together once per query. */
export type SourceTexts = Map<string, string>;

/**
 * The full text of each of `sources`, put back together from the collection's chunks of it that
 * pass `filter`: chunks ordered by their offsets, overlaps written once, a space where a gap is. When
 * a source has chunks of two versions (a re-ingest under way), the version of `versions` is used.
 * Fills `into` and returns it; sources already there are not read again.
 */
export async function loadSourceTexts(options: {
  store: Store;
  collection: string;
  sources: readonly string[];
  /** Source → `payload.sourceHash` of the chunk that matched, when it has one. */
  versions: ReadonlyMap<string, string>;
  filter?: Filter;
  into: SourceTexts;
  /** See `GroupBy.titleWeight`. */
  titleWeight: number;
  abortSignal?: AbortSignal;
}): Promise<SourceTexts> {
  const wanted = [...new Set(options.sources)].filter((source) => !options.into.has(source));
  const chunks = new Map<string, Piece[]>();
  // A bounded number of sources per filter keeps every backend's expression small.
  for (let i = 0; i < wanted.length; i += 256) {
    const bySource: Filter = { op: 'in', field: 'source', values: wanted.slice(i, i + 256) };
    await scrollPieces(
      { ...options, filter: options.filter ? { op: 'and', filters: [bySource, options.filter] } : bySource },
      (source, piece) => {
        const list = chunks.get(source);
        if (list) list.push(piece);
        else chunks.set(source, [piece]);
      },
    );
  }
  for (const source of wanted) {
    const all = chunks.get(source) ?? [];
    const version = options.versions.get(source);
    const same = version === undefined ? all : all.filter((chunk) => chunk.hash === version);
    options.into.set(source, sourceText(same.length > 0 ? same : all, options.titleWeight));
  }
  return options.into;
}

/** A stored chunk as far as putting its source back together goes. */
type Piece = { start: number; end: number; index: number; text: string; hash: unknown; title: unknown };

/** A source's text from its chunks, its title put in front `titleWeight` more times. */
function sourceText(pieces: readonly Piece[], titleWeight: number): string {
  const text = reassemble(pieces);
  const title = pieces.find((piece) => typeof piece.title === 'string' && piece.title.trim() !== '')?.title;
  return titleWeight > 0 && typeof title === 'string' ? `${`${title}\n`.repeat(titleWeight)}${text}` : text;
}

/** Every chunk of the collection passing `filter` with a string `source` and `text`, page by page. */
async function scrollPieces(
  options: { store: Store; collection: string; filter?: Filter; abortSignal?: AbortSignal },
  onPiece: (source: string, piece: Piece) => void,
): Promise<void> {
  let cursor: string | undefined;
  do {
    throwIfAborted(options.abortSignal, 'retrieve');
    const page = await options.store.scroll({
      collection: options.collection,
      limit: 1000,
      ...(options.filter ? { filter: options.filter } : {}),
      ...(cursor ? { cursor } : {}),
      ...(options.abortSignal ? { abortSignal: options.abortSignal } : {}),
    });
    for (const record of page.records) {
      const { source, text, start, end, chunk, sourceHash, title } = record.payload;
      if (typeof source !== 'string' || typeof text !== 'string') continue;
      onPiece(source, {
        title,
        start: typeof start === 'number' ? start : 0,
        end: typeof end === 'number' ? end : text.length,
        index: typeof chunk === 'number' ? chunk : 0,
        text,
        hash: sourceHash,
      });
    }
    cursor = page.nextCursor;
  } while (cursor);
}

type SourceStatisticsOptions = {
  store: Store;
  collection: string;
  /** The collection's chunk statistics (the fork `bindStatistics` returns). */
  embedder: StatisticalEmbedder;
  /** See `GroupBy.titleWeight`. */
  titleWeight: number;
  abortSignal?: AbortSignal;
};

/** Per chunk-statistics fork: a fork counting the collection's sources instead (see `sourceStatistics`). */
const sourceForks = new WeakMap<object, Map<number, Promise<StatisticalEmbedder>>>();

/**
 * A fork of `embedder` (the collection's chunk statistics, from `bindStatistics`) whose statistics
 * count the collection's sources instead: each source's text put back together from all its chunks,
 * counted as one document. Read once per chunk-statistics fork (they are replaced, never changed,
 * when the collection changes). Where a source has chunks of two versions (a re-ingest under way),
 * the version with more chunks counts.
 */
export function sourceStatistics(options: SourceStatisticsOptions): Promise<StatisticalEmbedder> {
  const { embedder, titleWeight } = options;
  let byWeight = sourceForks.get(embedder);
  if (!byWeight) {
    byWeight = new Map();
    sourceForks.set(embedder, byWeight);
  }
  let work = byWeight.get(titleWeight);
  if (!work) {
    const forks = byWeight;
    work = countSources(options);
    forks.set(titleWeight, work);
    // A failed read (an abort, a store error) is not remembered: the next call reads again.
    work.catch(() => forks.delete(titleWeight));
  }
  return work;
}

async function countSources(options: SourceStatisticsOptions): Promise<StatisticalEmbedder> {
  const versions = new Map<string, Map<unknown, Piece[]>>();
  await scrollPieces(options, (source, piece) => {
    const byVersion = versions.get(source) ?? new Map<unknown, Piece[]>();
    const pieces = byVersion.get(piece.hash) ?? [];
    pieces.push(piece);
    byVersion.set(piece.hash, pieces);
    versions.set(source, byVersion);
  });
  const texts = [...versions.values()].map((byVersion) =>
    sourceText(
      [...byVersion.values()].reduce((a, b) => (b.length > a.length ? b : a)),
      options.titleWeight,
    ),
  );
  const fork = options.embedder.fork();
  resetStatistics(fork);
  fork.addDocuments(texts);
  return fork;
}

/** Chunks of one source (any order) → its text: by offset, overlaps once, a space across gaps. */
export function reassemble(chunks: ReadonlyArray<{ start: number; end: number; index: number; text: string }>): string {
  const ordered = [...chunks].sort((a, b) => a.start - b.start || a.index - b.index);
  let text = '';
  let end = Number.NEGATIVE_INFINITY;
  // Whether the text so far ends with a chunk whose text fits its offsets; after one that does not
  // (its last word is not the source's), the next chunk is set apart by a space.
  let fits = true;
  for (const chunk of ordered) {
    const exact = chunk.end - chunk.start === chunk.text.length;
    if (chunk.start >= end || !exact) {
      if (text.length > 0) text += chunk.start > end || !exact || !fits ? ' ' : '';
      text += chunk.text;
      fits = exact;
    } else if (chunk.end > end) {
      text += (fits ? '' : ' ') + chunk.text.slice(end - chunk.start);
      fits = true;
    }
    end = Math.max(end, chunk.end);
  }
  return text;
}

/** Sparse document vectors of whole sources, per embedder (a statistics fork is never changed, only replaced). */
const vectorCache = new WeakMap<object, Map<string, SparseVector>>();
const VECTOR_CACHE_LIMIT = 20_000;

/**
 * Scores whole sources against a sparse query: each source's text weighted as a document by
 * `embedder` (the collection's statistics), dotted with `query`. `keys` identify each source's text
 * (source, version, filter): vectors are kept per embedder under them, so a source is weighted once
 * for as long as the statistics hold. `textOf` gives the texts of the sources not weighted yet.
 */
export async function scoreSources(options: {
  embedder: SparseEmbedder;
  query: SparseVector;
  keys: readonly string[];
  textOf: (missing: readonly number[]) => Promise<readonly string[]>;
  abortSignal?: AbortSignal;
}): Promise<number[]> {
  const { embedder, keys } = options;
  let cache = vectorCache.get(embedder);
  if (!cache) {
    cache = new Map();
    vectorCache.set(embedder, cache);
  }
  // This call's vectors, taken before any await: a clear (this call's or another's) cannot lose them.
  const vectors = keys.map((key) => cache.get(key));
  const missing = vectors.flatMap((vector, i) => (vector === undefined ? [i] : []));
  if (missing.length > 0) {
    const texts = await options.textOf(missing);
    if (cache.size + missing.length > VECTOR_CACHE_LIMIT) cache.clear();
    for (let i = 0; i < texts.length; i += embedder.maxBatchSize) {
      const { vectors: batch } = await embedder.embed({
        values: texts.slice(i, i + embedder.maxBatchSize),
        role: 'document',
        ...(options.abortSignal ? { abortSignal: options.abortSignal } : {}),
      });
      batch.forEach((vector, j) => {
        const index = missing[i + j] as number;
        vectors[index] = vector;
        cache.set(keys[index] as string, vector);
      });
    }
  }
  const weights = new Map<number, number>();
  const { query } = options;
  for (let i = 0; i < query.indices.length; i++) weights.set(query.indices[i] as number, query.values[i] as number);
  return vectors.map((found) => {
    const vector = found as SparseVector;
    let score = 0;
    for (let j = 0; j < vector.indices.length; j++) {
      const weight = weights.get(vector.indices[j] as number);
      if (weight !== undefined) score += weight * (vector.values[j] as number);
    }
    return score;
  });
}
