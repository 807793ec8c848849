/**
 * `kumiki/eval` (Node-only): retrieval quality on a test collection (CISI, any SMART or BEIR
 * collection), measured through the real pipeline — `ingest()` into a memory store, `retrieve()` per
 * query, all with their defaults — next to other JavaScript search libraries, and any TREC runs,
 * with a paired randomization test against a baseline. See docs/evaluation.md.
 */
import { performance } from 'node:perf_hooks';
import porter2 from 'wink-porter2-stemmer';
import * as z from 'zod';
import { createBm25Encoder } from '../bm25/index.js';
import { ENGLISH_STOPWORDS } from '../bm25/stopwords.js';
import type { DenseEmbedder } from '../core/embedder.js';
import { InvalidArgumentError, MissingDependencyError, throwIfAborted } from '../core/errors.js';
import { DEFAULT_FUSION, type Fusion } from '../core/fusion.js';
import { abortSignalSchema, denseEmbedderSchema } from '../core/schemas.js';
import { functionSchema, parseArgument } from '../core/validate.js';
import { importOptional } from '../internal/optional.js';
import type { GroupBy } from '../pipeline/documents.js';
import { ingest } from '../pipeline/ingest.js';
import { fromIterable } from '../pipeline/loaders.js';
import { type RetrievalMode, type RetrieveOptions, retrieve } from '../pipeline/retrieve.js';
import { createRecursiveSplitter } from '../pipeline/splitter.js';
import type { SourceDocument, Splitter } from '../pipeline/types.js';
import { createMemoryStore } from '../stores/memory/index.js';
import { collectionText, loadCollection, splitQueries, type TestCollection } from './collection.js';
import { evaluateRankings, METRICS, type Metrics, perQueryMetrics, randomizationTest } from './metrics.js';

export { CISI_FILES, type Cisi, type CisiDocument, type CisiQuery, documentText, loadCisi } from './cisi.js';
export {
  collectionText,
  formatTrecRun,
  loadCollection,
  parseQrels,
  parseTrecRun,
  readTrecRun,
  splitQueries,
  type TestCollection,
  type TestDocument,
  type TestQuery,
} from './collection.js';
export {
  averagePrecision,
  evaluateRankings,
  type Judged,
  type Judgements,
  type Metrics,
  ndcgAt,
  perQueryMetrics,
  randomizationTest,
  recallAt,
  reciprocalRank,
} from './metrics.js';

export type EvaluationMode = 'lexical' | 'dense' | 'hybrid';
export type QuerySet = 'all' | 'train' | 'test';

export type EvaluateRetrievalOptions = {
  /** A test collection's folder: SMART (`CISI.ALL`, `.QRY`, `.REL`) or BEIR (`corpus.jsonl`, …). */
  dataDirectory: string;
  /** A qrels file read instead of the collection's own judgements. */
  qrels?: string;
  /** kumiki modes to measure, default all three; dense and hybrid need `embedder`. */
  modes?: EvaluationMode[];
  /** The dense model for the dense and hybrid modes; without it those rows are skipped, with the reason. */
  embedder?: DenseEmbedder;
  /** Documents ranked per query (1–1,000), default 1,000 (the usual TREC depth): MAP is average precision over them. */
  limit?: number;
  /** Also rank with wink-bm25-text-search and minisearch when installed; default true. */
  compare?: boolean;
  /** Which judged queries are scored: all (default), or the train or test half of `splitQueries`. */
  queries?: QuerySet;
  /** Also measure lexical retrieval with every document in one chunk (no splitting); default false. */
  wholeDocuments?: boolean;
  /** Rankings made elsewhere (e.g. TREC run files read with `readTrecRun`), scored as rows of their own. */
  runs?: ReadonlyArray<{ name: string; rankings: ReadonlyMap<string, readonly string[]> }>;
  /**
   * The row every other row is tested against (a row `id`: `wink-bm25-text-search`, `run:<name>`,
   * `kumiki:lexical`, …). Default: the comparison library with the highest nDCG@10, if any.
   */
  baseline?: string;
  /** Permutations of the randomization test, default 10,000. */
  permutations?: number;
  /** Return each row's rankings in `rankings` (e.g. to save them as TREC runs). */
  keepRankings?: boolean;
  /** Called as work advances: `done` of `total` units (a document indexed or a query answered). */
  onProgress?: (done: number, total: number, phase: string) => void;
  abortSignal?: AbortSignal;
};

/** One metric against the baseline: this row's mean minus the baseline's, their ratio, and the p-value. */
export type Comparison = { difference: number; ratio: number | null; p: number };

/** One system in one mode. Metrics and timings are null exactly when the row was skipped (see `note`). */
export type EvaluationRow = {
  /** Stable name of the row: `kumiki:lexical`, `kumiki:hybrid`, `wink-bm25-text-search`, `run:<name>`, … */
  id: string;
  system: string;
  mode: string;
  ndcg10: number | null;
  /** Mean average precision over the first `limit` results. */
  map: number | null;
  recall100: number | null;
  /** Mean reciprocal rank of the first relevant document. */
  mrr: number | null;
  /** Building the index: for kumiki, the whole `ingest()` (splitting, embedding, writing). */
  indexMs: number | null;
  /** Mean time per query: for kumiki, one `retrieve()` (query embedding and search). */
  queryMs: number | null;
  note?: string;
  /** Paired randomization test against the baseline row (absent on the baseline and skipped rows). */
  versus?: { baseline: string } & Record<keyof Metrics, Comparison>;
};

export type EvaluationResult = {
  dataset: {
    name: string;
    format: 'smart' | 'beir';
    documents: number;
    /** Queries in the collection. */
    queries: number;
    /** Queries with relevance judgements. */
    judged: number;
    /** Relevance judgements (query, document pairs). */
    judgements: number;
    /** Which judged queries were scored, and how many. */
    split: QuerySet;
    scored: number;
  };
  limit: number;
  /** The baseline row's id, when there is one. */
  baseline?: string;
  rows: EvaluationRow[];
  /** With `keepRankings`: row id → query id → document ids, best first. */
  rankings?: Record<string, Record<string, string[]>>;
};

const MODES = ['lexical', 'dense', 'hybrid'] as const;

const rankingsSchema = z.custom<ReadonlyMap<string, readonly string[]>>(
  (value) => value instanceof Map,
  'rankings must be a Map of query id → document ids (see readTrecRun)',
);

const optionsSchema = z
  .object({
    dataDirectory: z.string().min(1, 'dataDirectory must name the folder holding the test collection'),
    qrels: z.string().min(1).optional(),
    modes: z
      .array(z.enum(MODES, { error: "modes must be 'lexical', 'dense' or 'hybrid'" }))
      .min(1, 'modes must name at least one mode')
      .optional(),
    embedder: denseEmbedderSchema.optional(),
    limit: z.number().int('limit must be an integer').min(1).max(1000, 'limit must be at most 1000').optional(),
    compare: z.boolean().optional(),
    queries: z.enum(['all', 'train', 'test'], { error: "queries must be 'all', 'train' or 'test'" }).optional(),
    wholeDocuments: z.boolean().optional(),
    runs: z.array(z.object({ name: z.string().min(1), rankings: rankingsSchema }).strict()).optional(),
    baseline: z.string().min(1).optional(),
    permutations: z.number().int().min(100).max(1_000_000).optional(),
    keepRankings: z.boolean().optional(),
    onProgress: functionSchema<EvaluateRetrievalOptions['onProgress']>('onProgress must be a function').optional(),
    abortSignal: abortSignalSchema.optional(),
  })
  .strict();

const KUMIKI = 'kumiki (ingest + retrieve, memory store)';
const WINK = 'wink-bm25-text-search';
const MINISEARCH = 'minisearch';

type Progress = { advance(units: number, phase: string): void };
const noProgress: Progress = { advance() {} };
type Ranked = { rankings: Map<string, string[]>; queryMs: number };

/**
 * Measures nDCG@10, MAP (over the first `limit` results), Recall@100 and MRR on a test collection for
 * kumiki's lexical, dense and hybrid retrieval through `ingest()` and `retrieve()` with their
 * defaults (the default splitter, sources ranked with `groupBy: 'source'`), for the comparison
 * libraries and for the `runs` given, each tested against the baseline with a paired randomization
 * test. Throws NotFoundError naming the data directory (or file) when it is missing.
 */
export async function evaluateRetrieval(options: EvaluateRetrievalOptions): Promise<EvaluationResult> {
  const parsed = parseArgument(optionsSchema, options, 'evaluateRetrieval options');
  const limit = parsed.limit ?? 1000;
  const modes = [...new Set(parsed.modes ?? MODES)];
  const compare = parsed.compare ?? true;
  const split = parsed.queries ?? 'all';
  const { embedder, abortSignal } = parsed;
  const collection = loadCollection(parsed.dataDirectory, parsed.qrels ? { qrels: parsed.qrels } : {});
  const scored = split === 'all' ? undefined : splitQueries(collection)[split];
  const queryCount = scored?.size ?? collection.queries.length;

  const documents = collection.documents.length;
  const lexical = modes.includes('lexical');
  const denseModes = embedder ? modes.filter((mode) => mode !== 'lexical') : [];
  const hybridRows = denseModes.includes('hybrid') ? 2 : 0;
  const indexes =
    (lexical ? 1 : 0) +
    (lexical && parsed.wholeDocuments ? 1 : 0) +
    (denseModes.length > 0 ? 1 : 0) +
    (compare ? 2 : 0);
  const measured =
    (lexical ? 1 : 0) +
    (lexical && parsed.wholeDocuments ? 1 : 0) +
    (denseModes.includes('dense') ? 1 : 0) +
    hybridRows +
    (compare ? 2 : 0);
  const total = indexes * documents + measured * queryCount;
  let done = 0;
  const progress: Progress = {
    advance(units, phase) {
      done += units;
      parsed.onProgress?.(done, total, phase);
    },
  };

  const rows: EvaluationRow[] = [];
  const rankingsById = new Map<string, ReadonlyMap<string, readonly string[]>>();
  const add = (row: Omit<EvaluationRow, keyof Metrics>, rankings: ReadonlyMap<string, readonly string[]>) => {
    rows.push({ ...row, ...evaluateRankings(collection, rankings, scored) } as EvaluationRow);
    rankingsById.set(row.id, rankings);
  };
  const skipped = (id: string, system: string, mode: string, note: string): EvaluationRow => ({
    id,
    system,
    mode,
    ndcg10: null,
    map: null,
    recall100: null,
    mrr: null,
    indexMs: null,
    queryMs: null,
    note,
  });
  const rank = { limit, queries: scored, progress, ...(abortSignal ? { abortSignal } : {}) };

  if (lexical) {
    const index = await indexCollection(collection, { progress, ...(abortSignal ? { abortSignal } : {}) });
    try {
      const ranked = await rankQueries(collection, index, { ...rank, mode: 'sparse' });
      add(
        {
          id: 'kumiki:lexical',
          system: KUMIKI,
          mode: 'lexical (BM25)',
          indexMs: index.indexMs,
          queryMs: ranked.queryMs,
          note: `${index.chunks} chunks (default splitter); defaults`,
        },
        ranked.rankings,
      );
    } finally {
      await index.dispose();
    }
    if (parsed.wholeDocuments) {
      const whole = await indexCollection(collection, {
        chunking: 'whole',
        progress,
        ...(abortSignal ? { abortSignal } : {}),
      });
      try {
        const ranked = await rankQueries(collection, whole, { ...rank, mode: 'sparse' });
        add(
          {
            id: 'kumiki:lexical-whole',
            system: KUMIKI,
            mode: 'lexical (BM25), one chunk per document',
            indexMs: whole.indexMs,
            queryMs: ranked.queryMs,
            note: 'no splitting; defaults otherwise',
          },
          ranked.rankings,
        );
      } finally {
        await whole.dispose();
      }
    }
  }
  if (embedder && denseModes.length > 0) {
    // One collection with dense and BM25 vectors serves every row, so the model embeds the corpus once.
    const index = await indexCollection(collection, { embedder, progress, ...(abortSignal ? { abortSignal } : {}) });
    const note = `embedder ${embedder.provider}/${embedder.modelId}; ${index.chunks} chunks; one index for the dense and hybrid rows`;
    try {
      if (denseModes.includes('dense')) {
        const ranked = await rankQueries(collection, index, { ...rank, mode: 'dense' });
        add(
          { id: 'kumiki:dense', system: KUMIKI, mode: 'dense', indexMs: index.indexMs, queryMs: ranked.queryMs, note },
          ranked.rankings,
        );
      }
      if (denseModes.includes('hybrid')) {
        const fusions: Array<[string, string, Fusion]> = [
          ['kumiki:hybrid', `hybrid (weighted, dense ${DEFAULT_FUSION.denseWeight}; default)`, DEFAULT_FUSION],
          ['kumiki:hybrid-rrf', 'hybrid (RRF, k 60)', { method: 'rrf' }],
        ];
        for (const [id, mode, fusion] of fusions) {
          const ranked = await rankQueries(collection, index, { ...rank, mode: 'hybrid', retrieve: { fusion } });
          add({ id, system: KUMIKI, mode, indexMs: index.indexMs, queryMs: ranked.queryMs, note }, ranked.rankings);
        }
      }
    } finally {
      await index.dispose();
    }
  } else {
    for (const mode of modes.filter((m) => m !== 'lexical')) {
      rows.push(
        skipped(`kumiki:${mode}`, KUMIKI, mode, 'skipped: needs a dense embedder (the embedder option); none given'),
      );
    }
  }
  if (compare) {
    for (const [id, run] of [
      [WINK, runWink],
      [MINISEARCH, runMiniSearch],
    ] as const) {
      try {
        const result = await run(collection, limit, scored, progress, abortSignal);
        add(
          { id, system: id, mode: 'lexical', indexMs: result.indexMs, queryMs: result.queryMs, note: result.note },
          result.rankings,
        );
      } catch (error) {
        if (!MissingDependencyError.isInstance(error)) throw error;
        rows.push(
          skipped(id, id, 'lexical', `skipped: ${error.packageName} is not installed (npm i -D ${error.packageName})`),
        );
      }
    }
  }
  for (const run of parsed.runs ?? []) {
    const rankings = new Map([...run.rankings].map(([query, ranking]) => [query, ranking.slice(0, limit)]));
    add(
      {
        id: `run:${run.name}`,
        system: run.name,
        mode: 'run',
        indexMs: null,
        queryMs: null,
        note: 'TREC run, cut at limit',
      },
      rankings,
    );
  }

  const baseline = parsed.baseline ?? bestPeer(rows);
  if (baseline !== undefined) {
    const base = rows.find((row) => row.id === baseline && row.ndcg10 !== null);
    if (!base) {
      throw new InvalidArgumentError({
        argument: 'evaluateRetrieval options',
        issues: [
          {
            path: 'baseline',
            message: `no measured row "${baseline}"; rows: ${rows
              .filter((row) => row.ndcg10 !== null)
              .map((row) => row.id)
              .join(', ')}`,
          },
        ],
      });
    }
    const basePerQuery = perQueryMetrics(collection, rankingsById.get(baseline) as Map<string, string[]>, scored);
    for (const row of rows) {
      if (row === base || row.ndcg10 === null) continue;
      const perQuery = perQueryMetrics(collection, rankingsById.get(row.id) as Map<string, string[]>, scored);
      const versus = { baseline } as NonNullable<EvaluationRow['versus']>;
      for (const metric of METRICS) {
        const test = randomizationTest(
          perQuery.map((value) => value[metric]),
          basePerQuery.map((value) => value[metric]),
          parsed.permutations ? { permutations: parsed.permutations } : {},
        );
        const mean = base[metric] as number;
        versus[metric] = {
          difference: test.difference,
          ratio: mean > 0 ? (row[metric] as number) / mean : null,
          p: test.p,
        };
      }
      row.versus = versus;
    }
  }
  return {
    dataset: {
      name: collection.name,
      format: collection.format,
      documents,
      queries: collection.queryCount,
      judged: collection.queries.length,
      judgements: collection.judgements,
      split,
      scored: queryCount,
    },
    limit,
    ...(baseline !== undefined ? { baseline } : {}),
    rows,
    ...(parsed.keepRankings
      ? {
          rankings: Object.fromEntries(
            [...rankingsById].map(([id, rankings]) => [
              id,
              Object.fromEntries([...rankings].map(([q, r]) => [q, [...r]])),
            ]),
          ),
        }
      : {}),
  };
}

/** The comparison library with the highest nDCG@10, if one was measured. */
function bestPeer(rows: readonly EvaluationRow[]): string | undefined {
  const peers = rows.filter((row) => (row.id === WINK || row.id === MINISEARCH) && row.ndcg10 !== null);
  peers.sort((a, b) => (b.ndcg10 as number) - (a.ndcg10 as number));
  return peers[0]?.id;
}

/** A collection ingested into a memory store, ready for `rankQueries`. */
export type EvaluationIndex = Awaited<ReturnType<typeof indexCollection>>;

/**
 * Ingests every document of `collection` (`uri: <name>:<id>`, text: title and text, its title) into a
 * fresh memory-store collection with a new BM25 encoder and `embedder` if given: split by ingest's
 * default splitter, or kept whole (`chunking: 'whole'`; a document split anyway throws).
 */
export async function indexCollection(
  collection: TestCollection,
  options: {
    embedder?: DenseEmbedder;
    chunking?: 'default' | 'whole';
    progress?: Progress;
    abortSignal?: AbortSignal;
  } = {},
) {
  const { embedder, abortSignal } = options;
  const progress = options.progress ?? noProgress;
  const prefix = `${collection.name}:`;
  const sources: SourceDocument[] = collection.documents.map((document) => ({
    uri: `${prefix}${document.id}`,
    text: collectionText(document),
    contentType: 'text/plain',
    ...(document.title ? { title: document.title } : {}),
  }));
  const longest = Math.max(1, ...sources.map((source) => source.text.length));
  const splitter =
    options.chunking === 'whole'
      ? wholeDocuments(createRecursiveSplitter({ unit: 'characters', chunkSize: longest, chunkOverlap: 0 }))
      : undefined;
  const sparseEmbedder = createBm25Encoder();
  const store = createMemoryStore();
  const name = 'evaluation';
  const phase = `${KUMIKI} ${embedder ? 'dense + BM25' : 'BM25'}${options.chunking === 'whole' ? ', whole documents' : ''}: indexing`;
  let reported = 0;
  const started = performance.now();
  try {
    const report = await ingest({
      store,
      collection: name,
      documents: fromIterable(sources),
      sparseEmbedder,
      ...(embedder ? { embedder } : {}),
      ...(splitter ? { splitter } : {}),
      // One write batch: BM25 document weights use the corpus statistics at the time they are
      // computed, so every document must be counted before the first one is weighted.
      writeBatchChunks: 1_000_000,
      total: sources.length,
      onProgress: ({ sources: read }) => {
        if (read > reported) progress.advance(read - reported, phase);
        reported = read;
      },
      ...(abortSignal ? { abortSignal } : {}),
    });
    return {
      store,
      collection: name,
      prefix,
      sparseEmbedder,
      embedder,
      chunks: report.chunksWritten,
      indexMs: performance.now() - started,
      dispose: () => store.dispose(),
    };
  } catch (error) {
    await store.dispose();
    throw error;
  }
}

/** Refuses to split: every document must be exactly one chunk (or none, when it has no text). */
function wholeDocuments(splitter: Splitter): Splitter {
  return {
    settings: splitter.settings,
    split(document) {
      const chunks = splitter.split(document);
      if (chunks.length > 1) {
        throw new InvalidArgumentError({
          argument: 'dataDirectory',
          issues: [
            { path: document.uri, message: `the document was split into ${chunks.length} chunks; expected one` },
          ],
        });
      }
      return chunks;
    },
  };
}

/** Retrieval options an evaluation may vary (everything else is the query's and the index's). */
export type RankingOptions = Pick<RetrieveOptions, 'expansion' | 'fusion' | 'minScore'> & {
  /** How sources are ranked, default `'source'`; `false` ranks chunks and keeps each source's first. */
  groupBy?: GroupBy | false;
};

/**
 * Ranks the judged queries (or those in `queries`) with `retrieve()`: sources (`groupBy: 'source'`
 * unless `retrieve.groupBy` says otherwise; `false`: chunks, each source at its best chunk), `limit`
 * per query, document ids best first.
 */
export async function rankQueries(
  collection: TestCollection,
  index: EvaluationIndex,
  options: {
    mode: RetrievalMode;
    limit?: number;
    queries?: ReadonlySet<string> | undefined;
    retrieve?: RankingOptions;
    progress?: Progress;
    abortSignal?: AbortSignal;
  },
): Promise<Ranked> {
  const rankings = new Map<string, string[]>();
  const progress = options.progress ?? noProgress;
  const phase = `${KUMIKI} ${options.mode}: querying`;
  const queries = collection.queries.filter((query) => options.queries === undefined || options.queries.has(query.id));
  const started = performance.now();
  const { groupBy = 'source', ...retrieveOptions } = options.retrieve ?? {};
  for (const { id, text } of queries) {
    const base = {
      store: index.store,
      collection: index.collection,
      query: text,
      mode: options.mode,
      sparseEmbedder: index.sparseEmbedder,
      ...(index.embedder ? { embedder: index.embedder } : {}),
      limit: options.limit ?? 1000,
      ...retrieveOptions,
      ...(options.abortSignal ? { abortSignal: options.abortSignal } : {}),
    };
    let sources: string[] = [];
    if (text.trim().length > 0) {
      sources =
        groupBy === false
          ? // Chunks, best first (as many as retrieve returns), each source at its first chunk.
            [...new Set((await retrieve({ ...base, limit: 1000 })).map((chunk) => chunk.citation.source))].slice(
              0,
              base.limit,
            )
          : (await retrieve({ ...base, groupBy })).map((document) => document.source);
    }
    rankings.set(
      id,
      sources.map((source) => source.slice(index.prefix.length)),
    );
    progress.advance(1, phase);
  }
  return { rankings, queryMs: (performance.now() - started) / Math.max(1, queries.length) };
}

/** Ranks the scored queries with `search`, keeping the first `limit` ids. */
function rankAll(
  collection: TestCollection,
  limit: number,
  queries: ReadonlySet<string> | undefined,
  phase: string,
  progress: Progress,
  abortSignal: AbortSignal | undefined,
  search: (text: string) => string[],
): Ranked {
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
async function runWink(
  collection: TestCollection,
  limit: number,
  queries: ReadonlySet<string> | undefined,
  progress: Progress,
  abortSignal: AbortSignal | undefined,
): Promise<PeerResult> {
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
  const ranked = rankAll(collection, limit, queries, `${WINK}: querying`, progress, abortSignal, (text) =>
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
async function runMiniSearch(
  collection: TestCollection,
  limit: number,
  queries: ReadonlySet<string> | undefined,
  progress: Progress,
  abortSignal: AbortSignal | undefined,
): Promise<PeerResult> {
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
  const ranked = rankAll(collection, limit, queries, `${MINISEARCH}: querying`, progress, abortSignal, (text) =>
    index.search(text).map((hit) => String(hit.id)),
  );
  return { ...ranked, indexMs, note: "Porter2 stemming (wink-porter2-stemmer), English stop words (kumiki's list)" };
}

const comparisonSchema = z.object({ difference: z.number(), ratio: z.number().nullable(), p: z.number() });
const resultSchema = z.object({
  dataset: z.object({
    name: z.string(),
    format: z.enum(['smart', 'beir']),
    documents: z.number(),
    queries: z.number(),
    judged: z.number(),
    judgements: z.number(),
    split: z.enum(['all', 'train', 'test']),
    scored: z.number(),
  }),
  limit: z.number(),
  baseline: z.string().optional(),
  rows: z.array(
    z.object({
      id: z.string(),
      system: z.string(),
      mode: z.string(),
      ndcg10: z.number().nullable(),
      map: z.number().nullable(),
      recall100: z.number().nullable(),
      mrr: z.number().nullable(),
      indexMs: z.number().nullable(),
      queryMs: z.number().nullable(),
      note: z.string().optional(),
      versus: z
        .object({
          baseline: z.string(),
          ndcg10: comparisonSchema,
          map: comparisonSchema,
          recall100: comparisonSchema,
          mrr: comparisonSchema,
        })
        .optional(),
    }),
  ),
  rankings: z.unknown().optional(),
});

/** Markdown: the metrics table, the comparison with the baseline, and a paragraph stating the setup. */
export function formatEvaluation(result: EvaluationResult): string {
  const { dataset, limit, rows, baseline } = parseArgument(resultSchema, result, 'evaluation result');
  const metric = (value: number | null) => (value === null ? '—' : value.toFixed(3));
  const ms = (value: number | null, digits: number) => (value === null ? '—' : `${value.toFixed(digits)} ms`);
  const lines = rows.map(
    (r) =>
      `| ${r.system} | ${r.mode} | ${metric(r.ndcg10)} | ${metric(r.map)} | ${metric(r.recall100)} | ${metric(r.mrr)} | ${ms(r.indexMs, 0)} | ${ms(r.queryMs, 2)} | ${r.note ?? ''} |`,
  );
  const compared = rows.filter((row) => row.versus);
  const cell = (c: Comparison) =>
    `${c.ratio === null ? '—' : `${c.ratio.toFixed(3)}×`} (${c.difference >= 0 ? '+' : ''}${c.difference.toFixed(3)}, p ${c.p < 0.001 ? '< 0.001' : c.p.toFixed(3)})`;
  const versus =
    baseline === undefined
      ? []
      : [
          `Against the baseline \`${baseline}\`: ratio of the means (difference, two-sided p of a paired randomization test over the ${dataset.scored} queries):`,
          '',
          '| row | nDCG@10 | MAP | Recall@100 | MRR |',
          '| --- | --- | --- | --- | --- |',
          ...compared.map((row) => {
            const v = row.versus as NonNullable<EvaluationRow['versus']>;
            return `| ${row.id} (${row.mode}) | ${cell(v.ndcg10)} | ${cell(v.map)} | ${cell(v.recall100)} | ${cell(v.mrr)} |`;
          }),
          '',
        ];
  const queries =
    dataset.split === 'all'
      ? `${dataset.judged} of its ${dataset.queries} queries have relevance judgements (${dataset.judgements} in all) and only those are scored`
      : `the ${dataset.split} half of its ${dataset.judged} judged queries (${dataset.scored}: every ${dataset.split === 'train' ? 'odd' : 'even'} one in id order) is scored`;
  const setup =
    `${dataset.name} (${dataset.format === 'smart' ? 'SMART' : 'BEIR'} format): ${dataset.documents} documents (title + text), ${queries}. ` +
    `Each system returns its first ${limit} documents per query; nDCG@10 uses the judgement grades as gains, MAP is ` +
    `average precision over those ${limit}, Recall@100 and MRR count documents graded above 0. kumiki's rows go through ` +
    'the product path with its defaults: every document is ingested with `ingest()` into a memory store (default ' +
    'splitter; BM25 with k1 1.2, b 0.75, English stop words, Porter2 stemming) and each query is answered by ' +
    "`retrieve({ groupBy: 'source' })` (sources scored whole, BM25 with Bo1 pseudo-relevance feedback; hybrid fuses " +
    'dense and BM25 as the mode says). Index time is the whole ingest (or index build); query time is the mean per query.';
  return [
    `| system | mode | nDCG@10 | MAP@${limit} | Recall@100 | MRR | index time | query time (mean) | note |`,
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...lines,
    '',
    ...versus,
    setup,
    '',
  ].join('\n');
}
