/**
 * Atomic counters for `increment`: a Lua script on Redis/Valkey clients, or a read-modify-write
 * serialised per key for other keyv stores (atomic within this process only).
 */
import type { Keyv } from 'keyv';
import { throwIfAborted } from '../../core/errors.js';
import { decodeValue, encodeValue } from './codec.js';

/** How long an increment id is remembered when its counter has no time to live. */
const DEFAULT_ID_TTL_MS = 86_400_000;

const isFunction = (value: unknown) => typeof value === 'function';

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

/**
 * `idKey`: the store key remembering an increment id, when the increment has one; `signal`: an
 * increment still waiting for its turn when it fires is never applied.
 */
export type Counter = (
  storeKey: string,
  by: number,
  ttlMs: number,
  idKey: string | undefined,
  signal?: AbortSignal,
) => Promise<number>;

/** EVAL arguments for INCREMENT_SCRIPT. */
function scriptArguments(key: string, by: number, ttlMs: number, idKey: string | undefined): string[] {
  const keys = idKey === undefined ? ['1', key] : ['2', key, idKey];
  return [...keys, String(by), String(ttlMs), String(ttlMs > 0 ? ttlMs : DEFAULT_ID_TTL_MS)];
}

type NodeRedisClient = { sendCommand(args: string[]): Promise<unknown> };
export type NodeRedisStore = {
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
export function serverCounter(store: unknown): { counter: Counter; storeKey: (key: string) => string } | undefined {
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

/**
 * Counters for stores without server-side scripting (a Map, SQLite, …): a read-modify-write through
 * keyv, serialised per key. Atomic within this process only.
 */
export function localCounter(keyv: Keyv): Counter {
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
  return (key, by, ttlMs, id, signal) => {
    const previous = queues.get(key) ?? Promise.resolve();
    const run = previous.then(() => {
      throwIfAborted(signal, 'keyv cache increment');
      return update(key, by, ttlMs, id === undefined ? undefined : `${key}#id:${id}`);
    });
    const tail = run.catch(() => undefined);
    queues.set(key, tail);
    void tail.then(() => {
      if (queues.get(key) === tail) queues.delete(key);
    });
    return run;
  };
}
