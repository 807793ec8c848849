export type { QueryPlan } from './collection.js';
export type { FilterPlanNode } from './filters.js';
export type { KernelChoice, KernelName } from './kernel/kernel.js';
export {
  createMemoryStore,
  type MemoryExplainedFilter,
  type MemoryStore,
  type MemoryStoreDescription,
  type MemoryStoreOptions,
  type SnapshotPersistence,
  type SnapshotReader,
} from './memory-store.js';
