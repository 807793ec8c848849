import { describe, expect, test } from 'vitest';
import {
  AbortedError,
  createBm25Encoder,
  createMemoryStore,
  type DenseEmbedder,
  type EmbedOptions,
  InvalidArgumentError,
  type SparseEmbedder,
} from '../src/index.js';
import { ingest } from '../src/pipeline/ingest.js';
import type { IngestProgress } from '../src/pipeline/ingest-options.js';
import { createRecursiveSplitter } from '../src/pipeline/splitter.js';
import type { SourceDocument } from '../src/pipeline/types.js';
import { trigramEmbedder } from './helpers/trigram-embedder.mjs';

/** One chunk per source: every source is a short sentence. */
const oneChunkEach = createRecursiveSplitter({ chunkSize: 200, chunkOverlap: 0, unit: 'characters' });

const sentences = (count: number): SourceDocument[] =>
  Array.from({ length: count }, (_, i) => ({
    uri: `mem://s/${i}`,
    contentType: 'text/plain',
    text: `Sentence number ${i} talks about lighthouses and tides.`,
  }));

type Watched = DenseEmbedder & {
  /** Texts in each call, in call order. */
  sizes: number[];
  /** The most calls that were in flight at once. */
  peak: number;
  roles: string[];
  signals: (AbortSignal | undefined)[];
};

/** The trigram embedder, with its limits set and its calls watched; each call waits a macrotask. */
function watched(limits: { maxBatchSize?: number; parallel?: boolean } = {}): Watched {
  const inner = trigramEmbedder(16, 'trigram');
  let inFlight = 0;
  const embedder: Watched = {
    ...inner,
    maxBatchSize: limits.maxBatchSize ?? 64,
    supportsParallelCalls: limits.parallel ?? true,
    sizes: [],
    peak: 0,
    roles: [],
    signals: [],
    embed: async (options: EmbedOptions) => {
      embedder.sizes.push(options.values.length);
      embedder.roles.push(options.role);
      embedder.signals.push(options.abortSignal);
      inFlight++;
      embedder.peak = Math.max(embedder.peak, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 1));
      inFlight--;
      return inner.embed(options);
    },
  };
  return embedder;
}

/** A sparse embedder without corpus statistics: one dimension per letter, weighted by count. */
function letterEmbedder(): SparseEmbedder {
  return {
    specificationVersion: 'kumiki.embedder.v1',
    provider: 'test',
    modelId: 'letters',
    kind: 'sparse',
    maxBatchSize: 2,
    supportsParallelCalls: false,
    space: async () => ({ provider: 'test', model: 'letters', dimensions: 26, kind: 'sparse' }),
    embed: async ({ values }) => ({
      vectors: values.map((text) => {
        const counts = new Map<number, number>();
        for (const char of text.toLowerCase()) {
          const index = char.charCodeAt(0) - 97;
          if (index >= 0 && index < 26) counts.set(index, (counts.get(index) ?? 0) + 1);
        }
        const indices = [...counts.keys()].sort((a, b) => a - b);
        return { indices, values: indices.map((index) => counts.get(index) as number) };
      }),
    }),
  };
}

const run = (embedder: DenseEmbedder, count: number, options: { batchSize?: number; concurrency?: number } = {}) =>
  ingest({
    store: createMemoryStore(),
    collection: 'c',
    documents: sentences(count),
    embedder,
    splitter: oneChunkEach,
    ...options,
  });

describe('ingest embeds chunks in batches within the embedder limits', () => {
  test('64 texts a call by default, fewer when the embedder takes fewer, batchSize when given', async () => {
    const plain = watched();
    const report = await run(plain, 150);
    expect(plain.sizes).toEqual([64, 64, 22]);
    expect(report.embeddingCalls).toBe(3);

    const small = watched({ maxBatchSize: 10 });
    await run(small, 25);
    expect(small.sizes).toEqual([10, 10, 5]);

    const asked = watched({ maxBatchSize: 10 });
    await run(asked, 25, { batchSize: 7 });
    expect(asked.sizes).toEqual([7, 7, 7, 4]);

    const capped = watched({ maxBatchSize: 10 });
    await run(capped, 25, { batchSize: 50 });
    expect(capped.sizes).toEqual([10, 10, 5]);
  });

  test('two calls in flight by default, `concurrency` when given, one for embedders without parallel calls', async () => {
    const byDefault = watched({ maxBatchSize: 2 });
    await run(byDefault, 12);
    expect(byDefault.peak).toBe(2);

    const four = watched({ maxBatchSize: 2 });
    await run(four, 12, { concurrency: 4 });
    expect(four.peak).toBe(4);

    const serial = watched({ maxBatchSize: 2, parallel: false });
    await run(serial, 12, { concurrency: 4 });
    expect(serial.peak).toBe(1);
    expect(serial.sizes).toEqual([2, 2, 2, 2, 2, 2]);
  });

  test('texts are embedded as documents, with the run’s abort signal', async () => {
    const embedder = watched();
    const controller = new AbortController();
    await ingest({
      store: createMemoryStore(),
      collection: 'c',
      documents: sentences(3),
      embedder,
      splitter: oneChunkEach,
      abortSignal: controller.signal,
    });
    expect(embedder.roles).toEqual(['document']);
    expect(embedder.signals).toEqual([controller.signal]);
  });

  test('an abort stops the embedding calls still to come', async () => {
    const controller = new AbortController();
    const embedder = watched({ maxBatchSize: 2, parallel: false });
    const embed = embedder.embed;
    embedder.embed = async (options) => {
      const result = await embed(options);
      controller.abort();
      return result;
    };
    const store = createMemoryStore();
    const failed = await ingest({
      store,
      collection: 'c',
      documents: sentences(6),
      embedder,
      splitter: oneChunkEach,
      abortSignal: controller.signal,
    }).catch((error: unknown) => error);
    expect(AbortedError.isInstance(failed)).toBe(true);
    expect((failed as Error).message).toBe('ingest was aborted.');
    expect(embedder.sizes).toEqual([2]);
    expect(await store.count({ collection: 'c' })).toBe(0);
  });

  test('an embedder that returns fewer vectors than texts is refused, naming the counts', async () => {
    const embedder = watched();
    const embed = embedder.embed;
    embedder.embed = async (options) => {
      const { vectors } = await embed(options);
      return { vectors: vectors.slice(1) };
    };
    const store = createMemoryStore();
    const failed = ingest({
      store,
      collection: 'c',
      documents: sentences(3),
      embedder,
      splitter: oneChunkEach,
    });
    await expect(failed).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(failed).rejects.toThrow('Invalid embedder: test returned 2 vectors for 3 texts');
    expect(await store.count({ collection: 'c' })).toBe(0);
  });

  test('progress counts each chunk embedded once, by the dense embedder, else by the sparse one', async () => {
    const embedded = async (options: { dense: boolean; sparse: boolean; plain?: boolean }) => {
      const events: IngestProgress[] = [];
      const report = await ingest({
        store: createMemoryStore(),
        collection: 'c',
        documents: sentences(5),
        ...(options.dense ? { embedder: watched({ maxBatchSize: 2 }) } : {}),
        ...(options.sparse ? { sparseEmbedder: options.plain ? letterEmbedder() : createBm25Encoder() } : {}),
        splitter: oneChunkEach,
        batchSize: 2,
        onProgress: (progress) => events.push(progress),
      });
      const embedEvents = events.filter((event) => event.phase === 'embed').map((event) => event.chunksEmbedded);
      return { last: events.at(-1)?.chunksEmbedded, embedEvents, calls: report.embeddingCalls };
    };
    expect(await embedded({ dense: true, sparse: false })).toMatchObject({ last: 5, calls: 3 });
    expect(await embedded({ dense: false, sparse: true })).toMatchObject({ last: 5, calls: 3 });
    expect(await embedded({ dense: false, sparse: true, plain: true })).toMatchObject({ last: 5, calls: 3 });
    const hybrid = await embedded({ dense: true, sparse: true });
    expect(hybrid).toMatchObject({ last: 5, calls: 6 });
    // Before the batch's calls (0), then after each call: the dense ones add their texts, the sparse ones nothing.
    expect([...new Set(hybrid.embedEvents)]).toEqual([0, 2, 4, 5]);
  });
});
