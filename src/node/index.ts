/**
 * kumiki/node: the Node-only parts, everything kept on disk. Loading files and folders, a ledger in a
 * file, the memory store's snapshot in a file, the local catalog in a file.
 */
export { createFileLedger, type FileLedgerOptions } from '../pipeline/ledger-file.js';
export {
  DEFAULT_EXCLUDE,
  type LoadedDocuments,
  type LoadedFile,
  type LoadPathOptions,
  type LoadProgress,
  loadPath,
  SIDECAR_SUFFIX,
  SUPPORTED_EXTENSIONS,
} from '../pipeline/loaders-node.js';
export { createFileCatalog, type FileCatalogOptions } from './catalog-file.js';
export { createFilePersistence, type FilePersistenceOptions } from './snapshot-file.js';
