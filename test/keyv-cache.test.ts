import KeyvRedis from '@keyv/redis';
import KeyvValkey from '@keyv/valkey';
import { Keyv } from 'keyv';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createKeyvCache, type KeyvCache, type KeyvCacheErrorContext } from '../src/caches/keyv/index.js';
import { AbortedError, KumikiError, TimeoutError, UnavailableError } from '../src/core/errors.js';
import { cacheConformance } from '../src/testing/cache-conformance.js';
import { hangingStore } from './helpers/hanging-store.js';
import { type RedisServer, startRedisServer, startRoundTripCounter } from './helpers/redis-server.js';

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});

describe('in memory', () => {
  cacheConformance(test, () => createKeyvCache(), { name: 'memory (default)' });
  const shared = new Map();
  cacheConformance(test, ({ namespace }) => createKeyvCache({ store: shared, namespace }), {
    name: 'memory (one Map, several namespaces)',
  });
});

describe('on a real redis-server', () => {
  cacheConformance(test, ({ namespace }) => createKeyvCache({ url: redis.url, namespace, strict: true }), {
    name: 'redis (url)',
  });
  /** Caches over a client the test opened: disposing the cache leaves it open, so close it too. */
  const closing = (cache: KeyvCache, close: () => Promise<unknown>): KeyvCache => ({
    ...cache,
    dispose: async () => {
      await cache.dispose();
      await close();
    },
  });
  cacheConformance(
    test,
    ({ namespace }) => {
      const store = new KeyvValkey(redis.url, { useRedisSets: false });
      return closing(createKeyvCache({ store, namespace, strict: true }), () => store.disconnect());
    },
    { name: 'valkey store (iovalkey)' },
  );
  cacheConformance(
    test,
    ({ namespace }) => {
      const keyv = new Keyv(new KeyvRedis(redis.url), { namespace: 'app' });
      return closing(createKeyvCache({ keyv, namespace, strict: true }), () => keyv.disconnect());
    },
    { name: 'redis (a Keyv instance)' },
  );
});

describe('keyv cache specifics', () => {
  test('Redis batches are one round trip: one MGET for getMany, one pipelined MULTI for setMany', async () => {
    const proxy = await startRoundTripCounter(redis.port);
    const cache = createKeyvCache({ url: proxy.url, namespace: 'trips' });
    try {
      await cache.get('warm-up');
      const entries = Array.from({ length: 200 }, (_, i) => ({ key: `k${i}`, value: new Float32Array([i, i + 1]) }));
      await redis.command('CONFIG', 'RESETSTAT');
      proxy.reset();
      await cache.setMany(entries);
      expect(proxy.roundTrips()).toBe(1);
      proxy.reset();
      const values = await cache.getMany(entries.map((entry) => entry.key));
      expect(proxy.roundTrips()).toBe(1);
      expect(values[7]).toEqual(new Float32Array([7, 8]));
      const calls = await redis.commandCalls();
      expect(calls.mget).toBe(1);
      expect(calls.get).toBeUndefined();
      expect(calls.set).toBe(200);
      expect(calls.exec).toBe(1);
    } finally {
      await cache.dispose();
      await proxy.close();
    }
  });

  test('values are stored compactly, not as JSON arrays of numbers', async () => {
    const cache = createKeyvCache({ url: redis.url, namespace: 'compact' });
    try {
      const vector = Float32Array.from({ length: 1024 }, (_, i) => Math.cos(i) / 3);
      await cache.set('v', vector);
      const stored = String(await redis.command('GET', 'compact:v'));
      expect(stored.length).toBeLessThan(1024 * 4 * 1.4 + 64);
      expect(stored).not.toContain(',');
      expect(await cache.get('v')).toEqual(vector);
    } finally {
      await cache.dispose();
    }
  });

  test('the default time to live applies, and increment is INCRBY + PEXPIRE on Redis', async () => {
    const cache = createKeyvCache({ url: redis.url, namespace: 'ttl', ttlMs: 60_000 });
    try {
      await cache.set('a', 1);
      const ttl = Number(await redis.command('PTTL', 'ttl:a'));
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60_000);
      await cache.set('b', 1, { ttlMs: 5_000 });
      expect(Number(await redis.command('PTTL', 'ttl:b'))).toBeLessThanOrEqual(5_000);
      expect(await cache.increment('hits', 3, { ttlMs: 10_000 })).toBe(3);
      expect(await redis.command('GET', 'ttl:hits')).toBe('3');
      expect(Number(await redis.command('PTTL', 'ttl:hits'))).toBeLessThanOrEqual(10_000);
      await cache.set('json', 'text');
      await expect(cache.increment('json', 1)).rejects.toThrow(/not an integer counter/);
      // An id makes an increment idempotent: a retry (or a late delivery) is applied once.
      expect(await cache.increment('once', 2, { id: 'req-1', ttlMs: 10_000 })).toBe(2);
      expect(await cache.increment('once', 2, { id: 'req-1', ttlMs: 10_000 })).toBe(2);
      expect(await cache.increment('once', 1, { id: 'req-2', ttlMs: 10_000 })).toBe(3);
      // The id key carries the counter's key as a hash tag: the same Redis Cluster slot as the counter.
      expect(Number(await redis.command('PTTL', '{ttl:once}#id:req-1'))).toBeLessThanOrEqual(10_000);
      expect(Number(await redis.command('PTTL', '{ttl:once}#id:req-1'))).toBeGreaterThan(0);
    } finally {
      await cache.dispose();
    }
  });

  test('fails open when Redis goes away (except counters), reporting each failure; strict mode throws', async () => {
    const own = await startRedisServer();
    const failures: { error: KumikiError; context: KeyvCacheErrorContext }[] = [];
    const lenient = createKeyvCache({
      url: own.url,
      namespace: 'fo',
      onError: (error, context) => failures.push({ error, context }),
    });
    const strict = createKeyvCache({ url: own.url, namespace: 'fo', strict: true, onError: () => {} });
    try {
      await lenient.set('k', 'v');
      expect(await strict.get('k')).toBe('v');
      await own.stop();
      expect(await lenient.get('k')).toBeUndefined();
      expect(await lenient.getMany(['k', 'x'])).toEqual([undefined, undefined]);
      await lenient.setMany([{ key: 'k', value: 1 }]);
      expect(await lenient.delete('k')).toBe(false);
      // A counter never fails open: an invented count would silently stop a rate limit.
      const counted = await lenient.increment('n', 2).catch((error: unknown) => error);
      expect(UnavailableError.isInstance(counted) || TimeoutError.isInstance(counted)).toBe(true);
      expect(failures.map((failure) => failure.context.operation)).toEqual([
        'get',
        'getMany',
        'setMany',
        'delete',
        'increment',
      ]);
      for (const { error } of failures) {
        expect(UnavailableError.isInstance(error) || TimeoutError.isInstance(error)).toBe(true);
        expect(error.message).toContain(own.url.replace('redis://', ''));
      }
      const thrown = await strict.get('k').catch((error: unknown) => error);
      expect(UnavailableError.isInstance(thrown) || TimeoutError.isInstance(thrown)).toBe(true);
      expect((thrown as Error).message).toMatch(/could not get key "k"|did not finish/);
      await expect(strict.setMany([{ key: 'a', value: 1 }])).rejects.toSatisfy(KumikiError.isInstance);
    } finally {
      await lenient.dispose();
      await strict.dispose();
    }
  });

  /** Entries no kumiki cache wrote: not JSON for keyv, or kumiki forms with broken contents. */
  const garbled = [
    'not json',
    '{"value":"j1',
    '{"value":"f%%%%"}',
    '{"value":"b!!!!"}',
    '{"value":"fAAA"}',
    '{"value":"t[\\"~fA$A=\\"]"}',
    '{"value":"t[\\"~bA\\"]"}',
    '{"value":"jnot json"}',
    '{"value":"x"}',
    '{"value":7}',
  ];

  test('a garbled entry on Redis is a miss, also in strict mode, and fails nothing else', async () => {
    const errors: KumikiError[] = [];
    const onError = (error: KumikiError) => errors.push(error);
    const keyv = new Keyv(new KeyvRedis(redis.url), { namespace: 'app' });
    const caches = [
      { cache: createKeyvCache({ url: redis.url, namespace: 'garbled', strict: true, onError }), prefix: 'garbled:' },
      { cache: createKeyvCache({ keyv, namespace: 'garbled', strict: true, onError }), prefix: 'app:garbled:' },
    ];
    try {
      for (const { cache, prefix } of caches) {
        await cache.setMany([
          { key: 'a', value: new Float32Array([1, 2]) },
          { key: 'c', value: { n: new Uint8Array([3]) } },
        ]);
        for (const raw of garbled) {
          await redis.command('SET', `${prefix}b`, raw);
          expect(await cache.getMany(['a', 'b', 'c']), raw).toEqual([
            new Float32Array([1, 2]),
            undefined,
            { n: new Uint8Array([3]) },
          ]);
          expect(await cache.get('b'), raw).toBeUndefined();
        }
        await cache.set('b', 'rewritten');
        expect(await cache.get('b')).toBe('rewritten');
      }
      expect(errors).toEqual([]);
    } finally {
      for (const { cache } of caches) await cache.dispose();
      await keyv.disconnect();
    }
  });

  test('a garbled entry in memory is a miss: in the default Map and in a Keyv with a serializer', async () => {
    const map = new Map<string, unknown>();
    const plain = createKeyvCache({ store: map, namespace: 'm', strict: true });
    const serializing = new Map<string, unknown>();
    const viaKeyv = createKeyvCache({ keyv: new Keyv({ store: serializing }), namespace: 'm', strict: true });
    await plain.set('a', 1);
    await viaKeyv.set('a', 1);
    const [key] = [...serializing.keys()];
    for (const raw of garbled) {
      // kumiki's own Map holds keyv's data object; a Keyv with a serializer holds its JSON string.
      map.set('m:b', raw.startsWith('{"value":"') && raw.endsWith('"}') ? { value: JSON.parse(raw).value } : raw);
      serializing.set(String(key).replace(/a$/, 'b'), raw);
      for (const cache of [plain, viaKeyv]) {
        expect(await cache.getMany(['a', 'b']), raw).toEqual([1, undefined]);
        expect(await cache.get('b'), raw).toBeUndefined();
      }
    }
  });

  test('a store that never answers times out', async () => {
    const hanging = new Map<string, unknown>();
    const store = Object.assign(hanging, { get: () => new Promise(() => {}) });
    const errors: KumikiError[] = [];
    const cache = createKeyvCache({ store, timeoutMs: 50, onError: (error) => errors.push(error) });
    expect(await cache.get('k')).toBeUndefined();
    expect(TimeoutError.isInstance(errors[0])).toBe(true);
    expect(errors[0]?.message).toContain('keyv cache get of key "k"');
  });

  test('an aborted call to a store that never answers rejects with AbortedError, not a miss or a report', async () => {
    // get reads one key, getMany two.
    const { store, waiting } = hangingStore(3);
    const errors: KumikiError[] = [];
    const cache = createKeyvCache({ store, timeoutMs: 600_000, onError: (error) => errors.push(error) });
    const controller = new AbortController();
    const pending = [
      cache.get('k', { abortSignal: controller.signal }),
      cache.getMany(['k', 'j'], { abortSignal: controller.signal }),
    ].map((call) =>
      call.then(
        () => 'answered',
        (error: unknown) => error,
      ),
    );
    // Both calls are in the store, waiting for it.
    await waiting;
    controller.abort(new Error('the caller gave up'));
    const outcomes = await Promise.all(pending);
    for (const outcome of outcomes) {
      expect(AbortedError.isInstance(outcome)).toBe(true);
      expect((outcome as AbortedError).message).toMatch(/keyv cache get(Many)? was aborted/);
      expect((outcome as AbortedError).cause).toEqual(new Error('the caller gave up'));
    }
    expect(errors).toEqual([]);
  });

  test('an increment aborted while queued behind another on the same counter is never applied', async () => {
    let release: () => void = () => {};
    let entered: () => void = () => {};
    const first = new Promise<void>((resolve) => {
      entered = resolve;
    });
    let held = true;
    const map = new Map<string, unknown>();
    // The first read of the counter waits until released; the others go straight to the Map.
    const store = Object.assign(map, {
      get: async (key: string) => {
        if (held) {
          held = false;
          entered();
          await new Promise<void>((resolve) => {
            release = resolve;
          });
        }
        return Map.prototype.get.call(map, key);
      },
    });
    const cache = createKeyvCache({ store });
    const running = cache.increment('n', 1);
    await first;
    const controller = new AbortController();
    const queued = cache.increment('n', 10, { abortSignal: controller.signal }).catch((error: unknown) => error);
    // One turn of the event loop: the second increment is past the cache's own checks, in the counter's queue.
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort();
    expect(AbortedError.isInstance(await queued)).toBe(true);
    release();
    expect(await running).toBe(1);
    expect(await cache.increment('n', 0)).toBe(1);
  });

  test('a Redis write held up by CLIENT PAUSE is abandoned when its signal aborts, without failing open', async () => {
    const errors: KumikiError[] = [];
    // Neither strict nor a short deadline: only the abort can end these calls while Redis is paused.
    const cache = createKeyvCache({
      url: redis.url,
      namespace: 'paused',
      timeoutMs: 600_000,
      onError: (error) => errors.push(error),
    });
    const blockedClients = async () => {
      const info = String(await redis.command('INFO', 'clients'));
      return Number(/blocked_clients:(\d+)/.exec(info)?.[1]);
    };
    try {
      await cache.set('k', 'before');
      await cache.increment('n', 1);
      await redis.command('CLIENT', 'PAUSE', 600_000, 'WRITE');
      const controller = new AbortController();
      const abortSignal = controller.signal;
      const events: string[] = [];
      const calls = {
        set: cache.set('k', 'after', { abortSignal }),
        setMany: cache.setMany([{ key: 'k', value: 'after' }], { abortSignal }),
        delete: cache.delete('k', { abortSignal }),
        increment: cache.increment('n', 1, { abortSignal }),
      };
      const outcomes = Object.entries(calls).map(([name, call]) =>
        call.then(
          () => events.push(`${name} answered`),
          (error: unknown) => events.push(`${name} ${AbortedError.isInstance(error) ? 'aborted' : String(error)}`),
        ),
      );
      // The first command waits in Redis; the others are on the wire behind it (one connection).
      while ((await blockedClients()) < 1) await new Promise((resolve) => setTimeout(resolve, 10));
      events.push('abort');
      controller.abort();
      await Promise.all(outcomes);
      events.push('unpause');
      await redis.command('CLIENT', 'UNPAUSE');
      expect(events[0]).toBe('abort');
      expect(events.slice(1, -1).sort()).toEqual([
        'delete aborted',
        'increment aborted',
        'set aborted',
        'setMany aborted',
      ]);
      expect(events.at(-1)).toBe('unpause');
      expect(errors).toEqual([]);
      // Redis had the commands already: they run once it resumes (the signal only stops the wait).
      expect(await cache.increment('n', 0)).toBe(2);
    } finally {
      await redis.command('CLIENT', 'UNPAUSE');
      await cache.dispose();
    }
  });

  test('bad options and a disposed cache give typed errors', async () => {
    expect(() => createKeyvCache({ url: 'http://example.com' })).toThrow(/url must start with redis:\/\//);
    expect(() => createKeyvCache({ url: 'redis://x', store: new Map() })).toThrow(/at most one of keyv, store and url/);
    expect(() => createKeyvCache({ ttlMs: -1 } as never)).toThrow(/ttlMs/);
    const clash = createKeyvCache({ keyv: new Keyv({ namespace: 'kumiki' }) });
    await expect(clash.get('k')).rejects.toThrow(/namespace "kumiki" is a prefix/);
    const cache = createKeyvCache();
    await cache.set('a', 1);
    expect((await cache.keyv()).store).toBeInstanceOf(Map);
    await cache.dispose();
    await expect(cache.get('a')).rejects.toThrow(/has been disposed/);
    expect(cache.capabilities).toEqual({ persistent: false, shared: false });
    const remote = createKeyvCache({ url: redis.url });
    expect(remote.capabilities).toEqual({ persistent: true, shared: true });
    await remote.dispose();
  });
});
