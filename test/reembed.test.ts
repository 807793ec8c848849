import { describe, expect, test } from 'vitest';
import {
  AbortedError,
  createMemoryStore,
  type DenseEmbedder,
  EmbeddingSpaceMismatchError,
  type EmbedOptions,
  fingerprint,
  InvalidArgumentError,
  reembed,
  type Store,
  type UpsertOptions,
} from '../src/index.js';
import { trigramEmbedder } from './helpers/trigram-embedder.mjs';

const texts = Array.from(
  { length: 150 },
  (_, i) => `note ${i}: ${['apples', 'rivers', 'engines', 'violins'][i % 4]} and ${i % 7} more`,
);

async function seeded(): Promise<{ store: Store; old: DenseEmbedder }> {
  const store = createMemoryStore();
  const old = trigramEmbedder(16, 'old');
  await store.createCollection({ name: 'notes_v1', dimensions: 16, embeddingSpace: await old.space() });
  const { vectors } = await old.embed({ values: texts, role: 'document' });
  await store.upsert({
    collection: 'notes_v1',
    records: texts.map((text, i) => ({
      id: i,
      vector: vectors[i] as Float32Array,
      sparseVector: { indices: [i % 4], values: [1] },
      payload: { text },
    })),
  });
  await store.setAlias?.({ alias: 'notes', collection: 'notes_v1' });
  return { store, old };
}

describe('reembed', () => {
  test('builds the new collection beside the old one and switches the alias in one step', async () => {
    const { store } = await seeded();
    const next = trigramEmbedder(32, 'new');
    const progress: number[] = [];
    const result = await reembed({
      store,
      alias: 'notes',
      target: 'notes_v2',
      embedder: next,
      text: (record) => String(record.payload.text),
      batchSize: 40,
      onProgress: ({ done }) => progress.push(done),
    });
    expect(result).toEqual({ previous: 'notes_v1', current: 'notes_v2', records: 150 });
    expect(progress).toEqual([40, 80, 120, 150]);
    expect(next.calls).toBe(4);
    const info = await store.openCollection({ name: 'notes', embeddingSpace: await next.space() });
    expect(info).toMatchObject({
      name: 'notes_v2',
      dimensions: 32,
      count: 150,
      fingerprint: fingerprint(await next.space()),
    });
    await expect(
      store.openCollection({
        name: 'notes',
        embeddingSpace: { provider: 'test', model: 'old', dimensions: 16, normalize: true },
      }),
    ).rejects.toSatisfy((error: unknown) => EmbeddingSpaceMismatchError.isInstance(error));
    const [query] = (await next.embed({ values: ['violins and 3 more'], role: 'query' })).vectors;
    const [top] = await store.search({ collection: 'notes', vector: query as Float32Array, limit: 1 });
    expect(String(top?.payload.text)).toContain('violins');
    const [copied] = await store.get({ collection: 'notes', ids: [5], includeVectors: true });
    expect(Array.from(copied?.sparseVector?.indices ?? [])).toEqual([1]);
    expect(await store.count({ collection: 'notes_v1' })).toBe(150);
  });

  test('an abort leaves the alias on the old collection', async () => {
    const { store } = await seeded();
    const controller = new AbortController();
    const error = await reembed({
      store,
      alias: 'notes',
      target: 'notes_v2',
      embedder: trigramEmbedder(8, 'new'),
      text: (record) => String(record.payload.text),
      batchSize: 50,
      onProgress: () => controller.abort(),
      abortSignal: controller.signal,
    }).catch((caught: unknown) => caught);
    expect(AbortedError.isInstance(error)).toBe(true);
    expect((await store.openCollection({ name: 'notes' })).name).toBe('notes_v1');
  });

  test('refuses a name that is not an alias, and an existing target', async () => {
    const { store } = await seeded();
    const base = { store, embedder: trigramEmbedder(8, 'new'), text: () => 'x' };
    await expect(reembed({ ...base, alias: 'notes_v1', target: 'x' })).rejects.toThrow(/is a collection, not an alias/);
    await expect(reembed({ ...base, alias: 'notes', target: 'notes_v1' })).rejects.toThrow(/already exists/);
    await expect(reembed({ ...base, alias: '', target: 'x' })).rejects.toThrow(InvalidArgumentError);
  });
});

describe('reembed: settings carried over, batches and checks', () => {
  test('the metric and sparse space carry over unless given; batches follow batchSize, capped by the model', async () => {
    const store = createMemoryStore();
    const old = trigramEmbedder(16, 'old');
    await store.createCollection({
      name: 'v1',
      dimensions: 16,
      metric: 'dot',
      embeddingSpace: await old.space(),
      sparseEmbeddingSpace: { provider: 'bm25', model: 'bm25', dimensions: 1000, kind: 'sparse' },
    });
    const { vectors } = await old.embed({ values: texts, role: 'document' });
    await store.upsert({
      collection: 'v1',
      records: texts.map((text, i) => ({ id: i, vector: vectors[i] as Float32Array, payload: { text } })),
    });
    await store.setAlias?.({ alias: 'notes', collection: 'v1' });
    const small = Object.assign(trigramEmbedder(8, 'small-batches'), { maxBatchSize: 30 });
    const batches: number[] = [];
    const progress: { done: number; total: number }[] = [];
    const counted = {
      ...small,
      embed: (options: EmbedOptions) => {
        batches.push(options.values.length);
        return small.embed(options);
      },
    };
    await reembed({
      store,
      alias: 'notes',
      target: 'v2',
      embedder: counted,
      text: (record) => String(record.payload.text),
      onProgress: (step) => progress.push(step),
    });
    expect(batches).toEqual([30, 30, 30, 30, 30]);
    expect(progress.at(0)).toEqual({ done: 30, total: 150 });
    expect(progress.at(-1)).toEqual({ done: 150, total: 150 });
    const v1 = (await store.listCollections()).find((collection) => collection.name === 'v1');
    expect(await store.openCollection({ name: 'notes' })).toMatchObject({
      name: 'v2',
      metric: 'dot',
      sparse: v1?.sparse,
      sparseFingerprint: v1?.sparseFingerprint,
    });
    expect(v1?.sparseFingerprint).toBeDefined();

    // Default batch: 64 records, and an explicit metric wins.
    const wide = trigramEmbedder(8, 'wide');
    const sizes: number[] = [];
    await reembed({
      store,
      alias: 'notes',
      target: 'v3',
      metric: 'euclidean',
      embedder: {
        ...wide,
        embed: (options: EmbedOptions) => {
          sizes.push(options.values.length);
          return wide.embed(options);
        },
      },
      text: (record) => String(record.payload.text),
    });
    expect(sizes).toEqual([64, 64, 22]);
    expect(await store.openCollection({ name: 'notes' })).toMatchObject({ name: 'v3', metric: 'euclidean' });
  });

  test('a store without aliases is refused before anything is built', async () => {
    const { store } = await seeded();
    const plain = { ...store, capabilities: { ...store.capabilities, aliases: false } };
    await expect(
      reembed({ store: plain, alias: 'notes', target: 'v2', embedder: trigramEmbedder(8, 'new'), text: () => 'x' }),
    ).rejects.toMatchObject({
      name: 'InvalidArgumentError',
      issues: [{ path: 'store', message: 'the memory store has no aliases, which reembed switches' }],
    });
    const { setAlias: _setAlias, ...withoutSetAlias } = store;
    await expect(
      reembed({
        store: withoutSetAlias,
        alias: 'notes',
        target: 'v2',
        embedder: trigramEmbedder(8, 'new'),
        text: () => 'x',
      }),
    ).rejects.toThrow(InvalidArgumentError);
    expect((await store.listCollections()).map((collection) => collection.name)).toEqual(['notes_v1']);
  });

  test('a target that lost records is not switched to; an abort after the last batch leaves the alias', async () => {
    const { store } = await seeded();
    // A store that silently drops one record of the second write (a lost write).
    let writes = 0;
    const lossy = {
      ...store,
      upsert: (request: UpsertOptions) =>
        store.upsert(++writes === 2 ? { ...request, records: request.records.slice(1) } : request),
    };
    const error = await reembed({
      store: lossy,
      alias: 'notes',
      target: 'v2',
      embedder: trigramEmbedder(8, 'new'),
      text: (record) => String(record.payload.text),
    }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({
      name: 'ConflictError',
      message: 'Collection "v2" holds 149 records after re-embedding 150; the alias "notes" was not switched.',
    });
    expect((await store.openCollection({ name: 'notes' })).name).toBe('notes_v1');

    const controller = new AbortController();
    const signals: unknown[] = [];
    const embedder = trigramEmbedder(8, 'new');
    const aborted = await reembed({
      store,
      alias: 'notes',
      target: 'v3',
      embedder: {
        ...embedder,
        embed: (options: EmbedOptions) => {
          signals.push(options.abortSignal);
          return embedder.embed(options);
        },
      },
      text: (record) => String(record.payload.text),
      onProgress: ({ done, total }) => {
        if (done === total) controller.abort();
      },
      abortSignal: controller.signal,
    }).catch((caught: unknown) => caught);
    expect(AbortedError.isInstance(aborted)).toBe(true);
    expect(signals.every((signal) => signal === controller.signal)).toBe(true);
    expect(await store.count({ collection: 'v3' })).toBe(150);
    expect((await store.openCollection({ name: 'notes' })).name).toBe('notes_v1');
  });
});
