/**
 * A worker of distributed ingest: takes jobs (batches of changed sources) from the queue and writes
 * each with `ingest()` itself, against a view of the shared ledger that holds just the job's sources
 * and lets this attempt write them only while it owns the job.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { context } from '@opentelemetry/api';
import type { Job } from 'bullmq';
import { z } from 'zod';
import { randomHex } from '../core/bytes.js';
import type { DenseEmbedder, SparseEmbedder } from '../core/embedder.js';
import { ConflictError } from '../core/errors.js';
import type { Store } from '../core/store.js';
import { functionSchema, parseArgument } from '../core/validate.js';
import { ingest } from '../pipeline/ingest.js';
import { withSpan } from '../pipeline/telemetry.js';
import type { Splitter } from '../pipeline/types.js';
import {
  type DistributedConnection,
  loadBullmq,
  openConnections,
  queueName,
  queuePrefix,
  refuseLocalStore,
} from './engine.js';
import { type IngestJob, type JobProgress, type JobResult, jobSchema, remoteContext } from './jobs.js';
import { createRedisLedger, type JobLedger, type RedisLedger } from './ledger-redis.js';
import { checkRate, createTokenBucket, type EmbeddingRate, rateLimited } from './rate-limit.js';
import { DEFAULT_NAMESPACE } from './redis.js';

export type IngestWorkerEvent =
  | { type: 'started'; jobId: string; runId: string; collection: string; sources: number; attempt: number }
  | { type: 'completed'; jobId: string; result: JobResult }
  | { type: 'failed'; jobId: string; error: string; willRetry: boolean };

export type IngestWorkerOptions = DistributedConnection & {
  /** The shared store the jobs' collections are in (pgvector, Qdrant, Milvus). */
  store: Store;
  /** The same embedders (same models and settings) as the coordinator's. */
  embedder?: DenseEmbedder;
  sparseEmbedder?: SparseEmbedder;
  /** The coordinator's splitter settings; default as in `ingest()`. */
  splitter?: Splitter;
  /** Texts per embedding call, default min(64, embedder.maxBatchSize). */
  batchSize?: number;
  /** Embedding calls in flight per job, default 2. */
  concurrency?: number;
  /** Jobs this worker writes at once. Default 1. */
  jobs?: number;
  /**
   * A job's lease, in ms: renewed every half of it while the job runs; a job whose worker stopped
   * renewing (killed, hung, cut off) is taken over by another worker after this. Default 30 000.
   */
  leaseMs?: number;
  /** How often this worker looks for jobs whose lease ran out, in ms. Default `leaseMs`. */
  stalledCheckMs?: number;
  /** Times a job may lose its lease before it is parked. Default 2. */
  maxStalls?: number;
  /** A token bucket in Redis that all workers share: the dense embedder embeds at most this many texts per second. */
  embeddingRate?: EmbeddingRate;
  /** Shown in BullMQ as the job's worker. */
  name?: string;
  onEvent?: (event: IngestWorkerEvent) => void;
};

export type IngestWorker = {
  readonly name: string;
  /** Stops taking jobs, lets the running ones finish, and closes the connections. */
  close(): Promise<void>;
};

const optionsSchema = z.object({
  jobs: z.number().int().min(1).max(256).optional(),
  leaseMs: z.number().int().min(100).optional(),
  stalledCheckMs: z.number().int().min(50).optional(),
  maxStalls: z.number().int().min(0).max(100).optional(),
  onEvent: functionSchema<IngestWorkerOptions['onEvent']>('onEvent must be a function').optional(),
});

/** How often a job's progress is sent to the coordinator, at most. */
const PROGRESS_MS = 250;

/**
 * Starts a worker: it takes ingest jobs from the queue until `close()`. Give it the same store,
 * embedders and splitter as the coordinator (a job whose sources come out with another version key
 * than the coordinator's is refused). A job is written with `ingest()`'s own steps; if this worker
 * dies half-way, another takes the job over once its lease runs out, recovers what this one left
 * and writes it again, with the same end state.
 */
export async function createIngestWorker(options: IngestWorkerOptions): Promise<IngestWorker> {
  parseArgument(
    optionsSchema,
    {
      jobs: options.jobs,
      leaseMs: options.leaseMs,
      stalledCheckMs: options.stalledCheckMs,
      maxStalls: options.maxStalls,
      onEvent: options.onEvent,
    },
    'ingest worker options',
  );
  refuseLocalStore(options.store, 'ingest worker options');
  const rate = options.embeddingRate ? checkRate(options.embeddingRate, 'ingest worker options') : undefined;
  const { Worker, UnrecoverableError } = await loadBullmq();
  const connections = await openConnections(options.redis);
  const namespace = options.namespace ?? DEFAULT_NAMESPACE;
  const bucket = rate ? createTokenBucket(connections.client, `${namespace}:embedding-rate`, rate) : undefined;
  // The bucket paces the calls to the (remote) dense model; a sparse embedder such as BM25 runs here.
  const embedder = options.embedder && bucket ? rateLimited(options.embedder, bucket) : options.embedder;
  const sparseEmbedder = options.sparseEmbedder;
  const fence = new AsyncLocalStorage<JobLedger>();
  const store = fencedStore(options.store, fence);
  const ledgers = new Map<string, Promise<RedisLedger>>();
  const ledgerOf = (collection: string) => {
    let ledger = ledgers.get(collection);
    if (!ledger) {
      ledger = createRedisLedger({ redis: connections.client, collection, namespace });
      ledgers.set(collection, ledger);
    }
    return ledger;
  };
  const name = options.name ?? `kumiki-worker-${process.pid}-${randomHex(3)}`;
  const emit = (event: IngestWorkerEvent) => options.onEvent?.(event);

  const process_ = async (job: Job): Promise<JobResult> => {
    const parsed = jobSchema.safeParse(job.data);
    if (!parsed.success) {
      throw new UnrecoverableError(
        `job ${job.id} is not a kumiki ingest job this worker can read (${parsed.error.issues[0]?.message}); is the coordinator another kumiki version?`,
      );
    }
    const data = parsed.data;
    const jobId = String(job.id);
    const sources = data.documents.map((document) => document.uri);
    emit({
      type: 'started',
      jobId,
      runId: data.runId,
      collection: data.collection,
      sources: sources.length,
      attempt: job.attemptsStarted,
    });
    const ledger = await ledgerOf(data.collection);
    const attempt = `${jobId}/${job.attemptsStarted}/${randomHex(4)}`;
    const view = await ledger.claim({ lease: data.lease, attempt, sources });
    if (!view) {
      return { abandoned: true, chunksEmbedded: 0, chunksWritten: 0, chunksDeleted: 0, embeddingCalls: 0 };
    }
    return fence.run(view, () =>
      context.with(remoteContext(data.trace), () =>
        withSpan(
          'kumiki.ingest.job',
          {
            'kumiki.collection': data.collection,
            'kumiki.ingest.run': data.runId,
            'kumiki.ingest.job': jobId,
            'kumiki.ingest.attempt': job.attemptsStarted,
            'kumiki.ingest.sources': sources.length,
          },
          async () => {
            let sent = 0;
            let latest: JobProgress = { chunksEmbedded: 0, chunksWritten: 0 };
            const report = await ingest({
              store,
              collection: data.collection,
              documents: data.documents,
              ...(embedder ? { embedder } : {}),
              ...(sparseEmbedder ? { sparseEmbedder } : {}),
              ...(options.splitter ? { splitter: options.splitter } : {}),
              ...(options.batchSize ? { batchSize: options.batchSize } : {}),
              ...(options.concurrency ? { concurrency: options.concurrency } : {}),
              ledger: view,
              runId: data.runId,
              // The coordinator sized the job: it is written as one batch.
              writeBatchChunks: 1_000_000,
              onProgress: (progress) => {
                latest = { chunksEmbedded: progress.chunksEmbedded, chunksWritten: progress.chunksWritten };
                const now = performance.now();
                if (now - sent < PROGRESS_MS) return;
                sent = now;
                job.updateProgress(latest).catch(() => undefined);
              },
            });
            await checkVersions(view, data, jobId, ledger.collection);
            return {
              abandoned: false,
              chunksEmbedded: latest.chunksEmbedded,
              chunksWritten: report.chunksWritten,
              chunksDeleted: report.chunksDeleted,
              embeddingCalls: report.embeddingCalls,
            };
          },
        ),
      ),
    );
  };

  const leaseMs = options.leaseMs ?? 30_000;
  const worker = new Worker(queueName(options), process_, {
    connection: connections.blocking,
    prefix: queuePrefix(options.namespace),
    name,
    concurrency: options.jobs ?? 1,
    lockDuration: leaseMs,
    stalledInterval: options.stalledCheckMs ?? leaseMs,
    maxStalledCount: options.maxStalls ?? 2,
    autorun: true,
  });
  worker.on('completed', (job, result: JobResult) => emit({ type: 'completed', jobId: String(job.id), result }));
  worker.on('failed', (job, error) => {
    if (!job) return;
    emit({
      type: 'failed',
      jobId: String(job.id),
      error: error.message,
      willRetry: job.attemptsMade < (job.opts.attempts ?? 1) && !(error instanceof UnrecoverableError),
    });
  });
  // Connection errors are retried by BullMQ; they must not end the process as unhandled 'error' events.
  worker.on('error', () => undefined);
  await worker.waitUntilReady();
  return {
    name,
    async close() {
      await worker.close();
      for (const ledger of ledgers.values()) await (await ledger.catch(() => undefined))?.dispose();
      await connections.close();
    },
  };
}

/**
 * The store, with each upsert and delete made only while the job attempt it runs for (`fence`'s
 * current value) still owns its job: a worker that lost its job to another (stalled past its lease,
 * then woke up) stops at its next write instead of deleting chunks the new owner is writing. One
 * object for all jobs, so per-store caches (BM25 statistics) carry over from job to job.
 */
function fencedStore(store: Store, fence: AsyncLocalStorage<JobLedger>): Store {
  return new Proxy(store, {
    get(target, key) {
      if (key === 'upsert' || key === 'delete') {
        const write = target[key].bind(target) as (options: never) => Promise<unknown>;
        return async (options: never) => {
          await fence.getStore()?.assertOwner();
          return write(options);
        };
      }
      const value = Reflect.get(target, key, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Every source of the job must now hold the version the coordinator asked for. */
async function checkVersions(view: JobLedger, data: IngestJob, jobId: string, collection: string) {
  const entries = new Map((await view.entries()).map((entry) => [entry.source, entry]));
  for (const [i, document] of data.documents.entries()) {
    const entry = entries.get(document.uri);
    if (entry?.key === data.keys[i]) continue;
    throw new ConflictError({
      message: `Job ${jobId} wrote source ${JSON.stringify(document.uri)} of "${collection}" as version ${entry?.key.slice(0, 12) || 'none'}…, but the coordinator asked for ${data.keys[i]?.slice(0, 12)}…: this worker's splitter, embedders or their settings differ from the coordinator's. Start workers with the coordinator's configuration.`,
      component: 'distributed',
    });
  }
}
