/**
 * The gateway's sliding-window limiter with an injected clock, crossing minute windows: the refund of
 * a refused request, the weighting of the previous minute, and the token-limit comparison.
 */
import { describe, expect, test } from 'vitest';
import { createKeyvCache } from '../src/caches/keyv/index.js';
import { RateLimiter } from '../src/gateway/rate-limit.js';

/** The start of a minute window, so that offsets below name a window and a point in it. */
const MINUTE = 60_000;
const T0 = 1_000 * MINUTE;

function limiter(limits: { requestsPerMinute?: number; tokensPerMinute?: number }) {
  const clock = { now: T0 };
  const rate = new RateLimiter(createKeyvCache(), {
    prefix: 'rl',
    requestsPerMinute: limits.requestsPerMinute,
    tokensPerMinute: limits.tokensPerMinute,
    failOpen: false,
    now: () => clock.now,
  });
  let id = 0;
  /** `count` admissions of `key` at `at` ms after T0: which were allowed. */
  const admit = async (at: number, count: number, key = 'caller') => {
    clock.now = T0 + at;
    const allowed: boolean[] = [];
    for (let i = 0; i < count; i++) allowed.push((await rate.admit(key, `request-${id++}`)).allowed);
    return allowed;
  };
  return { rate, clock, admit };
}

const times = (n: number, value: boolean) => Array.from({ length: n }, () => value);

describe('requests per minute', () => {
  test('a refused request is taken back out: retrying too early does not weigh on the next minute', async () => {
    const { admit } = limiter({ requestsPerMinute: 2 });
    expect(await admit(1_000, 8)).toEqual([true, true, ...times(6, false)]);
    // Half-way through the next minute the previous one weighs 2 × 0.5 = 1 (not 8 × 0.5 = 4): one more fits.
    expect(await admit(MINUTE + 30_000, 2)).toEqual([true, false]);
  });

  test('the previous minute weighs by how much of it still overlaps the last 60 s', async () => {
    const quarter = limiter({ requestsPerMinute: 10 });
    expect(await quarter.admit(0, 10)).toEqual(times(10, true));
    // 15 s into the next minute: 10 × 0.75 = 7.5 from before, so 2 more fit (9.5), not 3 (10.5).
    expect(await quarter.admit(MINUTE + 15_000, 4)).toEqual([true, true, false, false]);
    const threeQuarters = limiter({ requestsPerMinute: 10 });
    expect(await threeQuarters.admit(59_999, 10)).toEqual(times(10, true));
    // 45 s in: 10 × 0.25 = 2.5 from before, so 7 fit (9.5), not 8 (10.5).
    expect(await threeQuarters.admit(MINUTE + 45_000, 9)).toEqual([...times(7, true), false, false]);
    // Two minutes on, that full minute is no longer counted at all.
    const later = limiter({ requestsPerMinute: 10 });
    expect(await later.admit(0, 10)).toEqual(times(10, true));
    expect(await later.admit(2 * MINUTE + 1, 11)).toEqual([...times(10, true), false]);
  });

  test('callers are counted apart, and a refusal names the limit with a Retry-After', async () => {
    const { rate, clock, admit } = limiter({ requestsPerMinute: 1 });
    expect(await admit(0, 1, 'alice')).toEqual([true]);
    expect(await admit(0, 1, 'bob')).toEqual([true]);
    clock.now = T0 + 20_000;
    const refused = await rate.admit('alice', 'again');
    expect(refused).toMatchObject({ allowed: false, kind: 'requests', limit: 1 });
    // The minute ends in 40 s; then the old request still weighs fully until time passes: 40 s at least.
    expect((refused as { retryAfterMs: number }).retryAfterMs).toBeGreaterThanOrEqual(40_000);
  });
});

describe('tokens per minute', () => {
  test('a caller at exactly the token limit is refused; one token under it is let through', async () => {
    const { rate, clock } = limiter({ tokensPerMinute: 100 });
    await rate.charge('caller', 99, 'charge-1');
    expect(await rate.admit('caller', 'r1')).toEqual({ allowed: true });
    await rate.charge('caller', 1, 'charge-2');
    expect(await rate.admit('caller', 'r2')).toMatchObject({ allowed: false, kind: 'tokens', limit: 100 });
    // A charge repeated with the same id counts once; a negative one gives tokens back.
    await rate.charge('caller', -1, 'refund-1');
    await rate.charge('caller', -1, 'refund-1');
    expect(await rate.admit('caller', 'r3')).toEqual({ allowed: true });
    await rate.charge('caller', 1, 'charge-3');
    // Half-way through the next minute: 100 × 0.5 = 50 tokens weigh.
    clock.now = T0 + MINUTE + 30_000;
    expect(await rate.admit('caller', 'r4')).toEqual({ allowed: true });
    await rate.charge('caller', 49, 'charge-4');
    expect(await rate.admit('caller', 'r5')).toEqual({ allowed: true });
    await rate.charge('caller', 1, 'charge-5');
    expect(await rate.admit('caller', 'r6')).toMatchObject({ allowed: false, kind: 'tokens' });
  });
});
