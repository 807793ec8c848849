import { z } from 'zod';
import { createLocalCatalog, type LocalCatalog } from '../catalogs/local/index.js';
import { parseArgument } from '../core/validate.js';
import { createFilePersistence } from './snapshot-file.js';

export type FileCatalogOptions = {
  /**
   * How long a writer waits for another process's lock on this file before `LockedError`, in ms.
   * Default 10,000.
   */
  lockTimeoutMs?: number;
};

const optionsSchema = z.object({ lockTimeoutMs: z.number().int().min(0).optional() }).strict();

/**
 * The local catalog kept in a crash-safe file, Node only: every write resolves after the file holding
 * it is on disk (temporary file, fsync, atomic rename); a torn or altered file is refused with
 * `CorruptDataError`. Elsewhere, `createLocalCatalog` from `kumiki/catalogs/local` takes any
 * `SnapshotPersistence`.
 *
 * ```ts
 * import { createFileCatalog } from 'kumiki/node';
 * const catalog = createFileCatalog('.kumiki/catalog.kcat');
 * ```
 */
export function createFileCatalog(path: string, options: FileCatalogOptions = {}): LocalCatalog {
  const target = parseArgument(z.string().min(1, 'path must not be empty'), path, 'catalog path');
  const settings = parseArgument(optionsSchema, options, 'file catalog options');
  return createLocalCatalog({
    persistence: createFilePersistence(target, {
      component: 'catalog',
      ...(settings.lockTimeoutMs === undefined ? {} : { lockTimeoutMs: settings.lockTimeoutMs }),
    }),
  });
}
