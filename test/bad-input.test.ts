import { describe, expect, test } from 'vitest';
import {
  createBm25Encoder,
  createMemoryStore,
  evaluateFilter,
  type Filter,
  filterFields,
  fingerprint,
  InvalidArgumentError,
  KumikiError,
  parseFilter,
  reciprocalRankFusion,
  reembed,
} from '../src/index.js';
import { createFilePersistence } from '../src/stores/memory/file.js';
import { storeConformance } from '../src/testing/index.js';

/** Runs `action` and returns the kumiki error it threw or rejected with. */
async function errorOf(action: () => unknown): Promise<KumikiError> {
  try {
    await action();
  } catch (error) {
    if (KumikiError.isInstance(error)) return error;
    throw new Error(`expected a kumiki error, got ${String(error)}`);
  }
  throw new Error('expected the call to fail');
}

const store = createMemoryStore();
await store.createCollection({ name: 'c', dimensions: 2 });

const cases: [string, () => unknown, RegExp][] = [
  [
    'createMemoryStore with an unknown quantization',
    () => createMemoryStore({ quantization: 'int4' as 'int8' }),
    /quantization/,
  ],
  ['createMemoryStore with an unknown option', () => createMemoryStore({ cache: true } as never), /cache/],
  [
    'createMemoryStore with a persistence lacking save()',
    () => createMemoryStore({ persistence: { load: async () => undefined } as never }),
    /persistence must have load\(\) and save\(\)/,
  ],
  [
    'createCollection without a name',
    () => store.createCollection({ name: '', dimensions: 3 }),
    /name: collection names must not be empty/,
  ],
  [
    'createCollection with a bad name',
    () => store.createCollection({ name: '../x', dimensions: 3 }),
    /collection names use letters/,
  ],
  [
    'createCollection with neither dense nor sparse',
    () => store.createCollection({ name: 'n', sparse: false }),
    /needs dense dimensions, sparse vectors, or both/,
  ],
  ['upsert with records not an array', () => store.upsert({ collection: 'c', records: {} as never }), /records/],
  [
    'upsert with a string vector',
    () => store.upsert({ collection: 'c', records: [{ id: 1, vector: 'ab' as never }] }),
    /records\.0\.vector: vectors must be number arrays/,
  ],
  [
    'upsert with mismatched sparse arrays',
    () =>
      store.upsert({
        collection: 'c',
        records: [{ id: 1, vector: [1, 2], sparseVector: { indices: [1, 2], values: [1] } }],
      }),
    /same length/,
  ],
  [
    'upsert with a duplicate sparse index',
    () =>
      store.upsert({
        collection: 'c',
        records: [{ id: 1, vector: [1, 2], sparseVector: { indices: [3, 3], values: [1, 1] } }],
      }),
    /index 3 appears twice/,
  ],
  [
    'upsert with a non-JSON payload',
    () => store.upsert({ collection: 'c', records: [{ id: 1, vector: [1, 2], payload: { at: new Date() } as never }] }),
    /payload\.at/,
  ],
  [
    'upsert with an Infinity in the payload',
    () =>
      store.upsert({ collection: 'c', records: [{ id: 1, vector: [1, 2], payload: { x: Number.POSITIVE_INFINITY } }] }),
    /payload\.x/,
  ],
  ['search with neither vector', () => store.search({ collection: 'c' }), /needs a vector, a sparseVector, or both/],
  ['search with limit 0', () => store.search({ collection: 'c', vector: [1, 2], limit: 0 }), /limit/],
  [
    'search with an unknown fusion',
    () => store.search({ collection: 'c', vector: [1, 2], fusion: { method: 'dbsf' } as never }),
    /fusion/,
  ],
  [
    'search with fusion but one vector',
    () => store.search({ collection: 'c', vector: [1, 2], fusion: { method: 'rrf' } }),
    /fusion applies to hybrid search only/,
  ],
  ['delete with neither ids nor filter', () => store.delete({ collection: 'c' } as never), /delete options/],
  ['scroll with a fractional limit', () => store.scroll({ collection: 'c', limit: 2.5 }), /limit/],
  ['get with an object id', () => store.get({ collection: 'c', ids: [{}] as never }), /ids\.0/],
  [
    'search with a non-signal abortSignal',
    () => store.search({ collection: 'c', vector: [1, 2], abortSignal: {} as never }),
    /abortSignal must be an AbortSignal/,
  ],
  ['fingerprint without a model', () => fingerprint({ provider: 'p', dimensions: 3 } as never), /model/],
  [
    'fingerprint with an unknown field',
    () => fingerprint({ provider: 'p', model: 'm', dimensions: 3, pooler: 'x' } as never),
    /pooler/,
  ],
  ['parseFilter with a missing field', () => parseFilter({ op: 'eq', value: 1 }), /field/],
  ['evaluateFilter with a bad filter', () => evaluateFilter({ op: 'gt', field: 'a' } as never, {}), /value/],
  [
    'evaluateFilter with a non-JSON payload',
    () => evaluateFilter({ op: 'exists', field: 'a' }, { a: Symbol('x') } as never),
    /payload/,
  ],
  ['filterFields with a bad filter', () => filterFields({ op: 'not' } as unknown as Filter), /filter/],
  ['reciprocalRankFusion with k = 0', () => reciprocalRankFusion([], { k: 0 }), /k must be positive/],
  [
    'reciprocalRankFusion with matches lacking ids',
    () => reciprocalRankFusion([[{ score: 1 } as never]]),
    /ranked lists/,
  ],
  ['createBm25Encoder with a negative k1', () => createBm25Encoder({ k1: -1 }), /k1/],
  [
    'BM25 embed with non-string values',
    () => createBm25Encoder().embed({ values: [1] as never, role: 'query' }),
    /values/,
  ],
  [
    'BM25 embed with an unknown role',
    () => createBm25Encoder().embed({ values: ['x'], role: 'passage' as never }),
    /role/,
  ],
  [
    'storeConformance without a test function',
    () => storeConformance(undefined as never, () => createMemoryStore()),
    /test \(the runner's test function/,
  ],
  [
    'storeConformance with a store instead of a factory',
    () => storeConformance(test, createMemoryStore() as never),
    /factory/,
  ],
  [
    'storeConformance with an unknown metric',
    () => storeConformance(test, () => createMemoryStore(), { metrics: ['hamming' as 'dot'] }),
    /metrics\.0/,
  ],
  [
    'reembed without an embedder',
    () => reembed({ store, alias: 'a', target: 'b', text: () => '' } as never),
    /embedder/,
  ],
  ['explain with a bad filter', () => store.explain({ collection: 'c', filter: { op: 'eq' } as never }), /filter/],
  ['setAlias with a bad alias name', () => store.setAlias?.({ alias: 'a b', collection: 'c' }), /alias/],
  ['createFilePersistence with an empty path', () => createFilePersistence(''), /path must not be empty/],
];

describe('bad input to public functions gets a typed error that says what was wrong', () => {
  for (const [name, action, message] of cases) {
    test(name, async () => {
      const error = await errorOf(action);
      expect(InvalidArgumentError.isInstance(error), `${error.name}: ${error.message}`).toBe(true);
      expect(error.message).toMatch(message);
    });
  }
  test('the store is unchanged by the rejected calls', async () => {
    expect(await store.count({ collection: 'c' })).toBe(0);
    expect((await store.listCollections()).map((c) => c.name)).toEqual(['c']);
  });
});
