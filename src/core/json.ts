/**
 * What kumiki accepts as JSON, checked once at the boundary: every Store's upsert, `evaluateFilter`,
 * loader metadata and catalog properties go through `copyJson` (via the schemas in types.ts), so the
 * same value is accepted or refused the same way by every backend. Iterative and depth-bounded, so no
 * input can overflow the stack or hang the check.
 */

/** A JSON value as stored in a record's payload. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** Deepest nesting of a payload: the payload object is level 1, each object or array inside adds one. */
export const MAX_PAYLOAD_DEPTH = 64;

/**
 * Longest string record id, in UTF-8 bytes. Chosen so every backend can hold it: Postgres's btree
 * index holds keys up to about 2,700 bytes (pgvector stores an id as UTF-16, up to 2 bytes per UTF-8
 * byte), Milvus's VarChar primary key up to 65,535.
 */
export const MAX_ID_BYTES = 1024;

/** The largest finite float32; vector components beyond it would become `Infinity` when stored. */
export const FLOAT32_MAX = 3.4028234663852886e38;

/** True when `value` is stored as a finite float32 (larger magnitudes round to `Infinity`). */
export const isFloat32 = (value: number): boolean => Number.isFinite(Math.fround(value));

const encoder = new TextEncoder();

/** UTF-8 length of a string (an unpaired surrogate counts as the 3 bytes of U+FFFD), for byte limits. */
export function utf8Length(text: string): number {
  return encoder.encode(text).length;
}

/** True for strings every backend stores unchanged: no U+0000 and no unpaired surrogate (Postgres text and jsonb hold neither). */
export function storableString(text: string): boolean {
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const code = text.charCodeAt(i);
    if (code < 0xd800) {
      if (code === 0) return false;
    } else if (code <= 0xdfff) {
      // A high surrogate followed by a low one is a pair; any other surrogate is unpaired.
      if (code > 0xdbff || i + 1 === n) return false;
      const next = text.charCodeAt(i + 1);
      if (next < 0xdc00 || next > 0xdfff) return false;
      i++;
    }
  }
  return true;
}

export type JsonPath = (string | number)[];

export type JsonCopy = { ok: true; value: JsonValue } | { ok: false; path: JsonPath; message: string };

type Container = Record<string, unknown> | unknown[];

type Frame = {
  source: Container;
  target: Record<string, JsonValue> | JsonValue[];
  keys: readonly string[] | undefined;
  next: number;
  path: JsonPath;
};

const showPath = (path: JsonPath) => (path.length === 0 ? 'the root' : path.join('.'));

/** What kind of non-JSON object `value` is, for messages: `Date`, `Map`, `Float32Array`, `Foo instance`. */
function describeObject(value: object): string {
  const tag = Object.prototype.toString.call(value).slice(8, -1);
  if (tag !== 'Object') return `a ${tag}`;
  const name = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  return typeof name === 'string' && name !== '' ? `a ${name} instance` : 'an object with a custom prototype';
}

/** A plain object: `{}`/`Object.create(null)` from any realm (its prototype, if any, is a root prototype). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  if (Object.prototype.toString.call(value) !== '[object Object]') return false;
  const proto = Object.getPrototypeOf(value) as object | null;
  return proto === null || Object.getPrototypeOf(proto) === null;
}

/** The copy of a JSON scalar (`-0` becomes `0`), or what is wrong with it. */
function copyScalar(value: string | number | boolean): string | number | boolean | { problem: string } {
  if (typeof value === 'string') {
    return storableString(value)
      ? value
      : { problem: 'strings must not hold U+0000 or an unpaired surrogate (no backend can store them)' };
  }
  if (typeof value === 'number') {
    return Number.isFinite(value)
      ? value === 0
        ? 0
        : value
      : { problem: `numbers must be finite (JSON has no ${value})` };
  }
  return value;
}

/**
 * `copyJson`'s copy of a plain object holding only scalars (most payloads), made without the walk's
 * bookkeeping; `undefined` for anything else, and for any problem, so the walk reports it.
 */
function copyFlat(input: unknown): JsonObject | undefined {
  if (!isPlainObject(input) || Object.getOwnPropertySymbols(input).length > 0) return undefined;
  const source = input;
  const target: JsonObject = {};
  for (const key of Object.keys(source)) {
    if (key === '__proto__' || !storableString(key)) return undefined;
    const value = source[key];
    if (value === null) {
      target[key] = null;
      continue;
    }
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') return undefined;
    const copy = copyScalar(value);
    if (typeof copy === 'object') return undefined;
    target[key] = copy;
  }
  return target;
}

/**
 * Checks that `input` is kumiki JSON and returns a normalised copy, or the first problem with its path.
 *
 * Accepted: `null`, booleans, finite numbers (`-0` becomes `0`, as JSON has no negative zero), strings
 * without U+0000 or unpaired surrogates, arrays and plain objects of these, nested at most
 * `MAX_PAYLOAD_DEPTH` levels. Refused: `undefined`, functions, symbols, bigints, `NaN`, `Infinity`,
 * class instances and other non-plain objects (`Date`, `Map`, typed arrays), symbol keys, the key
 * `__proto__` (JavaScript turns an assignment to it into a prototype change, so no store could keep
 * it), cycles, and an object or array that appears twice in one value (JSON would copy it; a shared
 * structure can expand exponentially, so payloads must be trees). `root: 'object'` also requires the
 * value itself to be a plain object.
 */
export function copyJson(input: unknown, root: 'object' | 'value' = 'value'): JsonCopy {
  const flat = copyFlat(input);
  return flat === undefined ? copyTree(input, root) : { ok: true, value: flat };
}

/** `copyJson` by walking the whole value, keeping what it needs for every rule and message. */
function copyTree(input: unknown, root: 'object' | 'value'): JsonCopy {
  const seen = new Map<object, JsonPath>();
  const open = new Set<object>();
  const stack: Frame[] = [];
  let problem: { path: JsonPath; message: string } | undefined;

  /** The copy of a scalar, or a container's empty copy pushed as a new frame; `undefined` after a problem. */
  const visit = (value: unknown, path: JsonPath): JsonValue | undefined => {
    switch (typeof value) {
      case 'string':
      case 'number':
      case 'boolean': {
        const copy = copyScalar(value);
        if (typeof copy === 'object') {
          problem = { path, message: copy.problem };
          return undefined;
        }
        return copy;
      }
      case 'object': {
        if (value === null) return null;
        const earlier = seen.get(value);
        if (earlier !== undefined) {
          problem = {
            path,
            message: open.has(value)
              ? `a cycle: this value contains itself (it is ${showPath(earlier)})`
              : `the same object or array already appears at ${showPath(earlier)}; payloads must be trees, so copy it`,
          };
          return undefined;
        }
        if (stack.length >= MAX_PAYLOAD_DEPTH) {
          problem = {
            path,
            message: `nesting is limited to ${MAX_PAYLOAD_DEPTH} levels (the outermost object is level 1); flatten the value`,
          };
          return undefined;
        }
        let frame: Frame;
        if (Array.isArray(value)) {
          frame = { source: value, target: [], keys: undefined, next: 0, path };
        } else if (isPlainObject(value)) {
          if (Object.getOwnPropertySymbols(value).length > 0) {
            problem = { path, message: 'symbol keys are not JSON' };
            return undefined;
          }
          frame = { source: value as Record<string, unknown>, target: {}, keys: Object.keys(value), next: 0, path };
        } else {
          problem = {
            path,
            message: `${describeObject(value)} is not JSON; use plain objects and arrays (e.g. a Date as an ISO string)`,
          };
          return undefined;
        }
        seen.set(value, path);
        open.add(value);
        stack.push(frame);
        return frame.target;
      }
      default:
        problem = { path, message: `${typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`} is not JSON` };
        return undefined;
    }
  };

  if (root === 'object' && (typeof input !== 'object' || input === null || Array.isArray(input))) {
    return { ok: false, path: [], message: 'must be a plain object' };
  }
  const result = visit(input, []);
  while (problem === undefined && stack.length > 0) {
    const frame = stack[stack.length - 1] as Frame;
    const { source, target, keys } = frame;
    const length = keys === undefined ? (source as unknown[]).length : keys.length;
    if (frame.next === length) {
      open.delete(source);
      stack.pop();
      continue;
    }
    const index = frame.next++;
    if (keys === undefined) {
      const copy = visit((source as unknown[])[index], [...frame.path, index]);
      if (copy !== undefined) (target as JsonValue[]).push(copy);
      continue;
    }
    const key = keys[index] as string;
    const path = [...frame.path, key];
    if (key === '__proto__') {
      problem = {
        path,
        message: 'the key "__proto__" is not allowed (JavaScript treats it as the prototype); rename it',
      };
    } else if (!storableString(key)) {
      problem = { path, message: 'keys must not hold U+0000 or an unpaired surrogate (no backend can store them)' };
    } else {
      const copy = visit((source as Record<string, unknown>)[key], path);
      if (copy !== undefined) (target as Record<string, JsonValue>)[key] = copy;
    }
  }
  if (problem !== undefined) return { ok: false, ...problem };
  return { ok: true, value: result as JsonValue };
}
