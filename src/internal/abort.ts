/**
 * Abort handling shared by every layer: waiting for work with a way out, and sleeping. Both reject
 * with `AbortedError` (carrying the signal's reason as `cause`), never with the raw reason.
 * Runtime-neutral. Internal: not part of the public surface.
 */
import { AbortedError } from '../core/errors.js';

/**
 * Resolves with `promise`, or rejects with `AbortedError` as soon as the signal fires (at once when it
 * already has). The work itself goes on: use it for shared work (a model load, another caller's
 * flight) or for a client that may ignore the signal.
 */
export function raceAbort<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  operation: string,
  component?: string,
): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new AbortedError({ operation, cause: signal.reason, component }));
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** Sleeps, rejecting with `AbortedError` as soon as the signal fires. */
export function sleep(ms: number, signal: AbortSignal | undefined, operation: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortedError({ operation, cause: signal.reason }));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortedError({ operation, cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
