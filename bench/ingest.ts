/**
 * Incremental ingest: a first ingest, a re-ingest of the unchanged corpus and an update of 5% of it,
 * with kumiki's `ingest()` (per-source ledger) and LangChain's indexing API (`index()` with
 * incremental cleanup, the peer with the same purpose), on the same documents, the same embedding
 * model (a MiniLM-sized BERT run by transformers.js, random weights: the cost is real, the vectors
 * are not meaningful) and in-memory stores.
 *
 *   npx tsx bench/ingest.ts
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryVectorStore } from '@langchain/classic/vectorstores/memory';
import { Document } from '@langchain/core/documents';
import { Embeddings } from '@langchain/core/embeddings';
import { index, type ListKeyOptions, RecordManager, type UpdateOptions } from '@langchain/core/indexing';
import { createTransformersEmbedder } from '../src/embedders/transformers/index.js';
import { documentText, loadCisi } from '../src/eval/cisi.js';
import { createBm25Encoder, createMemoryLedger, createMemoryStore, type DenseEmbedder, ingest } from '../src/index.js';
import { createFileCatalog } from '../src/node/catalog-file.js';
import { createFilePersistence } from '../src/node/snapshot-file.js';
import { createFileLedger } from '../src/pipeline/ledger-file.js';
import { createRecursiveSplitter } from '../src/pipeline/splitter.js';
import type { SourceDocument } from '../src/pipeline/types.js';
import { writeTinyBert } from '../test/helpers/tiny-bert.js';
import { cisiDirectory } from './cisi.js';

/** The bookkeeping LangChain's InMemoryRecordManager does (that class ships in @langchain/community). */
class MemoryRecordManager extends RecordManager {
  override lc_namespace = ['bench'];
  private records = new Map<string, { updatedAt: number; groupId: string | null }>();
  async createSchema() {}
  async getTime() {
    return Date.now();
  }
  async update(keys: string[], options: UpdateOptions = {}) {
    const now = await this.getTime();
    keys.forEach((key, i) => {
      this.records.set(key, {
        updatedAt: Math.max(now, options.timeAtLeast ?? 0),
        groupId: options.groupIds?.[i] ?? null,
      });
    });
  }
  async exists(keys: string[]) {
    return keys.map((key) => this.records.has(key));
  }
  async listKeys(options: ListKeyOptions = {}) {
    const keys: string[] = [];
    for (const [key, record] of this.records) {
      if (options.before !== undefined && record.updatedAt >= options.before) continue;
      if (options.after !== undefined && record.updatedAt <= options.after) continue;
      if (options.groupIds && !options.groupIds.includes(record.groupId)) continue;
      keys.push(key);
    }
    return options.limit ? keys.slice(0, options.limit) : keys;
  }
  async deleteKeys(keys: string[]) {
    for (const key of keys) this.records.delete(key);
  }
}

/** MemoryVectorStore without `delete`, which `index()` needs to remove replaced documents. */
class DeletableMemoryVectorStore extends MemoryVectorStore {
  override async delete(options: { ids: string[] }) {
    const gone = new Set(options.ids);
    this.memoryVectors = this.memoryVectors.filter((vector) => !gone.has(vector.id as string));
  }
}

/** The same kumiki embedder behind LangChain's Embeddings interface. */
class SharedEmbeddings extends Embeddings {
  constructor(private readonly embedder: DenseEmbedder) {
    super({});
  }
  async embedDocuments(texts: string[]) {
    const out: number[][] = [];
    for (let i = 0; i < texts.length; i += 32) {
      const { vectors } = await this.embedder.embed({ values: texts.slice(i, i + 32), role: 'document' });
      out.push(...vectors.map((v) => Array.from(v)));
    }
    return out;
  }
  async embedQuery(text: string) {
    return Array.from((await this.embedder.embed({ values: [text], role: 'query' })).vectors[0] as Float32Array);
  }
}

function counting(embedder: DenseEmbedder): DenseEmbedder & { texts: number; calls: number } {
  const counted = Object.assign(Object.create(embedder) as DenseEmbedder, { texts: 0, calls: 0 });
  counted.embed = async (options) => {
    counted.calls++;
    counted.texts += options.values.length;
    return embedder.embed(options);
  };
  return counted as DenseEmbedder & { texts: number; calls: number };
}

const ms = (value: number) => `${value < 10 ? value.toFixed(1) : Math.round(value)} ms`;

export async function runIngestBench(options: { documents?: number } = {}): Promise<string> {
  const count = options.documents ?? 500;
  const root = await mkdtemp(join(tmpdir(), 'kumiki-bench-ingest-'));
  try {
    const model = await writeTinyBert(join(root, 'model'), {
      hidden: 384,
      layers: 6,
      intermediate: 1536,
      maxPositions: 512,
    });
    const base = createTransformersEmbedder({ model: model.folder, offline: true, batchSize: 32, maxLength: 256 });
    await base.embed({ values: ['warm up'], role: 'document' });
    const cisi = loadCisi(cisiDirectory());
    const texts = cisi.documents.slice(0, count).map((d) => ({ id: d.id, text: documentText(d) }));
    const edited = (version: number) =>
      texts.map((d, i) => ({ ...d, text: version > 1 && i % 20 === 0 ? `${d.text} (revised)` : d.text }));
    const sources = (version: number): SourceDocument[] =>
      edited(version).map((d) => ({ uri: `cisi:${d.id}`, text: d.text, contentType: 'text/plain' }));
    const lcDocs = (version: number) =>
      edited(version).map((d) => new Document({ pageContent: d.text, metadata: { source: `cisi:${d.id}` } }));

    // kumiki: one chunk per document (the splitter limit is above the longest text), memory store and ledger.
    const embedder = counting(base);
    const store = createMemoryStore();
    const ledger = createMemoryLedger();
    const splitter = createRecursiveSplitter({ unit: 'characters', chunkSize: 20_000, chunkOverlap: 0 });
    const kumikiRun = async (version: number) => {
      const before = { calls: embedder.calls, texts: embedder.texts };
      const started = performance.now();
      const report = await ingest({
        store,
        collection: 'cisi',
        documents: sources(version),
        embedder,
        splitter,
        ledger,
        batchSize: 32,
      });
      return {
        ms: performance.now() - started,
        calls: embedder.calls - before.calls,
        texts: embedder.texts - before.texts,
        report,
      };
    };
    // LangChain: index() with incremental cleanup keyed by source, MemoryVectorStore, same model.
    const lcEmbedder = counting(base);
    const vectorStore = new DeletableMemoryVectorStore(new SharedEmbeddings(lcEmbedder));
    const recordManager = new MemoryRecordManager();
    const langchainRun = async (version: number) => {
      const before = { calls: lcEmbedder.calls, texts: lcEmbedder.texts };
      const started = performance.now();
      const result = await index({
        docsSource: lcDocs(version),
        recordManager,
        vectorStore,
        options: { cleanup: 'incremental', sourceIdKey: 'source', batchSize: 100 },
      });
      return {
        ms: performance.now() - started,
        calls: lcEmbedder.calls - before.calls,
        texts: lcEmbedder.texts - before.texts,
        result,
      };
    };

    const k1 = await kumikiRun(1);
    const l1 = await langchainRun(1);
    const k2 = await kumikiRun(1);
    const l2 = await langchainRun(1);
    const k3 = await kumikiRun(2);
    const l3 = await langchainRun(2);
    // Without a model: BM25 only, in memory and with everything on disk (as `kumiki ingest` runs).
    const lexical = async (durable: boolean) => {
      const folder = join(root, durable ? 'durable' : 'memory');
      await mkdir(folder, { recursive: true });
      const bm25 = createBm25Encoder();
      const lexicalStore = createMemoryStore(
        durable ? { persistence: createFilePersistence(join(folder, 'store.snapshot')) } : {},
      );
      const lexicalLedger = durable ? createFileLedger(join(folder, 'ledger.jsonl')) : createMemoryLedger();
      const catalog = durable ? createFileCatalog(join(folder, 'catalog.kcat')) : undefined;
      const run = async (version: number) => {
        const started = performance.now();
        const report = await ingest({
          store: lexicalStore,
          collection: 'cisi',
          documents: sources(version),
          sparseEmbedder: bm25,
          splitter,
          ledger: lexicalLedger,
          ...(catalog ? { catalog } : {}),
        });
        return { ms: performance.now() - started, calls: report.embeddingCalls, texts: report.chunksWritten };
      };
      const result = [await run(1), await run(1), await run(2)] as const;
      await lexicalStore.dispose();
      return result;
    };
    const memoryLexical = await lexical(false);
    const durableLexical = await lexical(true);
    const changed = Math.ceil(count / 20);
    type Timed = { ms: number; calls: number; texts: number };
    const row = (name: string, first: Timed, again: Timed, update: Timed) =>
      `| ${name} | ${ms(first.ms)} (${first.texts} texts) | ${ms(again.ms)} (${again.calls} calls) | ${(first.ms / again.ms).toFixed(0)}× | ${ms(update.ms)} (${update.texts} texts) |`;
    await base.dispose();
    return [
      '### Incremental ingest',
      '',
      `${count} CISI abstracts (title + abstract, one chunk each), embedded by a MiniLM-sized BERT (384 hidden, 6 layers, ` +
        'random weights, run by transformers.js on the CPU, batches of 32) into in-memory stores; then the same corpus ' +
        `again, then with ${changed} documents edited. kumiki: \`ingest()\` with its ledger; LangChain: \`index()\` from ` +
        '`@langchain/core/indexing` with `cleanup: "incremental"`, `sourceIdKey: "source"`, `MemoryVectorStore` and an ' +
        'in-memory record manager. Both call the same embedder. Run alone: `npm run bench -- ingest`.',
      '',
      '| pipeline | first ingest | re-ingest, unchanged | first ÷ re-ingest | 5% edited |',
      '| --- | ---: | ---: | ---: | ---: |',
      row('kumiki `ingest()`', k1, k2, k3),
      row('LangChain `index()`', l1, l2, l3),
      row('kumiki `ingest()`, BM25 only, in memory', ...memoryLexical),
      row('kumiki `ingest()`, BM25 only, on disk (store snapshot, ledger, local catalog)', ...durableLexical),
      '',
      'The BM25-only rows have no model: the first ingest is cheap, so the ratio shows the fixed cost of a re-ingest ' +
        '(reading, hashing and comparing every source; on disk also fsync-ed catalog writes).',
      '',
      `kumiki reports: first ${JSON.stringify(pick(k1.report))}, again ${JSON.stringify(pick(k2.report))}, edited ` +
        `${JSON.stringify(pick(k3.report))}. LangChain reports: first ${JSON.stringify(l1.result)}, again ` +
        `${JSON.stringify(l2.result)}, edited ${JSON.stringify(l3.result)}.`,
    ].join('\n');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

const pick = (report: {
  added: number;
  updated: number;
  unchanged: number;
  chunksDeleted: number;
  embeddingCalls: number;
}) => ({
  added: report.added,
  updated: report.updated,
  unchanged: report.unchanged,
  chunksDeleted: report.chunksDeleted,
  embeddingCalls: report.embeddingCalls,
});

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(await runIngestBench());
}
