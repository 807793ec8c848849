import { describe, expect, test } from 'vitest';
import {
  AbortedError,
  ConflictError,
  ContextLengthExceededError,
  CorruptDataError,
  DimensionMismatchError,
  EmbeddingSpaceMismatchError,
  ForbiddenError,
  InvalidArgumentError,
  KumikiError,
  LockedError,
  MissingDependencyError,
  NotFoundError,
  PartialWriteError,
  RateLimitedError,
  TimeoutError,
  throwIfAborted,
  UnauthorizedError,
  UnavailableError,
  UnreadableSourceError,
  UnsupportedFilterError,
  UnsupportedServerError,
} from '../src/core/errors.js';

/** What another bundled copy of kumiki would throw: a plain Error with the shared marker and a name. */
const foreign = (name: string) =>
  Object.assign(new Error(`from another copy (${name})`), {
    name,
    [Symbol.for('kumiki.error')]: true,
  });

describe('every error class', () => {
  const classes = [
    InvalidArgumentError,
    DimensionMismatchError,
    EmbeddingSpaceMismatchError,
    UnsupportedFilterError,
    NotFoundError,
    ConflictError,
    UnavailableError,
    TimeoutError,
    AbortedError,
    UnauthorizedError,
    ForbiddenError,
    CorruptDataError,
    PartialWriteError,
    RateLimitedError,
    UnsupportedServerError,
    ContextLengthExceededError,
    MissingDependencyError,
    LockedError,
    UnreadableSourceError,
  ] as const;

  test('isInstance recognises its own name from another copy of kumiki, and no other class', () => {
    for (const own of classes) {
      for (const other of classes) {
        expect(own.isInstance(foreign(other.name)), `${own.name}.isInstance(${other.name})`).toBe(own === other);
      }
      expect(KumikiError.isInstance(foreign(own.name))).toBe(true);
      // The name alone is not enough: an unrelated error of the same name is not kumiki's.
      expect(own.isInstance(Object.assign(new Error('x'), { name: own.name }))).toBe(false);
    }
  });

  test('KumikiError.isInstance needs the marker to be exactly true, on an object', () => {
    const marker = Symbol.for('kumiki.error');
    expect(KumikiError.isInstance({ [marker]: true })).toBe(true);
    expect(KumikiError.isInstance({ [marker]: 'true' })).toBe(false);
    expect(KumikiError.isInstance({ [marker]: 1 })).toBe(false);
    expect(KumikiError.isInstance({})).toBe(false);
    expect(KumikiError.isInstance(null)).toBe(false);
    expect(KumikiError.isInstance(undefined)).toBe(false);
    expect(KumikiError.isInstance('KumikiError')).toBe(false);
    expect(KumikiError.isInstance(new Error('plain'))).toBe(false);
    const own = new ConflictError({ message: 'm' });
    expect((own as unknown as Record<symbol, unknown>)[marker]).toBe(true);
    expect(ConflictError.isInstance(own)).toBe(true);
    expect(NotFoundError.isInstance(own)).toBe(false);
  });

  test('the base class keeps the code, the component, the cause only when given, and is not retryable by default', () => {
    const cause = new Error('socket hang up');
    const error = new KumikiError('KUMIKI_X', { message: 'm', cause, component: 'qdrant' });
    expect(error.message).toBe('m');
    expect(error.name).toBe('KumikiError');
    expect(error.code).toBe('KUMIKI_X');
    expect(error.cause).toBe(cause);
    expect(error.component).toBe('qdrant');
    expect(error.isRetryable).toBe(false);
    expect(error).toBeInstanceOf(Error);
    const bare = new KumikiError('KUMIKI_X', { message: 'm' });
    expect('cause' in bare).toBe(false);
    expect(bare.component).toBeUndefined();
    expect(new KumikiError('KUMIKI_X', { message: 'm', isRetryable: true }).isRetryable).toBe(true);
    // A falsy cause is still a cause.
    expect(new KumikiError('KUMIKI_X', { message: 'm', cause: 0 }).cause).toBe(0);
  });
});

describe('messages, codes and fields', () => {
  test('InvalidArgumentError lists every issue with its path, and accepts its own message', () => {
    const error = new InvalidArgumentError({
      argument: 'options',
      issues: [
        { path: 'records.3.vector', message: 'vectors must not be empty' },
        { path: '', message: 'must be an object' },
      ],
      component: 'memory',
    });
    expect(error.message).toBe('Invalid options: records.3.vector: vectors must not be empty; must be an object');
    expect(error.code).toBe('KUMIKI_INVALID_ARGUMENT');
    expect(error.name).toBe('InvalidArgumentError');
    expect(error.argument).toBe('options');
    expect(error.issues).toHaveLength(2);
    expect(error.component).toBe('memory');
    expect(error.isRetryable).toBe(false);
    const custom = new InvalidArgumentError({ argument: 'a', issues: [], message: 'Pass an apiKey.' });
    expect(custom.message).toBe('Pass an apiKey.');
    expect(new InvalidArgumentError({ argument: 'a', issues: [] }).message).toBe('Invalid a: ');
  });

  test('DimensionMismatchError names both sizes and the fix', () => {
    const error = new DimensionMismatchError({ expected: 384, actual: 768, context: 'Upsert into "docs"' });
    expect(error.message).toBe(
      'Upsert into "docs": expected a vector of 384 dimensions, got 768. Use the embedder the collection was created with, or create a new collection with dimensions: 768.',
    );
    expect([error.code, error.name, error.expected, error.actual, error.isRetryable]).toEqual([
      'KUMIKI_DIMENSION_MISMATCH',
      'DimensionMismatchError',
      384,
      768,
      false,
    ]);
  });

  test('EmbeddingSpaceMismatchError: the differing fields, or the missing kind of space', () => {
    const plain = new EmbeddingSpaceMismatchError({ collection: 'docs', expected: 'kfp1:a', actual: 'kfp1:b' });
    expect(plain.message).toBe(
      'Collection "docs" was built with embedding space kfp1:a, not kfp1:b. Open it with the same embedder settings, or re-embed into a new collection.',
    );
    expect(plain.differences).toEqual([]);
    expect([plain.code, plain.name, plain.expected, plain.actual]).toEqual([
      'KUMIKI_EMBEDDING_SPACE_MISMATCH',
      'EmbeddingSpaceMismatchError',
      'kfp1:a',
      'kfp1:b',
    ]);
    const differing = new EmbeddingSpaceMismatchError({
      collection: 'docs',
      expected: 'kfp1:a',
      actual: 'kfp1:b',
      differences: ['model', 'pooling'],
    });
    expect(differing.message).toBe(
      'Collection "docs" was built with embedding space kfp1:a, not kfp1:b (differs in: model, pooling). Open it with the same embedder settings, or re-embed into a new collection.',
    );
    expect(differing.differences).toEqual(['model', 'pooling']);
    const sparse = new EmbeddingSpaceMismatchError({
      collection: 'docs',
      expected: '',
      actual: 'kfp1:bm25',
      missing: 'sparse',
    });
    expect(sparse.message).toBe(
      'Collection "docs" records no sparse embedding space (it was created without sparseEmbeddingSpace, or ingested without a sparse embedder), so sparse vectors from kfp1:bm25 cannot be compared with it. Search it in a mode it was built for, or create it with that embedder\'s space and ingest again.',
    );
    const dense = new EmbeddingSpaceMismatchError({
      collection: 'c',
      expected: '',
      actual: 'kfp1:d',
      missing: 'dense',
    });
    expect(dense.message).toContain('records no dense embedding space (it was created without embeddingSpace,');
    expect(dense.message).toContain('ingested without a dense embedder), so dense vectors from kfp1:d');
  });

  test('UnsupportedFilterError shows the clause as JSON, or as text when it is not JSON', () => {
    const error = new UnsupportedFilterError({
      clause: { op: 'containsAll', field: 'tags', values: ['a'] },
      backend: 'milvus',
      reason: 'arrays of strings only',
    });
    expect(error.message).toBe(
      'The milvus backend cannot express the filter clause {"op":"containsAll","field":"tags","values":["a"]}: arrays of strings only',
    );
    expect([error.code, error.name, error.backend]).toEqual([
      'KUMIKI_UNSUPPORTED_FILTER',
      'UnsupportedFilterError',
      'milvus',
    ]);
    expect(error.clause).toEqual({ op: 'containsAll', field: 'tags', values: ['a'] });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(new UnsupportedFilterError({ clause: cyclic, backend: 'b', reason: 'r' }).message).toBe(
      'The b backend cannot express the filter clause [object Object]: r',
    );
    expect(new UnsupportedFilterError({ clause: undefined, backend: 'b', reason: 'r' }).message).toBe(
      'The b backend cannot express the filter clause undefined: r',
    );
    expect(new UnsupportedFilterError({ clause: 10n, backend: 'b', reason: 'r' }).message).toBe(
      'The b backend cannot express the filter clause 10: r',
    );
  });

  test('NotFoundError names the resource, with an optional hint', () => {
    const error = new NotFoundError({ resource: 'Collection', name: 'docs' });
    expect(error.message).toBe('Collection "docs" does not exist.');
    expect([error.code, error.name, error.resource, error.resourceName]).toEqual([
      'KUMIKI_NOT_FOUND',
      'NotFoundError',
      'Collection',
      'docs',
    ]);
    expect(new NotFoundError({ resource: 'Model', name: 'm', hint: 'Pull it first.' }).message).toBe(
      'Model "m" does not exist. Pull it first.',
    );
    expect(new NotFoundError({ resource: 'Model', name: 'm', hint: '' }).message).toBe('Model "m" does not exist.');
  });

  test('ConflictError, UnauthorizedError and ForbiddenError keep the given message; the last two never retry', () => {
    const conflict = new ConflictError({ message: 'exists with other settings', isRetryable: true });
    expect([conflict.message, conflict.code, conflict.name, conflict.isRetryable]).toEqual([
      'exists with other settings',
      'KUMIKI_CONFLICT',
      'ConflictError',
      true,
    ]);
    expect(new ConflictError({ message: 'm' }).isRetryable).toBe(false);
    const unauthorized = new UnauthorizedError({ message: 'no token', isRetryable: true });
    expect([unauthorized.message, unauthorized.code, unauthorized.name, unauthorized.isRetryable]).toEqual([
      'no token',
      'KUMIKI_UNAUTHORIZED',
      'UnauthorizedError',
      false,
    ]);
    const forbidden = new ForbiddenError({ message: 'read only', isRetryable: true });
    expect([forbidden.message, forbidden.code, forbidden.name, forbidden.isRetryable]).toEqual([
      'read only',
      'KUMIKI_FORBIDDEN',
      'ForbiddenError',
      false,
    ]);
  });

  test('UnavailableError is retryable unless told otherwise, and keeps status, delay and url', () => {
    const error = new UnavailableError({
      message: 'Qdrant is down',
      statusCode: 503,
      retryAfterMs: 1500,
      url: 'http://q:6333',
    });
    expect([error.message, error.code, error.name, error.isRetryable]).toEqual([
      'Qdrant is down',
      'KUMIKI_UNAVAILABLE',
      'UnavailableError',
      true,
    ]);
    expect([error.statusCode, error.retryAfterMs, error.url]).toEqual([503, 1500, 'http://q:6333']);
    expect(new UnavailableError({ message: 'm', isRetryable: false }).isRetryable).toBe(false);
    const bare = new UnavailableError({ message: 'm' });
    expect([bare.statusCode, bare.retryAfterMs, bare.url]).toEqual([undefined, undefined, undefined]);
  });

  test('TimeoutError names the operation and the deadline; retryable unless told otherwise', () => {
    const error = new TimeoutError({ operation: 'Search in "docs"', timeoutMs: 2500 });
    expect(error.message).toBe(
      'Search in "docs" did not finish within 2500 ms. Raise the timeout or check the backend\'s health.',
    );
    expect([error.code, error.name, error.timeoutMs, error.isRetryable]).toEqual([
      'KUMIKI_TIMEOUT',
      'TimeoutError',
      2500,
      true,
    ]);
    expect(new TimeoutError({ operation: 'x', timeoutMs: 1, isRetryable: false }).isRetryable).toBe(false);
  });

  test('AbortedError names the operation and never retries', () => {
    const error = new AbortedError({ operation: 'Ingest', isRetryable: true });
    expect([error.message, error.code, error.name, error.isRetryable]).toEqual([
      'Ingest was aborted.',
      'KUMIKI_ABORTED',
      'AbortedError',
      false,
    ]);
  });

  test('CorruptDataError: what the file should have been follows the component, or is given', () => {
    const ledger = new CorruptDataError({ location: '/d/ledger.jsonl', reason: 'torn line 3', component: 'ledger' });
    expect(ledger.message).toBe(
      '/d/ledger.jsonl is not a valid kumiki ledger journal: torn line 3. It was not loaded or changed; restore it from a backup, or move it away to start empty.',
    );
    expect([ledger.code, ledger.name, ledger.location, ledger.isRetryable]).toEqual([
      'KUMIKI_CORRUPT_DATA',
      'CorruptDataError',
      '/d/ledger.jsonl',
      false,
    ]);
    expect(new CorruptDataError({ location: 'f', reason: 'r', component: 'catalog' }).message).toContain(
      'f is not a valid kumiki catalog file: r.',
    );
    expect(new CorruptDataError({ location: 'f', reason: 'r', component: 'memory' }).message).toContain(
      'not a valid kumiki snapshot: r.',
    );
    expect(new CorruptDataError({ location: 'f', reason: 'r' }).message).toContain('not a valid kumiki snapshot: r.');
    expect(new CorruptDataError({ location: 'f', reason: 'r', component: 'qdrant' }).message).toContain(
      'not a valid kumiki snapshot: r.',
    );
    expect(
      new CorruptDataError({ location: 'f', reason: 'r', component: 'ledger', what: 'lock file', isRetryable: true }),
    ).toMatchObject({ message: expect.stringContaining('not a valid kumiki lock file: r.'), isRetryable: false });
  });

  test('PartialWriteError counts the failures and shows the first five ids as JSON', () => {
    const error = new PartialWriteError({ collection: 'docs', failedIds: ['a', 2, 'c', 4, 'e', 'f'], written: 10 });
    expect(error.message).toBe(
      'Upsert into "docs" wrote 10 records but 6 failed (first: "a", 2, "c", 4, "e"). Retry the failed records; upserts are idempotent.',
    );
    expect([error.code, error.name, error.written, error.isRetryable]).toEqual([
      'KUMIKI_PARTIAL_WRITE',
      'PartialWriteError',
      10,
      false,
    ]);
    expect(error.failedIds).toEqual(['a', 2, 'c', 4, 'e', 'f']);
    expect(new PartialWriteError({ collection: 'c', failedIds: [7], written: 0, isRetryable: true }).isRetryable).toBe(
      true,
    );
  });

  test('RateLimitedError rounds the wait up to whole seconds and is always retryable', () => {
    const error = new RateLimitedError({ limit: 60, scope: 'requests per minute', retryAfterMs: 1001 });
    expect(error.message).toBe('Rate limit of 60 requests per minute reached. Retry in 2 s.');
    expect([error.code, error.name, error.limit, error.retryAfterMs, error.isRetryable]).toEqual([
      'KUMIKI_RATE_LIMITED',
      'RateLimitedError',
      60,
      1001,
      true,
    ]);
    expect(new RateLimitedError({ limit: 1, scope: 's', retryAfterMs: 1000 }).message).toContain('Retry in 1 s.');
    expect(new RateLimitedError({ limit: 1, scope: 's', retryAfterMs: 1 }).message).toContain('Retry in 1 s.');
  });

  test('UnsupportedServerError names the server, both versions and what needs the newer one', () => {
    const error = new UnsupportedServerError({
      server: 'Qdrant',
      url: 'http://q:6333',
      serverVersion: '1.9.0',
      minimumVersion: '1.10.0',
      needs: 'query API',
      component: 'qdrant',
    });
    expect(error.message).toBe(
      'Qdrant at http://q:6333 is version 1.9.0; kumiki needs Qdrant 1.10.0 or later (query API). Upgrade the server.',
    );
    expect([error.code, error.name, error.serverVersion, error.minimumVersion, error.isRetryable]).toEqual([
      'KUMIKI_UNSUPPORTED_SERVER',
      'UnsupportedServerError',
      '1.9.0',
      '1.10.0',
      false,
    ]);
  });

  test("ContextLengthExceededError uses OpenAI's wording, with 'at least' when the count is a lower bound", () => {
    const exact = new ContextLengthExceededError({ contextSize: 4096, promptTokens: 4000, maxTokens: 200 });
    expect(exact.message).toBe(
      "This model's maximum context length is 4096 tokens. However, you requested 4200 tokens (4000 in the messages, 200 in the completion). Please reduce the length of the messages or the completion (maxTokens).",
    );
    expect([exact.code, exact.name, exact.contextSize, exact.promptTokens, exact.maxTokens, exact.exact]).toEqual([
      'KUMIKI_CONTEXT_LENGTH_EXCEEDED',
      'ContextLengthExceededError',
      4096,
      4000,
      200,
      true,
    ]);
    expect(exact.isRetryable).toBe(false);
    const bound = new ContextLengthExceededError({ contextSize: 10, promptTokens: 12, maxTokens: 3, exact: false });
    expect(bound.message).toBe(
      "This model's maximum context length is 10 tokens. However, you requested at least 15 tokens (at least 12 in the messages, 3 in the completion). Please reduce the length of the messages or the completion (maxTokens).",
    );
    expect(bound.exact).toBe(false);
  });

  test('MissingDependencyError says which package to install for which adapter', () => {
    const error = new MissingDependencyError({ packageName: 'pg', adapter: 'pgvector' });
    expect(error.message).toBe(
      'Cannot import `pg`, which the pgvector adapter needs. Install it with `npm install pg`.',
    );
    expect([error.code, error.name, error.packageName, error.isRetryable]).toEqual([
      'KUMIKI_MISSING_DEPENDENCY',
      'MissingDependencyError',
      'pg',
      false,
    ]);
  });

  test('LockedError names the holder process, or who else holds it, and how long it waited', () => {
    const holder = { pid: 4242, host: 'build-1', since: '2026-12-03T14:00:00.000Z' };
    const error = new LockedError({ location: '/d/ledger.jsonl', holder, waitedMs: 250 });
    expect(error.message).toBe(
      '/d/ledger.jsonl is locked by process 4242 on build-1 (since 2026-12-03T14:00:00.000Z); waited 250 ms. Only one writer at a time: wait for it to finish (or pass a lock timeout to wait), or stop it.',
    );
    expect([error.code, error.name, error.location, error.holder, error.isRetryable]).toEqual([
      'KUMIKI_LOCKED',
      'LockedError',
      '/d/ledger.jsonl',
      holder,
      true,
    ]);
    const inProcess = new LockedError({
      location: 'l',
      holder: undefined,
      waitedMs: 0,
      heldBy: 'another ingest in this process',
      isRetryable: false,
    });
    expect(inProcess.message).toBe(
      'l is locked by another ingest in this process. Only one writer at a time: wait for it to finish (or pass a lock timeout to wait), or stop it.',
    );
    expect(inProcess.isRetryable).toBe(false);
    expect(new LockedError({ location: 'l', holder: undefined, waitedMs: 0 }).message).toMatch(
      /^l is locked by another writer\. Only one writer/,
    );
  });

  test('UnreadableSourceError: "<source>: <detail>", an optional hint, and where in the file', () => {
    const error = new UnreadableSourceError({
      source: 'file:///d/a.json',
      reason: 'parse-error',
      detail: 'invalid JSON at line 3, column 8',
      hint: 'Fix the file or exclude it',
      line: 3,
      column: 8,
      page: 2,
    });
    expect(error.message).toBe('file:///d/a.json: invalid JSON at line 3, column 8. Fix the file or exclude it');
    expect([error.code, error.name, error.source, error.reason, error.detail, error.isRetryable]).toEqual([
      'KUMIKI_UNREADABLE_SOURCE',
      'UnreadableSourceError',
      'file:///d/a.json',
      'parse-error',
      'invalid JSON at line 3, column 8',
      false,
    ]);
    expect([error.line, error.column, error.page]).toEqual([3, 8, 2]);
    const bare = new UnreadableSourceError({ source: 's', reason: 'binary', detail: 'holds NUL bytes' });
    expect(bare.message).toBe('s: holds NUL bytes');
    expect([bare.line, bare.column, bare.page]).toEqual([undefined, undefined, undefined]);
  });
});

describe('throwIfAborted', () => {
  test('throws AbortedError with the reason as cause only once the signal has fired', () => {
    expect(() => throwIfAborted(undefined, 'Search')).not.toThrow();
    const controller = new AbortController();
    expect(() => throwIfAborted(controller.signal, 'Search')).not.toThrow();
    const reason = new Error('user left');
    controller.abort(reason);
    let caught: unknown;
    try {
      throwIfAborted(controller.signal, 'Search');
    } catch (error) {
      caught = error;
    }
    expect(AbortedError.isInstance(caught)).toBe(true);
    expect((caught as AbortedError).message).toBe('Search was aborted.');
    expect((caught as AbortedError).cause).toBe(reason);
  });
});
