/**
 * A token bucket in Redis that every worker draws from before it calls its embedder, so that a pool
 * of workers on many machines sends an embedding server (a vLLM pool, a hosted API) at most
 * `perSecond` texts per second on average and `burst` at once. The bucket's state and clock are
 * Redis's (`TIME`), so the workers' clocks do not matter.
 */
import type { DenseEmbedder, EmbedOptions, SparseEmbedder } from '../core/embedder.js';
import { InvalidArgumentError } from '../core/errors.js';
import { type WrapperMembers, wrapEmbedder } from '../core/wrap.js';
import { sleep } from '../internal/abort.js';
import { type RedisClient, redisCall } from './redis.js';

export type EmbeddingRate = {
  /** Texts per second, on average, across every worker that shares the bucket. */
  perSecond: number;
  /** Texts that may go at once after a quiet spell. Default `perSecond`. */
  burst?: number;
};

/**
 * Takes `n` tokens when the bucket has them (a call larger than `burst` may take a full bucket and
 * leave it in debt) and returns 0, else returns how many ms until it will have them.
 */
const TAKE = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local need = math.min(n, burst)
local ttl = math.ceil(burst * 1000 / rate) + 60000
if tokens >= need then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - n), 'at', now)
  redis.call('PEXPIRE', KEYS[1], ttl)
  return 0
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], ttl)
return math.max(1, math.ceil((need - tokens) * 1000 / rate))
`;

export type TokenBucket = {
  /** Takes `n` tokens now if the bucket has them (returns 0), else returns the ms to wait. */
  tryTake(n: number): Promise<number>;
  /** Waits until `n` tokens are taken. */
  take(n: number, abortSignal?: AbortSignal): Promise<void>;
};

export function checkRate(rate: EmbeddingRate, argument: string): Required<EmbeddingRate> {
  const burst = rate.burst ?? rate.perSecond;
  const issues = [
    ...(Number.isFinite(rate.perSecond) && rate.perSecond > 0
      ? []
      : [{ path: 'perSecond', message: `perSecond must be a positive number, got ${rate.perSecond}` }]),
    ...(Number.isFinite(burst) && burst >= 1
      ? []
      : [{ path: 'burst', message: `burst must be a number of at least 1, got ${rate.burst}` }]),
  ];
  if (issues.length > 0) throw new InvalidArgumentError({ argument, issues });
  return { perSecond: rate.perSecond, burst };
}

export function createTokenBucket(client: RedisClient, key: string, rate: EmbeddingRate): TokenBucket {
  const { perSecond, burst } = checkRate(rate, 'embeddingRate');
  const tryTake = async (n: number) =>
    Number(
      await redisCall(client, 'take from the embedding rate limit', () =>
        client.eval(TAKE, 1, key, perSecond, burst, n),
      ),
    );
  return {
    tryTake,
    async take(n, abortSignal) {
      for (;;) {
        const wait = await tryTake(n);
        if (wait === 0) return;
        await sleep(wait, abortSignal, 'waiting for the embedding rate limit');
      }
    },
  };
}

/** The embedder, with each `embed` call waiting for as many tokens as it has texts. */
export function rateLimited<E extends DenseEmbedder | SparseEmbedder>(embedder: E, bucket: TokenBucket): E {
  const embed = async (options: EmbedOptions) => {
    await bucket.take(options.values.length, options.abortSignal);
    return embedder.embed(options);
  };
  return wrapEmbedder(embedder, { embed } as WrapperMembers<E>) as unknown as E;
}
