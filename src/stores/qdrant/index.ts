export { createQdrantStore, type QdrantIndexType, type QdrantStore, type QdrantStoreOptions } from './qdrant-store.js';
