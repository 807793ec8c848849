import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { resolvePath } from '../src/filter/evaluate.js';
import { evaluateFilter, type Filter, f, filterFields, InvalidArgumentError, parseFilter } from '../src/index.js';
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
