import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { runDistributedChaos } from './chaos/distributed-harness.js';
import { assertFreshBuild } from './chaos/fresh-build.js';
import { type PgliteServer, startPgliteServer } from './helpers/pglite-server.js';
import { type RedisServer, startRedisServer } from './helpers/redis-server.js';

let redis: RedisServer;
let pg: PgliteServer;
beforeAll(async () => {
  [redis, pg] = await Promise.all([startRedisServer(), startPgliteServer({ serializeClients: true })]);
});
afterAll(async () => {
  await redis?.stop();
  await pg?.stop();
});

test(
  '3 worker processes, one killed with SIGKILL at a random moment in each of 50 runs: store, Redis ledger and BM25 statistics equal a single-process ingest after every run',
  async () => {
    await assertFreshBuild();
    const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 100_000);
    const summary = await runDistributedChaos({ runs: 50, redisUrl: redis.url, pgUrl: pg.connectionString, seed });
    await writeFile(
      join(process.cwd(), '.tmp', 'distributed-chaos-summary.json'),
      JSON.stringify({ seed, ...summary }, null, 2),
    ).catch(() => undefined);
    expect(summary.failures, `seed ${seed}`).toEqual([]);
    expect(summary.runs).toBe(50);
    // Most kills land on a worker with a job in hand, whose job another worker then takes over.
    expect(summary.kills).toBeGreaterThanOrEqual(45);
    expect(summary.killsMidJob).toBeGreaterThan(10);
    expect(summary.retriedJobs).toBeGreaterThan(10);
  },
  10 * 60_000,
);
