/**
 * Atomic replacement of a whole file, shared by the snapshot files and the ledger's compaction.
 * Node only. Errors are the file system's own; callers translate them for their component.
 */
import { mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

let counter = 0;

/** Hands a file's contents over in pieces: `put(bytes, position)`, each kept until its promise settles. */
export type PieceWriter = (put: (bytes: Uint8Array, position: number) => Promise<void>) => Promise<void>;

/**
 * Writes `bytes` (or what a `PieceWriter` puts) to a temporary file beside `target`, flushes it,
 * renames it over `target` (atomic on POSIX file systems) and flushes the folder, which is created
 * when missing. After a crash either the old file or the new one is there, plus at most a temporary
 * file `removeLeftovers` cleans up. When the writer throws, the target is left as it was.
 */
export async function writeFileAtomic(target: string, bytes: Uint8Array | string | PieceWriter): Promise<void> {
  const directory = dirname(target);
  const temporary = join(directory, `.${basename(target)}.${process.pid}.${Date.now()}.${counter++}.tmp`);
  try {
    const handle = await openCreatingFolder(temporary, 'w');
    try {
      if (typeof bytes === 'function') {
        await bytes(async (piece, position) => {
          for (let done = 0; done < piece.length; ) {
            const { bytesWritten } = await handle.write(piece, done, piece.length - done, position + done);
            done += bytesWritten;
          }
        });
      } else {
        await handle.writeFile(bytes);
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, target);
    await syncDirectory(directory);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
}

/** Opens a file, creating its folder when it does not exist yet. */
export async function openCreatingFolder(file: string, flags: string) {
  try {
    return await open(file, flags);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    await mkdir(dirname(file), { recursive: true });
    return await open(file, flags);
  }
}

/** Removes temporary files that writers killed mid-save left beside `target` (never a live writer's). */
export async function removeLeftovers(target: string): Promise<void> {
  const directory = dirname(target);
  const entries = await readdir(directory).catch(() => [] as string[]);
  const prefix = `.${basename(target)}.`;
  for (const entry of entries) {
    if (!entry.startsWith(prefix) || !entry.endsWith('.tmp')) continue;
    const pid = Number(entry.slice(prefix.length).split('.')[0]);
    if (!Number.isInteger(pid) || pid === process.pid || processExists(pid)) continue;
    await unlink(join(directory, entry)).catch(() => undefined);
  }
}

/** Flushes a folder's entries (a rename) to disk. */
export async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } catch {
    // Some platforms (Windows) cannot fsync a directory; the rename is still atomic there.
  } finally {
    await handle.close();
  }
}

/** Whether a process with this pid exists (EPERM: it exists but belongs to someone else). */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
