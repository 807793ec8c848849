/**
 * The Milvus adapter without a Milvus server: the real `MilvusClient` (through the adapter) talks
 * gRPC to an in-process fake that serves the SDK's own protobuf definitions (test/helpers/milvus-fake.ts).
 * Checked here: the full store conformance suite against the fake, the requests on the wire, how
 * responses and failures are turned into kumiki results and errors, the id and filter encodings.
 * Behaviour against a real server is checked by test/milvus.live.test.ts (MILVUS_ADDRESS).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { logger } from '@zilliz/milvus2-sdk-node';
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { UnsupportedServerError } from '../src/core/errors.js';
import type { Filter } from '../src/core/filter.js';
import { sha256Hex } from '../src/core/sha256.js';
import type { JsonObject, RecordId } from '../src/core/types.js';
import { matchesFilter } from '../src/filter/evaluate.js';
import { numberKey, payloadTerms, translateFilter } from '../src/stores/milvus/filter.js';
import { createMilvusStore } from '../src/stores/milvus/index.js';
import { decodeId, encodeId, fromOrderKey, orderKey } from '../src/stores/milvus/keys.js';
import { FILTER_CASES, FILTER_PAYLOADS, storeConformance } from '../src/testing/index.js';
import { filterArbitrary } from '../src/testing/store/filter-arbitrary.js';
import {
  compileExpression,
  decodeCollectionSchema,
  decodePlaceholders,
  startFakeMilvus,
} from './helpers/milvus-fake.js';

// The SDK logs every request at debug level when NODE_ENV is `test`.
logger.level = 'error';

const fake = await startFakeMilvus();
afterAll(() => fake.close());

let counter = 0;
const unique = (label: string) => `m_${label}_${Date.now().toString(36)}_${counter++}`;

// Building a MilvusClient parses the SDK's protobuf definitions (about 0.7 s), so the stores of
// these tests share one client (connected by address here) through the `client` option; a store
// does not close a client it was given.
const shared = await createMilvusStore({ address: fake.address }).client();
afterAll(() => shared.closeConnection());
const store = (options: Parameters<typeof createMilvusStore>[0] = {}) =>
  createMilvusStore({ address: fake.address, client: shared, ...options });

storeConformance(test, () => store(), { name: 'milvus store (contract fake)', numRuns: 40 });

const HOSTILE = [
  "'",
  '"',
  '\\',
  "x' OR 1=1 --",
  '") or (1==1',
  '} or {v0',
  '$.a ? (@ == 1)',
  'é🙂 ü',
  'y'.repeat(3000),
];

/** The token recipe of src/stores/milvus/filter.ts, restated so the golden tests pin it. */
const tok = {
  value: (path: string, value: string | number | boolean) =>
    `t${sha256Hex(JSON.stringify(['v', path, typeof value, String(value)])).slice(0, 32)}`,
  exists: (path: string) => `t${sha256Hex(JSON.stringify(['e', path])).slice(0, 32)}`,
  bound: (path: string, type: 'number' | 'string', side: 'min' | 'max' | 'one') =>
    `t${sha256Hex(JSON.stringify(['b', path, type, side])).slice(0, 32)}`,
};
/** A range clause: the only candidate, or the extreme one, compares true. */
const range = (path: string, type: 'number' | 'string', side: 'min' | 'max', op: string, value: string) =>
  `(terms["${tok.bound(path, type, 'one')}"] ${op} ${value} or terms["${tok.bound(path, type, side)}"] ${op} ${value})`;
const has = (token: string) => `terms["${token}"] == true`;
/** `KeyValuePair[]` as an object. */
const kv = (list: unknown): Record<string, string> =>
  Object.fromEntries(((list ?? []) as { key: string; value: string }[]).map(({ key, value }) => [key, value]));
/** A recorded request that must exist. */
const must = (request: Record<string, unknown> | undefined): Record<string, unknown> => {
  expect(request).toBeDefined();
  return request as Record<string, unknown>;
};

describe('primary keys', () => {
  const id = fc.oneof(
    fc.integer({ min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }),
    fc.string({ unit: fc.constantFrom('a', 'b', '\ud800', '\udfff', '\ue000', '\uffff', '😀', 'é'), minLength: 1 }),
  );
  const kumikiOrder = (a: RecordId, b: RecordId) => {
    if (typeof a === 'number') return typeof b === 'number' ? a - b : -1;
    if (typeof b === 'number') return 1;
    return a < b ? -1 : a > b ? 1 : 0;
  };
  const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

  test('round-trip every id, keeping 1 and "1" apart', () => {
    fc.assert(fc.property(id, (value) => Object.is(decodeId(encodeId(value)), value)));
    expect(encodeId(1)).not.toBe(encodeId('1'));
    expect(encodeId(7)).toBe('i20000000000007');
    expect(encodeId(-Number.MAX_SAFE_INTEGER)).toBe('i00000000000001');
    expect(encodeId('doc')).toBe('sdoc');
  });

  test("Milvus's UTF-8 byte order of the keys is kumiki's id order", () => {
    fc.assert(
      fc.property(id, id, (a, b) => Math.sign(byteOrder(encodeId(a), encodeId(b))) === Math.sign(kumikiOrder(a, b))),
      { numRuns: 2000 },
    );
  });

  test('orderKey is valid UTF-8 for lone surrogates and inverts exactly', () => {
    const key = orderKey('a\ud800b\uffff');
    expect(Buffer.from(key, 'utf8').toString('utf8')).toBe(key);
    expect(fromOrderKey(key)).toBe('a\ud800b\uffff');
  });
});

describe('filter translation', () => {
  test('every operator has its native form, values only in exprValues', () => {
    const cases: [Filter, string, Record<string, unknown>][] = [
      [{ op: 'eq', field: 'lang', value: 'en' }, has(tok.value('lang', 'en')), {}],
      [{ op: 'eq', field: 'year', value: 2020 }, has(tok.value('year', 2020)), {}],
      [{ op: 'eq', field: 'year', value: -0 }, has(tok.value('year', 0)), {}],
      [{ op: 'eq', field: 'flag', value: true }, has(tok.value('flag', true)), {}],
      [{ op: 'ne', field: 'lang', value: 'en' }, `not (${has(tok.value('lang', 'en'))})`, {}],
      [
        { op: 'in', field: 'lang', values: ['en', 'de', 'en'] },
        `(${has(tok.value('lang', 'en'))} or ${has(tok.value('lang', 'de'))})`,
        {},
      ],
      [{ op: 'in', field: 'lang', values: ['en'] }, has(tok.value('lang', 'en')), {}],
      [
        { op: 'nin', field: 'lang', values: ['en', 'de'] },
        `not (${has(tok.value('lang', 'en'))} or ${has(tok.value('lang', 'de'))})`,
        {},
      ],
      [
        { op: 'containsAny', field: 'tags', values: ['a', 1] },
        `(${has(tok.value('tags', 'a'))} or ${has(tok.value('tags', 1))})`,
        {},
      ],
      [
        { op: 'containsAll', field: 'tags', values: ['a', 'b'] },
        `(${has(tok.value('tags', 'a'))} and ${has(tok.value('tags', 'b'))})`,
        {},
      ],
      [{ op: 'gt', field: 'year', value: 2020 }, range('year', 'number', 'max', '>', '{v0}'), { v0: numberKey(2020) }],
      [{ op: 'gte', field: 'year', value: 0.5 }, range('year', 'number', 'max', '>=', '{v0}'), { v0: numberKey(0.5) }],
      [{ op: 'lt', field: 'year', value: -3 }, range('year', 'number', 'min', '<', '{v0}'), { v0: numberKey(-3) }],
      [{ op: 'lte', field: 'a.b', value: 'e' }, range('a.b', 'string', 'min', '<=', '{v0}'), { v0: 'e' }],
      [{ op: 'exists', field: 'meta.author' }, has(tok.exists('meta.author')), {}],
      [
        {
          op: 'and',
          filters: [
            { op: 'exists', field: 'x' },
            { op: 'or', filters: [{ op: 'gt', field: 'n', value: 1 }] },
            { op: 'not', filter: { op: 'lt', field: 'n', value: 9 } },
          ],
        },
        `(${has(tok.exists('x'))} and ${range('n', 'number', 'max', '>', '{v0}')} and not (${range('n', 'number', 'min', '<', '{v1}')}))`,
        { v0: numberKey(1), v1: numberKey(9) },
      ],
    ];
    for (const [filter, expr, exprValues] of cases) {
      expect(translateFilter(filter), JSON.stringify(filter)).toEqual({ expr, exprValues });
    }
  });

  test('string bounds travel in order-key form', () => {
    expect(translateFilter({ op: 'gt', field: 'k', value: 'a\uffff' }).exprValues).toEqual({ v0: orderKey('a\uffff') });
  });

  test('number bounds travel as order keys: 16 hex digits whose byte order is numeric order, for every double', () => {
    expect(numberKey(-0)).toBe(numberKey(0));
    expect(numberKey(2 ** 60)).not.toBe(numberKey(2 ** 60 + 256));
    expect(translateFilter({ op: 'gt', field: 'n', value: 2 ** 64 }).exprValues).toEqual({ v0: numberKey(2 ** 64) });
    fc.assert(
      fc.property(
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        (a, b) => {
          const [x, y] = [numberKey(a), numberKey(b)];
          expect(x).toMatch(/^[0-9a-f]{16}$/);
          // ASCII: string order is byte order.
          expect(x < y ? -1 : x > y ? 1 : 0).toBe(a === b ? 0 : a < b ? -1 : 1);
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('golden: the FILTER_CASES table', () => {
    const native = Object.fromEntries(FILTER_CASES.map(({ name, filter }) => [name, translateFilter(filter).expr]));
    // Tokens depend only on the documented recipe; these lines change only if it does.
    expect(native['eq is case-sensitive']).toBe(has(tok.value('lang', 'en')));
    expect(native['a key containing a dot is not addressable']).toBe(has(tok.value('dot.key', 1)));
    expect(native['range on array: any element']).toBe(range('tags', 'number', 'max', '>', '{v0}'));
    expect(native['not exists']).toBe(`not (${has(tok.exists('tags'))})`);
    expect(native).toMatchSnapshot();
  });

  test('every FILTER_CASES entry selects exactly its ids over the derived terms', () => {
    for (const { name, filter, ids } of FILTER_CASES) {
      const { expr, exprValues } = translateFilter(filter);
      const predicate = compileExpression(expr, exprValues);
      const selected = Object.entries(FILTER_PAYLOADS)
        .filter(([, payload]) => predicate({ pk: '', payload, terms: payloadTerms(payload) }))
        .map(([id]) => Number(id));
      expect(selected, name).toEqual(ids);
    }
  });

  const scalar = fc.oneof(
    fc.constantFrom('x', 'y', '', ...HOSTILE),
    fc.string({ unit: 'binary', maxLength: 4 }),
    fc.integer({ min: -3, max: 3 }),
    fc.double({ min: -3, max: 3, noNaN: true }),
    fc.boolean(),
  );
  const field = fc.constantFrom('a', 'b', 'c.d', 'é.🙂');
  const filterArb = filterArbitrary(fc, {
    field,
    scalar: scalar,
    bound: fc.oneof(
      fc.integer({ min: -3, max: 3 }),
      fc.double({ min: -3, max: 3, noNaN: true }),
      fc.constantFrom(...HOSTILE),
      fc.string({ unit: 'binary', maxLength: 3 }),
    ),
  });
  /** The same tree with each distinct string value replaced by a distinct plain word. */
  const plain = (filter: Filter): Filter => {
    const words = new Map<string, string>();
    const word = (value: string | number | boolean) => {
      if (typeof value !== 'string') return value;
      if (!words.has(value)) words.set(value, `w${words.size}`);
      return words.get(value) as string;
    };
    const visit = (node: Filter): Filter => {
      if ('filters' in node) return { ...node, filters: node.filters.map(visit) };
      if ('filter' in node) return { ...node, filter: visit(node.filter) };
      if ('values' in node) return { ...node, values: node.values.map(word) };
      if ('value' in node) return { ...node, value: word(node.value) } as Filter;
      return node;
    };
    return visit(filter);
  };
  const shape = (expr: string) => expr.replace(/t[0-9a-f]{32}/g, 'T');

  test('fuzz: hostile strings never change the expression, which always parses', () => {
    fc.assert(
      fc.property(filterArb, (filter) => {
        const { expr, exprValues } = translateFilter(filter);
        // Only tokens, template names, operators and punctuation: no value text.
        expect(expr).toMatch(/^(?:terms\["t[0-9a-f]{32}"\]|\{v\d+\}|==|>=|<=|[<>()]|true|and|or|not| )+$/);
        const reference = translateFilter(plain(filter));
        expect(shape(expr)).toBe(shape(reference.expr));
        expect(Object.keys(exprValues)).toEqual(Object.keys(reference.exprValues));
        for (const [name, value] of Object.entries(exprValues)) {
          if (typeof value === 'string') {
            expect(HOSTILE.includes(fromOrderKey(value)) || value.length <= 12 || /^[0-9a-f]{16}$/.test(value)).toBe(
              true,
            );
          }
          expect(typeof value).toBe(typeof reference.exprValues[name]);
        }
        compileExpression(expr, exprValues);
      }),
      { numRuns: 500 },
    );
  });

  const jsonValue = fc.oneof(
    scalar,
    fc.constant(null),
    fc.array(fc.oneof(scalar, fc.array(scalar, { maxLength: 1 })), { maxLength: 3 }),
  );
  const payloadArb: fc.Arbitrary<JsonObject> = fc.record(
    {
      a: jsonValue,
      b: jsonValue,
      c: fc.oneof(fc.record({ d: jsonValue }, { requiredKeys: [] }), jsonValue),
      é: fc.record({ '🙂': jsonValue }, { requiredKeys: [] }),
      'c.d': jsonValue,
    },
    { requiredKeys: [] },
  );

  test('property: the terms and the expression select what the reference evaluator selects', () => {
    fc.assert(
      fc.property(filterArb, fc.array(payloadArb, { minLength: 1, maxLength: 6 }), (filter, payloads) => {
        const { expr, exprValues } = translateFilter(filter);
        const predicate = compileExpression(expr, exprValues);
        for (const payload of payloads) {
          // The payload crosses Milvus as JSON; the terms are derived before, the filter after.
          const stored = JSON.parse(JSON.stringify(payload)) as JsonObject;
          expect(predicate({ pk: '', payload: stored, terms: JSON.parse(JSON.stringify(payloadTerms(payload))) })).toBe(
            matchesFilter(filter, stored),
          );
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('requests on the wire', () => {
  test('createCollection sends the schema, indexes, strong consistency and the kumiki property', async () => {
    const s = store();
    const name = unique('schema');
    const space = { provider: 'p', model: 'm', dimensions: 4 };
    await s.createCollection({
      name,
      dimensions: 4,
      metric: 'euclidean',
      embeddingSpace: space,
      sparseEmbeddingSpace: 'kfp1:s',
    });
    const request = must(fake.calls('CreateCollection').find((call) => call.collection_name === name));
    expect(request.consistency_level).toBe('Strong');
    expect(JSON.parse(kv(request.properties)['kumiki.collection'] ?? '{}')).toMatchObject({
      version: 1,
      dimensions: 4,
      metric: 'euclidean',
      sparse: true,
      sparseFingerprint: 'kfp1:s',
      space,
    });
    const schema = decodeCollectionSchema(request.schema as Buffer);
    expect(schema.enable_dynamic_field).toBe(false);
    const fields = Object.fromEntries(
      schema.fields.map((field) => [
        field.name,
        {
          type: field.data_type,
          primary: field.is_primary_key,
          params: Object.fromEntries(field.type_params.map(({ key, value }) => [key, value])),
        },
      ]),
    );
    expect(fields).toEqual({
      pk: { type: 'VarChar', primary: true, params: { max_length: '65535' } },
      payload: { type: 'JSON', primary: false, params: {} },
      terms: { type: 'JSON', primary: false, params: {} },
      dense: { type: 'FloatVector', primary: false, params: { dim: '4' } },
      sparse: { type: 'SparseFloatVector', primary: false, params: {} },
    });
    const indexes = fake
      .calls('CreateIndex')
      .filter((call) => call.collection_name === name)
      .map((call) => ({
        field: call.field_name,
        params: Object.fromEntries(
          (call.extra_params as { key: string; value: string }[]).map((p) => [p.key, p.value]),
        ),
      }));
    expect(indexes).toEqual(
      expect.arrayContaining([
        { field: 'dense', params: expect.objectContaining({ index_type: 'FLAT', metric_type: 'L2' }) },
        {
          field: 'sparse',
          params: expect.objectContaining({
            index_type: 'SPARSE_INVERTED_INDEX',
            metric_type: 'IP',
            params: '{"drop_ratio_build":0}',
          }),
        },
      ]),
    );
    expect(fake.calls('LoadCollection').some((call) => call.collection_name === name)).toBe(true);
    await s.dispose();
  });

  test('upsert sends one column per field: encoded keys, JSON payload and terms, flat floats, sorted sparse bytes', async () => {
    const s = store();
    const name = unique('columns');
    await s.createCollection({ name, dimensions: 2, metric: 'dot' });
    await s.upsert({
      collection: name,
      records: [
        {
          id: 7,
          vector: [0.5, -1],
          sparseVector: { indices: [9, 2], values: [1, 2] },
          payload: { lang: 'en', n: [1, 2] },
        },
        { id: 'doc', vector: new Float32Array([2, 3]) },
      ],
    });
    const request = fake.calls('Upsert').filter((call) => call.collection_name === name)[0] as Record<string, unknown>;
    expect(request.num_rows).toBe(2);
    const columns = Object.fromEntries(
      (request.fields_data as Record<string, unknown>[]).map((column) => [column.field_name, column]),
    ) as Record<string, Record<string, Record<string, Record<string, unknown>>>>;
    expect(columns.pk?.scalars?.string_data?.data).toEqual(['i20000000000007', 'sdoc']);
    const json = (column: string) =>
      ((columns[column]?.scalars?.json_data?.data ?? []) as Buffer[]).map((bytes) => JSON.parse(bytes.toString()));
    expect(json('payload')).toEqual([{ lang: 'en', n: [1, 2] }, {}]);
    expect(json('terms')[0]).toEqual(payloadTerms({ lang: 'en', n: [1, 2] }));
    expect(json('terms')[1]).toEqual({});
    expect(columns.dense?.vectors?.float_vector?.data).toEqual([0.5, -1, 2, 3]);
    const sparse = ((columns.sparse?.vectors?.sparse_float_vector?.contents ?? []) as Buffer[]).map((bytes) =>
      Array.from({ length: bytes.length / 8 }, (_, i) => [bytes.readUInt32LE(i * 8), bytes.readFloatLE(i * 8 + 4)]),
    );
    expect(sparse).toEqual([
      [
        [2, 2],
        [9, 1],
      ],
      [],
    ]);
    await s.dispose();
  });

  test('hybrid search sends two searches with the filter as expr + exprValues and fuses them with RRF', async () => {
    const s = store();
    const name = unique('hybrid');
    await s.createCollection({ name, dimensions: 2, metric: 'euclidean' });
    await s.upsert({
      collection: name,
      records: [
        { id: 'a', vector: [0, 0], sparseVector: { indices: [1], values: [1] }, payload: { t: HOSTILE[4] as string } },
        { id: 'b', vector: [3, 4], sparseVector: { indices: [1], values: [3] }, payload: { t: HOSTILE[4] as string } },
      ],
    });
    const before = fake.calls('Search').length;
    const filter: Filter = {
      op: 'and',
      filters: [
        { op: 'eq', field: 't', value: HOSTILE[4] as string },
        { op: 'gte', field: 't', value: HOSTILE[1] as string },
      ],
    };
    const hits = await s.search({
      collection: name,
      vector: [0, 0],
      sparseVector: { indices: [1], values: [1] },
      filter,
      limit: 2,
      fusion: { method: 'rrf', prefetch: 5 },
    });
    const searches = fake.calls('Search').slice(before);
    expect(searches).toHaveLength(2);
    for (const request of searches) {
      expect(request.dsl).toBe(translateFilter(filter).expr);
      expect(String(request.dsl)).not.toContain(HOSTILE[4]);
      expect(request.expr_template_values).toEqual({
        v0: expect.objectContaining({ string_val: orderKey('"'), val: 'string_val' }),
      });
      const params = Object.fromEntries(
        (request.search_params as { key: string; value: string }[]).map((p) => [p.key, p.value]),
      );
      expect(params.topk).toBe('5');
    }
    const params = searches.map((request) =>
      Object.fromEntries((request.search_params as { key: string; value: string }[]).map((p) => [p.key, p.value])),
    );
    expect(params.map((p) => [p.anns_field, p.metric_type])).toEqual(
      expect.arrayContaining([
        ['dense', 'L2'],
        ['sparse', 'IP'],
      ]),
    );
    expect(searches.map((request) => decodePlaceholders(request.placeholder_group as Buffer)[0]?.type).sort()).toEqual([
      'FloatVector',
      'SparseFloatVector',
    ]);
    // a: dense rank 1, sparse rank 2; b: dense rank 2, sparse rank 1.
    expect(hits.map((hit) => hit.score)).toEqual([1 / 61 + 1 / 62, 1 / 61 + 1 / 62]);
    await s.dispose();
  });

  test('scores: the squared L2 distance Milvus returns becomes the negated distance', async () => {
    const s = store();
    const name = unique('l2');
    await s.createCollection({ name, dimensions: 2, metric: 'euclidean' });
    await s.upsert({ collection: name, records: [{ id: 1, vector: [3, 4] }] });
    const [hit] = await s.search({ collection: name, vector: [0, 0] });
    expect(hit?.score).toBe(-5);
    await s.dispose();
  });

  test('scroll, get and delete by ids ask by primary key with template values only', async () => {
    const s = store();
    const name = unique('keys');
    await s.createCollection({ name, dimensions: 2 });
    await s.upsert({ collection: name, records: [1, 2, 3].map((id) => ({ id, vector: [1, id] })) });
    const queries = fake.calls('Query').length;
    const page = await s.scroll({ collection: name, limit: 2 });
    await s.scroll({ collection: name, limit: 2, ...(page.nextCursor ? { cursor: page.nextCursor } : {}) });
    const [first, second] = fake.calls('Query').slice(queries).map(must);
    expect(first?.expr).toBe('');
    expect(kv(first?.query_params).limit).toBe('3');
    expect(second?.expr).toBe('pk > {after}');
    expect(second?.expr_template_values).toEqual({
      after: expect.objectContaining({ string_val: encodeId(2) }),
    });
    const deletes = fake.calls('Delete').length;
    expect((await s.delete({ collection: name, ids: [3, 99, '3'] })).deleted).toBe(1);
    const remove = must(fake.calls('Delete')[deletes]);
    expect(remove.expr).toBe('pk in {ids}');
    expect(
      (remove.expr_template_values as Record<string, { array_val: { string_data: { data: string[] } } }>).ids?.array_val
        .string_data.data,
    ).toEqual([encodeId(3)]);
    await s.dispose();
  });

  test('aliases: createAlias for a new one, alterAlias to switch, dropAlias; collections drop their aliases', async () => {
    const s = store();
    const blue = unique('blue');
    const green = unique('green');
    const alias = unique('alias');
    await s.createCollection({ name: blue, dimensions: 2 });
    await s.createCollection({ name: green, dimensions: 2 });
    await s.setAlias?.({ alias, collection: blue });
    await s.setAlias?.({ alias, collection: green });
    expect(fake.calls('CreateAlias').filter((call) => call.alias === alias)).toEqual([
      expect.objectContaining({ alias, collection_name: blue }),
    ]);
    expect(fake.calls('AlterAlias').filter((call) => call.alias === alias)).toEqual([
      expect.objectContaining({ alias, collection_name: green }),
    ]);
    expect(fake.aliases.get(alias)).toBe(green);
    await expect(s.createCollection({ name: alias, dimensions: 2 })).rejects.toMatchObject({ name: 'ConflictError' });
    await expect(s.deleteCollection({ name: alias })).rejects.toMatchObject({
      name: 'ConflictError',
      message: expect.stringContaining(`is an alias of "${green}"`),
    });
    expect(fake.aliases.get(alias)).toBe(green);
    await expect(s.setAlias?.({ alias: blue, collection: green })).rejects.toMatchObject({ name: 'ConflictError' });
    expect(await s.deleteCollection({ name: green })).toBe(true);
    expect(fake.calls('DropAlias').some((call) => call.alias === alias)).toBe(true);
    expect(fake.aliases.has(alias)).toBe(false);
    await s.dispose();
  });
});

describe('Milvus server behaviour the adapter relies on', () => {
  test('DescribeCollection on an alias names the alias in collection_name: every alias path uses schema.name', async () => {
    const s = store();
    const [blue, green, alias, spare] = [unique('blue'), unique('green'), unique('alias'), unique('spare')];
    await s.createCollection({ name: blue, dimensions: 2 });
    await s.createCollection({ name: green, dimensions: 2 });
    await s.setAlias?.({ alias, collection: blue });
    const client = await s.client();
    const described = await client.describeCollection({ collection_name: alias });
    expect([described.collection_name, described.schema.name]).toEqual([alias, blue]);
    // Switching an existing alias (a blue/green switch) works, reads go to the target.
    await s.setAlias?.({ alias, collection: green });
    expect((await s.openCollection({ name: alias })).name).toBe(green);
    await s.upsert({ collection: alias, records: [{ id: 1, vector: [1, 0] }] });
    expect(await s.count({ collection: green })).toBe(1);
    expect(await s.listAliases?.()).toContainEqual({ alias, collection: green });
    // An alias's name is not a collection's: no reopening the target, no dropping it.
    await expect(s.createCollection({ name: alias, dimensions: 2, ifExists: 'open' })).rejects.toMatchObject({
      name: 'ConflictError',
    });
    await expect(s.deleteCollection({ name: alias })).rejects.toMatchObject({ name: 'ConflictError' });
    expect(fake.collections.has(green)).toBe(true);
    await s.setAlias?.({ alias: spare, collection: green });
    expect(await s.deleteAlias?.({ alias: spare })).toBe(true);
    expect(await s.deleteAlias?.({ alias: spare })).toBe(false);
    expect(await s.deleteAlias?.({ alias: green })).toBe(false);
    expect(fake.aliases.get(alias)).toBe(green);
    await s.dispose();
  });

  test('a payload whose JSON (or derived terms) exceeds 64 KiB is refused up front, naming the record', async () => {
    const s = store({ maxBatchSize: 1000 });
    const name = unique('json');
    await s.createCollection({ name, dimensions: 2 });
    const before = fake.calls('Upsert').length;
    // 1,600 distinct tags: about 15 KB of payload, about 66 KB of terms.
    const tags = Array.from({ length: 1600 }, (_, i) => `tag${i}`);
    const records = [
      { id: 'ok', vector: [1, 0], payload: { tags: tags.slice(0, 100) } },
      { id: 'many-tags', vector: [1, 0], payload: { tags } },
    ];
    await expect(s.upsert({ collection: name, records })).rejects.toMatchObject({
      name: 'InvalidArgumentError',
      message: expect.stringContaining('record 1 (id "many-tags"): the filter terms derived from its payload take'),
    });
    await expect(
      s.upsert({ collection: name, records: [{ id: 'big', vector: [1, 0], payload: { text: 'é'.repeat(40_000) } }] }),
    ).rejects.toMatchObject({ message: expect.stringContaining('its payload takes 80011 bytes of JSON') });
    expect(fake.calls('Upsert').length).toBe(before);
    expect(await s.count({ collection: name })).toBe(0);
    // A payload just under the limit lands.
    await s.upsert({
      collection: name,
      records: [{ id: 'fits', vector: [1, 0], payload: { text: 'x'.repeat(60_000) } }],
    });
    expect(await s.count({ collection: name })).toBe(1);
    await s.dispose();
  });

  test('numbers beyond 2^53 filter exactly (Milvus reads JSON integers as int64 from their digits)', async () => {
    const s = store();
    const name = unique('big');
    await s.createCollection({ name, dimensions: 2 });
    const values = [2 ** 60, 2 ** 60 + 256, -(2 ** 60), 2 ** 70, 1.5];
    await s.upsert({ collection: name, records: values.map((x, id) => ({ id, vector: [1, 0], payload: { x } })) });
    const ids = async (filter: Filter) =>
      (await s.scroll({ collection: name, filter })).records.map((record) => record.id).sort();
    expect(await ids({ op: 'lte', field: 'x', value: 2 ** 60 })).toEqual([0, 2, 4]);
    expect(await ids({ op: 'gte', field: 'x', value: 2 ** 60 })).toEqual([0, 1, 3]);
    expect(await ids({ op: 'gt', field: 'x', value: 2 ** 60 })).toEqual([1, 3]);
    expect(await ids({ op: 'lt', field: 'x', value: -(2 ** 60) })).toEqual([]);
    expect(await ids({ op: 'gt', field: 'x', value: 2 ** 64 })).toEqual([3]);
    await s.dispose();
  });

  test('sparse values must be positive: Milvus leaves out records whose sparse score is 0', async () => {
    const s = store();
    const name = unique('zero');
    await s.createCollection({ name, dimensions: 2 });
    const before = fake.calls('Upsert').length;
    for (const values of [[0], [-1], [1e-30]]) {
      await expect(
        s.upsert({ collection: name, records: [{ id: 'z', vector: [1, 0], sparseVector: { indices: [3], values } }] }),
      ).rejects.toMatchObject({
        name: 'InvalidArgumentError',
        message: expect.stringContaining('record 0 (id "z") has a sparse value below 1e-18'),
      });
    }
    expect(fake.calls('Upsert').length).toBe(before);
    await s.upsert({
      collection: name,
      records: [{ id: 'p', vector: [1, 0], sparseVector: { indices: [3], values: [1e-18] } }],
    });
    const hits = await s.search({ collection: name, sparseVector: { indices: [3], values: [1e-18] } });
    expect(hits.map((hit) => hit.id)).toEqual(['p']);
    await expect(s.search({ collection: name, sparseVector: { indices: [3], values: [0] } })).rejects.toMatchObject({
      name: 'InvalidArgumentError',
      message: expect.stringContaining('the query has a sparse value below 1e-18'),
    });
    await s.dispose();
  });

  test('the server version is checked at first use: older than 2.5 is an UnsupportedServerError', async () => {
    fake.version = 'v2.4.17';
    try {
      const error = await store()
        .count({ collection: 'anything' })
        .catch((e: unknown) => e);
      expect(UnsupportedServerError.isInstance(error)).toBe(true);
      expect(error).toMatchObject({ serverVersion: 'v2.4.17', minimumVersion: '2.5.0' });
      expect((error as Error).message).toContain('Milvus 2.5.0 or later');
    } finally {
      fake.version = 'v2.6.0';
    }
    const s = store();
    const before = fake.calls('GetVersion').length;
    await s.listCollections();
    await s.listCollections();
    expect(fake.calls('GetVersion').length - before).toBe(1);
  });
});

describe('errors', () => {
  const withCollection = async (options: Parameters<typeof createMilvusStore>[0] = {}) => {
    const s = store(options);
    const name = unique('err');
    await s.createCollection({ name, dimensions: 2 });
    return { s, name };
  };

  test('Milvus statuses become typed kumiki errors with the server message', async () => {
    const { s, name } = await withCollection({ retries: 0 });
    const cases: [number, string][] = [
      [100, 'NotFoundError'],
      [1400, 'UnauthorizedError'],
      [1401, 'ForbiddenError'],
      [1100, 'InvalidArgumentError'],
      [10001, 'TimeoutError'],
      [65535, 'UnavailableError'],
    ];
    for (const [code, errorName] of cases) {
      fake.failNext('Query', { status: { code, reason: `reason ${code}` } });
      const error = await s.count({ collection: name }).catch((caught: unknown) => caught);
      expect(error, String(code)).toMatchObject({ name: errorName, component: 'milvus' });
    }
    fake.failNext('Query', { status: { code: 65535, reason: 'boom' } });
    const generic = await s.count({ collection: name }).catch((caught: unknown) => caught);
    expect(generic).toMatchObject({ isRetryable: false, statusCode: 65535, url: fake.address });
    expect((generic as Error).message).toContain('boom');
    await s.dispose();
  });

  test('retryable statuses and gRPC UNAVAILABLE are retried, then succeed', async () => {
    const { s, name } = await withCollection({ retries: 3 });
    const before = fake.calls('Query').length;
    fake.failNext('Query', { status: { code: 8, reason: 'rate limit exceeded', retriable: true } }, 2);
    expect(await s.count({ collection: name })).toBe(0);
    expect(fake.calls('Query').length - before).toBe(3);
    fake.failNext('Query', { grpc: { code: 14, details: 'connection reset' } }, 1);
    expect(await s.count({ collection: name })).toBe(0);
    await s.dispose();
  });

  test('gRPC failures: UNAVAILABLE names the address, DEADLINE_EXCEEDED is a TimeoutError', async () => {
    const { s, name } = await withCollection({ retries: 1, timeoutMs: 1234 });
    fake.failNext('Query', { grpc: { code: 14, details: 'connection reset' } }, 2);
    const unavailable = await s.count({ collection: name }).catch((caught: unknown) => caught);
    expect(unavailable).toMatchObject({
      name: 'UnavailableError',
      isRetryable: true,
      url: fake.address,
      statusCode: 14,
    });
    expect((unavailable as Error).message).toContain(fake.address);
    fake.failNext('Query', { grpc: { code: 4, details: 'deadline exceeded' } }, 2);
    await expect(s.count({ collection: name })).rejects.toMatchObject({ name: 'TimeoutError', timeoutMs: 1234 });
    await s.dispose();
  });

  test('a server that is not there: UnavailableError naming the address', async () => {
    const s = createMilvusStore({ address: '127.0.0.1:1', retries: 0, timeoutMs: 5000 });
    const error = await s.listCollections().catch((caught: unknown) => caught);
    expect(error).toMatchObject({ name: 'UnavailableError', url: '127.0.0.1:1' });
    expect((error as Error).message).toContain('127.0.0.1:1');
    await s.dispose();
  });

  test('a batch that fails for good: PartialWriteError with exactly its ids; others land', async () => {
    const { s, name } = await withCollection({ maxBatchSize: 2, concurrency: 1, retries: 0 });
    fake.failNext('Upsert', { status: { code: 1100, reason: 'bad batch' } });
    const records = [0, 1, 2, 3, 4, 5].map((id) => ({ id, vector: [1, id] }));
    const error = await s.upsert({ collection: name, records }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ name: 'PartialWriteError', failedIds: [0, 1], written: 4 });
    expect(await s.count({ collection: name })).toBe(4);
    await s.dispose();
  });

  test('a batch that fails with a retryable error is retried and lands', async () => {
    const { s, name } = await withCollection({ maxBatchSize: 2, concurrency: 1, retries: 2 });
    fake.failNext('Upsert', { status: { code: 2, reason: 'service unavailable', retriable: true } });
    await s.upsert({ collection: name, records: [0, 1, 2].map((id) => ({ id, vector: [1, id] })) });
    expect(await s.count({ collection: name })).toBe(3);
    await s.dispose();
  });

  test('batches respect the byte budget too', async () => {
    const { s, name } = await withCollection({ maxBatchBytes: 4096 });
    const before = fake.calls('Upsert').length;
    await s.upsert({
      collection: name,
      records: [0, 1, 2, 3].map((id) => ({ id, vector: [1, id], payload: { text: 'x'.repeat(1500) } })),
    });
    expect(fake.calls('Upsert').length - before).toBe(4);
    await expect(
      s.upsert({ collection: name, records: [{ id: 9, vector: [1, 1], payload: { text: 'x'.repeat(5000) } }] }),
    ).rejects.toMatchObject({ name: 'InvalidArgumentError' });
    await s.dispose();
  });

  test('a collection kumiki did not create is refused; the native client is reachable', async () => {
    const s = store();
    const client = await s.client();
    const name = unique('foreign');
    await client.createCollection({
      collection_name: name,
      fields: [
        { name: 'id', data_type: 'Int64', is_primary_key: true },
        { name: 'v', data_type: 'FloatVector', dim: 2 },
      ],
    });
    await expect(s.openCollection({ name })).rejects.toMatchObject({ name: 'ConflictError' });
    expect((await s.listCollections()).some((info) => info.name === name)).toBe(false);
    await s.dispose();
    await expect(s.count({ collection: name })).rejects.toMatchObject({ name: 'ConflictError' });
  });

  test('options are validated', () => {
    expect(() => createMilvusStore({ concurrency: 0 })).toThrow(/concurrency/);
    expect(() => createMilvusStore({ password: 'x' })).toThrow(/password needs username/);
    expect(() => createMilvusStore({ nope: 1 } as never)).toThrow(/nope/);
  });

  test('collection names Milvus would refuse are refused up front', async () => {
    await expect(store().createCollection({ name: 'has-dash', dimensions: 2 })).rejects.toMatchObject({
      name: 'InvalidArgumentError',
    });
  });
});

test('importing the adapter loads neither the Milvus SDK nor gRPC', () => {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const hooks = fileURLToPath(new URL('./fixtures/record-imports.mjs', import.meta.url));
  const entry = fileURLToPath(new URL('../src/stores/milvus/index.ts', import.meta.url));
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--import', hooks, '--input-type=module', '-e', `await import(${JSON.stringify(entry)})`],
    { cwd: root, encoding: 'utf8' },
  );
  expect(result.status, result.stderr).toBe(0);
  const imported = result.stderr.split('\n').filter((line) => line.startsWith('IMPORT '));
  expect(imported.some((line) => line.includes('milvus-store'))).toBe(true);
  expect(imported.filter((line) => /@zilliz|@grpc|protobufjs/.test(line))).toEqual([]);
});
