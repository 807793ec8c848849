/**
 * Filters of the memory store, compiled once per call: a predicate over a payload (closures with the
 * field paths split and the constants prepared, no per-record dispatch on the AST), and payload
 * indexes (one typed column per indexed field) that answer field clauses for every record at once
 * as a byte mask. Both select exactly what the reference evaluator (`matchesFilter`) selects; the
 * differential tests in test/memory-filters.test.ts compare them on random data and filters.
 */

import type { FieldFilter, Filter, FilterScalar } from '../../core/filter.js';
import type { JsonObject, JsonValue } from '../../core/types.js';

export type Predicate = (payload: JsonObject) => boolean;

const hasOwn = Object.prototype.hasOwnProperty;

/** `resolvePath` of the reference evaluator, with the path split once. */
function resolver(field: string): (payload: JsonObject) => JsonValue | undefined {
  const keys = field.split('.');
  if (keys.length === 1) {
    const key = keys[0] as string;
    return (payload) => (hasOwn.call(payload, key) ? payload[key] : undefined);
  }
  return (payload) => {
    let current: JsonValue | undefined = payload;
    for (const key of keys) {
      if (current === null || typeof current !== 'object' || Array.isArray(current)) return undefined;
      if (!hasOwn.call(current, key)) return undefined;
      current = (current as JsonObject)[key];
    }
    return current;
  };
}

/** Does any candidate (the elements of an array, else the value itself) satisfy `test`? */
function anyCandidate(value: JsonValue | undefined, test: (scalar: JsonValue) => boolean): boolean {
  if (value === undefined) return false;
  if (Array.isArray(value)) {
    for (const element of value) if (test(element)) return true;
    return false;
  }
  return test(value);
}

/** Exact scalar equality sets: a value matches when it has the same JSON type and value. */
class ScalarSet {
  readonly strings = new Set<string>();
  readonly numbers = new Set<number>();
  readonly booleans = new Set<boolean>();
  readonly size: number;
  constructor(values: readonly FilterScalar[]) {
    for (const value of values) {
      if (typeof value === 'string') this.strings.add(value);
      else if (typeof value === 'number') this.numbers.add(value);
      else this.booleans.add(value);
    }
    this.size = this.strings.size + this.numbers.size + this.booleans.size;
  }
  has(value: JsonValue): boolean {
    switch (typeof value) {
      case 'string':
        return this.strings.has(value);
      case 'number':
        // Set uses SameValueZero: -0 and 0 are one key, as `===` treats them.
        return this.numbers.has(value);
      case 'boolean':
        return this.booleans.has(value);
      default:
        return false;
    }
  }
}

function rangeTest(op: 'gt' | 'gte' | 'lt' | 'lte', bound: number | string): (value: JsonValue) => boolean {
  const type = typeof bound;
  switch (op) {
    case 'gt':
      return (value) => typeof value === type && (value as number | string) > bound;
    case 'gte':
      return (value) => typeof value === type && (value as number | string) >= bound;
    case 'lt':
      return (value) => typeof value === type && (value as number | string) < bound;
    case 'lte':
      return (value) => typeof value === type && (value as number | string) <= bound;
  }
}

/** The test a field clause applies to one scalar candidate, and whether the clause negates "any". */
function clauseTest(filter: FieldFilter): { test: (value: JsonValue) => boolean; negate: boolean } | undefined {
  switch (filter.op) {
    case 'eq':
    case 'ne': {
      const wanted = filter.value;
      return { test: (value) => value === wanted && typeof value === typeof wanted, negate: filter.op === 'ne' };
    }
    case 'in':
    case 'nin':
    case 'containsAny': {
      const set = new ScalarSet(filter.values);
      return { test: (value) => set.has(value), negate: filter.op === 'nin' };
    }
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      return { test: rangeTest(filter.op, filter.value), negate: false };
    default:
      return undefined;
  }
}

/** Compiles a (validated) filter into a predicate equivalent to `matchesFilter(filter, payload)`. */
export function compilePredicate(filter: Filter): Predicate {
  switch (filter.op) {
    case 'and': {
      const parts = filter.filters.map(compilePredicate);
      if (parts.length === 1) return parts[0] as Predicate;
      return (payload) => {
        for (const part of parts) if (!part(payload)) return false;
        return true;
      };
    }
    case 'or': {
      const parts = filter.filters.map(compilePredicate);
      if (parts.length === 1) return parts[0] as Predicate;
      return (payload) => {
        for (const part of parts) if (part(payload)) return true;
        return false;
      };
    }
    case 'not': {
      const inner = compilePredicate(filter.filter);
      return (payload) => !inner(payload);
    }
    case 'exists': {
      const resolve = resolver(filter.field);
      return (payload) => {
        const value = resolve(payload);
        return value !== undefined && value !== null && !(Array.isArray(value) && value.length === 0);
      };
    }
    case 'containsAll': {
      const resolve = resolver(filter.field);
      const wanted = filter.values;
      return (payload) => {
        const value = resolve(payload);
        if (value === undefined) return false;
        const values = Array.isArray(value) ? value : [value];
        return wanted.every((want) => values.some((v) => v === want && typeof v === typeof want));
      };
    }
    default: {
      const resolve = resolver(filter.field);
      const { test, negate } = clauseTest(filter) as { test: (value: JsonValue) => boolean; negate: boolean };
      return negate
        ? (payload) => !anyCandidate(resolve(payload), test)
        : (payload) => anyCandidate(resolve(payload), test);
    }
  }
}

// Kinds of a row's value in a payload index.
const ABSENT = 0; // missing, null or [] (`exists` is false; no clause but `ne`/`nin`/`not` matches)
const STRING = 1;
const NUMBER = 2;
const BOOLEAN = 3;
const OTHER = 4; // a non-empty array or an object: clauses evaluate the payload itself

/**
 * A payload index: the value of one field for every row, as typed columns (kind, dictionary code of
 * a string, number or boolean), so that a clause on the field is a loop over typed arrays. Rows move
 * with the collection's rows (swap-remove).
 */
export class PayloadIndex {
  readonly field: string;
  private readonly resolve: (payload: JsonObject) => JsonValue | undefined;
  private kinds = new Uint8Array(64);
  private codes = new Int32Array(64);
  private numbers = new Float64Array(64);
  private readonly dictionary = new Map<string, number>();
  private readonly strings: string[] = [];
  /** Rows of kind OTHER (arrays, objects), for the clauses that must look at the payload. */
  private others = 0;
  size = 0;

  constructor(field: string) {
    this.field = field;
    this.resolve = resolver(field);
  }

  /** Bytes held by the columns. */
  get bytes(): number {
    return this.kinds.byteLength + this.codes.byteLength + this.numbers.byteLength;
  }

  set(row: number, payload: JsonObject): void {
    if (row >= this.kinds.length) this.grow(row + 1);
    if (row >= this.size) this.size = row + 1;
    if (this.kinds[row] === OTHER) this.others--;
    const value = this.resolve(payload);
    if (value === undefined || value === null || (Array.isArray(value) && value.length === 0)) {
      this.kinds[row] = ABSENT;
    } else if (typeof value === 'string') {
      let code = this.dictionary.get(value);
      if (code === undefined) {
        code = this.strings.length;
        this.strings.push(value);
        this.dictionary.set(value, code);
      }
      this.kinds[row] = STRING;
      this.codes[row] = code;
    } else if (typeof value === 'number') {
      this.kinds[row] = NUMBER;
      this.numbers[row] = value;
    } else if (typeof value === 'boolean') {
      this.kinds[row] = BOOLEAN;
      this.numbers[row] = value ? 1 : 0;
    } else {
      this.kinds[row] = OTHER;
      this.others++;
    }
  }

  move(from: number, to: number): void {
    if (this.kinds[to] === OTHER) this.others--;
    this.kinds[to] = this.kinds[from] as number;
    this.codes[to] = this.codes[from] as number;
    this.numbers[to] = this.numbers[from] as number;
    this.kinds[from] = ABSENT;
  }

  truncate(size: number): void {
    for (let row = size; row < this.size; row++) {
      if (this.kinds[row] === OTHER) this.others--;
      this.kinds[row] = ABSENT;
    }
    this.size = size;
  }

  private grow(rows: number): void {
    const capacity = Math.max(rows, this.kinds.length * 2);
    const kinds = new Uint8Array(capacity);
    kinds.set(this.kinds);
    const codes = new Int32Array(capacity);
    codes.set(this.codes);
    const numbers = new Float64Array(capacity);
    numbers.set(this.numbers);
    this.kinds = kinds;
    this.codes = codes;
    this.numbers = numbers;
  }

  /**
   * Evaluates a clause on this field for rows whose `mask` byte is 1, clearing the byte of every row
   * the clause rejects (an AND into the mask). `payloads` serves the rows whose value is an array or
   * an object, checked with `slow`, the clause's compiled predicate.
   */
  refine(filter: FieldFilter, mask: Uint8Array, payloads: readonly JsonObject[], slow: Predicate): void {
    const n = this.size;
    const kinds = this.kinds;
    const codes = this.codes;
    const numbers = this.numbers;
    const others = this.others > 0;
    // A per-kind answer: for strings a table over dictionary codes, for booleans a table over 0/1, for
    // numbers an interval [lo, hi] (bounds open or closed) or a set, then negated or not.
    let stringTable = new Uint8Array(this.strings.length);
    const booleanTable = new Uint8Array(2);
    let numberSet: Set<number> | undefined;
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    let loOpen = false;
    let hiOpen = false;
    let negate = false;
    if (filter.op === 'exists') {
      for (let row = 0; row < n; row++) if (kinds[row] === ABSENT) mask[row] = 0;
      return;
    }
    const scalars = (op: 'any' | 'none', values: readonly FilterScalar[]) => {
      const set = new ScalarSet(values);
      for (const value of set.strings) {
        const code = this.dictionary.get(value);
        if (code !== undefined) stringTable[code] = 1;
      }
      for (const value of set.booleans) booleanTable[value ? 1 : 0] = 1;
      if (set.numbers.size === 1) {
        lo = hi = [...set.numbers][0] as number;
      } else if (set.numbers.size > 1) {
        numberSet = set.numbers;
      }
      negate = op === 'none';
    };
    switch (filter.op) {
      case 'eq':
        scalars('any', [filter.value]);
        break;
      case 'ne':
        scalars('none', [filter.value]);
        break;
      case 'in':
      case 'containsAny':
        scalars('any', filter.values);
        break;
      case 'nin':
        scalars('none', filter.values);
        break;
      case 'containsAll': {
        // A single scalar contains all wanted values only when they are all that one value.
        const set = new ScalarSet(filter.values);
        scalars('any', set.size === 1 ? filter.values : []);
        break;
      }
      default: {
        const op = filter.op;
        const bound = filter.value;
        if (typeof bound === 'number') {
          if (op === 'gt' || op === 'gte') {
            lo = bound;
            hi = Number.POSITIVE_INFINITY;
            loOpen = op === 'gt';
          } else {
            lo = Number.NEGATIVE_INFINITY;
            hi = bound;
            hiOpen = op === 'lt';
          }
        } else {
          const test = rangeTest(op, bound);
          stringTable = Uint8Array.from(this.strings, (text) => (test(text) ? 1 : 0));
        }
      }
    }
    const hit = negate ? 0 : 1;
    const miss = 1 - hit;
    for (let row = 0; row < n; row++) {
      if (mask[row] === 0) continue;
      const kind = kinds[row] as number;
      let found: number;
      if (kind === STRING) found = stringTable[codes[row] as number] as number;
      else if (kind === NUMBER) {
        const value = numbers[row] as number;
        found =
          numberSet !== undefined
            ? numberSet.has(value)
              ? 1
              : 0
            : (loOpen ? value > lo : value >= lo) && (hiOpen ? value < hi : value <= hi)
              ? 1
              : 0;
      } else if (kind === BOOLEAN) found = booleanTable[numbers[row] as number] as number;
      else if (kind === ABSENT) found = 0;
      else {
        // An array or an object: the clause's own predicate decides, negation included.
        if (!(others && slow(payloads[row] as JsonObject))) mask[row] = 0;
        continue;
      }
      if (found === miss) mask[row] = 0;
    }
  }
}

/** How a filter is evaluated, as `explain()` shows it. */
export type FilterPlanNode =
  | { op: 'and' | 'or'; filters: FilterPlanNode[] }
  | { op: 'not'; filter: FilterPlanNode }
  | { op: FieldFilter['op']; field: string; access: 'index' | 'scan' };

/** A filter compiled against a collection's payload indexes. */
export class CompiledFilter {
  readonly plan: FilterPlanNode;
  private readonly run: (mask: Uint8Array, n: number, payloads: readonly JsonObject[]) => void;
  /** True when every field clause is answered by a payload index. */
  readonly indexed: boolean;

  constructor(filter: Filter, indexes: ReadonlyMap<string, PayloadIndex>) {
    let indexed = true;
    type Built = { plan: FilterPlanNode; run: (mask: Uint8Array, n: number, payloads: readonly JsonObject[]) => void };
    /** A subtree no index helps with: one compiled predicate per row, short-circuiting like the reference. */
    const scan = (node: Filter): Built => {
      const test = compilePredicate(node);
      const planOf = (inner: Filter): FilterPlanNode =>
        'filters' in inner
          ? { op: inner.op, filters: inner.filters.map(planOf) }
          : 'filter' in inner
            ? { op: 'not', filter: planOf(inner.filter) }
            : { op: inner.op, field: inner.field, access: 'scan' };
      return {
        plan: planOf(node),
        run: (mask, n, payloads) => {
          for (let row = 0; row < n; row++) {
            if (mask[row] === 1 && !test(payloads[row] as JsonObject)) mask[row] = 0;
          }
        },
      };
    };
    const usesIndex = (node: Filter): boolean =>
      'filters' in node
        ? node.filters.some(usesIndex)
        : 'filter' in node
          ? usesIndex(node.filter)
          : indexes.has(node.field);
    const build = (node: Filter): Built => {
      if (!usesIndex(node)) {
        indexed = false;
        return scan(node);
      }
      switch (node.op) {
        case 'and': {
          const parts = node.filters.map(build);
          // Index clauses first: they are cheap and shrink what the scans look at.
          const ordered = [
            ...parts.filter((p) => 'access' in p.plan && p.plan.access === 'index'),
            ...parts.filter((p) => !('access' in p.plan && p.plan.access === 'index')),
          ];
          return {
            plan: { op: 'and', filters: ordered.map((p) => p.plan) },
            run: (mask, n, payloads) => {
              for (const part of ordered) part.run(mask, n, payloads);
            },
          };
        }
        case 'or': {
          const parts = node.filters.map(build);
          return {
            plan: { op: 'or', filters: parts.map((p) => p.plan) },
            run: (mask, n, payloads) => {
              const union = new Uint8Array(n);
              const part = new Uint8Array(n);
              for (const child of parts) {
                part.set(mask.subarray(0, n));
                // Rows already in the union need no further test.
                for (let row = 0; row < n; row++) if (union[row] === 1) part[row] = 0;
                child.run(part, n, payloads);
                for (let row = 0; row < n; row++) union[row] = (union[row] as number) | (part[row] as number);
              }
              mask.set(union);
            },
          };
        }
        case 'not': {
          const inner = build(node.filter);
          return {
            plan: { op: 'not', filter: inner.plan },
            run: (mask, n, payloads) => {
              const part = mask.slice(0, n);
              inner.run(part, n, payloads);
              for (let row = 0; row < n; row++) if (part[row] === 1) mask[row] = 0;
            },
          };
        }
        default: {
          const slow = compilePredicate(node);
          const index = indexes.get(node.field);
          if (index) {
            return {
              plan: { op: node.op, field: node.field, access: 'index' },
              run: (mask, _n, payloads) => index.refine(node, mask, payloads, slow),
            };
          }
          indexed = false;
          return {
            plan: { op: node.op, field: node.field, access: 'scan' },
            run: (mask, n, payloads) => {
              for (let row = 0; row < n; row++) {
                if (mask[row] === 1 && !slow(payloads[row] as JsonObject)) mask[row] = 0;
              }
            },
          };
        }
      }
    };
    const { plan, run } = build(filter);
    this.plan = plan;
    this.run = run;
    this.indexed = indexed;
  }

  /** A byte per row: 1 where the filter matches. */
  mask(n: number, payloads: readonly JsonObject[]): Uint8Array {
    const mask = new Uint8Array(n).fill(1);
    if (n > 0) this.run(mask, n, payloads);
    return mask;
  }
}

/** The rows set in a mask, ascending. */
export function maskRows(mask: Uint8Array): Uint32Array {
  let count = 0;
  for (let i = 0; i < mask.length; i++) count += mask[i] as number;
  const rows = new Uint32Array(count);
  let at = 0;
  for (let i = 0; at < count; i++) if (mask[i] === 1) rows[at++] = i;
  return rows;
}

/** Every field path a filter reads. */
export function fieldsOf(filter: Filter, into: Set<string> = new Set()): Set<string> {
  if ('filters' in filter) for (const inner of filter.filters) fieldsOf(inner, into);
  else if ('filter' in filter) fieldsOf(filter.filter, into);
  else into.add(filter.field);
  return into;
}
