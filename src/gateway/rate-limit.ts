/**
 * Sliding-window counters in a shared Cache: each limit keeps one counter per fixed minute
 * (`Cache.increment`, atomic, with a time to live), and a request is judged by the current minute's
 * count plus the previous minute's, weighted by how much of it still overlaps the last 60 s. Several
 * gateway instances pointing at the same Redis share the allowance.
 */
import type { Cache } from '../core/cache.js';

const WINDOW_MS = 60_000;

export type LimitKind = 'requests' | 'tokens';

export type RateDecision = { allowed: true } | { allowed: false; kind: LimitKind; limit: number; retryAfterMs: number };

type Increment = NonNullable<Cache['increment']>;

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

export class RateLimiter {
  private readonly increment: Increment;
  constructor(
    cache: Cache,
    private readonly prefix: string,
    private readonly requestsPerMinute: number | undefined,
    private readonly tokensPerMinute: number | undefined,
    private readonly now: () => number = Date.now,
  ) {
    this.increment = (cache.increment as Increment).bind(cache);
  }

  private keys(kind: LimitKind, key: string, at: number) {
    const window = Math.floor(at / WINDOW_MS);
    const base = `${this.prefix}:${kind}:${key}`;
    return { current: `${base}:${window}`, previous: `${base}:${window - 1}`, elapsed: at - window * WINDOW_MS };
  }

  /** Adds `by` to the current window and returns the weighted estimate with its parts. */
  private async count(kind: LimitKind, key: string, by: number) {
    const at = this.now();
    const keys = this.keys(kind, key, at);
    // Two windows' worth of life: the counter is read as "previous" during the following minute.
    const ttlMs = 2 * WINDOW_MS + 5_000;
    const [current, previous] = await Promise.all([
      this.increment(keys.current, by, { ttlMs }),
      this.increment(keys.previous, 0, { ttlMs }),
    ]);
    const estimate = previous * (1 - keys.elapsed / WINDOW_MS) + current;
    return { current, previous, estimate, elapsed: keys.elapsed, currentKey: keys.current };
  }

  /**
   * Counts one request and checks the token allowance used so far. A refused request is taken back
   * out of the count, so a client retrying too early does not push its own window further out.
   */
  async admit(key: string): Promise<RateDecision> {
    if (this.requestsPerMinute !== undefined) {
      const limit = this.requestsPerMinute;
      const seen = await this.count('requests', key, 1);
      if (seen.estimate > limit) {
        await this.increment(seen.currentKey, -1, { ttlMs: 2 * WINDOW_MS + 5_000 });
        return {
          allowed: false,
          kind: 'requests',
          limit,
          retryAfterMs: retryAfterMs(seen.previous, seen.current - 1, limit - 1, seen.elapsed),
        };
      }
    }
    if (this.tokensPerMinute !== undefined) {
      const limit = this.tokensPerMinute;
      const seen = await this.count('tokens', key, 0);
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
  }

  /** Records tokens a finished request used. */
  async spend(key: string, tokens: number): Promise<void> {
    if (this.tokensPerMinute === undefined || tokens <= 0) return;
    await this.count('tokens', key, tokens);
  }
}
