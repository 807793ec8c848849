/**
 * Embedding-cache costs: what a cache hit costs per text through `withEmbeddingCache` in memory and
 * through Redis, and how many network round trips one batch read takes.
 *
 *   npx tsx bench/cache.ts
 */
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createKeyvCache } from '../src/caches/keyv/index.js';
import { withEmbeddingCache } from '../src/compose/embedding-cache.js';
import type { Cache } from '../src/core/cache.js';
import type { DenseEmbedder } from '../src/core/embedder.js';
import { type RedisServer, startRedisServer, startRoundTripCounter } from '../test/helpers/redis-server.js';

const DIMENSIONS = 384;
const TEXTS = 1000;
const BATCH = 100;

/** A stand-in model: 384-dim vectors from a cheap hash, so that only the cache is measured. */
function hashEmbedder(): DenseEmbedder & { calls: () => number } {
  let calls = 0;
  return {
    specificationVersion: 'kumiki.embedder.v1',
    provider: 'bench',
    modelId: 'hash-384',
    kind: 'dense',
    maxBatchSize: 256,
    supportsParallelCalls: true,
    space: async () => ({ provider: 'bench', model: 'hash-384', dimensions: DIMENSIONS }),
    async embed({ values }) {
      calls++;
      return {
        vectors: values.map((text) => {
          let seed = 2166136261;
          for (let i = 0; i < text.length; i++) seed = Math.imul(seed ^ text.charCodeAt(i), 16777619);
          return Float32Array.from({ length: DIMENSIONS }, (_, i) => Math.sin(seed + i));
        }),
      };
    },
    calls: () => calls,
  };
}

const texts = Array.from(
  { length: TEXTS },
  (_, i) =>
    `Passage ${i}. Retrieval-augmented generation grounds answers in documents; this one is about topic ${i % 97} and carries a typical sentence or two of text.`,
);

type Measure = { batchedUs: number; singleUs: number; modelCalls: number };

/** Warms the cache, then times hits: all texts in batches of BATCH, and one text per call. */
async function measureHits(cache: Cache, rounds: number): Promise<Measure> {
  const model = hashEmbedder();
  const embedder = withEmbeddingCache(model, cache);
  await embedder.embed({ values: texts, role: 'document' });
  const warmCalls = model.calls();
  const batches = Array.from({ length: TEXTS / BATCH }, (_, i) => texts.slice(i * BATCH, (i + 1) * BATCH));
  for (const batch of batches) await embedder.embed({ values: batch, role: 'document' });
  let started = performance.now();
  for (let round = 0; round < rounds; round++) {
    for (const batch of batches) await embedder.embed({ values: batch, role: 'document' });
  }
  const batchedUs = ((performance.now() - started) * 1000) / (rounds * TEXTS);
  const singles = texts.slice(0, 200);
  started = performance.now();
  for (let round = 0; round < rounds; round++) {
    for (const text of singles) await embedder.embed({ values: [text], role: 'document' });
  }
  const singleUs = ((performance.now() - started) * 1000) / (rounds * singles.length);
  return { batchedUs, singleUs, modelCalls: model.calls() - warmCalls };
}

/**
 * Round trips per batch read through `withEmbeddingCache` on Redis, counted at a TCP proxy, and the
 * transactions per batch write from `INFO commandstats` (a large pipelined MULTI/EXEC streams in
 * several TCP chunks that the server acknowledges as they arrive, so a proxy cannot count it as one).
 */
async function redisRoundTrips(
  server: RedisServer,
): Promise<{ perRead: number; mgetPerRead: number; execPerWrite: number }> {
  const proxy = await startRoundTripCounter(server.port);
  const cache = createKeyvCache({ url: proxy.url, namespace: 'bench-trips', strict: true });
  const batches = 5;
  const slices = Array.from({ length: batches }, (_, i) => texts.slice(i * BATCH, (i + 1) * BATCH));
  try {
    const embedder = withEmbeddingCache(hashEmbedder(), cache);
    await cache.get('connect');
    await server.command('CONFIG', 'RESETSTAT');
    for (const values of slices) await embedder.embed({ values, role: 'query' });
    const execPerWrite = ((await server.commandCalls()).exec ?? 0) / batches;
    await server.command('CONFIG', 'RESETSTAT');
    proxy.reset();
    for (const values of slices) await embedder.embed({ values, role: 'query' });
    const perRead = proxy.roundTrips() / batches;
    const mgetPerRead = ((await server.commandCalls()).mget ?? 0) / batches;
    return { perRead, mgetPerRead, execPerWrite };
  } finally {
    await cache.dispose();
    await proxy.close();
  }
}

const us = (value: number) => `${value.toFixed(1)} µs`;

/** Runs the cache benchmark and returns a markdown section. */
export async function runCacheBench(): Promise<string> {
  const memory = createKeyvCache();
  await measureHits(memory, 2);
  const inMemory = await measureHits(memory, 5);
  await memory.dispose();

  const server = await startRedisServer();
  let viaRedis: Measure;
  let trips: Awaited<ReturnType<typeof redisRoundTrips>>;
  try {
    const redis = createKeyvCache({ url: server.url, namespace: 'bench', strict: true });
    viaRedis = await measureHits(redis, 3);
    await redis.dispose();
    trips = await redisRoundTrips(server);
  } finally {
    await server.stop();
  }

  const bar = (ok: boolean) => (ok ? 'met' : '**missed**');
  return [
    '## Embedding cache (`withEmbeddingCache` over `createKeyvCache`)',
    '',
    `${TEXTS} texts of about 150 characters, ${DIMENSIONS}-dim Float32 vectors from a hash stand-in model (so the ` +
      `model costs nothing), cache warmed first. "batched" = the ${TEXTS} texts in calls of ${BATCH}; "single" = ` +
      'one text per call (the query path). A hit includes validating the call, the space fingerprint, SHA-256 of ' +
      'the text, the single-flight bookkeeping, the cache read and decoding the vector. Redis runs on loopback.',
    '',
    '| measure | value | bar |',
    '| --- | ---: | --- |',
    `| hit cost per text, memory, batched | ${us(inMemory.batchedUs)} | ≤ 50 µs: ${bar(inMemory.batchedUs <= 50)} |`,
    `| hit cost per text, memory, single | ${us(inMemory.singleUs)} | |`,
    `| hit cost per text, Redis, batched | ${us(viaRedis.batchedUs)} | |`,
    `| hit cost per text, Redis, single | ${us(viaRedis.singleUs)} | |`,
    `| Redis round trips per batch read (${BATCH} keys) | ${trips.perRead} | one: ${bar(trips.perRead === 1)} |`,
    `| Redis commands per batch read | ${trips.mgetPerRead} MGET | |`,
    `| Redis transactions per batch write (${BATCH} vectors) | ${trips.execPerWrite} pipelined MULTI/EXEC | |`,
    `| model calls during the timed hits | ${inMemory.modelCalls + viaRedis.modelCalls} | zero: ${bar(inMemory.modelCalls + viaRedis.modelCalls === 0)} |`,
    '',
  ].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(await runCacheBench());
}
