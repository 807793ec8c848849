/**
 * CISI retrieval quality of kumiki's BM25 encoder against minisearch (defaults) and
 * wink-bm25-text-search (with the wink-nlp-utils preparation its README recommends).
 *
 *   npx tsx bench/bm25.ts
 */

import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import MiniSearch from 'minisearch';
import { type Bm25Options, type Bm25Vector, createBm25Encoder } from '../src/bm25/index.js';
import { createMemoryStore } from '../src/stores/memory/index.js';
import { type Cisi, documentText, evaluate, loadCisi, type Metrics } from './cisi.js';

// The wink packages ship no types; load them through require with the little typing used here.
type WinkEngine = {
  defineConfig(config: { fldWeights: Record<string, number> }): void;
  definePrepTasks(tasks: Array<(input: never) => unknown>): void;
  addDoc(doc: Record<string, string>, id: string): void;
  consolidate(): void;
  search(text: string, limit?: number): Array<[string, number]>;
};
type Task = (input: never) => unknown;
const require = createRequire(import.meta.url);
const bm25 = require('wink-bm25-text-search') as () => WinkEngine;
const nlp = require('wink-nlp-utils') as {
  string: { lowerCase: Task; tokenize0: Task };
  tokens: { removeWords: Task; stem: Task; propagateNegations: Task };
};

export type ContenderResult = Metrics & { library: string; indexMs: number; queryMs: number };

/** Ranks every document that shares a term with the query by dot product (ties: document order). */
export function createSparseIndex(vectors: readonly Bm25Vector[]) {
  const postings = new Map<number, Array<[number, number]>>();
  vectors.forEach((vector, doc) => {
    for (let i = 0; i < vector.indices.length; i++) {
      const index = vector.indices[i]!;
      let list = postings.get(index);
      if (!list) {
        list = [];
        postings.set(index, list);
      }
      list.push([doc, vector.values[i]!]);
    }
  });
  return (query: Bm25Vector, limit = Number.POSITIVE_INFINITY): Array<{ doc: number; score: number }> => {
    const scores = new Map<number, number>();
    for (let i = 0; i < query.indices.length; i++) {
      const weight = query.values[i]!;
      for (const [doc, value] of postings.get(query.indices[i]!) ?? [])
        scores.set(doc, (scores.get(doc) ?? 0) + weight * value);
    }
    return [...scores]
      .map(([doc, score]) => ({ doc, score }))
      .filter((hit) => hit.score > 0)
      .sort((x, y) => y.score - x.score || x.doc - y.doc)
      .slice(0, limit);
  };
}

export async function runKumiki(
  cisi: Cisi,
  options: Bm25Options = {},
  label = 'kumiki BM25 vectors, ranked by a bench-local inverted index',
): Promise<ContenderResult> {
  const texts = cisi.documents.map(documentText);
  const started = performance.now();
  const encoder = createBm25Encoder(options);
  encoder.addDocuments(texts);
  const vectors: Bm25Vector[] = [];
  for (let i = 0; i < texts.length; i += encoder.maxBatchSize) {
    const { vectors: batch } = await encoder.embed({
      values: texts.slice(i, i + encoder.maxBatchSize),
      role: 'document',
    });
    vectors.push(...batch);
  }
  const search = createSparseIndex(vectors);
  const indexMs = performance.now() - started;
  const rankings = new Map<string, string[]>();
  const queryStarted = performance.now();
  for (const query of cisi.queries) {
    const {
      vectors: [vector],
    } = await encoder.embed({ values: [query.text], role: 'query' });
    rankings.set(
      query.id,
      search(vector!).map((hit) => cisi.documents[hit.doc]!.id),
    );
  }
  const queryMs = (performance.now() - queryStarted) / cisi.queries.length;
  return { library: label, ...evaluate(cisi, rankings), indexMs, queryMs };
}

/** The product path: BM25 vectors stored in and ranked by kumiki's memory Store (sparse search). */
export async function runKumikiStore(cisi: Cisi): Promise<ContenderResult> {
  const texts = cisi.documents.map(documentText);
  const started = performance.now();
  const encoder = createBm25Encoder({ corpus: texts });
  const store = createMemoryStore();
  await store.createCollection({ name: 'cisi', sparse: true, sparseEmbeddingSpace: await encoder.space() });
  const { vectors } = await encoder.embed({ values: texts, role: 'document' });
  await store.upsert({
    collection: 'cisi',
    records: vectors.map((sparseVector, i) => ({ id: cisi.documents[i]!.id, sparseVector })),
  });
  const indexMs = performance.now() - started;
  const rankings = new Map<string, string[]>();
  const queryStarted = performance.now();
  for (const query of cisi.queries) {
    const {
      vectors: [sparseVector],
    } = await encoder.embed({ values: [query.text], role: 'query' });
    const matches = await store.search({ collection: 'cisi', sparseVector: sparseVector!, limit: texts.length });
    rankings.set(
      query.id,
      matches.filter((match) => match.score > 0).map((match) => String(match.id)),
    );
  }
  const queryMs = (performance.now() - queryStarted) / cisi.queries.length;
  await store.dispose();
  return {
    library: 'kumiki BM25 + memory store sparse search (the product path)',
    ...evaluate(cisi, rankings),
    indexMs,
    queryMs,
  };
}

export function runMiniSearch(cisi: Cisi): ContenderResult {
  const started = performance.now();
  const index = new MiniSearch<{ id: string; text: string }>({ fields: ['text'] });
  index.addAll(cisi.documents.map((document) => ({ id: document.id, text: documentText(document) })));
  const indexMs = performance.now() - started;
  const rankings = new Map<string, string[]>();
  const queryStarted = performance.now();
  for (const query of cisi.queries) {
    rankings.set(
      query.id,
      index.search(query.text).map((hit) => String(hit.id)),
    );
  }
  const queryMs = (performance.now() - queryStarted) / cisi.queries.length;
  return { library: 'minisearch (defaults)', ...evaluate(cisi, rankings), indexMs, queryMs };
}

export function runWink(cisi: Cisi): ContenderResult {
  const started = performance.now();
  const engine = bm25();
  engine.defineConfig({ fldWeights: { text: 1 } });
  // The preparation pipeline the wink-bm25-text-search README recommends with wink-nlp-utils.
  engine.definePrepTasks([
    nlp.string.lowerCase,
    nlp.string.tokenize0,
    nlp.tokens.removeWords,
    nlp.tokens.stem,
    nlp.tokens.propagateNegations,
  ]);
  cisi.documents.forEach((document) => {
    engine.addDoc({ text: documentText(document) }, document.id);
  });
  engine.consolidate();
  const indexMs = performance.now() - started;
  const rankings = new Map<string, string[]>();
  const queryStarted = performance.now();
  for (const query of cisi.queries) {
    const results = engine.search(query.text, cisi.documents.length);
    rankings.set(
      query.id,
      results.map(([id]) => String(id)),
    );
  }
  const queryMs = (performance.now() - queryStarted) / cisi.queries.length;
  return { library: 'wink-bm25-text-search (wink-nlp-utils prep)', ...evaluate(cisi, rankings), indexMs, queryMs };
}

function table(results: readonly ContenderResult[]): string {
  const rows = results.map(
    (r) =>
      `| ${r.library} | ${r.ndcg10.toFixed(3)} | ${r.map.toFixed(3)} | ${r.recall100.toFixed(3)} | ${r.indexMs.toFixed(0)} ms | ${r.queryMs.toFixed(2)} ms |`,
  );
  return [
    '| library | nDCG@10 | MAP | Recall@100 | index time | query time (mean) |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
}

/** Runs all contenders on CISI and returns a markdown section with the results. */
export async function runBm25Bench(): Promise<string> {
  const cisi = loadCisi();
  // Warm-up run so the first contender does not pay for JIT compilation alone.
  await runKumiki(cisi);
  runMiniSearch(cisi);
  runWink(cisi);
  await runKumikiStore(cisi);
  const viaStore = await runKumikiStore(cisi);
  const results = [viaStore, await runKumiki(cisi), runMiniSearch(cisi), runWink(cisi)];
  const totalJudgements = [...cisi.relevant.values()].reduce((sum, set) => sum + set.size, 0);
  return [
    '## BM25 on CISI',
    '',
    `${cisi.documents.length} documents (title + abstract indexed by every library), ${cisi.queries.length} judged queries ` +
      `(${totalJudgements} judgements). MAP over each library's full ranking; index time includes building its index; ` +
      'query time is per query (the memory store returns and copies all 1,460 matches per query, for MAP). ' +
      'kumiki: k1 1.2, b 0.75, English stop words, Porter2 stemming; the first row stores the vectors in ' +
      '`createMemoryStore` and ranks them with its sparse search, the second ranks the same vectors with a ' +
      'minimal inverted index in the benchmark (the encoder alone).',
    '',
    table(results),
    '',
  ].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(await runBm25Bench());
}
