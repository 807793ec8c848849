import { type Filter, type FilterScalar, parseFilter } from '../core/filter.js';
import { type JsonObject, type JsonValue, jsonObjectSchema } from '../core/types.js';
import { parseArgument } from '../core/validate.js';

/**
 * The reference evaluator: the executable definition of the filter semantics in docs/filters.md.
 * Every Store adapter must select exactly the records for which this returns true. Validates both
 * arguments (InvalidArgumentError on a malformed filter or a payload that is not JSON).
 */
export function evaluateFilter(filter: Filter, payload: JsonObject): boolean {
  return matchesFilter(parseFilter(filter), parseArgument(jsonObjectSchema, payload, 'payload'));
}

/** `evaluateFilter` without validation, for stores that validated the filter once per call. */
export function matchesFilter(filter: Filter, payload: JsonObject): boolean {
  switch (filter.op) {
    case 'and':
      return filter.filters.every((inner) => matchesFilter(inner, payload));
    case 'or':
      return filter.filters.some((inner) => matchesFilter(inner, payload));
    case 'not':
      return !matchesFilter(filter.filter, payload);
    case 'eq':
      return candidates(resolvePath(payload, filter.field)).some((value) => scalarEquals(value, filter.value));
    case 'ne':
      return !candidates(resolvePath(payload, filter.field)).some((value) => scalarEquals(value, filter.value));
    case 'in':
    case 'containsAny': {
      const values = candidates(resolvePath(payload, filter.field));
      return filter.values.some((wanted) => values.some((value) => scalarEquals(value, wanted)));
    }
    case 'nin': {
      const values = candidates(resolvePath(payload, filter.field));
      return !filter.values.some((wanted) => values.some((value) => scalarEquals(value, wanted)));
    }
    case 'containsAll': {
      const values = candidates(resolvePath(payload, filter.field));
      return filter.values.every((wanted) => values.some((value) => scalarEquals(value, wanted)));
    }
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      const bound = filter.value;
      const op = filter.op;
      return candidates(resolvePath(payload, filter.field)).some((value) => compare(value, bound, op));
    }
    case 'exists': {
      const value = resolvePath(payload, filter.field);
      return value !== undefined && value !== null && !(Array.isArray(value) && value.length === 0);
    }
  }
}

/**
 * Follows a dotted path through nested objects. Returns `undefined` when a key is missing or an
 * intermediate value is not a plain object (paths do not descend into arrays).
 */
export function resolvePath(payload: JsonObject, path: string): JsonValue | undefined {
  let current: JsonValue | undefined = payload;
  for (const key of path.split('.')) {
    if (current === null || typeof current !== 'object' || Array.isArray(current)) return undefined;
    if (!Object.hasOwn(current, key)) return undefined;
    current = current[key];
  }
  return current;
}

/** The values a field clause looks at: the elements of an array, the value itself otherwise. */
function candidates(value: JsonValue | undefined): JsonValue[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** Strict equality on scalars of the same JSON type; objects, arrays and null never equal a scalar. */
function scalarEquals(value: JsonValue, wanted: FilterScalar): boolean {
  return typeof value === typeof wanted && value === wanted;
}

function compare(value: JsonValue, bound: number | string, op: 'gt' | 'gte' | 'lt' | 'lte'): boolean {
  if (typeof value !== typeof bound || (typeof value !== 'number' && typeof value !== 'string')) return false;
  const left = value as number | string;
  switch (op) {
    case 'gt':
      return left > bound;
    case 'gte':
      return left >= bound;
    case 'lt':
      return left < bound;
    case 'lte':
      return left <= bound;
  }
}

/** Every field path a filter reads, e.g. for payload indexes. */
export function filterFields(filter: Filter): string[] {
  const parsed = parseFilter(filter);
  const fields = new Set<string>();
  const visit = (node: Filter): void => {
    if ('filters' in node) node.filters.forEach(visit);
    else if ('filter' in node) visit(node.filter);
    else fields.add(node.field);
  };
  visit(parsed);
  return [...fields];
}
