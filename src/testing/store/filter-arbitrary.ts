/** Random filters for the property tests of stores and filter compilers. */
import type * as FastCheck from 'fast-check';
import type { Arbitrary } from 'fast-check';
import type { Filter, FilterScalar } from '../../core/filter.js';

/**
 * Filters of every operator, with `and`/`or`/`not` nested, over the fields `field` gives: equality and
 * set operators compare with `scalar`, range operators with `bound`. `fc` is fast-check, handed in
 * because kumiki/testing loads it only when a property runs.
 */
export function filterArbitrary(
  fc: Pick<typeof FastCheck, 'letrec' | 'oneof' | 'record' | 'constantFrom' | 'constant' | 'array'>,
  {
    field,
    scalar,
    bound,
  }: { field: Arbitrary<string>; scalar: Arbitrary<FilterScalar>; bound: Arbitrary<number | string> },
): Arbitrary<Filter> {
  return fc.letrec<{ node: Filter }>((tie) => ({
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
        value: bound,
      }),
      fc.record({ op: fc.constant('exists' as const), field }),
      fc.record({
        op: fc.constantFrom('and' as const, 'or' as const),
        filters: fc.array(tie('node'), { minLength: 1, maxLength: 3 }),
      }),
      fc.record({ op: fc.constant('not' as const), filter: tie('node') }),
    ),
  })).node;
}
