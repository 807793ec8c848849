/**
 * The Qdrant adapter against Qdrant's published API description, with no Qdrant server: the real
 * `@qdrant/js-client-rest` client talks over HTTP to a local server that validates every request
 * and every answer against ../shared/contracts/qdrant-openapi-v1.18.json (strictly), answered by a
 * small emulator of Qdrant's semantics or by canned replies. test/qdrant.live.test.ts runs the same
 * checks against a real server when QDRANT_URL is set.
 */

import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { QdrantClient } from '@qdrant/js-client-rest';
import fc from 'fast-check';
import { afterAll, afterEach, beforeEach, describe, expect, test } from 'vitest';
import { UnavailableError, UnsupportedServerError } from '../src/core/errors.js';
import type { Filter } from '../src/core/filter.js';
import { reciprocalRankFusion } from '../src/core/fusion.js';
import type { Match } from '../src/core/types.js';
import { toQdrantFilter } from '../src/stores/qdrant/filter.js';
import { compareIds, pointIdOf, stringOrderKey } from '../src/stores/qdrant/ids.js';
import { createQdrantStore, type QdrantStore } from '../src/stores/qdrant/index.js';
import { FILTER_CASES } from '../src/testing/filter-cases.js';
import {
  type ContractReply,
  type ContractRequest,
  loadQdrantContract,
  QDRANT_OPENAPI_PATH,
  startContractServer,
} from './helpers/qdrant-contract.js';
import { createQdrantEmulator } from './helpers/qdrant-emulator.js';
import { qdrantStoreChecks } from './helpers/qdrant-suite.js';

const contract = loadQdrantContract();
const emulator = createQdrantEmulator();
const server = await startContractServer(contract, (request) => emulator.handle(request));
afterAll(() => server.close());
beforeEach(() => {
  server.intercept = undefined;
});
afterEach(() => {
  expect(server.violations, 'requests and answers follow the OpenAPI document').toEqual([]);
  server.violations.length = 0;
});

const stores: QdrantStore[] = [];
afterAll(() => Promise.all(stores.map((store) => store.dispose())));
const open = (options: Parameters<typeof createQdrantStore>[0] = {}) => {
  const store = createQdrantStore({ url: server.url, retryBaseDelayMs: 1, ...options });
  stores.push(store);
  return store;
};
const ok = (result: unknown): ContractReply => ({ status: 200, body: { time: 0.001, status: 'ok', result } });
const failure = (status: number, error: string, headers?: Record<string, string>): ContractReply => ({
  status,
  body: { status: { error }, time: 0.001 },
  ...(headers ? { headers } : {}),
});
let serial = 0;
const fresh = (label: string) => `t_${label}_${serial++}`;
const requestsSince = (start: number, operationId?: string): ContractRequest[] =>
  server.requests.slice(start).filter((request) => operationId === undefined || request.operationId === operationId);

describe('the OpenAPI document', () => {
  test('a missing document fails with a message naming its path', () => {
    expect(() => loadQdrantContract('/nonexistent/contracts/qdrant-openapi-v1.18.json')).toThrow(
      /missing at \/nonexistent\/contracts\/qdrant-openapi-v1\.18\.json/,
    );
    expect(QDRANT_OPENAPI_PATH).toMatch(/shared\/contracts\/qdrant-openapi-v1\.18\.json$/);
  });

  test('the validator is strict: unknown fields, wrong types and unknown routes are violations', () => {
    const scroll = '/collections/docs/points/scroll';
    expect(contract.checkRequest('POST', scroll, { limit: 3, filter: { must: [] } }).violations).toEqual([]);
    expect(contract.checkRequest('POST', scroll, { limit: 3, offest: 1 }).violations.join()).toMatch(/offest/);
    expect(contract.checkRequest('POST', scroll, { limit: 'three' }).violations).not.toEqual([]);
    expect(
      contract.checkRequest('POST', scroll, { filter: { must: [{ key: 'a', match: { valeu: 1 } }] } }).violations,
    ).not.toEqual([]);
    expect(contract.checkRequest('POST', `${scroll}?wait=true`, {}).violations.join()).toMatch(/wait/);
    expect(contract.checkRequest('GET', '/nowhere', undefined).violations.join()).toMatch(/no such operation/);
    const request = contract.checkRequest('GET', '/collections', undefined).request as ContractRequest;
    expect(contract.checkResponse(request, 200, { result: { collections: [{ name: 'a' }] }, status: 'ok' })).toEqual(
      [],
    );
    expect(contract.checkResponse(request, 200, { result: { collections: [{ nom: 'a' }] } })).not.toEqual([]);
  });
});

qdrantStoreChecks(test, () => open(), { name: 'qdrant (contract)', numRuns: 30 });

describe('filters → native Qdrant filters', () => {
  const golden: Record<string, unknown> = {
    'eq is case-sensitive': { must: [{ key: 'data.lang', match: { value: 'en' } }] },
    'eq number does not match numeric string': { must: [{ key: 'data.year', match: { value: 2020 } }] },
    'eq string does not match number': { must: [{ key: 'data.year', match: { value: '2020' } }] },
    'eq zero matches negative zero': { must: [{ key: 'data.year', match: { value: 0 } }] },
    'eq float': { must: [{ key: 'data.score', range: { gte: 0.5, lte: 0.5 } }] },
    'eq on array matches any element; scalar field counts': { must: [{ key: 'data.tags', match: { value: 'a' } }] },
    'eq number inside mixed array': { must: [{ key: 'data.tags', match: { value: 1 } }] },
    'eq boolean inside mixed array': { must: [{ key: 'data.tags', match: { value: true } }] },
    'eq boolean true': { must: [{ key: 'data.flag', match: { value: true } }] },
    'eq boolean false': { must: [{ key: 'data.flag', match: { value: false } }] },
    'ne matches missing fields': { must_not: [{ key: 'data.lang', match: { value: 'en' } }] },
    'ne on array: no element equal': { must_not: [{ key: 'data.tags', match: { value: 'b' } }] },
    in: { must: [{ key: 'data.lang', match: { any: ['en', 'de'] } }] },
    'nin matches missing fields': { must_not: [{ key: 'data.lang', match: { any: ['en', 'de'] } }] },
    'gt numbers only': { must: [{ key: 'data.year', range: { gt: 2020 } }] },
    'gte numbers only': { must: [{ key: 'data.year', range: { gte: 2020 } }] },
    'lt includes negative zero': { must: [{ key: 'data.year', range: { lt: 2020 } }] },
    'lte fractional bound': { must: [{ key: 'data.year', range: { lte: 2019.5 } }] },
    'gte string compares strings only': 'UnsupportedFilterError',
    'lt string': 'UnsupportedFilterError',
    'range on array: any element': { must: [{ key: 'data.tags', range: { gt: 0 } }] },
    'exists: null is not existing': { must_not: [{ is_empty: { key: 'data.meta' } }] },
    'exists: only null': { must_not: [{ is_empty: { key: 'data.note' } }] },
    'exists: empty array is not existing': { must_not: [{ is_empty: { key: 'data.tags' } }] },
    'not exists': { must_not: [{ must_not: [{ is_empty: { key: 'data.tags' } }] }] },
    'nested eq': { must: [{ key: 'data.meta.author', match: { value: 'ann' } }] },
    'nested number vs string': { must: [{ key: 'data.meta.stars', match: { value: 5 } }] },
    'deep exists': { must_not: [{ is_empty: { key: 'data.nested.deep.x' } }] },
    'deep eq': { must: [{ key: 'data.nested.deep.x', match: { value: 1 } }] },
    'a key containing a dot is not addressable': { must: [{ key: 'data.dot.key', match: { value: 1 } }] },
    'path through null is missing': { must_not: [{ is_empty: { key: 'data.meta.author' } }] },
    containsAny: { must: [{ key: 'data.tags', match: { any: ['b', 'c'] } }] },
    containsAll: {
      must: [
        { key: 'data.tags', match: { value: 'a' } },
        { key: 'data.tags', match: { value: 'b' } },
      ],
    },
    'containsAll on a scalar field': { must: [{ key: 'data.tags', match: { value: 'a' } }] },
    and: {
      must: [
        { key: 'data.lang', match: { value: 'en' } },
        { key: 'data.year', range: { gte: 2020 } },
      ],
    },
    or: {
      should: [
        { key: 'data.lang', match: { value: 'de' } },
        { key: 'data.meta.author', match: { value: 'ann' } },
      ],
    },
    not: { must_not: [{ key: 'data.lang', match: { value: 'en' } }] },
    'double negation': { must_not: [{ must_not: [{ key: 'data.lang', match: { value: 'en' } }] }] },
  };

  const native = (filter: Filter): unknown => {
    try {
      return toQdrantFilter(filter);
    } catch (error) {
      return (error as Error).name;
    }
  };

  test('every FILTER_CASES entry has its golden native form', () => {
    expect(Object.keys(golden).sort()).toEqual(FILTER_CASES.map((c) => c.name).sort());
    for (const { name, filter } of FILTER_CASES) expect(native(filter), name).toEqual(golden[name]);
  });

  test('every operator and value type', () => {
    const cases: [Filter, unknown][] = [
      [{ op: 'eq', field: 'f', value: 'x' }, { must: [{ key: 'data.f', match: { value: 'x' } }] }],
      [{ op: 'eq', field: 'f', value: -7 }, { must: [{ key: 'data.f', match: { value: -7 } }] }],
      [{ op: 'eq', field: 'f', value: -0 }, { must: [{ key: 'data.f', match: { value: 0 } }] }],
      [{ op: 'eq', field: 'f', value: 2 ** 60 }, { must: [{ key: 'data.f', range: { gte: 2 ** 60, lte: 2 ** 60 } }] }],
      [{ op: 'eq', field: 'f', value: false }, { must: [{ key: 'data.f', match: { value: false } }] }],
      [{ op: 'ne', field: 'f', value: 1.25 }, { must_not: [{ key: 'data.f', range: { gte: 1.25, lte: 1.25 } }] }],
      [
        { op: 'in', field: 'f', values: ['a', 1, true, 'b', 2, 0.5, 'a', 1, false] },
        {
          should: [
            { key: 'data.f', match: { any: ['a', 'b'] } },
            { key: 'data.f', match: { any: [1, 2] } },
            { key: 'data.f', match: { value: true } },
            { key: 'data.f', range: { gte: 0.5, lte: 0.5 } },
            { key: 'data.f', match: { value: false } },
          ],
        },
      ],
      [
        { op: 'containsAny', field: 'f', values: [3, 'z'] },
        {
          should: [
            { key: 'data.f', match: { value: 'z' } },
            { key: 'data.f', match: { value: 3 } },
          ],
        },
      ],
      [{ op: 'nin', field: 'f', values: [true] }, { must_not: [{ key: 'data.f', match: { value: true } }] }],
      [
        { op: 'containsAll', field: 'f', values: ['a', 'a', 1.5] },
        {
          must: [
            { key: 'data.f', match: { value: 'a' } },
            { key: 'data.f', range: { gte: 1.5, lte: 1.5 } },
          ],
        },
      ],
      [{ op: 'gt', field: 'f', value: -1 }, { must: [{ key: 'data.f', range: { gt: -1 } }] }],
      [{ op: 'gte', field: 'f', value: 1 }, { must: [{ key: 'data.f', range: { gte: 1 } }] }],
      [{ op: 'lt', field: 'f', value: 0.1 }, { must: [{ key: 'data.f', range: { lt: 0.1 } }] }],
      [{ op: 'lte', field: 'f', value: 3 }, { must: [{ key: 'data.f', range: { lte: 3 } }] }],
      [{ op: 'lte', field: 'f', value: 'm' }, 'UnsupportedFilterError'],
      [{ op: 'exists', field: 'a.b' }, { must_not: [{ is_empty: { key: 'data.a.b' } }] }],
      [
        { op: 'and', filters: [{ op: 'exists', field: 'x' }] },
        { must: [{ must_not: [{ is_empty: { key: 'data.x' } }] }] },
      ],
      [
        { op: 'or', filters: [{ op: 'eq', field: 'x', value: 1 }] },
        { should: [{ key: 'data.x', match: { value: 1 } }] },
      ],
      [
        { op: 'not', filter: { op: 'or', filters: [{ op: 'eq', field: 'x', value: 1 }] } },
        { must_not: [{ should: [{ key: 'data.x', match: { value: 1 } }] }] },
      ],
      // Keys Qdrant's JSON path would misread are quoted; kumiki's reserved key is out of reach.
      [
        { op: 'eq', field: 'my key.0.ü[]', value: 1 },
        { must: [{ key: 'data."my key"."0"."ü[]"', match: { value: 1 } }] },
      ],
      [{ op: 'eq', field: 'kumiki.id', value: 1 }, { must: [{ key: 'data.kumiki.id', match: { value: 1 } }] }],
      [{ op: 'exists', field: 'a"b' }, 'UnsupportedFilterError'],
      [{ op: 'exists', field: 'a\\b' }, 'UnsupportedFilterError'],
    ];
    for (const [filter, expected] of cases) expect(native(filter), JSON.stringify(filter)).toEqual(expected);
    for (const [filter] of cases) {
      const result = native(filter);
      if (typeof result === 'object') {
        expect(contract.checkRequest('POST', '/collections/c/points/count', { filter: result }).violations).toEqual([]);
      }
    }
  });

  test('hostile strings travel verbatim as JSON values and never change the structure', () => {
    const hostile = fc.oneof(
      fc.constantFrom("'", '"', '\\', "x' OR 1=1 --", '") or (1==1', '$.a ? (@ == 1)', '{"must":[]}', 'é🙂 ü'),
      fc.string({ unit: 'grapheme', maxLength: 40 }),
      fc.constant('y'.repeat(3000)),
    );
    const shape = fc.constantFrom(
      (v: string): Filter => ({ op: 'eq', field: 'f', value: v }),
      (v: string): Filter => ({ op: 'ne', field: 'f', value: v }),
      (v: string): Filter => ({ op: 'in', field: 'f', values: [v, 'other'] }),
      (v: string): Filter => ({ op: 'containsAll', field: 'f', values: [v] }),
      (v: string): Filter => ({ op: 'not', filter: { op: 'nin', field: 'f', values: [v, 'other'] } }),
    );
    fc.assert(
      fc.property(hostile, shape, (value, build) => {
        fc.pre(value !== 'other' && value !== 'PLACEHOLDER');
        const text = JSON.stringify(toQdrantFilter(build(value)));
        const template = JSON.stringify(toQdrantFilter(build('PLACEHOLDER')));
        expect(text).toBe(template.replace('"PLACEHOLDER"', () => JSON.stringify(value)));
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 20 }), (segment) => {
        fc.pre(!segment.includes('.'));
        const filter: Filter = { op: 'eq', field: `a.${segment}`, value: 1 };
        if (segment.includes('"') || segment.includes('\\')) {
          expect(() => toQdrantFilter(filter)).toThrow(/cannot contain/);
          return;
        }
        const [condition] = toQdrantFilter(filter).must ?? [];
        const key = (condition as { key: string }).key;
        expect([`data.a.${segment}`, `data.a."${segment}"`]).toContain(key);
      }),
      { numRuns: 300 },
    );
  });
});

describe('ids', () => {
  test('point ids are deterministic UUIDs, and 1 differs from "1"', () => {
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    for (const id of [1, '1', -5, 'doc-é-🙂', '\ud800', '\ud801', Number.MAX_SAFE_INTEGER]) {
      expect(pointIdOf(id)).toMatch(uuid);
      expect(pointIdOf(id)).toBe(pointIdOf(id));
    }
    expect(pointIdOf(1)).not.toBe(pointIdOf('1'));
    expect(pointIdOf('\ud800')).not.toBe(pointIdOf('\ud801'));
  });

  test('string sort keys order like the strings, and only saturated keys can tie', () => {
    const compareLevels = (a: number[], b: number[]) => {
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return (a[i] as number) < (b[i] as number) ? -1 : 1;
      return 0;
    };
    const text = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 70 }),
      fc.string({ unit: fc.constantFrom('a', 'b', '\u007e', '\u007f', '\u0000', '\uffff'), maxLength: 70 }),
    );
    fc.assert(
      fc.property(text, text, (a, b) => {
        const ka = stringOrderKey(a);
        const kb = stringOrderKey(b);
        for (const level of [...ka.levels, ...kb.levels]) {
          expect(Number.isSafeInteger(level) && level >= 0 && level < 2 ** 52).toBe(true);
        }
        const byKey = compareLevels(ka.levels, kb.levels);
        const byString = Math.sign(compareIds(a, b));
        if (byKey === 0) expect(byString === 0 || (ka.saturated && kb.saturated)).toBe(true);
        else expect(byKey).toBe(byString);
      }),
      { numRuns: 500 },
    );
    expect(stringOrderKey('a'.repeat(52)).saturated).toBe(true);
    expect(stringOrderKey('a'.repeat(51)).saturated).toBe(false);
  });

  test('scroll orders ids that share long prefixes (beyond the sort keys) and survives writes between pages', async () => {
    const store = open();
    const name = fresh('prefix');
    await store.createCollection({ name, dimensions: 2 });
    const prefix = 'https://example.com/docs/a-very-long-shared-prefix-for-every-id/';
    const ids = [
      ...Array.from({ length: 30 }, (_, i) => `${prefix}${String.fromCharCode(0x61 + (i % 26))}${i}`),
      prefix,
      `${prefix}\u0000`,
      `${prefix}é`,
      `${prefix}🙂`,
      'a',
      '',
      ...[-3, 0, 5, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER],
    ].filter((id) => id !== '');
    await store.upsert({ collection: name, records: ids.map((id) => ({ id, vector: [1, 0] })) });
    const expected = [...ids].sort(compareIds);
    const seen: (string | number)[] = [];
    let cursor: string | undefined;
    let round = 0;
    do {
      const page = await store.scroll({ collection: name, limit: 4, ...(cursor ? { cursor } : {}) });
      seen.push(...page.records.map((record) => record.id));
      cursor = page.nextCursor;
      // Writes between pages: new ids before and after the cursor, and a deletion of one not yet seen.
      round++;
      await store.upsert({ collection: name, records: [{ id: `${prefix}~new${round}`, vector: [0, 1] }] });
      await store.delete({ collection: name, ids: [`${prefix}zz-missing`] });
    } while (cursor);
    const stable = seen.filter((id) => typeof id !== 'string' || !id.includes('~new'));
    expect(stable).toEqual(expected);
    expect(new Set(seen).size).toBe(seen.length);
  });
});

describe('requests the adapter sends', () => {
  test('createCollection: named dense (+ exact copy) and sparse vectors, metadata, sort-key and payload indexes', async () => {
    const store = open({ indexedFields: { 'meta.lang': 'keyword', year: 'integer' } });
    const name = fresh('create');
    const start = server.requests.length;
    const space = { provider: 'test', model: 'm', dimensions: 3 };
    await store.createCollection({ name, dimensions: 3, embeddingSpace: space, sparseEmbeddingSpace: 'kfp1:bm25' });
    const [create] = requestsSince(start, 'create_collection');
    expect(create?.body).toEqual({
      vectors: {
        dense: { size: 3, distance: 'Cosine' },
        dense_original: { size: 3, distance: 'Dot', on_disk: true, hnsw_config: { m: 0 } },
      },
      sparse_vectors: { sparse: {} },
      metadata: {
        kumiki: {
          version: 1,
          name,
          metric: 'cosine',
          sparse: true,
          dimensions: 3,
          fingerprint: expect.stringMatching(/^kfp1:/),
          sparseFingerprint: 'kfp1:bm25',
          embeddingSpace: space,
          epoch: expect.stringMatching(/^[0-9a-f]{32}$/),
        },
      },
    });
    const indexes = requestsSince(start, 'create_field_index').map((request) => [
      (request.body as { field_name: string }).field_name,
      (request.body as { field_schema: string }).field_schema,
      request.query.wait,
    ]);
    expect(indexes.sort()).toEqual(
      [
        ['kumiki.n', 'integer', true],
        ...Array.from({ length: 8 }, (_, i) => [`kumiki.s${i}`, 'integer', true]),
        ['data.meta.lang', 'keyword', true],
        ['data.year', 'integer', true],
      ].sort(),
    );
    const euclid = fresh('euclid');
    const before = server.requests.length;
    await open({ storeOriginalVectors: false }).createCollection({
      name: euclid,
      dimensions: 2,
      metric: 'euclidean',
      sparse: false,
    });
    expect(requestsSince(before, 'create_collection')[0]?.body).toMatchObject({
      vectors: { dense: { size: 2, distance: 'Euclid' } },
    });
    expect(requestsSince(before, 'create_collection')[0]?.body).not.toHaveProperty('sparse_vectors');
    expect(() => createQdrantStore({ indexedFields: { 'a"b': 'keyword' } })).toThrow(/indexedFields/);
  });

  test('upsert: batches by count and by bytes, point ids and payload layout, last duplicate wins', async () => {
    const store = open({ maxBatchSize: 3 });
    const name = fresh('batches');
    await store.createCollection({ name, dimensions: 2, metric: 'dot' });
    const records = Array.from({ length: 10 }, (_, i) => ({
      id: i % 2 === 0 ? i : `r${i}`,
      vector: [i, 1],
      payload: { i, neg: -0 },
    }));
    let start = server.requests.length;
    await store.upsert({ collection: name, records: [...records, { id: 0, vector: [9, 9], payload: { last: true } }] });
    const batches = requestsSince(start, 'upsert_points');
    expect(batches.map((request) => (request.body as { points: unknown[] }).points.length)).toEqual([3, 3, 3, 1]);
    expect(batches.every((request) => request.query.wait === true)).toBe(true);
    const points = batches.flatMap((request) => (request.body as { points: Record<string, unknown>[] }).points);
    const first = points.find((point) => point.id === pointIdOf(2));
    expect(first).toEqual({
      id: pointIdOf(2),
      vector: { dense: [2, 1] },
      payload: { data: { i: 2, neg: 0 }, kumiki: { id: 2, n: 2 } },
    });
    expect(points.filter((point) => point.id === pointIdOf(0))).toEqual([
      { id: pointIdOf(0), vector: { dense: [9, 9] }, payload: { data: { last: true }, kumiki: { id: 0, n: 0 } } },
    ]);
    const stringPoint = points.find((point) => point.id === pointIdOf('r1')) as { payload: { kumiki: object } };
    expect(Object.keys(stringPoint.payload.kumiki)).toEqual(['id', 's0', 's1', 's2', 's3', 's4', 's5', 's6', 's7']);
    const [got] = await store.get({ collection: name, ids: [2] });
    expect(Object.is(got?.payload.neg, 0)).toBe(true);

    const small = open({ maxBatchBytes: 2048 });
    start = server.requests.length;
    await small.upsert({
      collection: name,
      records: Array.from({ length: 6 }, (_, i) => ({
        id: `big${i}`,
        vector: [1, 1],
        payload: { text: 'x'.repeat(700) },
      })),
    });
    const sizes = requestsSince(start, 'upsert_points').map(
      (request) => (request.body as { points: unknown[] }).points.length,
    );
    expect(sizes.length).toBeGreaterThan(2);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(6);
    await expect(
      small.upsert({
        collection: name,
        records: [{ id: 'huge', vector: [1, 1], payload: { text: 'x'.repeat(5000) } }],
      }),
    ).rejects.toMatchObject({ name: 'InvalidArgumentError', message: expect.stringMatching(/"huge".*2048-byte/) });
  });

  test('setAlias switches atomically: one create_alias, which Qdrant applies as an overwrite', async () => {
    const store = open();
    const [blue, green, alias] = [fresh('blue'), fresh('green'), fresh('alias')];
    await store.createCollection({ name: blue, dimensions: 2 });
    await store.createCollection({ name: green, dimensions: 2 });
    await store.setAlias({ alias, collection: blue });
    const start = server.requests.length;
    await store.setAlias({ alias, collection: green });
    const updates = requestsSince(start, 'update_aliases');
    expect(updates.map((request) => request.body)).toEqual([
      { actions: [{ create_alias: { alias_name: alias, collection_name: green } }] },
    ]);
    expect((await store.openCollection({ name: alias })).name).toBe(green);
    await expect(store.createCollection({ name: alias, dimensions: 2 })).rejects.toMatchObject({
      name: 'ConflictError',
      message: expect.stringContaining('is an alias'),
    });
    await expect(store.deleteCollection({ name: alias })).rejects.toMatchObject({ name: 'ConflictError' });
  });

  test('a setAlias that fails (missing collection, or a collection name) leaves the live alias in place', async () => {
    // Qdrant applies update_aliases actions one by one and keeps those applied before a failure, so
    // a delete_alias + create_alias pair would lose the alias here.
    const store = open();
    const [blue, alias] = [fresh('blue'), fresh('alias')];
    await store.createCollection({ name: blue, dimensions: 2 });
    await store.setAlias({ alias, collection: blue });
    await expect(store.setAlias({ alias, collection: fresh('missing') })).rejects.toMatchObject({
      name: 'NotFoundError',
    });
    expect(emulator.aliases.get(alias)).toBe(blue);
    expect((await store.openCollection({ name: alias })).name).toBe(blue);
    await expect(store.setAlias({ alias: blue, collection: blue })).rejects.toMatchObject({ name: 'ConflictError' });
    expect(await store.listAliases()).toContainEqual({ alias, collection: blue });
  });

  test('hybrid search: one query/batch request with both rankings cut at prefetch, fused here with RRF (k = 60)', async () => {
    const store = open();
    const name = fresh('hybrid');
    await store.createCollection({ name, dimensions: 2 });
    await store.upsert({
      collection: name,
      records: Array.from({ length: 12 }, (_, i) => ({
        id: i,
        vector: [1, i],
        sparseVector: { indices: [i % 3], values: [i + 1] },
        payload: { i },
      })),
    });
    const start = server.requests.length;
    const filter: Filter = { op: 'gte', field: 'i', value: 2 };
    const hits = await store.search({
      collection: name,
      vector: [1, 2],
      sparseVector: { indices: [1], values: [1] },
      limit: 3,
      filter,
      fusion: { method: 'rrf', k: 10, prefetch: 5 },
    });
    const requests = requestsSince(start, 'query_batch_points');
    expect(requests).toHaveLength(1);
    const { searches } = (requests[0] as ContractRequest).body as { searches: Record<string, unknown>[] };
    expect(searches).toEqual([
      {
        query: [1 / Math.sqrt(5), 2 / Math.sqrt(5)],
        using: 'dense',
        limit: 5,
        with_payload: true,
        with_vector: false,
        filter: toQdrantFilter(filter),
      },
      {
        query: { indices: [1], values: [1] },
        using: 'sparse',
        limit: 5,
        with_payload: true,
        with_vector: false,
        filter: toQdrantFilter(filter),
      },
    ]);
    const dense = await store.search({ collection: name, vector: [1, 2], limit: 5, filter });
    const sparse = await store.search({
      collection: name,
      sparseVector: { indices: [1], values: [1] },
      limit: 5,
      filter,
    });
    expect(hits).toEqual(reciprocalRankFusion([dense, sparse], { k: 10, limit: 3 }));
  });
});

describe('answers the adapter turns into kumiki results', () => {
  test('ids restored, payload without kumiki keys, vectors decoded, Euclid distances negated, thresholds', async () => {
    const store = open();
    const name = fresh('canned');
    await store.createCollection({ name, dimensions: 2, metric: 'euclidean' });
    const point = (id: string | number, score: number) => ({
      id: pointIdOf(id),
      version: 3,
      score,
      payload: { data: { title: `t${id}`, nested: { zero: 0 } }, kumiki: { id, n: 7, z: [['nested', 'zero']] } },
      vector: { dense: [0.5, 0.25] },
    });
    server.intercept = (request) =>
      request.operationId === 'query_batch_points'
        ? ok([{ points: [point(1, 0), point('1', 1.5), point('x', 2)] }])
        : undefined;
    const hits = await store.search({ collection: name, vector: [0, 0], limit: 3, includeVectors: true });
    expect(hits.map((hit) => [hit.id, hit.score])).toEqual([
      [1, -0],
      ['1', -1.5],
      ['x', -2],
    ]);
    // The `z` list of negative-zero paths that older versions wrote is ignored: payloads hold no -0.
    expect(hits[1]?.payload).toEqual({ title: 't1', nested: { zero: 0 } });
    expect(Object.is(hits[1]?.payload.nested && (hits[1].payload.nested as { zero: number }).zero, 0)).toBe(true);
    expect(hits[0]?.vector).toEqual(new Float32Array([0.5, 0.25]));
    const above = await store.search({ collection: name, vector: [0, 0], limit: 3, scoreThreshold: -1.5 });
    expect(above.map((hit: Match) => hit.id)).toEqual([1, '1']);
    server.intercept = (request) =>
      request.operationId === 'get_points'
        ? ok([
            { id: pointIdOf('b'), payload: { data: { v: 2 }, kumiki: { id: 'b' } } },
            { id: pointIdOf(1), payload: { data: {}, kumiki: { id: 1 } } },
          ])
        : undefined;
    const got = await store.get({ collection: name, ids: [1, 'missing', 'b', 1] });
    expect(got).toEqual([
      { id: 1, payload: {} },
      { id: 'b', payload: { v: 2 } },
      { id: 1, payload: {} },
    ]);
  });

  test('cosine vectors come back exactly as written (from the stored copy), or normalized without it', async () => {
    const name = fresh('cos');
    const exact = open();
    await exact.createCollection({ name, dimensions: 3 });
    await exact.upsert({ collection: name, records: [{ id: 'v', vector: [0.25, 0.5, 0.75] }] });
    const [stored] = await exact.get({ collection: name, ids: ['v'], includeVectors: true });
    expect(Array.from(stored?.vector ?? [])).toEqual([0.25, 0.5, 0.75]);
    const plain = open({ storeOriginalVectors: false });
    const other = fresh('cos_plain');
    await plain.createCollection({ name: other, dimensions: 3 });
    await plain.upsert({ collection: other, records: [{ id: 'v', vector: [0, 3, 4] }] });
    const [normalized] = await plain.get({ collection: other, ids: ['v'], includeVectors: true });
    expect(Array.from(normalized?.vector ?? [])).toEqual([0, Math.fround(0.6), Math.fround(0.8)]);
  });

  test('cosine vectors shorter than Qdrant normalizes (squared length below f32 epsilon) still score by angle', async () => {
    // Qdrant leaves such vectors as they are and would score them by raw dot product; kumiki sends
    // unit vectors (the exact copy keeps what was written).
    const store = open();
    const name = fresh('tiny');
    await store.createCollection({ name, dimensions: 2 });
    await store.upsert({
      collection: name,
      records: [
        { id: 'tiny', vector: [1e-4, 0] },
        { id: 'wide', vector: [0.6, 0.8] },
      ],
    });
    const hits = await store.search({ collection: name, vector: [2e-5, 0], limit: 2 });
    expect(hits.map((hit) => hit.id)).toEqual(['tiny', 'wide']);
    expect(hits[0]?.score).toBeCloseTo(1, 6);
    expect(hits[1]?.score).toBeCloseTo(0.6, 6);
    const [stored] = await store.get({ collection: name, ids: ['tiny'], includeVectors: true });
    expect(Array.from(stored?.vector ?? [])).toEqual([Math.fround(1e-4), 0]);
  });

  test('an integer payload index: fractional bounds become exact integer bounds, fractional values are refused', async () => {
    // Qdrant answers ranges on an integer-indexed key from the index, casting each bound with `as
    // i64` (gte 2019.5 would act as gte 2019) and holding only integers.
    const store = open({ indexedFields: { year: 'integer' } });
    const name = fresh('years');
    await store.createCollection({ name, dimensions: 2 });
    await store.upsert({
      collection: name,
      records: [-1, 0, 2019, 2020, 2021].map((year) => ({ id: year, vector: [1, 0], payload: { year } })),
    });
    const ids = async (filter: Filter) =>
      (await store.scroll({ collection: name, filter })).records.map((record) => record.id);
    expect(await ids({ op: 'gte', field: 'year', value: 2019.5 })).toEqual([2020, 2021]);
    expect(await ids({ op: 'gt', field: 'year', value: 2019.5 })).toEqual([2020, 2021]);
    expect(await ids({ op: 'lt', field: 'year', value: 2020.5 })).toEqual([-1, 0, 2019, 2020]);
    expect(await ids({ op: 'lte', field: 'year', value: -0.5 })).toEqual([-1]);
    expect(await ids({ op: 'gt', field: 'year', value: -0.5 })).toEqual([0, 2019, 2020, 2021]);
    expect(await ids({ op: 'eq', field: 'year', value: 2019.5 })).toEqual([]);
    expect(await store.count({ collection: name, filter: { op: 'gte', field: 'year', value: 2019.5 } })).toBe(2);
    expect(
      (await store.explain({ collection: name, filter: { op: 'gte', field: 'year', value: 2019.5 } })).native,
    ).toEqual({ must: [{ key: 'data.year', range: { gte: 2020 } }] });
    const before = server.requests.length;
    await expect(
      store.upsert({ collection: name, records: [{ id: 'x', vector: [1, 0], payload: { year: [2019, 2019.5] } }] }),
    ).rejects.toMatchObject({
      name: 'InvalidArgumentError',
      message: expect.stringContaining("index the field as 'float'"),
    });
    await expect(
      store.upsert({ collection: name, records: [{ id: 'y', vector: [1, 0], payload: { year: 2 ** 60 } }] }),
    ).rejects.toMatchObject({ name: 'InvalidArgumentError' });
    expect(requestsSince(before, 'upsert_points')).toEqual([]);
    // Other index types and unindexed fields keep exact float bounds.
    expect(toQdrantFilter({ op: 'gte', field: 'year', value: 2019.5 })).toEqual({
      must: [{ key: 'data.year', range: { gte: 2019.5 } }],
    });
  });

  test('the server version is read once per store; a server older than 1.16 is an UnsupportedServerError', async () => {
    const store = open();
    const name = fresh('version');
    const start = server.requests.length;
    await store.createCollection({ name, dimensions: 2 });
    await store.count({ collection: name });
    expect(requestsSince(start, 'root')).toHaveLength(1);
    expect(server.requests[start]?.operationId).toBe('root');
    emulator.version = '1.15.4';
    try {
      const error = await open()
        .count({ collection: name })
        .catch((e: unknown) => e);
      expect(UnsupportedServerError.isInstance(error)).toBe(true);
      expect(error).toMatchObject({ serverVersion: '1.15.4', minimumVersion: '1.16.0', isRetryable: false });
      expect((error as Error).message).toContain('Qdrant 1.16.0 or later');
      expect(requestsSince(start, 'count_points')).toHaveLength(1);
    } finally {
      emulator.version = '1.18.0';
    }
  });

  test('explain returns the native filter and names the backend; collections of other tools are refused', async () => {
    const store = open();
    const name = fresh('explain');
    await store.createCollection({ name, dimensions: 2 });
    const filter: Filter = {
      op: 'and',
      filters: [
        { op: 'eq', field: 'lang', value: 'en' },
        { op: 'exists', field: 'x' },
      ],
    };
    expect(await store.explain({ collection: name, filter })).toEqual({
      backend: 'qdrant',
      native: toQdrantFilter(filter),
    });
    await expect(store.explain({ collection: fresh('none'), filter })).rejects.toMatchObject({ name: 'NotFoundError' });
    emulator.handle({
      method: 'PUT',
      path: '',
      operationId: 'create_collection',
      pathParams: { collection_name: 'foreign' },
      query: {},
      body: { vectors: { size: 2, distance: 'Dot' } },
    });
    await expect(store.openCollection({ name: 'foreign' })).rejects.toMatchObject({
      name: 'ConflictError',
      message: expect.stringContaining('not created by kumiki'),
    });
    expect((await store.listCollections()).some((info) => info.name === 'foreign')).toBe(false);
  });

  test('the escape hatch returns the QdrantClient; an existing client can be passed in', async () => {
    const store = open();
    const client = await store.client();
    expect(client).toBeInstanceOf(QdrantClient);
    expect(await store.client()).toBe(client);
    const own = new QdrantClient({ url: server.url, checkCompatibility: false, headers: { 'api-key': 'secret-key' } });
    const wrapped = createQdrantStore({ client: own });
    stores.push(wrapped);
    expect(await wrapped.client()).toBe(own);
    const start = server.requests.length;
    await wrapped.listAliases();
    expect(requestsSince(start)[0]?.apiKey).toBe('secret-key');
    expect(() => createQdrantStore({ client: own, url: 'http://x' })).toThrow(/either client or url/);
    await wrapped.dispose();
    await expect(wrapped.listAliases()).rejects.toMatchObject({ name: 'ConflictError', message: /disposed/ });
  });
});

describe('errors', () => {
  test('a 429 with Retry-After is an UnavailableError with retryAfterMs, and is retried', async () => {
    const name = fresh('busy');
    await open().createCollection({ name, dimensions: 2 });
    let refusals = 0;
    server.intercept = (request) => {
      if (request.operationId !== 'count_points' || refusals >= 1) return undefined;
      refusals++;
      return failure(429, 'Too many requests', { 'retry-after': '1' });
    };
    const started = Date.now();
    expect(await open().count({ collection: name })).toBe(0);
    expect(refusals).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    refusals = 0;
    server.intercept = (request) =>
      request.operationId === 'count_points' ? failure(429, 'Too many requests', { 'retry-after': '2' }) : undefined;
    await expect(open({ retries: 0 }).count({ collection: name })).rejects.toMatchObject({
      name: 'UnavailableError',
      isRetryable: true,
      statusCode: 429,
      retryAfterMs: 2000,
    });
  });

  test('404 → NotFoundError, 400 → InvalidArgumentError with Qdrant’s message, 401 → UnauthorizedError, 5xx retried', async () => {
    const store = open({ retries: 2 });
    await expect(store.count({ collection: fresh('missing') })).rejects.toMatchObject({
      name: 'NotFoundError',
      message: expect.stringMatching(/Collection "t_missing_\d+" does not exist.*Qdrant: Not found/),
    });
    const name = fresh('errors');
    await store.createCollection({ name, dimensions: 2 });
    server.intercept = (request) =>
      request.operationId === 'count_points'
        ? failure(400, 'Wrong input: Index required but not found for "x"')
        : undefined;
    await expect(store.count({ collection: name })).rejects.toMatchObject({
      name: 'InvalidArgumentError',
      message: expect.stringContaining('Qdrant answered 400: Wrong input: Index required'),
    });
    server.intercept = (request) =>
      request.operationId === 'count_points' ? failure(401, 'Invalid api-key') : undefined;
    await expect(store.count({ collection: name })).rejects.toMatchObject({
      name: 'UnauthorizedError',
      message: expect.stringContaining(server.url),
    });
    let failures = 0;
    server.intercept = (request) => {
      if (request.operationId !== 'count_points' || failures >= 2) return undefined;
      failures++;
      return failure(503, 'Service Unavailable: overloaded');
    };
    expect(await store.count({ collection: name })).toBe(0);
    expect(failures).toBe(2);
  });

  test('connection refused names the URL; a slow answer is a TimeoutError; an abort stops before any request', async () => {
    const closed = await new Promise<number>((resolve) => {
      const probe = createNetServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    const refused = createQdrantStore({ url: `http://127.0.0.1:${closed}`, retries: 0 });
    stores.push(refused);
    await expect(refused.count({ collection: 'anything' })).rejects.toMatchObject({
      name: 'UnavailableError',
      isRetryable: true,
      url: `http://127.0.0.1:${closed}`,
      // The first request of a store reads the server's version.
      message: expect.stringContaining(
        `Cannot reach Qdrant at http://127.0.0.1:${closed} for read the server version: connect ECONNREFUSED`,
      ),
    });
    const name = fresh('slow');
    await open().createCollection({ name, dimensions: 2 });
    server.intercept = (request) =>
      request.operationId === 'count_points'
        ? new Promise((resolve) => setTimeout(() => resolve(ok({ count: 1 })), 400))
        : undefined;
    await expect(open({ timeoutMs: 50, retries: 0 }).count({ collection: name })).rejects.toMatchObject({
      name: 'TimeoutError',
      timeoutMs: 50,
    });
    const controller = new AbortController();
    const store = open();
    setTimeout(() => controller.abort(), 50);
    await expect(store.count({ collection: name, abortSignal: controller.signal })).rejects.toMatchObject({
      name: 'AbortedError',
    });
    // A client that ignores the signal is given up on at the abort; an abort whose reason is itself a
    // kumiki error is still an AbortedError (the reason is its cause).
    const own = new QdrantClient({ url: server.url, checkCompatibility: false });
    const deaf = {
      api: () =>
        new Proxy(own.api(), {
          get: (api, key) => {
            const operation = Reflect.get(api, key) as (...args: unknown[]) => unknown;
            return (parameters: unknown) => operation(parameters);
          },
        }),
    } as unknown as QdrantClient;
    const reason = new UnavailableError({ message: 'the app is shutting down' });
    const stopping = new AbortController();
    setTimeout(() => stopping.abort(reason), 50);
    const deafStore = open({ client: deaf, url: undefined, retries: 0 });
    const aborted = await deafStore.count({ collection: name, abortSignal: stopping.signal }).catch((error) => error);
    expect(aborted).toMatchObject({ name: 'AbortedError', cause: reason });
    server.intercept = undefined;
    const start = server.requests.length;
    await expect(store.count({ collection: name, abortSignal: AbortSignal.abort() })).rejects.toMatchObject({
      name: 'AbortedError',
    });
    expect(server.requests.length).toBe(start);
  });

  test('a batch that fails for good → PartialWriteError listing exactly its ids; the other batches landed', async () => {
    const store = open({ maxBatchSize: 2, retries: 1, concurrency: 2 });
    const name = fresh('partial');
    await store.createCollection({ name, dimensions: 2 });
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    const doomed = pointIdOf('c');
    let attempts = 0;
    server.intercept = (request) => {
      const points = (request.body as { points?: { id: string }[] } | undefined)?.points;
      if (request.operationId !== 'upsert_points' || !points?.some((point) => point.id === doomed)) return undefined;
      attempts++;
      return failure(500, 'Service internal error: disk full');
    };
    const error = await store
      .upsert({ collection: name, records: ids.map((id) => ({ id, vector: [1, 0] })) })
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ name: 'PartialWriteError', failedIds: ['c', 'd'], written: 4 });
    expect((error as Error).message).toContain('"c"');
    expect(attempts).toBe(2);
    server.intercept = undefined;
    expect((await store.get({ collection: name, ids })).map((record) => record.id)).toEqual(['a', 'b', 'e', 'f']);
  });
});
