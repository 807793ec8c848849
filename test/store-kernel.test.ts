import { runInNewContext } from 'node:vm';
import { describe, expect, test } from 'vitest';
import { copyJson } from '../src/core/json.js';
import {
  AbortedError,
  InvalidArgumentError,
  MAX_PAYLOAD_DEPTH,
  MissingDependencyError,
  PartialWriteError,
  UnavailableError,
} from '../src/index.js';
import { mapLimit } from '../src/internal/concurrency.js';
import { importOptional, lazy } from '../src/internal/optional.js';
import { withRetry } from '../src/internal/retry.js';
import { splitBatches, utf8Length, writeBatches } from '../src/stores/kernel/checks.js';

describe('splitBatches', () => {
  const items = Array.from({ length: 10 }, (_, i) => ({ id: i, size: i === 3 ? 60 : 10 }));
  test('respects the count and the byte limits, keeping order', () => {
    const batches = splitBatches(
      items,
      { maxCount: 4, maxBytes: 75 },
      (item) => item.size,
      (item) => `record ${item.id}`,
    );
    expect(batches.map((batch) => batch.map((item) => item.id))).toEqual([[0, 1, 2], [3, 4], [5, 6, 7, 8], [9]]);
    for (const batch of batches) expect(batch.reduce((sum, item) => sum + item.size, 0)).toBeLessThanOrEqual(75);
  });
  test('an item over the byte limit alone is named in a typed error', () => {
    expect(() =>
      splitBatches(
        items,
        { maxCount: 4, maxBytes: 50 },
        (item) => item.size,
        (item) => `record ${item.id}`,
      ),
    ).toThrow(InvalidArgumentError);
    expect(() =>
      splitBatches(
        items,
        { maxCount: 4, maxBytes: 50 },
        (item) => item.size,
        (item) => `record ${item.id}`,
      ),
    ).toThrow(/record 3 takes 60 bytes, more than the 50-byte request limit/);
  });
});

test('mapLimit keeps order and never exceeds the limit', async () => {
  let running = 0;
  let peak = 0;
  const results = await mapLimit([5, 1, 4, 2, 3, 0], 2, async (delay, index) => {
    running++;
    peak = Math.max(peak, running);
    await new Promise((resolve) => setTimeout(resolve, delay * 3));
    running--;
    return index * 10;
  });
  expect(results).toEqual([0, 10, 20, 30, 40, 50]);
  expect(peak).toBe(2);
});

describe('withRetry', () => {
  test('retries retryable kumiki errors, honouring retryAfterMs, then succeeds', async () => {
    const started = Date.now();
    let calls = 0;
    const value = await withRetry(
      async () => {
        calls++;
        if (calls < 3) throw new UnavailableError({ message: 'busy', retryAfterMs: 30 });
        return 'ok';
      },
      { operation: 'test', baseDelayMs: 1 },
    );
    expect(value).toBe('ok');
    expect(calls).toBe(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(55);
  });
  test('does not retry other errors and gives up after the retries', async () => {
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw new InvalidArgumentError({ argument: 'x', issues: [] });
        },
        { operation: 'test' },
      ),
    ).rejects.toThrow(InvalidArgumentError);
    expect(calls).toBe(1);
    calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw new UnavailableError({ message: 'down' });
        },
        { operation: 'test', retries: 2, baseDelayMs: 1 },
      ),
    ).rejects.toThrow('down');
    expect(calls).toBe(3);
  });
  test('an abort during the backoff stops at once', async () => {
    const controller = new AbortController();
    const pending = withRetry(
      async () => {
        throw new UnavailableError({ message: 'busy', retryAfterMs: 10_000 });
      },
      { operation: 'test', abortSignal: controller.signal },
    );
    setTimeout(() => controller.abort(), 20);
    await expect(pending).rejects.toSatisfy((error: unknown) => AbortedError.isInstance(error));
  });
});

describe('writeBatches', () => {
  const batches = [[{ id: 'a' }, { id: 'b' }], [{ id: 'c' }], [{ id: 'd' }, { id: 'e' }]];
  test('reports exactly the records of the batches that failed for good', async () => {
    const error = await writeBatches({
      collection: 'c',
      batches,
      idOf: (item) => item.id,
      concurrency: 2,
      retry: { retries: 1, baseDelayMs: 1 },
      component: 'test',
      write: async (batch) => {
        if (batch[0]?.id === 'c') throw new UnavailableError({ message: 'shard down' });
      },
    }).catch((caught: unknown) => caught);
    expect(PartialWriteError.isInstance(error)).toBe(true);
    expect((error as PartialWriteError).failedIds).toEqual(['c']);
    expect((error as PartialWriteError).written).toBe(4);
    expect((error as PartialWriteError).message).toContain('wrote 4 records but 1 failed');
  });
  test('rethrows the error itself when nothing was written', async () => {
    await expect(
      writeBatches({
        collection: 'c',
        batches,
        idOf: (item) => item.id,
        concurrency: 1,
        retry: { retries: 0 },
        component: 'test',
        write: async () => {
          throw new InvalidArgumentError({ argument: 'records', issues: [{ path: '', message: 'rejected' }] });
        },
      }),
    ).rejects.toThrow(/rejected/);
  });
  test('returns the count when every batch lands', async () => {
    const seen: string[] = [];
    const written = await writeBatches({
      collection: 'c',
      batches,
      idOf: (item) => item.id,
      concurrency: 3,
      retry: {},
      component: 'test',
      write: async (batch) => {
        seen.push(...batch.map((item) => item.id));
      },
    });
    expect(written).toBe(5);
    expect(seen.sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
  });
});

test('importOptional names the missing package', async () => {
  const error = await importOptional(
    'kumiki-no-such-package',
    'test',
    () => import('kumiki-no-such-package' as string),
  ).catch((caught: unknown) => caught);
  expect(MissingDependencyError.isInstance(error)).toBe(true);
  expect((error as Error).message).toBe(
    'Cannot import `kumiki-no-such-package`, which the test adapter needs. Install it with `npm install kumiki-no-such-package`.',
  );
});

test('lazy shares one pending promise and retries after a failure', async () => {
  let calls = 0;
  const get = lazy(async () => {
    calls++;
    if (calls === 1) throw new Error('first fails');
    return calls;
  });
  await expect(get()).rejects.toThrow('first fails');
  const [a, b] = await Promise.all([get(), get()]);
  expect([a, b, calls]).toEqual([2, 2, 2]);
});

describe('copyJson: the one check of payloads at the Store boundary', () => {
  test('returns a normalised copy: -0 becomes 0, nothing is shared with the input', () => {
    const input = { a: [-0, { b: -0 }], c: 'x' };
    const result = copyJson(input, 'object');
    expect(result).toEqual({ ok: true, value: { a: [0, { b: 0 }], c: 'x' } });
    if (!result.ok) return;
    const value = result.value as { a: [number, { b: number }] };
    expect(Object.is(value.a[0], 0) && Object.is(value.a[1].b, 0)).toBe(true);
    expect(value.a).not.toBe(input.a);
    expect(value.a[1]).not.toBe(input.a[1]);
  });

  test('plain objects from another realm and without a prototype are plain', () => {
    const foreign = runInNewContext('({ a: { b: [1] } })');
    expect(copyJson(foreign, 'object')).toEqual({ ok: true, value: { a: { b: [1] } } });
    const bare = Object.assign(Object.create(null), { x: 1 });
    expect(copyJson(bare, 'object')).toEqual({ ok: true, value: { x: 1 } });
  });

  test('names the first problem by its path', () => {
    const shared = [1];
    expect(copyJson({ a: shared, b: { c: shared } })).toMatchObject({
      ok: false,
      path: ['b', 'c'],
      message: expect.stringContaining('already appears at a'),
    });
    expect(copyJson({ a: [1, 2, Number.NaN] })).toMatchObject({ ok: false, path: ['a', 2] });
    expect(copyJson([1], 'object')).toMatchObject({ ok: false, path: [], message: 'must be a plain object' });
    expect(copyJson({ when: new Date(0) })).toMatchObject({ ok: false, message: expect.stringContaining('a Date') });
  });

  test(`nesting: ${MAX_PAYLOAD_DEPTH} levels pass, one more and a million more fail without recursion`, () => {
    const nest = (depth: number) => {
      let value: unknown = {};
      for (let i = 1; i < depth; i++) value = i % 2 === 0 ? [value] : { k: value };
      return value;
    };
    expect(copyJson(nest(MAX_PAYLOAD_DEPTH)).ok).toBe(true);
    for (const depth of [MAX_PAYLOAD_DEPTH + 1, 1_000_000]) {
      const result = copyJson(nest(depth));
      expect(result).toMatchObject({ ok: false, message: expect.stringContaining(`${MAX_PAYLOAD_DEPTH} levels`) });
      expect(!result.ok && result.path).toHaveLength(MAX_PAYLOAD_DEPTH);
    }
  });

  test('utf8Length counts UTF-8 bytes as TextEncoder does, lone surrogates as U+FFFD', () => {
    for (const text of ['', 'abc', 'é', 'あ', '🙂', '\uD800', 'a\uDC00b', '\uFFFF']) {
      expect(utf8Length(text)).toBe(new TextEncoder().encode(text).length);
    }
  });
});
