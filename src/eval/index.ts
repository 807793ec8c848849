/**
 * `kumiki/eval` (Node-only): retrieval quality on a test collection (CISI, any SMART or BEIR
 * collection), measured through the real pipeline — `ingest()` into a memory store, `retrieve()` per
 * query, all with their defaults — next to other JavaScript search libraries, and any TREC runs,
 * with a paired randomization test against a baseline. See docs/evaluation.md.
 */
import * as z from 'zod';
import type { DenseEmbedder } from '../core/embedder.js';
import { MissingDependencyError } from '../core/errors.js';
import { DEFAULT_FUSION, type Fusion } from '../core/fusion.js';
import { abortSignalSchema, denseEmbedderSchema } from '../core/schemas.js';
import { functionSchema, parseArgument } from '../core/validate.js';
import { compareWithBaseline } from './baseline.js';
import { loadCollection, splitQueries } from './collection.js';
import { indexCollection, KUMIKI, type Progress, rankQueries } from './kumiki.js';
import { evaluateRankings, type Metrics } from './metrics.js';
import { bestPeer, PEERS } from './peers.js';
import type { EvaluationResult, EvaluationRow, QuerySet } from './report.js';

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
export { type EvaluationIndex, indexCollection, type RankingOptions, rankQueries } from './kumiki.js';
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
export {
  type Comparison,
  type EvaluationResult,
  type EvaluationRow,
  formatEvaluation,
  type QuerySet,
} from './report.js';

export type EvaluationMode = 'lexical' | 'dense' | 'hybrid';

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
    for (const [id, run] of PEERS) {
      try {
        const result = await run({ collection, limit, queries: scored, progress, abortSignal });
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
    compareWithBaseline({
      collection,
      rows,
      rankings: rankingsById,
      scored,
      baseline,
      permutations: parsed.permutations,
    });
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
