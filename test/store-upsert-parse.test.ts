// The stores' upsert fast path (`parseUpsert`) against the upsert schema it stands in for: on any
// input both give the same records, or the same InvalidArgumentError. Bulk upserts take the fast path,
// so a difference here would be a silently different record in every store.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../src/core/errors.js';
import { storableString } from '../src/core/json.js';
import { parseArgument } from '../src/core/validate.js';
import { storeArgumentSchemas } from '../src/stores/kernel/schemas.js';

const schemas = storeArgumentSchemas();

/** What parsing gives: the value, or the error's issues. */
function outcome(parse: () => unknown): unknown {
  try {
    return { value: parse() };
  } catch (error) {
    if (!(error instanceof InvalidArgumentError)) throw error;
    return { issues: error.issues, message: error.message };
  }
}

const agree = (input: unknown) => {
  const fast = outcome(() => schemas.parseUpsert(input));
  const schema = outcome(() => parseArgument(schemas.upsert, input, 'upsert options'));
  expect(fast).toStrictEqual(schema);
};

const component = fc.oneof(
  fc.float({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e39, -1e-46, 3.4e38),
);
const vector = fc.oneof(
  fc.array(component, { minLength: 0, maxLength: 9 }).map((values) => Float32Array.from(values)),
  fc.array(component, { minLength: 0, maxLength: 9 }).map((values) => Float64Array.from(values)),
  fc.array(component, { minLength: 0, maxLength: 9 }),
  fc.constantFrom<unknown>('1,2', null, undefined, [1, '2'], new Int8Array(2), { 0: 1, length: 1 }),
);
const sparse = fc.oneof(
  fc.uniqueArray(fc.nat({ max: 50 }), { maxLength: 6 }).chain((indices) =>
    fc.record({
      indices: fc.constantFrom(
        indices,
        [...indices].sort((a, b) => a - b),
        Uint32Array.from(indices),
      ),
      values: fc.array(component, { minLength: indices.length, maxLength: indices.length }),
    }),
  ),
  fc.record({ indices: fc.array(fc.integer({ min: -2, max: 5 }), { maxLength: 5 }), values: fc.array(component) }),
  fc.constantFrom<unknown>(
    { indices: [1, 2], values: [1] },
    { indices: [3, 3], values: [1, 2] },
    { indices: [2, 1, 1, -1], values: [1, 2, 3, 4] },
    { indices: [1, 2.5], values: [1, 2] },
    { indices: '1', values: [1] },
    { indices: [1], values: [1], extra: true },
    [1, 2],
    null,
    undefined,
  ),
);
const scalar = fc.oneof(
  fc.string(),
  fc.constantFrom('a\0b', '\uD800', 'x\uDC00', '\uD83D\uDE00', ''),
  fc.double(),
  fc.constantFrom(-0, Number.NaN, Number.POSITIVE_INFINITY),
  fc.boolean(),
  fc.constant(null),
);
const payload = fc.oneof(
  fc.dictionary(fc.oneof(fc.string(), fc.constantFrom('__proto__', 'k\0', 'a.b')), scalar, { maxKeys: 4 }),
  fc.dictionary(fc.string(), fc.oneof(scalar, fc.array(scalar, { maxLength: 3 }), fc.dictionary(fc.string(), scalar)), {
    maxKeys: 3,
  }),
  fc.constantFrom<unknown>(
    { date: new Date(0) },
    { u: undefined },
    { f: () => 1 },
    { big: 1n },
    [1],
    'text',
    null,
    undefined,
    Object.assign(Object.create(null), { a: 1 }),
    { [Symbol('s')]: 1 },
    new Map(),
  ),
);
const id = fc.oneof(
  fc.integer(),
  fc.string({ maxLength: 4 }),
  fc.constantFrom<unknown>('', 1.5, 2 ** 60, -0, Number.NaN, true, null, undefined, 'x'.repeat(1025), 'é'.repeat(400)),
);
const anyRecord = fc.oneof(
  fc.record(
    { id, vector, sparseVector: sparse, payload, extra: fc.constant(1) },
    { requiredKeys: ['id'], noNullPrototype: true },
  ),
  fc.constantFrom<unknown>(null, 1, 'r', [], new (class Record {})()),
);
/** Records the fast path takes (so most inputs exercise it), with the odd bad value among them. */
const goodComponent = fc.oneof(fc.float({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(0, -0));
const goodRecord = fc.record(
  {
    id: fc.oneof(fc.integer(), fc.string({ minLength: 1, maxLength: 4 })),
    vector: fc.oneof(
      fc.array(goodComponent, { minLength: 1, maxLength: 9 }).map((values) => Float32Array.from(values)),
      fc.array(goodComponent, { minLength: 1, maxLength: 9 }),
    ),
    sparseVector: fc.uniqueArray(fc.nat({ max: 50 }), { maxLength: 6 }).chain((indices) =>
      fc.record({
        indices: fc.constant(indices),
        values: fc.array(goodComponent, { minLength: indices.length, maxLength: indices.length }),
      }),
    ),
    payload: fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer(), fc.constantFrom(-0, true, null, 0.5)), {
      maxKeys: 4,
    }),
  },
  { requiredKeys: ['id'], noNullPrototype: true },
);
const record = fc.oneof({ weight: 6, arbitrary: goodRecord }, { weight: 1, arbitrary: anyRecord });
const input = fc.oneof(
  { weight: 4, arbitrary: fc.record({ collection: fc.constant('c'), records: fc.array(record, { maxLength: 4 }) }) },
  fc.record(
    {
      collection: fc.constantFrom<unknown>('c', '', 'bad name', 7),
      records: fc.oneof(fc.array(record, { maxLength: 4 }), fc.constantFrom<unknown>(undefined, {}, 'records')),
      abortSignal: fc.constantFrom<unknown>(undefined, new AbortController().signal, 'signal'),
      other: fc.constant(true),
    },
    { requiredKeys: ['collection', 'records'], noNullPrototype: true },
  ),
  fc.constantFrom<unknown>(undefined, null, [], 'upsert'),
);

describe('upsert fast path', () => {
  it('gives what the upsert schema gives, for any input: the same records or the same error', () => {
    fc.assert(fc.property(input, agree), { numRuns: 3000 });
  });

  it('takes the common shapes: typed and plain vectors, sparse vectors, flat payloads, many records', () => {
    const records = Array.from({ length: 50 }, (_, i) => ({
      id: i % 2 === 0 ? i : `id-${i}`,
      vector: i % 3 === 0 ? Float32Array.of(i, -0, 1) : [i, 0.5, -0],
      sparseVector: { indices: [1, 4, 9], values: [0.5, -0, 2] },
      payload: { group: i % 10, lang: 'en', flag: i % 2 === 0, none: null, zero: -0 },
    }));
    agree({ collection: 'c', records });
    const parsed = schemas.parseUpsert({ collection: 'c', records });
    // Copies where kumiki normalises (-0 → 0); payloads are always copies.
    expect(Object.is(parsed.records[0]?.payload?.zero, 0)).toBe(true);
    expect(Object.is((parsed.records[0]?.vector as Float32Array | undefined)?.[1], 0)).toBe(true);
    expect(parsed.records[1]?.payload).not.toBe(records[1]?.payload);
  });

  it('reports the first bad component of a Float32Array by its index, past any zeros', () => {
    for (const at of [0, 3, 4, 7, 8]) {
      const vector = new Float32Array(9);
      vector[at] = Number.NaN;
      agree({ collection: 'c', records: [{ id: 1, vector }] });
      expect(outcome(() => schemas.parseUpsert({ collection: 'c', records: [{ id: 1, vector }] }))).toMatchObject({
        issues: [{ path: `records.0.vector.${at}` }],
      });
    }
  });
});

describe('storableString', () => {
  it('agrees with the rule written as a regular expression on any string', () => {
    const rule = (text: string) =>
      !/\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);
    const pieces = fc.constantFrom('a', '\0', '\uD800', '\uDBFF', '\uDC00', '\uDFFF', '\uD83D\uDE00', '\uE000', 'é');
    fc.assert(
      fc.property(fc.array(pieces, { maxLength: 8 }), (parts) => {
        const text = parts.join('');
        expect(storableString(text)).toBe(rule(text));
      }),
      { numRuns: 5000 },
    );
  });
});
