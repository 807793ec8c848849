/**
 * `npm run chaos:distributed -- --runs 50 [--seed N] [--mode dense|hybrid]`: the distributed chaos
 * suite of test/distributed-chaos.test.ts at any size. Builds first (the workers run the built
 * package), starts Redis and a Postgres (PGlite), prints each run and a summary; exits 1 if any run
 * ends in a state other than a single-process ingest's.
 */
import { parseArgs } from 'node:util';
import { runDistributedChaos } from '../test/chaos/distributed-harness.js';
import { startPgliteServer } from '../test/helpers/pglite-server.js';
import { startRedisServer } from '../test/helpers/redis-server.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '50' },
    seed: { type: 'string' },
    mode: { type: 'string', default: 'hybrid' },
  },
});
const runs = Number(values.runs);
const seed = Number(values.seed ?? Date.now() % 100_000);
const mode = values.mode === 'dense' ? 'dense' : 'hybrid';
const [redis, pg] = await Promise.all([startRedisServer(), startPgliteServer({ serializeClients: true })]);
const started = performance.now();
try {
  const summary = await runDistributedChaos({
    runs,
    redisUrl: redis.url,
    pgUrl: pg.connectionString,
    seed,
    mode,
    onRun: (run, total) =>
      console.log(
        `run ${run.run} (version ${run.version}): ${run.killed ? `worker killed${run.midJob ? ' mid-job' : ' between jobs'}` : 'kill missed (run already over)'}, ${run.retriedJobs} jobs taken over, ${run.equal ? 'equal to a single-process ingest' : `DIFFERENT: ${run.difference}`} (${total.kills} kills)`,
      ),
  });
  console.log(
    `\n${summary.runs} runs, ${summary.kills} workers killed (${summary.killsMidJob} mid-job), ${summary.retriedJobs} jobs taken over, ${summary.failures.length} failures, seed ${seed}, ${Math.round((performance.now() - started) / 1000)} s`,
  );
  process.exitCode = summary.failures.length > 0 ? 1 : 0;
} finally {
  await redis.stop();
  await pg.stop();
}
