import type { Keyv, KeyvStoreAdapter } from 'keyv';
import type { CacheCapabilities } from '../../core/cache.js';
import {
  ConflictError,
  InvalidArgumentError,
  KumikiError,
  TimeoutError,
  throwIfAborted,
  UnavailableError,
} from '../../core/errors.js';
import { parseArgument } from '../../core/validate.js';
import { raceAbort } from '../../internal/abort.js';
import { importOptional, lazy } from '../../internal/optional.js';
import { decodeValue, encodeValue } from './codec.js';
import { localCounter, type NodeRedisStore, serverCounter } from './counters.js';
import {
  bySchema,
  entriesSchema,
  incrementOptionsSchema,
  isFunction,
  type KeyvCache,
  type KeyvCacheOperation,
  type KeyvCacheOptions,
  keySchema,
  keysSchema,
  optionalCallOptionsSchema,
  optionsSchema,
  setOptionsSchema,
} from './options.js';

const DEFAULT_TIMEOUT_MS = 2_000;
const WARN_INTERVAL_MS = 30_000;

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
  increment: (
    key: string,
    by: number,
    ttlMs: number,
    id: string | undefined,
    signal: AbortSignal | undefined,
  ) => Promise<number>;
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
        // The script runs at once on the server: nothing queues in this process for a signal to cancel.
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
   * `fallback`) or replaced by `fallback`. An aborted signal rejects with `AbortedError` (never a
   * fallback, never reported): before the store is touched when it fired already, or at once while
   * the store is still working (the command may still reach the store).
   */
  async function guarded<T>(
    operation: KeyvCacheOperation,
    keys: readonly string[],
    signal: AbortSignal | undefined,
    fallback: (() => T) | undefined,
    run: (native: Native) => Promise<T>,
  ): Promise<T> {
    if (disposed) {
      throw new ConflictError({
        message: `The keyv cache "${namespace}" has been disposed; create a new one.`,
        component: 'keyv',
      });
    }
    const label = `keyv cache ${operation}`;
    throwIfAborted(signal, label);
    started = true;
    const resolved = await raceAbort(native(), signal, label, 'keyv');
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        raceAbort(
          resolved.connected().then(() => {
            // Aborted while connecting: the command is never sent.
            throwIfAborted(signal, label);
            return run(resolved);
          }),
          signal,
          label,
          'keyv',
        ),
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

  const readMany = (operation: KeyvCacheOperation, keys: readonly string[], signal: AbortSignal | undefined) =>
    guarded(
      operation,
      keys,
      signal,
      () => keys.map(() => undefined),
      async ({ keyv }) => {
        if (keys.length === 0) return [];
        const stored = await keyv.getMany<string>(keys.map(full));
        return stored.map((value) => decodeValue(value));
      },
    );

  const writeMany = (
    operation: KeyvCacheOperation,
    entries: { key: string; value: string; ttlMs?: number }[],
    signal: AbortSignal | undefined,
  ) =>
    guarded(
      operation,
      entries.map((entry) => entry.key),
      signal,
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

    async get(key, callOptions) {
      const parsedKey = parseArgument(keySchema, key, 'key');
      const { abortSignal } = parseArgument(optionalCallOptionsSchema, callOptions, 'get options') ?? {};
      const [value] = await readMany('get', [parsedKey], abortSignal);
      return value;
    },

    async getMany(keys, callOptions) {
      const parsedKeys = parseArgument(keysSchema, keys, 'keys');
      const { abortSignal } = parseArgument(optionalCallOptionsSchema, callOptions, 'getMany options') ?? {};
      return readMany('getMany', parsedKeys, abortSignal);
    },

    async set(key, value, setOptions) {
      const parsedKey = parseArgument(keySchema, key, 'key');
      const { ttlMs, abortSignal } = parseArgument(setOptionsSchema, setOptions, 'set options') ?? {};
      await writeMany(
        'set',
        [{ key: parsedKey, value: encodeValue(value, 'value'), ...(ttlMs ? { ttlMs } : {}) }],
        abortSignal,
      );
    },

    async setMany(entries, callOptions) {
      const parsedEntries = parseArgument(entriesSchema, entries, 'entries');
      const { abortSignal } = parseArgument(optionalCallOptionsSchema, callOptions, 'setMany options') ?? {};
      await writeMany(
        'setMany',
        parsedEntries.map((entry, i) => ({
          key: entry.key,
          value: encodeValue(entry.value, `entries.${i}.value`),
          ...(entry.ttlMs ? { ttlMs: entry.ttlMs } : {}),
        })),
        abortSignal,
      );
    },

    async delete(key, callOptions) {
      const parsedKey = parseArgument(keySchema, key, 'key');
      const { abortSignal } = parseArgument(optionalCallOptionsSchema, callOptions, 'delete options') ?? {};
      return guarded(
        'delete',
        [parsedKey],
        abortSignal,
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
      const abortSignal = parsedOptions?.abortSignal;
      // No fallback: an invented count would silently stop a rate limit.
      return guarded('increment', [parsedKey], abortSignal, undefined, async ({ increment }) => {
        try {
          return await increment(full(parsedKey), amount, ttlMs, id, abortSignal);
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
