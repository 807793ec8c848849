/** Store conformance, search: dense ranking for every metric, sparse and hybrid, large and parallel batches. */
import type { RecordId } from '../../core/types.js';
import { equal } from '../assert.js';
import { seededRandom } from '../random.js';
import {
  checkRanking,
  randomSparse,
  randomVector,
  referenceScore,
  type StoreSuite,
  sparseDot,
  uniqueName,
} from './shared.js';

export function searchTests({ t, metricsOf, largeBatch }: StoreSuite): void {
  t('dense search ranks exactly for every metric', async (store) => {
    const random = seededRandom(42);
    for (const metric of metricsOf(store)) {
      const name = uniqueName(`dense_${metric}`);
      const dims = 13;
      await store.createCollection({ name, dimensions: dims, metric });
      const records = Array.from({ length: 300 }, (_, i) => ({
        id: i,
        vector: randomVector(random, dims),
        payload: { i },
      }));
      await store.upsert({ collection: name, records });
      for (let q = 0; q < 5; q++) {
        const query = randomVector(random, dims);
        const expected = records
          .map((r) => ({ id: r.id, score: referenceScore(metric, query, r.vector) }))
          .sort((a, b) => b.score - a.score)
          .slice(0, 10);
        checkRanking(
          await store.search({ collection: name, vector: query, limit: 10 }),
          expected,
          `${metric} query ${q}`,
        );
        const fifth = (expected[4] as { score: number }).score;
        const sixth = (expected[5] as { score: number }).score;
        if (fifth - sixth > 1e-3) {
          const threshold = (fifth + sixth) / 2;
          const above = await store.search({ collection: name, vector: query, limit: 10, scoreThreshold: threshold });
          equal(above.length, 5, `${metric} query ${q}: scoreThreshold keeps exactly the matches at or above it`);
        }
      }
      const self = records[17] as (typeof records)[number];
      if (metric !== 'dot') {
        const [top] = await store.search({ collection: name, vector: self.vector, limit: 1 });
        equal(top?.id, self.id, `${metric}: a stored vector is its own nearest neighbour`);
      }
    }
  });

  t('sparse and hybrid search', async (store) => {
    if (!store.capabilities.sparse) return;
    const random = seededRandom(7);
    const name = uniqueName('sparse');
    const dims = 8;
    await store.createCollection({ name, dimensions: dims, sparse: true });
    const records = Array.from({ length: 200 }, (_, i) => ({
      id: `r${i}`,
      vector: randomVector(random, dims),
      sparseVector: randomSparse(random, 50, 4),
      payload: { i },
    }));
    await store.upsert({ collection: name, records });
    const query = randomSparse(random, 50, 3);
    const expected = records
      .map((r) => ({ id: r.id, score: sparseDot(query, r.sparseVector) }))
      .filter((m): m is { id: string; score: number } => m.score !== undefined)
      .sort((a, b) => b.score - a.score)
      .slice(0, 10);
    checkRanking(await store.search({ collection: name, sparseVector: query, limit: 10 }), expected, 'sparse search');
    if (!store.capabilities.hybrid) return;
    const dense = randomVector(random, dims);
    const depth = 40;
    const hybrid = await store.search({
      collection: name,
      vector: dense,
      sparseVector: query,
      limit: 10,
      fusion: { method: 'rrf', k: 60, prefetch: depth },
    });
    const denseRanking = records
      .map((r) => ({ id: r.id, score: referenceScore('cosine', dense, r.vector) }))
      .sort((a, b) => b.score - a.score)
      .slice(0, depth);
    const sparseRanking = records
      .map((r) => ({ id: r.id, score: sparseDot(query, r.sparseVector) }))
      .filter((m): m is { id: string; score: number } => m.score !== undefined)
      .sort((a, b) => b.score - a.score)
      .slice(0, depth);
    const fused = new Map<string, { id: RecordId; score: number }>();
    for (const ranking of [denseRanking, sparseRanking]) {
      ranking.forEach((match, rank) => {
        const entry = fused.get(match.id) ?? { id: match.id, score: 0 };
        entry.score += 1 / (60 + rank + 1);
        fused.set(match.id, entry);
      });
    }
    const expectedFused = [...fused.values()].sort((a, b) => b.score - a.score).slice(0, 10);
    checkRanking(hybrid, expectedFused, 'hybrid search (RRF of the dense and sparse rankings)', 1e-7);
    // Deletes and overwrites must reach the sparse index too.
    const deleted = new Set(records.filter((_, i) => i % 3 === 0).map((r) => r.id));
    await store.delete({ collection: name, ids: [...deleted] });
    const remaining = records.filter((r) => !deleted.has(r.id));
    const sparseTop = () =>
      remaining
        .map((r) => ({ id: r.id, score: sparseDot(query, r.sparseVector) }))
        .filter((m): m is { id: string; score: number } => m.score !== undefined)
        .sort((a, b) => b.score - a.score)
        .slice(0, 10);
    checkRanking(
      await store.search({ collection: name, sparseVector: query, limit: 10 }),
      sparseTop(),
      'sparse search after deletes',
    );
    const rewritten = remaining[remaining.length - 1] as (typeof records)[number];
    rewritten.sparseVector = { indices: Array.from(query.indices), values: Array.from(query.values, () => 100) };
    await store.upsert({ collection: name, records: [rewritten] });
    const after = await store.search({ collection: name, sparseVector: query, limit: 10 });
    checkRanking(after, sparseTop(), 'sparse search after an overwrite');
    equal(after[0]?.id, rewritten.id, 'the overwritten record ranks by its new sparse vector');
  });

  t(`a large batch lands whole`, async (store) => {
    const name = uniqueName('large');
    const n = largeBatch ?? 5000;
    await store.createCollection({ name, dimensions: 16 });
    const random = seededRandom(3);
    const records = Array.from({ length: n }, (_, i) => ({
      id: `L${i}`,
      vector: randomVector(random, 16),
      payload: { i, text: `record ${i}` },
    }));
    equal((await store.upsert({ collection: name, records })).upserted, n, 'upserted count');
    equal(await store.count({ collection: name }), n, 'count after a large batch');
    const sample = await store.get({ collection: name, ids: [`L0`, `L${n - 1}`, `L${n >> 1}`] });
    equal(sample.length, 3, 'records from the start, middle and end of the batch exist');
  });

  t('parallel upserts lose nothing', async (store) => {
    const name = uniqueName('parallel');
    await store.createCollection({ name, dimensions: 4 });
    const random = seededRandom(5);
    await Promise.all(
      Array.from({ length: 20 }, (_, batch) =>
        store.upsert({
          collection: name,
          records: Array.from({ length: 50 }, (_, i) => ({
            id: batch * 50 + i,
            vector: randomVector(random, 4),
            payload: { batch },
          })),
        }),
      ),
    );
    equal(await store.count({ collection: name }), 1000, 'count after 20 parallel upserts of 50');
    for (let batch = 0; batch < 20; batch++) {
      equal(
        await store.count({ collection: name, filter: { op: 'eq', field: 'batch', value: batch } }),
        50,
        `batch ${batch} complete`,
      );
    }
  });
}
