import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { sha256Hex } from '../src/core/sha256.js';
import {
  AbortedError,
  ConflictError,
  CorruptDataError,
  DimensionMismatchError,
  diffSpaces,
  EmbeddingSpaceMismatchError,
  ForbiddenError,
  fingerprint,
  InvalidArgumentError,
  KumikiError,
  MissingDependencyError,
  NotFoundError,
  PartialWriteError,
  reciprocalRankFusion,
  TimeoutError,
  UnauthorizedError,
  UnavailableError,
  UnsupportedFilterError,
} from '../src/index.js';

describe('errors', () => {
  const cases: [KumikiError, string, string, boolean][] = [
    [
      new InvalidArgumentError({ argument: 'x', issues: [{ path: 'a', message: 'bad' }] }),
      'InvalidArgumentError',
      'KUMIKI_INVALID_ARGUMENT',
      false,
    ],
    [
      new DimensionMismatchError({ expected: 3, actual: 2, context: 'c' }),
      'DimensionMismatchError',
      'KUMIKI_DIMENSION_MISMATCH',
      false,
    ],
    [
      new EmbeddingSpaceMismatchError({ collection: 'c', expected: 'a', actual: 'b' }),
      'EmbeddingSpaceMismatchError',
      'KUMIKI_EMBEDDING_SPACE_MISMATCH',
      false,
    ],
    [
      new UnsupportedFilterError({ clause: { op: 'x' }, backend: 'b', reason: 'r' }),
      'UnsupportedFilterError',
      'KUMIKI_UNSUPPORTED_FILTER',
      false,
    ],
    [new NotFoundError({ resource: 'Collection', name: 'c' }), 'NotFoundError', 'KUMIKI_NOT_FOUND', false],
    [new ConflictError({ message: 'm' }), 'ConflictError', 'KUMIKI_CONFLICT', false],
    [
      new UnavailableError({ message: 'm', statusCode: 503, retryAfterMs: 1000 }),
      'UnavailableError',
      'KUMIKI_UNAVAILABLE',
      true,
    ],
    [new TimeoutError({ operation: 'op', timeoutMs: 5 }), 'TimeoutError', 'KUMIKI_TIMEOUT', true],
    [new AbortedError({ operation: 'op' }), 'AbortedError', 'KUMIKI_ABORTED', false],
    [new UnauthorizedError({ message: 'm' }), 'UnauthorizedError', 'KUMIKI_UNAUTHORIZED', false],
    [new ForbiddenError({ message: 'm' }), 'ForbiddenError', 'KUMIKI_FORBIDDEN', false],
    [new CorruptDataError({ location: 'f', reason: 'r' }), 'CorruptDataError', 'KUMIKI_CORRUPT_DATA', false],
    [
      new PartialWriteError({ collection: 'c', failedIds: [1], written: 2 }),
      'PartialWriteError',
      'KUMIKI_PARTIAL_WRITE',
      false,
    ],
    [
      new MissingDependencyError({ packageName: 'pg', adapter: 'pgvector' }),
      'MissingDependencyError',
      'KUMIKI_MISSING_DEPENDENCY',
      false,
    ],
  ];
  for (const [error, name, code, retryable] of cases) {
    test(`${name} has a stable name, code and retryability`, () => {
      expect(error.name).toBe(name);
      expect(error.code).toBe(code);
      expect(error.isRetryable).toBe(retryable);
      expect(KumikiError.isInstance(error)).toBe(true);
      expect(error instanceof Error).toBe(true);
    });
  }

  test('isInstance works across copies of the library and tells classes apart', () => {
    const foreign = Object.assign(new Error('from another bundle'), {
      name: 'NotFoundError',
      [Symbol.for('kumiki.error')]: true,
    });
    expect(KumikiError.isInstance(foreign)).toBe(true);
    expect(NotFoundError.isInstance(foreign)).toBe(true);
    expect(ConflictError.isInstance(foreign)).toBe(false);
    expect(KumikiError.isInstance(new Error('plain'))).toBe(false);
    expect(KumikiError.isInstance(null)).toBe(false);
  });

  test('messages name the problem and the fix, and keep the cause', () => {
    const cause = new Error('socket hang up');
    const error = new UnavailableError({ message: 'Qdrant at http://x is unreachable', cause });
    expect(error.cause).toBe(cause);
    expect(new DimensionMismatchError({ expected: 384, actual: 768, context: 'Upsert' }).message).toMatch(
      /expected a vector of 384 dimensions, got 768/,
    );
    expect(new NotFoundError({ resource: 'Collection', name: 'docs', hint: 'Create it.' }).message).toBe(
      'Collection "docs" does not exist. Create it.',
    );
    expect(
      new InvalidArgumentError({ argument: 'options', issues: [{ path: 'limit', message: 'too big' }] }).message,
    ).toBe('Invalid options: limit: too big');
  });
});

describe('fingerprint', () => {
  const space = {
    provider: 'transformers',
    model: 'Xenova/bge-small-en-v1.5',
    dimensions: 384,
    pooling: 'cls',
    normalize: true,
    queryPrefix: 'query: ',
  };

  test('is stable, and ignores key order and explicit defaults', () => {
    expect(fingerprint(space)).toMatch(/^kfp1:[0-9a-f]{32}$/);
    expect(fingerprint({ ...space })).toBe(fingerprint(space));
    expect(
      fingerprint({
        queryPrefix: 'query: ',
        normalize: true,
        pooling: 'cls',
        dimensions: 384,
        model: space.model,
        provider: 'transformers',
        revision: 'main',
      }),
    ).toBe(fingerprint(space));
  });

  test('changes with every field that changes the vectors', () => {
    const variants = [
      { model: 'other' },
      { provider: 'llama-cpp' },
      { revision: 'v2' },
      { dimensions: 256 },
      { pooling: 'mean' },
      { normalize: false },
      { queryPrefix: '' },
      { documentPrefix: 'passage: ' },
      { quantization: 'q8' },
      { kind: 'sparse' as const },
      { extra: { k1: 1.2 } },
    ];
    const prints = new Set([fingerprint(space), ...variants.map((variant) => fingerprint({ ...space, ...variant }))]);
    expect(prints.size).toBe(variants.length + 1);
  });

  test('diffSpaces names the differing fields', () => {
    expect(diffSpaces(space, { ...space, model: 'x', normalize: false })).toEqual(['model', 'normalize']);
  });

  test('rejects incomplete spaces with a typed error', () => {
    expect(() => fingerprint({ provider: 'x', model: '', dimensions: 3 })).toThrow(InvalidArgumentError);
    expect(() => fingerprint({ provider: 'x', model: 'm', dimensions: 0 })).toThrow(/dimensions/);
  });
});

test('sha256Hex matches node:crypto', () => {
  for (const input of ['', 'abc', 'é🙂', 'x'.repeat(55), 'y'.repeat(56), 'z'.repeat(1000)]) {
    expect(sha256Hex(input)).toBe(createHash('sha256').update(input).digest('hex'));
  }
});

test('reciprocalRankFusion sums 1/(k + rank) over lists', () => {
  const fused = reciprocalRankFusion(
    [
      [
        { id: 'a', score: 9, payload: {} },
        { id: 'b', score: 8, payload: {} },
      ],
      [
        { id: 'b', score: 1, payload: {} },
        { id: 'c', score: 0.5, payload: {} },
      ],
    ],
    { k: 60 },
  );
  expect(fused.map((m) => m.id)).toEqual(['b', 'a', 'c']);
  expect(fused[0]?.score).toBeCloseTo(1 / 62 + 1 / 61, 12);
  expect(fused[1]?.score).toBeCloseTo(1 / 61, 12);
});
