import type { SparseEmbedder } from '../core/embedder.js';
import { InvalidArgumentError, NotFoundError } from '../core/errors.js';
import type { CollectionInfo, Store } from '../core/store.js';
import type { JsonValue, RecordId } from '../core/types.js';

/**
 * A sparse embedder that keeps corpus statistics (the BM25 encoder): its vectors depend on what the
 * collection holds, so `ingest` and `retrieve` keep its statistics equal to the collection's.
 */
export type StatisticalEmbedder = SparseEmbedder & {
  addDocuments(texts: readonly string[]): void;
  removeDocuments(texts: readonly string[]): void;
  exportState(): unknown;
  importState(state: never): void;
};

export const keepsStatistics = (embedder: SparseEmbedder | undefined): embedder is StatisticalEmbedder => {
  const candidate = embedder as Partial<StatisticalEmbedder> | undefined;
  return (
    typeof candidate?.addDocuments === 'function' &&
    typeof candidate.removeDocuments === 'function' &&
    typeof candidate.exportState === 'function' &&
    typeof candidate.importState === 'function'
  );
};

/** Key of the statistics in the collection's state (`Store.setCollectionState`). */
export const STATISTICS_STATE_KEY = 'kumiki.sparse-statistics';

/** Which collection (and which of its writes) an embedder's statistics describe. */
type Binding = {
  store: Store;
  collection: string;
  epoch: string | undefined;
  version: number | undefined;
  /** An ingest in this process is writing the collection and keeps the statistics in step itself. */
  writing: boolean;
};
const bindings = new WeakMap<StatisticalEmbedder, Binding>();
const inFlight = new WeakMap<StatisticalEmbedder, Promise<void>>();

/**
 * Makes `embedder`'s statistics those of `collection`: kept as they are when they already describe
 * this collection at its current write, else loaded from the collection's saved state when that is
 * current, else rebuilt from the stored chunk texts (every record's `payload.text`). A missing
 * collection leaves the statistics empty.
 */
export async function bindStatistics(options: {
  store: Store;
  collection: string;
  embedder: StatisticalEmbedder;
  info?: CollectionInfo;
  abortSignal?: AbortSignal;
}): Promise<void> {
  const { store, collection, embedder } = options;
  const signal = options.abortSignal ? { abortSignal: options.abortSignal } : {};
  for (;;) {
    const running = inFlight.get(embedder);
    if (!running) break;
    await running.catch(() => undefined);
  }
  const bound = bindings.get(embedder);
  const same = bound !== undefined && bound.store === store && bound.collection === collection;
  if (same && bound.writing) return;
  // Stores without a write version cannot tell cheaply whether the collection changed: bound once.
  if (same && bound.version === undefined && !options.info) return;
  let info = options.info;
  if (!info) {
    try {
      info = await store.openCollection({ name: collection, ...signal });
    } catch (error) {
      if (!NotFoundError.isInstance(error)) throw error;
    }
  }
  if (same && bound.epoch === info?.epoch && bound.version === info?.version) return;
  const work = load(store, collection, embedder, info, signal);
  inFlight.set(embedder, work);
  try {
    await work;
  } finally {
    inFlight.delete(embedder);
  }
}

async function load(
  store: Store,
  collection: string,
  embedder: StatisticalEmbedder,
  info: CollectionInfo | undefined,
  signal: { abortSignal?: AbortSignal },
): Promise<void> {
  bindings.delete(embedder);
  const saved = info
    ? await store.getCollectionState?.({ collection, key: STATISTICS_STATE_KEY, ...signal })
    : undefined;
  let restored = false;
  if (saved?.current) {
    try {
      embedder.importState(saved.value as never);
      restored = true;
    } catch (error) {
      // Statistics of another analyzer or a damaged state: rebuilt from the texts below instead.
      if (!InvalidArgumentError.isInstance(error)) throw error;
    }
  }
  if (!restored) {
    resetStatistics(embedder);
    if (info) embedder.addDocuments(await storedTexts(store, collection, signal));
  }
  bindings.set(embedder, { store, collection, epoch: info?.epoch, version: info?.version, writing: false });
}

/** Empties the statistics, keeping the embedder's analyzer. */
export function resetStatistics(embedder: StatisticalEmbedder): void {
  const state = embedder.exportState() as Record<string, unknown>;
  embedder.importState({ ...state, documentCount: 0, totalLength: 0, indices: [], documentFrequencies: [] } as never);
}

/** The `payload.text` of every record of a collection, in id order. */
export async function storedTexts(
  store: Store,
  collection: string,
  signal: { abortSignal?: AbortSignal },
): Promise<string[]> {
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
 * Keeps statistics in step while an ingest writes: `begin` marks them as maintained by the writer,
 * `removeStored` takes records about to be replaced or deleted out of them (rebuilding from the
 * store if they disagree), `save` stores them with the collection where the store can keep them, and
 * `end`/`invalidate` hand them back to `bindStatistics`.
 */
export function statisticsWriter(options: {
  store: Store;
  collection: string;
  embedder: StatisticalEmbedder;
  abortSignal?: AbortSignal;
}) {
  const { store, collection, embedder } = options;
  const signal = options.abortSignal ? { abortSignal: options.abortSignal } : {};
  let drifted = false;
  const binding = (): Binding | undefined => bindings.get(embedder);
  return {
    begin() {
      const bound = binding();
      if (bound) bound.writing = true;
    },
    /** Removes the texts of whichever of `ids` are stored from the statistics. */
    async removeStored(ids: readonly RecordId[]): Promise<void> {
      if (ids.length === 0) return;
      const stored = await store.get({ collection, ids, ...signal });
      if (stored.length === 0) return;
      try {
        embedder.removeDocuments(stored.map((record) => String(record.payload.text ?? '')));
      } catch (error) {
        if (!InvalidArgumentError.isInstance(error)) throw error;
        drifted = true;
      }
    },
    /** After a write: rebuilds if removals drifted, then saves the statistics with the collection. */
    async save(info: CollectionInfo | undefined): Promise<void> {
      if (drifted) {
        resetStatistics(embedder);
        embedder.addDocuments(await storedTexts(store, collection, signal));
        drifted = false;
      }
      if (store.setCollectionState) {
        await store.setCollectionState({
          collection,
          key: STATISTICS_STATE_KEY,
          value: embedder.exportState() as JsonValue,
          ...signal,
        });
      }
      const bound = binding();
      if (bound) {
        bound.epoch = info?.epoch;
        bound.version = info?.version;
      }
    },
    end() {
      const bound = binding();
      if (bound) bound.writing = false;
    },
    /** After a failure: the statistics may not match the store; the next use rebuilds them. */
    invalidate() {
      bindings.delete(embedder);
    },
  };
}
