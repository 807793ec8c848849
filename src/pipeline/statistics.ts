import { copyBm25Statistics } from '../bm25/encoder.js';
import type { SparseEmbedder } from '../core/embedder.js';
import { InvalidArgumentError, NotFoundError } from '../core/errors.js';
import type { CollectionInfo, Store } from '../core/store.js';
import type { RecordId } from '../core/types.js';

/**
 * A sparse embedder that keeps corpus statistics (the BM25 encoder). Its vectors depend on what a
 * collection holds, so `ingest` and `retrieve` never use its own statistics: they work on a fork per
 * collection, whose statistics always describe that collection.
 */
export type StatisticalEmbedder = SparseEmbedder & {
  addDocuments(texts: readonly string[]): void;
  removeDocuments(texts: readonly string[]): void;
  exportState(): unknown;
  importState(state: never): void;
  fork(): StatisticalEmbedder;
};

export const keepsStatistics = (embedder: SparseEmbedder | undefined): embedder is StatisticalEmbedder => {
  const candidate = embedder as Partial<StatisticalEmbedder> | undefined;
  return (
    typeof candidate?.addDocuments === 'function' &&
    typeof candidate.removeDocuments === 'function' &&
    typeof candidate.exportState === 'function' &&
    typeof candidate.importState === 'function' &&
    typeof candidate.fork === 'function'
  );
};

/**
 * Key of what `ingest` keeps in the collection's state (`Store.setCollectionState`), saved after each
 * write: its last checkpoint token (see `LedgerMark`) and the sparse statistics.
 */
export const INGEST_STATE_KEY = 'kumiki.ingest';

/**
 * The document `ingest` keeps under `INGEST_STATE_KEY`: the last checkpoint of each ledger that
 * writes the collection, and the collection's sparse statistics.
 */
export type IngestState = { checkpoints: Record<string, string>; sparseStatistics?: unknown };

/** The ingest state saved with a collection, and whether no write happened since it was saved. */
export async function readIngestState(
  store: Store,
  collection: string,
  signal: { abortSignal?: AbortSignal },
): Promise<{ state: IngestState | undefined; current: boolean } | undefined> {
  if (!store.getCollectionState) return undefined;
  const saved = await store.getCollectionState({ collection, key: INGEST_STATE_KEY, ...signal });
  if (!saved) return { state: undefined, current: false };
  const value = saved.value as Partial<IngestState> | null;
  const checkpoints = value && typeof value === 'object' ? value.checkpoints : undefined;
  const state =
    checkpoints && typeof checkpoints === 'object' && !Array.isArray(checkpoints)
      ? ({ checkpoints, sparseStatistics: (value as IngestState).sparseStatistics } as IngestState)
      : undefined;
  return { state, current: saved.current };
}

/** A fork of an embedder whose statistics are a collection's as of its write `version` (and `epoch`). */
type Bound = { fork: StatisticalEmbedder; epoch: string | undefined; version: number | undefined };

/** Per embedder, per store, per collection: the fork in use. Replaced, never changed, once published. */
const forks = new WeakMap<StatisticalEmbedder, WeakMap<Store, Map<string, Bound>>>();
const loading = new WeakMap<StatisticalEmbedder, WeakMap<Store, Map<string, Promise<Bound>>>>();

function slot<V>(
  table: WeakMap<StatisticalEmbedder, WeakMap<Store, Map<string, V>>>,
  embedder: StatisticalEmbedder,
  store: Store,
): Map<string, V> {
  const byStore = table.get(embedder) ?? new WeakMap<Store, Map<string, V>>();
  table.set(embedder, byStore);
  const byCollection = byStore.get(store) ?? new Map<string, V>();
  byStore.set(store, byCollection);
  return byCollection;
}

/**
 * The statistics of `collection` as a fork of `embedder`: the fork already in use when it still
 * describes the collection's current write, else one loaded from the collection's saved state when
 * that is current, else one rebuilt from the stored chunk texts (every record's `payload.text`).
 * Stores without a write version (pgvector, Qdrant, Milvus) are read once per process and kept
 * current by this process's own ingests. A missing collection gives empty statistics.
 */
export async function bindStatistics(options: {
  store: Store;
  collection: string;
  embedder: StatisticalEmbedder;
  /** The collection's info when the caller has it fresh (saves a call). */
  info?: CollectionInfo;
  abortSignal?: AbortSignal;
}): Promise<StatisticalEmbedder> {
  const { store, collection, embedder } = options;
  const signal = options.abortSignal ? { abortSignal: options.abortSignal } : {};
  const bound = slot(forks, embedder, store).get(collection);
  if (bound && bound.version === undefined && !options.info) return bound.fork;
  let info = options.info;
  if (!info) {
    try {
      info = await store.openCollection({ name: collection, ...signal });
    } catch (error) {
      if (!NotFoundError.isInstance(error)) throw error;
    }
  }
  const current = slot(forks, embedder, store).get(collection);
  if (current && current.epoch === info?.epoch && current.version === info?.version) return current.fork;
  const pending = slot(loading, embedder, store);
  let work = pending.get(collection);
  if (!work) {
    work = load(store, collection, embedder, info, signal).finally(() => pending.delete(collection));
    pending.set(collection, work);
  }
  const loaded = await work;
  slot(forks, embedder, store).set(collection, loaded);
  return loaded.fork;
}

async function load(
  store: Store,
  collection: string,
  embedder: StatisticalEmbedder,
  info: CollectionInfo | undefined,
  signal: { abortSignal?: AbortSignal },
): Promise<Bound> {
  const fork = embedder.fork();
  const saved = info ? await readIngestState(store, collection, signal) : undefined;
  let restored = false;
  if (saved?.current && saved.state?.sparseStatistics !== undefined) {
    try {
      fork.importState(saved.state.sparseStatistics as never);
      restored = true;
    } catch (error) {
      // Statistics of another analyzer, or a damaged state: rebuilt from the texts instead.
      if (!InvalidArgumentError.isInstance(error)) throw error;
    }
  }
  if (!restored) {
    resetStatistics(fork);
    if (info) fork.addDocuments(await storedTexts(store, collection, signal));
  }
  return { fork, epoch: info?.epoch, version: info?.version };
}

/** Empties the statistics, keeping the embedder's analyzer. */
export function resetStatistics(embedder: StatisticalEmbedder): void {
  const state = embedder.exportState() as Record<string, unknown>;
  embedder.importState({ ...state, documentCount: 0, totalLength: 0, indices: [], documentFrequencies: [] } as never);
}

/** The `payload.text` of every record of a collection, in id order. */
async function storedTexts(store: Store, collection: string, signal: { abortSignal?: AbortSignal }): Promise<string[]> {
  const texts: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.scroll({ collection, limit: 1000, ...(cursor ? { cursor } : {}), ...signal });
    for (const record of page.records) if (typeof record.payload.text === 'string') texts.push(record.payload.text);
    cursor = page.nextCursor;
  } while (cursor);
  return texts;
}

/**
 * The statistics an ingest keeps while it writes: a private fork of the collection's, changed as
 * chunks are replaced, written and deleted, and published (for `retrieve` in this process, saved with
 * the collection, and copied into the caller's embedder) after each completed write.
 */
export async function statisticsWriter(options: {
  store: Store;
  collection: string;
  embedder: StatisticalEmbedder;
  info: CollectionInfo;
  abortSignal?: AbortSignal;
}) {
  const { store, collection, embedder } = options;
  const signal = options.abortSignal ? { abortSignal: options.abortSignal } : {};
  const working = (await bindStatistics(options)).fork();
  let drifted = false;
  /** The write version the statistics describe, and the writes this ingest made since. */
  let since = options.info.version;
  let own = 0;
  return {
    /** The fork that weighs the documents being written. */
    embedder: working,
    /** Counts a write of this ingest (an upsert, a delete that deleted something). */
    wrote(): void {
      own++;
    },
    /** Takes the texts of whichever of `ids` are stored out of the statistics (they are about to go). */
    async removeStored(ids: readonly RecordId[]): Promise<void> {
      if (ids.length === 0 || drifted) return;
      const stored = await store.get({ collection, ids, ...signal });
      if (stored.length === 0) return;
      try {
        working.removeDocuments(stored.map((record) => String(record.payload.text ?? '')));
      } catch (error) {
        // The statistics did not hold these texts: rebuilt from the store at the next publish.
        if (!InvalidArgumentError.isInstance(error)) throw error;
        drifted = true;
      }
    },
    /**
     * After a completed write: the statistics to save with the collection, rebuilt from the stored
     * texts first if they drifted or if someone else wrote the collection meanwhile (its write version
     * moved by more than this ingest's own writes).
     */
    async settle(info: CollectionInfo | undefined): Promise<unknown> {
      if (since !== undefined && info?.version !== undefined && info.version !== since + own) drifted = true;
      since = info?.version;
      own = 0;
      if (drifted) {
        resetStatistics(working);
        working.addDocuments(await storedTexts(store, collection, signal));
        drifted = false;
      }
      return working.exportState();
    },
    /** Once saved: makes them the collection's current statistics in this process, and copies them into `embedder`. */
    publish(info: CollectionInfo | undefined): void {
      slot(forks, embedder, store).set(collection, {
        fork: working.fork(),
        epoch: info?.epoch,
        version: info?.version,
      });
      if (!copyBm25Statistics(working, embedder)) embedder.importState(working.exportState() as never);
    },
  };
}
