import { open, readFile, stat } from 'node:fs/promises';
import * as z from 'zod';
import { UnavailableError } from '../core/errors.js';
import type { SnapshotPersistence, SnapshotReader } from '../core/persistence.js';
import { parseArgument } from '../core/validate.js';
import { removeLeftovers, writeFileAtomic } from '../internal/node/atomic-file.js';
import { createFileLock } from '../internal/node/file-lock.js';

export type FilePersistenceOptions = {
  /** Component named in errors, default `memory` (the local catalog passes `catalog`). */
  component?: string;
  /**
   * How long a writer waits for another process's lock on this file before `LockedError`, in ms.
   * Default 10,000: a lock is held only while one write is saved (with `durability: 'write'`).
   */
  lockTimeoutMs?: number;
};

const optionsSchema = z
  .object({
    component: z.string().min(1).optional(),
    lockTimeoutMs: z.number().int().min(0).optional(),
  })
  .strict();

/**
 * Crash-safe snapshot file for `createMemoryStore({ persistence })`, Node only.
 *
 * Each save writes a temporary file beside the target, flushes it to disk, renames it over the
 * target (atomic on POSIX file systems) and flushes the directory; the folder is created when
 * missing. A crash at any point leaves either the previous snapshot or the new one, plus at most a
 * temporary file that the next load removes; a file damaged by other means fails its checksum and is
 * refused with `CorruptDataError` rather than loaded.
 *
 * Writers in several processes take turns: `acquire` takes a lock file beside the snapshot (see
 * docs/stores.md) and says whether another process saved since this one last loaded or saved, so the
 * store reloads before it writes instead of overwriting the other process's data.
 */
export function createFilePersistence(path: string, options: FilePersistenceOptions = {}): SnapshotPersistence {
  const target = parseArgument(z.string().min(1, 'path must not be empty'), path, 'snapshot path');
  const settings = parseArgument(optionsSchema, options, 'file persistence options');
  const component = settings.component ?? 'memory';
  const lock = createFileLock(target, { component });
  /** Identity of the file as this object last loaded or saved it; `null`: there was none. */
  let known: string | null | undefined;

  const identity = async (): Promise<string | null> => {
    try {
      const info = await stat(target);
      return `${info.dev}:${info.ino}:${info.size}:${info.mtimeMs}`;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw failure('read', error, false);
    }
  };
  const failure = (action: string, error: unknown, retryable: boolean) =>
    new UnavailableError({
      message: `Cannot ${action} ${component === 'catalog' ? 'catalog file' : 'snapshot'} ${target}: ${(error as Error).message}`,
      cause: error,
      isRetryable: retryable,
      component,
    });

  const save = async (contents: Parameters<typeof writeFileAtomic>[1]): Promise<void> => {
    try {
      await writeFileAtomic(target, contents);
      known = await identity();
    } catch (error) {
      if (UnavailableError.isInstance(error)) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      throw failure('write', error, code === 'EAGAIN' || code === 'EBUSY');
    }
  };

  return {
    location: target,
    async load() {
      await removeLeftovers(target);
      try {
        const before = await identity();
        const file = await readFile(target);
        // A plain Uint8Array over the file's own memory: copying a snapshot of gigabytes doubles the load.
        const bytes = new Uint8Array(file.buffer, file.byteOffset, file.byteLength);
        known = before;
        return bytes;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
          known = null;
          return undefined;
        }
        if (UnavailableError.isInstance(error)) throw error;
        throw failure('read', error, false);
      }
    },
    async open(): Promise<SnapshotReader | undefined> {
      await removeLeftovers(target);
      try {
        const before = await identity();
        const handle = await open(target, 'r');
        const { size } = await handle.stat().catch(async (error: unknown) => {
          await handle.close();
          throw error;
        });
        known = before;
        return {
          size,
          async read(into, position) {
            try {
              let done = 0;
              while (done < into.length) {
                const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
                if (bytesRead === 0) break;
                done += bytesRead;
              }
              return done;
            } catch (error) {
              throw failure('read', error, false);
            }
          },
          close: () => handle.close(),
        };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
          known = null;
          return undefined;
        }
        if (UnavailableError.isInstance(error)) throw error;
        throw failure('read', error, false);
      }
    },
    save: (snapshot: Uint8Array) => save(snapshot),
    saveFrom: (write) => save(write),
    async acquire(acquireOptions = {}) {
      if (!lock.held) {
        await lock.acquire({ timeoutMs: settings.lockTimeoutMs ?? 10_000, ...acquireOptions });
      }
      const now = await identity();
      return { changed: known !== undefined && now !== known };
    },
    async release() {
      await lock.release();
    },
  };
}
