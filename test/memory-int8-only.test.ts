/**
 * The memory store with `quantization: 'int8-only'`: vectors kept as int8 codes only. Searches
 * (exact and through the HNSW graph) score with the codes, vectors read back are code × scale, bad
 * values are refused as in every store, and snapshots reopen to the same codes.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { InvalidArgumentError } from '../src/core/errors.js';
import { createMemoryStore, f, type MemoryStore } from '../src/index.js';
import { createFilePersistence } from '../src/node/snapshot-file.js';
import type { SnapshotPersistence } from '../src/stores/memory/memory-store.js';
import { seededRandom } from '../src/testing/random.js';

const DIMS = 48;

/** Points around 60 centres, each spread along a few directions of its own (as embeddings are). */
function clustered(count: number, seed: number): number[][] {
  const rand = seededRandom(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(rand() || 1e-12)) * Math.cos(2 * Math.PI * rand());
  const centres = Array.from({ length: 60 }, () => ({
    centre: Array.from({ length: DIMS }, gauss),
    directions: Array.from({ length: 4 }, () => Array.from({ length: DIMS }, gauss)),
  }));
  return Array.from({ length: count }, (_, i) => {
    const { centre, directions } = centres[i % 60] as (typeof centres)[number];
    const weights = directions.map(() => 0.3 * gauss());
    return centre.map((c, d) => weights.reduce((v, w, j) => v + w * ((directions[j] as number[])[d] as number), c));
  });
}

async function filled(store: MemoryStore, vectors: number[][]): Promise<void> {
  await store.createCollection({ name: 'c', dimensions: DIMS, metric: 'cosine' });
  await store.upsert({
    collection: 'c',
    records: vectors.map((vector, id) => ({ id, vector, payload: { half: id % 2 } })),
  });
}

/** Recall@10 of `store` against exact float search (`truth`). */
async function recall(store: MemoryStore, truth: MemoryStore, queries: number[][], filter?: ReturnType<typeof f.eq>) {
  let hits = 0;
  let total = 0;
  for (const vector of queries) {
    const want = new Set(
      (await truth.search({ collection: 'c', vector, limit: 10, ...(filter ? { filter } : {}) })).map((m) => m.id),
    );
    for (const match of await store.search({ collection: 'c', vector, limit: 10, ...(filter ? { filter } : {}) })) {
      if (filter) expect(match.payload.half).toBe(1);
      if (want.has(match.id)) hits++;
    }
    total += want.size;
  }
  return hits / total;
}

describe("memory store, quantization: 'int8-only'", () => {
  const vectors = clustered(4000, 1);
  const queries = clustered(60, 2);

  for (const kernel of ['wasm', 'js'] as const) {
    test(`${kernel} kernel: exact and HNSW recall@10 against float search; the graph's scores are the exact int8 scores`, async () => {
      const truth = createMemoryStore({ kernel });
      const exact = createMemoryStore({ kernel, quantization: 'int8-only' });
      const ann = createMemoryStore({ kernel, quantization: 'int8-only', ann: { minRecords: 1000, ef: 48 } });
      for (const store of [truth, exact, ann]) await filled(store, vectors);
      expect(await recall(exact, truth, queries)).toBeGreaterThanOrEqual(0.95);
      expect(await recall(ann, truth, queries)).toBeGreaterThanOrEqual(0.9);
      expect((await ann.describe()).collections[0]?.ann?.built).toBe(true);
      expect((await ann.describe()).quantization).toBe('int8-only');
      // A broad filter walks the graph keeping only matches.
      expect(await recall(ann, truth, queries.slice(0, 20), f.eq('half', 1))).toBeGreaterThanOrEqual(0.85);
      for (const vector of queries.slice(0, 10)) {
        const scores = new Map(
          (await exact.search({ collection: 'c', vector, limit: 30 })).map((m) => [m.id, m.score]),
        );
        for (const match of await ann.search({ collection: 'c', vector, limit: 10 })) {
          if (scores.has(match.id)) expect(match.score).toBe(scores.get(match.id));
        }
      }
    });
  }

  for (const kernel of ['wasm', 'js'] as const) {
    test(`${kernel} kernel: after random upserts, updates and deletes, it answers as a store built from the records left`, async () => {
      const rand = seededRandom(7);
      const live = new Map<number, number[]>();
      const store = createMemoryStore({ kernel, quantization: 'int8-only' });
      await store.createCollection({ name: 'c', dimensions: DIMS, metric: 'cosine' });
      for (let step = 0; step < 40; step++) {
        if (rand() < 0.35 && live.size > 0) {
          const ids = [...live.keys()].filter(() => rand() < 0.3);
          await store.delete({ collection: 'c', ids });
          for (const id of ids) live.delete(id);
        } else {
          const records = Array.from({ length: 1 + Math.floor(rand() * 40) }, () => {
            const id = Math.floor(rand() * 300);
            const vector = vectors[Math.floor(rand() * vectors.length)] as number[];
            return { id, vector };
          });
          await store.upsert({ collection: 'c', records });
          for (const { id, vector } of records) live.set(id, vector);
        }
      }
      const rebuilt = createMemoryStore({ kernel, quantization: 'int8-only' });
      await rebuilt.createCollection({ name: 'c', dimensions: DIMS, metric: 'cosine' });
      const ids = [...live.keys()].sort((a, b) => a - b);
      await rebuilt.upsert({ collection: 'c', records: ids.map((id) => ({ id, vector: live.get(id) as number[] })) });
      expect(await store.count({ collection: 'c' })).toBe(live.size);
      const read = async (from: MemoryStore) =>
        (await from.get({ collection: 'c', ids, includeVectors: true })).map((r) => [r.id, [...(r.vector ?? [])]]);
      expect(await read(store)).toEqual(await read(rebuilt));
      const scored = async (from: MemoryStore, vector: number[]) =>
        new Map((await from.search({ collection: 'c', vector, limit: live.size })).map((m) => [m.id, m.score]));
      for (const vector of queries.slice(0, 5)) {
        expect(await scored(store, vector)).toEqual(await scored(rebuilt, vector));
      }
    });
  }

  test('vectors read back are within scale / 2 of what was written (scale = largest magnitude / 127)', async () => {
    const store = createMemoryStore({ quantization: 'int8-only' });
    await filled(store, vectors.slice(0, 200));
    const got = await store.get({
      collection: 'c',
      ids: Array.from({ length: 200 }, (_, i) => i),
      includeVectors: true,
    });
    for (const record of got) {
      const written = vectors[record.id as number] as number[];
      const scale = Math.max(...written.map(Math.abs)) / 127;
      const read = record.vector as Float32Array;
      expect(read.length).toBe(DIMS);
      for (let i = 0; i < DIMS; i++)
        expect(Math.abs((read[i] as number) - (written[i] as number))).toBeLessThanOrEqual(scale * 0.5001);
    }
  });

  for (const kernel of ['wasm', 'js'] as const) {
    test(`${kernel} kernel: bad values get the error float stores give, and an undone update restores the record`, async () => {
      const stores = [createMemoryStore({ kernel }), createMemoryStore({ kernel, quantization: 'int8-only' })];
      const errors: unknown[] = [];
      for (const store of stores) {
        await store.createCollection({ name: 'c', dimensions: 3 });
        await store.upsert({ collection: 'c', records: [{ id: 'kept', vector: [0.3, -0.7, 0.11] }] });
        const before = await store.get({ collection: 'c', ids: ['kept'], includeVectors: true });
        errors.push(
          await store
            .upsert({
              collection: 'c',
              records: [
                { id: 'kept', vector: new Float32Array([2, 2, 2]) },
                { id: 1, vector: new Float32Array([1, Number.NaN, 0]) },
              ],
            })
            .catch((error: unknown) => error),
        );
        expect(await store.count({ collection: 'c' })).toBe(1);
        expect(await store.get({ collection: 'c', ids: ['kept'], includeVectors: true })).toEqual(before);
      }
      expect(errors[1]).toBeInstanceOf(InvalidArgumentError);
      expect((errors[1] as InvalidArgumentError).message).toBe((errors[0] as InvalidArgumentError).message);
      expect((errors[1] as InvalidArgumentError).issues).toEqual((errors[0] as InvalidArgumentError).issues);
    });
  }

  test('a snapshot reopens to the same codes, scales, norms and graph (saved again byte for byte)', async () => {
    let saved: Uint8Array | undefined;
    const persistence: SnapshotPersistence = {
      location: 'memory://int8-only',
      load: async () => saved,
      save: async (bytes) => {
        saved = bytes.slice();
      },
    };
    const options = { quantization: 'int8-only', ann: { minRecords: 1000, ef: 48 }, persistence } as const;
    const store = createMemoryStore(options);
    await filled(store, vectors.slice(0, 2000));
    await store.delete({ collection: 'c', ids: [5, 17, 300] });
    const before = await store.search({
      collection: 'c',
      vector: queries[3] as number[],
      limit: 10,
      includeVectors: true,
    });
    await store.setCollectionState({ collection: 'c', key: 'touch', value: 1 }); // saved with the graph built
    const first = saved as Uint8Array;
    const reopened = createMemoryStore(options);
    expect((await reopened.describe()).collections[0]?.ann?.built).toBe(true);
    expect(
      await reopened.search({ collection: 'c', vector: queries[3] as number[], limit: 10, includeVectors: true }),
    ).toEqual(before);
    await reopened.setCollectionState({ collection: 'c', key: 'touch', value: 1 });
    expect(saved).toEqual(first);
    // A float store opens the same snapshot with the dequantized values.
    const float = createMemoryStore({ persistence });
    const [record] = await float.get({ collection: 'c', ids: [40], includeVectors: true });
    const [same] = await reopened.get({ collection: 'c', ids: [40], includeVectors: true });
    expect(record?.vector).toEqual(same?.vector);
  });

  test('through a file (read and saved in pieces where the arena can): reopens identical, a float store reads it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kumiki-int8-only-'));
    try {
      const path = join(dir, 'store.kmk');
      const options = { quantization: 'int8-only', ann: { minRecords: 1000 } } as const;
      const store = createMemoryStore({ ...options, persistence: createFilePersistence(path) });
      await filled(store, vectors.slice(0, 1500));
      const query = { collection: 'c', vector: queries[1] as number[], limit: 10, includeVectors: true };
      const before = await store.search(query);
      await store.setCollectionState({ collection: 'c', key: 'touch', value: 1 });
      await store.dispose();
      const first = await readFile(path);
      const reopened = createMemoryStore({ ...options, persistence: createFilePersistence(path) });
      expect(await reopened.search(query)).toEqual(before);
      await reopened.setCollectionState({ collection: 'c', key: 'touch', value: 1 });
      await reopened.dispose();
      expect(await readFile(path)).toEqual(first);
      const float = createMemoryStore({ persistence: createFilePersistence(path) });
      const top = before[0] as (typeof before)[number];
      const [record] = await float.get({ collection: 'c', ids: [top.id], includeVectors: true });
      expect(record?.vector).toEqual(top.vector);
      await float.dispose();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a float snapshot without codes, opened int8-only through a file, is quantized from its rows', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kumiki-int8-only-'));
    try {
      const path = join(dir, 'store.kmk');
      const float = createMemoryStore({ persistence: createFilePersistence(path) });
      await filled(float, vectors.slice(0, 300));
      await float.dispose();
      const bytes = new Uint8Array(await readFile(path));
      const whole: SnapshotPersistence = { location: 'bytes', load: async () => bytes, save: async () => {} };
      const ids = [0, 1, 150, 299];
      const expected = await createMemoryStore({ quantization: 'int8-only', persistence: whole }).get({
        collection: 'c',
        ids,
        includeVectors: true,
      });
      const opened = createMemoryStore({ quantization: 'int8-only', persistence: createFilePersistence(path) });
      expect(await opened.get({ collection: 'c', ids, includeVectors: true })).toEqual(expected);
      await opened.dispose();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
