export { createMilvusStore, type MilvusStore, type MilvusStoreOptions } from './milvus-store.js';
