/**
 * Translates the portable filter language (docs/filters.md) into a SQL condition on the `payload`
 * jsonb column. Every field key and every value travels as a bind parameter; the SQL text holds only
 * fixed templates and `$n` placeholders, so no payload key or value can change a query's meaning.
 *
 * Equality clauses are jsonb containment of the whole payload: `payload @> {"a":{"b":v}}` holds when
 * the value at `a.b` (reached through objects only: containment never matches an object against an
 * array) is `v`, and `payload @> {"a":{"b":[v]}}` when it is an array with `v` among its elements,
 * comparing by JSON type and numbers by value. A GIN index on `payload` can serve them. Other
 * clauses read the field with `payload -> $k1 -> $k2 …` (SQL NULL when a key is missing or an
 * intermediate value is not an object: jsonb's text-key `->` never indexes arrays). Every leaf is a
 * two-valued boolean (`IS TRUE`, `EXISTS`, containment of a NOT NULL column), so `NOT` is an exact
 * complement.
 */
import { UnsupportedFilterError } from '../../core/errors.js';
import type { Filter, FilterScalar } from '../../core/filter.js';
import { storableString } from '../../core/json.js';

export const BACKEND = 'pgvector';

const RANGE_OPERATORS = { gt: '>', gte: '>=', lt: '<', lte: '<=' } as const;

/** Postgres's wire protocol counts a statement's bind parameters in 16 bits. */
export const MAX_BIND_PARAMETERS = 65_535;
/** Parameters a query binds after its filter's (cursor, limit); the vector ones come before and are counted. */
const QUERY_PARAMETERS_AFTER_FILTER = 2;

/**
 * Maps a string to one whose code-point order (`COLLATE "C"` compares UTF-8 bytes, i.e. code points)
 * equals JavaScript's UTF-16 code-unit order: characters above U+FFFF get a U+10FFFE prefix and
 * U+E000–U+FFFF a U+10FFFF prefix, so they sort as UTF-16 sorts them (U+0000–U+D7FF, then surrogate
 * pairs, then U+E000–U+FFFF). A fixed template: only `expression` varies, and it is a column or `$n`.
 */
function utf16Order(expression: string): string {
  return `(regexp_replace(regexp_replace(${expression}, '([\\U00010000-\\U0010FFFF])', E'\\U0010FFFE\\\\1', 'g'), '([\\uE000-\\uFFFF])', E'\\U0010FFFF\\\\1', 'g') COLLATE "C")`;
}

/**
 * Appends the SQL condition for `filter` to `params` (placeholders continue from `params.length`).
 * Throws `UnsupportedFilterError` for a string range bound Postgres text cannot hold (U+0000 or an
 * unpaired surrogate), and for a filter that needs more bind parameters than one Postgres statement
 * takes (about 32,000 `eq` clauses; an `in` list takes one parameter however long it is).
 */
export function filterToSql(filter: Filter, params: unknown[]): string {
  const bind = (value: unknown, cast: string): string => {
    params.push(value);
    return `$${params.length}::${cast}`;
  };
  /** The path's keys, or `undefined` when no stored payload can have them (upsert refuses such keys). */
  const keysOf = (path: string): string[] | undefined => {
    const keys = path.split('.');
    return keys.every(storableString) ? keys : undefined;
  };
  /** The field's jsonb value, or `undefined` when no stored payload can have it. */
  const fieldValue = (path: string): string | undefined => {
    const keys = keysOf(path);
    return keys && `(payload${keys.map((key) => ` -> ${bind(key, 'text')}`).join('')})`;
  };
  /** `{"k1":{"k2":inner}}` as JSON text (keys escaped by JSON.stringify): the shape containment looks for. */
  const nest = (keys: readonly string[], inner: string): string =>
    keys.reduceRight((json, key) => `{${JSON.stringify(key)}:${json}}`, inner);
  const jsonValues = (values: readonly FilterScalar[]): string[] =>
    values.filter((value) => typeof value !== 'string' || storableString(value)).map((value) => JSON.stringify(value));

  const translate = (node: Filter): string => {
    switch (node.op) {
      case 'and':
      case 'or':
        return `(${node.filters.map(translate).join(node.op === 'and' ? ' AND ' : ' OR ')})`;
      case 'not':
        return `NOT ${translate(node.filter)}`;
      case 'ne':
        return `NOT ${translate({ op: 'eq', field: node.field, value: node.value })}`;
      case 'nin':
        return `NOT ${translate({ op: 'in', field: node.field, values: node.values })}`;
      case 'eq': {
        // A value or key no payload can hold is never among the candidates.
        const [value] = jsonValues([node.value]);
        const keys = keysOf(node.field);
        if (keys === undefined || value === undefined) return 'FALSE';
        return `(payload @> ${bind(nest(keys, value), 'jsonb')} OR payload @> ${bind(nest(keys, `[${value}]`), 'jsonb')})`;
      }
      case 'in':
      case 'containsAny': {
        const values = jsonValues(node.values);
        const keys = keysOf(node.field);
        if (keys === undefined || values.length === 0) return 'FALSE';
        const shapes = values.flatMap((value) => [nest(keys, value), nest(keys, `[${value}]`)]);
        return `payload @> ANY(${bind(shapes, 'jsonb[]')})`;
      }
      case 'containsAll': {
        const values = jsonValues(node.values);
        const keys = keysOf(node.field);
        if (keys === undefined || values.length < node.values.length) return 'FALSE';
        // An array holding every value, or a scalar equal to each of them.
        const array = bind(nest(keys, `[${values.join(',')}]`), 'jsonb');
        return `(payload @> ${array} OR payload @> ALL(${bind(
          values.map((value) => nest(keys, value)),
          'jsonb[]',
        )}))`;
      }
      case 'exists': {
        const field = fieldValue(node.field);
        if (field === undefined) return 'FALSE';
        return `(${field} NOT IN ('null'::jsonb, '[]'::jsonb)) IS TRUE`;
      }
      case 'gt':
      case 'gte':
      case 'lt':
      case 'lte': {
        const operator = RANGE_OPERATORS[node.op];
        if (typeof node.value === 'string' && !storableString(node.value)) {
          throw new UnsupportedFilterError({
            clause: node,
            backend: BACKEND,
            reason: 'Postgres text cannot hold U+0000 or an unpaired surrogate, so this string cannot be a range bound',
            component: BACKEND,
          });
        }
        const field = fieldValue(node.field);
        if (field === undefined) return 'FALSE';
        if (typeof node.value === 'number') {
          const vars = bind(JSON.stringify({ bound: node.value }), 'jsonb');
          return `jsonb_path_exists(${field}, 'lax $ ? (@.type() == "number" && @ ${operator} $bound)', ${vars}) IS TRUE`;
        }
        const bound = bind(node.value, 'text');
        return `EXISTS (SELECT FROM jsonb_path_query(${field}, 'lax $ ? (@.type() == "string")') AS candidate(value) WHERE ${utf16Order(`(candidate.value #>> '{}')`)} ${operator} ${utf16Order(bound)})`;
      }
    }
  };
  const condition = translate(filter);
  if (params.length + QUERY_PARAMETERS_AFTER_FILTER > MAX_BIND_PARAMETERS) {
    throw new UnsupportedFilterError({
      clause: `(a filter needing ${params.length} bind parameters)`,
      backend: BACKEND,
      reason: `one Postgres statement takes at most ${MAX_BIND_PARAMETERS} bind parameters; list values with "in" or "containsAny" (one parameter per list) instead of many eq clauses, or split the query`,
      component: BACKEND,
    });
  }
  return condition;
}
