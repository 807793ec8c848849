/** Filter validation messages and paths (the evaluator and the depth limit: test/filter.test.ts). */
import { beforeEach, describe, expect, test } from 'vitest';
import { InvalidArgumentError } from '../src/core/errors.js';
import { type Filter, parseFilter } from '../src/core/filter.js';

type FilterModule = typeof import('../src/core/filter.js');

/**
 * The filter schema is built lazily, on the first parse in a process. Each test loads a new copy of
 * the module (a new query string; its imports stay shared), so what it checks is the schema as built
 * in that test (mutation testing changes code only while a test runs).
 */
let fresh: FilterModule;
let copies = 0;
beforeEach(async () => {
  const path = `../src/core/filter.js?copy=${++copies}`;
  fresh = (await import(/* @vite-ignore */ path)) as FilterModule;
});

const issues = (filter: unknown) => {
  try {
    fresh.parseFilter(filter);
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).toBe('InvalidArgumentError');
    expect((error as InvalidArgumentError).message).toMatch(/^Invalid filter: /);
    return (error as InvalidArgumentError).issues;
  }
  throw new Error('expected InvalidArgumentError');
};

describe('parseFilter', () => {
  test('accepts every operator, and and/or with several filters', () => {
    const filters: Filter[] = [
      fresh.f.eq('a', 'x'),
      fresh.f.ne('a', 1),
      fresh.f.in('a', ['x', 2]),
      fresh.f.nin('a', [true]),
      fresh.f.gt('n', 1),
      fresh.f.gte('n', 'b'),
      fresh.f.lt('n', 2.5),
      fresh.f.lte('n', -1),
      fresh.f.exists('meta.author'),
      fresh.f.containsAny('tags', ['x']),
      fresh.f.containsAll('tags', ['x', 'y']),
      fresh.f.and(fresh.f.eq('a', 1), fresh.f.eq('b', 2), fresh.f.eq('c', 3)),
      fresh.f.or(fresh.f.eq('a', 1), fresh.f.exists('b')),
      fresh.f.not(fresh.f.eq('a', 1)),
    ];
    for (const filter of filters) expect(fresh.parseFilter(filter)).toEqual(filter);
  });

  test('names an unknown operator and lists the known ones', () => {
    expect(issues({ op: 'like', field: 'a', value: 'x' })).toEqual([
      {
        path: 'op',
        message: 'op must be one of: eq, ne, in, nin, gt, gte, lt, lte, exists, containsAny, containsAll, and, or, not',
      },
    ]);
  });

  test('names a bad range bound, an empty and/or, and where inside the filter it is', () => {
    expect(issues(fresh.f.and(fresh.f.eq('a', 1), { op: 'gt', field: 'n', value: true } as never))).toEqual([
      { path: 'filters.1.value', message: 'range bounds must be finite numbers or strings' },
    ]);
    expect(issues(fresh.f.not({ op: 'or', filters: [] }))).toEqual([
      { path: 'filter.filters', message: 'and/or need at least one filter' },
    ]);
  });

  test('names a bad field path or value', () => {
    const one = (filter: unknown) => issues(filter)[0];
    expect(one({ op: 'exists', field: '' })).toEqual({ path: 'field', message: 'field must not be empty' });
    for (const field of ['.a', 'a.', 'a..b', '.']) {
      expect(one({ op: 'exists', field })).toEqual({
        path: 'field',
        message: 'field must be dot-separated non-empty keys, e.g. "meta.author"',
      });
    }
    expect(one({ op: 'eq', field: 'a', value: null })).toEqual({
      path: 'value',
      message: 'filter values must be strings, finite numbers or booleans (use "exists" to test for null or missing)',
    });
    expect(one({ op: 'eq', field: 'a', value: Number.NaN })?.path).toBe('value');
    expect(one({ op: 'in', field: 'a', values: [] })).toEqual({
      path: 'values',
      message: 'values must list at least one value',
    });
    expect(one({ op: 'lt', field: 'a', value: Number.POSITIVE_INFINITY })).toEqual({
      path: 'value',
      message: 'range bounds must be finite numbers or strings',
    });
  });

  test('a null or non-object inside and/or is InvalidArgumentError, not a TypeError', () => {
    for (const inner of [null, 'eq', 3]) {
      expect(issues({ op: 'and', filters: [fresh.f.eq('a', 1), inner] })[0]?.path).toBe('filters.1');
    }
    expect(issues({ op: 'not', filter: null })[0]?.path).toBe('filter');
  });

  test('a filter nested too deep is refused at the exact path of the first clause beyond the limit', () => {
    let filter: Filter = fresh.f.eq('a', 1);
    for (let level = 2; level <= fresh.MAX_FILTER_DEPTH + 1; level++) {
      filter = level % 2 === 0 ? fresh.f.not(filter) : fresh.f.or(filter);
    }
    // From the root: or, not, or, … — 32 hops, every or adds its index.
    const hops = Array.from({ length: fresh.MAX_FILTER_DEPTH }, (_, i) => (i % 2 === 0 ? 'filters.0' : 'filter'));
    expect(issues(filter)).toEqual([
      {
        path: hops.join('.'),
        message:
          'filters nest at most 32 levels (a clause is level 1; each and, or and not adds one); flatten it, e.g. merge nested ands or use "in"',
      },
    ]);
  });

  test('the module loaded once in this file gives the same answers', () => {
    expect(parseFilter(fresh.f.eq('a', 1))).toEqual(fresh.f.eq('a', 1));
    expect(() => parseFilter({ op: 'like' })).toThrow(InvalidArgumentError);
  });
});
