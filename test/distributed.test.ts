/**
 * Distributed ingest against a real Redis (test/helpers/redis-server.ts) and a real Postgres with
 * pgvector over the wire (PGlite): the shared ledger, the token bucket, and a coordinator with
 * workers in this process. Worker processes killed at random moments: test/distributed-chaos.test.ts.
 */
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  createIngestWorker,
  createRedisLedger,
  type DistributedIngestProgress,
  type IngestWorker,
  type IngestWorkerOptions,
  ingestDistributed,
  ParkedJobsError,
} from '../src/distributed/index.js';
import { createTokenBucket, rateLimited } from '../src/distributed/rate-limit.js';
import { openRedis, type RedisClient } from '../src/distributed/redis.js';
import {
  CorruptDataError,
  createBm25Encoder,
  createMemoryStore,
  createRecursiveSplitter,
  type DenseEmbedder,
  type IngestReport,
  InvalidArgumentError,
  ingest,
  type LedgerEntry,
  LockedError,
  type Store,
  UnavailableError,
} from '../src/index.js';
import { createMemoryLedger } from '../src/pipeline/ledger.js';
import { createPgvectorStore } from '../src/stores/pgvector/index.js';
import { chaosCorpus, chaosEmbedder, chaosSplitter } from './chaos/corpus.mjs';
import { type ChaosState, compare, ledgerOf, readRecords, statisticsOf } from './chaos/harness.js';
import { type PgliteServer, startPgliteServer } from './helpers/pglite-server.js';
import { type RedisServer, startRedisServer } from './helpers/redis-server.js';

let redis: RedisServer;
let pg: PgliteServer;
let client: RedisClient;
const stores: Store[] = [];
let schemas = 0;

beforeAll(async () => {
  [redis, pg] = await Promise.all([startRedisServer(), startPgliteServer()]);
  client = await openRedis(redis.url);
});
afterAll(async () => {
  for (const store of stores) await store.dispose();
  client?.disconnect();
  await redis?.stop();
  await pg?.stop();
});

/** A pgvector store in a fresh schema (each test its own tables). */
function pgStore(schema = `d${++schemas}`): Store {
  const store = createPgvectorStore({ connectionString: pg.connectionString, schema, poolConfig: { max: 1 } });
  stores.push(store);
  return store;
}

const entry = (source: string, key = 'k1', collection = 'c'): LedgerEntry => ({
  collection,
  source,
  key,
  contentHash: 'h',
  chunkIds: [`${source}-0`],
  runId: 'run-1',
  ingestedAt: '2026-12-01T00:00:00.000Z',
});

let namespaces = 0;
const namespace = () => `t${++namespaces}`;

describe('createRedisLedger', () => {
  test('writes are applied whole, read back by any process, with the mark', async () => {
    const ns = namespace();
    const a = await createRedisLedger({ redis: redis.url, collection: 'c', namespace: ns });
    const b = await createRedisLedger({ redis: redis.url, collection: 'c', namespace: ns });
    try {
      await a.write({ put: [entry('x'), entry('y')], mark: { collection: 'c', epoch: 'e1' } });
      await a.write({ put: [entry('x', 'k2')], remove: [{ collection: 'c', source: 'y' }] });
      expect(await b.entries()).toEqual([entry('x', 'k2')]);
      expect(await b.marks?.()).toEqual([{ collection: 'c', epoch: 'e1' }]);
    } finally {
      await a.dispose();
      await b.dispose();
    }
  });

  test('one collection per ledger: changes for another are refused with InvalidArgumentError', async () => {
    const ledger = await createRedisLedger({ redis: client, collection: 'c', namespace: namespace() });
    await expect(ledger.write({ put: [entry('x', 'k', 'other')] })).rejects.toThrow(
      /records collection "c", not "other"/,
    );
    await expect(ledger.write({ put: [entry('x', 'k', 'other')] })).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(await ledger.entries()).toEqual([]);
  });

  test('an entry that is not a ledger entry is refused with CorruptDataError, never read as absent', async () => {
    const ns = namespace();
    const ledger = await createRedisLedger({ redis: client, collection: 'c', namespace: ns });
    await redis.command('HSET', `${ns}:{c}:entries`, 'x', '{"not":"an entry"}');
    await expect(ledger.entries()).rejects.toBeInstanceOf(CorruptDataError);
  });

  test('one writer at a time: a second gets LockedError naming the holder; a non-holder cannot write', async () => {
    const ns = namespace();
    const a = await createRedisLedger({ redis: redis.url, collection: 'c', namespace: ns });
    const b = await createRedisLedger({ redis: redis.url, collection: 'c', namespace: ns });
    try {
      await a.acquire?.({ timeoutMs: 0 });
      const error = await b.acquire?.({ timeoutMs: 0 }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(LockedError);
      expect((error as LockedError).holder?.pid).toBe(process.pid);
      expect((error as Error).message).toMatch(new RegExp(`locked by process ${process.pid} on `));
      await expect(b.write({ put: [entry('x')] })).rejects.toBeInstanceOf(LockedError);
      await a.write({ put: [entry('x')] });
      await a.release?.();
      await b.acquire?.({ timeoutMs: 0 });
      await b.write({ put: [entry('y')] });
      expect((await a.entries()).map((e) => e.source).sort()).toEqual(['x', 'y']);
    } finally {
      await a.dispose();
      await b.dispose();
    }
  });

  test('the lease of a holder that died runs out and is taken over', async () => {
    const ns = namespace();
    const doomed = await openRedis(redis.url);
    const a = await createRedisLedger({ redis: doomed, collection: 'c', namespace: ns, leaseMs: 300 });
    await a.acquire?.({ timeoutMs: 0 });
    doomed.disconnect(); // its heartbeat no longer reaches Redis, as if the process had died
    const b = await createRedisLedger({ redis: client, collection: 'c', namespace: ns, leaseMs: 300 });
    await b.acquire?.({ timeoutMs: 30_000 });
    await b.write({ put: [entry('x')] });
    await b.release?.();
    await a.release?.().catch(() => undefined);
  });

  test('job views: a later attempt fences off an earlier one, and a run that ended fences off all', async () => {
    const ns = namespace();
    const coordinator = await createRedisLedger({ redis: client, collection: 'c', namespace: ns });
    await coordinator.acquire?.({ timeoutMs: 0 });
    const lease = coordinator.lease as string;
    const first = await coordinator.claim({ lease, attempt: 'job-1/1', sources: ['x', 'y'] });
    const second = await coordinator.claim({ lease, attempt: 'job-1/2', sources: ['x', 'y'] });
    if (!first || !second) throw new Error('claims refused while the run holds the lease');
    await expect(first.write({ put: [entry('x')] })).rejects.toThrow(/a later attempt of the job/);
    await expect(first.assertOwner()).rejects.toThrow(/a later attempt of this job/);
    await second.assertOwner();
    await second.write({ put: [entry('x'), entry('y')] });
    await expect(second.write({ put: [entry('z')] })).rejects.toThrow(/not in this job/);
    expect((await second.entries()).map((e) => e.source)).toEqual(['x', 'y']);
    await coordinator.release?.();
    await expect(second.write({ put: [entry('x', 'k2')] })).rejects.toBeInstanceOf(LockedError);
    await expect(second.assertOwner()).rejects.toThrow(/the run this job belongs to has ended/);
    expect(await coordinator.claim({ lease, attempt: 'job-1/3', sources: ['x'] })).toBeUndefined();
    expect((await coordinator.entries()).map((e) => e.key)).toEqual(['k1', 'k1']);
  });

  test('ingest() in one process keeps its guarantees with a Redis ledger', async () => {
    const ledger = await createRedisLedger({ redis: client, collection: 'chaos', namespace: namespace() });
    const store = createMemoryStore();
    const run = (version: number) =>
      ingest({
        store,
        collection: 'chaos',
        documents: chaosCorpus(version),
        embedder: chaosEmbedder(),
        splitter: chaosSplitter,
        ledger,
        prune: true,
      });
    const first = await run(1);
    expect(first.added).toBe(37);
    const again = await run(1);
    expect([again.unchanged, again.embeddingCalls, again.ledger.trusted]).toEqual([37, 0, true]);
    await run(2);
    const expected = createMemoryStore();
    const expectedLedger = createMemoryLedger();
    for (const v of [1, 2])
      await ingest({
        store: expected,
        collection: 'chaos',
        documents: chaosCorpus(v),
        embedder: chaosEmbedder(),
        splitter: chaosSplitter,
        ledger: expectedLedger,
        prune: true,
      });
    expect(ledgerOf(await ledger.entries())).toEqual(ledgerOf(await expectedLedger.entries()));
  });
});

describe('embedding rate limit', () => {
  test('the bucket is shared: what one client takes, another cannot, and calls wait for tokens', async () => {
    const key = `${namespace()}:embedding-rate`;
    const other = await openRedis(redis.url);
    try {
      const a = createTokenBucket(client, key, { perSecond: 0.001, burst: 5 });
      const b = createTokenBucket(other, key, { perSecond: 0.001, burst: 5 });
      expect(await a.tryTake(3)).toBe(0);
      expect(await b.tryTake(2)).toBe(0);
      expect(await b.tryTake(1)).toBeGreaterThan(0);
      expect(await a.tryTake(1)).toBeGreaterThan(0);
    } finally {
      other.disconnect();
    }
  });

  test('a call larger than the burst takes a full bucket and leaves it in debt', async () => {
    const bucket = createTokenBucket(client, `${namespace()}:embedding-rate`, { perSecond: 0.001, burst: 4 });
    expect(await bucket.tryTake(10)).toBe(0);
    expect(await bucket.tryTake(1)).toBeGreaterThan(0);
  });

  test('a rate-limited embedder draws one token per text before each call', async () => {
    const key = `${namespace()}:embedding-rate`;
    const bucket = createTokenBucket(client, key, { perSecond: 0.001, burst: 6 });
    const limited = rateLimited(chaosEmbedder() as DenseEmbedder, bucket);
    await limited.embed({ values: ['a', 'b', 'c', 'd'], role: 'document' });
    expect(await bucket.tryTake(3)).toBeGreaterThan(0);
    expect(await bucket.tryTake(2)).toBe(0);
    expect(limited.modelId).toBe('trigram');
  });

  test('bad rates are refused with InvalidArgumentError', () => {
    expect(() => createTokenBucket(client, 'k', { perSecond: 0 })).toThrow(InvalidArgumentError);
    expect(() => createTokenBucket(client, 'k', { perSecond: 5, burst: 0.5 })).toThrow(/burst must be/);
  });
});

/** Workers in this process; closed after `fn`. */
async function withWorkers<T>(
  count: number,
  options: Omit<IngestWorkerOptions, 'redis' | 'store'> & { store: Store },
  fn: (workers: IngestWorker[]) => Promise<T>,
): Promise<T> {
  const workers: IngestWorker[] = [];
  try {
    for (let i = 0; i < count; i++)
      workers.push(await createIngestWorker({ redis: redis.url, leaseMs: 2000, ...options }));
    return await fn(workers);
  } finally {
    await Promise.all(workers.map((worker) => worker.close()));
  }
}

/** The state (and the last report) a single-process ingest of corpus versions `versions` leaves. */
async function singleProcess(versions: number[], sparse: boolean) {
  const store = createMemoryStore();
  const ledger = createMemoryLedger();
  let report: IngestReport | undefined;
  for (const version of versions) {
    report = await ingest({
      store,
      collection: 'chaos',
      documents: chaosCorpus(version),
      embedder: chaosEmbedder(),
      ...(sparse ? { sparseEmbedder: createBm25Encoder() } : {}),
      splitter: chaosSplitter,
      ledger,
      prune: true,
      writeBatchChunks: 20,
    });
  }
  const state: ChaosState = {
    records: await readRecords(store),
    ledger: ledgerOf(await ledger.entries()),
    statistics: sparse ? await statisticsOf(store) : undefined,
  };
  return { state, report };
}

/** A fresh store and namespace, the options a coordinator and its workers there share, and the state they leave. */
function fixture(options: { sparse?: boolean } = {}) {
  const store = pgStore();
  const connection = { redis: redis.url, namespace: namespace() };
  const models = () => ({
    embedder: chaosEmbedder(),
    ...(options.sparse ? { sparseEmbedder: createBm25Encoder() } : {}),
    splitter: chaosSplitter,
  });
  return {
    store,
    connection,
    worker: { ...connection, store, ...models() },
    coordinator: { ...connection, store, collection: 'chaos', ...models(), pollMs: 50 },
    async state(): Promise<ChaosState> {
      const ledger = await createRedisLedger({ redis: client, collection: 'chaos', namespace: connection.namespace });
      return {
        records: await readRecords(store),
        ledger: ledgerOf(await ledger.entries()),
        statistics: options.sparse ? await statisticsOf(store) : undefined,
      };
    },
  };
}

describe('ingestDistributed', () => {
  test('two workers leave the store and ledger a single-process ingest leaves; unchanged sources make no job', async () => {
    const at = fixture({ sparse: true });
    await withWorkers(2, at.worker, async () => {
      const run = (version: number) =>
        ingestDistributed({ ...at.coordinator, documents: chaosCorpus(version), prune: true, writeBatchChunks: 20 });
      const first = await run(1);
      expect([first.added, first.updated, first.unchanged, first.deleted]).toEqual([37, 0, 0, 0]);
      const again = await run(1);
      expect([again.unchanged, again.embeddingCalls, again.chunksWritten, again.ledger.trusted]).toEqual([
        37,
        0,
        0,
        true,
      ]);
      const second = await run(2);
      const single = await singleProcess([1, 2], true);
      expect({ ...second, runId: '', durationMs: 0 }).toEqual({ ...single.report, runId: '', durationMs: 0 });
      expect(compare(await at.state(), single.state)).toBeUndefined();
    });
  });

  test('an attempt that dies after its commit, before deleting the replaced chunks, is finished by the next one', async () => {
    const at = fixture();
    let failures = 0;
    // The workers' store fails its first delete after arming, as a worker killed at that moment would.
    let armed = false;
    const dying = new Proxy(at.store, {
      get(target, key) {
        if (key === 'delete') {
          return async (options: Parameters<Store['delete']>[0]) => {
            if (armed) {
              armed = false;
              failures++;
              throw new UnavailableError({ message: 'the worker died here' });
            }
            return target.delete(options);
          };
        }
        const value = Reflect.get(target, key, target) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const run = (version: number) =>
      ingestDistributed({
        ...at.coordinator,
        documents: chaosCorpus(version),
        prune: true,
        writeBatchChunks: 40,
        retryDelayMs: 10,
      });
    await withWorkers(1, { ...at.worker, store: dying }, async () => {
      await run(1);
      armed = true;
      const second = await run(2);
      expect(failures).toBe(1);
      expect(second.added + second.updated).toBeGreaterThan(0);
      expect(compare(await at.state(), (await singleProcess([1, 2], false)).state)).toBeUndefined();
    });
  });

  test('workers draw one token per text from the shared bucket before each embedding call', async () => {
    const at = fixture();
    const rate = { perSecond: 0.001, burst: 1000 };
    await withWorkers(2, { ...at.worker, embeddingRate: rate }, async () => {
      const report = await ingestDistributed({ ...at.coordinator, documents: chaosCorpus(1), writeBatchChunks: 10 });
      const bucket = createTokenBucket(client, `${at.connection.namespace}:embedding-rate`, rate);
      expect(await bucket.tryTake(1000 - report.chunksWritten + 1)).toBeGreaterThan(0);
      expect(await bucket.tryTake(1000 - report.chunksWritten)).toBe(0);
    });
  });

  test("progress adds up the workers' counts; the last event matches the report", async () => {
    const at = fixture();
    const events: DistributedIngestProgress[] = [];
    await withWorkers(2, at.worker, async () => {
      const report = await ingestDistributed({
        ...at.coordinator,
        documents: chaosCorpus(1),
        writeBatchChunks: 10,
        total: 37,
        onProgress: (progress) => events.push(progress),
      });
      const last = events.at(-1);
      expect(last?.phase).toBe('done');
      expect([last?.sources, last?.total, last?.chunksWritten, last?.chunksEmbedded]).toEqual([
        37,
        37,
        report.chunksWritten,
        report.chunksWritten,
      ]);
      expect(last?.jobs.done).toBe(last?.jobs.queued);
      expect(last?.jobs.queued).toBeGreaterThan(2);
      // Before the coordinator had read every source, workers had already written some.
      expect(events.some((event) => event.sources < 37 && event.chunksWritten > 0)).toBe(true);
      // Counts never go backwards (a worker's progress is replaced by its job's result, never added twice).
      for (let i = 1; i < events.length; i++)
        expect((events[i] as DistributedIngestProgress).chunksWritten).toBeGreaterThanOrEqual(
          (events[i - 1] as DistributedIngestProgress).chunksWritten,
        );
    });
  });

  test('a poison job is parked after maxAttempts and reported; the rest is written, prune does not run', async () => {
    const at = fixture();
    const base = chaosEmbedder() as DenseEmbedder;
    const poisonous: DenseEmbedder = {
      ...base,
      embed: async (options) => {
        if (options.values.some((text) => text.includes('POISON'))) throw new Error('the model crashed on this text');
        return base.embed(options);
      },
    };
    const documents = chaosCorpus(1).slice(0, 6);
    const poison = { uri: 'mem://poison', text: 'POISON', contentType: 'text/plain' };
    await withWorkers(2, { ...at.worker, embedder: poisonous }, async () => {
      await ingestDistributed({
        ...at.coordinator,
        documents: [...documents, { uri: 'mem://old', text: 'old', contentType: 'text/plain' }],
      });
      const error = await ingestDistributed({
        ...at.coordinator,
        documents: [...documents.slice(0, 3), poison, ...documents.slice(3)],
        prune: true,
        writeBatchChunks: 1,
        maxAttempts: 3,
        retryDelayMs: 10,
      }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ParkedJobsError);
      const parked = (error as ParkedJobsError).parked;
      expect(parked.map((job) => [job.sources, job.attempts])).toEqual([[['mem://poison'], 3]]);
      expect(parked[0]?.reason).toMatch(/the model crashed on this text/);
      expect((error as Error).message).toMatch(/1 of 1 ingest jobs into "chaos" failed on every attempt/);
      // Prune did not run: mem://old is still there.
      expect(Object.keys((await at.state()).ledger)).toContain('mem://old');
      // Fixed, the next run writes it, recovers what the parked job left and prunes.
      const fixed = await ingestDistributed({
        ...at.coordinator,
        documents: [...documents, { ...poison, text: 'cured' }],
        prune: true,
      });
      expect([fixed.added, fixed.unchanged, fixed.deleted]).toEqual([1, 6, 1]);
    });
  });

  test("a worker with another splitter than the coordinator's is caught, never silently written under another key", async () => {
    const at = fixture();
    const splitter = createRecursiveSplitter({ chunkSize: 50, chunkOverlap: 0, unit: 'characters' });
    await withWorkers(1, { ...at.worker, splitter }, async () => {
      const error = await ingestDistributed({
        ...at.coordinator,
        documents: chaosCorpus(1).slice(0, 2),
        maxAttempts: 1,
      }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ParkedJobsError);
      expect((error as ParkedJobsError).parked[0]?.reason).toMatch(
        /splitter, embedders or their settings differ from the coordinator's/,
      );
    });
  });

  test('one coordinator per collection: a second gets LockedError naming the first', async () => {
    const at = fixture();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started: () => void = () => undefined;
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    async function* slow() {
      started();
      await gate;
      yield* chaosCorpus(1).slice(0, 2);
    }
    await withWorkers(1, at.worker, async () => {
      const first = ingestDistributed({ ...at.coordinator, documents: slow() });
      await running;
      const error = await ingestDistributed({ ...at.coordinator, documents: chaosCorpus(1) }).catch(
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(LockedError);
      expect((error as LockedError).holder?.pid).toBe(process.pid);
      release();
      expect((await first).added).toBe(2);
    });
  });

  test('backpressure: with maxOpenJobs open, the coordinator reads no further until workers catch up', async () => {
    const at = fixture();
    const corpus = chaosCorpus(1).slice(0, 8);
    let pulled = 0;
    async function* counted() {
      for (const document of corpus) {
        pulled++;
        yield document;
      }
    }
    let full: () => void = () => undefined;
    const filled = new Promise<void>((resolve) => {
      full = resolve;
    });
    const run = ingestDistributed({
      ...at.coordinator,
      documents: counted(),
      writeBatchChunks: 1,
      maxOpenJobs: 2,
      pollMs: 20,
      onProgress: (progress) => {
        if (progress.jobs.open === 2) full();
      },
    });
    await filled;
    // Many polls later, with no worker running, the third batch still waits for a free slot.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(pulled).toBe(3);
    await withWorkers(1, at.worker, async () => {
      expect((await run).added).toBe(8);
    });
    expect(pulled).toBe(8);
  });

  test("spans: each job's span in the worker continues the coordinator's trace", async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const manager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(manager);
    trace.setGlobalTracerProvider(provider);
    const at = fixture();
    try {
      await withWorkers(1, at.worker, () =>
        ingestDistributed({ ...at.coordinator, documents: chaosCorpus(1).slice(0, 6), writeBatchChunks: 8 }),
      );
      const spans = exporter.getFinishedSpans();
      const coordinator = spans.find((span) => span.name === 'kumiki.ingest' && !span.parentSpanContext);
      const jobs = spans.filter((span) => span.name === 'kumiki.ingest.job');
      expect(jobs.length).toBeGreaterThan(1);
      for (const job of jobs) {
        expect(job.parentSpanContext?.spanId).toBe(coordinator?.spanContext().spanId);
        expect(job.parentSpanContext?.isRemote).toBe(true);
        expect(job.spanContext().traceId).toBe(coordinator?.spanContext().traceId);
      }
      const batches = spans.filter((span) => span.name === 'kumiki.ingest.batch');
      const byId = new Map(spans.map((span) => [span.spanContext().spanId, span]));
      for (const batch of batches) {
        const parent = byId.get(batch.parentSpanContext?.spanId ?? '');
        expect(byId.get(parent?.parentSpanContext?.spanId ?? '')?.name).toBe('kumiki.ingest.job');
      }
    } finally {
      trace.disable();
      context.disable();
      await provider.shutdown();
    }
  });

  test('the memory store is refused with InvalidArgumentError saying why, by the coordinator and by workers', async () => {
    const options = {
      redis: redis.url,
      store: createMemoryStore(),
      collection: 'c',
      documents: [],
      embedder: chaosEmbedder(),
    };
    await expect(ingestDistributed(options)).rejects.toThrow(/the memory store lives inside one process/);
    await expect(ingestDistributed(options)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(createIngestWorker({ redis: redis.url, store: createMemoryStore() })).rejects.toThrow(
      /use a store that several processes share \(pgvector, Qdrant or Milvus\)/,
    );
  });
});
