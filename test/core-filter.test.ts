/** Filter validation messages and paths (the evaluator and the depth limit: test/filter.test.ts). */
import { beforeEach, describe, expect, test, vi } from 'vitest';
import { InvalidArgumentError } from '../src/core/errors.js';
import { type Filter, f, parseFilter } from '../src/core/filter.js';

type FilterModule = typeof import('../src/core/filter.js');

/**
 * The filter schema is built lazily, on the first parse in a process. Each test loads the module
 * afresh, so what it checks is the schema as built in that test (mutation testing changes code only
 * while a test runs).
 */
let fresh: FilterModule;
beforeEach(async () => {
  vi.resetModules();
  fresh = await import('../src/core/filter.js');
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
      f.eq('a', 'x'),
      f.ne('a', 1),
      f.in('a', ['x', 2]),
      f.nin('a', [true]),
      f.gt('n', 1),
      f.gte('n', 'b'),
      f.lt('n', 2.5),
      f.lte('n', -1),
      f.exists('meta.author'),
      f.containsAny('tags', ['x']),
      f.containsAll('tags', ['x', 'y']),
      f.and(f.eq('a', 1), f.eq('b', 2), f.eq('c', 3)),
      f.or(f.eq('a', 1), f.exists('b')),
      f.not(f.eq('a', 1)),
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
    expect(issues(f.and(f.eq('a', 1), { op: 'gt', field: 'n', value: true } as never))).toEqual([
      { path: 'filters.1.value', message: 'range bounds must be finite numbers or strings' },
    ]);
    expect(issues(f.not({ op: 'or', filters: [] }))).toEqual([
      { path: 'filter.filters', message: 'and/or need at least one filter' },
    ]);
  });

  test('a null or non-object inside and/or is InvalidArgumentError, not a TypeError', () => {
    for (const inner of [null, 'eq', 3]) {
      expect(issues({ op: 'and', filters: [f.eq('a', 1), inner] })[0]?.path).toBe('filters.1');
    }
    expect(issues({ op: 'not', filter: null })[0]?.path).toBe('filter');
  });

  test('a filter nested too deep is refused at the exact path of the first clause beyond the limit', () => {
    let filter: Filter = f.eq('a', 1);
    for (let level = 2; level <= fresh.MAX_FILTER_DEPTH + 1; level++) {
      filter = level % 2 === 0 ? f.not(filter) : f.or(filter);
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
    expect(parseFilter(f.eq('a', 1))).toEqual(f.eq('a', 1));
    expect(() => parseFilter({ op: 'like' })).toThrow(InvalidArgumentError);
  });
});
