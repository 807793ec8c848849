import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { resolvePath } from '../src/filter/evaluate.js';
import {
  evaluateFilter,
  type Filter,
  f,
  filterFields,
  InvalidArgumentError,
  type JsonObject,
  type JsonValue,
  MAX_FILTER_DEPTH,
  MAX_PAYLOAD_DEPTH,
  parseFilter,
} from '../src/index.js';
import { FILTER_CASES, FILTER_PAYLOADS } from '../src/testing/index.js';

describe('reference evaluator', () => {
  for (const { name, filter, ids } of FILTER_CASES) {
    test(name, () => {
      const selected = Object.entries(FILTER_PAYLOADS)
        .filter(([, payload]) => evaluateFilter(parseFilter(filter), payload))
        .map(([id]) => Number(id));
      expect(selected).toEqual(ids);
    });
  }

  test('ne, nin and not are exact complements of eq, in and the inner filter', () => {
    const scalar = fc.oneof(fc.string({ maxLength: 2 }), fc.integer({ min: -2, max: 2 }), fc.boolean());
    const value = fc.oneof(scalar, fc.constant(null), fc.array(scalar, { maxLength: 3 }));
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom('a', 'b'), value), scalar, (payload, wanted) => {
        const eq = evaluateFilter(f.eq('a', wanted), payload);
        expect(evaluateFilter(f.ne('a', wanted), payload)).toBe(!eq);
        expect(evaluateFilter(f.nin('a', [wanted]), payload)).toBe(!evaluateFilter(f.in('a', [wanted]), payload));
        expect(evaluateFilter(f.not(f.eq('a', wanted)), payload)).toBe(!eq);
        expect(evaluateFilter(f.in('a', [wanted]), payload)).toBe(eq);
      }),
    );
  });

  test('resolvePath follows objects only', () => {
    expect(resolvePath({ a: { b: [1, { c: 2 }] } }, 'a.b')).toEqual([1, { c: 2 }]);
    expect(resolvePath({ a: { b: [1, { c: 2 }] } }, 'a.b.c')).toBeUndefined();
    expect(resolvePath({ a: null }, 'a.b')).toBeUndefined();
    expect(resolvePath({ constructor: 1 }, 'toString')).toBeUndefined();
    // A string's own properties (length, indices) are not payload fields.
    expect(resolvePath({ s: 'abc' }, 's.length')).toBeUndefined();
    expect(resolvePath({ s: 'abc' }, 's.0')).toBeUndefined();
    expect(evaluateFilter(f.eq('s.length', 3), { s: 'abc' })).toBe(false);
  });

  test('filterFields lists every field read', () => {
    expect(filterFields(f.and(f.eq('a', 1), f.or(f.exists('b.c'), f.not(f.gt('a', 2)))))).toEqual(['a', 'b.c']);
  });
});

describe('filter validation', () => {
  const invalid: [string, unknown, RegExp][] = [
    ['unknown operator', { op: 'like', field: 'a', value: 'x' }, /op must be one of/],
    ['null value', { op: 'eq', field: 'a', value: null }, /use "exists"/],
    ['NaN value', { op: 'gt', field: 'a', value: Number.NaN }, /finite/],
    ['empty in list', { op: 'in', field: 'a', values: [] }, /at least one value/],
    ['empty and', { op: 'and', filters: [] }, /at least one filter/],
    ['empty path segment', { op: 'eq', field: 'a..b', value: 1 }, /dot-separated/],
    ['extra key', { op: 'exists', field: 'a', value: 1 }, /value/],
    [
      'nested error path',
      {
        op: 'and',
        filters: [
          { op: 'eq', field: 'a', value: 1 },
          { op: 'in', field: 'b', values: 'x' },
        ],
      },
      /filters\.1\.values/,
    ],
    ['boolean range', { op: 'gt', field: 'a', value: true }, /value/],
  ];
  for (const [name, filter, message] of invalid) {
    test(`rejects ${name}`, () => {
      let error: unknown;
      try {
        parseFilter(filter);
      } catch (caught) {
        error = caught;
      }
      expect(InvalidArgumentError.isInstance(error)).toBe(true);
      expect((error as Error).message).toMatch(message);
    });
  }

  test('accepts every builder', () => {
    const filters: Filter[] = [
      f.eq('a', 'x'),
      f.ne('a', 1),
      f.in('a', [true]),
      f.nin('a', ['x', 2]),
      f.gt('a', 1),
      f.gte('a', 'm'),
      f.lt('a', 0),
      f.lte('a', 1.5),
      f.exists('a.b'),
      f.containsAny('t', ['x']),
      f.containsAll('t', ['x', 'y']),
      f.and(f.eq('a', 1)),
      f.or(f.eq('a', 1), f.eq('b', 2)),
      f.not(f.exists('z')),
    ];
    for (const filter of filters) expect(parseFilter(filter)).toEqual(filter);
  });
});

describe('filter nesting is bounded, never a stack overflow', () => {
  /** A filter `depth` levels deep: field clause at level 1, alternating not / or above it. */
  const nested = (depth: number): Filter => {
    let node: Filter = f.eq('a', 1);
    for (let level = 2; level <= depth; level++) node = level % 2 === 0 ? f.not(node) : f.or(node);
    return node;
  };
  const refusal = (action: () => unknown): InvalidArgumentError => {
    try {
      action();
    } catch (error) {
      if (InvalidArgumentError.isInstance(error)) return error;
      throw error;
    }
    throw new Error('expected InvalidArgumentError');
  };

  test(`exactly ${MAX_FILTER_DEPTH} levels are accepted and evaluated`, () => {
    const filter = nested(MAX_FILTER_DEPTH);
    expect(parseFilter(filter)).toEqual(filter);
    const even = Math.floor(MAX_FILTER_DEPTH / 2) % 2 === 0; // an even number of nots: the same as eq
    expect(evaluateFilter(filter, { a: 1 })).toBe(even);
    expect(evaluateFilter(filter, { a: 2 })).toBe(!even);
  });

  for (const depth of [MAX_FILTER_DEPTH + 1, 1_500, 100_000]) {
    test(`${depth} levels: InvalidArgumentError naming the path and the limit, from parseFilter, evaluateFilter and filterFields`, () => {
      const filter = nested(depth);
      for (const action of [() => parseFilter(filter), () => evaluateFilter(filter, {}), () => filterFields(filter)]) {
        const error = refusal(action);
        expect(error.message).toContain(`at most ${MAX_FILTER_DEPTH} levels`);
        // The first clause beyond the limit: MAX_FILTER_DEPTH hops down from the root.
        expect(error.issues[0]?.path.split('.').filter((key) => key === 'filter' || key === 'filters')).toHaveLength(
          MAX_FILTER_DEPTH,
        );
      }
    });
  }

  test('a cyclic filter is refused, not followed forever', () => {
    const cyclic: { op: 'or'; filters: unknown[] } = { op: 'or', filters: [] };
    cyclic.filters.push(cyclic, cyclic);
    expect(refusal(() => parseFilter(cyclic)).message).toContain(`at most ${MAX_FILTER_DEPTH} levels`);
  });
});

describe('evaluateFilter checks payloads the way every store does', () => {
  test('an own "__proto__" key is refused, as stores refuse it on upsert', () => {
    const payload = JSON.parse('{"__proto__": {"x": 1}, "y": 2}');
    expect(() => evaluateFilter(f.exists('__proto__.x'), payload)).toThrow(
      /Invalid payload: __proto__: the key "__proto__"/,
    );
    expect(() => evaluateFilter(f.eq('y', 2), payload)).toThrow(InvalidArgumentError);
  });

  test('a payload nested 10,000 deep is refused with the limit, not a RangeError', () => {
    let payload: JsonObject = { leaf: 1 };
    for (let i = 0; i < 10_000; i++) payload = { d: payload };
    expect(() => evaluateFilter(f.exists('d'), payload)).toThrow(`limited to ${MAX_PAYLOAD_DEPTH} levels`);
  });

  test('cyclic payloads are refused', () => {
    const payload: JsonObject = { a: [] };
    (payload.a as JsonValue[]).push(payload);
    expect(() => evaluateFilter(f.exists('a'), payload)).toThrow(/Invalid payload: a\.0: a cycle/);
  });

  test('-0 is 0: equal to 0, and not below it', () => {
    expect(evaluateFilter(f.eq('z', 0), { z: -0 })).toBe(true);
    expect(evaluateFilter(f.lt('z', 0), { z: -0 })).toBe(false);
  });
});
