import { z } from 'zod';
import { randomHex } from '../core/bytes.js';
import type { Catalog, DatasetRef } from '../core/catalog.js';
import type { DenseEmbedder, SparseEmbedder } from '../core/embedder.js';
import { InvalidArgumentError, throwIfAborted } from '../core/errors.js';
import { type EmbeddingSpace, fingerprint } from '../core/fingerprint.js';
import {
  abortSignalSchema,
  catalogSchema,
  denseEmbedderSchema,
  sparseEmbedderSchema,
  storeSchema,
} from '../core/schemas.js';
import { sha256Hex } from '../core/sha256.js';
import type { CollectionInfo, Metric, Store } from '../core/store.js';
import type { JsonObject, JsonValue, RecordId, SparseVector, VectorRecord } from '../core/types.js';
import { functionSchema, parseArgument } from '../core/validate.js';
import { mapLimit } from '../internal/concurrency.js';
import { recordIngestCatalog } from './ingest-catalog.js';
import { checkLedger, holdLedger, type LedgerCheck } from './ingest-ledger.js';
import { createMemoryLedger, type Ledger, type LedgerChanges, type LedgerEntry } from './ledger.js';
import { createRecursiveSplitter } from './splitter.js';
import {
  INGEST_STATE_KEY,
  type IngestState,
  keepsStatistics,
  readIngestState,
  statisticsWriter,
} from './statistics.js';
import { withSpan } from './telemetry.js';
import type { Chunk, SourceDocument, Splitter } from './types.js';

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

const documentSchema = z
  .object({
    uri: z.string().min(1, 'uri must not be empty'),
    text: z.string(),
    contentType: z.string().min(1),
    modifiedAt: z.string().optional(),
    title: z.string().optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    pageStarts: z.array(z.number().int().min(0)).optional(),
  })
  .strict();

const optionsSchema = z
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

type Work = { document: SourceDocument; key: string; contentHash: string; chunks: Chunk[]; ids: string[] };

/** Chunk ids are derived from the source and its version key, so rewriting a version is idempotent. */
export const chunkId = (source: string, key: string, index: number) =>
  `${sha256Hex(`${source}\n${key}`).slice(0, 32)}-${index}`;

export const newRunId = () => `run-${new Date().toISOString().replace(/[-:.]/g, '')}-${randomHex(4)}`;

/**
 * Loads sources into a collection: splits them, embeds the chunks and writes them, keeping a ledger
 * per source so that a re-run only does the work that changed.
 *
 * - Unchanged sources (same text, chunker settings, embedding spaces, title, metadata) cost nothing,
 *   as long as the ledger still describes the collection (same epoch, no lost writes); otherwise its
 *   entries are checked against the store first, and the report says why.
 * - A changed source's new chunks are written before its old ones are deleted.
 * - `prune: true` removes the chunks of sources this run did not see.
 * - Killed at any point, the next run ends in exactly the state a clean run would have left: the
 *   ledger records intent before each write and removal and cleans up whatever an interrupted run left.
 * - One ingest at a time per ledger: a second one fails with `LockedError` (or waits `lockTimeoutMs`).
 * - A sparse embedder with corpus statistics (BM25) gets the collection's statistics before the run
 *   and they are saved with the collection after each write.
 * - With a `catalog`, the run, its sources, the collection's fields and the embedding model go to it
 *   with lineage source → collection and model → collection.
 */
export function ingest(options: IngestOptions): Promise<IngestReport> {
  return runIngest(options, undefined);
}

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

/** `ingest`, with the writes of changed sources handed to `dispatch` when one is given. Internal. */
export async function runIngest(options: IngestOptions, dispatch: IngestDispatch | undefined): Promise<IngestReport> {
  const parsed = parseArgument(optionsSchema, options, 'ingest options');
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const runId = parsed.runId ?? newRunId();
  const { store, collection, abortSignal } = parsed;
  const signal = abortSignal ? { abortSignal } : {};
  const ledger = parsed.ledger ?? createMemoryLedger();
  const dense = parsed.embedder;
  const sparse = parsed.sparseEmbedder;
  const report: IngestReport = {
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
  let sources = 0;
  let chunksEmbedded = 0;
  const progress = (phase: IngestPhase) =>
    parsed.onProgress?.({
      phase,
      sources,
      total: parsed.total,
      unchanged: report.unchanged,
      chunksEmbedded,
      chunksWritten: report.chunksWritten,
    });

  return withSpan('kumiki.ingest', { 'kumiki.collection': collection, 'kumiki.ingest.run': runId }, async (span) => {
    const [denseSpace, sparseSpace] = await Promise.all([dense?.space(), sparse?.space()]);
    const denseFingerprint = denseSpace ? fingerprint(denseSpace) : undefined;
    const sparseFingerprint = sparseSpace ? fingerprint(sparseSpace) : undefined;
    const splitter =
      parsed.splitter ?? createRecursiveSplitter(dense?.tokenizer ? { tokenizer: await dense.tokenizer() } : {});
    const collectionRef = {
      kind: 'collection' as const,
      name: `${parsed.storeName ?? store.provider}/${collection}`,
    };
    const catalog = parsed.catalog;
    const runBase = {
      id: runId,
      startedAt,
      output: collectionRef,
      chunker: splitter.settings,
      ...(denseFingerprint ? { embeddingFingerprint: denseFingerprint } : {}),
      ...(dense ? { embeddingModel: dense.modelId } : sparse ? { embeddingModel: sparse.modelId } : {}),
    };
    const release = await holdLedger(ledger, parsed.lockTimeoutMs ?? 0, abortSignal);
    const changedSources: DatasetRef[] = [];
    const known = new Map<string, LedgerEntry>();
    let info: CollectionInfo | undefined;
    let statistics: Awaited<ReturnType<typeof statisticsWriter>> | undefined;
    let ledgerId = '';
    try {
      await catalog?.recordRun({ ...runBase, status: 'running', inputs: [] });
      info = await ensureCollection(store, collection, denseSpace, sparseSpace, parsed.metric, abortSignal);
      // BM25 weights depend on the collection's statistics: documents are weighed by a fork holding them.
      if (keepsStatistics(sparse)) {
        statistics = await statisticsWriter({ store, collection, embedder: sparse, info, ...signal });
      }

      for (const entry of await ledger.entries()) if (entry.collection === collection) known.set(entry.source, entry);
      const mark = (await ledger.marks?.())?.find((candidate) => candidate.collection === collection);
      // The ledger's id, kept in its marks (a ledger that keeps none gets a new one each run).
      ledgerId = mark?.ledger ?? randomHex(8);
      const saved = await readIngestState(store, collection, signal);
      report.ledger = await checkLedger({
        store,
        collection,
        info,
        known,
        mark,
        ledgerKeepsMarks: typeof ledger.marks === 'function',
        checkpoint: saved === undefined ? undefined : (saved.state?.checkpoints[ledgerId] ?? null),
        ledgerId,
        ...signal,
      });
      if (!report.ledger.trusted && report.ledger.sourcesMissing > 0) {
        report.warnings.push(
          `The ledger at ${ledger.location} did not describe collection "${collection}" (${report.ledger.reason}); ${report.ledger.sourcesMissing} of ${report.ledger.sourcesChecked} sources it lists were missing from the store and are written again.`,
        );
      }

      progress('recover');
      await recover(known);

      const seen = new Set<string>();
      let batch: Work[] = [];
      let batchChunks = 0;
      progress('scan');
      for await (const item of parsed.documents) {
        throwIfAborted(abortSignal, 'ingest');
        const document = parseArgument(documentSchema, item, `document ${sources}`) as SourceDocument;
        if (seen.has(document.uri)) {
          throw new InvalidArgumentError({
            argument: 'documents',
            issues: [
              {
                path: String(sources),
                message: `source "${document.uri}" appears twice in one ingest; uris must be unique`,
              },
            ],
          });
        }
        seen.add(document.uri);
        sources++;
        const contentHash = sha256Hex(document.text);
        const key = sha256Hex(
          JSON.stringify([
            contentHash,
            splitter.settings,
            denseFingerprint ?? null,
            sparseFingerprint ?? null,
            document.title ?? null,
            document.contentType,
            document.metadata ?? null,
            ...(document.pageStarts === undefined ? [] : [document.pageStarts]),
          ]),
        );
        if (known.get(document.uri)?.key === key) {
          report.unchanged++;
          progress('scan');
          continue;
        }
        const chunks = splitter.split(document);
        batch.push({
          document,
          key,
          contentHash,
          chunks,
          ids: chunks.map((chunk) => chunkId(document.uri, key, chunk.index)),
        });
        batchChunks += chunks.length;
        if (batchChunks >= (parsed.writeBatchChunks ?? 256)) {
          await flush(batch);
          batch = [];
          batchChunks = 0;
        }
      }
      if (batch.length > 0) await flush(batch);
      if (dispatch) {
        const totals = await dispatch.drain();
        for (const source of totals.written) {
          if (source.updated) report.updated++;
          else report.added++;
          changedSources.push({ kind: 'source', name: source.document.uri });
        }
        report.chunksWritten += totals.chunksWritten;
        report.chunksDeleted += totals.chunksDeleted;
        report.embeddingCalls += totals.embeddingCalls;
      }

      if (parsed.prune) {
        // A source the loader could not read this time (loadPath(...).skipped) is not gone: it keeps
        // what was ingested before, rather than losing it to a parse error or a missing library.
        const unread = unreadSources(parsed.documents);
        const kept = [...known.values()].filter((entry) => !seen.has(entry.source) && unread.has(entry.source));
        if (kept.length > 0) {
          report.warnings.push(
            `${kept.length} source(s) the loader could not read this time were kept as last ingested, not pruned: ${kept
              .slice(0, 5)
              .map((entry) => entry.source)
              .join(', ')}${kept.length > 5 ? ', …' : ''}`,
          );
        }
        const gone = [...known.values()].filter((entry) => !seen.has(entry.source) && !unread.has(entry.source));
        if (gone.length > 0) {
          progress('prune');
          await prune(gone);
        }
      }

      report.durationMs = Math.round(performance.now() - started);
      if (catalog) {
        progress('catalog');
        await recordIngestCatalog({
          catalog,
          run: runBase,
          collection: collectionRef,
          collectionName: collection,
          changed: changedSources,
          wrote: changedSources.length > 0 || report.deleted > 0,
          spaces: {
            dense: { space: denseSpace, fingerprint: denseFingerprint },
            sparse: { space: sparseSpace, fingerprint: sparseFingerprint },
          },
          stats: { ...numbers(report), sources },
        });
      }
      for (const [name, value] of Object.entries(numbers(report))) span.setAttribute(`kumiki.ingest.${name}`, value);
      progress('done');
      return report;
    } catch (error) {
      await catalog
        ?.recordRun({
          ...runBase,
          status: 'failed',
          inputs: changedSources,
          finishedAt: new Date().toISOString(),
          error: error instanceof Error ? error.message : String(error),
        })
        .catch(() => undefined);
      throw error;
    } finally {
      await release();
    }

    /** Writes to the ledger (marks are written by `checkpoint`). */
    async function commit(changes: LedgerChanges) {
      await ledger.write(changes);
    }

    /**
     * After a completed write: a new checkpoint token goes to the ledger's mark and, with the sparse
     * statistics, to the collection's state (stores that keep one), so the next run can tell whether
     * the ledger still describes the store. Either may be lost in a crash between them: a mismatch only
     * makes the next run check the ledger against the store.
     */
    async function checkpoint() {
      const token = randomHex(8);
      if (info?.version !== undefined) info = await store.openCollection({ name: collection, ...signal });
      const sparseStatistics = await statistics?.settle(info);
      if (info?.epoch !== undefined) {
        await ledger.write({ mark: { collection, epoch: info.epoch, ledger: ledgerId, checkpoint: token } });
      }
      if (store.setCollectionState) {
        // One document for the collection: other ledgers' checkpoints are kept (a lost update only makes
        // their next run check their ledger against the store).
        const saved = await readIngestState(store, collection, signal);
        const state: IngestState = {
          checkpoints: { ...saved?.state?.checkpoints, [ledgerId]: token },
          ...(sparseStatistics ? { sparseStatistics } : {}),
        };
        // Stamped with the write version read above: a write by someone else since makes it not current.
        await store.setCollectionState({
          collection,
          key: INGEST_STATE_KEY,
          value: state as JsonValue,
          ...(info?.version !== undefined ? { version: info.version } : {}),
          ...signal,
        });
      }
      statistics?.publish(info);
    }

    /** Deletes whatever an interrupted run left: versions being written, superseded ones, removals. */
    async function recover(entries: Map<string, LedgerEntry>) {
      let changed = false;
      for (const entry of [...entries.values()]) {
        if (!entry.pending && !entry.stale && !entry.removing) continue;
        changed = true;
        if (entry.removing) {
          await deleteChunks(idsOf(entry));
          await commit({ remove: [{ collection, source: entry.source }] });
          entries.delete(entry.source);
          report.deleted++;
          continue;
        }
        const committed = new Set(entry.chunkIds);
        const leftovers = [...(entry.pending?.chunkIds ?? []), ...(entry.stale ?? [])].filter(
          (id) => !committed.has(id),
        );
        await deleteChunks([...new Set(leftovers)]);
        const { pending: _pending, stale: _stale, ...clean } = entry;
        if (clean.key === '') {
          await commit({ remove: [{ collection, source: entry.source }] });
          entries.delete(entry.source);
        } else {
          await commit({ put: [clean] });
          entries.set(entry.source, clean);
        }
      }
      if (changed) await checkpoint();
    }

    /** Removes sources this run did not see: marked first, so a kill half-way is finished by the next run. */
    async function prune(gone: LedgerEntry[]) {
      await commit({ put: gone.map((entry) => ({ ...entry, removing: true as const })) });
      await deleteChunks([...new Set(gone.flatMap(idsOf))]);
      await commit({ remove: gone.map((entry) => ({ collection, source: entry.source })) });
      for (const entry of gone) known.delete(entry.source);
      report.deleted += gone.length;
      await checkpoint();
    }

    /** Writes a batch here, or hands it to `dispatch`. */
    async function flush(works: Work[]) {
      if (!dispatch) return write(works);
      await dispatch.write(
        works.map((work) => ({
          document: work.document,
          key: work.key,
          chunks: work.chunks.length,
          updated: (known.get(work.document.uri)?.key ?? '') !== '',
        })),
      );
    }

    async function write(works: Work[]) {
      await withSpan('kumiki.ingest.batch', { 'kumiki.ingest.sources': works.length }, async () => {
        const empty = (source: string, contentHash: string): LedgerEntry => ({
          collection,
          source,
          key: '',
          contentHash,
          chunkIds: [],
          runId,
          ingestedAt: startedAt,
        });
        // 1. Intent: these ids may appear in the store from now on.
        await commit({
          put: works.map((work) => ({
            ...(known.get(work.document.uri) ?? empty(work.document.uri, work.contentHash)),
            pending: { key: work.key, chunkIds: work.ids },
          })),
        });
        // 2. Embed and write the new chunks.
        const ids = works.flatMap((work) => work.ids);
        const texts = works.flatMap((work) => work.chunks.map((chunk) => chunk.text));
        progress('embed');
        const [denseVectors, sparseVectors] = await Promise.all([
          dense ? embedAll(dense, texts) : undefined,
          sparse ? embedSparse(sparse, ids, texts) : undefined,
        ]);
        const records: VectorRecord[] = [];
        let offset = 0;
        for (const work of works) {
          for (const [i, chunk] of work.chunks.entries()) {
            const vector = denseVectors?.[offset];
            const sparseVector = sparseVectors?.[offset];
            records.push({
              id: work.ids[i] as string,
              ...(vector ? { vector } : {}),
              ...(sparseVector ? { sparseVector } : {}),
              payload: chunkPayload(work, chunk, { runId, ingestedAt: startedAt, ledger: ledgerId }),
            });
            offset++;
          }
        }
        progress('write');
        if (records.length > 0) {
          await withSpan(
            'kumiki.store.upsert',
            {
              'kumiki.store.provider': store.provider,
              'kumiki.collection': collection,
              'kumiki.records': records.length,
            },
            () => store.upsert({ collection, records, ...signal }),
          );
          statistics?.wrote();
        }
        report.chunksWritten += records.length;
        // 3. Commit: the new version is the source's; superseded chunk ids are stale until deleted.
        const committed = works.map((work) => {
          const previous = known.get(work.document.uri);
          const keep = new Set(work.ids);
          const stale = [...(previous?.chunkIds ?? [])].filter((id) => !keep.has(id));
          if (previous && previous.key !== '') report.updated++;
          else report.added++;
          changedSources.push({ kind: 'source', name: work.document.uri });
          const entry: LedgerEntry = {
            collection,
            source: work.document.uri,
            key: work.key,
            contentHash: work.contentHash,
            chunkIds: work.ids,
            runId,
            ingestedAt: startedAt,
          };
          return stale.length > 0 ? { ...entry, stale } : entry;
        });
        await commit({ put: committed });
        // 4. Delete what the new versions replaced, then clear the stale lists.
        const stale = committed.flatMap((entry) => entry.stale ?? []);
        if (stale.length > 0) {
          await deleteChunks(stale);
          await commit({
            put: committed.filter((entry) => entry.stale).map(({ stale: _stale, ...entry }) => entry),
          });
        }
        for (const entry of committed) {
          const { stale: _stale, ...clean } = entry;
          known.set(entry.source, clean);
        }
        await checkpoint();
        progress('write');
      });
    }

    async function embedAll(embedder: DenseEmbedder, texts: string[]): Promise<Float32Array[]> {
      return (await embedBatches<Float32Array>(embedder, texts, true)).flat();
    }

    async function embedSparse(embedder: SparseEmbedder, ids: RecordId[], texts: string[]): Promise<SparseVector[]> {
      if (!statistics) return (await embedBatches<SparseVector>(embedder, texts, !dense)).flat();
      // Chunks about to be replaced leave the statistics and the new texts join them before any of
      // the new texts is weighted.
      await statistics.removeStored(ids);
      statistics.embedder.addDocuments(texts);
      return (await embedBatches<SparseVector>(statistics.embedder, texts, !dense)).flat();
    }

    /** `counted`: progress counts the texts this embedder embeds (the dense one, else the sparse one). */
    async function embedBatches<T>(
      embedder: DenseEmbedder | SparseEmbedder,
      texts: string[],
      counted: boolean,
    ): Promise<T[][]> {
      const size = Math.min(parsed.batchSize ?? 64, embedder.maxBatchSize);
      const batches: string[][] = [];
      for (let i = 0; i < texts.length; i += size) batches.push(texts.slice(i, i + size));
      const parallel = embedder.supportsParallelCalls ? (parsed.concurrency ?? 2) : 1;
      return mapLimit(batches, parallel, (values) =>
        withSpan(
          'kumiki.embed',
          {
            'kumiki.embedder.provider': embedder.provider,
            'kumiki.embedder.model': embedder.modelId,
            'kumiki.embed.count': values.length,
          },
          async () => {
            throwIfAborted(abortSignal, 'ingest');
            report.embeddingCalls++;
            const { vectors } = await embedder.embed({ values, role: 'document', ...signal });
            if (vectors.length !== values.length) {
              throw new InvalidArgumentError({
                argument: 'embedder',
                issues: [
                  {
                    path: '',
                    message: `${embedder.provider} returned ${vectors.length} vectors for ${values.length} texts`,
                  },
                ],
              });
            }
            if (counted) chunksEmbedded += values.length;
            progress('embed');
            return vectors as T[];
          },
        ),
      );
    }

    async function deleteChunks(ids: string[]) {
      if (ids.length === 0) return;
      await withSpan(
        'kumiki.store.delete',
        { 'kumiki.store.provider': store.provider, 'kumiki.collection': collection, 'kumiki.records': ids.length },
        async () => {
          await statistics?.removeStored(ids);
          const { deleted } = await store.delete({ collection, ids, ...signal });
          if (deleted > 0) statistics?.wrote();
          report.chunksDeleted += deleted;
        },
      );
    }
  });
}

/** The sources a loader listed as not read (`loadPath(...).skipped`: `{ uri }` entries), if it lists them. */
function unreadSources(documents: unknown): Set<string> {
  const skipped = (documents as { skipped?: unknown }).skipped;
  if (!Array.isArray(skipped)) return new Set();
  return new Set(
    skipped.map((entry) => (entry as { uri?: unknown })?.uri).filter((uri): uri is string => typeof uri === 'string'),
  );
}

/** Every chunk id an entry may have in the store: committed, being written, superseded. */
const idsOf = (entry: LedgerEntry): string[] => [
  ...new Set([...entry.chunkIds, ...(entry.pending?.chunkIds ?? []), ...(entry.stale ?? [])]),
];

/** The report's counters, for spans and the catalog. */
function numbers(report: IngestReport): Record<string, number> {
  return Object.fromEntries(
    Object.entries(report).filter((pair): pair is [string, number] => typeof pair[1] === 'number'),
  );
}

function chunkPayload(
  work: Work,
  chunk: Chunk,
  written: { runId: string; ingestedAt: string; ledger: string },
): JsonObject {
  const { document } = work;
  return {
    text: chunk.text,
    source: document.uri,
    ...(document.title !== undefined ? { title: document.title } : {}),
    ...(chunk.heading !== undefined ? { heading: chunk.heading } : {}),
    ...(chunk.page !== undefined ? { page: chunk.page, pageEnd: chunk.pageEnd ?? chunk.page } : {}),
    chunk: chunk.index,
    start: chunk.start,
    end: chunk.end,
    contentType: document.contentType,
    ...(document.modifiedAt !== undefined ? { modifiedAt: document.modifiedAt } : {}),
    sourceHash: work.contentHash,
    runId: written.runId,
    ingestedAt: written.ingestedAt,
    ledger: written.ledger,
    ...(document.metadata !== undefined ? { metadata: document.metadata } : {}),
  };
}

async function ensureCollection(
  store: Store,
  collection: string,
  denseSpace: EmbeddingSpace | undefined,
  sparseSpace: EmbeddingSpace | undefined,
  metric: Metric | undefined,
  abortSignal: AbortSignal | undefined,
): Promise<CollectionInfo> {
  return withSpan(
    'kumiki.store.createCollection',
    { 'kumiki.store.provider': store.provider, 'kumiki.collection': collection },
    () =>
      store.createCollection({
        name: collection,
        ifExists: 'open',
        ...(denseSpace
          ? { dimensions: denseSpace.dimensions, embeddingSpace: denseSpace, metric: metric ?? 'cosine' }
          : {}),
        ...(sparseSpace ? { sparse: true, sparseEmbeddingSpace: sparseSpace } : {}),
        ...(abortSignal ? { abortSignal } : {}),
      }),
  );
}
