/**
 * The Redis (or Valkey) connection that the shared ledger, the token bucket, the coordinator and the
 * workers use: `ioredis` imported on first use, errors translated into kumiki's, and key names that
 * keep everything of one collection in one Redis Cluster slot.
 */
import type { Redis } from 'ioredis';
import { KumikiError, UnavailableError } from '../core/errors.js';
import { importOptional } from '../internal/optional.js';

export type RedisClient = Redis;

/** A `redis://` / `rediss://` URL (kumiki opens and closes the connection) or an ioredis client you own. */
export type RedisSource = string | RedisClient;

export const COMPONENT = 'distributed';

/** Default key prefix (`KeyPrefix` in docs/distributed.md). */
export const DEFAULT_NAMESPACE = 'kumiki';

/**
 * Opens a connection. `blocking: true` is for BullMQ (commands wait for Redis instead of failing,
 * as BullMQ requires); otherwise a command fails after a few reconnection attempts so that a ledger
 * write never hangs on a Redis that is gone.
 */
export async function openRedis(url: string, options: { blocking?: boolean } = {}): Promise<RedisClient> {
  const module = await importOptional('ioredis', 'distributed', () => import('ioredis'));
  const Client = (module as { Redis?: typeof Redis }).Redis ?? (module as unknown as { default: typeof Redis }).default;
  return new Client(url, {
    lazyConnect: false,
    connectionName: 'kumiki',
    ...(options.blocking ? { maxRetriesPerRequest: null } : { maxRetriesPerRequest: 2, connectTimeout: 10_000 }),
  });
}

/** Opens `source` when it is a URL; `close` quits only a connection opened here. */
export async function useRedis(
  source: RedisSource,
  options: { blocking?: boolean } = {},
): Promise<{ client: RedisClient; close(): Promise<void> }> {
  if (typeof source !== 'string') return { client: source, close: async () => undefined };
  const client = await openRedis(source, options);
  return {
    client,
    async close() {
      await client.quit().catch(() => client.disconnect());
    },
  };
}

/** Where a connection points, for messages (no password). */
export function describeRedis(client: RedisClient): string {
  const { host, port, db } = client.options;
  return `redis://${host ?? 'localhost'}:${port ?? 6379}${db ? `/${db}` : ''}`;
}

/** Runs a Redis call, turning connection failures into a retryable `UnavailableError` naming Redis. */
export async function redisCall<T>(client: RedisClient, action: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (KumikiError.isInstance(error)) throw error;
    throw new UnavailableError({
      message: `Cannot ${action} in Redis at ${describeRedis(client)}: ${(error as Error).message}. Check that Redis (or Valkey) is running and reachable.`,
      cause: error,
      component: COMPONENT,
    });
  }
}

/**
 * The prefix of every key of one collection: `<namespace>:{<collection>}`. The braces make the
 * collection the Redis Cluster hash tag, so the ledger's keys share a slot and its scripts (which
 * touch several keys at once) run on one node. The name is URI-encoded so that braces in it cannot
 * change the tag.
 */
export const collectionKey = (namespace: string, collection: string) =>
  `${namespace}:{${encodeURIComponent(collection)}}`;
