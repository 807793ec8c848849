/** Node-only parts of the pipeline: loading files and folders, and a ledger kept in a file. */
export { createFileLedger } from '../pipeline/ledger-file.js';
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
