/** Ingest's writes, removals and recovery, in the order the ledger protocol needs (see docs/pipeline.md). */
import { randomHex } from '../core/bytes.js';
import type { DatasetRef } from '../core/catalog.js';
import type { CollectionInfo, Store } from '../core/store.js';
import type { JsonValue, RecordId, SparseVector, VectorRecord } from '../core/types.js';
import type { IngestPhase, IngestReport } from './ingest-options.js';
import { chunkPayload, type Work } from './ingest-sources.js';
import type { Ledger, LedgerChanges, LedgerEntry } from './ledger.js';
import { INGEST_STATE_KEY, type IngestState, readIngestState, type statisticsWriter } from './statistics.js';
import { withSpan } from './telemetry.js';

/** What one run's writes go through: the collection, the ledger, and the run's own records. */
export type IngestWriterContext = {
  store: Store;
  collection: string;
  /** The collection as opened at the start of the run; re-read at each checkpoint when it has a version. */
  info: CollectionInfo;
  ledger: Ledger;
  /** The ledger's id, kept in its marks and in each chunk's `payload.ledger`. */
  ledgerId: string;
  /** The ledger's entries for the collection by source, kept in step with what is committed. */
  known: Map<string, LedgerEntry>;
  statistics: Awaited<ReturnType<typeof statisticsWriter>> | undefined;
  runId: string;
  /** The run's start time (ISO 8601), the `ingestedAt` of its entries and chunks. */
  startedAt: string;
  /** Counts what the writes did. */
  report: IngestReport;
  /** Sources written, for the catalog. */
  changed: DatasetRef[];
  /** Embeds the chunk texts (dense, sparse) of a batch. */
  embed(ids: RecordId[], texts: string[]): Promise<[Float32Array[] | undefined, SparseVector[] | undefined]>;
  progress(phase: IngestPhase): void;
  abortSignal: AbortSignal | undefined;
};

/**
 * The ledger protocol of ingest's writes: intent is committed to the ledger before each write and
 * removal, so whatever a killed run leaves is known to the next one, which deletes it (`recover`).
 */
export function createIngestWriter(context: IngestWriterContext) {
  const { store, collection, ledger, ledgerId, known, statistics, runId, startedAt, report } = context;
  const signal = context.abortSignal ? { abortSignal: context.abortSignal } : {};
  let info = context.info;
  return { recover, prune, write };

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
    if (info.version !== undefined) info = await store.openCollection({ name: collection, ...signal });
    const sparseStatistics = await statistics?.settle(info);
    if (info.epoch !== undefined) {
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
        ...(info.version !== undefined ? { version: info.version } : {}),
        ...signal,
      });
    }
    statistics?.publish(info);
  }

  /** Deletes whatever an interrupted run left: versions being written, superseded ones, removals. */
  async function recover() {
    let changed = false;
    for (const entry of [...known.values()]) {
      if (!entry.pending && !entry.stale && !entry.removing) continue;
      changed = true;
      if (entry.removing) {
        await deleteChunks(idsOf(entry));
        await commit({ remove: [{ collection, source: entry.source }] });
        known.delete(entry.source);
        report.deleted++;
        continue;
      }
      const committed = new Set(entry.chunkIds);
      const leftovers = [...(entry.pending?.chunkIds ?? []), ...(entry.stale ?? [])].filter((id) => !committed.has(id));
      await deleteChunks([...new Set(leftovers)]);
      const { pending: _pending, stale: _stale, ...clean } = entry;
      if (clean.key === '') {
        await commit({ remove: [{ collection, source: entry.source }] });
        known.delete(entry.source);
      } else {
        await commit({ put: [clean] });
        known.set(entry.source, clean);
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
      context.progress('embed');
      const [denseVectors, sparseVectors] = await context.embed(ids, texts);
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
      context.progress('write');
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
        context.changed.push({ kind: 'source', name: work.document.uri });
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
      context.progress('write');
    });
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
}

/** Every chunk id an entry may have in the store: committed, being written, superseded. */
const idsOf = (entry: LedgerEntry): string[] => [
  ...new Set([...entry.chunkIds, ...(entry.pending?.chunkIds ?? []), ...(entry.stale ?? [])]),
];
