/**
 * `kumiki/eval` (Node-only): retrieval quality on the CISI test collection, measured through the
 * real pipeline — `ingest()` into a memory store, `retrieve()` per query — next to other JavaScript
 * search libraries configured as in bench/bm25.ts. See docs/evaluation.md.
 */
import { performance } from 'node:perf_hooks';
import * as z from 'zod';
import { createBm25Encoder } from '../bm25/index.js';
import type { DenseEmbedder } from '../core/embedder.js';
import { InvalidArgumentError, MissingDependencyError, throwIfAborted } from '../core/errors.js';
import { abortSignalSchema, denseEmbedderSchema } from '../core/schemas.js';
import { functionSchema, parseArgument } from '../core/validate.js';
import { importOptional } from '../internal/optional.js';
import { ingest } from '../pipeline/ingest.js';
import { fromIterable } from '../pipeline/loaders.js';
import { type RetrievalMode, retrieve } from '../pipeline/retrieve.js';
import { createRecursiveSplitter } from '../pipeline/splitter.js';
import type { SourceDocument, Splitter } from '../pipeline/types.js';
import { createMemoryStore } from '../stores/memory/index.js';
import { type Cisi, documentText, evaluateRankings, loadCisi } from './cisi.js';

export {
  averagePrecision,
  CISI_FILES,
  type Cisi,
  type CisiDocument,
  type CisiQuery,
  documentText,
  evaluateRankings,
  loadCisi,
  type Metrics,
  ndcgAt,
  recallAt,
} from './cisi.js';

export type EvaluationMode = 'lexical' | 'dense' | 'hybrid';

export type EvaluateRetrievalOptions = {
  /** Folder holding CISI.ALL, CISI.QRY and CISI.REL. */
  dataDirectory: string;
  /** kumiki modes to measure, default all three; dense and hybrid need `embedder`. */
  modes?: EvaluationMode[];
  /** The dense model for the dense and hybrid modes; without it those rows are skipped, with the reason. */
  embedder?: DenseEmbedder;
  /** Results kept per query (1–1,000), default 1,000 (the usual TREC depth): MAP is average precision over them. */
  limit?: number;
  /** Also rank with wink-bm25-text-search and minisearch when installed; default true. */
  compare?: boolean;
  /** Called as work advances: `done` of `total` units (a document indexed or a query answered). */
  onProgress?: (done: number, total: number, phase: string) => void;
  abortSignal?: AbortSignal;
};

/** One system in one mode. Metrics and timings are null exactly when the row was skipped (see `note`). */
export type EvaluationRow = {
  system: string;
  mode: string;
  ndcg10: number | null;
  /** Mean average precision over the first `limit` results. */
  map: number | null;
  recall100: number | null;
  /** Building the index: for kumiki, the whole `ingest()` (splitting, embedding, writing). */
  indexMs: number | null;
  /** Mean time per query: for kumiki, one `retrieve()` (query embedding and search). */
  queryMs: number | null;
  note?: string;
};

export type EvaluationResult = {
  dataset: {
    documents: number;
    /** Queries in CISI.QRY. */
    queries: number;
    /** Queries with relevance judgements: only these are scored. */
    judged: number;
    /** Relevance judgements (query, document pairs). */
    judgements: number;
  };
  limit: number;
  rows: EvaluationRow[];
};

const MODES = ['lexical', 'dense', 'hybrid'] as const;

const optionsSchema = z
  .object({
    dataDirectory: z.string().min(1, 'dataDirectory must name the folder holding CISI.ALL, CISI.QRY and CISI.REL'),
    modes: z
      .array(z.enum(MODES, { error: "modes must be 'lexical', 'dense' or 'hybrid'" }))
      .min(1, 'modes must name at least one mode')
      .optional(),
    embedder: denseEmbedderSchema.optional(),
    limit: z.number().int('limit must be an integer').min(1).max(1000, 'limit must be at most 1000').optional(),
    compare: z.boolean().optional(),
    onProgress: functionSchema<EvaluateRetrievalOptions['onProgress']>('onProgress must be a function').optional(),
    abortSignal: abortSignalSchema.optional(),
  })
  .strict();

const URI_PREFIX = 'cisi:';
const KUMIKI = 'kumiki (ingest + retrieve, memory store)';
const MODE_LABEL: Record<EvaluationMode, string> = {
  lexical: 'lexical (BM25)',
  dense: 'dense',
  hybrid: 'hybrid (RRF)',
};

type Progress = { advance(units: number, phase: string): void };
type Ranked = { rankings: Map<string, string[]>; queryMs: number };

/**
 * Measures nDCG@10, MAP (over the first `limit` results) and Recall@100 on CISI for kumiki's
 * lexical, dense and hybrid retrieval through `ingest()` and `retrieve()`, and for the comparison
 * libraries. Throws NotFoundError naming the data directory (or file) when it is missing.
 */
export async function evaluateRetrieval(options: EvaluateRetrievalOptions): Promise<EvaluationResult> {
  const parsed = parseArgument(optionsSchema, options, 'evaluateRetrieval options');
  const limit = parsed.limit ?? 1000;
  const modes = [...new Set(parsed.modes ?? MODES)];
  const compare = parsed.compare ?? true;
  const { embedder, abortSignal } = parsed;
  const cisi = loadCisi(parsed.dataDirectory);

  const documents = cisi.documents.length;
  const queries = cisi.queries.length;
  const denseModes = embedder ? modes.filter((mode) => mode !== 'lexical') : [];
  const indexes = (modes.includes('lexical') ? 1 : 0) + (denseModes.length > 0 ? 1 : 0) + (compare ? 2 : 0);
  const measured = (modes.includes('lexical') ? 1 : 0) + denseModes.length + (compare ? 2 : 0);
  const total = indexes * documents + measured * queries;
  let done = 0;
  const progress: Progress = {
    advance(units, phase) {
      done += units;
      parsed.onProgress?.(done, total, phase);
    },
  };

  const rows: EvaluationRow[] = [];
  const row = (mode: string, indexMs: number, ranked: Ranked, system = KUMIKI, note?: string): EvaluationRow => ({
    system,
    mode,
    ...evaluateRankings(cisi, ranked.rankings),
    indexMs,
    queryMs: ranked.queryMs,
    ...(note ? { note } : {}),
  });
  const skipped = (system: string, mode: string, note: string): EvaluationRow => ({
    system,
    mode,
    ndcg10: null,
    map: null,
    recall100: null,
    indexMs: null,
    queryMs: null,
    note,
  });

  if (modes.includes('lexical')) {
    const index = await buildIndex(cisi, undefined, progress, abortSignal);
    rows.push(row(MODE_LABEL.lexical, index.indexMs, await query(cisi, index, 'sparse', limit, progress, abortSignal)));
    await index.dispose();
  }
  if (embedder && denseModes.length > 0) {
    // One collection with dense and BM25 vectors serves both modes, so the model embeds the corpus once.
    const index = await buildIndex(cisi, embedder, progress, abortSignal);
    const shared = denseModes.length > 1 ? 'one index (dense + BM25) serves the dense and hybrid rows; ' : '';
    const note = `${shared}embedder ${embedder.provider}/${embedder.modelId}`;
    try {
      for (const mode of denseModes) {
        const ranked = await query(cisi, index, mode === 'dense' ? 'dense' : 'hybrid', limit, progress, abortSignal);
        rows.push(row(MODE_LABEL[mode], index.indexMs, ranked, KUMIKI, note));
      }
    } finally {
      await index.dispose();
    }
  } else {
    for (const mode of modes.filter((m) => m !== 'lexical')) {
      rows.push(skipped(KUMIKI, MODE_LABEL[mode], 'skipped: needs a dense embedder (the embedder option); none given'));
    }
  }
  if (compare) {
    rows.push(await runWink(cisi, limit, progress, abortSignal).catch(notInstalled(WINK, skipped)));
    rows.push(await runMiniSearch(cisi, limit, progress, abortSignal).catch(notInstalled(MINISEARCH, skipped)));
  }
  return {
    dataset: {
      documents,
      queries: cisi.queryCount,
      judged: queries,
      judgements: [...cisi.relevant.values()].reduce((sum, set) => sum + set.size, 0),
    },
    limit,
    rows,
  };
}

type Index = Awaited<ReturnType<typeof buildIndex>>;

/** Ingests every CISI document as one chunk of a fresh memory-store collection. */
async function buildIndex(
  cisi: Cisi,
  embedder: DenseEmbedder | undefined,
  progress: Progress,
  abortSignal: AbortSignal | undefined,
) {
  const sources: SourceDocument[] = cisi.documents.map((document) => ({
    uri: `${URI_PREFIX}${document.id}`,
    text: documentText(document),
    contentType: 'text/plain',
  }));
  const longest = Math.max(1, ...sources.map((source) => source.text.length));
  const splitter = wholeDocuments(createRecursiveSplitter({ unit: 'characters', chunkSize: longest, chunkOverlap: 0 }));
  const sparseEmbedder = createBm25Encoder();
  const store = createMemoryStore();
  const collection = 'cisi';
  const phase = `${KUMIKI} ${embedder ? 'dense + BM25' : 'BM25'}: indexing`;
  let reported = 0;
  const started = performance.now();
  try {
    const report = await ingest({
      store,
      collection,
      documents: fromIterable(sources),
      sparseEmbedder,
      ...(embedder ? { embedder } : {}),
      splitter,
      // One write batch: BM25 document weights use the corpus statistics at the time they are
      // computed, so every document must be counted before the first one is weighted.
      writeBatchChunks: sources.length,
      total: sources.length,
      onProgress: ({ sources: read }) => {
        if (read > reported) progress.advance(read - reported, phase);
        reported = read;
      },
      ...(abortSignal ? { abortSignal } : {}),
    });
    const indexMs = performance.now() - started;
    const expected = sources.filter((source) => source.text.trim().length > 0).length;
    if (report.chunksWritten !== expected) {
      throw new InvalidArgumentError({
        argument: 'dataDirectory',
        issues: [
          { path: '', message: `ingest wrote ${report.chunksWritten} chunks for ${expected} non-empty documents` },
        ],
      });
    }
    return {
      store,
      collection,
      sparseEmbedder,
      embedder,
      indexMs,
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
            {
              path: document.uri,
              message: `the document was split into ${chunks.length} chunks; the evaluation ranks whole documents`,
            },
          ],
        });
      }
      return chunks;
    },
  };
}

async function query(
  cisi: Cisi,
  index: Index,
  mode: RetrievalMode,
  limit: number,
  progress: Progress,
  abortSignal: AbortSignal | undefined,
): Promise<Ranked> {
  const rankings = new Map<string, string[]>();
  const phase = `${KUMIKI} ${mode}: querying`;
  const started = performance.now();
  for (const { id, text } of cisi.queries) {
    const chunks =
      text.trim().length === 0
        ? []
        : await retrieve({
            store: index.store,
            collection: index.collection,
            query: text,
            mode,
            sparseEmbedder: index.sparseEmbedder,
            ...(index.embedder ? { embedder: index.embedder } : {}),
            limit,
            ...(abortSignal ? { abortSignal } : {}),
          });
    rankings.set(
      id,
      chunks.map((chunk) => chunk.citation.source.slice(URI_PREFIX.length)),
    );
    progress.advance(1, phase);
  }
  return { rankings, queryMs: (performance.now() - started) / Math.max(1, cisi.queries.length) };
}

const WINK = 'wink-bm25-text-search';
const MINISEARCH = 'minisearch';

function notInstalled(system: string, skipped: (system: string, mode: string, note: string) => EvaluationRow) {
  return (error: unknown): EvaluationRow => {
    if (!MissingDependencyError.isInstance(error)) throw error;
    return skipped(system, 'lexical', `skipped: ${error.packageName} is not installed (npm i -D ${error.packageName})`);
  };
}

/** Ranks every query with `search`, keeping the first `limit` ids. */
function rankAll(
  cisi: Cisi,
  limit: number,
  phase: string,
  progress: Progress,
  abortSignal: AbortSignal | undefined,
  search: (text: string) => string[],
): Ranked {
  const rankings = new Map<string, string[]>();
  const started = performance.now();
  for (const { id, text } of cisi.queries) {
    throwIfAborted(abortSignal, 'evaluateRetrieval');
    rankings.set(id, search(text).slice(0, limit));
    progress.advance(1, phase);
  }
  return { rankings, queryMs: (performance.now() - started) / Math.max(1, cisi.queries.length) };
}

/** wink-bm25-text-search with the wink-nlp-utils preparation its README recommends (as bench/bm25.ts). */
async function runWink(
  cisi: Cisi,
  limit: number,
  progress: Progress,
  abortSignal: AbortSignal | undefined,
): Promise<EvaluationRow> {
  const adapter = 'CISI evaluation';
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
  for (const document of cisi.documents) engine.addDoc({ text: documentText(document) }, document.id);
  engine.consolidate();
  const indexMs = performance.now() - started;
  progress.advance(cisi.documents.length, `${WINK}: indexing`);
  const ranked = rankAll(cisi, limit, `${WINK}: querying`, progress, abortSignal, (text) =>
    engine.search(text, cisi.documents.length).map(([id]) => String(id)),
  );
  return {
    system: WINK,
    mode: 'lexical',
    ...evaluateRankings(cisi, ranked.rankings),
    indexMs,
    queryMs: ranked.queryMs,
    note: 'wink-nlp-utils prep: lowerCase, tokenize0, removeWords, stem, propagateNegations',
  };
}

/** minisearch with its defaults on one text field (as bench/bm25.ts). */
async function runMiniSearch(
  cisi: Cisi,
  limit: number,
  progress: Progress,
  abortSignal: AbortSignal | undefined,
): Promise<EvaluationRow> {
  const MiniSearch = (await importOptional(MINISEARCH, 'CISI evaluation', () => import('minisearch'))).default;
  throwIfAborted(abortSignal, 'evaluateRetrieval');
  const started = performance.now();
  const index = new MiniSearch<{ id: string; text: string }>({ fields: ['text'] });
  index.addAll(cisi.documents.map((document) => ({ id: document.id, text: documentText(document) })));
  const indexMs = performance.now() - started;
  progress.advance(cisi.documents.length, `${MINISEARCH}: indexing`);
  const ranked = rankAll(cisi, limit, `${MINISEARCH}: querying`, progress, abortSignal, (text) =>
    index.search(text).map((hit) => String(hit.id)),
  );
  return {
    system: MINISEARCH,
    mode: 'lexical',
    ...evaluateRankings(cisi, ranked.rankings),
    indexMs,
    queryMs: ranked.queryMs,
    note: 'defaults (one field: title + abstract)',
  };
}

const resultSchema = z.object({
  dataset: z.object({ documents: z.number(), queries: z.number(), judged: z.number(), judgements: z.number() }),
  limit: z.number(),
  rows: z.array(
    z.object({
      system: z.string(),
      mode: z.string(),
      ndcg10: z.number().nullable(),
      map: z.number().nullable(),
      recall100: z.number().nullable(),
      indexMs: z.number().nullable(),
      queryMs: z.number().nullable(),
      note: z.string().optional(),
    }),
  ),
});

/** A Markdown table of the rows and a paragraph stating the setup. */
export function formatEvaluation(result: EvaluationResult): string {
  const { dataset, limit, rows } = parseArgument(resultSchema, result, 'evaluation result');
  const metric = (value: number | null) => (value === null ? '—' : value.toFixed(3));
  const ms = (value: number | null, digits: number) => (value === null ? '—' : `${value.toFixed(digits)} ms`);
  const lines = rows.map(
    (r) =>
      `| ${r.system} | ${r.mode} | ${metric(r.ndcg10)} | ${metric(r.map)} | ${metric(r.recall100)} | ${ms(r.indexMs, 0)} | ${ms(r.queryMs, 2)} | ${r.note ?? ''} |`,
  );
  const setup =
    `CISI: ${dataset.documents} documents (title + abstract), ${dataset.judged} of its ${dataset.queries} queries have ` +
    `relevance judgements (${dataset.judgements} in all) and only those are scored. Each system returns its first ` +
    `${limit} documents per query; nDCG@10 and Recall@100 use binary relevance, MAP is average precision over ` +
    `those ${limit}. kumiki's rows go through the product path: every document is ingested with \`ingest()\` as one ` +
    'chunk into a memory store (BM25 with k1 1.2, b 0.75, English stop words, Porter2 stemming; dense with the ' +
    'embedder named in the note) and each query is answered by `retrieve()` (lexical = sparse BM25, hybrid = ' +
    'reciprocal-rank fusion of dense and BM25). Index time is the whole ingest (or index build); query time is the ' +
    'mean per query.';
  return [
    `| system | mode | nDCG@10 | MAP@${limit} | Recall@100 | index time | query time (mean) | note |`,
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |',
    ...lines,
    '',
    setup,
    '',
  ].join('\n');
}
