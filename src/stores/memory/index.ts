export {
  createMemoryStore,
  type MemoryStore,
  type MemoryStoreOptions,
  type SnapshotPersistence,
} from './memory-store.js';
