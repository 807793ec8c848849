import type { Keyv, KeyvStoreAdapter } from 'keyv';
import { z } from 'zod';
import type { Cache, CacheCapabilities, CacheIncrementOptions } from '../../core/cache.js';
import { ConflictError, InvalidArgumentError, KumikiError, TimeoutError, UnavailableError } from '../../core/errors.js';
import { parseArgument } from '../../core/validate.js';
import { importOptional, lazy } from '../../internal/optional.js';
import { decodeValue, encodeValue } from './codec.js';

export type KeyvCacheOperation = 'get' | 'getMany' | 'set' | 'setMany' | 'delete' | 'increment' | 'dispose';

export type KeyvCacheErrorContext = {
  operation: KeyvCacheOperation;
  /** The keys involved, as the caller passed them (without the namespace). */
  keys: readonly string[];
};

export type KeyvCacheOptions = {
  /** An existing Keyv instance. kumiki sets `throwOnErrors` on it (and on its store) so failures reach it. */
  keyv?: Keyv;
  /** A keyv store adapter (`new KeyvRedis(…)`, `new KeyvValkey(…)`, …) or a `Map`; wrapped in a new Keyv. */
  store?: KeyvStoreAdapter | Map<unknown, unknown>;
  /** `redis://…` or `rediss://…`: connects with `@keyv/redis` (which also talks to Valkey servers). */
  url?: string;
  /** Prefix of every key (`<namespace>:<key>`); default `kumiki`. */
  namespace?: string;
  /** Time to live of entries written without `ttlMs`, in milliseconds; default: no expiry. */
  ttlMs?: number;
  /**
   * Throw `UnavailableError`/`TimeoutError` on store failures instead of failing open; default false.
   * `increment` always throws: a counter never fails open.
   */
  strict?: boolean;
  /** Called with every store failure (also in strict mode); default: a throttled `console.warn`. */
  onError?: (error: KumikiError, context: KeyvCacheErrorContext) => void;
  /** Longest a store operation may take before it counts as failed; default 2,000 ms. */
  timeoutMs?: number;
  /** Overrides what kumiki infers (a Map is neither persistent nor shared; anything else is both). */
  capabilities?: Partial<CacheCapabilities>;
};

/** A kumiki Cache over keyv. */
export type KeyvCache = Cache & {
  readonly provider: 'keyv';
  readonly namespace: string;
  increment(key: string, by: number, options?: CacheIncrementOptions): Promise<number>;
  /** The underlying Keyv instance (created on first use): the escape hatch to keyv's own API. */
  keyv(): Promise<Keyv>;
  /** Closes connections kumiki opened (from `url`) and empties a Map kumiki created; instances you passed stay open. */
  dispose(): Promise<void>;
};

const DEFAULT_TIMEOUT_MS = 2_000;
const WARN_INTERVAL_MS = 30_000;

const isFunction = (value: unknown) => typeof value === 'function';

const optionsSchema = z
  .object({
    keyv: z
      .custom<Keyv>(
        (value) =>
          typeof value === 'object' &&
          value !== null &&
          ['get', 'getMany', 'setMany', 'delete'].every((name) => isFunction((value as Record<string, unknown>)[name])),
        'keyv must be a Keyv instance (version 5)',
      )
      .optional(),
    store: z
      .custom<KeyvStoreAdapter>(
        (value) =>
          value instanceof Map ||
          (typeof value === 'object' &&
            value !== null &&
            ['get', 'set', 'delete', 'clear'].every((name) => isFunction((value as Record<string, unknown>)[name]))),
        'store must be a keyv store adapter or a Map',
      )
      .optional(),
    url: z
      .string()
      .regex(/^rediss?:\/\//, 'url must start with redis:// or rediss://')
      .optional(),
    namespace: z.string().min(1).optional(),
    ttlMs: z.number().int().positive().optional(),
    strict: z.boolean().optional(),
    onError: z.custom<NonNullable<KeyvCacheOptions['onError']>>(isFunction, 'onError must be a function').optional(),
    timeoutMs: z.number().int().positive().optional(),
    capabilities: z.object({ persistent: z.boolean().optional(), shared: z.boolean().optional() }).strict().optional(),
  })
  .strict()
  .refine((options) => [options.keyv, options.store, options.url].filter((x) => x !== undefined).length <= 1, {
    message: 'pass at most one of keyv, store and url',
  });

const keySchema = z.string({ error: 'key must be a string' }).min(1, 'key must not be empty');
const keysSchema = z.array(keySchema, { error: 'keys must be an array of strings' });
const ttlSchema = z.number().int().positive('ttlMs must be a positive integer (milliseconds)').optional();
const setOptionsSchema = z.object({ ttlMs: ttlSchema }).strict().optional();
const incrementOptionsSchema = z
  .object({
    ttlMs: ttlSchema,
    id: z.string().min(1, 'id must not be empty').max(256, 'id is at most 256 characters').optional(),
  })
  .strict()
  .optional();
/** How long an increment id is remembered when its counter has no time to live. */
const DEFAULT_ID_TTL_MS = 86_400_000;
const entriesSchema = z.array(
  z.object({
    key: keySchema,
    value: z.unknown(),
    ttlMs: z.number().int().positive('ttlMs must be a positive integer (milliseconds)').optional(),
  }),
  { error: 'entries must be an array of { key, value, ttlMs? }' },
);
const bySchema = z
  .number({ error: 'by must be a number' })
  .refine(Number.isSafeInteger, 'by must be a safe integer (counters hold integers)');

/**
 * Adds `by` and returns the new value, atomically; gives the counter a time to live when it has none
 * (so a window starts at the first increment and is not extended by later ones). With an id key
 * (KEYS[2]), an increment whose id was seen already only reads the counter: the id is remembered as
 * long as the counter lives (or ARGV[3] ms), so a retried or late-delivered command counts once.
 */
const INCREMENT_SCRIPT = `if KEYS[2] then
  if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[3]) then
    return tonumber(redis.call('GET', KEYS[1]) or '0')
  end
end
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if tonumber(ARGV[2]) > 0 and redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return value`;

/** `idKey`: the store key remembering an increment id, when the increment has one. */
type Counter = (storeKey: string, by: number, ttlMs: number, idKey: string | undefined) => Promise<number>;

/** EVAL arguments for INCREMENT_SCRIPT. */
function scriptArguments(key: string, by: number, ttlMs: number, idKey: string | undefined): string[] {
  const keys = idKey === undefined ? ['1', key] : ['2', key, idKey];
  return [...keys, String(by), String(ttlMs), String(ttlMs > 0 ? ttlMs : DEFAULT_ID_TTL_MS)];
}

type NodeRedisClient = { sendCommand(args: string[]): Promise<unknown> };
type NodeRedisStore = {
  /** Connects on first use, as the store's own commands do. */
  getClient(): Promise<NodeRedisClient>;
  namespace?: string;
  createKeyPrefix(key: string, namespace?: string): string;
  throwOnErrors?: boolean;
};
type ValkeyStore = {
  redis: { eval(script: string, keys: number, ...args: (string | number)[]): Promise<unknown> };
  _getKeyName(key: string): string;
};

/** Atomic counters straight on the Redis/Valkey client, with the key the store would use. */
function serverCounter(store: unknown): { counter: Counter; storeKey: (key: string) => string } | undefined {
  const candidate = store as Partial<NodeRedisStore & ValkeyStore>;
  if (isFunction(candidate.getClient) && isFunction(candidate.createKeyPrefix)) {
    const redis = store as NodeRedisStore;
    return {
      storeKey: (key) => redis.createKeyPrefix(key, redis.namespace),
      counter: async (key, by, ttlMs, idKey) => {
        const client = await redis.getClient();
        return Number(await client.sendCommand(['EVAL', INCREMENT_SCRIPT, ...scriptArguments(key, by, ttlMs, idKey)]));
      },
    };
  }
  if (isFunction(candidate.redis?.eval) && isFunction(candidate._getKeyName)) {
    const valkey = store as ValkeyStore;
    return {
      storeKey: (key) => valkey._getKeyName(key),
      counter: async (key, by, ttlMs, idKey) => {
        const [count, ...rest] = scriptArguments(key, by, ttlMs, idKey);
        return Number(await valkey.redis.eval(INCREMENT_SCRIPT, Number(count), ...rest));
      },
    };
  }
  return undefined;
}

/** `redis://user:secret@host` → `redis://user:***@host`, for messages. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'the configured url';
  }
}

function throttledWarning(): (error: KumikiError) => void {
  let last = 0;
  let suppressed = 0;
  return (error) => {
    const now = Date.now();
    if (now - last < WARN_INTERVAL_MS) {
      suppressed++;
      return;
    }
    const more = suppressed > 0 ? ` (${suppressed} similar failures since the last warning)` : '';
    console.warn(`[kumiki] ${error.message}${more}`);
    last = now;
    suppressed = 0;
  };
}

const TOLERANT = Symbol.for('kumiki.keyv.tolerantDeserialize');

/**
 * Makes keyv's deserializer read an entry it cannot parse (garbled, or written by another program)
 * as missing, instead of throwing: with `throwOnErrors`, one such entry would otherwise fail a whole
 * `getMany` as if the store were down. Idempotent, so two caches can share one Keyv.
 */
function tolerateUnreadableEntries(keyv: Keyv): void {
  const deserialize = keyv.deserialize as (((data: string) => unknown) & { [TOLERANT]?: true }) | undefined;
  if (deserialize === undefined || deserialize[TOLERANT]) return;
  const tolerant = Object.assign(
    async (data: string) => {
      try {
        return await deserialize.call(keyv, data);
      } catch {
        return undefined;
      }
    },
    { [TOLERANT]: true as const },
  );
  keyv.deserialize = tolerant as unknown as Keyv['deserialize'];
}

/** Redis refuses INCRBY on a value that is not an integer: that is the caller's mistake, not an outage. */
function isNotACounter(error: unknown): boolean {
  return error instanceof Error && /not an integer|overflow/i.test(error.message);
}

type Native = {
  keyv: Keyv;
  /** Resolves once the store is connected (one attempt at a time: @keyv/redis connects on each call while closed). */
  connected: () => Promise<unknown>;
  /** Runs a counter update (at most once per id); the store keys are computed as the store would. */
  increment: (key: string, by: number, ttlMs: number, id: string | undefined) => Promise<number>;
};

/**
 * A Cache on keyv 5: in memory by default, Redis with `url`, or any keyv store. Values are stored in a
 * compact tagged string form that keeps Float32Array and Uint8Array exactly (see `codec.ts`). Store
 * failures are reported to `onError` and count as misses and skipped writes, unless `strict: true`.
 *
 * ```ts
 * const cache = createKeyvCache({ url: 'redis://localhost:6379', namespace: 'myapp', ttlMs: 86_400_000 });
 * ```
 */
export function createKeyvCache(options: KeyvCacheOptions = {}): KeyvCache {
  const parsed = parseArgument(optionsSchema, options, 'createKeyvCache options');
  const namespace = parsed.namespace ?? 'kumiki';
  const timeoutMs = parsed.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const strict = parsed.strict ?? false;
  const report = parsed.onError ?? throttledWarning();
  const where = parsed.url ? redact(parsed.url) : parsed.keyv || parsed.store ? 'the keyv store' : 'memory';
  const givenStore: unknown = parsed.store ?? parsed.keyv?.store;
  const inMemory = parsed.url === undefined && (givenStore === undefined || givenStore instanceof Map);
  const capabilities: CacheCapabilities = {
    persistent: parsed.capabilities?.persistent ?? !inMemory,
    shared: parsed.capabilities?.shared ?? !inMemory,
  };
  const ownsStore = parsed.keyv === undefined && parsed.store === undefined;
  const prefix = `${namespace}:`;
  const full = (key: string) => prefix + key;
  let disposed = false;
  let started = false;

  const native = lazy(async (): Promise<Native> => {
    let keyv: Keyv;
    if (parsed.keyv) {
      keyv = parsed.keyv;
      const keyvNamespace = keyv.useKeyPrefix ? keyv.namespace : undefined;
      if (keyvNamespace && prefix.startsWith(`${keyvNamespace}:`)) {
        throw new InvalidArgumentError({
          argument: 'createKeyvCache options',
          issues: [
            {
              path: 'namespace',
              message: `the Keyv instance's namespace "${keyvNamespace}" is a prefix of the kumiki namespace "${namespace}", which makes keyv prefix keys inconsistently; choose another namespace for one of them`,
            },
          ],
          component: 'keyv',
        });
      }
    } else {
      const { Keyv } = await importOptional('keyv', 'keyv cache', () => import('keyv'));
      let store: KeyvStoreAdapter | Map<unknown, unknown> = parsed.store ?? new Map();
      if (parsed.url) {
        const { default: KeyvRedis } = await importOptional('@keyv/redis', 'keyv cache', () => import('@keyv/redis'));
        store = new KeyvRedis(
          {
            url: parsed.url,
            // Fail fast while disconnected instead of queueing commands until Redis returns.
            disableOfflineQueue: true,
            socket: {
              connectTimeout: timeoutMs,
              reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2_000),
            },
          },
          { throwOnConnectError: true, throwOnErrors: true, connectionTimeout: timeoutMs },
        );
      }
      // kumiki prefixes keys itself, the same way for every store; a Map holds the encoded strings as they are.
      keyv = new Keyv({
        store,
        namespace: undefined,
        useKeyPrefix: false,
        ...(store instanceof Map ? { serialize: undefined, deserialize: undefined } : {}),
      });
    }
    keyv.throwOnErrors = true;
    tolerateUnreadableEntries(keyv);
    const store = keyv.store as Partial<NodeRedisStore>;
    if (typeof store.throwOnErrors === 'boolean') store.throwOnErrors = true;
    const keyvKey = (key: string) =>
      keyv.useKeyPrefix && keyv.namespace && !key.startsWith(`${keyv.namespace}:`) ? `${keyv.namespace}:${key}` : key;
    const connected = isFunction(store.getClient) ? lazy(() => (store as NodeRedisStore).getClient()) : async () => {};
    const server = serverCounter(keyv.store);
    if (server) {
      return {
        keyv,
        connected,
        increment: (key, by, ttlMs, id) => {
          const counterKey = server.storeKey(keyvKey(key));
          // `{counter key}`: a Redis Cluster hash tag, so that the id key lives in the counter's slot (one script, one slot).
          const idKey = id === undefined ? undefined : server.storeKey(keyvKey(`{${counterKey}}#id:${id}`));
          return server.counter(counterKey, by, ttlMs, idKey);
        },
      };
    }
    return { keyv, connected, increment: localCounter(keyv) };
  });

  const fail = (operation: KeyvCacheOperation, keys: readonly string[], cause: unknown): KumikiError => {
    const first = keys[0] ?? '';
    const what =
      keys.length === 1 ? `key "${first.length > 80 ? `${first.slice(0, 80)}…` : first}"` : `${keys.length} keys`;
    const error =
      cause instanceof OperationTimeout
        ? new TimeoutError({
            operation: `keyv cache ${operation} of ${what} at ${where}`,
            timeoutMs,
            component: 'keyv',
          })
        : new UnavailableError({
            message: `The keyv cache could not ${operation} ${what} at ${where}: ${
              cause instanceof Error ? cause.message : String(cause)
            }. Check that the store is reachable${strict ? '' : '; until then cache reads miss and writes are skipped'}.`,
            cause,
            component: 'keyv',
            ...(parsed.url ? { url: redact(parsed.url) } : {}),
          });
    try {
      report(error, { operation, keys });
    } catch {
      // a failing reporter must not turn a cache miss into an outage
    }
    return error;
  };

  /**
   * Runs a store operation with a deadline; failures are reported, then thrown (strict, or no
   * `fallback`) or replaced by `fallback`.
   */
  async function guarded<T>(
    operation: KeyvCacheOperation,
    keys: readonly string[],
    fallback: (() => T) | undefined,
    run: (native: Native) => Promise<T>,
  ): Promise<T> {
    if (disposed) {
      throw new ConflictError({
        message: `The keyv cache "${namespace}" has been disposed; create a new one.`,
        component: 'keyv',
      });
    }
    started = true;
    const resolved = await native();
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        resolved.connected().then(() => run(resolved)),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new OperationTimeout()), timeoutMs);
        }),
      ]);
    } catch (cause) {
      if (KumikiError.isInstance(cause)) throw cause;
      const error = fail(operation, keys, cause);
      if (strict || fallback === undefined) throw error;
      return fallback();
    } finally {
      clearTimeout(timer);
    }
  }

  const readMany = (operation: KeyvCacheOperation, keys: readonly string[]) =>
    guarded(
      operation,
      keys,
      () => keys.map(() => undefined),
      async ({ keyv }) => {
        if (keys.length === 0) return [];
        const stored = await keyv.getMany<string>(keys.map(full));
        return stored.map((value) => decodeValue(value));
      },
    );

  const writeMany = (operation: KeyvCacheOperation, entries: { key: string; value: string; ttlMs?: number }[]) =>
    guarded(
      operation,
      entries.map((entry) => entry.key),
      () => undefined,
      async ({ keyv }) => {
        if (entries.length === 0) return;
        const results = await keyv.setMany(
          entries.map((entry) => ({
            key: full(entry.key),
            value: entry.value,
            ...((entry.ttlMs ?? parsed.ttlMs) ? { ttl: entry.ttlMs ?? parsed.ttlMs } : {}),
          })),
        );
        if (Array.isArray(results) && results.includes(false)) throw new Error('the store refused the write');
      },
    );

  return {
    specificationVersion: 'kumiki.cache.v1',
    provider: 'keyv',
    namespace,
    capabilities,

    async get(key) {
      const parsedKey = parseArgument(keySchema, key, 'key');
      const [value] = await readMany('get', [parsedKey]);
      return value;
    },

    async getMany(keys) {
      return readMany('getMany', parseArgument(keysSchema, keys, 'keys'));
    },

    async set(key, value, setOptions) {
      const parsedKey = parseArgument(keySchema, key, 'key');
      const { ttlMs } = parseArgument(setOptionsSchema, setOptions, 'set options') ?? {};
      await writeMany('set', [{ key: parsedKey, value: encodeValue(value, 'value'), ...(ttlMs ? { ttlMs } : {}) }]);
    },

    async setMany(entries) {
      const parsedEntries = parseArgument(entriesSchema, entries, 'entries');
      await writeMany(
        'setMany',
        parsedEntries.map((entry, i) => ({
          key: entry.key,
          value: encodeValue(entry.value, `entries.${i}.value`),
          ...(entry.ttlMs ? { ttlMs: entry.ttlMs } : {}),
        })),
      );
    },

    async delete(key) {
      const parsedKey = parseArgument(keySchema, key, 'key');
      return guarded(
        'delete',
        [parsedKey],
        () => false,
        ({ keyv }) => keyv.delete(full(parsedKey)),
      );
    },

    async increment(key, by, incrementOptions) {
      const parsedKey = parseArgument(keySchema, key, 'key');
      const amount = parseArgument(bySchema, by, 'by');
      const parsedOptions = parseArgument(incrementOptionsSchema, incrementOptions, 'increment options');
      const ttlMs = parsedOptions?.ttlMs ?? parsed.ttlMs ?? 0;
      const id = parsedOptions?.id;
      // No fallback: an invented count would silently stop a rate limit.
      return guarded('increment', [parsedKey], undefined, async ({ increment }) => {
        try {
          return await increment(full(parsedKey), amount, ttlMs, id);
        } catch (error) {
          if (!isNotACounter(error)) throw error;
          throw new InvalidArgumentError({
            argument: 'key',
            issues: [{ path: '', message: `"${parsedKey}" holds a value that is not an integer counter` }],
            cause: error,
            component: 'keyv',
          });
        }
      });
    },

    async keyv() {
      started = true;
      return (await native()).keyv;
    },

    async dispose() {
      if (disposed) return;
      disposed = true;
      if (!ownsStore || !started) return;
      try {
        const { keyv } = await native();
        if (inMemory) await keyv.clear();
        await keyv.disconnect();
      } catch (cause) {
        fail('dispose', [], cause);
      }
    },
  };
}

class OperationTimeout extends Error {}

/**
 * Counters for stores without server-side scripting (a Map, SQLite, …): a read-modify-write through
 * keyv, serialised per key. Atomic within this process only.
 */
function localCounter(keyv: Keyv): Native['increment'] {
  const queues = new Map<string, Promise<unknown>>();
  const update = async (key: string, by: number, ttlMs: number, idKey: string | undefined): Promise<number> => {
    const raw = await keyv.getRaw<string>(key);
    const now = Date.now();
    const live = raw !== undefined && (typeof raw.expires !== 'number' || raw.expires > now);
    const current = live ? decodeValue(raw.value) : 0;
    if (typeof current !== 'number' || !Number.isSafeInteger(current)) {
      throw new Error('value is not an integer');
    }
    if (idKey !== undefined) {
      // Seen already: this increment was applied, and only reads the counter now.
      if ((await keyv.get(idKey)) !== undefined) return current;
      await keyv.set(idKey, encodeValue(1, 'counter'), ttlMs > 0 ? ttlMs : DEFAULT_ID_TTL_MS);
    }
    const next = current + by;
    if (!Number.isSafeInteger(next)) throw new Error('increment would overflow');
    const expires = live && typeof raw.expires === 'number' ? raw.expires : ttlMs > 0 ? now + ttlMs : undefined;
    await keyv.set(key, encodeValue(next, 'counter'), expires === undefined ? undefined : Math.max(1, expires - now));
    return next;
  };
  return (key, by, ttlMs, id) => {
    const previous = queues.get(key) ?? Promise.resolve();
    const run = previous.then(() => update(key, by, ttlMs, id === undefined ? undefined : `${key}#id:${id}`));
    const tail = run.catch(() => undefined);
    queues.set(key, tail);
    void tail.then(() => {
      if (queues.get(key) === tail) queues.delete(key);
    });
    return run;
  };
}
