/**
 * The options every server-backed store (pgvector, Qdrant, Milvus) takes under the same names, with
 * one schema and one set of defaults per store. Internal: not part of the public surface.
 */
import * as z from 'zod';
import type { BatchLimits } from './batches.js';

/** Options shared by the server-backed stores; each store documents its defaults. */
export type ServerStoreOptions = {
  /** Most records per upsert request. */
  maxBatchSize?: number;
  /** Most bytes per upsert request, as the store measures a record's encoded size. */
  maxBatchBytes?: number;
  /** Upsert requests in flight at once; default 4. */
  concurrency?: number;
  /** Retries of a request that failed with a retryable error; default 3. */
  retries?: number;
  /** First retry backoff in ms, doubling with full jitter, when the server gives no Retry-After; default 200. */
  retryBaseDelayMs?: number;
};

export type ServerStoreDefaults = { maxBatchSize: number; maxBatchBytes: number; maxBatchBytesLimit?: number };

/** The zod shape of `ServerStoreOptions`, spread into each store's options schema. */
export function serverStoreOptionsShape(defaults: ServerStoreDefaults) {
  return {
    maxBatchSize: z.number().int().min(1).max(100_000).optional(),
    maxBatchBytes: z
      .number()
      .int()
      .min(1024)
      .max(defaults.maxBatchBytesLimit ?? Number.MAX_SAFE_INTEGER)
      .optional(),
    concurrency: z.number().int().min(1).max(64).optional(),
    retries: z.number().int().min(0).max(20).optional(),
    retryBaseDelayMs: z.number().int().min(0).optional(),
  };
}

/** What the kernel's batching and retries need, defaults filled in. */
export type ServerStoreSettings = {
  limits: BatchLimits;
  concurrency: number;
  retry: { retries: number; baseDelayMs: number };
};

export function serverStoreSettings(options: ServerStoreOptions, defaults: ServerStoreDefaults): ServerStoreSettings {
  return {
    limits: {
      maxCount: options.maxBatchSize ?? defaults.maxBatchSize,
      maxBytes: options.maxBatchBytes ?? defaults.maxBatchBytes,
    },
    concurrency: options.concurrency ?? 4,
    retry: { retries: options.retries ?? 3, baseDelayMs: options.retryBaseDelayMs ?? 200 },
  };
}

/** The option naming how long collection descriptions are cached, for the stores that cache them. */
export const collectionCacheShape = { collectionCacheMs: z.number().int().min(0).optional() };
