import fc from 'fast-check';
import { z } from 'zod';
import { type Filter, MAX_FILTER_DEPTH } from '../core/filter.js';
import { FLOAT32_MAX, MAX_ID_BYTES, MAX_PAYLOAD_DEPTH } from '../core/json.js';
import type { Metric, Store } from '../core/store.js';
import type {
  JsonObject,
  JsonValue,
  Match,
  RecordId,
  SparseVector,
  StoredRecord,
  VectorRecord,
} from '../core/types.js';
import { parseArgument } from '../core/validate.js';
import { matchesFilter } from '../filter/evaluate.js';
import { check, close, deepEqual, equal, rejectsWith } from './assert.js';
import { FILTER_CASES, FILTER_PAYLOADS } from './filter-cases.js';
import { seededRandom } from './random.js';

/** The test registration function of your runner: vitest's or node:test's `test`, jest's `it`. */
export type TestFunction = (name: string, fn: () => Promise<void>, timeoutMs?: number) => unknown;

export type StoreConformanceOptions = {
  /** Prefix of the test names, default `store conformance`. */
  name?: string;
  /** Metrics to exercise; default: all the store declares. */
  metrics?: readonly Metric[];
  /** Records in the large-batch test; default 5,000. */
  largeBatch?: number;
  /** fast-check runs of each property; default 60. */
  numRuns?: number;
  /** Per-test timeout passed to the runner, default 60 s. */
  timeoutMs?: number;
  /** Seed for fast-check, to replay a failure. */
  seed?: number;
  /** The longest string id the store accepts, in UTF-8 bytes; default `MAX_ID_BYTES` (less for wrappers that prefix ids). */
  maxIdBytes?: number;
};

type StoreFactory = () => Store | Promise<Store>;

const optionsSchema = z
  .object({
    name: z.string().min(1).optional(),
    metrics: z
      .array(z.enum(['cosine', 'dot', 'euclidean']))
      .min(1)
      .optional(),
    largeBatch: z.number().int().min(1).optional(),
    numRuns: z.number().int().min(1).optional(),
    maxIdBytes: z.number().int().min(16).max(MAX_ID_BYTES).optional(),
    timeoutMs: z.number().int().positive().optional(),
    seed: z.number().int().optional(),
  })
  .strict();

let collectionCounter = 0;
const uniqueName = (label: string) => `kc_${label}_${Date.now().toString(36)}_${(collectionCounter++).toString(36)}`;

function randomVector(random: () => number, dims: number): number[] {
  return Array.from({ length: dims }, () => Math.round((random() * 2 - 1) * 1000) / 1000);
}

function randomSparse(random: () => number, vocabulary: number, terms: number): SparseVector {
  const indices = new Set<number>();
  while (indices.size < terms) indices.add(Math.floor(random() * vocabulary));
  const list = [...indices];
  return { indices: list, values: list.map(() => Math.round(random() * 1000) / 100 + 0.01) };
}

/** Reference similarity: higher is closer, as every Store must report it. */
export function referenceScore(metric: Metric, a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let normA = 0;
  let normB = 0;
  let distance = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    dot += x * y;
    normA += x * x;
    normB += y * y;
    distance += (x - y) * (x - y);
  }
  if (metric === 'dot') return dot;
  if (metric === 'euclidean') return -Math.sqrt(distance);
  return normA === 0 || normB === 0 ? 0 : dot / Math.sqrt(normA * normB);
}

function sparseDot(query: SparseVector, doc: SparseVector): number | undefined {
  const weights = new Map<number, number>();
  for (let i = 0; i < query.indices.length; i++) weights.set(query.indices[i] as number, query.values[i] as number);
  let score = 0;
  let shared = false;
  for (let i = 0; i < doc.indices.length; i++) {
    const weight = weights.get(doc.indices[i] as number);
    if (weight !== undefined) {
      score += weight * (doc.values[i] as number);
      shared = true;
    }
  }
  return shared ? score : undefined;
}

const idKey = (id: RecordId) => `${typeof id}:${id}`;
const sortIds = (ids: RecordId[]) =>
  [...ids].sort((a, b) => {
    if (typeof a === 'number') return typeof b === 'number' ? a - b : -1;
    if (typeof b === 'number') return 1;
    return a < b ? -1 : a > b ? 1 : 0;
  });

/**
 * Compares a ranking with the expected one, tolerating float error and any order among ties:
 * same length, scores equal position by position, and the same ids except where a tie straddles
 * the cut-off.
 */
export function checkRanking(
  actual: readonly Match[],
  expected: readonly { id: RecordId; score: number }[],
  what: string,
  tolerance = 1e-4,
): void {
  equal(actual.length, expected.length, `${what}: number of matches`);
  actual.forEach((match, i) => {
    close(match.score, (expected[i] as { score: number }).score, `${what}: score at rank ${i + 1}`, tolerance);
  });
  for (let i = 1; i < actual.length; i++) {
    check(
      (actual[i] as Match).score <= (actual[i - 1] as Match).score + tolerance,
      `${what}: matches must be sorted best first`,
    );
  }
  const last = expected.at(-1)?.score;
  if (last === undefined) return;
  const clearlyIn = (score: number) => score > last + tolerance * Math.max(1, Math.abs(last));
  const expectedSure = expected.filter((m) => clearlyIn(m.score)).map((m) => idKey(m.id));
  const actualIds = new Set(actual.map((m) => idKey(m.id)));
  for (const id of expectedSure) check(actualIds.has(id), `${what}: expected ${id} among the matches`);
}

/**
 * Whether the store can express a filter natively: `explain` succeeds, or throws
 * `UnsupportedFilterError` (any other error fails the suite).
 */
async function supports(store: Store, collection: string, filter: Filter): Promise<boolean> {
  try {
    await store.explain({ collection, filter });
    return true;
  } catch (error) {
    check(
      typeof error === 'object' && error !== null && (error as Error).name === 'UnsupportedFilterError',
      `explain may only fail with UnsupportedFilterError, got ${String(error)}`,
    );
    return false;
  }
}

/** A filter the store cannot express must be refused the same way by every method, writing nothing. */
async function expectRefusal(
  store: Store,
  collection: string,
  filter: Filter,
  what: string,
  vector: number[] = [1, 0],
): Promise<void> {
  await rejectsWith(() => store.scroll({ collection, filter }), 'UnsupportedFilterError', `${what} via scroll`);
  await rejectsWith(() => store.count({ collection, filter }), 'UnsupportedFilterError', `${what} via count`);
  await rejectsWith(() => store.search({ collection, vector, filter }), 'UnsupportedFilterError', `${what} via search`);
  await rejectsWith(() => store.delete({ collection, filter }), 'UnsupportedFilterError', `${what} via delete`);
}

async function withStore(factory: StoreFactory, body: (store: Store) => Promise<void>): Promise<void> {
  const store = await factory();
  try {
    await body(store);
  } finally {
    await store.dispose();
  }
}

/**
 * Registers the Store conformance suite with your test runner, in the style of keyv's
 * `storageTestSuite`. Every kumiki Store adapter runs it; so can third-party ones.
 *
 * ```ts
 * import { test } from 'vitest';
 * import { storeConformance } from 'kumiki/testing';
 * storeConformance(test, () => createMemoryStore());
 * ```
 */
export function storeConformance(
  test: TestFunction,
  factory: StoreFactory,
  options: StoreConformanceOptions = {},
): void {
  parseArgument(z.function(), test, "test (the runner's test function, e.g. vitest's `test`)");
  parseArgument(z.function(), factory, 'factory (a function returning a fresh Store)');
  parseArgument(optionsSchema, options, 'storeConformance options');
  const prefix = options.name ?? 'store conformance';
  const timeout = options.timeoutMs ?? 60_000;
  const numRuns = options.numRuns ?? 100;
  const maxIdBytes = options.maxIdBytes ?? MAX_ID_BYTES;
  const t = (name: string, fn: (store: Store) => Promise<void>) =>
    test(`${prefix}: ${name}`, () => withStore(factory, fn), timeout);
  const metricsOf = (store: Store) => options.metrics ?? store.capabilities.metrics;

  t('a collection keeps its epoch until it is deleted; created again, it gets another', async (store) => {
    const name = uniqueName('epoch');
    const first = await store.createCollection({ name, dimensions: 2 });
    if (first.epoch === undefined) return; // the store keeps no epoch (ingest then checks its ledger record by record)
    equal((await store.openCollection({ name })).epoch, first.epoch, 'openCollection shows the same epoch');
    equal(
      (await store.createCollection({ name, dimensions: 2, ifExists: 'open' })).epoch,
      first.epoch,
      'createCollection with ifExists: open shows the same epoch',
    );
    await store.upsert({ collection: name, records: [{ id: 1, vector: [1, 0] }] });
    equal((await store.openCollection({ name })).epoch, first.epoch, 'writes keep the epoch');
    await store.deleteCollection({ name });
    const second = await store.createCollection({ name, dimensions: 2 });
    check(second.epoch !== undefined && second.epoch !== first.epoch, 'a collection created again has another epoch');
    await store.deleteCollection({ name });
  });

  t('where a write version and collection state are kept, the state is current until the next write', async (store) => {
    const name = uniqueName('state');
    const created = await store.createCollection({ name, dimensions: 2 });
    if (!store.getCollectionState || !store.setCollectionState) return;
    check(created.version !== undefined, 'a store with collection state keeps a write version');
    equal(await store.getCollectionState({ collection: name, key: 'k' }), undefined, 'no state at first');
    await store.setCollectionState({ collection: name, key: 'k', value: { n: [1, 2] } });
    deepEqual(
      await store.getCollectionState({ collection: name, key: 'k' }),
      { value: { n: [1, 2] }, current: true },
      'a state set after the last write is current',
    );
    await store.upsert({ collection: name, records: [{ id: 1, vector: [1, 0] }] });
    const after = await store.openCollection({ name });
    check((after.version ?? 0) > (created.version ?? 0), 'an upsert raises the write version');
    equal((await store.getCollectionState({ collection: name, key: 'k' }))?.current, false, 'a write makes it stale');
    await store.setCollectionState({ collection: name, key: 'k', value: 'again' });
    equal((await store.getCollectionState({ collection: name, key: 'k' }))?.current, true, 'set again, current again');
    await store.delete({ collection: name, ids: [1] });
    equal((await store.getCollectionState({ collection: name, key: 'k' }))?.current, false, 'a delete makes it stale');
    const at = (await store.openCollection({ name })).version ?? 0;
    await store.upsert({ collection: name, records: [{ id: 2, vector: [0, 1] }] });
    await store.setCollectionState({ collection: name, key: 'k', value: 'older', version: at });
    equal(
      (await store.getCollectionState({ collection: name, key: 'k' }))?.current,
      false,
      'a state set for an earlier write version is not current',
    );
    await store.setCollectionState({ collection: name, key: 'k', value: undefined });
    equal(await store.getCollectionState({ collection: name, key: 'k' }), undefined, 'value undefined removes it');
    await store.deleteCollection({ name });
  });

  t('creates, opens, lists and deletes collections', async (store) => {
    const name = uniqueName('coll');
    const info = await store.createCollection({ name, dimensions: 4, metric: 'dot', embeddingSpace: 'kfp1:alpha' });
    equal(info.name, name, 'created name');
    equal(info.dimensions, 4, 'created dimensions');
    equal(info.metric, 'dot', 'created metric');
    equal(info.fingerprint, 'kfp1:alpha', 'created fingerprint');
    equal(info.count, 0, 'created count');
    await rejectsWith(
      () => store.createCollection({ name, dimensions: 4, metric: 'dot' }),
      'ConflictError',
      'creating twice',
    );
    const reopened = await store.createCollection({
      name,
      dimensions: 4,
      metric: 'dot',
      embeddingSpace: 'kfp1:alpha',
      ifExists: 'open',
    });
    equal(reopened.name, name, 'ifExists open');
    await rejectsWith(
      () => store.createCollection({ name, dimensions: 8, metric: 'dot', ifExists: 'open' }),
      'DimensionMismatchError',
      'ifExists open with other dimensions',
    );
    const opened = await store.openCollection({ name, embeddingSpace: 'kfp1:alpha' });
    equal(opened.dimensions, 4, 'opened dimensions');
    const listed = await store.listCollections();
    check(
      listed.some((c) => c.name === name),
      'listCollections includes the new collection',
    );
    equal(await store.deleteCollection({ name }), true, 'delete existing collection');
    equal(await store.deleteCollection({ name }), false, 'delete missing collection');
    await rejectsWith(() => store.openCollection({ name }), 'NotFoundError', 'opening a deleted collection');
  });

  t('refuses another embedding space with a typed error', async (store) => {
    const name = uniqueName('fp');
    const space = { provider: 'test', model: 'model-a', dimensions: 3 };
    await store.createCollection({ name, dimensions: 3, embeddingSpace: space });
    await store.openCollection({ name, embeddingSpace: space });
    const error = await rejectsWith(
      () => store.openCollection({ name, embeddingSpace: { ...space, model: 'model-b' } }),
      'EmbeddingSpaceMismatchError',
      'opening with another model',
    );
    check(error.message.includes(name), 'the mismatch message names the collection');
    await rejectsWith(
      () =>
        store.createCollection({ name, dimensions: 3, embeddingSpace: { ...space, revision: 'v2' }, ifExists: 'open' }),
      'EmbeddingSpaceMismatchError',
      'creating with ifExists open and another revision',
    );
  });

  t('aliases switch between collections in one step', async (store) => {
    if (!store.capabilities.aliases || !store.setAlias || !store.deleteAlias || !store.listAliases) return;
    const blue = uniqueName('blue');
    const green = uniqueName('green');
    const alias = uniqueName('live');
    await store.createCollection({ name: blue, dimensions: 2, embeddingSpace: 'kfp1:blue' });
    await store.createCollection({ name: green, dimensions: 2, embeddingSpace: 'kfp1:green' });
    await store.upsert({ collection: blue, records: [{ id: 'b', vector: [1, 0], payload: { color: 'blue' } }] });
    await store.upsert({ collection: green, records: [{ id: 'g', vector: [1, 0], payload: { color: 'green' } }] });
    await store.setAlias({ alias, collection: blue });
    deepEqual(
      (await store.search({ collection: alias, vector: [1, 0] })).map((m) => m.id),
      ['b'],
      'search through the alias',
    );
    equal((await store.openCollection({ name: alias })).fingerprint, 'kfp1:blue', 'open through the alias');
    await store.setAlias({ alias, collection: green });
    deepEqual(
      (await store.search({ collection: alias, vector: [1, 0] })).map((m) => m.id),
      ['g'],
      'search after the switch',
    );
    await store.upsert({ collection: alias, records: [{ id: 'g2', vector: [0, 1] }] });
    equal(await store.count({ collection: green }), 2, 'writes through the alias reach the target');
    check(
      (await store.listAliases()).some((a) => a.alias === alias && a.collection === green),
      'listAliases shows the alias and its target',
    );
    await rejectsWith(
      () => store.setAlias?.({ alias, collection: uniqueName('nothing') }) ?? Promise.resolve(),
      'NotFoundError',
      'alias to a missing collection',
    );
    equal(await store.deleteAlias({ alias }), true, 'deleteAlias existing');
    equal(await store.deleteAlias({ alias }), false, 'deleteAlias missing');
    await rejectsWith(() => store.count({ collection: alias }), 'NotFoundError', 'a deleted alias resolves to nothing');
  });

  t('explain shows the native form of every operator', async (store) => {
    const name = uniqueName('explain');
    await store.createCollection({ name, dimensions: 2 });
    for (const { filter } of FILTER_CASES) {
      try {
        const explained = await store.explain({ collection: name, filter });
        equal(explained.backend, store.provider, 'explain names the backend');
        check(explained.native !== undefined, 'explain returns a native form');
      } catch (error) {
        check(
          typeof error === 'object' && error !== null && (error as Error).name === 'UnsupportedFilterError',
          `explain may only fail with UnsupportedFilterError, got ${String(error)}`,
        );
      }
    }
  });

  t('upserts and gets records with string and integer ids', async (store) => {
    const name = uniqueName('rt');
    await store.createCollection({ name, dimensions: 3, metric: 'cosine' });
    const records: VectorRecord[] = [
      { id: 1, vector: [1, 0, 0], payload: { kind: 'int', nested: { a: [1, 'x', null, { b: true }] } } },
      { id: '1', vector: new Float32Array([0, 1, 0]), payload: { kind: 'string' } },
      { id: 'doc-é-🙂', vector: new Float64Array([0, 0, 1]), sparseVector: { indices: [7, 3], values: [0.5, 2] } },
      { id: 9007199254740991, vector: [0.25, 0.5, 0.75] },
    ];
    equal((await store.upsert({ collection: name, records })).upserted, 4, 'upserted count');
    equal(await store.count({ collection: name }), 4, 'count after upsert');
    const got = await store.get({
      collection: name,
      ids: ['doc-é-🙂', 1, 'missing', '1', 9007199254740991],
      includeVectors: true,
    });
    deepEqual(
      got.map((r) => r.id),
      ['doc-é-🙂', 1, '1', 9007199254740991],
      'get returns existing ids in the order asked',
    );
    deepEqual(got[1]?.payload, records[0]?.payload, 'nested payload round trip');
    deepEqual(got[2]?.payload, { kind: 'string' }, 'string id 1 is distinct from integer id 1');
    deepEqual(got[0]?.payload, {}, 'a record without payload has an empty payload');
    deepEqual(Array.from(got[3]?.vector ?? []), [0.25, 0.5, 0.75], 'dense vector round trip');
    const sparse = got[0]?.sparseVector;
    check(sparse !== undefined, 'sparse vector returned with includeVectors');
    const pairs = Array.from(sparse.indices, (index, i) => [index, sparse.values[i]]).sort(
      (a, b) => (a[0] as number) - (b[0] as number),
    );
    deepEqual(
      pairs,
      [
        [3, 2],
        [7, 0.5],
      ],
      'sparse vector round trip',
    );
    const withoutVectors = await store.get({ collection: name, ids: [1] });
    equal(withoutVectors[0]?.vector, undefined, 'vectors are left out unless asked for');
  });

  t('upsert by id is idempotent and replaces the whole record', async (store) => {
    const name = uniqueName('idem');
    await store.createCollection({ name, dimensions: 2 });
    const record = { id: 'a', vector: [1, 2], payload: { x: 1, y: 2 } };
    await store.upsert({ collection: name, records: [record] });
    await store.upsert({ collection: name, records: [record] });
    equal(await store.count({ collection: name }), 1, 'same record twice counts once');
    await store.upsert({ collection: name, records: [{ id: 'a', vector: [3, 4], payload: { x: 5 } }] });
    const [stored] = await store.get({ collection: name, ids: ['a'], includeVectors: true });
    deepEqual(stored?.payload, { x: 5 }, 'payload replaced whole (y removed)');
    deepEqual(Array.from(stored?.vector ?? []), [3, 4], 'vector replaced');
    await store.upsert({
      collection: name,
      records: [
        { id: 'b', vector: [0, 1], payload: { v: 1 } },
        { id: 'b', vector: [1, 0], payload: { v: 2 } },
      ],
    });
    const [last] = await store.get({ collection: name, ids: ['b'] });
    deepEqual(last?.payload, { v: 2 }, 'within one batch the last duplicate wins');
  });

  t('rejects bad input with typed errors and writes nothing', async (store) => {
    const name = uniqueName('bad');
    await store.createCollection({ name, dimensions: 3 });
    await store.upsert({ collection: name, records: [{ id: 'keep', vector: [1, 1, 1] }] });
    const dims = await rejectsWith(
      () =>
        store.upsert({
          collection: name,
          records: [
            { id: 'ok', vector: [1, 0, 0] },
            { id: 'short', vector: [1, 0] },
          ],
        }),
      'DimensionMismatchError',
      'a batch with one short vector',
    );
    check(dims.message.includes('3') && dims.message.includes('2'), 'dimension message names expected and actual');
    equal(await store.count({ collection: name }), 1, 'a rejected batch writes nothing');
    const nan = await rejectsWith(
      () => store.upsert({ collection: name, records: [{ id: 'nan', vector: [1, Number.NaN, 0] }] }),
      'InvalidArgumentError',
      'NaN in a vector',
    );
    check(nan.message.includes('finite'), `NaN message says values must be finite: ${nan.message}`);
    await rejectsWith(
      () => store.upsert({ collection: name, records: [{ id: '', vector: [1, 0, 0] }] }),
      'InvalidArgumentError',
      'empty string id',
    );
    await rejectsWith(
      () => store.upsert({ collection: name, records: [{ id: 1.5, vector: [1, 0, 0] }] }),
      'InvalidArgumentError',
      'fractional id',
    );
    const badFilter = await rejectsWith(
      () => store.count({ collection: name, filter: { op: 'like', field: 'x', value: 'y' } as unknown as Filter }),
      'InvalidArgumentError',
      'unknown filter operator',
    );
    check(badFilter.message.includes('op'), `filter message names the operator field: ${badFilter.message}`);
    await rejectsWith(
      () => store.search({ collection: name, vector: [1, 0] }),
      'DimensionMismatchError',
      'short query',
    );
    await rejectsWith(
      () => store.search({ collection: uniqueName('missing'), vector: [1, 0, 0] }),
      'NotFoundError',
      'missing collection',
    );
    await rejectsWith(
      () => store.scroll({ collection: name, cursor: '{not a cursor' }),
      'InvalidArgumentError',
      'forged cursor',
    );
    await rejectsWith(
      () => store.createCollection({ name: uniqueName('x'), dimensions: -1 }),
      'InvalidArgumentError',
      'negative dimensions',
    );
    equal(await store.count({ collection: name }), 1, 'nothing was written by rejected calls');
  });

  t('refuses payloads no store can keep, the same way everywhere, and writes nothing', async (store) => {
    const name = uniqueName('json');
    await store.createCollection({ name, dimensions: 2 });
    const cyclic: Record<string, unknown> = { a: { b: 1 } };
    (cyclic.a as Record<string, unknown>).back = cyclic;
    const shared = { tag: 'x' };
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 10_000; i++) deep = { d: deep };
    class Point {
      x = 1;
    }
    const refused: [string, unknown, string][] = [
      ['a cyclic payload', cyclic, 'payload.a.back'],
      ['an object appearing twice', { a: shared, b: [shared] }, 'payload.b.0'],
      ['a payload nested 10,000 deep', deep, `payload${'.d'.repeat(MAX_PAYLOAD_DEPTH)}`],
      ['an own "__proto__" key', JSON.parse('{"ok": 1, "__proto__": {"admin": true}}'), 'payload.__proto__'],
      ['undefined', { a: undefined }, 'payload.a'],
      ['a hole in an array', { a: Array(2) }, 'payload.a.0'],
      ['a function', { a: () => 1 }, 'payload.a'],
      ['a symbol', { a: Symbol('s') }, 'payload.a'],
      ['a symbol key', { [Symbol('s')]: 1 }, 'payload'],
      ['a bigint', { a: 1n }, 'payload.a'],
      ['NaN', { a: [Number.NaN] }, 'payload.a.0'],
      ['Infinity', { a: { b: Number.POSITIVE_INFINITY } }, 'payload.a.b'],
      ['a Date', { a: new Date(0) }, 'payload.a'],
      ['a Map', { a: new Map() }, 'payload.a'],
      ['a typed array', { a: new Float32Array(2) }, 'payload.a'],
      ['a class instance', { a: new Point() }, 'payload.a'],
      ['a boxed string', { a: new String('s') }, 'payload.a'],
      ['U+0000 in a string', { a: 'x\u0000y' }, 'payload.a'],
      ['an unpaired surrogate in a key', { '\uD800': 1 }, 'payload.\uD800'],
      ['an array as the payload', [1], 'payload'],
    ];
    for (const [what, payload, path] of refused) {
      const error = await rejectsWith(
        () =>
          store.upsert({
            collection: name,
            records: [
              { id: 'ok', vector: [1, 0] },
              { id: 'bad', vector: [1, 0], payload: payload as JsonObject },
            ],
          }),
        'InvalidArgumentError',
        what,
      );
      check(
        error.message.includes(`records.1.${path}`),
        `${what}: the message names the path records.1.${path}: ${error.message}`,
      );
    }
    equal(await store.count({ collection: name }), 0, 'refused batches write nothing');
    // -0 is 0 (JSON has no negative zero), in payloads and vectors; the deepest allowed payload round-trips.
    let deepest: JsonValue = 'bottom';
    for (let level = 1; level < MAX_PAYLOAD_DEPTH; level++)
      deepest = level % 2 === 0 ? [deepest] : { [`k${level}`]: deepest };
    const payload = { zero: -0, list: [-0, 1], deepest };
    await store.upsert({ collection: name, records: [{ id: 'z', vector: [-0, 1], payload }] });
    const [stored] = await store.get({ collection: name, ids: ['z'], includeVectors: true });
    deepEqual(stored?.payload, { zero: 0, list: [0, 1], deepest }, 'payload with -0 and the deepest allowed nesting');
    check(Object.is(stored?.payload.zero, 0), 'a payload -0 comes back as 0');
    check(Object.is(stored?.vector?.[0], 0), 'a vector -0 comes back as 0');
    equal(await store.count({ collection: name, filter: { op: 'eq', field: 'zero', value: 0 } }), 1, 'filter on 0');
    await rejectsWith(
      () => store.upsert({ collection: name, records: [{ id: 'd', vector: [1, 0], payload: { deepest: [deepest] } }] }),
      'InvalidArgumentError',
      `a payload one level deeper than ${MAX_PAYLOAD_DEPTH}`,
    );
  });

  t('refuses vector components beyond float32 range', async (store) => {
    const name = uniqueName('f32');
    const sparse = store.capabilities.sparse;
    await store.createCollection({ name, dimensions: 2, ...(sparse ? { sparse: true } : {}) });
    for (const value of [1e39, -1e39, Number.MAX_VALUE, Number.POSITIVE_INFINITY]) {
      await rejectsWith(
        () => store.upsert({ collection: name, records: [{ id: 1, vector: [value, 0] }] }),
        'InvalidArgumentError',
        `dense component ${value}`,
      );
      await rejectsWith(
        () => store.search({ collection: name, vector: [value, 1] }),
        'InvalidArgumentError',
        `query component ${value}`,
      );
      if (sparse) {
        await rejectsWith(
          () =>
            store.upsert({
              collection: name,
              records: [{ id: 1, vector: [1, 0], sparseVector: { indices: [3], values: [value] } }],
            }),
          'InvalidArgumentError',
          `sparse value ${value}`,
        );
      }
    }
    await rejectsWith(
      () => store.upsert({ collection: name, records: [{ id: 1, vector: new Float64Array([1e39, 0]) }] }),
      'InvalidArgumentError',
      'a Float64Array component beyond float32 range',
    );
    equal(await store.count({ collection: name }), 0, 'nothing written');
    await store.upsert({ collection: name, records: [{ id: 'max', vector: [FLOAT32_MAX, -FLOAT32_MAX] }] });
    const [max] = await store.get({ collection: name, ids: ['max'], includeVectors: true });
    deepEqual(Array.from(max?.vector ?? []), [FLOAT32_MAX, -FLOAT32_MAX], 'the largest float32 round-trips');
  });

  t(`string ids are limited to ${maxIdBytes} UTF-8 bytes in every method`, async (store) => {
    const name = uniqueName('ids');
    await store.createCollection({ name, dimensions: 2 });
    const random = seededRandom(11);
    const ascii = Array.from({ length: maxIdBytes }, () => String.fromCharCode(33 + Math.floor(random() * 94))).join(
      '',
    );
    /** `unit` repeated, padded with ASCII to exactly the limit. */
    const exactly = (unit: string, bytes: number) =>
      `${unit.repeat(Math.floor(maxIdBytes / bytes))}${'x'.repeat(maxIdBytes % bytes)}`;
    const ids = [ascii, exactly('é', 2), exactly('🙂', 4), exactly('あ', 3)];
    await store.upsert({ collection: name, records: ids.map((id, i) => ({ id, vector: [1, i], payload: { i } })) });
    const got = await store.get({ collection: name, ids });
    deepEqual(
      got.map((record) => record.id),
      ids,
      `ids of exactly ${maxIdBytes} UTF-8 bytes round-trip`,
    );
    deepEqual(
      (await store.scroll({ collection: name, limit: 10 })).records.map((record) => record.id),
      sortIds(ids),
      'scroll over the longest ids',
    );
    for (const id of [`${ascii}x`, `${exactly('é', 2)}x`, `${exactly('🙂', 4)}é`]) {
      const error = await rejectsWith(
        () => store.upsert({ collection: name, records: [{ id, vector: [1, 0] }] }),
        'InvalidArgumentError',
        `an id of ${id.length} UTF-16 units over ${maxIdBytes} UTF-8 bytes`,
      );
      check(error.message.includes(String(maxIdBytes)), `the message names the limit: ${error.message}`);
      await rejectsWith(
        () => store.get({ collection: name, ids: [id] }),
        'InvalidArgumentError',
        'get of a too-long id',
      );
      await rejectsWith(
        () => store.delete({ collection: name, ids: [id] }),
        'InvalidArgumentError',
        'delete of a too-long id',
      );
    }
    equal(await store.count({ collection: name }), ids.length, 'refused ids wrote nothing');
    equal((await store.delete({ collection: name, ids })).deleted, ids.length, 'the longest ids delete');
  });

  t(`filters nest at most ${MAX_FILTER_DEPTH} levels; deeper ones are refused, never overflow`, async (store) => {
    const name = uniqueName('depth');
    await store.createCollection({ name, dimensions: 2 });
    const payloads: JsonObject[] = [{ k: 1 }, { k: 2 }, {}, { k: [1, 2] }];
    await store.upsert({
      collection: name,
      records: payloads.map((payload, i) => ({ id: i, vector: [1, i], payload })),
    });
    // A filter exactly MAX_FILTER_DEPTH deep: and-rooted, with not-not, or and and levels below.
    let filter: Filter = { op: 'eq', field: 'k', value: 1 };
    let depth = 1;
    for (let step = 0; depth < MAX_FILTER_DEPTH - 1; step++) {
      if (step % 3 === 0 && depth + 2 < MAX_FILTER_DEPTH) {
        filter = { op: 'not', filter: { op: 'not', filter } };
        depth += 2;
      } else if (step % 3 === 1) {
        filter = { op: 'or', filters: [filter, { op: 'eq', field: 'k', value: 5 }] };
        depth += 1;
      } else {
        filter = { op: 'and', filters: [{ op: 'exists', field: 'k' }, filter] };
        depth += 1;
      }
    }
    filter = { op: 'and', filters: [filter] };
    const expected = payloads.flatMap((payload, i) => (matchesFilter(filter, payload) ? [i] : []));
    deepEqual(expected, [0, 3], 'the reference selects k = 1');
    if (await supports(store, name, filter)) {
      deepEqual(
        (await store.scroll({ collection: name, filter })).records.map((record) => record.id),
        expected,
        `a filter ${MAX_FILTER_DEPTH} deep via scroll`,
      );
      equal(
        await store.count({ collection: name, filter }),
        expected.length,
        `a filter ${MAX_FILTER_DEPTH} deep via count`,
      );
    } else {
      await expectRefusal(store, name, filter, `a filter ${MAX_FILTER_DEPTH} deep`);
    }
    const tooDeep = (depth: number): Filter => {
      let node: Filter = { op: 'exists', field: 'k' };
      for (let i = 1; i < depth; i++) node = i % 2 === 0 ? { op: 'not', filter: node } : { op: 'or', filters: [node] };
      return node;
    };
    for (const deeper of [{ op: 'and', filters: [filter] } as Filter, tooDeep(1_500)]) {
      const what = deeper === filter ? 'one level too deep' : 'nested 1,500 deep';
      const error = await rejectsWith(
        () => store.count({ collection: name, filter: deeper }),
        'InvalidArgumentError',
        `count: ${what}`,
      );
      check(error.message.includes(String(MAX_FILTER_DEPTH)), `the message names the limit: ${error.message}`);
      await rejectsWith(
        () => store.scroll({ collection: name, filter: deeper }),
        'InvalidArgumentError',
        `scroll: ${what}`,
      );
      await rejectsWith(
        () => store.search({ collection: name, vector: [1, 0], filter: deeper }),
        'InvalidArgumentError',
        `search: ${what}`,
      );
      await rejectsWith(
        () => store.delete({ collection: name, filter: deeper }),
        'InvalidArgumentError',
        `delete: ${what}`,
      );
      await rejectsWith(
        () => store.explain({ collection: name, filter: deeper }),
        'InvalidArgumentError',
        `explain: ${what}`,
      );
    }
    const cyclic: { op: 'not'; filter?: unknown } = { op: 'not' };
    cyclic.filter = cyclic;
    await rejectsWith(
      () => store.count({ collection: name, filter: cyclic as Filter }),
      'InvalidArgumentError',
      'a cyclic filter',
    );
    equal(await store.count({ collection: name }), payloads.length, 'refused deletes wrote nothing');
  });

  t('a wide or (40,000 clauses) is answered exactly or refused with UnsupportedFilterError at once', async (store) => {
    const name = uniqueName('wide');
    await store.createCollection({ name, dimensions: 2 });
    await store.upsert({
      collection: name,
      records: [0, 1, 2].map((i) => ({ id: i, vector: [1, i], payload: { n: i * 30_000 } })),
    });
    const filter: Filter = {
      op: 'or',
      filters: Array.from({ length: 40_000 }, (_, i) => ({ op: 'eq', field: 'n', value: i + 1 }) as Filter),
    };
    if (await supports(store, name, filter)) {
      deepEqual(
        (await store.scroll({ collection: name, filter })).records.map((record) => record.id),
        [1],
        'a wide or via scroll',
      );
      equal(await store.count({ collection: name, filter }), 1, 'a wide or via count');
    } else {
      await expectRefusal(store, name, filter, 'a wide or');
    }
  });

  t('honours an aborted signal', async (store) => {
    const name = uniqueName('abort');
    await store.createCollection({ name, dimensions: 2 });
    const controller = new AbortController();
    controller.abort();
    await rejectsWith(
      () => store.upsert({ collection: name, records: [{ id: 1, vector: [1, 0] }], abortSignal: controller.signal }),
      'AbortedError',
      'upsert with an aborted signal',
    );
    await rejectsWith(
      () => store.search({ collection: name, vector: [1, 0], abortSignal: controller.signal }),
      'AbortedError',
      'search with an aborted signal',
    );
    equal(await store.count({ collection: name }), 0, 'aborted upsert wrote nothing');
  });

  t('deletes by ids and by filter, and counts with filters', async (store) => {
    const name = uniqueName('del');
    await store.createCollection({ name, dimensions: 2 });
    const records = Array.from({ length: 20 }, (_, i) => ({
      id: i,
      vector: [1, i],
      payload: { even: i % 2 === 0, group: i % 3 },
    }));
    await store.upsert({ collection: name, records });
    equal(
      await store.count({ collection: name, filter: { op: 'eq', field: 'even', value: true } }),
      10,
      'count with filter',
    );
    equal(
      (await store.delete({ collection: name, ids: [0, 1, 999] })).deleted,
      2,
      'delete by ids counts only existing',
    );
    equal(
      (await store.delete({ collection: name, filter: { op: 'eq', field: 'group', value: 2 } })).deleted,
      6,
      'delete by filter',
    );
    equal(await store.count({ collection: name }), 12, 'count after deletes');
    const left = await store.scroll({ collection: name, limit: 100 });
    deepEqual(
      left.records.map((r) => r.id),
      [3, 4, 6, 7, 9, 10, 12, 13, 15, 16, 18, 19],
      'the right records remain',
    );
    const results = await store.search({ collection: name, vector: [1, 19], limit: 50 });
    equal(results.length, 12, 'deleted records are not searchable');
  });

  t('scroll returns every record exactly once, in id order', async (store) => {
    const name = uniqueName('scroll');
    await store.createCollection({ name, dimensions: 2 });
    const ids: RecordId[] = [
      ...Array.from({ length: 60 }, (_, i) => i * 7 - 100),
      ...Array.from({ length: 43 }, (_, i) => `s${i}`),
    ];
    await store.upsert({ collection: name, records: ids.map((id, i) => ({ id, vector: [1, i], payload: { i } })) });
    const seen: RecordId[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page: { records: StoredRecord[]; nextCursor: string | undefined } = await store.scroll({
        collection: name,
        limit: 7,
        ...(cursor ? { cursor } : {}),
      });
      check(page.records.length <= 7, 'a page holds at most limit records');
      seen.push(...page.records.map((r) => r.id));
      cursor = page.nextCursor;
      pages++;
      check(pages < 100, 'scroll terminates');
    } while (cursor);
    deepEqual(seen, sortIds(ids), 'scroll visits all ids once, integers ascending then strings');
    const filtered = await store.scroll({ collection: name, limit: 1000, filter: { op: 'lt', field: 'i', value: 10 } });
    deepEqual(
      filtered.records.map((r) => r.id),
      sortIds(ids.slice(0, 10)),
      'scroll with a filter',
    );
    equal(filtered.nextCursor, undefined, 'no cursor after the last page');
  });

  t('every filter operator follows the reference semantics', async (store) => {
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
    for (const { name: caseName, filter, ids } of FILTER_CASES) {
      if (!(await supports(store, name, filter))) {
        await expectRefusal(store, name, filter, `filter "${caseName}"`);
        continue;
      }
      const page = await store.scroll({ collection: name, filter, limit: 100 });
      deepEqual(
        page.records.map((r) => r.id),
        ids,
        `filter "${caseName}" via scroll`,
      );
      equal(await store.count({ collection: name, filter }), ids.length, `filter "${caseName}" via count`);
      const hits = await store.search({ collection: name, vector: [1, 0], filter, limit: 100 });
      deepEqual(sortIds(hits.map((h) => h.id)), ids, `filter "${caseName}" via search`);
    }
    check(
      (await Promise.all(FILTER_CASES.map(({ filter }) => supports(store, name, filter)))).filter(Boolean).length >=
        FILTER_CASES.length - 4,
      'a store refuses at most a few edge cases of the filter table',
    );
    equal(
      await store.count({ collection: name }),
      Object.keys(FILTER_PAYLOADS).length,
      'refused deletes wrote nothing',
    );
  });

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
    const n = options.largeBatch ?? 5000;
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

  t('property: results equal the reference evaluator and brute-force ranking', async (store) => {
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
    const filter: fc.Arbitrary<Filter> = fc.letrec<{ node: Filter }>((tie) => ({
      node: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.record({ op: fc.constantFrom('eq' as const, 'ne' as const), field, value: scalar }),
        fc.record({
          op: fc.constantFrom('in' as const, 'nin' as const, 'containsAny' as const, 'containsAll' as const),
          field,
          values: fc.array(scalar, { minLength: 1, maxLength: 3 }),
        }),
        fc.record({
          op: fc.constantFrom('gt' as const, 'gte' as const, 'lt' as const, 'lte' as const),
          field,
          value: fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom('x', 'y')),
        }),
        fc.record({ op: fc.constant('exists' as const), field }),
        fc.record({
          op: fc.constantFrom('and' as const, 'or' as const),
          filters: fc.array(tie('node'), { minLength: 1, maxLength: 3 }),
        }),
        fc.record({ op: fc.constant('not' as const), filter: tie('node') }),
      ),
    })).node;
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
      { numRuns, ...(options.seed === undefined ? {} : { seed: options.seed }) },
    );
  });
}
