// One ingest of the chaos corpus through the built package, as an application would run it. The
// parent kills it with SIGKILL at random moments. Environment: DATA_DIR, STORE (file | pgvector),
// PG_URL + PG_SCHEMA (pgvector), MODE (dense | bm25 | hybrid), PRUNE (1 | 0), VERSION.
import { join } from 'node:path';
import { createBm25Encoder, createMemoryStore, ingest } from 'kumiki';
import { createFileLedger, createFilePersistence } from 'kumiki/node';
import { chaosCorpus, chaosEmbedder, chaosSplitter } from './corpus.mjs';

const env = process.env;
const store =
  env.STORE === 'pgvector'
    ? (await import('kumiki/stores/pgvector')).createPgvectorStore({
        connectionString: env.PG_URL,
        schema: env.PG_SCHEMA,
        poolConfig: { max: 1 },
      })
    : createMemoryStore({ persistence: createFilePersistence(join(env.DATA_DIR, 'store.kmk')) });
const ledger = createFileLedger(join(env.DATA_DIR, 'ledger.jsonl'));
process.stdout.write('ready\n');
const report = await ingest({
  store,
  collection: 'chaos',
  documents: chaosCorpus(Number(env.VERSION)),
  ...(env.MODE !== 'bm25' ? { embedder: chaosEmbedder() } : {}),
  ...(env.MODE !== 'dense' ? { sparseEmbedder: createBm25Encoder() } : {}),
  splitter: chaosSplitter,
  ledger,
  prune: env.PRUNE === '1',
  batchSize: 8,
  writeBatchChunks: 20,
});
await ledger.dispose();
await store.dispose();
process.stdout.write(`${JSON.stringify(report)}\n`);
