/**
 * What the coordinator and the workers share: BullMQ imported on first use, where the queue's keys
 * live, and which stores can be shared between processes.
 */
import { InvalidArgumentError } from '../core/errors.js';
import type { Store } from '../core/store.js';
import { importOptional } from '../internal/optional.js';
import { DEFAULT_QUEUE } from './jobs.js';
import { DEFAULT_NAMESPACE, type RedisClient, type RedisSource, useRedis } from './redis.js';

/** Where the queue and the ledgers live; the coordinator and its workers must agree on all three. */
export type DistributedConnection = {
  /** Redis or Valkey: a `redis://` / `rediss://` URL, or an ioredis client you own. */
  redis: RedisSource;
  /** Prefix of every key kumiki writes (ledgers, queue, rate limit). Default `kumiki`. */
  namespace?: string;
  /** The queue's name. Default `ingest`. */
  queue?: string;
};

export const loadBullmq = (): Promise<typeof import('bullmq')> =>
  importOptional('bullmq', 'distributed', () => import('bullmq'));

/**
 * The BullMQ key prefix: `{<namespace>}`, a Redis Cluster hash tag, since BullMQ needs every key of
 * a queue in one slot.
 */
export const queuePrefix = (namespace: string | undefined) => `{${namespace ?? DEFAULT_NAMESPACE}}`;

export const queueName = (connection: DistributedConnection) => connection.queue ?? DEFAULT_QUEUE;

/**
 * Two connections: `client` for the ledger, the rate limit and the queue's own commands, and
 * `blocking` for BullMQ's blocking reads (a worker waiting for jobs, the coordinator for events),
 * whose commands must wait for Redis rather than fail.
 */
export async function openConnections(source: RedisSource): Promise<{
  client: RedisClient;
  blocking: RedisClient;
  close(): Promise<void>;
}> {
  const main = await useRedis(source);
  const blocking =
    typeof source === 'string'
      ? await useRedis(source, { blocking: true })
      : await useRedis(source.duplicate({ maxRetriesPerRequest: null }));
  return {
    client: main.client,
    blocking: blocking.client,
    async close() {
      await main.close();
      await blocking.client.quit().catch(() => blocking.client.disconnect());
    },
  };
}

/**
 * Workers in other processes write the store the coordinator reads: it must be one that several
 * processes share. The memory store lives inside one process (and, with a snapshot file, is saved
 * by one writer at a time), so each worker would fill its own copy.
 */
export function refuseLocalStore(store: Store, argument: string): void {
  if (store.provider !== 'memory') return;
  throw new InvalidArgumentError({
    argument,
    issues: [
      {
        path: 'store',
        message:
          'the memory store lives inside one process, so each worker would write its own copy and the coordinator would see none of it; use a store that several processes share (pgvector, Qdrant or Milvus), or ingest() in one process',
      },
    ],
  });
}
