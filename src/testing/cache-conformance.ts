import * as z from 'zod';
import type { Cache, CacheValue } from '../core/cache.js';
import { parseArgument } from '../core/validate.js';
import { check, deepEqual, equal, rejectsWith } from './assert.js';
import type { TestFunction } from './store-conformance.js';

export type CacheConformanceOptions = {
  /** Prefix of the test names, default `cache conformance`. */
  name?: string;
  /** Time to live of the short-lived entries in the expiry tests; default 150 ms. */
  ttlMs?: number;
  /** How long after the time to live an entry must be gone; default 350 ms. */
  ttlMarginMs?: number;
  /** Size of the large string and Float32Array values; default 1 MiB. */
  largeValueBytes?: number;
  /** Concurrent increments in the atomicity test; default 100. */
  concurrency?: number;
  /** Per-test timeout passed to the runner, default 60 s. */
  timeoutMs?: number;
};

/** What the factory gets: a namespace unique to this call (or the one asked for), so tests never see each other's keys. */
export type CacheFactoryContext = { namespace: string };
type CacheFactory = (context: CacheFactoryContext) => Cache | Promise<Cache>;

const optionsSchema = z
  .object({
    name: z.string().min(1).optional(),
    ttlMs: z.number().int().positive().optional(),
    ttlMarginMs: z.number().int().nonnegative().optional(),
    largeValueBytes: z
      .number()
      .int()
      .min(4)
      .max(64 * 1024 * 1024)
      .optional(),
    concurrency: z.number().int().min(2).max(10_000).optional(),
    timeoutMs: z.number().int().positive().optional(),
  })
  .strict();

let namespaceCounter = 0;
const uniqueNamespace = () => `kcc_${Date.now().toString(36)}_${(namespaceCounter++).toString(36)}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Float32 values that JSON would lose or change: NaN, -0, infinities, subnormals, extremes. */
const AWKWARD_FLOATS = [
  Number.NaN,
  -0,
  0,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  1.401298464324817e-45,
  -1.401298464324817e-45,
  1.1754942106924411e-38,
  3.4028234663852886e38,
  -3.4028234663852886e38,
  0.1,
  1 / 3,
];

const JSON_VALUES: [string, CacheValue][] = [
  ['null', null],
  ['true', true],
  ['false', false],
  ['zero', 0],
  ['a fraction', -1234.5678],
  ['the largest safe integer', Number.MAX_SAFE_INTEGER],
  ['an empty string', ''],
  ['a Unicode string', 'Ünïcödé 日本語 עברית 🙂 \u0000 \n "quoted" \\'],
  ['strings that look like tags', ['~f', '~~', ':base64:AAAA', 'j{}', 'f', '~bAAAA']],
  ['an empty array', []],
  ['an empty object', {}],
  ['a nested object', { a: [1, 'two', null, { b: [true, { c: 'deep' }] }], 'key with spaces': 'x', ключ: 'значение' }],
];

/**
 * Registers the Cache conformance suite with your test runner, in the style of keyv's
 * `storageTestSuite`: get/set/delete, batches, expiry, exact binary round trips, isolation between
 * namespaces, atomic counters, aborted calls, large values and Unicode keys. Every kumiki cache runs it.
 *
 * ```ts
 * import { test } from 'vitest';
 * import { cacheConformance } from 'kumiki/testing';
 * cacheConformance(test, ({ namespace }) => createKeyvCache({ url, namespace }));
 * ```
 */
export function cacheConformance(
  test: TestFunction,
  factory: CacheFactory,
  options: CacheConformanceOptions = {},
): void {
  parseArgument(z.function(), test, "test (the runner's test function, e.g. vitest's `test`)");
  parseArgument(z.function(), factory, 'factory (a function of { namespace } returning a fresh Cache)');
  parseArgument(optionsSchema, options, 'cacheConformance options');
  const prefix = options.name ?? 'cache conformance';
  const ttl = options.ttlMs ?? 150;
  const margin = options.ttlMarginMs ?? 350;
  const largeBytes = options.largeValueBytes ?? 1024 * 1024;
  const concurrency = options.concurrency ?? 100;

  /** Runs `body` with caches from the factory (one per namespace asked for), disposing them afterwards. */
  const t = (name: string, body: (open: (namespace?: string) => Promise<Cache>) => Promise<void>) =>
    test(
      `${prefix}: ${name}`,
      async () => {
        const opened: Cache[] = [];
        const open = async (namespace = uniqueNamespace()) => {
          const cache = await factory({ namespace });
          opened.push(cache);
          return cache;
        };
        try {
          await body(open);
        } finally {
          for (const cache of opened) await cache.dispose?.();
        }
      },
      options.timeoutMs ?? 60_000,
    );

  t('describes itself', async (open) => {
    const cache = await open();
    equal(cache.specificationVersion, 'kumiki.cache.v1', 'specificationVersion');
    check(typeof cache.provider === 'string' && cache.provider.length > 0, 'provider is set');
    equal(typeof cache.capabilities.persistent, 'boolean', 'capabilities.persistent');
    equal(typeof cache.capabilities.shared, 'boolean', 'capabilities.shared');
  });

  t('gets, sets, overwrites and deletes', async (open) => {
    const cache = await open();
    equal(await cache.get('missing'), undefined, 'a missing key');
    await cache.set('a', 'first');
    equal(await cache.get('a'), 'first', 'after set');
    await cache.set('a', 'second');
    equal(await cache.get('a'), 'second', 'after overwrite');
    equal(await cache.delete('a'), true, 'delete of an existing key');
    equal(await cache.get('a'), undefined, 'after delete');
    equal(await cache.delete('a'), false, 'delete of a missing key');
  });

  t('JSON values round trip', async (open) => {
    const cache = await open();
    for (const [what, value] of JSON_VALUES) {
      await cache.set(`json:${what}`, value);
      deepEqual(await cache.get(`json:${what}`), value, what);
    }
  });

  t('binary values round trip exactly, as their own types', async (open) => {
    const cache = await open();
    const floats = new Float32Array(AWKWARD_FLOATS);
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const backing = new Float32Array([9, 8, 7, 6, 5]);
    const cases: [string, CacheValue][] = [
      ['a Float32Array with NaN, -0, infinities and subnormals', floats],
      ['an empty Float32Array', new Float32Array(0)],
      ['a Float32Array view at an offset', backing.subarray(1, 4)],
      ['a Uint8Array of every byte', bytes],
      ['an empty Uint8Array', new Uint8Array(0)],
      ['a Uint8Array view at an offset', bytes.subarray(100, 107)],
      [
        'binary nested in JSON',
        { vector: floats, raw: [bytes.subarray(0, 3), { inner: new Float32Array([1.5]) }], label: '~tilde', n: 1 },
      ],
    ];
    for (const [what, value] of cases) {
      await cache.set(what, value);
      deepEqual(await cache.get(what), value, what);
    }
    const [read] = await cache.getMany(['a Float32Array with NaN, -0, infinities and subnormals']);
    check(read instanceof Float32Array, 'getMany returns a Float32Array');
    const bits = new Uint32Array(read.buffer, read.byteOffset, read.length);
    const expectedBits = new Uint32Array(floats.buffer);
    for (let i = 0; i < floats.length; i++) {
      equal(bits[i], expectedBits[i], `bit pattern of float ${i} (${floats[i]})`);
    }
  });

  t('stored values are copies: mutating inputs or outputs changes nothing', async (open) => {
    const cache = await open();
    const vector = new Float32Array([1, 2, 3]);
    const object = { list: [1, 2] };
    await cache.set('vector', vector);
    await cache.set('object', object);
    vector[0] = 100;
    object.list.push(3);
    const first = (await cache.get('vector')) as Float32Array;
    deepEqual(first, new Float32Array([1, 2, 3]), 'mutating the input after set');
    first[1] = 200;
    deepEqual(await cache.get('vector'), new Float32Array([1, 2, 3]), 'mutating a returned value');
    deepEqual(await cache.get('object'), { list: [1, 2] }, 'mutating an input object after set');
  });

  t('getMany and setMany keep order, report misses, last duplicate wins', async (open) => {
    const cache = await open();
    deepEqual(await cache.getMany([]), [], 'getMany of no keys');
    await cache.setMany([]);
    await cache.setMany([
      { key: 'a', value: 'A' },
      { key: 'c', value: new Float32Array([3]) },
      { key: 'b', value: 'first' },
      { key: 'b', value: 'last' },
    ]);
    deepEqual(
      await cache.getMany(['c', 'missing', 'a', 'b', 'a']),
      [new Float32Array([3]), undefined, 'A', 'last', 'A'],
      'getMany in the order asked, with misses as undefined',
    );
    const keys = Array.from({ length: 500 }, (_, i) => `bulk:${i}`);
    await cache.setMany(keys.map((key, i) => ({ key, value: i % 2 === 0 ? i : new Float32Array([i]) })));
    const values = await cache.getMany(keys);
    equal(values.length, keys.length, 'getMany of 500 keys returns 500 values');
    values.forEach((value, i) => {
      deepEqual(value, i % 2 === 0 ? i : new Float32Array([i]), `bulk value ${i}`);
    });
  });

  t('entries expire after their time to live', async (open) => {
    const cache = await open();
    await cache.set('short', 'gone soon', { ttlMs: ttl });
    await cache.setMany([
      { key: 'short-batch', value: new Float32Array([1]), ttlMs: ttl },
      { key: 'long-batch', value: 'stays', ttlMs: 60_000 },
      { key: 'forever', value: 'stays' },
    ]);
    await cache.set('long', 'stays', { ttlMs: 60_000 });
    equal(await cache.get('long'), 'stays', 'a long-lived entry right after set');
    await sleep(ttl + margin);
    equal(await cache.get('short'), undefined, `set with ttlMs ${ttl}, read ${ttl + margin} ms later`);
    deepEqual(
      await cache.getMany(['short-batch', 'long-batch', 'forever', 'long']),
      [undefined, 'stays', 'stays', 'stays'],
      'after the short time to live, only the short-lived entries are gone',
    );
  });

  t('namespaces are isolated', async (open) => {
    const left = await open();
    const right = await open();
    await left.set('same', 'left');
    await right.set('same', 'right');
    equal(await left.get('same'), 'left', 'left namespace');
    equal(await right.get('same'), 'right', 'right namespace');
    await left.setMany([{ key: 'only-left', value: 1 }]);
    deepEqual(await right.getMany(['only-left', 'same']), [undefined, 'right'], 'getMany does not cross namespaces');
    equal(await left.delete('same'), true, 'delete in the left namespace');
    equal(await right.get('same'), 'right', 'a delete does not cross namespaces');
    if (left.increment && right.increment) {
      await left.increment('counter', 5);
      equal(await right.increment('counter', 1), 1, 'counters do not cross namespaces');
    }
  });

  t('a shared cache is seen by a second instance', async (open) => {
    const first = await open();
    if (!first.capabilities.shared) return;
    const namespace = uniqueNamespace();
    const writer = await open(namespace);
    const reader = await open(namespace);
    await writer.setMany([
      { key: 'k', value: new Float32Array([1, 2]) },
      { key: 'j', value: { ok: true } },
    ]);
    deepEqual(await reader.getMany(['k', 'j']), [new Float32Array([1, 2]), { ok: true }], 'read by another instance');
  });

  t('increment counts atomically, with a time to live', async (open) => {
    const cache = await open();
    if (!cache.increment) return;
    const increment = cache.increment.bind(cache);
    equal(await increment('c', 1), 1, 'first increment starts from 0');
    equal(await increment('c', 5), 6, 'increment by 5');
    equal(await increment('c', -2), 4, 'a negative step');
    equal(await increment('c', 0), 4, 'increment by 0 reads the counter');
    const results = await Promise.all(Array.from({ length: concurrency }, () => increment('race', 1)));
    deepEqual(
      [...results].sort((a, b) => a - b),
      Array.from({ length: concurrency }, (_, i) => i + 1),
      `${concurrency} concurrent increments each see a distinct value`,
    );
    if (cache.capabilities.shared) {
      const namespace = uniqueNamespace();
      const [a, b] = [await open(namespace), await open(namespace)];
      const both = await Promise.all(
        Array.from({ length: concurrency }, (_, i) => ((i % 2 === 0 ? a : b).increment as typeof increment)('x', 1)),
      );
      equal(Math.max(...both), concurrency, 'concurrent increments through two instances all count');
      equal(new Set(both).size, concurrency, 'and each sees a distinct value');
    }
    equal(await increment('window', 1, { ttlMs: ttl }), 1, 'a counter with a time to live');
    equal(await increment('window', 1, { ttlMs: ttl }), 2, 'a second increment in the window');
    await sleep(ttl + margin);
    equal(await increment('window', 1, { ttlMs: ttl }), 1, 'after the window the counter starts again');
    equal(await cache.delete('c'), true, 'a counter can be deleted');
    equal(await increment('c', 1), 1, 'a deleted counter starts again');
    await rejectsWith(() => increment('c', 1.5), 'InvalidArgumentError', 'a fractional step');
  });

  t('an increment with an id is applied once, however often it is retried', async (open) => {
    const cache = await open();
    if (!cache.increment) return;
    const increment = cache.increment.bind(cache);
    equal(await increment('once', 3, { id: 'a' }), 3, 'the first delivery counts');
    equal(await increment('once', 3, { id: 'a' }), 3, 'a retry with the same id reads the counter');
    equal(await increment('once', 1, { id: 'b' }), 4, 'another id counts');
    const retries = await Promise.all(Array.from({ length: 10 }, () => increment('once', 5, { id: 'c' })));
    equal(Math.max(...retries), 9, 'concurrent retries of one id count once');
    equal(await increment('once', 0), 9, 'the counter holds each id once');
  });

  t('an aborted signal rejects every call with AbortedError and changes nothing', async (open) => {
    const cache = await open();
    const live = new AbortController().signal;
    await cache.set('kept', 'before', { abortSignal: live, ttlMs: 60_000 });
    await cache.setMany([{ key: 'other', value: new Float32Array([1]) }], { abortSignal: live });
    equal(await cache.get('kept', { abortSignal: live }), 'before', 'get with a live signal');
    deepEqual(
      await cache.getMany(['kept', 'other'], { abortSignal: live }),
      ['before', new Float32Array([1])],
      'getMany with a live signal',
    );
    const controller = new AbortController();
    controller.abort(new Error('the caller gave up'));
    const abortSignal = controller.signal;
    await rejectsWith(() => cache.get('kept', { abortSignal }), 'AbortedError', 'get');
    await rejectsWith(() => cache.getMany(['kept'], { abortSignal }), 'AbortedError', 'getMany');
    await rejectsWith(() => cache.set('kept', 'after', { abortSignal }), 'AbortedError', 'set');
    await rejectsWith(
      () => cache.set('fresh', 'after', { abortSignal, ttlMs: 60_000 }),
      'AbortedError',
      'set with ttlMs',
    );
    await rejectsWith(
      () =>
        cache.setMany(
          [
            { key: 'kept', value: 'after' },
            { key: 'fresh', value: 'after' },
          ],
          { abortSignal },
        ),
      'AbortedError',
      'setMany',
    );
    await rejectsWith(() => cache.delete('kept', { abortSignal }), 'AbortedError', 'delete');
    deepEqual(
      await cache.getMany(['kept', 'other', 'fresh']),
      ['before', new Float32Array([1]), undefined],
      'aborted writes and deletes changed nothing',
    );
    if (!cache.increment) return;
    const increment = cache.increment.bind(cache);
    equal(await increment('counter', 2, { abortSignal: live }), 2, 'increment with a live signal');
    await rejectsWith(() => increment('counter', 5, { abortSignal }), 'AbortedError', 'increment');
    await rejectsWith(() => increment('counter', 5, { abortSignal, id: 'x' }), 'AbortedError', 'increment with an id');
    equal(await increment('counter', 5, { id: 'x' }), 7, 'aborted increments counted nothing and did not use their id');
  });

  t('large values', async (open) => {
    const cache = await open();
    const floats = Float32Array.from({ length: Math.floor(largeBytes / 4) }, (_, i) => Math.sin(i) * 1e3);
    const text = `${'x'.repeat(largeBytes - 2)}🙂`;
    const object = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, { i, s: `v${i}` }]));
    await cache.setMany([
      { key: 'floats', value: floats },
      { key: 'text', value: text },
      { key: 'object', value: object },
    ]);
    const [gotFloats, gotText, gotObject] = await cache.getMany(['floats', 'text', 'object']);
    deepEqual(gotFloats, floats, `a Float32Array of ${floats.length} values`);
    equal(gotText, text, `a string of ${text.length} characters`);
    deepEqual(gotObject, object, 'an object with 10,000 keys');
  });

  t('Unicode and unusual keys', async (open) => {
    const cache = await open();
    const keys = [
      '🙂',
      '日本語のキー',
      'é',
      'e\u0301',
      'with spaces and\ttabs',
      'colons:in:keys',
      '~',
      '*?[glob]',
      'k'.repeat(1000),
    ];
    await cache.setMany(keys.map((key, i) => ({ key, value: i })));
    deepEqual(
      await cache.getMany(keys),
      keys.map((_, i) => i),
      'each key reads back its own value (é and e + combining accent are different keys)',
    );
    for (const [i, key] of keys.entries()) equal(await cache.get(key), i, `get ${JSON.stringify(key.slice(0, 20))}`);
  });

  t('rejects bad input with InvalidArgumentError', async (open) => {
    const cache = await open();
    await rejectsWith(() => cache.set('k', undefined as never), 'InvalidArgumentError', 'an undefined value');
    await rejectsWith(() => cache.set('k', (() => 1) as never), 'InvalidArgumentError', 'a function value');
    await rejectsWith(() => cache.get(42 as never), 'InvalidArgumentError', 'a key that is not a string');
    await rejectsWith(() => cache.set('k', 1, { ttlMs: -5 }), 'InvalidArgumentError', 'a negative ttlMs');
    await rejectsWith(() => cache.getMany('k' as never), 'InvalidArgumentError', 'keys that are not an array');
    await rejectsWith(
      () => cache.get('k', { abortSignal: 'stop' as never }),
      'InvalidArgumentError',
      'an abortSignal that is not an AbortSignal',
    );
    equal(await cache.get('k'), undefined, 'rejected writes wrote nothing');
  });
}
