import { spawn } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createBm25Encoder } from '../src/bm25/index.js';
import { createKeyvCache } from '../src/caches/keyv/index.js';
import { withEmbeddingCache } from '../src/compose/embedding-cache.js';
import type { Cache } from '../src/core/cache.js';
import type { DenseEmbedder, Embedder, EmbedOptions, TokenCounter } from '../src/core/embedder.js';
import { AbortedError, type KumikiError, TimeoutError, throwIfAborted, UnavailableError } from '../src/core/errors.js';
import { fingerprint } from '../src/core/fingerprint.js';
import { sha256, sha256Hex } from '../src/core/sha256.js';
import type { SparseVector } from '../src/core/types.js';
import { ingest } from '../src/pipeline/ingest.js';
import { createMemoryLedger } from '../src/pipeline/ledger.js';
import { createMemoryStore } from '../src/stores/memory/index.js';
import { embedderConformance } from '../src/testing/embedder-conformance.js';
import { hangingStore } from './helpers/hanging-store.js';
import { type RedisServer, startRedisServer } from './helpers/redis-server.js';
import { trigramEmbedder } from './helpers/trigram-embedder.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));

/** A deterministic dense embedder (vectors from SHA-256 of role and text) that records every model call. */
function countingEmbedder(options: { model?: string; maxBatchSize?: number; gate?: Promise<void> } = {}) {
  const calls: string[][] = [];
  const model = options.model ?? 'sha-embed-1';
  const embedder: DenseEmbedder = {
    specificationVersion: 'kumiki.embedder.v1',
    provider: 'test',
    modelId: model,
    kind: 'dense',
    maxBatchSize: options.maxBatchSize ?? 64,
    supportsParallelCalls: true,
    async space() {
      return { provider: 'test', model, dimensions: 16 };
    },
    async embed({ values, role, abortSignal }: EmbedOptions) {
      throwIfAborted(abortSignal, 'test embed');
      calls.push([...values]);
      if (options.gate) {
        await new Promise<void>((resolve, reject) => {
          abortSignal?.addEventListener('abort', () => reject(new AbortedError({ operation: 'test embed' })));
          options.gate?.then(resolve);
        });
      }
      const vectors = values.map((text) => {
        const digest = sha256(`${role}\u0000${model}\u0000${text}`);
        return Float32Array.from({ length: 16 }, (_, i) => ((digest[i] as number) - 128) / 128);
      });
      return { vectors, usage: { tokens: values.length } };
    },
  };
  return { embedder, calls, texts: () => calls.flat() };
}

/** Wraps an embedder so that every call to its `embed` is counted. */
function counted<T>(embedder: Embedder<T>) {
  let calls = 0;
  const wrapped: Embedder<T> = {
    ...embedder,
    embed: (options) => {
      calls++;
      return embedder.embed(options);
    },
  };
  return { embedder: wrapped, calls: () => calls };
}

const documents = Array.from(
  { length: 1000 },
  (_, i) => `Document ${i}: ${['retrieval', 'vectors', 'caching', 'redis', 'embeddings'][i % 5]} and topic ${i % 37}`,
);
const bm25Corpus = ['The quick brown fox', 'Retrieval grounds answers in documents', 'Caching saves model calls'];

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});

describe('the same Embedder contract', () => {
  embedderConformance(test, () => withEmbeddingCache(createBm25Encoder({ corpus: bm25Corpus }), createKeyvCache()), {
    name: 'BM25 through a memory cache',
    tolerance: 0,
  });
  embedderConformance(test, () => withEmbeddingCache(countingEmbedder().embedder, createKeyvCache()), {
    name: 'dense through a memory cache',
    tolerance: 0,
  });
});

describe('withEmbeddingCache', () => {
  test('1,000 documents embedded twice: the second time makes no model call', async () => {
    const { embedder, calls, texts } = countingEmbedder();
    const cached = withEmbeddingCache(embedder, createKeyvCache());
    const first = await cached.embed({ values: documents, role: 'document' });
    expect(calls.length).toBe(Math.ceil(1000 / 64));
    expect(Math.max(...calls.map((batch) => batch.length))).toBeLessThanOrEqual(64);
    expect(texts().length).toBe(1000);
    const second = await cached.embed({ values: documents, role: 'document' });
    expect(calls.length).toBe(Math.ceil(1000 / 64));
    expect(second.vectors).toEqual(first.vectors);
    expect(second.usage).toBeUndefined();
    expect(cached.stats()).toEqual({ hits: 1000, misses: 1000, shared: 0, modelCalls: 16 });
    const fresh = await embedder.embed({ values: documents.slice(0, 3), role: 'document' });
    expect(second.vectors.slice(0, 3)).toEqual(fresh.vectors);
  });

  test('two processes sharing Redis: vectors embedded by one are never recomputed by the other', async () => {
    const namespace = `xproc-${Date.now()}`;
    const child = `
      import { createBm25Encoder } from ${JSON.stringify(pathToFileURL(`${root}src/bm25/index.ts`).href)};
      import { createKeyvCache } from ${JSON.stringify(pathToFileURL(`${root}src/caches/keyv/index.ts`).href)};
      import { withEmbeddingCache } from ${JSON.stringify(pathToFileURL(`${root}src/compose/embedding-cache.ts`).href)};
      const input = JSON.parse(process.argv[1]);
      const cache = createKeyvCache({ url: input.url, namespace: input.namespace, strict: true });
      const embedder = withEmbeddingCache(createBm25Encoder({ corpus: input.corpus }), cache);
      await embedder.embed({ values: input.documents, role: 'document' });
      await cache.dispose();
      process.stdout.write(JSON.stringify(embedder.stats()));
    `;
    const input = JSON.stringify({ url: redis.url, namespace, corpus: bm25Corpus, documents });
    const output = await new Promise<string>((resolve, reject) => {
      const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', child, input], {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      proc.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk;
      });
      proc.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk;
      });
      proc.on('error', reject);
      proc.on('exit', (code) =>
        code === 0 ? resolve(stdout) : reject(new Error(`child exited with ${code}: ${stderr}`)),
      );
    });
    expect(JSON.parse(output)).toMatchObject({ misses: 1000, hits: 0, modelCalls: 1 });

    const bm25 = createBm25Encoder({ corpus: bm25Corpus });
    const model = counted(bm25);
    const cache = createKeyvCache({ url: redis.url, namespace, strict: true });
    try {
      const cached = withEmbeddingCache(model.embedder, cache);
      const { vectors } = await cached.embed({ values: documents, role: 'document' });
      expect(model.calls()).toBe(0);
      expect(cached.stats()).toMatchObject({ hits: 1000, misses: 0, modelCalls: 0 });
      const fresh = await bm25.embed({ values: documents, role: 'document' });
      expect(vectors).toEqual(fresh.vectors);
      expect(vectors[0]?.indices).toBeInstanceOf(Uint32Array);
      expect(vectors[0]?.values).toBeInstanceOf(Float32Array);
    } finally {
      await cache.dispose();
    }
  });

  test('50 concurrent identical requests make one model call, and each caller gets its own copy', async () => {
    const { embedder, calls } = countingEmbedder();
    const cached = withEmbeddingCache(embedder, createKeyvCache());
    const results = await Promise.all(
      Array.from({ length: 50 }, () => cached.embed({ values: ['the same question'], role: 'query' })),
    );
    expect(calls).toEqual([['the same question']]);
    const vectors = results.map((result) => result.vectors[0] as Float32Array);
    for (const vector of vectors) expect(vector).toEqual(vectors[0]);
    expect(new Set(vectors).size).toBe(50);
    expect(cached.stats()).toEqual({ hits: 0, misses: 1, shared: 49, modelCalls: 1 });
  });

  test('overlapping batches and repeated texts share model work', async () => {
    const { embedder, texts } = countingEmbedder({ maxBatchSize: 4 });
    const cached = withEmbeddingCache(embedder, createKeyvCache());
    const a = Array.from({ length: 10 }, (_, i) => `text ${i}`);
    const b = Array.from({ length: 10 }, (_, i) => `text ${i + 5}`);
    const [left, right, repeated] = await Promise.all([
      cached.embed({ values: a, role: 'document' }),
      cached.embed({ values: b, role: 'document' }),
      cached.embed({ values: ['text 1', 'text 1', 'text 20'], role: 'document' }),
    ]);
    expect([...texts()].sort()).toEqual([...new Set([...a, ...b, 'text 20'])].sort());
    expect(left.vectors[7]).toEqual(right.vectors[2]);
    expect(repeated.vectors[0]).toEqual(repeated.vectors[1]);
    expect(repeated.vectors[0]).not.toBe(repeated.vectors[1]);
  });

  test('another fingerprint or role never returns an old vector', async () => {
    const cache = createKeyvCache();
    const v1 = countingEmbedder({ model: 'model-v1' });
    const v2 = countingEmbedder({ model: 'model-v2' });
    const one = await withEmbeddingCache(v1.embedder, cache).embed({ values: ['hello'], role: 'document' });
    const two = await withEmbeddingCache(v2.embedder, cache).embed({ values: ['hello'], role: 'document' });
    expect(v2.calls.length).toBe(1);
    expect(two.vectors[0]).not.toEqual(one.vectors[0]);
    await withEmbeddingCache(v1.embedder, cache).embed({ values: ['hello'], role: 'query' });
    expect(v1.calls.length).toBe(2);
    await withEmbeddingCache(v1.embedder, cache, { keyPrefix: 'other' }).embed({ values: ['hello'], role: 'document' });
    expect(v1.calls.length).toBe(3);
    await withEmbeddingCache(v1.embedder, cache).embed({ values: ['hello'], role: 'document' });
    expect(v1.calls.length).toBe(3);
  });

  test('a space that changes under the same wrapper (a model reload) is fingerprinted again', async () => {
    const cache = createKeyvCache();
    const base = countingEmbedder();
    let revision = 'r1';
    const reloading: DenseEmbedder = {
      ...base.embedder,
      space: async () => ({ ...(await base.embedder.space()), revision }),
    };
    const cached = withEmbeddingCache(reloading, cache);
    await cached.embed({ values: ['hello'], role: 'document' });
    await cached.embed({ values: ['hello'], role: 'document' });
    expect(base.calls.length).toBe(1);
    revision = 'r2';
    await cached.embed({ values: ['hello'], role: 'document' });
    expect(base.calls.length).toBe(2);
    await cached.embed({ values: ['hello'], role: 'document' });
    expect(base.calls.length).toBe(2);
    revision = 'r1';
    await cached.embed({ values: ['hello'], role: 'document' });
    expect(base.calls.length).toBe(2);
  });

  test('an abort reaches a cache lookup that hangs: embed rejects at once and the model is never asked', async () => {
    const { embedder, calls } = countingEmbedder();
    const { store, waiting } = hangingStore(2);
    const cached = withEmbeddingCache(embedder, createKeyvCache({ store, timeoutMs: 600_000 }));
    const controller = new AbortController();
    const outcome = cached
      .embed({ values: ['a', 'b'], role: 'document', abortSignal: controller.signal })
      .catch((error: unknown) => error);
    await waiting;
    controller.abort();
    expect(AbortedError.isInstance(await outcome)).toBe(true);
    expect(calls).toEqual([]);
  });

  test('queries and documents have their own time to live', async () => {
    const { embedder, calls } = countingEmbedder();
    const cached = withEmbeddingCache(embedder, createKeyvCache(), { queryTtlMs: 100, documentTtlMs: 60_000 });
    await cached.embed({ values: ['q'], role: 'query' });
    await cached.embed({ values: ['d'], role: 'document' });
    await new Promise((resolve) => setTimeout(resolve, 400));
    await cached.embed({ values: ['q'], role: 'query' });
    await cached.embed({ values: ['d'], role: 'document' });
    expect(calls).toEqual([['q'], ['d'], ['q']]);
  });

  test('TTLs reach Redis', async () => {
    const namespace = `ttl-${Date.now()}`;
    const cache = createKeyvCache({ url: redis.url, namespace, strict: true });
    try {
      const cached = withEmbeddingCache(countingEmbedder().embedder, cache, { queryTtlMs: 5_000 });
      await cached.embed({ values: ['q'], role: 'query' });
      await cached.embed({ values: ['d'], role: 'document' });
      const keys = (await redis.command('KEYS', `${namespace}:*`)) as string[];
      const ttls = Object.fromEntries(
        await Promise.all(keys.map(async (key) => [key.split(':')[4], Number(await redis.command('PTTL', key))])),
      );
      expect(ttls.q).toBeGreaterThan(0);
      expect(ttls.q).toBeLessThanOrEqual(5_000);
      expect(ttls.d).toBe(-1);
    } finally {
      await cache.dispose();
    }
  });

  test('fails open when Redis stops mid-test, and strict mode throws', async () => {
    const own = await startRedisServer();
    const errors: KumikiError[] = [];
    const lenient = createKeyvCache({ url: own.url, onError: (error) => errors.push(error) });
    const strict = createKeyvCache({ url: own.url, strict: true, onError: () => {} });
    const { embedder, calls } = countingEmbedder();
    try {
      const cached = withEmbeddingCache(embedder, lenient);
      const before = await cached.embed({ values: ['a', 'b'], role: 'document' });
      await cached.embed({ values: ['a', 'b'], role: 'document' });
      expect(calls.length).toBe(1);
      await withEmbeddingCache(embedder, strict).embed({ values: ['c'], role: 'document' });
      await own.stop();
      const after = await cached.embed({ values: ['a', 'b'], role: 'document' });
      expect(after.vectors).toEqual(before.vectors);
      expect(calls.length).toBe(3);
      expect(errors.length).toBe(2);
      for (const error of errors)
        expect(UnavailableError.isInstance(error) || TimeoutError.isInstance(error)).toBe(true);
      expect(errors[0]?.message).toMatch(/could not getMany 2 keys|getMany of 2 keys/);
      const thrown = await withEmbeddingCache(embedder, strict)
        .embed({ values: ['c'], role: 'document' })
        .catch((error: unknown) => error);
      expect(UnavailableError.isInstance(thrown)).toBe(true);
    } finally {
      await lenient.dispose();
      await strict.dispose();
    }
  });

  test('sparse vectors are cached exactly, whatever array types they come in', async () => {
    const plain: Embedder<SparseVector> = {
      specificationVersion: 'kumiki.embedder.v1',
      provider: 'test',
      modelId: 'plain-sparse',
      kind: 'sparse',
      maxBatchSize: 8,
      supportsParallelCalls: false,
      space: async () => ({ provider: 'test', model: 'plain-sparse', dimensions: 1000, kind: 'sparse' }),
      embed: async ({ values }) => ({
        vectors: values.map((text) => ({ indices: [text.length, 999], values: [0.1 + text.length, -1e-300] })),
      }),
    };
    const model = counted(plain);
    const cached = withEmbeddingCache(model.embedder, createKeyvCache({ namespace: 'sparse' }));
    const first = await cached.embed({ values: ['abc', ''], role: 'document' });
    const second = await cached.embed({ values: ['abc', ''], role: 'document' });
    expect(model.calls()).toBe(1);
    expect(second.vectors).toEqual(first.vectors);
    expect(Array.isArray(second.vectors[0]?.indices)).toBe(true);
    expect(second.vectors[1]?.values[1]).toBe(-1e-300);
  });

  test('an aborted caller does not take others down; model errors reach every waiter', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const { embedder, calls } = countingEmbedder({ gate });
    const cached = withEmbeddingCache(embedder, createKeyvCache());
    const controller = new AbortController();
    const owner = cached.embed({ values: ['x'], role: 'query', abortSignal: controller.signal });
    const follower = cached.embed({ values: ['x'], role: 'query' });
    while (calls.length === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    controller.abort();
    await expect(owner).rejects.toSatisfy(AbortedError.isInstance);
    open();
    const { vectors } = await follower;
    expect(vectors[0]).toBeInstanceOf(Float32Array);
    expect(calls.length).toBe(2);

    const failing: DenseEmbedder = {
      ...countingEmbedder().embedder,
      embed: async () => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        throw new UnavailableError({ message: 'model server down' });
      },
    };
    const broken = withEmbeddingCache(failing, createKeyvCache());
    const both = await Promise.allSettled([
      broken.embed({ values: ['y'], role: 'query' }),
      broken.embed({ values: ['y'], role: 'query' }),
    ]);
    expect(both.map((result) => result.status)).toEqual(['rejected', 'rejected']);
  });

  test('keeps the wrapped embedder’s tokenizer, so ingest chunks the same and re-embeds nothing', async () => {
    // Adding the cache once switched chunking from tokens to characters (4 chunks became 9) and
    // made the ledger see new chunker settings, so the whole corpus was embedded again.
    const base = trigramEmbedder(32, 'trigram-tokens');
    const words: TokenCounter = { id: 'words', count: (text) => text.split(/\s+/).filter(Boolean).length };
    let disposed = 0;
    const plain: DenseEmbedder & { calls: number } = Object.assign(base, {
      tokenizer: async () => words,
      dispose: async () => {
        disposed++;
      },
    });
    const text = Array.from({ length: 40 }, (_, i) => `Sentence ${i} talks about caching embeddings.`).join(' ');
    const documents = [{ uri: 'mem://a', contentType: 'text/plain', text }];
    const store = createMemoryStore();
    const ledger = createMemoryLedger();
    const first = await ingest({ store, ledger, collection: 'c', documents, embedder: plain });
    const cached = withEmbeddingCache(plain, createKeyvCache());
    const again = await ingest({ store, ledger, collection: 'c', documents, embedder: cached });
    expect(again).toMatchObject({ unchanged: 1, updated: 0, chunksWritten: 0, embeddingCalls: 0 });
    const fresh = await ingest({ store: createMemoryStore(), collection: 'c', documents, embedder: cached });
    expect(fresh.chunksWritten).toBe(first.chunksWritten);
    expect(await cached.tokenizer?.()).toBe(words);
    await cached.dispose?.();
    expect(disposed).toBe(1);
  });

  test('bad arguments give InvalidArgumentError', async () => {
    const cache: Cache = createKeyvCache();
    const { embedder } = countingEmbedder();
    expect(() => withEmbeddingCache({} as never, cache)).toThrow(/embedder must be a kumiki Embedder/);
    expect(() => withEmbeddingCache(embedder, {} as never)).toThrow(/cache must be a kumiki Cache/);
    expect(() => withEmbeddingCache(embedder, cache, { queryTtlMs: 0 })).toThrow(/queryTtlMs/);
    expect(() => withEmbeddingCache(embedder, cache, { extra: 1 } as never)).toThrow(/withEmbeddingCache options/);
    await expect(withEmbeddingCache(embedder, cache).embed({ values: [1], role: 'query' } as never)).rejects.toThrow(
      /values must be strings/,
    );
  });
});

/** A real memory cache that also records every write (key, value, time to live). */
function recordingCache(cache: Cache = createKeyvCache()) {
  const writes: { key: string; value: unknown; ttlMs?: number }[] = [];
  const recorded: Cache = {
    ...cache,
    setMany: (entries, options) => {
      writes.push(...entries);
      return cache.setMany(entries, options);
    },
  };
  return { cache: recorded, writes, inner: cache };
}

/** Runs `embed` calls of `embedder` one at a time or not, and reports the most at once. */
function overlapping<T>(embedder: Embedder<T>) {
  let now = 0;
  let most = 0;
  const wrapped: Embedder<T> = {
    ...embedder,
    embed: async (options) => {
      now++;
      most = Math.max(most, now);
      await new Promise((resolve) => setTimeout(resolve, 1));
      try {
        return await embedder.embed(options);
      } finally {
        now--;
      }
    },
  };
  return { embedder: wrapped, most: () => most };
}

describe('withEmbeddingCache: keys, lifetimes, batches', () => {
  test('keys are prefix, space fingerprint, role and SHA-256 of the text; each role gets its own time to live', async () => {
    const { embedder } = countingEmbedder();
    const { cache, writes } = recordingCache();
    const cached = withEmbeddingCache(embedder, cache, { queryTtlMs: 1_000, documentTtlMs: 2_000 });
    await cached.embed({ values: ['hello'], role: 'query' });
    await cached.embed({ values: ['hello'], role: 'document' });
    const space = fingerprint(await embedder.space());
    expect(writes.map(({ key, ttlMs }) => ({ key, ttlMs }))).toEqual([
      { key: `emb:${space}:q:${sha256Hex('hello')}`, ttlMs: 1_000 },
      { key: `emb:${space}:d:${sha256Hex('hello')}`, ttlMs: 2_000 },
    ]);
    const plain = recordingCache();
    await withEmbeddingCache(embedder, plain.cache, { keyPrefix: 'v2' }).embed({ values: ['x'], role: 'query' });
    expect(plain.writes[0]).not.toHaveProperty('ttlMs');
    expect(plain.writes[0]?.key).toBe(`v2:${space}:q:${sha256Hex('x')}`);
    expect(plain.writes[0]?.value).toBeInstanceOf(Float32Array);
  });

  test('usage adds up over batches, warnings are kept, a short answer from the model is an error', async () => {
    const base = countingEmbedder({ maxBatchSize: 2 });
    const warned: DenseEmbedder = {
      ...base.embedder,
      embed: async (options) => ({
        ...(await base.embedder.embed(options)),
        warnings: [`${options.values.length} texts`],
      }),
    };
    const cached = withEmbeddingCache(warned, createKeyvCache());
    const result = await cached.embed({ values: ['a', 'b', 'c', 'd', 'e'], role: 'document' });
    expect(result.usage).toEqual({ tokens: 5 });
    expect([...(result.warnings ?? [])].sort()).toEqual(['1 texts', '2 texts', '2 texts']);
    expect(cached.stats()).toEqual({ hits: 0, misses: 5, shared: 0, modelCalls: 3 });
    const again = await cached.embed({ values: ['a', 'f'], role: 'document' });
    expect(again.usage).toEqual({ tokens: 1 });
    expect(cached.stats()).toEqual({ hits: 1, misses: 6, shared: 0, modelCalls: 4 });
    // No usage and no warnings from the model: none in the result.
    const silent: DenseEmbedder = {
      ...base.embedder,
      embed: async (options) => ({ vectors: (await base.embedder.embed(options)).vectors }),
    };
    const quiet = withEmbeddingCache(silent, createKeyvCache());
    expect(await quiet.embed({ values: ['z'], role: 'query' })).not.toHaveProperty('usage');
    expect(await quiet.embed({ values: ['y'], role: 'query' })).not.toHaveProperty('warnings');

    const shortOne: DenseEmbedder = {
      ...base.embedder,
      embed: async (options) => ({ vectors: (await base.embedder.embed(options)).vectors.slice(1) }),
    };
    const short = withEmbeddingCache(shortOne, createKeyvCache());
    await expect(short.embed({ values: ['a', 'b'], role: 'query' })).rejects.toThrow(
      'test/sha-embed-1 returned 1 vectors for 2 texts',
    );
    expect(await withEmbeddingCache(base.embedder, createKeyvCache()).embed({ values: [], role: 'query' })).toEqual({
      vectors: [],
    });
  });

  test('model calls in flight: the concurrency option for parallel embedders, one at a time otherwise', async () => {
    const values = Array.from({ length: 20 }, (_, i) => `t${i}`);
    const parallel = overlapping(countingEmbedder({ maxBatchSize: 1 }).embedder);
    await withEmbeddingCache(parallel.embedder, createKeyvCache()).embed({ values, role: 'document' });
    expect(parallel.most()).toBe(4);
    const two = overlapping(countingEmbedder({ maxBatchSize: 1 }).embedder);
    await withEmbeddingCache(two.embedder, createKeyvCache(), { concurrency: 2 }).embed({ values, role: 'document' });
    expect(two.most()).toBe(2);
    const serial = overlapping({ ...countingEmbedder({ maxBatchSize: 1 }).embedder, supportsParallelCalls: false });
    await withEmbeddingCache(serial.embedder, createKeyvCache(), { concurrency: 8 }).embed({
      values,
      role: 'document',
    });
    expect(serial.most()).toBe(1);
    expect(() => withEmbeddingCache(serial.embedder, createKeyvCache(), { concurrency: 65 })).toThrow(/concurrency/);
  });

  test('an abort between batches stops before the next model call', async () => {
    const controller = new AbortController();
    const base = countingEmbedder({ maxBatchSize: 1 });
    const serial: DenseEmbedder = { ...base.embedder, supportsParallelCalls: false };
    // The caller gives up right after the first batch is stored.
    const cache = createKeyvCache();
    const stopping: Cache = {
      ...cache,
      setMany: async (entries, options) => {
        await cache.setMany(entries, options);
        controller.abort();
      },
    };
    const error = await withEmbeddingCache(serial, stopping)
      .embed({ values: ['a', 'b', 'c'], role: 'document', abortSignal: controller.signal })
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ name: 'AbortedError', message: 'embed with test/sha-embed-1 (cached) was aborted.' });
    expect(base.calls).toEqual([['a']]);
    await expect(
      withEmbeddingCache(serial, cache).embed({ values: [], role: 'query', abortSignal: controller.signal }),
    ).rejects.toSatisfy(AbortedError.isInstance);
  });

  test('a value of the wrong kind under a key is a miss, dense or sparse', async () => {
    const { embedder, calls } = countingEmbedder();
    const { cache, writes, inner } = recordingCache();
    const cached = withEmbeddingCache(embedder, cache);
    await cached.embed({ values: ['a'], role: 'query' });
    await inner.set(writes[0]?.key as string, 'not a vector');
    const again = await cached.embed({ values: ['a'], role: 'query' });
    expect(calls).toHaveLength(2);
    expect(again.vectors[0]).toBeInstanceOf(Float32Array);

    const sparse: Embedder<SparseVector> = {
      specificationVersion: 'kumiki.embedder.v1',
      provider: 'test',
      modelId: 'typed-sparse',
      kind: 'sparse',
      maxBatchSize: 8,
      supportsParallelCalls: true,
      space: async () => ({ provider: 'test', model: 'typed-sparse', dimensions: 100, kind: 'sparse' }),
      embed: async ({ values }) => ({
        vectors: values.map((text) => ({
          indices: Uint32Array.from([1, text.length]),
          values: Float32Array.from([0.5, text.length]),
        })),
      }),
    };
    let sparseCalls = 0;
    const countedSparse: Embedder<SparseVector> = {
      ...sparse,
      embed: (options) => {
        sparseCalls++;
        return sparse.embed(options);
      },
    };
    const store = recordingCache();
    const sparseCached = withEmbeddingCache(countedSparse, store.cache);
    const first = await sparseCached.embed({ values: ['abc'], role: 'document' });
    const bytes = store.writes[0]?.value as Uint8Array;
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(bytes.length).toBe(8 + 2 * 4 + 2 * 4);
    expect(await sparseCached.embed({ values: ['abc'], role: 'document' })).toEqual(first);
    expect(sparseCalls).toBe(1);
    for (const broken of [bytes.slice(0, 7), bytes.slice(0, bytes.length - 1), new Float32Array(4)]) {
      await store.inner.set(store.writes[0]?.key as string, broken);
      const again = await sparseCached.embed({ values: ['abc'], role: 'document' });
      expect(again).toEqual(first);
    }
    expect(sparseCalls).toBe(4);
  });

  test('sparse vectors shared between callers are copies', async () => {
    const sparse: Embedder<SparseVector> = {
      specificationVersion: 'kumiki.embedder.v1',
      provider: 'test',
      modelId: 'plain-sparse',
      kind: 'sparse',
      maxBatchSize: 8,
      supportsParallelCalls: true,
      space: async () => ({ provider: 'test', model: 'plain-sparse', dimensions: 100, kind: 'sparse' }),
      embed: async ({ values }) => ({
        vectors: values.map(() => ({ indices: [1, 2], values: Float32Array.from([0.5, 0.25]) })),
      }),
    };
    const cached = withEmbeddingCache(sparse, createKeyvCache());
    const [one, two] = await Promise.all([
      cached.embed({ values: ['x', 'x'], role: 'query' }),
      cached.embed({ values: ['x'], role: 'query' }),
    ]);
    const vectors = [one.vectors[0], one.vectors[1], two.vectors[0]];
    expect(vectors[1]).toEqual(vectors[0]);
    expect(vectors[2]).toEqual(vectors[0]);
    (vectors[0]?.indices as number[])[0] = 99;
    (vectors[0]?.values as Float32Array)[0] = 9;
    expect(vectors[1]).toEqual({ indices: [1, 2], values: Float32Array.from([0.5, 0.25]) });
    expect(vectors[2]).toEqual({ indices: [1, 2], values: Float32Array.from([0.5, 0.25]) });
    expect(cached.stats()).toMatchObject({ shared: 2, misses: 1 });
  });
});
