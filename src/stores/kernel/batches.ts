/**
 * Writing records in batches: split by count and bytes, at most `concurrency` in flight, each retried,
 * and a `PartialWriteError` naming exactly what was not written. Internal: not part of the public surface.
 */
import { AbortedError, InvalidArgumentError, PartialWriteError } from '../../core/errors.js';
import type { RecordId } from '../../core/types.js';
import { mapLimit } from '../../internal/concurrency.js';
import { type RetryOptions, withRetry } from '../../internal/retry.js';

export { utf8Length } from '../../core/json.js';

export type BatchLimits = {
  /** Most items per batch. */
  maxCount: number;
  /** Most bytes per batch, as measured by `sizeOf`. */
  maxBytes: number;
};

/**
 * Splits items into consecutive batches that respect both limits. An item larger than `maxBytes` on
 * its own cannot be sent at all: `InvalidArgumentError` names it.
 */
export function splitBatches<T>(
  items: readonly T[],
  limits: BatchLimits,
  sizeOf: (item: T) => number,
  describe: (item: T) => string,
): T[][] {
  const batches: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = sizeOf(item);
    if (size > limits.maxBytes) {
      throw new InvalidArgumentError({
        argument: 'records',
        issues: [
          {
            path: '',
            message: `${describe(item)} takes ${size} bytes, more than the ${limits.maxBytes}-byte request limit; shrink its payload`,
          },
        ],
      });
    }
    if (current.length > 0 && (current.length >= limits.maxCount || bytes + size > limits.maxBytes)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/**
 * Writes batches with bounded parallelism and retries. When some batches fail for good, throws
 * `PartialWriteError` listing exactly the ids that were not written (or the first error if nothing
 * was written at all).
 */
export async function writeBatches<T>(options: {
  collection: string;
  batches: readonly T[][];
  idOf: (item: T) => RecordId;
  concurrency: number;
  retry: Omit<RetryOptions, 'operation'>;
  write: (batch: T[]) => Promise<void>;
  component: string;
}): Promise<number> {
  const failures: { batch: T[]; error: unknown }[] = [];
  let written = 0;
  await mapLimit(options.batches, options.concurrency, async (batch) => {
    try {
      await withRetry(() => options.write(batch), {
        ...options.retry,
        operation: `upsert into "${options.collection}"`,
      });
      written += batch.length;
    } catch (error) {
      failures.push({ batch, error });
    }
  });
  if (failures.length === 0) return written;
  const first = failures[0]?.error;
  if (written === 0 || AbortedError.isInstance(first)) throw first;
  throw new PartialWriteError({
    collection: options.collection,
    failedIds: failures.flatMap((failure) => failure.batch.map(options.idOf)),
    written,
    cause: first,
    component: options.component,
  });
}

/** The items with the last of each key kept, in the order of those last copies (the last duplicate wins). */
export function lastWins<T>(items: readonly T[], keyOf: (item: T) => string): T[] {
  const last = new Map<string, T>();
  for (const item of items) {
    const key = keyOf(item);
    last.delete(key);
    last.set(key, item);
  }
  return [...last.values()];
}
