export { createPgvectorStore, type PgvectorStore, type PgvectorStoreOptions } from './pgvector-store.js';
