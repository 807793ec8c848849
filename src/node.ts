/** Node-only parts of the pipeline: loading files and folders, and a ledger kept in a file. */
export { createFileLedger } from './pipeline/ledger-file.js';
export { DEFAULT_EXCLUDE, DEFAULT_INCLUDE, type LoadPathOptions, loadPath } from './pipeline/loaders-node.js';
