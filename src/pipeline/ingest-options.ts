/** `ingest`'s options, progress and report, the hand-off to other writers (`kumiki/distributed`), and the option schema. */
import * as z from 'zod';
import type { Catalog } from '../core/catalog.js';
import type { DenseEmbedder, SparseEmbedder } from '../core/embedder.js';
import {
  abortSignalSchema,
  catalogSchema,
  denseEmbedderSchema,
  sparseEmbedderSchema,
  storeSchema,
} from '../core/schemas.js';
import type { Metric, Store } from '../core/store.js';
import { functionSchema } from '../core/validate.js';
import type { LedgerCheck } from './ingest-ledger.js';
import type { Ledger } from './ledger.js';
import type { SourceDocument, Splitter } from './types.js';

export type IngestPhase = 'recover' | 'scan' | 'embed' | 'write' | 'prune' | 'catalog' | 'done';

export type IngestProgress = {
  phase: IngestPhase;
  /** Sources read so far. */
  sources: number;
  /** Sources expected, when the caller said (`total`). */
  total: number | undefined;
  unchanged: number;
  chunksEmbedded: number;
  chunksWritten: number;
};

export type IngestReport = {
  runId: string;
  collection: string;
  added: number;
  updated: number;
  unchanged: number;
  /** Sources removed by `prune`. */
  deleted: number;
  chunksWritten: number;
  chunksDeleted: number;
  /** Calls made to the embedders (dense and sparse together). */
  embeddingCalls: number;
  durationMs: number;
  /** How the ledger was judged against the store before the run (see docs/pipeline.md). */
  ledger: LedgerCheck;
  /** Things the caller should know that did not stop the run, e.g. a ledger that described another store. */
  warnings: string[];
};

export type IngestOptions = {
  store: Store;
  /** Collection (or alias) to write; created with the embedders' spaces when missing. */
  collection: string;
  documents: Iterable<SourceDocument> | AsyncIterable<SourceDocument>;
  embedder?: DenseEmbedder;
  /** A sparse embedder (e.g. `createBm25Encoder()`); BM25 statistics are kept in step with what is written. */
  sparseEmbedder?: SparseEmbedder;
  /** Default: `createRecursiveSplitter()` sized in the dense embedder's tokens when it has a tokenizer. */
  splitter?: Splitter;
  /** Default: an in-memory ledger (a new process re-ingests everything); use `createFileLedger` to persist. */
  ledger?: Ledger;
  /**
   * How long to wait, in ms, when another ingest holds the ledger (in this process or, for a file
   * ledger, in another one) before failing with `LockedError`. Default 0: fail at once.
   */
  lockTimeoutMs?: number;
  catalog?: Catalog;
  /** Name of the store in catalog entries (`<storeName>/<collection>`), default the store's provider. */
  storeName?: string;
  /**
   * Remove sources the ledger knows but this run did not see. Default false. Sources the loader lists
   * as not read this time (`loadPath(...).skipped`) are kept, with a warning.
   */
  prune?: boolean;
  /** Metric of a collection created by ingest, default cosine. */
  metric?: Metric;
  /** Texts per embedding call, default min(64, embedder.maxBatchSize). */
  batchSize?: number;
  /** Embedding calls in flight, default 2 (1 for embedders without parallel calls). */
  concurrency?: number;
  /** Chunks gathered before a write: the unit of work between ledger commits. Default 256. */
  writeBatchChunks?: number;
  /** Number of sources expected, for progress reporting. */
  total?: number;
  runId?: string;
  onProgress?: (progress: IngestProgress) => void;
  abortSignal?: AbortSignal;
};

export const ingestOptionsSchema = z
  .object({
    store: storeSchema,
    collection: z.string().min(1, 'collection must not be empty'),
    documents: z.custom<IngestOptions['documents']>(
      (value) =>
        typeof value === 'object' && value !== null && (Symbol.iterator in value || Symbol.asyncIterator in value),
      'documents must be an iterable or async iterable of SourceDocument (see loadPath, fromStrings)',
    ),
    embedder: denseEmbedderSchema.optional(),
    sparseEmbedder: sparseEmbedderSchema.optional(),
    splitter: z
      .custom<Splitter>(
        (value) => typeof value === 'object' && value !== null && typeof (value as Splitter).split === 'function',
        'splitter must have split() and settings (see createRecursiveSplitter)',
      )
      .optional(),
    ledger: z
      .custom<Ledger>(
        (value) =>
          typeof value === 'object' &&
          value !== null &&
          typeof (value as Ledger).write === 'function' &&
          typeof (value as Ledger).entries === 'function',
        'ledger must be a Ledger (createMemoryLedger, createFileLedger)',
      )
      .optional(),
    lockTimeoutMs: z.number().int().min(0).optional(),
    catalog: catalogSchema.optional(),
    storeName: z.string().min(1).optional(),
    prune: z.boolean().optional(),
    metric: z.enum(['cosine', 'dot', 'euclidean']).optional(),
    batchSize: z.number().int().min(1).max(10_000).optional(),
    concurrency: z.number().int().min(1).max(64).optional(),
    writeBatchChunks: z.number().int().min(1).max(1_000_000).optional(),
    total: z.number().int().min(0).optional(),
    runId: z.string().min(1).optional(),
    onProgress: functionSchema<IngestOptions['onProgress']>('onProgress must be a function').optional(),
    abortSignal: abortSignalSchema.optional(),
  })
  .strict()
  .refine((options) => options.embedder || options.sparseEmbedder, {
    message: 'give an embedder, a sparseEmbedder or both',
    path: ['embedder'],
  });

/**
 * Where `runIngest` hands the changed sources when other processes write them (`kumiki/distributed`):
 * each batch `write` would have written goes to `dispatch.write` instead, and before prune
 * `dispatch.drain` waits until every batch is written and returns what the writers did. Everything
 * else (lock, ledger check, recovery, unchanged sources, prune, catalog, report) stays here.
 */
export type IngestDispatch = {
  write(batch: DispatchedSource[]): Promise<void>;
  drain(): Promise<DispatchedTotals>;
};

export type DispatchedSource = {
  document: SourceDocument;
  /** The version key the writer must commit. */
  key: string;
  /** Chunks the splitter made of it here. */
  chunks: number;
  /** Whether the ledger held a committed version of it before this run (else it is added). */
  updated: boolean;
};

export type DispatchedTotals = Pick<IngestReport, 'chunksWritten' | 'chunksDeleted' | 'embeddingCalls'> & {
  /** Sources written, each counted as added or updated by `DispatchedSource.updated`. */
  written: DispatchedSource[];
};

/** A report with nothing done yet; the ledger is trusted until `checkLedger` says otherwise. */
export function emptyReport(runId: string, collection: string): IngestReport {
  return {
    runId,
    collection,
    added: 0,
    updated: 0,
    unchanged: 0,
    deleted: 0,
    chunksWritten: 0,
    chunksDeleted: 0,
    embeddingCalls: 0,
    durationMs: 0,
    ledger: { trusted: true, reason: undefined, sourcesChecked: 0, sourcesMissing: 0 },
    warnings: [],
  };
}

/** The report's counters, for spans and the catalog. */
export function reportNumbers(report: IngestReport): Record<string, number> {
  return Object.fromEntries(
    Object.entries(report).filter((pair): pair is [string, number] => typeof pair[1] === 'number'),
  );
}
