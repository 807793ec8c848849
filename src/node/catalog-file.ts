import { z } from 'zod';
import { createLocalCatalog as createCatalog, type LocalCatalog, persistenceSchema } from '../catalogs/local/index.js';
import { parseArgument } from '../core/validate.js';
import type { SnapshotPersistence } from '../stores/memory/memory-store.js';
import { createFilePersistence } from './snapshot-file.js';

export type FileLocalCatalogOptions = {
  /**
   * Keep the catalog in this file: every write resolves after the file holding it is on disk
   * (temporary file, fsync, atomic rename). A torn or altered file is refused with `CorruptDataError`.
   */
  path?: string;
  /** Any other snapshot persistence; `path` is the usual choice. */
  persistence?: SnapshotPersistence;
};

const optionsSchema = z
  .object({
    path: z.string().min(1, 'path must not be empty').optional(),
    persistence: persistenceSchema.optional(),
  })
  .strict()
  .refine((options) => !(options.path && options.persistence), {
    message: 'pass either path or persistence, not both',
  });

/**
 * The local catalog with a file, Node only (this module loads `node:fs`). Without `path` it is the
 * same as `createLocalCatalog` from `kumiki/catalogs/local`.
 *
 * ```ts
 * import { createLocalCatalog } from 'kumiki/catalogs/local/file';
 * const catalog = createLocalCatalog({ path: '.kumiki/catalog.kcat' });
 * ```
 */
export function createLocalCatalog(options: FileLocalCatalogOptions = {}): LocalCatalog {
  const config = parseArgument(optionsSchema, options, 'local catalog options');
  const persistence = config.path ? createFilePersistence(config.path, { component: 'catalog' }) : config.persistence;
  return createCatalog(persistence ? { persistence } : {});
}

export type { LocalCatalog };
