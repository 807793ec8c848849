import { describe, expect, test } from 'vitest';
import {
  AbortedError,
  createMemoryStore,
  type DenseEmbedder,
  EmbeddingSpaceMismatchError,
  fingerprint,
  InvalidArgumentError,
  reembed,
  type Store,
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
