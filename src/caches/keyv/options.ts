import type { Keyv, KeyvStoreAdapter } from 'keyv';
import * as z from 'zod';
import type { Cache, CacheCapabilities, CacheIncrementOptions } from '../../core/cache.js';
import type { KumikiError } from '../../core/errors.js';
import { callOptionsSchema } from '../../core/schemas.js';

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

export const isFunction = (value: unknown) => typeof value === 'function';

export const optionsSchema = z
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

export const keySchema = z.string({ error: 'key must be a string' }).min(1, 'key must not be empty');
export const keysSchema = z.array(keySchema, { error: 'keys must be an array of strings' });
const ttlSchema = z.number().int().positive('ttlMs must be a positive integer (milliseconds)').optional();
export const optionalCallOptionsSchema = callOptionsSchema.optional();
export const setOptionsSchema = callOptionsSchema.extend({ ttlMs: ttlSchema }).optional();
export const incrementOptionsSchema = callOptionsSchema
  .extend({
    ttlMs: ttlSchema,
    id: z.string().min(1, 'id must not be empty').max(256, 'id is at most 256 characters').optional(),
  })
  .optional();
export const entriesSchema = z.array(
  z.object({
    key: keySchema,
    value: z.unknown(),
    ttlMs: z.number().int().positive('ttlMs must be a positive integer (milliseconds)').optional(),
  }),
  { error: 'entries must be an array of { key, value, ttlMs? }' },
);
export const bySchema = z
  .number({ error: 'by must be a number' })
  .refine(Number.isSafeInteger, 'by must be a safe integer (counters hold integers)');
