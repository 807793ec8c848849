/** Retries with exponential backoff and full jitter. Runtime-neutral. Internal: not part of the public surface. */
import { AbortedError, KumikiError } from '../core/errors.js';
import { sleep } from './abort.js';

export type RetryOptions = {
  /** Attempts after the first; default 3. */
  retries?: number;
  /** First backoff in ms; doubles each time, with full jitter; default 200. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  abortSignal?: AbortSignal;
  operation: string;
};

/**
 * Calls `fn` until it succeeds, a non-retryable error occurs, or retries run out. Kumiki errors
 * decide by `isRetryable` and honour `retryAfterMs` when they carry one.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const retries = options.retries ?? 3;
  const base = options.baseDelayMs ?? 200;
  const max = options.maxDelayMs ?? 10_000;
  for (let attempt = 0; ; attempt++) {
    if (options.abortSignal?.aborted)
      throw new AbortedError({ operation: options.operation, cause: options.abortSignal.reason });
    try {
      return await fn(attempt);
    } catch (error) {
      const retryable = KumikiError.isInstance(error) && error.isRetryable;
      if (!retryable || attempt >= retries) throw error;
      const retryAfter = (error as { retryAfterMs?: number }).retryAfterMs;
      const backoff = Math.random() * Math.min(max, base * 2 ** attempt);
      await sleep(retryAfter ?? backoff, options.abortSignal, options.operation);
    }
  }
}
