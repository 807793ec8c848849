import fc from 'fast-check';
import { expect, test } from 'vitest';
import { createMemoryStore, type SparseVector } from '../src/index.js';

test('the sparse index follows interleaved upserts, deletes and searches (brute force as reference)', async () => {
  const sparse = fc
    .uniqueArray(fc.integer({ min: 0, max: 30 }), { minLength: 1, maxLength: 5 })
    .chain((indices) =>
      fc
        .array(fc.integer({ min: 1, max: 9 }), { minLength: indices.length, maxLength: indices.length })
        .map((values): SparseVector => ({ indices, values })),
    );
  const operation = fc.oneof(
    fc.record({
      kind: fc.constant('upsert' as const),
      // Many ids, some without a sparse vector, so rows past the index's first allocation move too.
      records: fc.array(
        fc.record({ id: fc.integer({ min: 0, max: 150 }), sparseVector: fc.option(sparse, { nil: undefined }) }),
        {
          minLength: 1,
          maxLength: 60,
        },
      ),
    }),
    fc.record({
      kind: fc.constant('delete' as const),
      ids: fc.array(fc.integer({ min: 0, max: 150 }), { maxLength: 40 }),
    }),
    fc.record({ kind: fc.constant('search' as const), query: sparse, limit: fc.integer({ min: 1, max: 20 }) }),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 25 }), async (operations) => {
      const store = createMemoryStore();
      await store.createCollection({ name: 's', sparse: true });
      const state = new Map<number, SparseVector | undefined>();
      for (const op of operations) {
        if (op.kind === 'upsert') {
          await store.upsert({
            collection: 's',
            records: op.records.map((r) =>
              r.sparseVector ? { id: r.id, sparseVector: r.sparseVector } : { id: r.id },
            ),
          });
          for (const r of op.records) state.set(r.id, r.sparseVector);
        } else if (op.kind === 'delete') {
          await store.delete({ collection: 's', ids: op.ids });
          for (const id of op.ids) state.delete(id);
        } else {
          const expected = [...state]
            .flatMap(([id, vector]) => {
              if (!vector) return [];
              let score = 0;
              let shared = false;
              Array.from(op.query.indices).forEach((index, i) => {
                const at = Array.from(vector.indices).indexOf(index);
                if (at >= 0) {
                  shared = true;
                  score += (op.query.values[i] as number) * (vector.values[at] as number);
                }
              });
              return shared ? [{ id, score }] : [];
            })
            .sort((a, b) => b.score - a.score || a.id - b.id)
            .slice(0, op.limit);
          const got = await store.search({ collection: 's', sparseVector: op.query, limit: op.limit });
          expect(got.map((m) => ({ id: m.id, score: m.score }))).toEqual(expected);
        }
      }
      await store.dispose();
    }),
    { numRuns: 150 },
  );
});

test('deleting a record moves a later one without a sparse vector into its row, beyond the first allocation', async () => {
  const store = createMemoryStore();
  await store.createCollection({ name: 's', sparse: true, dimensions: 1 });
  await store.upsert({
    collection: 's',
    records: Array.from({ length: 200 }, (_, i) => ({
      id: i,
      vector: [1],
      ...(i < 3 ? { sparseVector: { indices: [i + 1], values: [1] } } : {}),
    })),
  });
  await store.delete({ collection: 's', ids: [0] });
  // Record 199 (no sparse vector) now sits in row 0; records 1 and 2 keep theirs.
  const [moved, one] = await store.get({ collection: 's', ids: [199, 1], includeVectors: true });
  expect(moved?.sparseVector).toBeUndefined();
  expect(Array.from(one?.sparseVector?.indices ?? [])).toEqual([2]);
  await store.delete({ collection: 's', ids: [199] });
  expect(
    (await store.search({ collection: 's', sparseVector: { indices: [2, 3], values: [1, 1] } })).map((m) => m.id),
  ).toEqual([1, 2]);
});
