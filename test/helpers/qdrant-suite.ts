/**
 * The Store checks run against the Qdrant adapter, both against the contract server (emulator) and
 * against a real Qdrant (live suite): `storeConformance` (which accepts a consistent refusal of the
 * string ranges Qdrant cannot express), plus two Qdrant-specific checks: exactly the string-range
 * cases of the filter table are refused, and a property test aimed at Qdrant's id-ordered scroll
 * (paged scroll, ids sharing long prefixes) and quoted field names.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import type { Filter } from '../../src/core/filter.js';
import type { Store } from '../../src/core/store.js';
import type { JsonObject, RecordId, SparseVector } from '../../src/core/types.js';
import { matchesFilter } from '../../src/filter/evaluate.js';
import { FILTER_CASES, FILTER_PAYLOADS } from '../../src/testing/filter-cases.js';
import { checkRanking, referenceScore, storeConformance, type TestFunction } from '../../src/testing/index.js';
import { filterArbitrary } from '../../src/testing/store/filter-arbitrary.js';

/** Whether a filter compares a range against a string somewhere (Qdrant: UnsupportedFilterError). */
export function hasStringRange(filter: Filter): boolean {
  if ('filters' in filter) return filter.filters.some(hasStringRange);
  if ('filter' in filter) return hasStringRange(filter.filter);
  return (
    (filter.op === 'gt' || filter.op === 'gte' || filter.op === 'lt' || filter.op === 'lte') &&
    typeof filter.value === 'string'
  );
}

const sortIds = (ids: RecordId[]) =>
  [...ids].sort((a, b) => {
    if (typeof a === 'number') return typeof b === 'number' ? a - b : -1;
    if (typeof b === 'number') return 1;
    return a < b ? -1 : a > b ? 1 : 0;
  });

let counter = 0;
const uniqueName = (label: string) => `kq_${label}_${Date.now().toString(36)}_${(counter++).toString(36)}`;

async function withStore(factory: () => Store, body: (store: Store) => Promise<void>) {
  const store = factory();
  try {
    await body(store);
  } finally {
    await store.dispose();
  }
}

export function qdrantStoreChecks(
  test: TestFunction,
  factory: () => Store,
  options: { name: string; numRuns: number; largeBatch?: number },
): void {
  storeConformance(test, factory, {
    name: options.name,
    numRuns: options.numRuns,
    ...(options.largeBatch ? { largeBatch: options.largeBatch } : {}),
  });

  test(
    `${options.name}: filter table on Qdrant (string ranges refused, the rest as the reference)`,
    () =>
      withStore(factory, async (store) => {
        const name = uniqueName('filters');
        await store.createCollection({ name, dimensions: 2 });
        await store.upsert({
          collection: name,
          records: Object.entries(FILTER_PAYLOADS).map(([id, payload]) => ({
            id: Number(id),
            vector: [1, Number(id)],
            payload,
          })),
        });
        const refused: string[] = [];
        for (const { name: caseName, filter, ids } of FILTER_CASES) {
          if (hasStringRange(filter)) {
            refused.push(caseName);
            for (const action of [
              () => store.scroll({ collection: name, filter }),
              () => store.count({ collection: name, filter }),
              () => store.search({ collection: name, vector: [1, 0], filter }),
              () => store.explain({ collection: name, filter }),
              () => store.delete({ collection: name, filter }),
            ]) {
              await expect(action(), caseName).rejects.toMatchObject({
                name: 'UnsupportedFilterError',
                backend: 'qdrant',
              });
            }
            continue;
          }
          const page = await store.scroll({ collection: name, filter, limit: 100 });
          expect(
            page.records.map((r) => r.id),
            `"${caseName}" via scroll`,
          ).toEqual(ids);
          expect(await store.count({ collection: name, filter }), `"${caseName}" via count`).toBe(ids.length);
          const hits = await store.search({ collection: name, vector: [1, 0], filter, limit: 100 });
          expect(sortIds(hits.map((h) => h.id)), `"${caseName}" via search`).toEqual(ids);
        }
        expect(refused).toEqual(['gte string compares strings only', 'lt string']);
        expect(await store.count({ collection: name }), 'refused deletes wrote nothing').toBe(7);
      }),
    60_000,
  );

  test(
    `${options.name}: property on Qdrant (random writes and numeric-range filter trees equal the reference)`,
    () =>
      withStore(factory, async (store) => {
        const name = uniqueName('prop');
        const dims = 4;
        await store.createCollection({ name, dimensions: dims, metric: 'dot' });
        const state = new Map<
          string,
          { id: RecordId; vector: number[]; sparseVector?: SparseVector; payload: JsonObject }
        >();
        const key = (id: RecordId) => `${typeof id}:${id}`;
        const hostile = ["'", '"', '\\', "x' OR 1=1 --", '") or (1==1', '$.a ? (@ == 1)', 'é🙂 ü', 'y'.repeat(3000)];
        const scalar = fc.oneof(
          fc.constantFrom('x', 'y', '', '1', ...hostile),
          fc.integer({ min: -3, max: 3 }),
          fc.double({ min: -3, max: 3, noNaN: true }),
          fc.boolean(),
        );
        const value = fc.oneof(scalar, fc.constant(null), fc.array(scalar, { maxLength: 3 }));
        const payload = fc.record(
          { a: value, 'b c': value, d: fc.oneof(fc.record({ e: value }, { requiredKeys: [] }), value) },
          { requiredKeys: [] },
        );
        const field = fc.constantFrom('a', 'b c', 'd.e', 'd');
        const filter = filterArbitrary(fc, {
          field,
          scalar: scalar,
          bound: fc.oneof(fc.integer({ min: -3, max: 3 }), fc.double({ min: -3, max: 3, noNaN: true })),
        });
        const vector = fc.array(
          fc.integer({ min: -8, max: 8 }).map((n) => n / 4),
          { minLength: dims, maxLength: dims },
        );
        const id = fc.oneof(
          fc.integer({ min: -5, max: 40 }),
          fc.constantFrom('p', 'q', '1', 'é', '🙂', 'long'.repeat(20), `${'long'.repeat(20)}x`),
        );
        const operation = fc.oneof(
          fc.record({
            kind: fc.constant('upsert' as const),
            records: fc.array(fc.record({ id, vector, payload }), { minLength: 1, maxLength: 8 }),
          }),
          fc.record({ kind: fc.constant('delete' as const), ids: fc.array(id, { maxLength: 3 }) }),
          fc.record({ kind: fc.constant('deleteWhere' as const), filter }),
          fc.record({
            kind: fc.constant('query' as const),
            filter: fc.option(filter, { nil: undefined }),
            vector,
            limit: fc.integer({ min: 1, max: 12 }),
            page: fc.integer({ min: 1, max: 5 }),
          }),
        );
        await fc.assert(
          fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 20 }), async (operations) => {
            await store.delete({
              collection: name,
              filter: { op: 'not', filter: { op: 'exists', field: '__never__' } },
            });
            state.clear();
            for (const op of operations) {
              if (op.kind === 'upsert') {
                await store.upsert({ collection: name, records: op.records });
                // A store returns what JSON keeps (-0 becomes 0).
                for (const record of op.records) {
                  state.set(key(record.id), { ...record, payload: JSON.parse(JSON.stringify(record.payload)) });
                }
              } else if (op.kind === 'delete') {
                const existing = new Set(op.ids.map(key).filter((k) => state.has(k)));
                expect((await store.delete({ collection: name, ids: op.ids })).deleted).toBe(existing.size);
                for (const doomed of existing) state.delete(doomed);
              } else if (op.kind === 'deleteWhere') {
                let expected = 0;
                for (const [k, record] of state) {
                  if (matchesFilter(op.filter, record.payload)) {
                    state.delete(k);
                    expected++;
                  }
                }
                expect((await store.delete({ collection: name, filter: op.filter })).deleted).toBe(expected);
              } else {
                const scope = op.filter ? { filter: op.filter } : {};
                const selected = [...state.values()].filter((r) => !op.filter || matchesFilter(op.filter, r.payload));
                expect(await store.count({ collection: name, ...scope }), 'count').toBe(selected.length);
                const seen: RecordId[] = [];
                let cursor: string | undefined;
                do {
                  const page = await store.scroll({
                    collection: name,
                    limit: op.page,
                    ...scope,
                    ...(cursor ? { cursor } : {}),
                  });
                  for (const record of page.records) {
                    // structuredClone: fast-check builds null-prototype objects; -0 survives and must round-trip.
                    expect(record.payload, 'payload').toStrictEqual(
                      structuredClone(state.get(key(record.id))?.payload),
                    );
                  }
                  seen.push(...page.records.map((r) => r.id));
                  cursor = page.nextCursor;
                } while (cursor);
                expect(seen, 'scroll ids').toEqual(sortIds(selected.map((r) => r.id)));
                const expected = selected
                  .map((r) => ({ id: r.id, score: referenceScore('dot', op.vector, r.vector) }))
                  .sort((a, b) => b.score - a.score)
                  .slice(0, op.limit);
                checkRanking(
                  await store.search({ collection: name, vector: op.vector, limit: op.limit, ...scope }),
                  expected,
                  'search',
                );
              }
            }
          }),
          { numRuns: options.numRuns },
        );
      }),
    120_000,
  );
}
