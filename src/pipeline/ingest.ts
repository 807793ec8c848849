import { randomHex } from '../core/bytes.js';
import type { DatasetRef } from '../core/catalog.js';
import { throwIfAborted } from '../core/errors.js';
import { type EmbeddingSpace, fingerprint } from '../core/fingerprint.js';
import type { CollectionInfo, Metric, Store } from '../core/store.js';
import { parseArgument } from '../core/validate.js';
import { recordIngestCatalog } from './ingest-catalog.js';
import { embedChunks } from './ingest-embed.js';
import { checkLedger, holdLedger } from './ingest-ledger.js';
import {
  emptyReport,
  type IngestDispatch,
  type IngestOptions,
  type IngestPhase,
  type IngestReport,
  ingestOptionsSchema,
  reportNumbers,
} from './ingest-options.js';
import { readSource, sourceVersion, sourceWork, unseenSources, type Work } from './ingest-sources.js';
import { createIngestWriter } from './ingest-write.js';
import { createMemoryLedger, type LedgerEntry } from './ledger.js';
import { createRecursiveSplitter } from './splitter.js';
import { keepsStatistics, readIngestState, statisticsWriter } from './statistics.js';
import { withSpan } from './telemetry.js';

export type {
  DispatchedSource,
  DispatchedTotals,
  IngestDispatch,
  IngestOptions,
  IngestPhase,
  IngestProgress,
  IngestReport,
} from './ingest-options.js';

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

/** `ingest`, with the writes of changed sources handed to `dispatch` when one is given. Internal. */
export async function runIngest(options: IngestOptions, dispatch: IngestDispatch | undefined): Promise<IngestReport> {
  const parsed = parseArgument(ingestOptionsSchema, options, 'ingest options');
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const runId = parsed.runId ?? newRunId();
  const { store, collection, abortSignal } = parsed;
  const signal = abortSignal ? { abortSignal } : {};
  const ledger = parsed.ledger ?? createMemoryLedger();
  const dense = parsed.embedder;
  const sparse = parsed.sparseEmbedder;
  const report = emptyReport(runId, collection);
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
    try {
      await catalog?.recordRun({ ...runBase, status: 'running', inputs: [] }, signal);
      const info = await ensureCollection(store, collection, denseSpace, sparseSpace, parsed.metric, abortSignal);
      // BM25 weights depend on the collection's statistics: documents are weighed by a fork holding them.
      const statistics = keepsStatistics(sparse)
        ? await statisticsWriter({ store, collection, embedder: sparse, info, ...signal })
        : undefined;

      for (const entry of await ledger.entries()) if (entry.collection === collection) known.set(entry.source, entry);
      const mark = (await ledger.marks?.())?.find((candidate) => candidate.collection === collection);
      // The ledger's id, kept in its marks (a ledger that keeps none gets a new one each run).
      const ledgerId = mark?.ledger ?? randomHex(8);
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
      const writer = createIngestWriter({
        store,
        collection,
        info,
        ledger,
        ledgerId,
        known,
        statistics,
        runId,
        startedAt,
        report,
        changed: changedSources,
        embed: (ids, texts) =>
          embedChunks(
            {
              dense,
              sparse,
              statistics,
              batchSize: parsed.batchSize,
              concurrency: parsed.concurrency,
              abortSignal,
              onCall: () => {
                report.embeddingCalls++;
              },
              onEmbedded: (count) => {
                chunksEmbedded += count;
                progress('embed');
              },
            },
            ids,
            texts,
          ),
        progress,
        abortSignal,
      });

      /** Writes a batch here, or hands it to `dispatch`. */
      const flush = async (works: Work[]) => {
        if (!dispatch) return writer.write(works);
        await dispatch.write(
          works.map((work) => ({
            document: work.document,
            key: work.key,
            chunks: work.chunks.length,
            updated: (known.get(work.document.uri)?.key ?? '') !== '',
          })),
        );
      };

      progress('recover');
      await writer.recover();

      const seen = new Set<string>();
      let batch: Work[] = [];
      let batchChunks = 0;
      progress('scan');
      for await (const item of parsed.documents) {
        throwIfAborted(abortSignal, 'ingest');
        const document = readSource(item, sources, seen);
        sources++;
        const version = sourceVersion(document, splitter.settings, {
          dense: denseFingerprint,
          sparse: sparseFingerprint,
        });
        if (known.get(document.uri)?.key === version.key) {
          report.unchanged++;
          progress('scan');
          continue;
        }
        const work = sourceWork(document, version, splitter);
        batch.push(work);
        batchChunks += work.chunks.length;
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
        const { gone, warning } = unseenSources(known, seen, parsed.documents);
        if (warning !== undefined) report.warnings.push(warning);
        if (gone.length > 0) {
          progress('prune');
          await writer.prune(gone);
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
          stats: { ...reportNumbers(report), sources },
          ...signal,
        });
      }
      for (const [name, value] of Object.entries(reportNumbers(report)))
        span.setAttribute(`kumiki.ingest.${name}`, value);
      progress('done');
      return report;
    } catch (error) {
      // Without the run's signal: an aborted run is still recorded as failed (within the catalog's own deadline).
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
  });
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
