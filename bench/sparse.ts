/**
 * Lexical search at scale: BM25 ingest of 20,000 documents of about 2 KB against minisearch's
 * `addAll`, an unchanged re-ingest, interleaved upsert + search on a sparse collection (a chat app
 * adding documents while it answers) against minisearch's add + search, and `retrieve()` top-1000
 * against the store's own search on CISI. Documents are CISI abstracts recombined (seeded), so they
 * read like real text.
 *
 *   npx tsx bench/sparse.ts [--documents 20000] [--retrieve-only]
 *
 * `--retrieve-only` runs the last part alone (quicker; without the larger collections in memory, its
 * garbage collections are cheaper, so its figures are not those of a whole run).
 */
import { pathToFileURL } from 'node:url';
import MiniSearch from 'minisearch';
import { createBm25Encoder } from '../src/bm25/index.js';
import { ingest } from '../src/pipeline/ingest.js';
import { createMemoryLedger } from '../src/pipeline/ledger.js';
import { retrieve } from '../src/pipeline/retrieve.js';
import { createRecursiveSplitter } from '../src/pipeline/splitter.js';
import { createMemoryStore } from '../src/stores/memory/memory-store.js';
import { seededRandom } from '../src/testing/random.js';
import { documentText, loadCisi } from './cisi.js';
import { argValue } from './util.js';

export type SparseBenchOptions = { documents?: number; pairs?: number; retrieveOnly?: boolean };

/** `count` texts of about `bytes` characters made of CISI words in CISI order from random places. */
function corpus(count: number, bytes: number): string[] {
  const words = loadCisi().documents.map(documentText).join(' ').split(/\s+/).filter(Boolean);
  const rand = seededRandom(7);
  const texts: string[] = [];
  for (let i = 0; i < count; i++) {
    const parts: string[] = [];
    let length = 0;
    while (length < bytes) {
      const start = Math.floor(rand() * (words.length - 40));
      const run = words.slice(start, start + 20 + Math.floor(rand() * 20));
      parts.push(run.join(' '));
      length += run.reduce((sum, word) => sum + word.length + 1, 0);
    }
    texts.push(parts.join(' ').slice(0, bytes));
  }
  return texts;
}

const fmt = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));
const time = async <T>(fn: () => Promise<T> | T): Promise<[T, number]> => {
  const start = performance.now();
  const result = await fn();
  return [result, performance.now() - start];
};

export async function runSparseBench(options: SparseBenchOptions = {}): Promise<string> {
  if (options.retrieveOnly) return ['## Lexical search at scale (BM25)', '', await retrieveOverhead(), ''].join('\n');
  const count = options.documents ?? 20_000;
  const pairs = options.pairs ?? 50;
  const texts = corpus(count + pairs, 2048);
  const base = texts.slice(0, count);
  const extra = texts.slice(count);
  const queries = loadCisi().queries.map((query) => query.text);
  const megabytes = base.reduce((sum, text) => sum + text.length, 0) / 1e6;

  // BM25 ingest (one chunk per document) and an unchanged re-ingest, against minisearch's addAll.
  const splitter = createRecursiveSplitter({ unit: 'characters', chunkSize: 4096, chunkOverlap: 0 });
  const store = createMemoryStore();
  const ledger = createMemoryLedger();
  const bm25 = createBm25Encoder();
  const documents = () => base.map((text, i) => ({ uri: `doc:${i}`, text, contentType: 'text/plain' }));
  const [first, ingestMs] = await time(() =>
    ingest({ store, collection: 'docs', documents: documents(), sparseEmbedder: bm25, splitter, ledger }),
  );
  const [again, reingestMs] = await time(() =>
    ingest({ store, collection: 'docs', documents: documents(), sparseEmbedder: bm25, splitter, ledger }),
  );
  if (first.added !== count || again.unchanged !== count) throw new Error('ingest did not report what it should');
  const [, minisearchMs] = await time(() => {
    const index = new MiniSearch<{ id: number; text: string }>({ fields: ['text'] });
    index.addAll(base.map((text, id) => ({ id, text })));
    return index;
  });

  // Interleaved upsert + search at the store (the vectors a chat app would write and query).
  const sparse = createMemoryStore();
  await sparse.createCollection({ name: 's', sparse: true });
  const encoder = createBm25Encoder({ corpus: base });
  for (let from = 0; from < count; from += 1000) {
    const slice = base.slice(from, from + 1000);
    const { vectors } = await encoder.embed({ values: slice, role: 'document' });
    await sparse.upsert({
      collection: 's',
      records: vectors.map((sparseVector, j) => ({ id: from + j, sparseVector })),
    });
  }
  const upsertOne = async (i: number) => {
    const { vectors } = await encoder.embed({ values: [extra[i % extra.length] as string], role: 'document' });
    await sparse.upsert({ collection: 's', records: [{ id: count + i, sparseVector: vectors[0] as never }] });
  };
  const searchOne = async (i: number) => {
    const { vectors } = await encoder.embed({ values: [queries[i % queries.length] as string], role: 'query' });
    return sparse.search({ collection: 's', sparseVector: vectors[0] as never, limit: 10 });
  };
  for (let i = 0; i < 5; i++) await searchOne(i);
  const [, searchAlone] = await time(async () => {
    for (let i = 0; i < pairs; i++) await searchOne(i);
  });
  const [, upsertAlone] = await time(async () => {
    for (let i = 0; i < pairs; i++) await upsertOne(i);
  });
  const [, interleaved] = await time(async () => {
    for (let i = 0; i < pairs; i++) {
      await upsertOne(pairs + i);
      await searchOne(i);
    }
  });
  const mini = new MiniSearch<{ id: number; text: string }>({ fields: ['text'] });
  mini.addAll(base.map((text, id) => ({ id, text })));
  const [, miniPairs] = await time(() => {
    for (let i = 0; i < pairs; i++) {
      mini.add({ id: count + i, text: extra[i % extra.length] as string });
      mini.search(queries[i % queries.length] as string);
    }
  });

  return [
    '## Lexical search at scale (BM25)',
    '',
    `${count.toLocaleString('en-US')} documents of 2 KB (${megabytes.toFixed(1)} MB; CISI abstracts recombined with a seeded generator), English stop words and Porter2 stemming for kumiki, minisearch defaults.`,
    '',
    '| measure | kumiki | minisearch | ratio |',
    '| --- | ---: | ---: | ---: |',
    `| ingest every document (kumiki \`ingest()\`, BM25 only, memory store and ledger; minisearch \`addAll\`) | ${fmt(ingestMs)} ms | ${fmt(minisearchMs)} ms | kumiki ${(minisearchMs / ingestMs).toFixed(2)}× as fast |`,
    `| unchanged re-ingest | ${fmt(reingestMs)} ms | – | |`,
    `| upsert one document, then search (top-10), ${pairs} pairs on the ${count.toLocaleString('en-US')}-document collection, per pair | ${fmt(interleaved / pairs)} ms | ${fmt(miniPairs / pairs)} ms (add + search) | kumiki ${(miniPairs / interleaved).toFixed(2)}× as fast |`,
    `| the same searches alone, per search | ${fmt(searchAlone / pairs)} ms | | |`,
    `| the same upserts alone, per upsert | ${fmt(upsertAlone / pairs)} ms | | |`,
    '',
    `Interleaved pairs cost ${(interleaved / (searchAlone + upsertAlone)).toFixed(2)}× what the same upserts and searches cost run apart (writes keep the inverted index current; nothing is rebuilt).`,
    '',
    await retrieveOverhead(),
    '',
  ].join('\n');
}

/** retrieve() top-1000 against the store's own search of the same query vector, on CISI. */
async function retrieveOverhead(): Promise<string> {
  const cisi = loadCisi();
  const cisiStore = createMemoryStore();
  const cisiBm25 = createBm25Encoder();
  await ingest({
    store: cisiStore,
    collection: 'cisi',
    documents: cisi.documents.map((document) => ({
      uri: `cisi:${document.id}`,
      text: documentText(document),
      contentType: 'text/plain',
    })),
    sparseEmbedder: cisiBm25,
    splitter: createRecursiveSplitter({ unit: 'characters', chunkSize: 20_000, chunkOverlap: 0 }),
  });
  const prepared = await Promise.all(
    cisi.queries.map(async (query) => {
      const { bindStatistics } = await import('../src/pipeline/statistics.js');
      const weigher = await bindStatistics({ store: cisiStore, collection: 'cisi', embedder: cisiBm25 as never });
      return (await weigher.embed({ values: [query.text], role: 'query' })).vectors[0];
    }),
  );
  const viaRetrieve = (i: number, expansion?: false) =>
    retrieve({
      store: cisiStore,
      collection: 'cisi',
      query: cisi.queries[i]?.text as string,
      sparseEmbedder: cisiBm25,
      limit: 1000,
      ...(expansion === false ? { expansion } : {}),
    });
  const viaStore = (i: number) =>
    cisiStore.search({ collection: 'cisi', sparseVector: prepared[i] as never, limit: 1000 });
  // Rounds of the three in turn; the fastest of each after two rounds to warm up.
  const best = { retrieve: Number.POSITIVE_INFINITY, store: Number.POSITIVE_INFINITY, plain: Number.POSITIVE_INFINITY };
  for (let round = 0; round < 12; round++) {
    const [, r] = await time(async () => {
      for (let i = 0; i < cisi.queries.length; i++) await viaRetrieve(i);
    });
    const [, s] = await time(async () => {
      for (let i = 0; i < cisi.queries.length; i++) await viaStore(i);
    });
    const [, p] = await time(async () => {
      for (let i = 0; i < cisi.queries.length; i++) await viaRetrieve(i, false);
    });
    if (round < 2) continue;
    best.retrieve = Math.min(best.retrieve, r / cisi.queries.length);
    best.store = Math.min(best.store, s / cisi.queries.length);
    best.plain = Math.min(best.plain, p / cisi.queries.length);
  }

  return `\`retrieve()\` with \`limit: 1000\` on CISI (${cisi.queries.length} queries, BM25, memory store) against \`store.search\` with the same query vector and limit, per query, the fastest of ten rounds of the three in turn: retrieve ${fmt(best.retrieve)} ms, store ${fmt(best.store)} ms, **retrieve overhead ${((best.retrieve / best.store - 1) * 100).toFixed(0)}%** (it also embeds the query and binds the collection's statistics, and by default expands the query with pseudo-relevance feedback: a first top-10 search, then the search with the expanded query, which has more terms than the vector \`store.search\` gets). With \`expansion: false\`, which searches with that very vector: retrieve ${fmt(best.plain)} ms, store ${fmt(best.store)} ms, **overhead ${((best.plain / best.store - 1) * 100).toFixed(0)}%**.`;
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  console.log(
    await runSparseBench({
      documents: argValue('documents'),
      pairs: argValue('pairs'),
      retrieveOnly: process.argv.includes('--retrieve-only'),
    }),
  );
}
