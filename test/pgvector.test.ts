import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, describe, expect, test } from 'vitest';
import { matchesFilter } from '../src/filter/evaluate.js';
import {
  EmbeddingSpaceMismatchError,
  type Filter,
  type FilterScalar,
  InvalidArgumentError,
  type JsonObject,
  type JsonValue,
  PartialWriteError,
  type RecordId,
  UnavailableError,
  UnsupportedFilterError,
} from '../src/index.js';
import { filterToSql, MAX_BIND_PARAMETERS } from '../src/stores/pgvector/filter-sql.js';
import { createPgvectorStore, type PgvectorStoreOptions } from '../src/stores/pgvector/index.js';
import { storeConformance } from '../src/testing/index.js';
import { filterArbitrary } from '../src/testing/store/filter-arbitrary.js';
import { startPgliteServer } from './helpers/pglite-server.js';

const server = await startPgliteServer();
afterAll(() => server.stop());

/** PGlite serves one session: one connection in use at a time (see test/helpers/pglite-server.ts). */
const connect = (options: PgvectorStoreOptions = {}) =>
  createPgvectorStore({ connectionString: server.connectionString, poolConfig: { max: 1 }, ...options });

storeConformance(test, () => connect(), { name: 'pgvector' });

// The same suite against a real Postgres with pgvector (docs/adapters/pgvector.md):
//   PGVECTOR_URL=postgres://postgres:secret@localhost:5432/postgres npx vitest run test/pgvector.test.ts
// It works in the schema `kumiki_conformance` and drops the collections it created (`kc_…`) afterwards.
const liveUrl = process.env.PGVECTOR_URL;
if (liveUrl) {
  const live = () => createPgvectorStore({ connectionString: liveUrl, schema: 'kumiki_conformance' });
  afterAll(async () => {
    const cleanup = live();
    for (const { name } of await cleanup.listCollections()) {
      if (name.startsWith('kc_')) await cleanup.deleteCollection({ name });
    }
    await cleanup.dispose();
  });
  storeConformance(test, live, { name: `pgvector live (${new URL(liveUrl).host})`, timeoutMs: 300_000 });
} else {
  test.skip('pgvector live suite: set PGVECTOR_URL=postgres://… to also run it against a real server', () => {});
}

let counter = 0;
const unique = (label: string) => `t_${label}_${(counter++).toString(36)}`;

const sortIds = (ids: RecordId[]) =>
  [...ids].sort((a, b) => {
    if (typeof a === 'number') return typeof b === 'number' ? a - b : -1;
    if (typeof b === 'number') return 1;
    return a < b ? -1 : a > b ? 1 : 0;
  });

/** A pg.Pool stand-in that records every statement and can fail chosen ones. */
function spyPool(fail?: (text: string, values: unknown[] | undefined, call: number) => Error | undefined) {
  const real = new pg.Pool({ connectionString: server.connectionString, max: 1 });
  const calls: { text: string; values: unknown[] | undefined }[] = [];
  const pool = {
    options: real.options,
    async query(text: string, values?: unknown[]) {
      calls.push({ text, values });
      const error = fail?.(text, values, calls.length);
      if (error) throw error;
      return real.query(text, values);
    },
    connect: () => real.connect(),
  };
  return { pool: pool as unknown as pg.Pool, calls, end: () => real.end() };
}

describe('filter translation (golden SQL)', () => {
  const sql = (filter: Filter) => {
    const params: unknown[] = [];
    return { sql: filterToSql(filter, params), params };
  };
  const order = (expression: string) =>
    `(regexp_replace(regexp_replace(${expression}, '([\\U00010000-\\U0010FFFF])', E'\\U0010FFFE\\\\1', 'g'), '([\\uE000-\\uFFFF])', E'\\U0010FFFF\\\\1', 'g') COLLATE "C")`;

  test('field operators', () => {
    expect(sql({ op: 'eq', field: 'lang', value: 'en' })).toEqual({
      sql: '(payload @> $1::jsonb OR payload @> $2::jsonb)',
      params: ['{"lang":"en"}', '{"lang":["en"]}'],
    });
    expect(sql({ op: 'ne', field: 'meta.author', value: 5 })).toEqual({
      sql: 'NOT (payload @> $1::jsonb OR payload @> $2::jsonb)',
      params: ['{"meta":{"author":5}}', '{"meta":{"author":[5]}}'],
    });
    expect(sql({ op: 'in', field: 'tags', values: ['a', 1.5, true] })).toEqual({
      sql: 'payload @> ANY($1::jsonb[])',
      params: [
        ['{"tags":"a"}', '{"tags":["a"]}', '{"tags":1.5}', '{"tags":[1.5]}', '{"tags":true}', '{"tags":[true]}'],
      ],
    });
    expect(sql({ op: 'nin', field: 'tags', values: ['a'] })).toEqual({
      sql: 'NOT payload @> ANY($1::jsonb[])',
      params: [['{"tags":"a"}', '{"tags":["a"]}']],
    });
    expect(sql({ op: 'containsAny', field: 'a.b', values: ['x', 'y'] })).toEqual({
      sql: 'payload @> ANY($1::jsonb[])',
      params: [['{"a":{"b":"x"}}', '{"a":{"b":["x"]}}', '{"a":{"b":"y"}}', '{"a":{"b":["y"]}}']],
    });
    expect(sql({ op: 'containsAll', field: 'tags', values: ['a', 'b'] })).toEqual({
      sql: '(payload @> $1::jsonb OR payload @> ALL($2::jsonb[]))',
      params: ['{"tags":["a","b"]}', ['{"tags":"a"}', '{"tags":"b"}']],
    });
    expect(sql({ op: 'exists', field: 'meta' })).toEqual({
      sql: "((payload -> $1::text) NOT IN ('null'::jsonb, '[]'::jsonb)) IS TRUE",
      params: ['meta'],
    });
    for (const [op, operator] of [
      ['gt', '>'],
      ['gte', '>='],
      ['lt', '<'],
      ['lte', '<='],
    ] as const) {
      expect(sql({ op, field: 'year', value: 2020.5 })).toEqual({
        sql: `jsonb_path_exists((payload -> $1::text), 'lax $ ? (@.type() == "number" && @ ${operator} $bound)', $2::jsonb) IS TRUE`,
        params: ['year', '{"bound":2020.5}'],
      });
      expect(sql({ op, field: 'lang', value: 'e' })).toEqual({
        sql: `EXISTS (SELECT FROM jsonb_path_query((payload -> $1::text), 'lax $ ? (@.type() == "string")') AS candidate(value) WHERE ${order(`(candidate.value #>> '{}')`)} ${operator} ${order('$2::text')})`,
        params: ['lang', 'e'],
      });
    }
  });

  test('boolean operators nest with placeholders numbered in order', () => {
    expect(
      sql({
        op: 'or',
        filters: [
          {
            op: 'and',
            filters: [
              { op: 'eq', field: 'a', value: 1 },
              { op: 'exists', field: 'b' },
            ],
          },
          { op: 'not', filter: { op: 'eq', field: 'c', value: false } },
        ],
      }),
    ).toEqual({
      sql: "(((payload @> $1::jsonb OR payload @> $2::jsonb) AND ((payload -> $3::text) NOT IN ('null'::jsonb, '[]'::jsonb)) IS TRUE) OR NOT (payload @> $4::jsonb OR payload @> $5::jsonb))",
      params: ['{"a":1}', '{"a":[1]}', 'b', '{"c":false}', '{"c":[false]}'],
    });
  });

  test('hostile keys and values stay in parameters', () => {
    const hostile = `x' OR 1=1 --"); DROP TABLE kumiki_collections; -- $ ? (@ == 1) \\ é🙂 __proto__`;
    const eq = sql({ op: 'eq', field: `${hostile}.__proto__`, value: hostile });
    expect(eq.sql).toBe('(payload @> $1::jsonb OR payload @> $2::jsonb)');
    expect(eq.params.map((param) => JSON.parse(param as string))).toEqual([
      JSON.parse(`{${JSON.stringify(hostile)}:{"__proto__":${JSON.stringify(hostile)}}}`),
      JSON.parse(`{${JSON.stringify(hostile)}:{"__proto__":[${JSON.stringify(hostile)}]}}`),
    ]);
    const range = sql({ op: 'gte', field: `${hostile}.b`, value: hostile });
    expect(range.sql).not.toContain('DROP');
    expect(range.params).toEqual([hostile, 'b', hostile]);
  });

  test('values and keys Postgres cannot hold select nothing, exactly as the reference does', () => {
    // Nothing is bound for a clause that became a constant: Postgres refuses unused untyped parameters.
    expect(sql({ op: 'eq', field: 'a', value: 'nul\u0000' })).toEqual({ sql: 'FALSE', params: [] });
    expect(sql({ op: 'ne', field: 'a', value: '\uD800' })).toEqual({ sql: 'NOT FALSE', params: [] });
    expect(sql({ op: 'eq', field: 'a\u0000.b', value: 1 })).toEqual({ sql: 'FALSE', params: [] });
    expect(sql({ op: 'exists', field: 'x\uDC00' })).toEqual({ sql: 'FALSE', params: [] });
    expect(sql({ op: 'gte', field: 'ok.\u0000', value: 1 })).toEqual({ sql: 'FALSE', params: [] });
    expect(sql({ op: 'in', field: 'a', values: ['\u0000', 'ok'] })).toEqual({
      sql: 'payload @> ANY($1::jsonb[])',
      params: [['{"a":"ok"}', '{"a":["ok"]}']],
    });
    expect(sql({ op: 'containsAll', field: 'a', values: ['\u0000', 'ok'] })).toEqual({ sql: 'FALSE', params: [] });
    expect(() => sql({ op: 'gt', field: 'a', value: 'a\u0000' })).toThrow(UnsupportedFilterError);
    expect(() => sql({ op: 'lte', field: 'a', value: '\uD83D' })).toThrow(/pgvector backend cannot express/);
  });

  test(`a filter needing more than ${MAX_BIND_PARAMETERS} bind parameters is refused at once, naming the limit`, async () => {
    const wide = (clauses: number): Filter => ({
      op: 'or',
      filters: Array.from({ length: clauses }, (_, i): Filter => ({ op: 'eq', field: 'n', value: i })),
    });
    // Two parameters per eq clause; a query binds at most two more after its filter (cursor, limit).
    expect(sql(wide(32_766)).params).toHaveLength(65_532);
    expect(() => sql(wide(32_767))).toThrow(UnsupportedFilterError);
    expect(() => sql(wide(40_000))).toThrow(/needing 80000 bind parameters.*at most 65535 bind parameters/);
    // The same values as one "in" list take one parameter.
    expect(sql({ op: 'in', field: 'n', values: Array.from({ length: 40_000 }, (_, i) => i) }).params).toHaveLength(1);
    const store = connect();
    try {
      const name = unique('wide');
      await store.createCollection({ name, dimensions: 2 });
      const error = await store.count({ collection: name, filter: wide(40_000) }).catch((caught: unknown) => caught);
      expect(UnsupportedFilterError.isInstance(error), String(error)).toBe(true);
      expect((error as UnsupportedFilterError).isRetryable).toBe(false);
    } finally {
      await store.dispose();
    }
  });

  test('explain returns the SQL condition and its parameters', async () => {
    const store = connect();
    try {
      const name = unique('explain');
      await store.createCollection({ name, dimensions: 2 });
      const filter: Filter = {
        op: 'and',
        filters: [
          { op: 'eq', field: 'lang', value: 'en' },
          { op: 'lt', field: 'n', value: 3 },
        ],
      };
      expect(await store.explain({ collection: name, filter })).toEqual({ backend: 'pgvector', native: sql(filter) });
      await expect(
        store.explain({ collection: name, filter: { op: 'gt', field: 'a', value: '\u0000' } }),
      ).rejects.toThrow(UnsupportedFilterError);
    } finally {
      await store.dispose();
    }
  });
});

describe('filters on a real server', () => {
  const store = connect();
  afterAll(() => store.dispose());

  test('string ranges compare UTF-16 code units, not code points or a collation', async () => {
    const name = unique('ranges');
    await store.createCollection({ name, dimensions: 1 });
    // U+FF61 sorts after U+1F600 in UTF-16 (surrogates come first) but before it by code point.
    const strings = [
      '',
      'A',
      'EN',
      'Z',
      'a',
      'de',
      'en',
      'é',
      '\uD7FF',
      '\uE000',
      '\uFF61',
      '\uFFFF',
      '😀',
      '😀a',
      '𝒳',
      'a😀',
      'a\uFF61',
    ];
    await store.upsert({
      collection: name,
      records: strings.map((s, i) => ({ id: i, vector: [1], payload: { s, list: [s, 7] } })),
    });
    for (const bound of strings) {
      for (const op of ['gt', 'gte', 'lt', 'lte'] as const) {
        for (const field of ['s', 'list']) {
          const filter: Filter = { op, field, value: bound };
          const expected = strings.flatMap((s, i) => (matchesFilter(filter, { s, list: [s, 7] }) ? [i] : []));
          const page = await store.scroll({ collection: name, filter, limit: 100 });
          expect(
            page.records.map((r) => r.id),
            `${op} ${JSON.stringify(bound)} on ${field}`,
          ).toEqual(expected);
        }
      }
    }
  });

  test('every operator on every small field shape equals the reference (exhaustive)', async () => {
    const name = unique('shapes');
    await store.createCollection({ name, dimensions: 1 });
    const shapes: JsonValue[] = [
      'a',
      'b',
      1,
      1.5,
      true,
      null,
      [],
      ['a'],
      ['a', 'b'],
      ['b', 1],
      [['a']],
      [{ f: 'a' }],
      { f: 'a' },
    ];
    const payloads: JsonObject[] = [
      {},
      ...shapes.map((shape) => ({ f: shape })),
      ...shapes.map((shape) => ({ n: { f: shape } })),
      ...shapes.map((shape) => ({ n: [{ f: shape }] })),
    ];
    await store.upsert({ collection: name, records: payloads.map((payload, id) => ({ id, vector: [1], payload })) });
    const lists: FilterScalar[][] = [['a'], [1], [true], ['a', 'b'], ['a', 1], ['b', 'a', 'a'], [1.5, 'b']];
    const filters: Filter[] = [];
    for (const field of ['f', 'n.f', 'n']) {
      filters.push({ op: 'exists', field });
      for (const value of ['a', 'b', 1, 1.5, true] as const) {
        filters.push({ op: 'eq', field, value }, { op: 'ne', field, value });
        for (const op of ['gt', 'gte', 'lt', 'lte'] as const)
          if (typeof value !== 'boolean') filters.push({ op, field, value });
      }
      for (const values of lists) {
        for (const op of ['in', 'nin', 'containsAny', 'containsAll'] as const) filters.push({ op, field, values });
      }
    }
    for (const filter of filters) {
      const expected = payloads.flatMap((payload, i) => (matchesFilter(filter, payload) ? [i] : []));
      const page = await store.scroll({ collection: name, filter, limit: 100 });
      expect(
        page.records.map((r) => r.id),
        JSON.stringify(filter),
      ).toEqual(expected);
    }
  });

  test('hostile keys and values never change meaning (fast-check against the reference evaluator)', async () => {
    const name = unique('hostile');
    await store.createCollection({ name, dimensions: 1 });
    const hostile = [
      "'",
      '"',
      '\\',
      "x' OR 1=1 --",
      "'); DROP TABLE kumiki_collections; --",
      '") || true || ("',
      '$',
      '$bound',
      'lax $ ? (@ == 1)',
      '@ == $v',
      '{}',
      '[1]',
      'null',
      'true',
      '1',
      '%_',
      'é',
      'e\u0301',
      '🙂',
      '\uFF61',
      '\n\t',
      "E'\\x00'",
      'y'.repeat(3000),
      '',
    ];
    const keys = hostile.filter((key) => key !== '' && !key.includes('.'));
    // A few values recur often, so that array, containment and complement semantics are exercised too.
    const scalar = fc.oneof(
      { arbitrary: fc.constantFrom("'", '\\', "x' OR 1=1 --", '🙂'), weight: 3 },
      { arbitrary: fc.constantFrom(...hostile), weight: 1 },
      { arbitrary: fc.integer({ min: -2, max: 2 }), weight: 1 },
      { arbitrary: fc.boolean(), weight: 1 },
    );
    const value = fc.oneof(scalar, fc.constant(null), fc.array(scalar, { maxLength: 3 }));
    const key = fc.oneof(
      { arbitrary: fc.constantFrom("'", '$', '🙂'), weight: 3 },
      { arbitrary: fc.constantFrom(...keys), weight: 1 },
    );
    const payloadArbitrary = fc.dictionary(key, fc.oneof(value, fc.dictionary(key, value, { maxKeys: 2 })), {
      maxKeys: 4,
    });
    // Arrays of objects and nested arrays must never be looked through, whatever the filter.
    const payloads: JsonObject[] = [
      { "'": [{ $: "'" }], $: [["'"]], '🙂': { "'": [['\\'], "'"] } },
      { "'": { $: ["'", { $: "'" }] }, $: [{ "'": 1 }, 1] },
      ...(fc.sample(payloadArbitrary, { numRuns: 80, seed: 11 }) as JsonObject[]),
    ];
    await store.upsert({
      collection: name,
      records: payloads.map((payload, i) => ({ id: i, vector: [1], payload })),
    });
    // Values Postgres cannot store may still be asked for: they must select what the reference selects.
    const filterScalar = fc.oneof(
      { arbitrary: scalar, weight: 6 },
      { arbitrary: fc.constantFrom('\u0000', 'a\uD800'), weight: 1 },
    );
    const field = fc.oneof(
      key,
      fc.tuple(key, key).map(([a, b]) => `${a}.${b}`),
      fc.constant('k\u0000'),
    );
    const filter = filterArbitrary(fc, {
      field,
      scalar: filterScalar,
      bound: fc.oneof(fc.constantFrom(...hostile), fc.integer({ min: -2, max: 2 })),
    });
    await fc.assert(
      fc.asyncProperty(filter, async (generated) => {
        const expected = payloads.flatMap((payload, i) => (matchesFilter(generated, payload) ? [i] : []));
        const page = await store.scroll({ collection: name, filter: generated, limit: 1000 });
        expect(page.records.map((r) => r.id)).toEqual(expected);
      }),
      { numRuns: 300, seed: 5 },
    );
    expect(await store.count({ collection: name })).toBe(payloads.length);
    expect((await store.listCollections()).some((c) => c.name === name)).toBe(true);
  });
});

describe('records', () => {
  const store = connect();
  afterAll(() => store.dispose());

  test('ids round-trip with their type and scroll in the contract order', async () => {
    const name = unique('ids');
    await store.createCollection({ name, dimensions: 2 });
    const ids: RecordId[] = [
      -9007199254740991,
      -256,
      -1,
      0,
      1,
      255,
      256,
      9007199254740991,
      '1',
      '-1',
      '',
      'a',
      'a\u0000b',
      '\uD800 lone',
      '\uFF61',
      '😀',
      'é',
      'x'.repeat(1024),
    ].filter((id) => id !== '');
    await store.upsert({ collection: name, records: ids.map((id, i) => ({ id, vector: [1, i], payload: { i } })) });
    const got = await store.get({ collection: name, ids: [...ids].reverse() });
    expect(got.map((r) => r.id)).toEqual([...ids].reverse());
    for (const record of got) expect(record.payload).toEqual({ i: ids.indexOf(record.id) });
    const seen: RecordId[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.scroll({ collection: name, limit: 3, ...(cursor ? { cursor } : {}) });
      seen.push(...page.records.map((r) => r.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(sortIds(ids));
    expect((await store.delete({ collection: name, ids: [1, '1', '1', 12345] })).deleted).toBe(2);
  });

  test('vectors and sparse zeros round-trip; negative zeros come back as 0', async () => {
    const name = unique('vectors');
    await store.createCollection({ name, dimensions: 3 });
    await store.upsert({
      collection: name,
      records: [
        {
          id: 'v',
          vector: new Float64Array([0.1, -2.5e-8, 3e30]),
          sparseVector: { indices: [999_999_999, 5, 2], values: [1.5, 0, -3] },
          payload: { zero: -0, list: [-0, 0, 1e-7, 1e300], nested: { z: -0 } },
        },
        { id: 'empty', vector: [0, 0, 0], sparseVector: { indices: [], values: [] } },
      ],
    });
    const [v, empty] = await store.get({ collection: name, ids: ['v', 'empty'], includeVectors: true });
    expect(v?.vector).toEqual(Float32Array.from([0.1, -2.5e-8, 3e30]));
    expect(v?.sparseVector).toEqual({
      indices: Uint32Array.from([2, 5, 999_999_999]),
      values: Float32Array.from([-3, 0, 1.5]),
    });
    expect(Object.is(v?.payload.zero, 0)).toBe(true);
    expect(v?.payload).toEqual({ zero: 0, list: [0, 0, 1e-7, 1e300], nested: { z: 0 } });
    expect(empty?.sparseVector).toEqual({ indices: new Uint32Array(), values: new Float32Array() });
    // The zero-valued index 5 is shared with the query, so the record matches with score 0.
    const hits = await store.search({
      collection: name,
      sparseVector: { indices: [5, 4_000_000_000], values: [2, 1] },
    });
    expect(hits.map((h) => [h.id, h.score])).toEqual([['v', 0]]);
    expect(await store.count({ collection: name, filter: { op: 'eq', field: 'zero', value: 0 } })).toBe(1);
  });

  test('refuses what Postgres cannot store, naming the record, and writes nothing', async () => {
    const name = unique('refuse');
    await store.createCollection({ name, dimensions: 1 });
    const nul = store.upsert({
      collection: name,
      records: [
        { id: 'ok', vector: [1] },
        { id: 'bad', vector: [1], payload: { text: 'a\u0000b' } },
      ],
    });
    await expect(nul).rejects.toThrow(InvalidArgumentError);
    await expect(nul).rejects.toThrow(
      /Invalid upsert options: records\.1\.payload\.text: strings must not hold U\+0000 or an unpaired surrogate/,
    );
    await expect(
      store.upsert({ collection: name, records: [{ id: 'k', vector: [1], payload: { '\uDC00': 1 } }] }),
    ).rejects.toThrow(/keys must not hold U\+0000 or an unpaired surrogate/);
    await expect(
      store.upsert({
        collection: name,
        records: [{ id: 's', vector: [1], sparseVector: { indices: [1e9], values: [1] } }],
      }),
    ).rejects.toThrow(/sparse index 1000000000; pgvector's sparsevec holds indices below 1000000000/);
    await expect(store.createCollection({ name: unique('wide'), dimensions: 16_001 })).rejects.toThrow(
      /at most 16000 dimensions/,
    );
    expect(await store.count({ collection: name })).toBe(0);
  });
});

describe('batching, retries and partial writes', () => {
  const records = (count: number, payloadBytes = 10) =>
    Array.from({ length: count }, (_, i) => ({ id: i, vector: [1, i], payload: { text: 'x'.repeat(payloadBytes) } }));
  const inserts = (calls: { text: string; values: unknown[] | undefined }[]) =>
    calls.filter((call) => call.text.startsWith('INSERT INTO "public"."kumiki_t_'));

  test('splits by count and by bytes, and every record lands', async () => {
    const spy = spyPool();
    const store = createPgvectorStore({ pool: spy.pool, maxBatchSize: 4, maxBatchBytes: 4096 });
    try {
      const name = unique('batch');
      await store.createCollection({ name, dimensions: 2 });
      spy.calls.length = 0;
      await store.upsert({ collection: name, records: records(10) });
      expect(inserts(spy.calls).map((call) => (call.values?.[0] as unknown[] | undefined)?.length)).toEqual([4, 4, 2]);
      spy.calls.length = 0;
      // Each record is about 1.5 KB, so two fit in the 4 KiB budget although four would by count.
      await store.upsert({ collection: name, records: records(5, 1500) });
      expect(inserts(spy.calls).map((call) => (call.values?.[0] as unknown[] | undefined)?.length)).toEqual([2, 2, 1]);
      expect(await store.count({ collection: name })).toBe(10);
      await expect(store.upsert({ collection: name, records: records(1, 5000) })).rejects.toThrow(
        /record 0 takes \d+ bytes, more than the 4096-byte request limit/,
      );
    } finally {
      await store.dispose();
      await spy.end();
    }
  });

  test('retries a batch after a dropped connection', async () => {
    let failed = false;
    const spy = spyPool((text) => {
      if (failed || !text.startsWith('INSERT INTO "public"."kumiki_t_')) return undefined;
      failed = true;
      return Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    });
    const store = createPgvectorStore({ pool: spy.pool, retryBaseDelayMs: 1 });
    try {
      const name = unique('retry');
      await store.createCollection({ name, dimensions: 2 });
      await store.upsert({ collection: name, records: records(3) });
      expect(inserts(spy.calls)).toHaveLength(2);
      expect(await store.count({ collection: name })).toBe(3);
    } finally {
      await store.dispose();
      await spy.end();
    }
  });

  test('a batch the server refuses for good gives PartialWriteError listing exactly its ids', async () => {
    const store = connect({ maxBatchSize: 2, concurrency: 1, retryBaseDelayMs: 1 });
    try {
      const name = unique('partial');
      await store.createCollection({ name, dimensions: 2 });
      const pool = await store.client();
      const { rows } = await pool.query<{ table_name: string }>(
        'SELECT table_name FROM kumiki_collections WHERE name = $1',
        [name],
      );
      await pool.query(`ALTER TABLE "${rows[0]?.table_name}" ADD CONSTRAINT no_poison CHECK (NOT payload ? 'poison')`);
      const batch = records(6).map((record) => (record.id === 3 ? { ...record, payload: { poison: true } } : record));
      const error = await store.upsert({ collection: name, records: batch }).catch((caught: unknown) => caught);
      expect(PartialWriteError.isInstance(error)).toBe(true);
      const partial = error as PartialWriteError;
      expect(partial.failedIds).toEqual([2, 3]);
      expect(partial.written).toBe(4);
      expect(partial.message).toContain('wrote 4 records but 2 failed');
      expect((partial.cause as Error).message).toMatch(/no_poison.*SQLSTATE 23514/);
      expect(sortIds((await store.scroll({ collection: name })).records.map((r) => r.id))).toEqual([0, 1, 4, 5]);
    } finally {
      await store.dispose();
    }
  });
});

describe('catalog, fingerprints and aliases', () => {
  test('collections, spaces and aliases persist across store instances', async () => {
    const name = unique('persist');
    const alias = unique('live');
    const space = { provider: 'test', model: 'model-a', dimensions: 2 };
    const first = connect();
    await first.createCollection({ name, dimensions: 2, metric: 'euclidean', embeddingSpace: space });
    await first.upsert({ collection: name, records: [{ id: 'a', vector: [3, 4], payload: { x: 1 } }] });
    await first.setAlias({ alias, collection: name });
    await first.dispose();
    await expect(first.count({ collection: name })).rejects.toThrow(/disposed/);

    const second = connect();
    try {
      const info = await second.openCollection({ name: alias, embeddingSpace: space });
      expect(info).toMatchObject({ name, dimensions: 2, metric: 'euclidean', sparse: true, count: 1 });
      const mismatch = await second
        .openCollection({ name, embeddingSpace: { ...space, model: 'model-b' } })
        .catch((caught: unknown) => caught);
      expect(EmbeddingSpaceMismatchError.isInstance(mismatch)).toBe(true);
      expect((mismatch as EmbeddingSpaceMismatchError).differences).toEqual(['model']);
      const [hit] = await second.search({ collection: alias, vector: [0, 0] });
      expect(hit).toMatchObject({ id: 'a', score: -5 });
      await expect(second.deleteCollection({ name: alias })).rejects.toThrow(/is an alias of/);
      await expect(second.createCollection({ name: alias, dimensions: 2 })).rejects.toThrow(/is an alias/);
      await expect(second.setAlias({ alias: name, collection: name })).rejects.toThrow(/is a collection/);
      expect(await second.deleteCollection({ name })).toBe(true);
      expect((await second.listAliases()).some((a) => a.alias === alias)).toBe(false);
    } finally {
      await second.dispose();
    }
  });

  test('a cached catalog entry made stale by another store is read again', async () => {
    const ours = connect({ collectionCacheMs: 60_000 });
    const theirs = connect();
    try {
      const blue = unique('blue');
      const green = unique('green');
      const alias = unique('live');
      await ours.createCollection({ name: blue, dimensions: 2 });
      await ours.setAlias({ alias, collection: blue });
      await ours.upsert({ collection: alias, records: [{ id: 'b', vector: [1, 0] }] });
      expect(await ours.count({ collection: blue })).toBe(1);
      // Another process re-creates the collection with other dimensions: the failed write is retried on the new entry.
      await theirs.deleteCollection({ name: blue });
      await theirs.createCollection({ name: blue, dimensions: 3 });
      await theirs.setAlias({ alias, collection: blue });
      await ours.upsert({ collection: blue, records: [{ id: 'b3', vector: [1, 0, 0] }] });
      expect(await theirs.count({ collection: blue })).toBe(1);
      // It switches the alias and drops the old target: the next read follows the alias to the new one.
      await theirs.createCollection({ name: green, dimensions: 2 });
      await theirs.upsert({ collection: green, records: [{ id: 'g', vector: [0, 1] }] });
      await theirs.setAlias({ alias, collection: green });
      await theirs.deleteCollection({ name: blue });
      expect((await ours.search({ collection: alias, vector: [0, 1] })).map((m) => m.id)).toEqual(['g']);
      await theirs.deleteCollection({ name: green });
      await expect(ours.count({ collection: alias })).rejects.toThrow(/does not exist/);
    } finally {
      await ours.dispose();
      await theirs.dispose();
    }
  });

  test('schema and table prefix options keep stores apart', async () => {
    const isolated = connect({ schema: 'kumiki_isolated', tablePrefix: 'app_' });
    const plain = connect();
    try {
      const name = unique('schema');
      await isolated.createCollection({ name, dimensions: 2 });
      expect((await plain.listCollections()).some((c) => c.name === name)).toBe(false);
      expect((await isolated.listCollections()).map((c) => c.name)).toEqual([name]);
      const pool = await isolated.client();
      const { rows } = await pool.query<{ tablename: string }>(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'kumiki_isolated' ORDER BY tablename",
      );
      expect(rows.map((row) => row.tablename)).toEqual([
        'app_aliases',
        'app_collections',
        `app_${name}_${rows[2]?.tablename.slice(-12)}`,
      ]);
    } finally {
      await isolated.dispose();
      await plain.dispose();
    }
  });

  test('an HNSW index makes search approximate but finds a stored vector', async () => {
    const store = connect({ index: { type: 'hnsw', m: 8, efConstruction: 32 } });
    try {
      const name = unique('hnsw');
      await store.createCollection({ name, dimensions: 8, metric: 'cosine' });
      const vectors = Array.from({ length: 200 }, (_, i) => Array.from({ length: 8 }, (_, j) => Math.sin(i * 7 + j)));
      await store.upsert({ collection: name, records: vectors.map((vector, id) => ({ id, vector })) });
      const [top] = await store.search({ collection: name, vector: vectors[42] as number[], limit: 1 });
      expect(top?.id).toBe(42);
      expect(top?.score).toBeCloseTo(1, 5);
      const pool = await store.client();
      const { rows } = await pool.query<{ indexdef: string }>(
        "SELECT indexdef FROM pg_indexes WHERE indexdef LIKE '%USING hnsw%' AND indexdef LIKE $1",
        [`%kumiki_${name}_%`],
      );
      expect(rows[0]?.indexdef).toMatch(/hnsw \(embedding vector_cosine_ops\) WITH \(m='8', ef_construction='32'\)/);
      await expect(store.createCollection({ name: unique('wide'), dimensions: 2001 })).rejects.toThrow(
        /HNSW index covers at most 2000 dimensions/,
      );
    } finally {
      await store.dispose();
    }
  });
});

describe('options, connections and errors', () => {
  test('validates options', () => {
    expect(() => createPgvectorStore({ connectionString: 'postgres://x', pool: new pg.Pool({ max: 1 }) })).toThrow(
      /pass either pool/,
    );
    expect(() => createPgvectorStore({ schema: 'a"; DROP' })).toThrow(/schema must be a plain identifier/);
    expect(() => createPgvectorStore({ tablePrefix: 'x-y' })).toThrow(InvalidArgumentError);
  });

  test('a pool passed in stays open after dispose', async () => {
    const pool = new pg.Pool({ connectionString: server.connectionString, max: 1 });
    const store = createPgvectorStore({ pool });
    expect(await store.client()).toBe(pool);
    await store.dispose();
    expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await pool.end();
  });

  test('connection refused names the address and is retryable', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const address = probe.address();
        probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    const store = createPgvectorStore({
      connectionString: `postgres://postgres@127.0.0.1:${port}/postgres`,
      retries: 0,
    });
    const error = await store.listCollections().catch((caught: unknown) => caught);
    await store.dispose();
    expect(UnavailableError.isInstance(error)).toBe(true);
    const unavailable = error as UnavailableError;
    expect(unavailable.message).toContain(`Cannot reach Postgres at 127.0.0.1:${port} during setup: ECONNREFUSED`);
    expect(unavailable.url).toBe(`postgres://127.0.0.1:${port}`);
    expect(unavailable.isRetryable).toBe(true);
  });

  test('a server without pgvector gives a clear error', async () => {
    const bare = await startPgliteServer({ pgvector: false });
    const store = createPgvectorStore({ connectionString: bare.connectionString, poolConfig: { max: 1 }, retries: 0 });
    try {
      const error = await store.listCollections().catch((caught: unknown) => caught);
      expect(UnavailableError.isInstance(error)).toBe(true);
      expect((error as UnavailableError).isRetryable).toBe(false);
      expect((error as Error).message).toMatch(/has no pgvector extension .*Install pgvector on the server/);
    } finally {
      await store.dispose();
      await bare.stop();
    }
  });

  test('without pg installed, the first call throws MissingDependencyError (and importing is free)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kumiki-pgvector-'));
    try {
      await build({
        entryPoints: [fileURLToPath(new URL('../src/stores/pgvector/index.ts', import.meta.url))],
        bundle: true,
        format: 'esm',
        platform: 'node',
        external: ['pg'],
        outfile: join(dir, 'pgvector.mjs'),
        logLevel: 'silent',
      });
      await writeFile(
        join(dir, 'run.mjs'),
        `import { createPgvectorStore } from './pgvector.mjs';
const store = createPgvectorStore({ connectionString: 'postgres://127.0.0.1:1/x' });
try { await store.listCollections(); } catch (error) { console.log(JSON.stringify({ name: error.name, message: error.message })); }`,
      );
      const { stdout } = await promisify(execFile)(process.execPath, [join(dir, 'run.mjs')], { cwd: dir });
      expect(JSON.parse(stdout)).toEqual({
        name: 'MissingDependencyError',
        message: 'Cannot import `pg`, which the pgvector adapter needs. Install it with `npm install pg`.',
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
