import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import {
  createBm25Encoder,
  createMemoryStore,
  evaluateFilter,
  type Filter,
  filterFields,
  fingerprint,
  InvalidArgumentError,
  type JsonObject,
  KumikiError,
  MAX_FILTER_DEPTH,
  MAX_ID_BYTES,
  MAX_PAYLOAD_DEPTH,
  parseFilter,
  reciprocalRankFusion,
  reembed,
  retrieve,
} from '../src/index.js';
import { createFilePersistence } from '../src/node/snapshot-file.js';
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
await store.createCollection({ name: 'c', dimensions: 2, sparse: true });

function cyclic(): JsonObject {
  const payload: Record<string, unknown> = { a: 1 };
  payload.self = payload;
  return payload as JsonObject;
}

function deepPayload(depth: number): JsonObject {
  let payload: JsonObject = {};
  for (let i = 1; i < depth; i++) payload = { d: payload };
  return payload;
}

function deepFilter(depth: number): Filter {
  let filter: Filter = { op: 'exists', field: 'a' };
  for (let i = 1; i < depth; i++) filter = { op: 'and', filters: [filter] };
  return filter;
}

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
  [
    'upsert with a cyclic payload',
    () => store.upsert({ collection: 'c', records: [{ id: 1, vector: [1, 2], payload: cyclic() }] }),
    /records\.0\.payload\.self: a cycle/,
  ],
  [
    'upsert with a payload nested 10,000 deep',
    () => store.upsert({ collection: 'c', records: [{ id: 1, vector: [1, 2], payload: deepPayload(10_000) }] }),
    new RegExp(`records\\.0\\.payload(\\.d){${MAX_PAYLOAD_DEPTH}}: nesting is limited to ${MAX_PAYLOAD_DEPTH} levels`),
  ],
  [
    'upsert with an own "__proto__" payload key',
    () =>
      store.upsert({ collection: 'c', records: [{ id: 1, vector: [1, 2], payload: JSON.parse('{"__proto__": 1}') }] }),
    /records\.0\.payload\.__proto__: the key "__proto__" is not allowed/,
  ],
  [
    'upsert with a vector component beyond float32 range',
    () => store.upsert({ collection: 'c', records: [{ id: 1, vector: [1e39, 2] }] }),
    /records\.0\.vector\.0: vector values must be finite numbers within float32 range/,
  ],
  [
    'upsert with a sparse value beyond float32 range',
    () =>
      store.upsert({
        collection: 'c',
        records: [{ id: 1, vector: [1, 2], sparseVector: { indices: [1], values: new Float64Array([-1e39]) } }],
      }),
    /records\.0\.sparseVector\.values\.0: values must be finite numbers within float32 range/,
  ],
  [
    'search with a query component beyond float32 range',
    () => store.search({ collection: 'c', vector: [1, 1e39] }),
    /vector\.1: vector values must be finite/,
  ],
  [
    `upsert with a string id over ${MAX_ID_BYTES} UTF-8 bytes`,
    () => store.upsert({ collection: 'c', records: [{ id: 'é'.repeat(MAX_ID_BYTES / 2 + 1), vector: [1, 2] }] }),
    new RegExp(`records\\.0\\.id: string ids are limited to ${MAX_ID_BYTES} UTF-8 bytes .*got ${MAX_ID_BYTES + 2}`),
  ],
  [
    'count with a filter nested 1,500 deep',
    () => store.count({ collection: 'c', filter: deepFilter(1_500) }),
    new RegExp(`filters nest at most ${MAX_FILTER_DEPTH} levels`),
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
  [
    // Only search and upsert were checked: BM25's statistics then failed with a raw TypeError.
    'retrieve over a store without openCollection',
    () =>
      retrieve({
        store: { search: store.search, upsert: store.upsert } as never,
        collection: 'c',
        query: 'q',
        sparseEmbedder: createBm25Encoder(),
      }),
    /store must be a kumiki Store/,
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

describe('a memory store with file persistence after refused payloads', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kumiki-bad-input-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const open = (file: string) => createMemoryStore({ persistence: createFilePersistence(join(dir, file)) });

  test('a cyclic payload is refused, and later upserts, dispose and a reload work', async () => {
    const first = open('cyclic.kmk');
    await first.createCollection({ name: 'docs', dimensions: 2 });
    const error = await errorOf(() =>
      first.upsert({ collection: 'docs', records: [{ id: 'loop', vector: [1, 0], payload: cyclic() }] }),
    );
    expect(error.name).toBe('InvalidArgumentError');
    await first.upsert({ collection: 'docs', records: [{ id: 'ok', vector: [0, 1], payload: { n: 1 } }] });
    await first.dispose();
    const second = open('cyclic.kmk');
    expect((await second.get({ collection: 'docs', ids: ['loop', 'ok'] })).map((r) => r.id)).toEqual(['ok']);
    await second.dispose();
  });

  test('-0 reads back as 0 before and after a snapshot reload', async () => {
    const first = open('zero.kmk');
    await first.createCollection({ name: 'docs', dimensions: 2 });
    await first.upsert({ collection: 'docs', records: [{ id: 'z', vector: [-0, 1], payload: { z: -0, list: [-0] } }] });
    const read = async (store: typeof first) => {
      const [record] = await store.get({ collection: 'docs', ids: ['z'], includeVectors: true });
      return [record?.payload.z, (record?.payload.list as number[] | undefined)?.[0], record?.vector?.[0]];
    };
    const before = await read(first);
    await first.dispose();
    const second = open('zero.kmk');
    const after = await read(second);
    await second.dispose();
    for (const value of [...before, ...after]) expect(Object.is(value, 0)).toBe(true);
  });
});
