import * as z from 'zod/mini';
import { parseArgument } from './validate.js';

/**
 * The portable filter language. A filter is plain JSON (so it can cross HTTP), validated by zod,
 * evaluated by the reference evaluator and translated natively by every Store adapter.
 * Semantics are specified in docs/filters.md; `evaluateFilter` is their executable definition.
 */

/** A value a filter compares against. `null` is not a comparable value: use `exists`. */
export type FilterScalar = string | number | boolean;

export type FieldFilter =
  | { op: 'eq' | 'ne'; field: string; value: FilterScalar }
  | { op: 'in' | 'nin'; field: string; values: FilterScalar[] }
  | { op: 'gt' | 'gte' | 'lt' | 'lte'; field: string; value: number | string }
  | { op: 'exists'; field: string }
  | { op: 'containsAny' | 'containsAll'; field: string; values: FilterScalar[] };

export type Filter = FieldFilter | { op: 'and' | 'or'; filters: Filter[] } | { op: 'not'; filter: Filter };

export type FilterOperator = Filter['op'];

export const FILTER_OPERATORS = [
  'eq',
  'ne',
  'in',
  'nin',
  'gt',
  'gte',
  'lt',
  'lte',
  'exists',
  'containsAny',
  'containsAll',
  'and',
  'or',
  'not',
] as const satisfies readonly FilterOperator[];

/** Dotted path into the payload: non-empty segments separated by single dots. */
const field = z
  .string()
  .check(
    z.minLength(1, 'field must not be empty'),
    z.regex(/^[^.]+(\.[^.]+)*$/, 'field must be dot-separated non-empty keys, e.g. "meta.author"'),
  );

// zod 4's number() refuses NaN and ±Infinity itself.
const finite = z.number();
const scalar = z.union([z.string(), finite, z.boolean()], {
  error: 'filter values must be strings, finite numbers or booleans (use "exists" to test for null or missing)',
});
const scalars = z.array(scalar).check(z.minLength(1, 'values must list at least one value'));

/**
 * Deepest nesting of a filter: a field clause is level 1, each `and`, `or` or `not` around it adds one.
 * Keeps every translation within what the backends parse (Qdrant's JSON, Milvus's expression plans).
 */
export const MAX_FILTER_DEPTH = 32;

/**
 * Measures a filter's nesting without recursion (a filter nested thousands deep, or a cyclic object,
 * must give `InvalidArgumentError`, not a stack overflow): the path of the first node deeper than
 * `MAX_FILTER_DEPTH`, if any. Only `filters` and `filter` lead deeper; the schema checks the rest.
 */
function tooDeep(filter: unknown): (string | number)[] | undefined {
  const stack: { node: unknown; path: (string | number)[] }[] = [{ node: filter, path: [] }];
  while (stack.length > 0) {
    const { node, path } = stack.pop() as { node: unknown; path: (string | number)[] };
    if (typeof node !== 'object' || node === null) continue;
    const depth = path.filter((segment) => segment === 'filters' || segment === 'filter').length + 1;
    if (depth > MAX_FILTER_DEPTH) return path;
    const { filters, filter: inner } = node as { filters?: unknown; filter?: unknown };
    if (Array.isArray(filters)) {
      for (const [i, child] of filters.entries()) stack.push({ node: child, path: [...path, 'filters', i] });
    }
    if (inner !== undefined) stack.push({ node: inner, path: [...path, 'filter'] });
  }
  return undefined;
}

const filterNode: z.ZodMiniType<Filter> = z.lazy(() =>
  z.discriminatedUnion(
    'op',
    [
      z.strictObject({ op: z.enum(['eq', 'ne']), field, value: scalar }),
      z.strictObject({ op: z.enum(['in', 'nin']), field, values: scalars }),
      z.strictObject({
        op: z.enum(['gt', 'gte', 'lt', 'lte']),
        field,
        value: z.union([finite, z.string()], { error: 'range bounds must be finite numbers or strings' }),
      }),
      z.strictObject({ op: z.literal('exists'), field }),
      z.strictObject({ op: z.enum(['containsAny', 'containsAll']), field, values: scalars }),
      z.strictObject({
        op: z.enum(['and', 'or']),
        filters: z.array(filterNode).check(z.minLength(1, 'and/or need at least one filter')),
      }),
      z.strictObject({ op: z.literal('not'), filter: filterNode }),
    ],
    { error: `op must be one of: ${FILTER_OPERATORS.join(', ')}` },
  ),
);

/** A filter: its nesting is checked first (see `MAX_FILTER_DEPTH`), then its clauses. */
export const filterSchema: z.ZodMiniType<Filter> = z.pipe(
  z.unknown().check(
    z.superRefine((value, ctx) => {
      const path = tooDeep(value);
      if (path === undefined) return;
      ctx.addIssue({
        code: 'custom',
        path,
        message: `filters nest at most ${MAX_FILTER_DEPTH} levels (a clause is level 1; each and, or and not adds one); flatten it, e.g. merge nested ands or use "in"`,
        abort: true,
      });
    }),
  ),
  filterNode,
);

/** Validates a filter, throwing `InvalidArgumentError` that names the offending clause path. */
export function parseFilter(filter: unknown): Filter {
  return parseArgument(filterSchema, filter, 'filter');
}

/** Builders for filters, e.g. `f.and(f.eq('lang', 'en'), f.gte('year', 2020))`. */
export const f = {
  eq: (field: string, value: FilterScalar): Filter => ({ op: 'eq', field, value }),
  ne: (field: string, value: FilterScalar): Filter => ({ op: 'ne', field, value }),
  in: (field: string, values: FilterScalar[]): Filter => ({ op: 'in', field, values }),
  nin: (field: string, values: FilterScalar[]): Filter => ({ op: 'nin', field, values }),
  gt: (field: string, value: number | string): Filter => ({ op: 'gt', field, value }),
  gte: (field: string, value: number | string): Filter => ({ op: 'gte', field, value }),
  lt: (field: string, value: number | string): Filter => ({ op: 'lt', field, value }),
  lte: (field: string, value: number | string): Filter => ({ op: 'lte', field, value }),
  exists: (field: string): Filter => ({ op: 'exists', field }),
  containsAny: (field: string, values: FilterScalar[]): Filter => ({ op: 'containsAny', field, values }),
  containsAll: (field: string, values: FilterScalar[]): Filter => ({ op: 'containsAll', field, values }),
  and: (...filters: Filter[]): Filter => ({ op: 'and', filters }),
  or: (...filters: Filter[]): Filter => ({ op: 'or', filters }),
  not: (filter: Filter): Filter => ({ op: 'not', filter }),
};
