import type { Filter } from '../core/filter.js';
import type { JsonObject } from '../core/types.js';

/**
 * Payloads that exercise the edge cases of the filter semantics (docs/filters.md): missing fields,
 * nulls, empty arrays, arrays of mixed types, numbers vs numeric strings, nested keys, keys that
 * contain dots.
 */
export const FILTER_PAYLOADS: Readonly<Record<number, JsonObject>> = {
  1: { lang: 'en', year: 2020, score: 0.5, tags: ['a', 'b'], meta: { author: 'ann', stars: 5 }, flag: true },
  2: { lang: 'de', year: 2021, tags: ['b'], meta: { author: 'bob' }, flag: false },
  3: { lang: 'en', year: '2020', tags: [], meta: null, note: null },
  4: { year: 2019.5, tags: 'a', meta: { author: 'ann', stars: '5' } },
  5: { lang: 'EN', year: 2022, tags: ['c', 1, true], nested: { deep: { x: 1 } } },
  6: {},
  7: { 'dot.key': 1, lang: 'fr', tags: [['a']], year: -0 },
};

/** Each filter with the ids it must select from `FILTER_PAYLOADS`, as the semantics define. */
export const FILTER_CASES: readonly { name: string; filter: Filter; ids: number[] }[] = [
  { name: 'eq is case-sensitive', filter: { op: 'eq', field: 'lang', value: 'en' }, ids: [1, 3] },
  { name: 'eq number does not match numeric string', filter: { op: 'eq', field: 'year', value: 2020 }, ids: [1] },
  { name: 'eq string does not match number', filter: { op: 'eq', field: 'year', value: '2020' }, ids: [3] },
  { name: 'eq zero matches negative zero', filter: { op: 'eq', field: 'year', value: 0 }, ids: [7] },
  { name: 'eq float', filter: { op: 'eq', field: 'score', value: 0.5 }, ids: [1] },
  {
    name: 'eq on array matches any element; scalar field counts',
    filter: { op: 'eq', field: 'tags', value: 'a' },
    ids: [1, 4],
  },
  { name: 'eq number inside mixed array', filter: { op: 'eq', field: 'tags', value: 1 }, ids: [5] },
  { name: 'eq boolean inside mixed array', filter: { op: 'eq', field: 'tags', value: true }, ids: [5] },
  { name: 'eq boolean true', filter: { op: 'eq', field: 'flag', value: true }, ids: [1] },
  { name: 'eq boolean false', filter: { op: 'eq', field: 'flag', value: false }, ids: [2] },
  { name: 'ne matches missing fields', filter: { op: 'ne', field: 'lang', value: 'en' }, ids: [2, 4, 5, 6, 7] },
  { name: 'ne on array: no element equal', filter: { op: 'ne', field: 'tags', value: 'b' }, ids: [3, 4, 5, 6, 7] },
  { name: 'in', filter: { op: 'in', field: 'lang', values: ['en', 'de'] }, ids: [1, 2, 3] },
  { name: 'nin matches missing fields', filter: { op: 'nin', field: 'lang', values: ['en', 'de'] }, ids: [4, 5, 6, 7] },
  { name: 'gt numbers only', filter: { op: 'gt', field: 'year', value: 2020 }, ids: [2, 5] },
  { name: 'gte numbers only', filter: { op: 'gte', field: 'year', value: 2020 }, ids: [1, 2, 5] },
  { name: 'lt includes negative zero', filter: { op: 'lt', field: 'year', value: 2020 }, ids: [4, 7] },
  { name: 'lte fractional bound', filter: { op: 'lte', field: 'year', value: 2019.5 }, ids: [4, 7] },
  { name: 'gte string compares strings only', filter: { op: 'gte', field: 'year', value: '2020' }, ids: [3] },
  { name: 'lt string', filter: { op: 'lt', field: 'lang', value: 'e' }, ids: [2, 5] },
  { name: 'range on array: any element', filter: { op: 'gt', field: 'tags', value: 0 }, ids: [5] },
  { name: 'exists: null is not existing', filter: { op: 'exists', field: 'meta' }, ids: [1, 2, 4] },
  { name: 'exists: only null', filter: { op: 'exists', field: 'note' }, ids: [] },
  { name: 'exists: empty array is not existing', filter: { op: 'exists', field: 'tags' }, ids: [1, 2, 4, 5, 7] },
  { name: 'not exists', filter: { op: 'not', filter: { op: 'exists', field: 'tags' } }, ids: [3, 6] },
  { name: 'nested eq', filter: { op: 'eq', field: 'meta.author', value: 'ann' }, ids: [1, 4] },
  { name: 'nested number vs string', filter: { op: 'eq', field: 'meta.stars', value: 5 }, ids: [1] },
  { name: 'deep exists', filter: { op: 'exists', field: 'nested.deep.x' }, ids: [5] },
  { name: 'deep eq', filter: { op: 'eq', field: 'nested.deep.x', value: 1 }, ids: [5] },
  { name: 'a key containing a dot is not addressable', filter: { op: 'eq', field: 'dot.key', value: 1 }, ids: [] },
  { name: 'path through null is missing', filter: { op: 'exists', field: 'meta.author' }, ids: [1, 2, 4] },
  { name: 'containsAny', filter: { op: 'containsAny', field: 'tags', values: ['b', 'c'] }, ids: [1, 2, 5] },
  { name: 'containsAll', filter: { op: 'containsAll', field: 'tags', values: ['a', 'b'] }, ids: [1] },
  { name: 'containsAll on a scalar field', filter: { op: 'containsAll', field: 'tags', values: ['a'] }, ids: [1, 4] },
  {
    name: 'and',
    filter: {
      op: 'and',
      filters: [
        { op: 'eq', field: 'lang', value: 'en' },
        { op: 'gte', field: 'year', value: 2020 },
      ],
    },
    ids: [1],
  },
  {
    name: 'or',
    filter: {
      op: 'or',
      filters: [
        { op: 'eq', field: 'lang', value: 'de' },
        { op: 'eq', field: 'meta.author', value: 'ann' },
      ],
    },
    ids: [1, 2, 4],
  },
  { name: 'not', filter: { op: 'not', filter: { op: 'eq', field: 'lang', value: 'en' } }, ids: [2, 4, 5, 6, 7] },
  {
    name: 'double negation',
    filter: { op: 'not', filter: { op: 'not', filter: { op: 'eq', field: 'lang', value: 'en' } } },
    ids: [1, 3],
  },
];
