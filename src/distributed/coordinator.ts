/**
 * The coordinator of a distributed ingest: `ingest()`'s own run (lock, ledger check, recovery,
 * unchanged sources, prune, catalog, report) with the writes of changed sources handed to workers
 * as BullMQ jobs, one job per batch.
 */
import { z } from 'zod';
import { LockedError, throwIfAborted } from '../core/errors.js';
import { functionSchema, parseArgument } from '../core/validate.js';
import {
  type DispatchedSource,
  type DispatchedTotals,
  type IngestDispatch,
  type IngestOptions,
  type IngestProgress,
  type IngestReport,
  newRunId,
  runIngest,
} from '../pipeline/ingest.js';
import {
  type DistributedConnection,
  loadBullmq,
  openConnections,
  queueName,
  queuePrefix,
  refuseLocalStore,
} from './engine.js';
import { type ParkedJob, ParkedJobsError } from './errors.js';
import { activeTrace, type IngestJob, JOB_NAME, type JobProgress, progressSchema, resultSchema } from './jobs.js';
import { createRedisLedger } from './ledger-redis.js';

export type DistributedIngestProgress = IngestProgress & {
  /** Jobs handed to workers so far, finished (written), parked, and open (queued or being written). */
  jobs: { queued: number; done: number; parked: number; open: number };
};

export type DistributedIngestOptions = Omit<IngestOptions, 'ledger' | 'onProgress'> &
  DistributedConnection & {
    /**
     * Attempts per job (a worker killed or failing counts as one) before the job is parked in the
     * queue's failed set and reported. Default 3.
     */
    maxAttempts?: number;
    /** Wait before the first retry of a failed job, in ms; it doubles with each attempt. Default 1000. */
    retryDelayMs?: number;
    /**
     * Jobs queued or being written at once. While this many are open the coordinator reads no
     * further sources: a slow store or embedder slows the reading instead of filling Redis. Default 16.
     */
    maxOpenJobs?: number;
    /** How often open jobs are checked when no event arrives, in ms. Default 1000. */
    pollMs?: number;
    /** How long the coordinator's lease on the collection lasts without a heartbeat, in ms. Default 30 000. */
    leaseMs?: number;
    onProgress?: (progress: DistributedIngestProgress) => void;
  };

const distributedSchema = z.object({
  redis: z.union([
    z.string().regex(/^rediss?:\/\//, 'redis must be a redis:// or rediss:// URL, or an ioredis client'),
    z.custom<object>(
      (value) => typeof value === 'object' && value !== null,
      'redis must be a URL or an ioredis client',
    ),
  ]),
  namespace: z.string().min(1).optional(),
  queue: z.string().min(1).optional(),
  maxAttempts: z.number().int().min(1).max(100).optional(),
  retryDelayMs: z.number().int().min(0).optional(),
  maxOpenJobs: z.number().int().min(1).max(10_000).optional(),
  pollMs: z.number().int().min(10).optional(),
  leaseMs: z.number().int().min(100).optional(),
  onProgress: functionSchema<DistributedIngestOptions['onProgress']>('onProgress must be a function').optional(),
});

/**
 * Ingests like `ingest()`, with workers (`createIngestWorker`, `kumiki worker`) in other processes
 * or machines writing the changed sources. The ledger is kept in Redis (`createRedisLedger`), and the
 * guarantees are `ingest()`'s: unchanged sources cost nothing, a changed source's new chunks are
 * written before its old ones are deleted, prune runs once every job is written, and a killed worker's
 * job is written by another with the same end state. One coordinator per collection at a time (the
 * second gets `LockedError`, or waits `lockTimeoutMs`). Jobs that fail `maxAttempts` times are parked
 * and reported with `ParkedJobsError`. The report is `ingest()`'s.
 */
export async function ingestDistributed(options: DistributedIngestOptions): Promise<IngestReport> {
  const settings = parseArgument(distributedSchema, pick(options), 'distributed ingest options');
  refuseLocalStore(options.store, 'distributed ingest options');
  const {
    redis: _redis,
    namespace,
    queue: _queue,
    maxAttempts,
    retryDelayMs,
    maxOpenJobs,
    pollMs,
    leaseMs,
    onProgress,
    ...ingestOptions
  } = options;
  const name = queueName(options);
  const { Queue, QueueEvents } = await loadBullmq();
  const connections = await openConnections(settings.redis as DistributedConnection['redis']);
  const ledger = await createRedisLedger({
    redis: connections.client,
    collection: options.collection,
    ...(namespace ? { namespace } : {}),
    ...(leaseMs ? { leaseMs } : {}),
  });
  const prefix = queuePrefix(namespace);
  const queue = new Queue(name, { connection: connections.client, prefix });
  const events = new QueueEvents(name, { connection: connections.blocking, prefix });
  const open = new Map<string, { sources: DispatchedSource[]; progress: JobProgress }>();
  const parked: ParkedJob[] = [];
  const totals = { chunksEmbedded: 0, chunksWritten: 0, chunksDeleted: 0, embeddingCalls: 0 };
  const written: DispatchedSource[] = [];
  let queued = 0;
  let local: IngestProgress | undefined;
  let runId: string | undefined;
  let wake: () => void = () => undefined;
  const changed = () => wake();

  let drained = false;
  const emit = (phase?: IngestProgress['phase']) => {
    if (!onProgress || !local) return;
    let embedded = totals.chunksEmbedded;
    let writtenChunks = totals.chunksWritten;
    for (const job of open.values()) {
      embedded += job.progress.chunksEmbedded;
      writtenChunks += job.progress.chunksWritten;
    }
    onProgress({
      ...local,
      ...(phase ? { phase } : {}),
      chunksEmbedded: local.chunksEmbedded + embedded,
      // Once drained, the run's own count includes the workers' (runIngest added them to its report).
      chunksWritten: local.chunksWritten + (drained ? 0 : writtenChunks),
      jobs: { queued, done: queued - open.size - parked.length, parked: parked.length, open: open.size },
    });
  };
  events.on('completed', ({ jobId }) => open.has(jobId) && changed());
  events.on('failed', ({ jobId }) => open.has(jobId) && changed());
  events.on('progress', ({ jobId, data }) => {
    const job = open.get(jobId);
    const progress = progressSchema.safeParse(data);
    if (!job || !progress.success) return;
    job.progress = progress.data;
    emit();
  });

  /** Reads the state of each open job and takes in the finished ones. */
  const settle = async () => {
    for (const [jobId, job] of [...open]) {
      const state = await queue.getJobState(jobId);
      if (state !== 'completed' && state !== 'failed' && state !== 'unknown') continue;
      const found = state === 'unknown' ? undefined : await queue.getJob(jobId);
      open.delete(jobId);
      if (state === 'completed' && found) {
        const result = resultSchema.parse(found.returnvalue);
        if (result.abandoned) throw leaseLost(ledger.location);
        totals.chunksEmbedded += result.chunksEmbedded;
        totals.chunksWritten += result.chunksWritten;
        totals.chunksDeleted += result.chunksDeleted;
        totals.embeddingCalls += result.embeddingCalls;
        written.push(...job.sources);
      } else {
        parked.push({
          jobId,
          sources: job.sources.map((source) => source.document.uri),
          attempts: found?.attemptsMade ?? 0,
          reason: found ? found.failedReason || 'stalled too often' : 'the job was removed from the queue',
        });
      }
    }
    emit();
  };

  /** Waits for a job to finish (an event, or the next poll), then takes in what finished. */
  const next = async () => {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, pollMs ?? 1000);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    wake = () => undefined;
    throwIfAborted(options.abortSignal, 'distributed ingest');
    if (!ledger.lease) throw leaseLost(ledger.location);
    await settle();
  };

  const dispatch: IngestDispatch = {
    async write(batch) {
      while (open.size >= (maxOpenJobs ?? 16)) await next();
      const lease = ledger.lease;
      if (!lease || !runId) throw leaseLost(ledger.location);
      const jobId = `${runId}.${++queued}`;
      const trace = activeTrace();
      const job: IngestJob = {
        format: 1,
        collection: options.collection,
        runId,
        lease,
        documents: batch.map((source) => source.document),
        keys: batch.map((source) => source.key),
        ...(trace ? { trace } : {}),
      };
      open.set(jobId, { sources: batch, progress: { chunksEmbedded: 0, chunksWritten: 0 } });
      await queue.add(JOB_NAME, job, {
        jobId,
        attempts: maxAttempts ?? 3,
        backoff: { type: 'exponential', delay: retryDelayMs ?? 1000 },
        removeOnComplete: { age: 3600 },
        removeOnFail: { age: 7 * 24 * 3600 },
      });
      emit();
    },
    async drain(): Promise<DispatchedTotals> {
      while (open.size > 0) await next();
      if (parked.length > 0) {
        throw new ParkedJobsError({
          parked,
          completedJobs: queued - parked.length,
          queue: name,
          collection: options.collection,
        });
      }
      emit('write');
      drained = true;
      const { chunksEmbedded: _embedded, ...counters } = totals;
      return { ...counters, written };
    },
  };

  try {
    await events.waitUntilReady();
    runId = options.runId ?? newRunId();
    return await runIngest(
      {
        ...ingestOptions,
        runId,
        ledger,
        onProgress: (progress) => {
          local = progress;
          emit();
        },
      },
      dispatch,
    );
  } finally {
    // Jobs of a failed run that no worker has started are taken back (the next run recovers the rest).
    for (const jobId of open.keys()) await queue.remove(jobId).catch(() => 0);
    await events.close().catch(() => undefined);
    await queue.close().catch(() => undefined);
    await ledger.dispose();
    await connections.close();
  }
}

const DISTRIBUTED_KEYS = Object.keys(distributedSchema.shape);

function pick(options: DistributedIngestOptions): Record<string, unknown> {
  return Object.fromEntries(
    DISTRIBUTED_KEYS.filter((key) => key in options).map((key) => [key, (options as Record<string, unknown>)[key]]),
  );
}

const leaseLost = (location: string) =>
  new LockedError({
    location,
    holder: undefined,
    heldBy:
      'no one: this coordinator lost its lease (its heartbeat did not reach Redis in time), so its workers stopped writing',
    waitedMs: 0,
    isRetryable: true,
    component: 'distributed',
  });
