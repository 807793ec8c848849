/**
 * The portable filter language on Milvus.
 *
 * Milvus's JSON expressions cannot state kumiki's semantics directly: a comparison on a JSON array
 * does not mean "any element", strings compare by UTF-8 byte rather than UTF-16 code unit, and
 * user-chosen key names inside `payload["…"]` would need escaping whose accepted forms differ
 * between Milvus releases. So
 * every record carries, next to its `payload` (returned unchanged), a second JSON field `terms`
 * that the adapter derives from the payload on write: a flat object whose keys are opaque tokens
 * (`t` + 32 hex digits of SHA-256 over the field path and the fact) and whose values are:
 *
 * - `true` under the token of each (path, JSON type, value) a clause can equal: the candidate values
 *   of docs/filters.md (array elements, or the scalar itself);
 * - `true` under the token of each path that `exists` (present, not null, not an empty array);
 * - per path and type (number, string), the smallest and largest candidate under range tokens, or
 *   the only candidate under a third token, always as a string: strings in `orderKey` form (so that
 *   Milvus's byte order is UTF-16 order) and numbers in `numberKey` form (so that every double
 *   compares exactly: Milvus parses a JSON integer as int64, and `JSON.stringify` writes 2^60 as
 *   1152921504606847000, which is not 2^60).
 *
 * Filters then become expressions over `terms` using only `== true`, `<`, `<=`, `>`, `>=`, `and`,
 * `or`, `not`; `gt` is "the only candidate, or the largest, is greater". Tokens are lowercase hex
 * and compared values travel as expression template values (`exprValues`), so no user string ever
 * enters the expression text.
 */
import { createHash } from 'node:crypto';
import type { Filter, FilterScalar } from '../../core/filter.js';
import type { JsonObject, JsonValue } from '../../core/types.js';
import { orderKey } from './keys.js';

/** The JSON field holding the derived filter terms. */
export const TERMS_FIELD = 'terms';

type Fact =
  | { kind: 'value'; value: FilterScalar }
  | { kind: 'exists' }
  | { kind: 'bound'; type: 'number' | 'string'; side: 'min' | 'max' | 'one' };

function token(path: string, fact: Fact): string {
  const parts =
    fact.kind === 'value'
      ? // String() of a number is its shortest exact form (`-0` gives "0"): equal values, one token.
        ['v', path, typeof fact.value, String(fact.value)]
      : fact.kind === 'exists'
        ? ['e', path]
        : ['b', path, fact.type, fact.side];
  // node:crypto rather than kumiki's portable SHA-256: every write hashes each candidate value.
  return `t${createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32)}`;
}

function isScalar(value: JsonValue): value is FilterScalar {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

/** Builds the `terms` object of a payload (see the module comment). */
export function payloadTerms(payload: JsonObject): Record<string, true | string> {
  const terms: Record<string, true | string> = {};
  const visit = (object: JsonObject, prefix: string): void => {
    for (const key of Object.keys(object)) {
      // A key containing a dot cannot be addressed by a dotted path, nor can anything below it.
      if (key.includes('.')) continue;
      const path = prefix === '' ? key : `${prefix}.${key}`;
      const value = object[key] as JsonValue;
      if (value === null) continue;
      if (Array.isArray(value)) {
        if (value.length === 0) continue;
        terms[token(path, { kind: 'exists' })] = true;
        addCandidates(terms, path, value.filter(isScalar));
      } else if (typeof value === 'object') {
        terms[token(path, { kind: 'exists' })] = true;
        visit(value, path);
      } else {
        terms[token(path, { kind: 'exists' })] = true;
        addCandidates(terms, path, [value]);
      }
    }
  };
  visit(payload, '');
  return terms;
}

function addCandidates(terms: Record<string, true | string>, path: string, values: FilterScalar[]): void {
  const numbers: number[] = [];
  const strings: string[] = [];
  for (const value of values) {
    terms[token(path, { kind: 'value', value })] = true;
    if (typeof value === 'number') numbers.push(value);
    else if (typeof value === 'string') strings.push(value);
  }
  addBounds(terms, path, 'number', numbers.map(numberKey));
  addBounds(terms, path, 'string', strings.map(orderKey));
}

/**
 * 16 lowercase hex digits whose byte order is the numeric order of finite doubles: the IEEE 754 bits
 * with the sign bit set for non-negative numbers and all bits flipped for negative ones. `-0` is `0`.
 */
export function numberKey(value: number): string {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, value === 0 ? 0 : value);
  const bits = view.getBigUint64(0);
  const ordered = bits >> 63n ? ~bits & 0xffff_ffff_ffff_ffffn : bits | 0x8000_0000_0000_0000n;
  return ordered.toString(16).padStart(16, '0');
}

/**
 * Stores the smallest and largest candidate of one type, or, when there is exactly one (the common
 * scalar case), that value once under the `one` token so long strings are not stored twice more.
 * `orderKey` and `numberKey` preserve order, so bounds of keys are keys of bounds.
 */
function addBounds(
  terms: Record<string, true | string>,
  path: string,
  type: 'number' | 'string',
  values: string[],
): void {
  const [first] = values;
  if (first === undefined) return;
  if (values.length === 1) {
    terms[token(path, { kind: 'bound', type, side: 'one' })] = first;
    return;
  }
  let min = first;
  let max = first;
  for (const value of values) {
    if (value < min) min = value;
    if (value > max) max = value;
  }
  terms[token(path, { kind: 'bound', type, side: 'min' })] = min;
  terms[token(path, { kind: 'bound', type, side: 'max' })] = max;
}

/** A Milvus boolean expression with its template values. */
export type MilvusExpression = { expr: string; exprValues: Record<string, string | number | boolean | string[]> };

/** Translates a validated filter into a Milvus expression over `terms` (every operator is supported). */
export function translateFilter(filter: Filter): MilvusExpression {
  const exprValues: Record<string, string | number | boolean> = {};
  let next = 0;
  const bind = (value: string): string => {
    const name = `v${next++}`;
    exprValues[name] = value;
    return `{${name}}`;
  };
  const has = (path: string, fact: Fact): string => `${TERMS_FIELD}["${token(path, fact)}"] == true`;
  const valueTerms = (path: string, values: FilterScalar[]): string[] => [
    ...new Set(values.map((value) => has(path, { kind: 'value', value }))),
  ];
  const group = (parts: string[], joiner: string): string =>
    parts.length === 1 ? (parts[0] as string) : `(${parts.join(` ${joiner} `)})`;
  const visit = (node: Filter): string => {
    switch (node.op) {
      case 'and':
      case 'or':
        return group(node.filters.map(visit), node.op);
      case 'not':
        return `not (${visit(node.filter)})`;
      case 'eq':
        return has(node.field, { kind: 'value', value: node.value });
      case 'ne':
        return `not (${has(node.field, { kind: 'value', value: node.value })})`;
      case 'in':
      case 'containsAny':
        return group(valueTerms(node.field, node.values), 'or');
      case 'nin':
        return `not (${valueTerms(node.field, node.values).join(' or ')})`;
      case 'containsAll':
        return group(valueTerms(node.field, node.values), 'and');
      case 'exists':
        return has(node.field, { kind: 'exists' });
      case 'gt':
      case 'gte':
      case 'lt':
      case 'lte': {
        const type = typeof node.value === 'number' ? 'number' : 'string';
        const side = node.op === 'gt' || node.op === 'gte' ? 'max' : 'min';
        const operator = { gt: '>', gte: '>=', lt: '<', lte: '<=' }[node.op];
        const value = bind(typeof node.value === 'number' ? numberKey(node.value) : orderKey(node.value));
        const bound = (which: 'one' | 'min' | 'max') =>
          `${TERMS_FIELD}["${token(node.field, { kind: 'bound', type, side: which })}"] ${operator} ${value}`;
        return `(${bound('one')} or ${bound(side)})`;
      }
    }
  };
  return { expr: visit(filter), exprValues };
}
