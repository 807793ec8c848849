import { describe, expect, test } from 'vitest';
import { createMemoryStore, f, type MemoryStore } from '../src/index.js';
import type { SnapshotPersistence } from '../src/stores/memory/memory-store.js';
import { seededRandom } from '../src/testing/random.js';

const DIMS = 16;

/** Points around 40 random centres: the structure real embeddings have. */
function clustered(count: number, seed: number): number[][] {
  const rand = seededRandom(seed);
  const centres = Array.from({ length: 40 }, () => Array.from({ length: DIMS }, () => rand() * 2 - 1));
  return Array.from({ length: count }, (_, i) => (centres[i % 40] as number[]).map((c) => c + (rand() - 0.5) * 0.6));
}

async function filled(store: MemoryStore, vectors: number[][]): Promise<void> {
  await store.createCollection({ name: 'c', dimensions: DIMS, metric: 'cosine' });
  await store.upsert({
    collection: 'c',
    records: vectors.map((vector, id) => ({ id, vector, payload: { group: id % 20, half: id % 2 } })),
  });
}

async function recall(ann: MemoryStore, exact: MemoryStore, queries: number[][], filter?: ReturnType<typeof f.eq>) {
  let hits = 0;
  let total = 0;
  for (const vector of queries) {
    const want = await exact.search({ collection: 'c', vector, limit: 10, ...(filter ? { filter } : {}) });
    const got = await ann.search({ collection: 'c', vector, limit: 10, ...(filter ? { filter } : {}) });
    const scores = new Map(want.map((m) => [m.id, m.score]));
    for (const match of got) {
      if (scores.has(match.id)) hits++;
    }
    total += want.length;
  }
  return hits / total;
}

describe('approximate dense search (HNSW)', () => {
  const vectors = clustered(3000, 1);
  const queries = clustered(60, 2);
  const options = { ann: { minRecords: 1000, ef: 48 } } as const;

  for (const kernel of ['wasm', 'js'] as const) {
    test(`${kernel} kernel: recall@10 against exact search, and every score is the record's exact score`, async () => {
      const ann = createMemoryStore({ ...options, kernel });
      const exact = createMemoryStore({ kernel });
      await filled(ann, vectors);
      await filled(exact, vectors);
      expect(await recall(ann, exact, queries)).toBeGreaterThanOrEqual(0.9);
      expect((await ann.describe()).collections[0]?.ann?.built).toBe(true);
      const [top] = await ann.search({
        collection: 'c',
        vector: queries[0] as number[],
        limit: 3,
        includeVectors: true,
      });
      const [same] = await exact.search({
        collection: 'c',
        vector: queries[0] as number[],
        limit: 1,
        filter: f.eq('group', Number(top?.payload.group)),
      });
      expect(top?.score).toBeCloseTo(
        (await exact.search({ collection: 'c', vector: queries[0] as number[], limit: 3000 })).find(
          (m) => m.id === top?.id,
        )?.score ?? Number.NaN,
        5,
      );
      expect(same).toBeDefined();
    });
  }

  test('deletes and updates keep the graph answering, never with a deleted record', async () => {
    const ann = createMemoryStore(options);
    const exact = createMemoryStore();
    await filled(ann, vectors);
    await filled(exact, vectors);
    await ann.search({ collection: 'c', vector: queries[0] as number[] }); // builds the graph
    const doomed = Array.from({ length: 900 }, (_, i) => i * 3);
    const moved = clustered(300, 9).map((vector, i) => ({ id: i * 3 + 1, vector, payload: { group: 0, half: 0 } }));
    for (const store of [ann, exact]) {
      await store.delete({ collection: 'c', ids: doomed });
      await store.upsert({ collection: 'c', records: moved });
    }
    const gone = new Set(doomed);
    for (const vector of queries) {
      for (const match of await ann.search({ collection: 'c', vector, limit: 10 }))
        expect(gone.has(match.id as number)).toBe(false);
    }
    expect(await recall(ann, exact, queries)).toBeGreaterThanOrEqual(0.85);
  });

  test('filters: a selective one is answered exactly over its matches; a broad one through the graph keeps only matches', async () => {
    const ann = createMemoryStore({ ann: { minRecords: 1000, ef: 48, exactBelow: 0.2 } });
    const exact = createMemoryStore();
    await filled(ann, vectors);
    await filled(exact, vectors);
    const selective = f.eq('group', 3); // 5%
    expect(await recall(ann, exact, queries, selective)).toBe(1);
    const explained = await ann.explain({ collection: 'c', filter: f.eq('half', 1) });
    expect(explained.plan.dense).toMatch(/HNSW/);
    // A broad filter on a graph whose walk is cheap enough to pay goes through the graph.
    const walker = createMemoryStore({ ann: { minRecords: 1000, ef: 24, m: 6, exactBelow: 0.2 } });
    await filled(walker, vectors);
    const broad = f.eq('half', 1); // 50%
    for (const vector of queries.slice(0, 10)) {
      const got = await walker.search({ collection: 'c', vector, limit: 10, filter: broad });
      expect(got.length).toBe(10);
      for (const match of got) expect(match.payload.half).toBe(1);
    }
    expect(await recall(walker, exact, queries, broad)).toBeGreaterThanOrEqual(0.85);
    for (const vector of queries.slice(0, 10)) {
      for (const match of await ann.search({ collection: 'c', vector, limit: 10, filter: broad }))
        expect(match.payload.half).toBe(1);
    }
    expect(await recall(ann, exact, queries, broad)).toBeGreaterThanOrEqual(0.9);
  });

  test('the graph is saved in the snapshot and reopened without a rebuild', async () => {
    let saved: Uint8Array | undefined;
    const persistence: SnapshotPersistence = {
      location: 'memory://ann',
      load: async () => saved,
      save: async (bytes) => {
        saved = bytes.slice();
      },
    };
    const store = createMemoryStore({ ...options, persistence });
    await filled(store, vectors);
    const before = await store.search({ collection: 'c', vector: queries[5] as number[], limit: 10 });
    await store.setCollectionState({ collection: 'c', key: 'touch', value: 1 }); // saves with the graph built
    const reopened = createMemoryStore({ ...options, persistence });
    expect((await reopened.describe()).collections[0]?.ann?.built).toBe(true);
    expect(await reopened.search({ collection: 'c', vector: queries[5] as number[], limit: 10 })).toEqual(before);
    // Other graph settings: the saved graph is not used, and one is built again when needed.
    const other = createMemoryStore({ ann: { minRecords: 1000, m: 8 }, persistence });
    expect((await other.describe()).collections[0]?.ann?.built).toBe(false);
    expect((await other.search({ collection: 'c', vector: queries[5] as number[], limit: 1 })).length).toBe(1);
  });
});
