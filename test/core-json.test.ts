import { runInNewContext } from 'node:vm';
import { describe, expect, test } from 'vitest';
import { InvalidArgumentError } from '../src/core/errors.js';
import {
  copyJson,
  FLOAT32_MAX,
  isFloat32,
  type JsonCopy,
  MAX_ID_BYTES,
  MAX_PAYLOAD_DEPTH,
  storableString,
  utf8Length,
} from '../src/core/json.js';
import {
  denseVectorSchema,
  jsonObjectSchema,
  jsonValueSchema,
  recordIdSchema,
  sparseVectorSchema,
  vectorRecordSchema,
} from '../src/core/types.js';
import { parseArgument } from '../src/core/validate.js';

const refused = (input: unknown, root: 'object' | 'value' = 'value') => {
  const copy: JsonCopy = copyJson(input, root);
  if (copy.ok) throw new Error('expected the value to be refused');
  return { path: copy.path, message: copy.message };
};

const copied = (input: unknown, root: 'object' | 'value' = 'value') => {
  const copy = copyJson(input, root);
  if (!copy.ok) throw new Error(`refused at ${copy.path.join('.')}: ${copy.message}`);
  return copy.value;
};

/** `{ a: { a: … { leaf } } }` with `levels` objects. */
function nested(levels: number, leaf: unknown = 1): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf };
  for (let i = 1; i < levels; i++) value = { a: value };
  return value;
}

describe('copyJson accepts JSON and returns a normalised copy', () => {
  test('scalars, with -0 as 0', () => {
    for (const value of [null, true, false, 0, 1.5, -2, 'text', '', 'é🙂', Number.MAX_VALUE]) {
      expect(copied(value)).toBe(value);
    }
    expect(Object.is(copied(-0), 0)).toBe(true);
    expect(Object.is((copied({ z: -0 }) as { z: number }).z, 0)).toBe(true);
    expect(Object.is((copied([-0]) as number[])[0], 0)).toBe(true);
  });

  test('objects and arrays are copied in order, not shared with the input', () => {
    const input = { b: [1, { c: 'x' }, [null, false]], a: {}, e: [] as unknown[] };
    const copy = copied(input) as typeof input;
    expect(copy).toEqual(input);
    expect(Object.keys(copy)).toEqual(['b', 'a', 'e']);
    expect(copy).not.toBe(input);
    expect(copy.b).not.toBe(input.b);
    expect(copy.b[1]).not.toBe(input.b[1]);
    input.b.push(2);
    (input.a as Record<string, unknown>).d = 1;
    expect(copy.b).toHaveLength(3);
    expect(copy.a).toEqual({});
  });

  test('objects without a prototype and objects from another realm are plain', () => {
    const bare = Object.assign(Object.create(null) as object, { a: 1 });
    expect(copied(bare)).toEqual({ a: 1 });
    const foreign = runInNewContext('({ a: [1, { b: 2 }] })') as unknown;
    expect(JSON.stringify(copied(foreign))).toBe('{"a":[1,{"b":2}]}');
  });

  test('non-enumerable properties are left out, as JSON.stringify does', () => {
    const input = { shown: 1 };
    Object.defineProperty(input, 'hidden', { value: 2, enumerable: false });
    expect(copied(input)).toEqual({ shown: 1 });
  });

  test(`nesting up to ${MAX_PAYLOAD_DEPTH} levels; scalars and empty containers below that are fine`, () => {
    expect(MAX_PAYLOAD_DEPTH).toBe(64);
    expect(copied(nested(64))).toEqual(nested(64));
    expect(copied(nested(63, []))).toEqual(nested(63, []));
    expect(copied(nested(62, [{}]))).toEqual(nested(62, [{}]));
    expect(refused(nested(63, [{}])).path).toEqual([...Array.from({ length: 62 }, () => 'a'), 'leaf', 0]);
  });

  test("root 'object' takes a plain object", () => {
    expect(copied({ a: 1 }, 'object')).toEqual({ a: 1 });
    expect(copied({}, 'object')).toEqual({});
  });
});

describe('copyJson refuses what is not JSON, naming the first problem and its path', () => {
  test('non-finite numbers', () => {
    expect(refused(Number.NaN)).toEqual({ path: [], message: 'numbers must be finite (JSON has no NaN)' });
    expect(refused({ a: [0, Number.POSITIVE_INFINITY] })).toEqual({
      path: ['a', 1],
      message: 'numbers must be finite (JSON has no Infinity)',
    });
    expect(refused([Number.NEGATIVE_INFINITY]).message).toBe('numbers must be finite (JSON has no -Infinity)');
  });

  test('undefined, functions, symbols and bigints, in objects and arrays', () => {
    expect(refused(undefined)).toEqual({ path: [], message: 'undefined is not JSON' });
    expect(refused({ a: undefined })).toEqual({ path: ['a'], message: 'undefined is not JSON' });
    expect(refused([1, undefined])).toEqual({ path: [1], message: 'undefined is not JSON' });
    expect(refused({ f: () => 1 })).toEqual({ path: ['f'], message: 'a function is not JSON' });
    expect(refused([Symbol('s')])).toEqual({ path: [0], message: 'a symbol is not JSON' });
    expect(refused({ n: 10n })).toEqual({ path: ['n'], message: 'a bigint is not JSON' });
  });

  test('strings and keys with U+0000 or an unpaired surrogate', () => {
    const message = 'strings must not hold U+0000 or an unpaired surrogate (no backend can store them)';
    for (const text of ['\0', 'a\0b', '\uD800', 'a\uD83Db', '\uDE00', 'x\uDE00', '\uDE00\uD83D', 'end\uD83D']) {
      expect(storableString(text), JSON.stringify(text)).toBe(false);
      expect(refused({ t: [text] })).toEqual({ path: ['t', 0], message });
    }
    for (const text of ['', 'plain', '\uD83D\uDE00', 'a\uD83D\uDE00b\uD83D\uDE00', '\u0001', '\uFFFF', '\uE000']) {
      expect(storableString(text), JSON.stringify(text)).toBe(true);
    }
    expect(refused({ ok: 1, 'k\0': 1 })).toEqual({
      path: ['k\0'],
      message: 'keys must not hold U+0000 or an unpaired surrogate (no backend can store them)',
    });
    expect(refused({ '\uD800': 1 }).message).toMatch(/^keys must not hold/);
    expect(copied({ '\uD83D\uDE00': 1 })).toEqual({ '\uD83D\uDE00': 1 });
  });

  test('the key __proto__', () => {
    const input = JSON.parse('{"a": {"__proto__": {"polluted": true}}}') as unknown;
    expect(refused(input)).toEqual({
      path: ['a', '__proto__'],
      message: 'the key "__proto__" is not allowed (JavaScript treats it as the prototype); rename it',
    });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(copied({ proto: 1, constructor: 2 })).toEqual({ proto: 1, constructor: 2 });
  });

  test('symbol keys', () => {
    expect(refused({ a: { [Symbol('s')]: 1, b: 2 } })).toEqual({ path: ['a'], message: 'symbol keys are not JSON' });
  });

  test('objects that are not plain, described by kind', async () => {
    const fix = 'is not JSON; use plain objects and arrays (e.g. a Date as an ISO string)';
    expect(refused({ when: new Date(0) })).toEqual({ path: ['when'], message: `a Date ${fix}` });
    expect(refused([new Map()]).message).toBe(`a Map ${fix}`);
    expect(refused(new Float32Array(2)).message).toBe(`a Float32Array ${fix}`);
    expect(refused(/x/).message).toBe(`a RegExp ${fix}`);
    // A module namespace has no prototype, yet is not a plain object.
    expect(refused({ config: await import('../src/core/bytes.js') }).message).toBe(`a Module ${fix}`);
    class Point {
      x = 1;
    }
    expect(refused({ p: new Point() }).message).toBe(`a Point instance ${fix}`);
    expect(refused(new (class {})()).message).toBe(`an object with a custom prototype ${fix}`);
    expect(refused(Object.create(Object.create(Object.create(null) as object) as object)).message).toBe(
      `an object with a custom prototype ${fix}`,
    );
  });

  test('cycles, with where the repeated value first appeared', () => {
    const root: Record<string, unknown> = { a: { b: null } };
    (root.a as Record<string, unknown>).b = root;
    expect(refused(root)).toEqual({
      path: ['a', 'b'],
      message: 'a cycle: this value contains itself (it is the root)',
    });
    const inner: unknown[] = [];
    inner.push(inner);
    expect(refused({ list: [inner] })).toEqual({
      path: ['list', 0, 0],
      message: 'a cycle: this value contains itself (it is list.0)',
    });
  });

  test('the same object or array twice (payloads must be trees), even when not nested in itself', () => {
    const shared = { x: 1 };
    expect(refused({ a: shared, b: { c: shared } })).toEqual({
      path: ['b', 'c'],
      message: 'the same object or array already appears at a; payloads must be trees, so copy it',
    });
    const list = [1];
    expect(refused([list, list])).toEqual({
      path: [1],
      message: 'the same object or array already appears at 0; payloads must be trees, so copy it',
    });
  });

  test(`nesting deeper than ${MAX_PAYLOAD_DEPTH} levels, at the first object too deep`, () => {
    const tooDeep = refused(nested(65));
    expect(tooDeep.message).toBe(
      'nesting is limited to 64 levels (the outermost object is level 1); flatten the value',
    );
    expect(tooDeep.path).toEqual(Array.from({ length: 64 }, () => 'a'));
    expect(refused(nested(64, [])).path).toHaveLength(64);
    // Deep enough to overflow a recursive check: still an answer, not a RangeError.
    expect(refused(nested(100_000)).path).toHaveLength(64);
  });

  test("root 'object' refuses anything but a plain object", () => {
    for (const value of [[], null, 'x', 1, undefined]) {
      expect(refused(value, 'object')).toEqual({ path: [], message: 'must be a plain object' });
    }
    expect(refused(new Date(0), 'object').message).toMatch(/^a Date is not JSON/);
  });

  test('reports the first problem only', () => {
    expect(refused({ a: Number.NaN, b: undefined }).path).toEqual(['a']);
    expect(refused([[1, undefined], Number.NaN]).path).toEqual([0, 1]);
  });
});

describe('sizes and limits', () => {
  test('utf8Length counts UTF-8 bytes, an unpaired surrogate as U+FFFD', () => {
    expect(utf8Length('')).toBe(0);
    expect(utf8Length('a')).toBe(1);
    expect(utf8Length('é')).toBe(2);
    expect(utf8Length('€')).toBe(3);
    expect(utf8Length('🙂')).toBe(4);
    expect(utf8Length('\uD800')).toBe(3);
  });

  test('isFloat32: finite numbers that stay finite as float32', () => {
    expect(FLOAT32_MAX).toBe(3.4028234663852886e38);
    expect(isFloat32(FLOAT32_MAX)).toBe(true);
    expect(isFloat32(-FLOAT32_MAX)).toBe(true);
    expect(isFloat32(0)).toBe(true);
    expect(isFloat32(1e-50)).toBe(true);
    expect(isFloat32(3.5e38)).toBe(false);
    expect(isFloat32(-1e39)).toBe(false);
    expect(isFloat32(Number.NaN)).toBe(false);
    expect(isFloat32(Number.POSITIVE_INFINITY)).toBe(false);
  });
});

describe('record schemas', () => {
  const issues = (schema: Parameters<typeof parseArgument>[0], value: unknown) => {
    try {
      parseArgument(schema, value, 'record');
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidArgumentError);
      return (error as InvalidArgumentError).issues;
    }
    throw new Error('expected InvalidArgumentError');
  };

  test(`string ids: non-empty, at most ${MAX_ID_BYTES} UTF-8 bytes`, () => {
    expect(MAX_ID_BYTES).toBe(1024);
    expect(parseArgument(recordIdSchema, 'a'.repeat(1024), 'id')).toHaveLength(1024);
    expect(parseArgument(recordIdSchema, '€'.repeat(341), 'id')).toHaveLength(341);
    expect(parseArgument(recordIdSchema, '🙂'.repeat(256), 'id')).toHaveLength(512);
    expect(issues(recordIdSchema, '')).toEqual([{ path: '', message: 'string ids must not be empty' }]);
    const limit = (bytes: number) =>
      `string ids are limited to 1024 UTF-8 bytes (what every store can index), got ${bytes}; use a hash of a longer key`;
    expect(issues(recordIdSchema, 'a'.repeat(1025))).toEqual([{ path: '', message: limit(1025) }]);
    expect(issues(recordIdSchema, '€'.repeat(342))).toEqual([{ path: '', message: limit(1026) }]);
    expect(issues(recordIdSchema, '🙂'.repeat(257))).toEqual([{ path: '', message: limit(1028) }]);
  });

  test('numeric ids: safe integers, negative ones included', () => {
    for (const id of [0, -5, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]) {
      expect(parseArgument(recordIdSchema, id, 'id')).toBe(id);
    }
    for (const id of [1.5, 2 ** 53, -(2 ** 53)]) {
      expect(issues(recordIdSchema, id)).toEqual([{ path: '', message: 'numeric ids must be safe integers' }]);
    }
  });

  test('a value that is neither a string nor a number gets a message that says what an id is', () => {
    // Regression: NaN, Infinity and non-numbers used to give zod's bare "Invalid input".
    for (const id of [Number.NaN, Number.POSITIVE_INFINITY, true, {}, null, undefined]) {
      expect(issues(recordIdSchema, id)).toEqual([
        { path: '', message: 'ids must be non-empty strings or safe integers' },
      ]);
    }
  });

  test('dense vectors: arrays or float typed arrays, non-empty, float32-finite; -0 copied to 0', () => {
    // Without a -0 the caller's vector is used as it is, not copied.
    const array = [0.5, -1, 0];
    expect(parseArgument(denseVectorSchema, array, 'vector')).toBe(array);
    const typed = new Float32Array([1, 2]);
    expect(parseArgument(denseVectorSchema, typed, 'vector')).toBe(typed);
    const wide = new Float64Array([FLOAT32_MAX]);
    expect(parseArgument(denseVectorSchema, wide, 'vector')).toBe(wide);
    const zero = parseArgument(denseVectorSchema, [1, -0], 'vector') as number[];
    expect(Object.is(zero[1], 0)).toBe(true);
    const typedZero = parseArgument(denseVectorSchema, new Float32Array([-0, 2]), 'vector');
    expect(typedZero).toBeInstanceOf(Float32Array);
    expect(Object.is(typedZero[0], 0)).toBe(true);
    expect(Array.from(typedZero)).toEqual([0, 2]);

    const kinds = 'vectors must be number arrays, Float32Arrays or Float64Arrays';
    for (const value of [new Int32Array([1]), 'v', { 0: 1, length: 1 }, null]) {
      expect(issues(denseVectorSchema, value)).toEqual([{ path: '', message: kinds }]);
    }
    expect(issues(denseVectorSchema, [])).toEqual([{ path: '', message: 'vectors must not be empty' }]);
    expect(issues(denseVectorSchema, new Float32Array(0))).toEqual([
      { path: '', message: 'vectors must not be empty' },
    ]);
    const range = (got: string) =>
      `vector values must be finite numbers within float32 range (magnitude at most 3.4028234663852886e+38), got ${got}`;
    expect(issues(denseVectorSchema, [1, 2, Number.NaN])).toEqual([{ path: '2', message: range('NaN') }]);
    expect(issues(denseVectorSchema, [1e39])).toEqual([{ path: '0', message: range('1e+39') }]);
    expect(issues(denseVectorSchema, [0, '1'])).toEqual([{ path: '1', message: range('1') }]);
    expect(issues(denseVectorSchema, [0, null])).toEqual([{ path: '1', message: range('null') }]);
  });

  test('sparse vectors: matching lengths, distinct 32-bit indices, float32-finite values; -0 copied to 0', () => {
    const vector = { indices: [0, 0xffffffff], values: [1, 2] };
    expect(parseArgument(sparseVectorSchema, vector, 'v')).toEqual(vector);
    const typed = { indices: new Uint32Array([3, 1]), values: new Float32Array([0.5, 1]) };
    const parsed = parseArgument(sparseVectorSchema, typed, 'v');
    expect(parsed.indices).toBe(typed.indices);
    expect(parsed.values).toBe(typed.values);
    const zero = parseArgument(sparseVectorSchema, { indices: [1, 2], values: new Float64Array([-0, 1]) }, 'v');
    expect(zero.values).toBeInstanceOf(Float64Array);
    expect(Object.is(zero.values[0], 0)).toBe(true);
    expect(Array.from(zero.indices)).toEqual([1, 2]);

    expect(issues(sparseVectorSchema, { indices: [1, 2], values: [1] })).toEqual([
      { path: '', message: 'indices (2) and values (1) must have the same length' },
    ]);
    for (const bad of [-1, 1.5, 2 ** 32, Number.NaN]) {
      expect(issues(sparseVectorSchema, { indices: [0, bad], values: [1, 1] })).toEqual([
        { path: 'indices.1', message: 'indices must be integers in [0, 2^32)' },
      ]);
    }
    for (const bad of ['1', null]) {
      expect(issues(sparseVectorSchema, { indices: [bad], values: [1] })).toEqual([
        { path: 'indices.0', message: 'indices must be integers in [0, 2^32)' },
      ]);
    }
    expect(issues(sparseVectorSchema, { indices: 'x', values: new Float32Array(1) })).toEqual([
      {
        path: 'indices',
        message: 'must be an array of numbers, a Uint32Array, an Int32Array, a Float32Array or a Float64Array',
      },
    ]);
    expect(issues(sparseVectorSchema, { indices: [1], values: new Uint8Array(1) })[0]?.path).toBe('values');
    expect(issues(sparseVectorSchema, { indices: [5, 6, 5], values: [1, 1, 1] })).toEqual([
      { path: 'indices.2', message: 'index 5 appears twice' },
    ]);
    // Sorted input is checked without a set: a repeat next to itself is still caught.
    expect(issues(sparseVectorSchema, { indices: Uint32Array.of(1, 3, 3, 7), values: [1, 1, 1, 1] })).toEqual([
      { path: 'indices.2', message: 'index 3 appears twice' },
    ]);
    // The first problem in index order is the one reported.
    expect(issues(sparseVectorSchema, { indices: [4, 4, -1], values: [1, 1, 1] })).toEqual([
      { path: 'indices.1', message: 'index 4 appears twice' },
    ]);
    expect(issues(sparseVectorSchema, { indices: [4, -1, 4], values: [1, 1, 1] })).toEqual([
      { path: 'indices.1', message: 'indices must be integers in [0, 2^32)' },
    ]);
    // Regression: NaN and Infinity in a plain array used to give zod's bare "Invalid input".
    const range = (got: string) =>
      `values must be finite numbers within float32 range (magnitude at most 3.4028234663852886e+38), got ${got}`;
    expect(issues(sparseVectorSchema, { indices: [1, 2], values: [1, Number.POSITIVE_INFINITY] })).toEqual([
      { path: 'values.1', message: range('Infinity') },
    ]);
    expect(issues(sparseVectorSchema, { indices: [1, 2], values: new Float32Array([Number.NaN, 1]) })).toEqual([
      { path: 'values.0', message: range('NaN') },
    ]);
    expect(issues(sparseVectorSchema, { indices: [1], values: ['1'] })).toEqual([
      { path: 'values.0', message: range('1') },
    ]);
    expect(issues(sparseVectorSchema, { indices: [1], values: [-1e39] })).toEqual([
      { path: 'values.0', message: range('-1e+39') },
    ]);
  });

  test('records: paths inside the payload reach the caller', () => {
    expect(issues(vectorRecordSchema, { id: 'a', payload: { tags: ['x', Number.NaN] } })).toEqual([
      { path: 'payload.tags.1', message: 'numbers must be finite (JSON has no NaN)' },
    ]);
    expect(issues(vectorRecordSchema, { id: 'a', payload: [] })).toEqual([
      { path: 'payload', message: 'must be a plain object' },
    ]);
    const record = parseArgument(vectorRecordSchema, { id: 7, vector: [1, -0], payload: { n: -0 } }, 'record');
    expect(Object.is(record.payload?.n, 0)).toBe(true);
    expect(Object.is((record.vector as number[])[1], 0)).toBe(true);
  });

  test('jsonValueSchema and jsonObjectSchema return a normalised copy', () => {
    const input = { a: [-0] };
    const value = parseArgument(jsonValueSchema, input, 'value');
    expect(value).not.toBe(input);
    expect(Object.is((value as { a: number[] }).a[0], 0)).toBe(true);
    expect(parseArgument(jsonValueSchema, 'text', 'value')).toBe('text');
    expect(() => parseArgument(jsonObjectSchema, 'text', 'payload')).toThrow('Invalid payload: must be a plain object');
  });
});
