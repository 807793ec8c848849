/**
 * Sliding-window counters in a shared Cache: each limit keeps one counter per fixed minute
 * (`Cache.increment`, atomic, with a time to live), and a request is judged by the current minute's
 * count plus the previous minute's, weighted by how much of it still overlaps the last 60 s. Several
 * gateway instances pointing at the same Redis share the allowance.
 *
 * Every increment carries an id unique to the request and the purpose (count, refund, reservation,
 * settlement), and a failed increment is retried once with the same id: the cache applies an id once,
 * so a write that reaches Redis late (after a pause) and its retry count once. When the counters stay
 * unreachable the limiter fails closed (`CounterUnavailableError`) unless the app opted into failing open.
 */
import type { Cache } from '../core/cache.js';
import { AbortedError, InvalidArgumentError } from '../core/errors.js';

const WINDOW_MS = 60_000;
/** Two windows' worth of life: a counter is read as "previous" during the following minute. */
const COUNTER_TTL_MS = 2 * WINDOW_MS + 5_000;
/** Attempts per increment (the first and one retry with the same id). */
const ATTEMPTS = 2;

export type LimitKind = 'requests' | 'tokens';

export type RateDecision =
  | { allowed: true; warning?: string }
  | { allowed: false; kind: LimitKind; limit: number; retryAfterMs: number };

type Increment = NonNullable<Cache['increment']>;

/** The counters could not be reached, even after a retry: the request is refused (fail closed). */
export class CounterUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`the rate-limit counters are unreachable (${cause instanceof Error ? cause.message : String(cause)})`, {
      cause,
    });
    this.name = 'CounterUnavailableError';
  }
}

/**
 * How long until the weighted estimate drops to `limit` or below, when the current window holds
 * `current` and the previous one `previous`, `elapsed` ms into the current window.
 */
export function retryAfterMs(previous: number, current: number, limit: number, elapsed: number): number {
  const remaining = WINDOW_MS - elapsed;
  if (current < limit && previous > 0) {
    // previous · (1 − f) + current ≤ limit  ⇔  f ≥ 1 − (limit − current) / previous
    const fraction = 1 - (limit - current) / previous;
    return Math.max(1_000, fraction * WINDOW_MS - elapsed);
  }
  // The current window alone is over: wait for it to end, then for enough of the next one to pass.
  return Math.max(1_000, remaining + Math.max(0, 1 - limit / Math.max(current, 1)) * WINDOW_MS);
}

export type RateLimiterOptions = {
  prefix: string;
  requestsPerMinute: number | undefined;
  tokensPerMinute: number | undefined;
  /** Let requests through (with a warning) when the counters are unreachable; default false. */
  failOpen: boolean;
  now?: () => number;
};

export class RateLimiter {
  private readonly increment: Increment;
  private readonly now: () => number;
  constructor(
    cache: Cache,
    private readonly options: RateLimiterOptions,
  ) {
    this.increment = (cache.increment as Increment).bind(cache);
    this.now = options.now ?? Date.now;
  }

  get limitsTokens(): boolean {
    return this.options.tokensPerMinute !== undefined;
  }

  private keys(kind: LimitKind, key: string, at: number) {
    const window = Math.floor(at / WINDOW_MS);
    const base = `${this.options.prefix}:${kind}:${key}`;
    return { current: `${base}:${window}`, previous: `${base}:${window - 1}`, elapsed: at - window * WINDOW_MS };
  }

  /**
   * One increment, retried once with the same id; `CounterUnavailableError` when both attempts fail.
   * An aborted signal ends it with `AbortedError` (the caller left: neither an outage nor a retry).
   */
  private async add(key: string, by: number, id: string | undefined, abortSignal?: AbortSignal): Promise<number> {
    let failure: unknown;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      try {
        return await this.increment(key, by, {
          ttlMs: COUNTER_TTL_MS,
          ...(id === undefined ? {} : { id }),
          ...(abortSignal ? { abortSignal } : {}),
        });
      } catch (error) {
        // A counter that holds something else is a configuration problem, not an outage.
        if (AbortedError.isInstance(error) || InvalidArgumentError.isInstance(error)) throw error;
        failure = error;
      }
    }
    throw new CounterUnavailableError(failure);
  }

  /** Adds `by` (once per id) to the current window and returns the weighted estimate with its parts. */
  private async count(kind: LimitKind, key: string, by: number, id: string | undefined, abortSignal?: AbortSignal) {
    const at = this.now();
    const keys = this.keys(kind, key, at);
    const [current, previous] = await Promise.all([
      this.add(keys.current, by, by === 0 ? undefined : id, abortSignal),
      this.add(keys.previous, 0, undefined, abortSignal),
    ]);
    const estimate = previous * (1 - keys.elapsed / WINDOW_MS) + current;
    return { current, previous, estimate, elapsed: keys.elapsed, currentKey: keys.current };
  }

  /** Runs `task`; when the counters are unreachable, refuses (fail closed) or lets through with a warning. */
  private async guard(task: () => Promise<RateDecision>): Promise<RateDecision> {
    try {
      return await task();
    } catch (error) {
      if (!(error instanceof CounterUnavailableError) || !this.options.failOpen) throw error;
      return { allowed: true, warning: `${error.message}; let through because rateLimit.failOpen is true` };
    }
  }

  /**
   * Counts one request (`id`: unique to the request) and checks the token allowance used so far. A
   * refused request is taken back out of the count, so a client retrying too early does not push its
   * own window further out. Throws `CounterUnavailableError` when the counters are unreachable and
   * the limiter fails closed, and `AbortedError` when `abortSignal` (the client's request) fires: a
   * client that left is neither admitted nor let through by `failOpen`. The refund of a refused
   * request is not abortable, so a refused client that leaves is not left counted.
   */
  admit(key: string, id: string, abortSignal?: AbortSignal): Promise<RateDecision> {
    return this.guard(async () => {
      if (this.options.requestsPerMinute !== undefined) {
        const limit = this.options.requestsPerMinute;
        const seen = await this.count('requests', key, 1, `${id}:count`, abortSignal);
        if (seen.estimate > limit) {
          await this.add(seen.currentKey, -1, `${id}:refund`);
          return {
            allowed: false,
            kind: 'requests',
            limit,
            retryAfterMs: retryAfterMs(seen.previous, seen.current - 1, limit - 1, seen.elapsed),
          };
        }
      }
      if (this.options.tokensPerMinute !== undefined) {
        const limit = this.options.tokensPerMinute;
        const seen = await this.count('tokens', key, 0, undefined, abortSignal);
        if (seen.estimate >= limit) {
          return {
            allowed: false,
            kind: 'tokens',
            limit,
            retryAfterMs: retryAfterMs(seen.previous, seen.current, limit, seen.elapsed),
          };
        }
      }
      return { allowed: true };
    });
  }

  /**
   * Adds `tokens` to the caller's token count, once per `id` (negative to give back part of a
   * reservation). Throws `CounterUnavailableError` when the counters are unreachable (even when
   * failing open: the caller decides whether a lost charge fails the request). Not abortable: tokens
   * a client used are charged even when it disconnects.
   */
  async charge(key: string, tokens: number, id: string): Promise<void> {
    if (this.options.tokensPerMinute === undefined || tokens === 0) return;
    await this.count('tokens', key, tokens, id);
  }
}
