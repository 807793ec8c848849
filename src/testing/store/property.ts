/** Property: random operation sequences against the reference evaluator and brute-force ranking. */
import type { JsonObject, RecordId, SparseVector } from '../../core/types.js';
import { matchesFilter } from '../../filter/evaluate.js';
import { importOptional } from '../../internal/optional.js';
import { deepEqual, equal } from '../assert.js';
import { filterArbitrary } from './filter-arbitrary.js';
import {
  checkRanking,
  expectRefusal,
  idKey,
  referenceScore,
  type StoreSuite,
  sortIds,
  sparseDot,
  supports,
  uniqueName,
} from './shared.js';

export function propertyTests({ t, metricsOf, numRuns, seed }: StoreSuite): void {
  t('property: results equal the reference evaluator and brute-force ranking', async (store) => {
    // fast-check is an optional peer: loaded here, so kumiki/testing imports without it.
    const fc = await importOptional('fast-check', 'testing', () => import('fast-check'));
    const metric = metricsOf(store)[0] ?? 'cosine';
    const name = uniqueName('prop');
    const dims = 6;
    await store.createCollection({ name, dimensions: dims, metric });
    const state = new Map<
      string,
      { id: RecordId; vector: number[]; sparseVector?: SparseVector; payload: JsonObject }
    >();
    const fieldNames = ['a', 'b', 'c.d'];
    // Hostile strings: quotes, backslashes, SQL and expression injection, Unicode, a long value.
    const hostile = ["'", '"', '\\', "x' OR 1=1 --", '") or (1==1', '$.a ? (@ == 1)', 'é🙂 ü', 'y'.repeat(3000)];
    const scalar = fc.oneof(
      fc.constantFrom('x', 'y', 'z', '', ...hostile),
      fc.integer({ min: -3, max: 3 }),
      fc.double({ min: -3, max: 3, noNaN: true }),
      fc.boolean(),
    );
    const value = fc.oneof(scalar, fc.constant(null), fc.array(scalar, { maxLength: 3 }));
    const payload = fc.record(
      { a: value, b: value, c: fc.oneof(fc.record({ d: value }, { requiredKeys: [] }), value) },
      { requiredKeys: [] },
    );
    const vector = fc.array(
      fc.integer({ min: -8, max: 8 }).map((n) => n / 4),
      { minLength: dims, maxLength: dims },
    );
    const sparseVector = fc
      .uniqueArray(fc.integer({ min: 0, max: 7 }), { minLength: 1, maxLength: 4 })
      .chain((indices) =>
        fc
          .array(
            fc.integer({ min: 1, max: 8 }).map((n) => n / 4),
            { minLength: indices.length, maxLength: indices.length },
          )
          .map((values): SparseVector => ({ indices, values })),
      );
    const id = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.constantFrom('p', 'q', 'r', 's', 'tt', 'u1'));
    const field = fc.constantFrom(...fieldNames);
    const filter = filterArbitrary(fc, {
      field,
      scalar: scalar,
      bound: fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom('x', 'y')),
    });
    const operation = fc.oneof(
      fc.record({
        kind: fc.constant('upsert' as const),
        records: fc.array(
          fc.record({ id, vector, sparseVector, payload }, { requiredKeys: ['id', 'vector', 'payload'] }),
          {
            minLength: 1,
            maxLength: 8,
          },
        ),
      }),
      fc.record({ kind: fc.constant('delete' as const), ids: fc.array(id, { maxLength: 3 }) }),
      fc.record({ kind: fc.constant('deleteWhere' as const), filter }),
      fc.record({
        kind: fc.constant('query' as const),
        filter: fc.option(filter, { nil: undefined }),
        vector,
        sparseVector: fc.option(sparseVector, { nil: undefined, freq: 2 }),
        limit: fc.integer({ min: 1, max: 12 }),
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 30 }), async (operations) => {
        await store.delete({ collection: name, filter: { op: 'not', filter: { op: 'exists', field: '__never__' } } });
        state.clear();
        for (const op of operations) {
          if (op.kind === 'upsert') {
            await store.upsert({ collection: name, records: op.records });
            // A store returns what JSON keeps (-0 becomes 0).
            for (const record of op.records) {
              state.set(idKey(record.id), { ...record, payload: JSON.parse(JSON.stringify(record.payload)) });
            }
          } else if (op.kind === 'delete') {
            await store.delete({ collection: name, ids: op.ids });
            for (const doomed of op.ids) state.delete(idKey(doomed));
          } else if (op.filter && !(await supports(store, name, op.filter))) {
            await expectRefusal(store, name, op.filter, 'an unsupported filter', Array(dims).fill(1));
          } else if (op.kind === 'deleteWhere') {
            await store.delete({ collection: name, filter: op.filter });
            for (const [key, record] of state) if (matchesFilter(op.filter, record.payload)) state.delete(key);
          } else {
            const selected = [...state.values()].filter((r) => !op.filter || matchesFilter(op.filter, r.payload));
            equal(
              await store.count({ collection: name, ...(op.filter ? { filter: op.filter } : {}) }),
              selected.length,
              'count',
            );
            const page = await store.scroll({
              collection: name,
              limit: 1000,
              ...(op.filter ? { filter: op.filter } : {}),
            });
            deepEqual(
              page.records.map((r) => r.id),
              sortIds(selected.map((r) => r.id)),
              'scroll ids',
            );
            for (const record of page.records)
              deepEqual(record.payload, state.get(idKey(record.id))?.payload, 'payload');
            const expected = selected
              .map((r) => ({ id: r.id, score: referenceScore(metric, op.vector, r.vector) }))
              .sort((a, b) => b.score - a.score)
              .slice(0, op.limit);
            const hits = await store.search({
              collection: name,
              vector: op.vector,
              limit: op.limit,
              ...(op.filter ? { filter: op.filter } : {}),
            });
            checkRanking(hits, expected, 'search');
            if (op.sparseVector && store.capabilities.sparse) {
              const query = op.sparseVector;
              const expectedSparse = selected
                .map((r) => ({ id: r.id, score: r.sparseVector ? sparseDot(query, r.sparseVector) : undefined }))
                .filter((m): m is { id: RecordId; score: number } => m.score !== undefined)
                .sort((a, b) => b.score - a.score)
                .slice(0, op.limit);
              const sparseHits = await store.search({
                collection: name,
                sparseVector: query,
                limit: op.limit,
                ...(op.filter ? { filter: op.filter } : {}),
              });
              checkRanking(sparseHits, expectedSparse, 'sparse search');
            }
          }
        }
      }),
      { numRuns, ...(seed === undefined ? {} : { seed: seed }) },
    );
  });
}
