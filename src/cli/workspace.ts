import { mkdir } from 'node:fs/promises';
import type { Bm25Encoder } from '../bm25/encoder.js';
import { createBm25Encoder } from '../bm25/index.js';
import type { Catalog } from '../core/catalog.js';
import type { DenseEmbedder } from '../core/embedder.js';
import type { ModelRunner } from '../core/runner.js';
import type { Store } from '../core/store.js';
import type { Ledger } from '../pipeline/ledger.js';
import { createFileLedger } from '../pipeline/ledger-file.js';
import type { RetrieveOptions } from '../pipeline/retrieve.js';
import { dataFile, type KumikiConfig, openCatalog, openEmbedder, openRunner, openStore } from './config.js';

/** Everything a command needs, built from the config; `close()` releases it all. */
export type Workspace = {
  config: KumikiConfig;
  store: Store;
  embedder: DenseEmbedder | undefined;
  bm25: Bm25Encoder | undefined;
  catalog: Catalog | undefined;
  ledger: Ledger;
  /** Loaded on first use: only `ask` and `serve` need a model. */
  runner(): Promise<ModelRunner | undefined>;
  /** `retrieve` options for the configured collection and embedders (add `query`). */
  retrieval(): Omit<RetrieveOptions, 'query'>;
  close(): Promise<void>;
};

/** `retrieval: false` for commands that neither search nor write (no embedder, no BM25 statistics). */
export async function openWorkspace(config: KumikiConfig, options: { retrieval?: boolean } = {}): Promise<Workspace> {
  await mkdir(config.dataDir, { recursive: true });
  const retrieval = options.retrieval ?? true;
  const [store, embedder, catalog] = await Promise.all([
    openStore(config),
    retrieval ? openEmbedder(config) : undefined,
    openCatalog(config),
  ]);
  // BM25 statistics are restored from the collection by ingest and retrieve themselves.
  const bm25 = retrieval && config.lexical ? createBm25Encoder() : undefined;
  const ledger = createFileLedger(dataFile(config, 'ledger.jsonl'));
  let runner: Promise<ModelRunner | undefined> | undefined;
  return {
    config,
    store,
    embedder,
    bm25,
    catalog,
    ledger,
    runner: () => {
      runner ??= openRunner(config);
      return runner;
    },
    retrieval: () => ({
      store,
      collection: config.collection,
      ...(embedder ? { embedder } : {}),
      ...(bm25 ? { sparseEmbedder: bm25 } : {}),
      limit: config.retrieval.limit,
      ...(config.retrieval.mmr ? { mmr: config.retrieval.mmr } : {}),
      ...(config.retrieval.minScore !== undefined ? { minScore: config.retrieval.minScore } : {}),
    }),
    async close() {
      const model = await runner;
      await Promise.all([
        store.dispose(),
        ledger.dispose?.(),
        embedder?.dispose?.(),
        catalog?.dispose?.(),
        model?.dispose?.(),
      ]);
    },
  };
}
