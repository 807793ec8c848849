import { describe, expect, test } from 'vitest';
import * as z from 'zod';
import * as zm from 'zod/mini';
import { InvalidArgumentError, UnsupportedServerError } from '../src/core/errors.js';
import { persistenceSchema } from '../src/core/persistence.js';
import {
  abortSignalSchema,
  catalogSchema,
  denseEmbedderSchema,
  embedOptionsSchema,
  runnerSchema,
  sparseEmbedderSchema,
  storeSchema,
} from '../src/core/schemas.js';
import { checkServerRelease, parseRelease } from '../src/core/server-version.js';
import { functionSchema, implementing, parseArgument } from '../src/core/validate.js';

function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('parseArgument', () => {
  const schema = z.object({ limit: z.number().int('limit must be an integer'), tags: z.array(z.string()) });

  test('returns the parsed value (with transforms applied) when it is valid', () => {
    expect(parseArgument(schema, { limit: 3, tags: [] }, 'options')).toEqual({ limit: 3, tags: [] });
    expect(
      parseArgument(
        z.string().transform((s) => s.length),
        'abc',
        'text',
      ),
    ).toBe(3);
  });

  test('throws InvalidArgumentError naming the argument and every offending path', () => {
    const error = thrown(() => parseArgument(schema, { limit: 1.5, tags: ['a', 2] }, 'search options'));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    const invalid = error as InvalidArgumentError;
    expect(invalid.argument).toBe('search options');
    expect(invalid.issues).toEqual([
      { path: 'limit', message: 'limit must be an integer' },
      { path: 'tags.1', message: expect.stringContaining('expected string') },
    ]);
    expect(invalid.message).toMatch(/^Invalid search options: limit: limit must be an integer; tags\.1: /);
  });

  test('an issue with the value itself has an empty path and no prefix in the message', () => {
    const error = thrown(() => parseArgument(z.string('must be a string'), 5, 'name')) as InvalidArgumentError;
    expect(error.issues).toEqual([{ path: '', message: 'must be a string' }]);
    expect(error.message).toBe('Invalid name: must be a string');
  });
});

describe("zod's messages", () => {
  /** Runs `run` as in a bundle without zod's classic API: no locale installed (then restores the config). */
  function withoutClassicLocale<T>(run: () => T): T {
    const { localeError } = z.config();
    z.config({ localeError: undefined });
    try {
      return run();
    } finally {
      z.config({ localeError });
    }
  }
  const limit = zm.object({ limit: zm.number().check(zm.int(), zm.lte(10_000)), name: zm.string() });
  const messages = (schema: z.core.$ZodType, value: unknown) =>
    (thrown(() => parseArgument(schema, value, 'options')) as InvalidArgumentError).issues;

  test('a zod/mini schema reports the English messages of a classic one, with no locale installed', () => {
    const classic = z.object({ limit: z.number().int().max(10_000), name: z.string() });
    const expected = [
      { path: 'limit', message: 'Too big: expected number to be <=10000' },
      { path: 'name', message: 'Invalid input: expected string, received number' },
    ];
    expect(messages(classic, { limit: 10_001, name: 1 })).toEqual(expected);
    expect(withoutClassicLocale(() => messages(limit, { limit: 10_001, name: 1 }))).toEqual(expected);
    expect(withoutClassicLocale(() => messages(classic, { limit: 10_001, name: 1 }))).toEqual(expected);
  });

  test("a locale or error map the application configures still decides, as for the application's schemas", () => {
    const { customError } = z.config();
    z.config({ customError: (issue) => `custom ${issue.code}` });
    try {
      expect(messages(limit, { limit: 10_001, name: 'x' })).toEqual([{ path: 'limit', message: 'custom too_big' }]);
    } finally {
      z.config({ customError });
    }
  });
});

describe('implementing', () => {
  const schema = implementing<object>('must be a kumiki Thing', {
    fields: { specificationVersion: 'kumiki.thing.v1', kind: 'dense' },
    methods: ['run', 'stop'],
  });
  const thing = { specificationVersion: 'kumiki.thing.v1', kind: 'dense', run() {}, stop: async () => {} };

  test('accepts any object with exactly those field values and those methods, class instances included', () => {
    expect(schema.safeParse(thing).success).toBe(true);
    class Thing {
      readonly specificationVersion = 'kumiki.thing.v1';
      readonly kind = 'dense';
      run() {}
      stop() {}
    }
    expect(schema.safeParse(new Thing()).success).toBe(true);
    expect(parseArgument(schema, thing, 'thing')).toBe(thing);
  });

  test('refuses a wrong field value, a missing or non-function method, and non-objects, with its message', () => {
    for (const bad of [
      { ...thing, specificationVersion: 'kumiki.thing.v2' },
      { ...thing, kind: 'sparse' },
      { ...thing, run: undefined },
      { ...thing, stop: 'stop' },
      null,
      undefined,
      'thing',
      42,
    ]) {
      const error = thrown(() => parseArgument(schema, bad, 'thing')) as InvalidArgumentError;
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect(error.message).toBe('Invalid thing: must be a kumiki Thing');
    }
  });

  test('without fields or methods any object passes', () => {
    const any = implementing<object>('object', {});
    expect(any.safeParse({}).success).toBe(true);
    expect(any.safeParse(null).success).toBe(false);
    expect(any.safeParse(1).success).toBe(false);
  });

  test('functionSchema accepts functions only', () => {
    const schema = functionSchema<() => void>('onProgress must be a function');
    expect(schema.safeParse(() => {}).success).toBe(true);
    expect(schema.safeParse(async () => {}).success).toBe(true);
    const error = thrown(() => parseArgument(schema, {}, 'options')) as InvalidArgumentError;
    expect(error.message).toBe('Invalid options: onProgress must be a function');
  });
});

describe('the interface schemas', () => {
  const fn = () => {};
  test('each names what it wanted', () => {
    const cases: [z.core.$ZodType, unknown, string][] = [
      [
        storeSchema,
        {
          createCollection: fn,
          openCollection: fn,
          upsert: fn,
          get: fn,
          delete: fn,
          count: fn,
          scroll: fn,
          search: fn,
        },
        'store must be a kumiki Store',
      ],
      [denseEmbedderSchema, { kind: 'dense', embed: fn }, 'embedder must be a dense Embedder'],
      [
        sparseEmbedderSchema,
        { kind: 'sparse', embed: fn },
        'sparseEmbedder must be a sparse Embedder (e.g. createBm25Encoder())',
      ],
      [runnerSchema, { stream: fn, generate: fn }, 'runner must be a kumiki ModelRunner'],
      [catalogSchema, { recordRun: fn, addLineage: fn }, 'catalog must be a kumiki Catalog'],
      [
        persistenceSchema,
        { load: fn, save: fn },
        'persistence must have load() and save() methods (see createFilePersistence in kumiki/node)',
      ],
    ];
    for (const [schema, good, message] of cases) {
      expect(z.safeParse(schema, good).success).toBe(true);
      const members = Object.keys(good as object);
      for (const member of members) {
        const result = z.safeParse(schema, { ...(good as object), [member]: 'x' });
        expect(result.success, `${message} without ${member}`).toBe(false);
        expect(result.error?.issues[0]?.message).toBe(message);
      }
      expect(z.safeParse(schema, null).success).toBe(false);
    }
    expect(denseEmbedderSchema.safeParse({ kind: 'sparse', embed: fn }).success).toBe(false);
    expect(sparseEmbedderSchema.safeParse({ kind: 'dense', embed: fn }).success).toBe(false);
    expect(persistenceSchema.safeParse('file.bin').success).toBe(false);
  });

  test('abortSignalSchema accepts an AbortSignal only', () => {
    expect(abortSignalSchema.safeParse(new AbortController().signal).success).toBe(true);
    const result = abortSignalSchema.safeParse({ aborted: false });
    expect(result.error?.issues[0]?.message).toBe('must be an AbortSignal');
  });

  test('embedOptionsSchema enforces the batch size, the role and the signal', () => {
    const schema = embedOptionsSchema(2);
    expect(schema.parse({ values: ['a', 'b'], role: 'query' })).toEqual({ values: ['a', 'b'], role: 'query' });
    const message = (value: unknown) => schema.safeParse(value).error?.issues[0]?.message;
    expect(message({ values: ['a', 'b', 'c'], role: 'document' })).toBe(
      'at most 2 values per call (maxBatchSize); split larger inputs',
    );
    expect(schema.parse({ values: [], role: 'document' })).toEqual({ values: [], role: 'document' });
    expect(message({ values: 'a', role: 'query' })).toBe('values must be an array of strings');
    expect(message({ values: [], role: 'passage' })).toBe("role must be 'query' or 'document'");
    expect(message({ values: [], role: 'query', abortSignal: {} })).toBe('abortSignal must be an AbortSignal');
  });
});

describe('server versions', () => {
  test('parseRelease reads the first major.minor[.patch] anywhere in the string', () => {
    expect(parseRelease('v2.5.4')).toEqual([2, 5, 4]);
    expect(parseRelease('1.18.0-dev')).toEqual([1, 18, 0]);
    expect(parseRelease('Compatible with Milvus 2.5')).toEqual([2, 5, 0]);
    expect(parseRelease('10.20.30.40')).toEqual([10, 20, 30]);
    expect(parseRelease('v3')).toBeUndefined();
    expect(parseRelease('managed')).toBeUndefined();
    expect(parseRelease('')).toBeUndefined();
  });

  const check = (version: string) =>
    checkServerRelease({
      server: 'Milvus',
      url: 'http://m:19530',
      version,
      minimum: [2, 5, 3],
      needs: 'collection metadata',
      component: 'milvus',
    });

  test('the minimum and anything newer pass, in every position; an unreadable version passes', () => {
    for (const version of ['2.5.3', 'v2.5.4', '2.6.0', '3.0.0', '2.10.0', 'zilliz-cloud']) {
      expect(() => check(version), version).not.toThrow();
    }
  });

  test('anything older throws UnsupportedServerError naming both versions', () => {
    for (const version of ['2.5.2', '2.4.9', '1.9.9', '2.5', 'v1.99.99']) {
      const error = thrown(() => check(version)) as UnsupportedServerError;
      expect(error, version).toBeInstanceOf(UnsupportedServerError);
      expect(error.serverVersion).toBe(version);
      expect(error.minimumVersion).toBe('2.5.3');
      expect(error.component).toBe('milvus');
    }
    expect((thrown(() => check('2.4.0')) as Error).message).toBe(
      'Milvus at http://m:19530 is version 2.4.0; kumiki needs Milvus 2.5.3 or later (collection metadata). Upgrade the server.',
    );
  });
});
