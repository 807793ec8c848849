import * as z from 'zod/mini';

/**
 * Where a memory store or a local catalog keeps its snapshot. `createFilePersistence` from
 * `kumiki/node` is a crash-safe file for Node; any runtime can supply its own (IndexedDB, KV, object
 * storage).
 */
export type SnapshotPersistence = {
  /** Where snapshots live, for error messages. */
  readonly location: string;
  /** The last saved snapshot, or `undefined` when there is none yet. */
  load(): Promise<Uint8Array | undefined>;
  /**
   * Optional: the last saved snapshot for reading in pieces (`undefined` when there is none yet), so
   * that a large one is read straight to where the store keeps it instead of whole into memory
   * first. The store closes it once read; it reads through `load()` when this is absent.
   */
  open?(): Promise<SnapshotReader | undefined>;
  /** Replaces the snapshot atomically: after a crash, either the old or the new one is loaded. */
  save(snapshot: Uint8Array): Promise<void>;
  /**
   * Optional: replaces the snapshot atomically, as `save` does, with bytes that `write` hands over
   * in pieces (`put(bytes, position)`, each kept only until its promise settles), so that a large
   * snapshot is never assembled in one buffer. If `write` throws, nothing is replaced. The store calls
   * `save` when this is absent.
   */
  saveFrom?(write: (put: (bytes: Uint8Array, position: number) => Promise<void>) => Promise<void>): Promise<void>;
  /**
   * Optional: takes the writer lock (waiting up to the persistence's own timeout, then `LockedError`)
   * and says whether another writer saved since this object last loaded or saved. The store calls it
   * before it changes anything and reloads when `changed`, so writers in several processes take turns
   * instead of overwriting each other's data.
   */
  acquire?(options?: { abortSignal?: AbortSignal }): Promise<{ changed: boolean }>;
  /** Releases the lock taken by `acquire`. */
  release?(): Promise<void>;
};

/** A saved snapshot opened for reading in pieces (see `SnapshotPersistence.open`). */
export type SnapshotReader = {
  /** Its length in bytes. */
  readonly size: number;
  /**
   * Reads bytes from `position` on into `target` (a view that may be over WebAssembly memory) and
   * returns how many: fewer than `target.length` only where the snapshot ends.
   */
  read(target: Uint8Array, position: number): Promise<number>;
  close(): Promise<void>;
};

/** Accepts any object with `load()` and `save()`. */
export const persistenceSchema = z.custom<SnapshotPersistence>(
  (value) =>
    typeof value === 'object' &&
    value !== null &&
    typeof (value as SnapshotPersistence).load === 'function' &&
    typeof (value as SnapshotPersistence).save === 'function',
  'persistence must have load() and save() methods (see createFilePersistence in kumiki/node)',
);
