import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { InvalidArgumentError } from '../src/core/errors.js';
import { diffSpaces, type EmbeddingSpace, fingerprint, fingerprintTracker } from '../src/core/fingerprint.js';
import { modelFingerprint } from '../src/core/runner.js';

const space: EmbeddingSpace = { provider: 'transformers', model: 'Xenova/bge-small-en-v1.5', dimensions: 384 };

describe('fingerprint', () => {
  test('is stable across releases: collections and caches store it (golden values)', () => {
    expect(fingerprint(space)).toBe('kfp1:47069187703a9abecf0c064f53d373df');
    expect(
      fingerprint({
        ...space,
        pooling: 'cls',
        normalize: true,
        queryPrefix: 'query: ',
        extra: { b: 1, a: 'x' },
      }),
    ).toBe('kfp1:23333ce85f565271b721f0158dd1255a');
  });

  test('is the first 32 hex characters of SHA-256 over the documented canonical form', () => {
    const canonical = JSON.stringify({
      provider: 'transformers',
      model: 'Xenova/bge-small-en-v1.5',
      revision: 'main',
      dimensions: 384,
      kind: 'dense',
      pooling: null,
      normalize: null,
      queryPrefix: '',
      documentPrefix: '',
      quantization: null,
      extra: {},
    });
    expect(fingerprint(space)).toBe(`kfp1:${createHash('sha256').update(canonical).digest('hex').slice(0, 32)}`);
  });

  test('explicit defaults and the order of extra keys do not change it', () => {
    const print = fingerprint(space);
    expect(
      fingerprint({ ...space, revision: 'main', kind: 'dense', queryPrefix: '', documentPrefix: '', extra: {} }),
    ).toBe(print);
    expect(fingerprint({ ...space, extra: { k1: 1.2, b: 0.75 } })).toBe(
      fingerprint({ ...space, extra: { b: 0.75, k1: 1.2 } }),
    );
  });

  test('every field, and every extra value, changes it, including to a value that looks like a default', () => {
    const variants: Partial<EmbeddingSpace>[] = [
      { provider: 'llama-cpp' },
      { model: 'other' },
      { revision: 'v2' },
      { revision: '' },
      { dimensions: 385 },
      { kind: 'sparse' },
      { pooling: 'mean' },
      { pooling: '' },
      { normalize: false },
      { normalize: true },
      { queryPrefix: 'query: ' },
      { documentPrefix: 'passage: ' },
      { quantization: 'q8' },
      { quantization: '' },
      { extra: { k1: 1.2 } },
      { extra: { k1: 1.3 } },
      { extra: { k1: '1.2' } },
      { extra: { k1: null } },
      { extra: { k2: 1.2 } },
    ];
    const prints = new Set([fingerprint(space), ...variants.map((variant) => fingerprint({ ...space, ...variant }))]);
    expect(prints.size).toBe(variants.length + 1);
  });

  test('refuses spaces that are incomplete or carry unknown fields, naming the field', () => {
    const invalid = (value: unknown) => {
      try {
        fingerprint(value as EmbeddingSpace);
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidArgumentError);
        return (error as InvalidArgumentError).message;
      }
      throw new Error('expected InvalidArgumentError');
    };
    expect(invalid({ ...space, provider: '' })).toMatch(/^Invalid embedding space: provider: /);
    expect(invalid({ ...space, model: '' })).toMatch(/^Invalid embedding space: model: /);
    expect(invalid({ ...space, dimensions: 0 })).toMatch(/dimensions: /);
    expect(invalid({ ...space, dimensions: 1.5 })).toMatch(/dimensions: /);
    expect(invalid({ ...space, kind: 'hybrid' })).toMatch(/kind: /);
    expect(invalid({ ...space, normalise: true })).toMatch(/normalise/);
    expect(invalid({ ...space, extra: { nested: { a: 1 } } })).toMatch(/extra\.nested: /);
    expect(invalid(null)).toMatch(/^Invalid embedding space: /);
  });
});

describe('fingerprintTracker', () => {
  const caught = (fn: () => unknown) => {
    try {
      fn();
    } catch (error) {
      return error;
    }
    throw new Error('expected a throw');
  };

  test('gives what fingerprint gives, for the same space asked again, and after it changes and changes back', () => {
    const track = fingerprintTracker();
    const other = { ...space, extra: { k1: 1.2 } };
    for (const next of [
      space,
      { ...space },
      other,
      { ...other, extra: { k1: 1.2 } },
      space,
      { ...space, dimensions: 768 },
    ])
      expect(track(next)).toBe(fingerprint(next));
  });

  test('an invalid space is refused with the error fingerprint gives, also right after a valid one', () => {
    const track = fingerprintTracker();
    expect(track(space)).toBe(fingerprint(space));
    const invalid = [
      { ...space, dimensions: 0 },
      { ...space, unknown: 'x' },
      undefined,
      { ...space, extra: { big: 1n } },
      { ...space, model: '' },
    ] as unknown as EmbeddingSpace[];
    for (const bad of invalid) {
      const expected = caught(() => fingerprint(bad));
      expect(InvalidArgumentError.isInstance(expected)).toBe(true);
      expect(caught(() => track(bad))).toEqual(expected);
      expect(track(space)).toBe(fingerprint(space));
    }
  });

  test('a space that reads as the same JSON as the last one but is not that space is validated again', () => {
    const withNull = { ...space, extra: { cutoff: null } };
    const hidden = { ...space };
    Object.defineProperty(hidden, 'revision', { value: 'v2', enumerable: false });
    // Each lookalike writes the same JSON as its twin, which the tracker saw just before it.
    const pairs: [EmbeddingSpace, unknown][] = [
      [space, { ...space, unknown: undefined }],
      [space, { ...space, revision: () => 'main' }],
      [withNull, { ...space, extra: { cutoff: Number.POSITIVE_INFINITY } }],
      [withNull, { ...space, extra: { cutoff: Number.NaN } }],
      [
        { ...space, extra: { at: '2026-01-01T00:00:00.000Z' } },
        { ...space, extra: { at: new Date('2026-01-01') } },
      ],
      [space, hidden],
    ];
    for (const [twin, lookalike] of pairs) {
      expect(JSON.stringify(lookalike)).toBe(JSON.stringify(twin));
      const track = fingerprintTracker();
      expect(track(twin)).toBe(fingerprint(twin));
      const expected = (() => {
        try {
          return fingerprint(lookalike as EmbeddingSpace);
        } catch (error) {
          return error;
        }
      })();
      if (typeof expected === 'string') expect(track(lookalike as EmbeddingSpace)).toBe(expected);
      else expect(caught(() => track(lookalike as EmbeddingSpace))).toEqual(expected);
    }
  });
});

describe('diffSpaces', () => {
  test('names each differing field in a fixed order, and extra last', () => {
    expect(diffSpaces(space, space)).toEqual([]);
    expect(
      diffSpaces(space, {
        provider: 'p',
        model: 'm',
        revision: 'r',
        dimensions: 1,
        kind: 'sparse',
        pooling: 'mean',
        normalize: true,
        queryPrefix: 'q',
        documentPrefix: 'd',
        quantization: 'q8',
        extra: { a: 1 },
      }),
    ).toEqual([
      'provider',
      'model',
      'revision',
      'dimensions',
      'kind',
      'pooling',
      'normalize',
      'queryPrefix',
      'documentPrefix',
      'quantization',
      'extra',
    ]);
  });

  test('defaults equal their explicit values; extra compares by content, not key order', () => {
    expect(
      diffSpaces(space, { ...space, revision: 'main', kind: 'dense', queryPrefix: '', documentPrefix: '' }),
    ).toEqual([]);
    expect(diffSpaces({ ...space, extra: { a: 1, b: 2 } }, { ...space, extra: { b: 2, a: 1 } })).toEqual([]);
    expect(diffSpaces({ ...space, extra: { a: 1 } }, { ...space, extra: { a: 2 } })).toEqual(['extra']);
    expect(diffSpaces({ ...space, extra: { a: 1 } }, space)).toEqual(['extra']);
    expect(diffSpaces(space, { ...space, normalize: false })).toEqual(['normalize']);
    expect(diffSpaces(space, { ...space, dimensions: 768, pooling: 'mean' })).toEqual(['dimensions', 'pooling']);
  });
});

describe('modelFingerprint', () => {
  const model = { provider: 'llama-cpp', model: 'qwen2.5-0.5b' };

  test('is stable across releases (golden values)', () => {
    expect(modelFingerprint(model)).toBe('kmf1:30f50fd5a408d440fcaca177d0fc23a5');
    expect(modelFingerprint({ ...model, revision: 'r', quantization: 'Q4_K_M', extra: { b: 1, a: null } })).toBe(
      'kmf1:89095a486c1538a49e3dbb1a52a49de6',
    );
  });

  test('is SHA-256 over [provider, model, revision, quantization, sorted extra entries]', () => {
    const canonical = JSON.stringify([
      'llama-cpp',
      'qwen2.5-0.5b',
      'main',
      null,
      [
        ['a', 1],
        ['b', true],
      ],
    ]);
    expect(modelFingerprint({ ...model, extra: { b: true, a: 1 } })).toBe(
      `kmf1:${createHash('sha256').update(canonical).digest('hex').slice(0, 32)}`,
    );
  });

  test('defaults and extra key order do not change it; every field does', () => {
    const print = modelFingerprint(model);
    expect(modelFingerprint({ ...model, revision: 'main', extra: {} })).toBe(print);
    expect(modelFingerprint({ ...model, extra: { x: 1, y: 2 } })).toBe(
      modelFingerprint({ ...model, extra: { y: 2, x: 1 } }),
    );
    const variants = [
      { provider: 'openai-compatible' },
      { model: 'qwen2.5-1.5b' },
      { revision: 'v2' },
      { quantization: 'Q8_0' },
      { quantization: '' },
      { extra: { ctx: 4096 } },
      { extra: { ctx: 2048 } },
    ];
    const prints = new Set([print, ...variants.map((variant) => modelFingerprint({ ...model, ...variant }))]);
    expect(prints.size).toBe(variants.length + 1);
  });

  test('refuses an incomplete description or unknown fields with InvalidArgumentError', () => {
    expect(() => modelFingerprint({ ...model, model: '' })).toThrow(InvalidArgumentError);
    expect(() => modelFingerprint({ ...model, provider: '' })).toThrow(/^Invalid model description: provider: /);
    expect(() => modelFingerprint({ ...model, size: 1 } as never)).toThrow(/size/);
  });
});
