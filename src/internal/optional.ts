/**
 * Loading optional peer libraries on first use, and memoised lazy initialisation. Runtime-neutral.
 * Internal: not part of the public surface.
 */
import { MissingDependencyError } from '../core/errors.js';

/**
 * Imports an adapter's library on first use, with a typed error naming the package when it is
 * missing. `load` must be a literal `() => import('pkg')` so bundlers can see it.
 */
export async function importOptional<T>(packageName: string, adapter: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new MissingDependencyError({ packageName, adapter, cause: error, component: adapter });
    }
    throw error;
  }
}

/** Memoises an async factory: the first call starts it, later calls share the promise; a failure is retried next time. */
export function lazy<T>(factory: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    pending ??= factory().catch((error: unknown) => {
      pending = undefined;
      throw error;
    });
    return pending;
  };
}
