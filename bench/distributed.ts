/**
 * Distributed ingest: how ingest of a model-bound corpus scales with worker processes. The embedder
 * is OpenAI-compatible, against a local server that answers every call after a fixed latency with
 * any number of calls at once (a pool of embedding servers, e.g. vLLM on GPUs: each call waits for
 * the model, not for this machine's CPUs). The store is pgvector (PGlite over the wire, one session
 * shared by every process), the queue and ledger a real Redis. Each row ingests the same corpus into
 * a new collection; workers are separate processes started before the clock starts; the coordinator
 * runs here. The last row is `ingest()` in this process, with the same embedder and store.
 *
 *   npm run bench -- distributed
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ingestDistributed } from '../src/distributed/index.js';
import { createOpenAICompatibleEmbedder } from '../src/embedders/openai-compatible/index.js';
import { ingest } from '../src/pipeline/ingest.js';
import { createMemoryLedger } from '../src/pipeline/ledger.js';
import { createRecursiveSplitter } from '../src/pipeline/splitter.js';
import type { SourceDocument } from '../src/pipeline/types.js';
import { createPgvectorStore } from '../src/stores/pgvector/index.js';
import { startFakeOpenAIServer } from '../test/helpers/fake-openai-server.js';
import { startPgliteServer } from '../test/helpers/pglite-server.js';
import { startRedisServer } from '../test/helpers/redis-server.js';
import { documentText, loadCisi } from './cisi.js';

const WORKER = fileURLToPath(new URL('./distributed-worker.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));

export async function runDistributedBench(
  options: { documents?: number; latencyMs?: number; dimensions?: number; workers?: number[] } = {},
): Promise<string> {
  const latencyMs = options.latencyMs ?? 1000;
  const dimensions = options.dimensions ?? 384;
  const counts = options.workers ?? [1, 2, 3, 4, 6, 8];
  const cisi = loadCisi();
  const documents: SourceDocument[] = cisi.documents.slice(0, options.documents ?? 300).map((document) => ({
    uri: `cisi://${document.id}`,
    text: documentText(document),
    contentType: 'text/plain',
  }));
  const [redis, pg, server] = await Promise.all([
    startRedisServer(),
    startPgliteServer({ serializeClients: true }),
    startFakeOpenAIServer({ latencyMs, dimensions }),
  ]);
  const embedder = () =>
    createOpenAICompatibleEmbedder({ baseURL: server.baseURL, model: 'fake-embed', dimensions, maxBatchSize: 16 });
  const splitter = createRecursiveSplitter({ chunkSize: 400, chunkOverlap: 0, unit: 'characters' });
  const rows: { name: string; workers: number; ms: number; chunks: number; calls: number }[] = [];
  try {
    // Row 0 warms up Postgres (pgvector, the first HNSW index), Redis and the JIT; it is not reported.
    for (const [row, workers] of [1, ...counts].entries()) {
      const schema = row === 0 ? 'bench_warmup' : `bench_w${workers}`;
      const env = {
        REDIS_URL: redis.url,
        NAMESPACE: schema,
        PG_URL: pg.connectionString,
        PG_SCHEMA: schema,
        EMBED_URL: server.baseURL,
        DIMENSIONS: String(dimensions),
      };
      const children = await Promise.all(Array.from({ length: workers }, () => startWorker(env)));
      const store = createPgvectorStore({ connectionString: pg.connectionString, schema, poolConfig: { max: 1 } });
      try {
        const started = performance.now();
        const report = await ingestDistributed({
          redis: redis.url,
          namespace: schema,
          store,
          collection: 'cisi',
          documents: row === 0 ? documents.slice(0, 40) : documents,
          embedder: embedder(),
          splitter,
          batchSize: 16,
          writeBatchChunks: 32,
          maxOpenJobs: 2 * workers + 2,
          pollMs: 200,
        });
        if (row === 0) continue;
        rows.push({
          name: `ingestDistributed, ${workers} worker${workers > 1 ? 's' : ''}`,
          workers,
          ms: performance.now() - started,
          chunks: report.chunksWritten,
          calls: report.embeddingCalls,
        });
        console.error(`  ${workers} workers: ${Math.round(performance.now() - started)} ms`);
      } finally {
        await Promise.all(children.map(stopWorker));
        await store.dispose();
      }
    }
    const store = createPgvectorStore({
      connectionString: pg.connectionString,
      schema: 'bench_single',
      poolConfig: { max: 1 },
    });
    try {
      const started = performance.now();
      const report = await ingest({
        store,
        collection: 'cisi',
        documents,
        embedder: embedder(),
        splitter,
        ledger: createMemoryLedger(),
        batchSize: 16,
        writeBatchChunks: 32,
      });
      rows.push({
        name: 'ingest() in one process',
        workers: 0,
        ms: performance.now() - started,
        chunks: report.chunksWritten,
        calls: report.embeddingCalls,
      });
    } finally {
      await store.dispose();
    }
  } finally {
    await server.close();
    await pg.stop();
    await redis.stop();
  }
  const one = rows.find((row) => row.workers === 1);
  const table = rows.map((row) => {
    const perSecond = row.chunks / (row.ms / 1000);
    const speedup = one ? (one.ms / row.ms).toFixed(2) : '–';
    return `| ${row.name} | ${(row.ms / 1000).toFixed(1)} s | ${Math.round(perSecond)} | ${speedup}× | ${row.calls} |`;
  });
  return [
    '### Distributed ingest (`kumiki/distributed`, model-bound)',
    '',
    `${documents.length} CISI documents, ${rows[0]?.chunks ?? 0} chunks of at most 400 characters, embedded 16 texts per call by an OpenAI-compatible server that answers each call after ${latencyMs} ms (${dimensions} dimensions; any number of calls at once, like a pool of GPU servers), 2 calls in flight per job; one job = about 32 chunks. pgvector on PGlite (one Postgres session for all processes), queue and ledger in a local Redis; workers are separate processes, started before the clock; a small unreported run warms everything up first. Speed-up is against one worker.`,
    '',
    '| run | time | chunks/s | speed-up | embedding calls |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...table,
  ].join('\n');
}

type Child = { child: ChildProcess };

async function startWorker(env: Record<string, string>): Promise<Child> {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`a benchmark worker exited with ${code}`)));
  });
  return { child };
}

async function stopWorker({ child }: Child): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await runDistributedBench());
