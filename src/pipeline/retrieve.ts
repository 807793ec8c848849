import * as z from 'zod';
import { DEFAULT_EXPANSION, isExpandable, type QueryExpansion, queryExpansionSchema } from '../bm25/expansion.js';
import type { DenseEmbedder, Embedder, SparseEmbedder } from '../core/embedder.js';
import { InvalidArgumentError } from '../core/errors.js';
import { type Filter, filterSchema } from '../core/filter.js';
import { fingerprintTracker } from '../core/fingerprint.js';
import { DEFAULT_FUSION, type Fusion, fusionSchema } from '../core/fusion.js';
import { abortSignalSchema, denseEmbedderSchema, sparseEmbedderSchema, storeSchema } from '../core/schemas.js';
import type { Store } from '../core/store.js';
import type { JsonObject, Match, RecordId, SparseVector } from '../core/types.js';
import { functionSchema, parseArgument } from '../core/validate.js';
import { type GroupBy, groupBySchema, resolveGrouping, type SourceTexts, sourceStatistics } from './documents.js';
import { expandSparseQuery, rankSources, type SearchContext, searchFused, searchOne } from './ranking.js';
import { bindStatistics, keepsStatistics, type StatisticalEmbedder } from './statistics.js';
import { withSpan } from './telemetry.js';

export type RetrievalMode = 'dense' | 'sparse' | 'hybrid';

/** Where a retrieved chunk came from: enough to cite it and to find it again. */
export type Citation = {
  /** The source's URI, as ingested. */
  source: string;
  title?: string;
  heading?: string;
  /** Position of the chunk in its source (0-based). */
  chunk: number;
  /** Character offsets of the chunk in the source's text. */
  start: number;
  end: number;
  /** Paged sources (PDF): the page (1-based) the chunk starts on… */
  page?: number;
  /** …and the one it ends on (equal to `page` unless the chunk spans pages). */
  pageEnd?: number;
  modifiedAt?: string;
};

export type RetrievedChunk = { id: RecordId; text: string; score: number; citation: Citation; payload: JsonObject };

/** A source ranked as a whole (`retrieve({ groupBy: 'source' })`), with its best passages. */
export type RetrievedDocument = {
  /** The source's URI, as ingested. */
  source: string;
  /** How well the source answers the query (see `groupBy.score`); comparable within one call. */
  score: number;
  title?: string;
  /** Its best chunks for the query, best first (at most `groupBy.passages`), each with its citation. */
  passages: RetrievedChunk[];
};

/**
 * Re-orders candidates, e.g. with a cross-encoder. Returns the chunks to keep, best first, with their
 * new scores; it may drop candidates but must not invent them.
 */
export type Reranker = (
  query: string,
  chunks: RetrievedChunk[],
  options: { abortSignal?: AbortSignal },
) => Promise<RetrievedChunk[]>;

export type RetrieveOptions = {
  store: Store;
  collection: string;
  query: string;
  /** Default: `hybrid` with both embedders, otherwise the one given. */
  mode?: RetrievalMode;
  embedder?: DenseEmbedder;
  sparseEmbedder?: SparseEmbedder;
  /** Chunks returned, default 5. */
  limit?: number;
  filter?: Filter;
  /**
   * Maximal marginal relevance: picks chunks that are relevant and unlike those already picked.
   * `lambda` 1 is pure relevance, 0 pure diversity (default 0.5); `candidates` fetched first (default 4 × limit).
   */
  mmr?: { lambda?: number; candidates?: number };
  rerank?: Reranker;
  /** Candidates fetched for the reranker, default 4 × limit. */
  rerankCandidates?: number;
  /** Chunks scoring below this (in the store's score, before reranking) are dropped. */
  minScore?: number;
  /**
   * Pseudo-relevance feedback on the BM25 query (sparse and hybrid modes): the first results' best
   * terms are added to the query before the search. On by default with kumiki's BM25 encoder
   * (`DEFAULT_EXPANSION`: Bo1, 10 documents, 10 terms, original weight 0.5); `false` turns it off.
   * Other sparse embedders search without it (asking for it with one is an error).
   */
  expansion?: QueryExpansion | false;
  /**
   * How hybrid mode fuses the dense and the sparse ranking. Default `DEFAULT_FUSION` (a weighted sum,
   * dense weight 0.5, chosen on CISI's training queries); `{ method: 'rrf' }` fuses ranks, in the store when it can.
   */
  fusion?: Fusion;
  abortSignal?: AbortSignal;
};

/** `retrieve` ranking sources instead of chunks. */
export type RetrieveDocumentsOptions = RetrieveOptions & {
  /**
   * Rank sources (documents), not chunks: `limit` sources, each with its best passages. `'source'` is
   * `{ by: 'source' }` with the defaults (see `GroupBy`). Not combined with `mmr` or `rerank`.
   */
  groupBy: GroupBy;
};

const optionsSchema = z
  .object({
    store: storeSchema,
    collection: z.string().min(1, 'collection must not be empty'),
    query: z.string().refine((value) => value.trim().length > 0, 'query must contain text'),
    mode: z.enum(['dense', 'sparse', 'hybrid']).optional(),
    embedder: denseEmbedderSchema.optional(),
    sparseEmbedder: sparseEmbedderSchema.optional(),
    limit: z.number().int().min(1).max(1000).optional(),
    filter: z.optional(filterSchema),
    mmr: z
      .object({
        lambda: z.number().min(0).max(1).optional(),
        candidates: z.number().int().min(1).max(10_000).optional(),
      })
      .strict()
      .optional(),
    rerank: functionSchema<Reranker>(
      'rerank must be a function (query, chunks, options) => Promise<chunks>',
    ).optional(),
    rerankCandidates: z.number().int().min(1).max(10_000).optional(),
    minScore: z.number().refine(Number.isFinite, 'minScore must be finite').optional(),
    expansion: z.union([z.literal(false), queryExpansionSchema]).optional(),
    fusion: z.optional(fusionSchema),
    groupBy: groupBySchema.optional(),
    abortSignal: abortSignalSchema.optional(),
  })
  .strict()
  .superRefine((options, ctx) => {
    if (options.groupBy !== undefined && (options.mmr || options.rerank))
      ctx.addIssue({
        code: 'custom',
        path: ['groupBy'],
        message: 'groupBy ranks sources and cannot be combined with mmr or rerank (they order chunks); drop one',
      });
    if (options.fusion && resolveMode(options) !== 'hybrid')
      ctx.addIssue({ code: 'custom', path: ['fusion'], message: 'fusion applies to hybrid mode only' });
    const mode = options.mode;
    if ((mode === 'dense' || mode === 'hybrid') && !options.embedder)
      ctx.addIssue({ code: 'custom', path: ['embedder'], message: `mode "${mode}" needs a dense embedder` });
    if ((mode === 'sparse' || mode === 'hybrid') && !options.sparseEmbedder)
      ctx.addIssue({ code: 'custom', path: ['sparseEmbedder'], message: `mode "${mode}" needs a sparse embedder` });
    if (!mode && !options.embedder && !options.sparseEmbedder)
      ctx.addIssue({ code: 'custom', path: ['embedder'], message: 'give an embedder, a sparseEmbedder or both' });
  });

/** The retrieval mode `retrieve` uses for these embedders. */
export function resolveMode(options: Pick<RetrieveOptions, 'mode' | 'embedder' | 'sparseEmbedder'>): RetrievalMode {
  if (options.mode) return options.mode;
  if (options.embedder && options.sparseEmbedder) return 'hybrid';
  return options.embedder ? 'dense' : 'sparse';
}

/**
 * Finds the chunks that best answer `query`: dense, sparse (BM25, with pseudo-relevance feedback) or
 * hybrid (a weighted sum or reciprocal-rank fusion) search over any Store, with filters, an optional
 * reranker and MMR diversification. Every result carries its citation. With `groupBy: 'source'` it
 * ranks sources instead, each with its best passages. Reads collections written by `ingest()`
 * (payload `text`, `source`, `chunk`, …).
 */
export function retrieve(options: RetrieveDocumentsOptions): Promise<RetrievedDocument[]>;
export function retrieve(options: RetrieveOptions): Promise<RetrievedChunk[]>;
export async function retrieve(
  options: RetrieveOptions | RetrieveDocumentsOptions,
): Promise<RetrievedChunk[] | RetrievedDocument[]> {
  const parsed = parseArgument(optionsSchema, options, 'retrieve options');
  const mode = resolveMode(parsed);
  const limit = parsed.limit ?? 5;
  const fetch = Math.max(
    limit,
    parsed.mmr ? (parsed.mmr.candidates ?? 4 * limit) : 0,
    parsed.rerank ? (parsed.rerankCandidates ?? 4 * limit) : 0,
  );
  const fusion: Fusion = parsed.fusion ?? DEFAULT_FUSION;
  return withSpan(
    'kumiki.retrieve',
    { 'kumiki.collection': parsed.collection, 'kumiki.retrieve.mode': mode, 'kumiki.retrieve.limit': limit },
    async (span) => {
      const denseEmbedder = mode === 'sparse' ? undefined : (parsed.embedder as DenseEmbedder);
      const sparseEmbedder = mode === 'dense' ? undefined : (parsed.sparseEmbedder as SparseEmbedder);
      const signal = parsed.abortSignal ? { abortSignal: parsed.abortSignal } : {};
      const grouping = parsed.groupBy
        ? resolveGrouping(parsed.groupBy, limit, sparseEmbedder !== undefined)
        : undefined;
      const [dense, sparse] = await Promise.all([
        denseEmbedder ? queryVector(denseEmbedder, parsed.query, parsed.abortSignal) : undefined,
        (async () => {
          if (!sparseEmbedder) return undefined;
          // BM25 query weights come from the collection's statistics (see bindStatistics); ranking
          // whole sources, from statistics that count sources.
          let weigher = sparseEmbedder;
          if (keepsStatistics(sparseEmbedder)) {
            const target = { store: parsed.store, collection: parsed.collection, ...signal };
            weigher = await bindStatistics({ ...target, embedder: sparseEmbedder });
            if (grouping?.score === 'document' && grouping.statistics === 'sources')
              weigher = await sourceStatistics({
                ...target,
                embedder: weigher as StatisticalEmbedder,
                titleWeight: grouping.titleWeight,
              });
          }
          const [vector, space] = await queryVector(weigher, parsed.query, parsed.abortSignal);
          return { vector, space, embedder: weigher };
        })(),
      ]);
      const context: SearchContext = {
        store: parsed.store,
        collection: parsed.collection,
        ...(parsed.filter ? { filter: parsed.filter } : {}),
        ...(parsed.minScore !== undefined ? { minScore: parsed.minScore } : {}),
        ...(parsed.mmr ? { includeVectors: true } : {}),
        ...signal,
        ...(dense ? { dense: { vector: dense[0], space: dense[1] } } : {}),
        ...(sparse ? { sparse } : {}),
      };
      const texts: SourceTexts = new Map();
      if (context.sparse && parsed.expansion !== false) {
        const expandable = isExpandable(context.sparse.embedder);
        if (!expandable && parsed.expansion !== undefined) {
          throw new InvalidArgumentError({
            argument: 'retrieve options',
            issues: [
              {
                path: 'expansion',
                message: `pseudo-relevance feedback reads the statistics of kumiki's BM25 encoder; ${sparseEmbedder?.provider}/${sparseEmbedder?.modelId} has none: drop expansion`,
              },
            ],
          });
        }
        if (expandable) {
          const expansion = { ...DEFAULT_EXPANSION, ...(parsed.expansion ?? {}) };
          context.sparse.vector = await expandSparseQuery(context, expansion, grouping, texts);
        }
      }
      if (grouping) {
        const hits = await rankSources(context, grouping, fusion, limit, texts);
        const documents = hits.map((hit): RetrievedDocument => {
          const passages = hit.chunks.slice(0, grouping.passages).map((match) => toChunk(match, parsed.collection));
          const title = passages[0]?.citation.title;
          return { source: hit.source, score: hit.score, ...(title !== undefined ? { title } : {}), passages };
        });
        span.setAttribute('kumiki.retrieve.results', documents.length);
        return documents;
      }
      const relevant =
        mode !== 'hybrid'
          ? await searchOne(context, mode, fetch)
          : fusion.method === 'weighted'
            ? await searchFused(context, fusion, Math.min(10_000, 4 * fetch), fetch)
            : await searchOne(context, { rrf: fusion.k }, fetch);
      let chunks = relevant.map((match) => toChunk(match, parsed.collection));
      if (parsed.rerank && chunks.length > 0) {
        const rerank = parsed.rerank;
        const candidates = chunks;
        chunks = await withSpan('kumiki.rerank', { 'kumiki.rerank.candidates': candidates.length }, async () =>
          checkReranked(await rerank(parsed.query, candidates, { abortSignal: parsed.abortSignal }), candidates),
        );
      }
      if (parsed.mmr) {
        const byId = new Map(relevant.map((match) => [match.id, match]));
        chunks = maximalMarginalRelevance(chunks, byId, limit, parsed.mmr.lambda ?? 0.5);
      }
      // A reranker's array is copied, not handed back; the chunks built here are returned as they are.
      const results = parsed.rerank || chunks.length > limit ? chunks.slice(0, limit) : chunks;
      span.setAttribute('kumiki.retrieve.results', results.length);
      return results;
    },
  );
}

/** Per embedder, the fingerprint of the space it last described (hashed again only when that changes). */
const spaceFingerprints = new WeakMap<object, ReturnType<typeof fingerprintTracker>>();

/** The query's vector and the fingerprint of the space it lives in (the store checks it against the collection). */
async function queryVector<T>(
  embedder: Embedder<T>,
  query: string,
  abortSignal: AbortSignal | undefined,
): Promise<readonly [T, string]> {
  const [vector, space] = await Promise.all([embedQuery(embedder, query, abortSignal), embedder.space()]);
  let spaceFingerprint = spaceFingerprints.get(embedder);
  if (!spaceFingerprint) {
    spaceFingerprint = fingerprintTracker();
    spaceFingerprints.set(embedder, spaceFingerprint);
  }
  return [vector, spaceFingerprint(space)] as const;
}

async function embedQuery<T>(embedder: Embedder<T>, query: string, abortSignal: AbortSignal | undefined): Promise<T> {
  return withSpan(
    'kumiki.embed',
    {
      'kumiki.embedder.provider': embedder.provider,
      'kumiki.embedder.model': embedder.modelId,
      'kumiki.embed.count': 1,
    },
    async () => {
      const { vectors } = await embedder.embed({
        values: [query],
        role: 'query',
        ...(abortSignal ? { abortSignal } : {}),
      });
      const vector = vectors[0];
      if (vector === undefined)
        throw new InvalidArgumentError({
          argument: 'embedder',
          issues: [{ path: '', message: `${embedder.provider} returned no vector for the query` }],
        });
      return vector;
    },
  );
}

const optionalString = (value: unknown) => (typeof value === 'string' ? value : undefined);
const integer = (value: unknown) => (typeof value === 'number' && Number.isInteger(value) ? value : undefined);

/** A stored chunk as a retrieval result; records without the fields ingest writes are refused, not skipped. */
export function toChunk(match: Match, collection: string): RetrievedChunk {
  const { payload } = match;
  const text = optionalString(payload.text);
  const source = optionalString(payload.source);
  if (text === undefined || source === undefined) {
    throw new InvalidArgumentError({
      argument: 'collection',
      issues: [
        {
          path: '',
          message: `record ${JSON.stringify(match.id)} in "${collection}" has no string payload.text and payload.source; retrieve() reads collections written by ingest(), or records carrying those fields`,
        },
      ],
    });
  }
  const citation: Citation = {
    source,
    chunk: integer(payload.chunk) ?? 0,
    start: integer(payload.start) ?? 0,
    end: integer(payload.end) ?? text.length,
  };
  // One match of many (retrieve may return a thousand): plain property tests, no per-call arrays.
  if (typeof payload.title === 'string') citation.title = payload.title;
  if (typeof payload.heading === 'string') citation.heading = payload.heading;
  if (typeof payload.modifiedAt === 'string') citation.modifiedAt = payload.modifiedAt;
  const page = integer(payload.page);
  if (page !== undefined) {
    citation.page = page;
    citation.pageEnd = integer(payload.pageEnd) ?? page;
  }
  return { id: match.id, text, score: match.score, citation, payload };
}

function checkReranked(reranked: unknown, candidates: readonly RetrievedChunk[]): RetrievedChunk[] {
  const known = new Set(candidates.map((chunk) => chunk.id));
  if (!Array.isArray(reranked) || reranked.some((chunk) => !known.has((chunk as RetrievedChunk)?.id))) {
    throw new InvalidArgumentError({
      argument: 'rerank',
      issues: [
        { path: '', message: 'the reranker must return an array of the chunks it was given (it may drop some)' },
      ],
    });
  }
  return reranked as RetrievedChunk[];
}

type Similarity = (a: Match, b: Match) => number;

/** Cosine similarity of two matches: dense vectors when both have them, otherwise sparse. */
const similarity: Similarity = (a, b) => {
  if (a.vector && b.vector) return cosine(a.vector, b.vector);
  if (a.sparseVector && b.sparseVector) return sparseCosine(a.sparseVector, b.sparseVector);
  return 0;
};

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

function sparseCosine(a: SparseVector, b: SparseVector): number {
  const weights = new Map<number, number>();
  let na = 0;
  for (let i = 0; i < a.indices.length; i++) {
    const value = a.values[i] as number;
    weights.set(a.indices[i] as number, value);
    na += value * value;
  }
  let dot = 0;
  let nb = 0;
  for (let i = 0; i < b.indices.length; i++) {
    const value = b.values[i] as number;
    nb += value * value;
    dot += (weights.get(b.indices[i] as number) ?? 0) * value;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

/**
 * Greedy MMR over candidates in relevance order. Relevance is the candidate's score scaled to [0, 1]
 * within the candidate set, so it is comparable to cosine similarity whatever the metric or fusion.
 */
export function maximalMarginalRelevance(
  chunks: readonly RetrievedChunk[],
  matches: ReadonlyMap<RecordId, Match>,
  limit: number,
  lambda: number,
): RetrievedChunk[] {
  if (chunks.length === 0) return [];
  const scores = chunks.map((chunk) => chunk.score);
  const low = Math.min(...scores);
  const span = Math.max(...scores) - low;
  const relevance = chunks.map((chunk) => (span === 0 ? 1 : (chunk.score - low) / span));
  const picked: number[] = [];
  const left = new Set(chunks.keys());
  while (picked.length < limit && left.size > 0) {
    let best = -1;
    let bestValue = Number.NEGATIVE_INFINITY;
    for (const i of left) {
      const candidate = matches.get((chunks[i] as RetrievedChunk).id) as Match;
      let redundancy = 0;
      for (const j of picked) {
        redundancy = Math.max(
          redundancy,
          similarity(candidate, matches.get((chunks[j] as RetrievedChunk).id) as Match),
        );
      }
      const value = lambda * (relevance[i] as number) - (1 - lambda) * redundancy;
      if (value > bestValue) {
        bestValue = value;
        best = i;
      }
    }
    picked.push(best);
    left.delete(best);
  }
  return picked.map((i) => chunks[i] as RetrievedChunk);
}
