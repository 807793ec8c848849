import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { UnavailableError } from '../../core/errors.js';
import { parseArgument } from '../../core/validate.js';
import type { SnapshotPersistence } from './memory-store.js';

/**
 * Crash-safe snapshot file for `createMemoryStore({ persistence })`, Node only.
 *
 * Each save writes a temporary file beside the target, flushes it to disk, renames it over the
 * target (atomic on POSIX file systems) and flushes the directory. A crash at any point leaves
 * either the previous snapshot or the new one; a file damaged by other means fails its checksum and
 * is refused with `CorruptDataError` rather than loaded.
 */
export function createFilePersistence(path: string): SnapshotPersistence {
  const target = parseArgument(z.string().min(1, 'path must not be empty'), path, 'snapshot path');
  const directory = dirname(target);
  let counter = 0;
  return {
    location: target,
    async load() {
      try {
        return new Uint8Array(await readFile(target));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new UnavailableError({
          message: `Cannot read snapshot ${target}: ${(error as Error).message}`,
          cause: error,
          isRetryable: false,
          component: 'memory',
        });
      }
    },
    async save(snapshot: Uint8Array) {
      const temporary = join(directory, `.${basename(target)}.${process.pid}.${Date.now()}.${counter++}.tmp`);
      try {
        const handle = await open(temporary, 'w');
        try {
          await handle.writeFile(snapshot);
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(temporary, target);
        await syncDirectory(directory);
      } catch (error) {
        await unlink(temporary).catch(() => undefined);
        throw new UnavailableError({
          message: `Cannot write snapshot ${target}: ${(error as Error).message}`,
          cause: error,
          isRetryable: true,
          component: 'memory',
        });
      }
    },
  };
}

async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } catch {
    // Some platforms (Windows) cannot fsync a directory; the rename is still atomic there.
  } finally {
    await handle.close();
  }
}
