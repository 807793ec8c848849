// A worker process of the distributed chaos suite (test/chaos/distributed-harness.ts), on the built
// package as an application would run it; the parent kills it with SIGKILL at random moments.
// Environment: REDIS_URL, NAMESPACE, PG_URL, PG_SCHEMA, MODE (dense | hybrid), LEASE_MS.
// Prints `ready`, then `start <job>` and `done <job>` for each job.
import { createBm25Encoder } from 'kumiki';
import { createIngestWorker } from 'kumiki/distributed';
import { createPgvectorStore } from 'kumiki/stores/pgvector';
import { chaosEmbedder, chaosSplitter } from './corpus.mjs';

const env = process.env;
const pgStore = createPgvectorStore({ connectionString: env.PG_URL, schema: env.PG_SCHEMA, poolConfig: { max: 1 } });
// CHAOS_DEBUG=1: every store call on stderr, to find where a worker waits.
const store = env.CHAOS_DEBUG
  ? new Proxy(pgStore, {
      get(target, key) {
        const value = Reflect.get(target, key, target);
        if (typeof value !== 'function') return value;
        return async (...args) => {
          process.stderr.write(`[${process.pid}] ${String(key)} ...\n`);
          try {
            return await value.apply(target, args);
          } finally {
            process.stderr.write(`[${process.pid}] ${String(key)} done\n`);
          }
        };
      },
    })
  : pgStore;
const leaseMs = Number(env.LEASE_MS ?? 1000);
const worker = await createIngestWorker({
  redis: env.REDIS_URL,
  namespace: env.NAMESPACE,
  store,
  embedder: chaosEmbedder(),
  ...(env.MODE === 'hybrid' ? { sparseEmbedder: createBm25Encoder() } : {}),
  splitter: chaosSplitter,
  batchSize: 8,
  leaseMs,
  stalledCheckMs: Math.max(100, Math.floor(leaseMs / 2)),
  maxStalls: 5,
  onEvent: (event) => {
    if (event.type === 'started') process.stdout.write(`start ${event.jobId}\n`);
    else if (event.type === 'completed') process.stdout.write(`done ${event.jobId}\n`);
    else process.stdout.write(`failed ${event.jobId} ${JSON.stringify(event.error)}\n`);
  },
});
process.stdout.write('ready\n');
process.once('SIGTERM', async () => {
  await worker.close();
  await pgStore.dispose();
  process.exit(0);
});
