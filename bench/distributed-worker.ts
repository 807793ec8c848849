/**
 * One worker process of the distributed ingest benchmark (bench/distributed.ts): an
 * OpenAI-compatible embedder against the benchmark's model-bound server, a pgvector store, and
 * `createIngestWorker`. Environment: REDIS_URL, NAMESPACE, PG_URL, PG_SCHEMA, EMBED_URL, DIMENSIONS.
 */
import { createIngestWorker } from '../src/distributed/index.js';
import { createOpenAICompatibleEmbedder } from '../src/embedders/openai-compatible/index.js';
import { createRecursiveSplitter } from '../src/pipeline/splitter.js';
import { createPgvectorStore } from '../src/stores/pgvector/index.js';

const env = process.env as Record<string, string>;
const { REDIS_URL, EMBED_URL } = env as { REDIS_URL: string; EMBED_URL: string };
const store = createPgvectorStore({ connectionString: env.PG_URL, schema: env.PG_SCHEMA, poolConfig: { max: 1 } });
const worker = await createIngestWorker({
  redis: REDIS_URL,
  namespace: env.NAMESPACE,
  store,
  embedder: createOpenAICompatibleEmbedder({
    baseURL: EMBED_URL,
    model: 'fake-embed',
    dimensions: Number(env.DIMENSIONS),
    maxBatchSize: 16,
  }),
  splitter: createRecursiveSplitter({ chunkSize: 400, chunkOverlap: 0, unit: 'characters' }),
  batchSize: 16,
  ...(env.BENCH_DEBUG
    ? {
        onEvent: (event: { type: string; jobId: string }) =>
          process.stderr.write(`${new Date().toISOString()} ${process.pid} ${event.type} ${event.jobId}\n`),
      }
    : {}),
});
process.stdout.write('ready\n');
process.once('SIGTERM', async () => {
  await worker.close();
  await store.dispose();
  process.exit(0);
});
