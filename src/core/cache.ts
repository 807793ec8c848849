/** What a Cache holds: JSON-like values, and binary values that round-trip as their own type. */
export type CacheValue =
  | string
  | number
  | boolean
  | null
  | Uint8Array
  | Float32Array
  | readonly CacheValue[]
  | { readonly [key: string]: CacheValue };

/**
 * What every Cache call takes last. A call whose signal has fired rejects with `AbortedError` and
 * changes nothing; one in flight stops waiting for the store (a write the store already received may
 * still land).
 */
export type CacheCallOptions = {
  abortSignal?: AbortSignal;
};

export type CacheSetOptions = CacheCallOptions & {
  /** Time to live in milliseconds; omit for no expiry. */
  ttlMs?: number;
};

export type CacheIncrementOptions = CacheSetOptions & {
  /**
   * Idempotency key: an increment with an `id` already applied to this counter (within the
   * counter's time to live, or a day without one) is not applied again and returns the current value,
   * so a retried or late-delivered increment never counts twice.
   */
  id?: string;
};

export type CacheCapabilities = {
  /** Whether values survive the process (Redis) or not (memory). */
  persistent: boolean;
  /** Whether several processes see the same entries. */
  shared: boolean;
};

/**
 * A key-value cache for embeddings and model responses. Version 1 of the contract. Keys are strings;
 * namespacing is the implementation's job. A cache may fail open (errors count as misses), but an
 * aborted call always rejects with `AbortedError` (never a miss: the caller asked to stop).
 */
export type Cache = {
  readonly specificationVersion: 'kumiki.cache.v1';
  readonly provider: string;
  readonly capabilities: CacheCapabilities;
  get(key: string, options?: CacheCallOptions): Promise<CacheValue | undefined>;
  getMany(keys: readonly string[], options?: CacheCallOptions): Promise<(CacheValue | undefined)[]>;
  set(key: string, value: CacheValue, options?: CacheSetOptions): Promise<void>;
  setMany(
    entries: readonly { key: string; value: CacheValue; ttlMs?: number }[],
    options?: CacheCallOptions,
  ): Promise<void>;
  delete(key: string, options?: CacheCallOptions): Promise<boolean>;
  /**
   * Atomically adds `by` to a counter and returns the new value (for rate limits). Never fails open:
   * a counter that cannot be reached throws, since an invented count would silently stop a limit.
   */
  increment?(key: string, by: number, options?: CacheIncrementOptions): Promise<number>;
  dispose?(): Promise<void>;
};
