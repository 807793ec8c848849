/**
 * `kumiki/distributed`: ingestion spread over many processes and machines, on BullMQ and Redis (or
 * Valkey). See docs/distributed.md.
 */
export { type DistributedIngestOptions, type DistributedIngestProgress, ingestDistributed } from './coordinator.js';
export type { DistributedConnection } from './engine.js';
export { type ParkedJob, ParkedJobsError } from './errors.js';
export { createRedisLedger, type RedisLedger, type RedisLedgerOptions } from './ledger-redis.js';
export type { EmbeddingRate } from './rate-limit.js';
export type { RedisClient, RedisSource } from './redis.js';
export { createIngestWorker, type IngestWorker, type IngestWorkerEvent, type IngestWorkerOptions } from './worker.js';
