/**
 * Translates kumiki's portable filter (docs/filters.md) into a Qdrant filter with exactly the same
 * semantics. Qdrant evaluates field conditions against every element of an array (one level), never
 * matches across JSON types (`match` on the string "1" ignores the number 1, integer `match` ignores
 * strings, booleans and non-integers, `range` ignores everything but numbers), treats a missing field
 * as matching no condition, and `is_empty` holds for a missing field, `null` and `[]`: the same
 * rules as kumiki's reference evaluator. Values travel as JSON values, never inside strings.
 */
import { UnsupportedFilterError } from '../../core/errors.js';
import type { Filter, FilterScalar } from '../../core/filter.js';

export type QdrantRange = { gt?: number; gte?: number; lt?: number; lte?: number };
export type QdrantFieldCondition = {
  key: string;
  match?: { value: string | number | boolean } | { any: string[] | number[] };
  range?: QdrantRange;
};
export type QdrantCondition = QdrantFieldCondition | { is_empty: { key: string } } | QdrantFilter;
export type QdrantFilter = { must?: QdrantCondition[]; should?: QdrantCondition[]; must_not?: QdrantCondition[] };

/** Payload key under which the caller's payload is stored; kumiki's own fields live beside it. */
export const DATA_KEY = 'data';
/** Payload key of kumiki's bookkeeping (original id, sort keys); never reachable from a filter. */
export const META_KEY = 'kumiki';

const BACKEND = 'qdrant';

/** A key segment Qdrant's JSON-path parser accepts unquoted (in every 1.x release). */
const PLAIN_SEGMENT = /^[A-Za-z_-][A-Za-z0-9_-]*$/;

/**
 * The Qdrant key of a kumiki field path. User payloads live under `data`, so no user field can reach
 * kumiki's own keys. Segments with other characters are quoted; Qdrant's quoted keys cannot contain
 * `"` or `\`, so such fields are refused.
 */
export function qdrantKey(field: string, clause: Filter): string {
  const segments = field.split('.').map((segment) => {
    if (PLAIN_SEGMENT.test(segment)) return segment;
    if (segment.includes('"') || segment.includes('\\')) {
      throw new UnsupportedFilterError({
        clause,
        backend: BACKEND,
        reason: `Qdrant payload keys cannot contain '"' or '\\' (field ${JSON.stringify(field)})`,
        component: BACKEND,
      });
    }
    return `"${segment}"`;
  });
  return [DATA_KEY, ...segments].join('.');
}

/** All of the conditions given (undefined ones left out). */
export function and(...conditions: (QdrantCondition | undefined)[]): QdrantFilter {
  return { must: conditions.filter((condition): condition is QdrantCondition => condition !== undefined) };
}

/**
 * What the translation must know about the collection: the Qdrant keys that carry an `integer`
 * payload index. Qdrant answers a range on such a key from the index, after casting each bound to
 * an integer with Rust's `as i64` (truncation toward zero: `gte 2019.5` would act as `gte 2019`;
 * lib/segment/src/index/field_index/numeric_index/mod.rs, `T::from_f64`), so bounds on them are
 * rounded to the exact integer bounds here.
 */
export type QdrantFilterContext = { integerKeys?: ReadonlySet<string> };

/** The native Qdrant filter for a kumiki filter. Throws `UnsupportedFilterError` for what Qdrant cannot express. */
export function toQdrantFilter(filter: Filter, context: QdrantFilterContext = {}): QdrantFilter {
  const condition = translate(filter, context.integerKeys ?? new Set());
  return isFilter(condition) ? condition : { must: [condition] };
}

function isFilter(condition: QdrantCondition): condition is QdrantFilter {
  return !('key' in condition) && !('is_empty' in condition);
}

function translate(node: Filter, integerKeys: ReadonlySet<string>): QdrantCondition {
  const range = (key: string, bounds: QdrantRange): QdrantFieldCondition => ({
    key,
    range: integerKeys.has(key) ? integerBounds(bounds) : bounds,
  });
  const equals = (key: string, value: FilterScalar): QdrantFieldCondition =>
    // Qdrant's `match` has no floats and its integer match only sees JSON integers, so safe integers
    // use `match` and every other number an exact range (`gte = lte`), which compares any JSON
    // number by value.
    typeof value === 'number' && !Number.isSafeInteger(value)
      ? range(key, { gte: value, lte: value })
      : { key, match: { value: typeof value === 'number' ? normalizeZero(value) : value } };
  /** Any of several scalars: one `match.any` per JSON type Qdrant can list, single matches for the rest. */
  const anyOf = (key: string, values: readonly FilterScalar[]): QdrantCondition => {
    const unique = distinct(values);
    const strings = unique.filter((value): value is string => typeof value === 'string');
    const integers = unique.filter(
      (value): value is number => typeof value === 'number' && Number.isSafeInteger(value),
    );
    const conditions: QdrantCondition[] = [];
    if (strings.length > 1) conditions.push({ key, match: { any: strings } });
    else if (strings.length === 1) conditions.push(equals(key, strings[0] as string));
    if (integers.length > 1) conditions.push({ key, match: { any: integers.map(normalizeZero) } });
    else if (integers.length === 1) conditions.push(equals(key, integers[0] as number));
    for (const value of unique) {
      if (typeof value === 'boolean' || (typeof value === 'number' && !Number.isSafeInteger(value))) {
        conditions.push(equals(key, value));
      }
    }
    return conditions.length === 1 ? (conditions[0] as QdrantCondition) : { should: conditions };
  };
  const visit = (node: Filter): QdrantCondition => {
    switch (node.op) {
      case 'and':
        return { must: node.filters.map(visit) };
      case 'or':
        return { should: node.filters.map(visit) };
      case 'not':
        return { must_not: [visit(node.filter)] };
      case 'eq':
        return equals(qdrantKey(node.field, node), node.value);
      case 'ne':
        return { must_not: [equals(qdrantKey(node.field, node), node.value)] };
      case 'in':
      case 'containsAny':
        return anyOf(qdrantKey(node.field, node), node.values);
      case 'nin':
        return { must_not: [anyOf(qdrantKey(node.field, node), node.values)] };
      case 'containsAll': {
        const key = qdrantKey(node.field, node);
        return { must: distinct(node.values).map((value) => equals(key, value)) };
      }
      case 'gt':
      case 'gte':
      case 'lt':
      case 'lte': {
        if (typeof node.value === 'string') {
          throw new UnsupportedFilterError({
            clause: node,
            backend: BACKEND,
            reason: 'Qdrant ranges compare numbers (and RFC 3339 datetimes), not strings; use a numeric field or eq/in',
            component: BACKEND,
          });
        }
        return range(qdrantKey(node.field, node), { [node.op]: normalizeZero(node.value) });
      }
      case 'exists':
        return { must_not: [{ is_empty: { key: qdrantKey(node.field, node) } }] };
    }
  };
  return visit(node);
}

/**
 * The same range with integer bounds, for a key with an integer index (see `QdrantFilterContext`):
 * `> 2019.5` and `>= 2019.5` become `>= 2020`, `< 2019.5` and `<= 2019.5` become `<= 2019`. Integer
 * bounds stay as they are; an empty interval (an equality with a fraction) stays empty.
 */
function integerBounds(bounds: QdrantRange): QdrantRange {
  const out: QdrantRange = {};
  const { gt, gte, lt, lte } = bounds;
  if (gt !== undefined) Object.assign(out, Number.isInteger(gt) ? { gt } : { gte: normalizeZero(Math.ceil(gt)) });
  if (gte !== undefined) out.gte = normalizeZero(Math.ceil(gte));
  if (lt !== undefined) Object.assign(out, Number.isInteger(lt) ? { lt } : { lte: normalizeZero(Math.floor(lt)) });
  if (lte !== undefined) out.lte = normalizeZero(Math.floor(lte));
  return out;
}

/** Values without repeats (Qdrant requires unique `match.any` lists); `0` and `-0` count as one. */
function distinct(values: readonly FilterScalar[]): FilterScalar[] {
  const seen = new Set<string>();
  return values.filter((value) => {
    const key = `${typeof value}:${String(value)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** JSON has no negative zero; keep the native form equal to what is sent. */
function normalizeZero(value: number): number {
  return value === 0 ? 0 : value;
}
