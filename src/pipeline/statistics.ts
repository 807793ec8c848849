import type { SparseEmbedder } from '../core/embedder.js';
import { InvalidArgumentError, NotFoundError } from '../core/errors.js';
import type { CollectionInfo, Store } from '../core/store.js';
import type { JsonValue, RecordId } from '../core/types.js';

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

/** Key of the statistics in the collection's state (`Store.setCollectionState`). */
export const STATISTICS_STATE_KEY = 'kumiki.sparse-statistics';

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
  const saved = info
    ? await store.getCollectionState?.({ collection, key: STATISTICS_STATE_KEY, ...signal })
    : undefined;
  let restored = false;
  if (saved?.current) {
    try {
      fork.importState(saved.value as never);
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
function resetStatistics(embedder: StatisticalEmbedder): void {
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
  return {
    /** The fork that weighs the documents being written. */
    embedder: working,
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
    /** After a completed write: saves the statistics with the collection and makes them the current ones. */
    async publish(info: CollectionInfo | undefined): Promise<void> {
      if (drifted) {
        resetStatistics(working);
        working.addDocuments(await storedTexts(store, collection, signal));
        drifted = false;
      }
      const state = working.exportState();
      if (store.setCollectionState) {
        await store.setCollectionState({ collection, key: STATISTICS_STATE_KEY, value: state as JsonValue, ...signal });
      }
      slot(forks, embedder, store).set(collection, {
        fork: working.fork(),
        epoch: info?.epoch,
        version: info?.version,
      });
      embedder.importState(state as never);
    },
  };
}
