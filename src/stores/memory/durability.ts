/**
 * How the memory store's contents reach its snapshot: loaded on first use, changed one at a time under
 * the writer lock, saved after each change (or at `flush()` with `manual` durability) and rolled back
 * when the save fails, so memory never holds a write the snapshot does not.
 */
import { ConflictError, CorruptDataError, throwIfAborted } from '../../core/errors.js';
import type { SnapshotPersistence } from '../../core/persistence.js';
import { type CollectionOptions, MemoryCollection } from './collection.js';
import { decodeSnapshot, encodeSnapshot, MemoryMovedError, type Snapshot, writeSnapshot } from './snapshot.js';
import { readInPieces } from './snapshot-stream.js';

/** What a change did and how to take it back (`undo` undefined: nothing changed). */
export type Change<T> = {
  result: T;
  undo: (() => void) | undefined;
  /** Runs once the change is kept (saved, or no save needed): frees what `undo` would have needed. */
  kept?: () => void;
};

/** The collections and aliases of a memory store, and the one way to change them (`mutate`). */
export function createDurableState(
  persistence: SnapshotPersistence | undefined,
  durability: 'write' | 'manual',
  collectionOptions: CollectionOptions,
) {
  const collections = new Map<string, MemoryCollection>();
  /** alias → collection name */
  const aliases = new Map<string, string>();
  let disposed = false;

  /**
   * The saved snapshot, read in pieces where the persistence can (`open`): then the dense rows of the
   * collections in `prepared` (by position in the snapshot) are already in their kernel memory.
   * Anything unusual is read whole (`load`), where every refusal names its reason.
   */
  const location = persistence?.location ?? 'snapshot';
  const discard = (prepared: Map<number, MemoryCollection>) => {
    for (const collection of prepared.values()) collection.dispose();
    prepared.clear();
  };
  const readSaved = async (prepared: Map<number, MemoryCollection>): Promise<Snapshot | undefined> => {
    const reader = await persistence?.open?.();
    if (reader) {
      try {
        const snapshot = await readInPieces(reader, (index, saved, count, rowBytes) => {
          const collection = new MemoryCollection(saved.meta, { ...collectionOptions, version: saved.version });
          prepared.set(index, collection);
          try {
            return collection.receiveRows(count, rowBytes);
          } catch {
            return undefined; // importColumns says why
          }
        });
        if (snapshot) return snapshot;
      } finally {
        await reader.close();
      }
      discard(prepared);
    }
    const bytes = await persistence?.load();
    return bytes && decodeSnapshot(bytes, location);
  };

  /** Replaces the contents with the saved snapshot (at start, and when another process saved since). */
  const reload = async (): Promise<void> => {
    const prepared = new Map<number, MemoryCollection>();
    const clear = () => {
      for (const collection of collections.values()) collection.dispose();
      collections.clear();
      aliases.clear();
    };
    try {
      // Searches meanwhile still see the old contents: they are replaced once the snapshot is read.
      const snapshot = await readSaved(prepared).finally(clear);
      if (!snapshot) return;
      for (const [alias, target] of snapshot.aliases) aliases.set(alias, target);
      for (const [index, saved] of snapshot.collections.entries()) {
        const collection =
          prepared.get(index) ?? new MemoryCollection(saved.meta, { ...collectionOptions, version: saved.version });
        prepared.delete(index);
        for (const [key, entry] of saved.states) collection.states.set(key, entry);
        try {
          if ('columns' in saved) {
            collection.importColumns(saved.columns, saved.rowBytes);
            if (saved.ann) collection.ann?.importState(saved.ann, collection.size);
          } else {
            // A version 1 snapshot: records one by one.
            collection.write(
              saved.records.map((record) => ({
                id: record.id,
                payload: record.payload as never,
                ...(record.vector ? { vector: record.vector } : {}),
                ...(record.sparse ? { sparseVector: record.sparse } : {}),
              })),
            );
          }
        } catch (error) {
          collection.dispose();
          throw new CorruptDataError({
            location,
            reason: `collection "${saved.meta.name}" cannot be loaded (${(error as Error).message})`,
            component: 'memory',
          });
        }
        if ('columns' in saved) for (const field of saved.indexes) collection.createIndex(field, true);
        collections.set(saved.meta.name, collection);
      }
    } finally {
      discard(prepared);
    }
  };

  let loaded: Promise<void> | undefined;
  const ready = (): Promise<void> => {
    if (disposed)
      return Promise.reject(
        new ConflictError({ message: 'This memory store was disposed; create a new one.', component: 'memory' }),
      );
    // A snapshot that could not be read is read again by the next call, never worked on without it.
    loaded ??= reload().catch((error: unknown) => {
      loaded = undefined;
      throw error;
    });
    return loaded;
  };

  // Changes are applied one at a time: take the lock (reloading if another process saved), apply,
  // save, and roll back if the save fails, so memory never holds a write the file does not.
  let queue: Promise<unknown> = Promise.resolve();
  let locked = false;
  /** Undo steps of changes not saved yet (`manual` durability). */
  let unsaved = 0;
  const save = async (): Promise<void> => {
    if (!persistence) return;
    if (persistence.saveFrom) {
      let moved = false;
      try {
        await persistence.saveFrom((put) =>
          writeSnapshot(collections.values(), aliases, put).catch((error: unknown) => {
            moved = error instanceof MemoryMovedError;
            throw error;
          }),
        );
        return;
      } catch (error) {
        // The kernel memory grew under the pieces (a search built a graph): saved whole below instead.
        if (!moved) throw error;
      }
    }
    await persistence.save(encodeSnapshot(collections.values(), aliases));
  };
  const release = async (): Promise<void> => {
    if (!locked) return;
    locked = false;
    await persistence?.release?.();
  };
  const mutate = <T>(operation: string, abortSignal: AbortSignal | undefined, change: () => Change<T>): Promise<T> => {
    const run = queue.then(async () => {
      await ready();
      throwIfAborted(abortSignal, operation);
      if (persistence?.acquire && !locked) {
        const { changed } = await persistence.acquire(abortSignal ? { abortSignal } : {});
        locked = true;
        if (changed && unsaved === 0) {
          try {
            await reload();
          } catch (error) {
            // The contents went with the failed read: the next call reads the snapshot again first,
            // so no write saves what is left over another process's data.
            loaded = undefined;
            await release();
            throw error;
          }
        }
      }
      const { result, undo, kept } = change();
      if (!persistence || !undo || durability === 'manual') {
        if (persistence && undo) unsaved++;
        kept?.();
        return result;
      }
      try {
        await save();
      } catch (error) {
        undo();
        throw error;
      } finally {
        await release();
      }
      kept?.();
      return result;
    });
    queue = run.catch(() => undefined);
    return run;
  };
  const flush = (): Promise<void> => {
    const run = queue.then(async () => {
      await ready();
      if (unsaved === 0) return;
      await save();
      unsaved = 0;
      await release();
    });
    queue = run.catch(() => undefined);
    return run;
  };

  const dispose = async (): Promise<void> => {
    if (disposed) return;
    if (loaded) {
      const read = await loaded.then(
        () => true,
        () => false,
      );
      // A snapshot that could not be read is not read again to be disposed of: nothing was changed.
      if (read) await flush();
      await queue;
      await release();
    }
    disposed = true;
    for (const collection of collections.values()) collection.dispose();
    collections.clear();
  };

  return { collections, aliases, ready, mutate, flush, dispose };
}
