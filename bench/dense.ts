/**
 * Dense exact top-k search benchmark: kumiki's VectorArena (WebAssembly SIMD, float32 and int8 with
 * float re-scoring) against usearch's native exactSearch, LangChain's MemoryVectorStore and a plain
 * JavaScript Float32Array loop. Same data for everyone (seeded PRNG, random unit vectors), warm-up
 * before timing, single thread throughout.
 *
 *   npx tsx bench/dense.ts [--n 100000] [--dims 384] [--queries 100]
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { MemoryVectorStore } from '@langchain/classic/vectorstores/memory';
import { Document } from '@langchain/core/documents';
import type { EmbeddingsInterface } from '@langchain/core/embeddings';
import { VectorArena } from '../src/stores/memory/kernel/arena.js';
import { createMemoryStore } from '../src/stores/memory/memory-store.js';
import { argValue, unitVectors } from './util.js';

type UsearchModule = {
  exactSearch(
    dataset: Float32Array,
    queries: Float32Array,
    dimensions: number,
    count: number,
    metric: string,
    threads: number,
  ): { keys: BigUint64Array; distances: Float32Array };
  MetricKind: { Cos: string; IP: string };
};

export type DenseBenchOptions = { n?: number; dims?: number; queries?: number };

const K = 10;

type Row = { name: string; msPerQuery: number; memoryBytes?: number; note?: string };

function now(): number {
  return performance.now();
}

/** Average ms per call of `fn(i)` over `count` calls, after `warmup` untimed calls. */
async function timePerQuery(
  count: number,
  warmup: number,
  fn: (i: number) => unknown | Promise<unknown>,
): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn(i % count);
  const start = now();
  for (let i = 0; i < count; i++) await fn(i);
  return (now() - start) / count;
}

/** Plain-JS baseline: unrolled cosine over a Float32Array with precomputed norms + bounded top-k. */
function jsTopK(data: Float32Array, norms: Float32Array, dims: number, query: Float32Array, k: number): Uint32Array {
  let qq = 0;
  for (let i = 0; i < dims; i++) qq += query[i]! * query[i]!;
  const qn = Math.sqrt(qq);
  const n = norms.length;
  const topS = new Float64Array(k).fill(Number.NEGATIVE_INFINITY);
  const topR = new Uint32Array(k);
  let minAt = 0;
  const tail = dims - (dims % 4);
  for (let r = 0; r < n; r++) {
    const base = r * dims;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let i = 0; i < tail; i += 4) {
      s0 += query[i]! * data[base + i]!;
      s1 += query[i + 1]! * data[base + i + 1]!;
      s2 += query[i + 2]! * data[base + i + 2]!;
      s3 += query[i + 3]! * data[base + i + 3]!;
    }
    for (let i = tail; i < dims; i++) s0 += query[i]! * data[base + i]!;
    const den = qn * norms[r]!;
    const s = den === 0 ? 0 : (s0 + s1 + s2 + s3) / den;
    if (s > topS[minAt]!) {
      topS[minAt] = s;
      topR[minAt] = r;
      for (let j = 0; j < k; j++) if (topS[j]! < topS[minAt]!) minAt = j;
    }
  }
  const order = Array.from(topR.keys()).sort((a, b) => topS[b]! - topS[a]!);
  return Uint32Array.from(order, (j) => topR[j]!);
}

function recallAt(k: number, truth: ArrayLike<number | bigint>, got: ArrayLike<number | bigint>): number {
  const want = new Set<number>();
  for (let i = 0; i < Math.min(k, truth.length); i++) want.add(Number(truth[i]));
  let hit = 0;
  for (let i = 0; i < Math.min(k, got.length); i++) if (want.has(Number(got[i]))) hit++;
  return want.size === 0 ? 1 : hit / want.size;
}

function fmtRate(vectorsPerSecond: number): string {
  return vectorsPerSecond >= 1e6
    ? `${(vectorsPerSecond / 1e6).toFixed(2)}M`
    : `${(vectorsPerSecond / 1e3).toFixed(0)}K`;
}

function fmtBytes(bytes: number | undefined): string {
  if (bytes === undefined) return '–';
  return `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

const fakeEmbeddings: EmbeddingsInterface = {
  embedDocuments: async () => {
    throw new Error('bench passes vectors directly');
  },
  embedQuery: async () => {
    throw new Error('bench passes vectors directly');
  },
};

export async function runDenseBench(options: DenseBenchOptions = {}): Promise<string> {
  const n = options.n ?? 100_000;
  const dims = options.dims ?? 384;
  const queryCount = options.queries ?? 100;
  const warmupCount = Math.min(10, queryCount);
  const langchainQueries = Math.min(queryCount, 10);

  const data = unitVectors(n, dims, 1);
  const queries = unitVectors(queryCount, dims, 2);
  const warmupQueries = unitVectors(warmupCount, dims, 3);
  const queryAt = (i: number): Float32Array => queries.subarray(i * dims, (i + 1) * dims);
  const rows: Row[] = [];

  // usearch (native, SIMD). Whole Float32Arrays only: it ignores a view's byteOffset.
  const usearch = createRequire(import.meta.url)('usearch') as UsearchModule;
  usearch.exactSearch(data, warmupQueries, dims, K, usearch.MetricKind.Cos, 1);
  const start = now();
  const native = usearch.exactSearch(data, queries, dims, K, usearch.MetricKind.Cos, 1);
  rows.push({
    name: 'usearch exactSearch (native, threads=1), all queries in one call',
    msPerQuery: (now() - start) / queryCount,
    note: `reference for the bar; temp ${fmtBytes(2 * 8 * n * queryCount)} distance matrix`,
  });
  const usearchTop = (i: number): BigUint64Array => native.keys.subarray(i * K, (i + 1) * K);

  // usearch again, one query per call: what a per-query store API pays (no reuse of a dataset row
  // across queries). Same whole-array rule, so copy each query out.
  const single = Array.from({ length: queryCount }, (_, i) => queryAt(i).slice());
  const msSingle = await timePerQuery(queryCount, warmupCount, (i) =>
    usearch.exactSearch(data, single[i]!, dims, K, usearch.MetricKind.Cos, 1),
  );

  // kumiki VectorArena, float32 (exact) then int8 + float rescoring, each in its own arena.
  const build = (quantized: boolean): VectorArena => {
    const arena = new VectorArena({ dimensions: dims, quantized });
    for (let r = 0; r < n; r++) arena.write(r, data.subarray(r * dims, (r + 1) * dims));
    return arena;
  };
  const floatArena = build(false);
  const exact: Uint32Array[] = [];
  const ms32 = await timePerQuery(queryCount, warmupCount, (i) => {
    exact[i] = floatArena.search(queryAt(i), { metric: 'cosine', k: K }).rows;
  });
  let recallVsUsearch = 0;
  for (let i = 0; i < queryCount; i++) recallVsUsearch += recallAt(K, usearchTop(i), exact[i]!);
  recallVsUsearch /= queryCount;
  rows.push({
    name: 'kumiki VectorArena float32 (wasm SIMD)',
    msPerQuery: ms32,
    memoryBytes: floatArena.memoryBytes,
    note: `recall@10 vs usearch ${recallVsUsearch.toFixed(3)}`,
  });
  floatArena.dispose();

  const int8Arena = build(true);
  const approx: Uint32Array[] = [];
  const ms8 = await timePerQuery(queryCount, warmupCount, (i) => {
    approx[i] = int8Arena.search(queryAt(i), { metric: 'cosine', k: K, quantized: true, rescore: 4 }).rows;
  });
  let recall8 = 0;
  for (let i = 0; i < queryCount; i++) recall8 += recallAt(K, exact[i]!, approx[i]!);
  recall8 /= queryCount;
  rows.push({
    name: 'kumiki VectorArena int8 + float rescore ×4',
    msPerQuery: ms8,
    memoryBytes: int8Arena.memoryBytes,
    note: `recall@10 vs exact ${recall8.toFixed(3)}; keeps float rows too`,
  });
  int8Arena.dispose();
  // The product path: the same vectors in createMemoryStore, searched through Store.search (validation,
  // record assembly and payload copies included).
  for (const quantization of ['none', 'int8'] as const) {
    const memoryStore = createMemoryStore({ quantization });
    await memoryStore.createCollection({ name: 'bench', dimensions: dims, metric: 'cosine' });
    for (let from = 0; from < n; from += 10_000) {
      const to = Math.min(n, from + 10_000);
      await memoryStore.upsert({
        collection: 'bench',
        records: Array.from({ length: to - from }, (_, j) => ({
          id: from + j,
          vector: data.subarray((from + j) * dims, (from + j + 1) * dims),
          payload: { row: from + j },
        })),
      });
    }
    const found: number[][] = [];
    const msStore = await timePerQuery(queryCount, warmupCount, async (i) => {
      const matches = await memoryStore.search({ collection: 'bench', vector: queryAt(i), limit: K });
      found[i] = matches.map((match) => match.id as number);
    });
    let recall = 0;
    for (let i = 0; i < queryCount; i++) recall += recallAt(K, exact[i]!, Uint32Array.from(found[i]!));
    rows.push({
      name: `kumiki createMemoryStore().search, ${quantization === 'none' ? 'float32 exact' : 'int8 + rescore ×4'} (product path)`,
      msPerQuery: msStore,
      note: `recall@10 vs exact ${(recall / queryCount).toFixed(3)}`,
    });
    await memoryStore.dispose();
  }
  rows.push({ name: 'usearch exactSearch, one query per call', msPerQuery: msSingle, note: 'per-query reference' });

  // Plain JS loop over the same Float32Array.
  const norms = new Float32Array(n);
  for (let r = 0; r < n; r++) {
    let s = 0;
    for (let i = 0; i < dims; i++) s += data[r * dims + i]! ** 2;
    norms[r] = Math.sqrt(s);
  }
  const msJs = await timePerQuery(queryCount, warmupCount, (i) => jsTopK(data, norms, dims, queryAt(i), K));
  rows.push({ name: 'plain JS Float32Array loop', msPerQuery: msJs, memoryBytes: data.byteLength + norms.byteLength });

  // LangChain MemoryVectorStore (number[] embeddings, cosine, full sort per query).
  const heapBefore = process.memoryUsage().heapUsed;
  const store = new MemoryVectorStore(fakeEmbeddings);
  const vectors: number[][] = [];
  const docs: Document[] = [];
  for (let r = 0; r < n; r++) {
    vectors.push(Array.from(data.subarray(r * dims, (r + 1) * dims)));
    docs.push(new Document({ pageContent: `doc ${r}`, metadata: { row: r } }));
  }
  await store.addVectors(vectors, docs);
  vectors.length = 0;
  const langchainBytes = Math.max(0, process.memoryUsage().heapUsed - heapBefore);
  const lcQueries = Array.from({ length: langchainQueries }, (_, i) => Array.from(queryAt(i)));
  const msLc = await timePerQuery(langchainQueries, 2, (i) => store.similaritySearchVectorWithScore(lcQueries[i]!, K));
  rows.push({
    name: 'LangChain MemoryVectorStore',
    msPerQuery: msLc,
    memoryBytes: langchainBytes,
    note: `${langchainQueries} queries`,
  });

  const rate = (row: Row): number => n / (row.msPerQuery / 1000);
  const usearchRate = rate(rows[0]!);
  const langchainRate = rate(rows[rows.length - 1]!);
  const lines = [
    `### Dense exact top-${K} search (${n.toLocaleString('en-US')} × ${dims}-dim float32, cosine, single thread)`,
    '',
    `Node ${process.versions.node}, ${queryCount} queries (after ${warmupCount} warm-up). vectors/s = vectors scanned per second per query.`,
    '',
    '| implementation | vectors/s | ms/query | vs usearch | vs LangChain | memory | notes |',
    '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
    ...rows.map((row) => {
      const r = rate(row);
      return `| ${row.name} | ${fmtRate(r)} | ${row.msPerQuery.toFixed(2)} | ${(r / usearchRate).toFixed(2)}× | ${(r / langchainRate).toFixed(1)}× | ${fmtBytes(row.memoryBytes)} | ${row.note ?? ''} |`;
    }),
    '',
    'vs usearch / vs LangChain: throughput ratios against the first and last rows. ' +
      'The batched usearch call scores every dataset row against all queries while it is in cache, so it reads ' +
      'the dataset once per batch; a per-query search (kumiki, LangChain, the JS loop, usearch one query per ' +
      'call) streams all vectors from memory for each query.',
    '',
    "Memory: kumiki = the arena's whole WebAssembly memory (rows, norms, int8 codes, scratch, growth " +
      'headroom); plain JS = the Float32Array + norms; LangChain = JS heap growth after addVectors.',
    '',
  ];
  return lines.join('\n');
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  const text = await runDenseBench({ n: argValue('n'), dims: argValue('dims'), queries: argValue('queries') });
  console.log(text);
}
