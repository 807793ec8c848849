/**
 * How kumiki's retrieval defaults were chosen: pseudo-relevance feedback settings (and the hybrid
 * fusion weight, when GloVe vectors are at hand) picked on CISI's training queries only, then
 * reported on the test queries. The rule: the grid below, each setting scored by the mean of nDCG@10
 * and MAP over the train half of `splitQueries` (the 1st, 3rd, 5th, … judged query in id order);
 * the best one wins, ties to the earlier one. Nothing is tuned on the test half or per collection.
 *
 *   npx tsx bench/tune.ts            # feedback grid (about 5 minutes)
 *   npx tsx bench/tune.ts --fusion   # also the fusion weight, with GloVe (bench/glove.ts)
 *   npx tsx bench/tune.ts --fusion-only | --title | --ablation   # one table: fusion, BM25F title weight, ablation
 */
import { fileURLToPath } from 'node:url';
import type { QueryExpansion } from '../src/bm25/expansion.js';
import type { DenseEmbedder } from '../src/core/embedder.js';
import type { Fusion } from '../src/core/fusion.js';
import {
  evaluateRankings,
  indexCollection,
  loadCollection,
  type RankingOptions,
  rankQueries,
  splitQueries,
  type TestCollection,
} from '../src/eval/index.js';
import { cisiDirectory } from './cisi.js';

type Scored = { label: string; train: number; trainNdcg: number; trainMap: number; testNdcg: number; testMap: number };

async function score(
  collection: TestCollection,
  index: Awaited<ReturnType<typeof indexCollection>>,
  mode: 'sparse' | 'dense' | 'hybrid',
  options: RankingOptions,
  label: string,
): Promise<Scored> {
  const { train, test } = splitQueries(collection);
  const { rankings } = await rankQueries(collection, index, { mode, retrieve: options });
  const a = evaluateRankings(collection, rankings, train);
  const b = evaluateRankings(collection, rankings, test);
  return {
    label,
    train: (a.ndcg10 + a.map) / 2,
    trainNdcg: a.ndcg10,
    trainMap: a.map,
    testNdcg: b.ndcg10,
    testMap: b.map,
  };
}

function table(rows: readonly Scored[], chosen: Scored): string {
  const f = (x: number) => x.toFixed(4);
  return [
    '| setting | train (nDCG@10 + MAP) / 2 | train nDCG@10 | train MAP | test nDCG@10 | test MAP |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r === chosen ? `**${r.label}**` : r.label} | ${f(r.train)} | ${f(r.trainNdcg)} | ${f(r.trainMap)} | ${f(r.testNdcg)} | ${f(r.testMap)} |`,
    ),
  ].join('\n');
}

const best = (rows: readonly Scored[]) => rows.reduce((a, b) => (b.train > a.train ? b : a));

/** The feedback grid: Terrier's and Anserini's usual settings first, so they win ties. */
export async function tuneExpansion(collection = loadCollection(cisiDirectory())): Promise<string> {
  const index = await indexCollection(collection);
  const rows: Scored[] = [await score(collection, index, 'sparse', { expansion: false }, 'no feedback')];
  try {
    for (const method of ['bo1', 'rm3'] as const)
      for (const documents of [10, 5, 20])
        for (const terms of [10, 20, 30])
          for (const originalWeight of [0.5, 0.3, 0.7]) {
            const expansion: QueryExpansion = { method, documents, terms, originalWeight };
            rows.push(
              await score(
                collection,
                index,
                'sparse',
                { expansion },
                `${method} ${documents} docs ${terms} terms α ${originalWeight}`,
              ),
            );
          }
  } finally {
    await index.dispose();
  }
  return table(rows, best(rows.slice(1)));
}

/** The weighted-fusion weight (and RRF) with the given dense embedder, feedback at its default. */
export async function tuneFusion(
  embedder: DenseEmbedder,
  collection = loadCollection(cisiDirectory()),
): Promise<string> {
  const index = await indexCollection(collection, { embedder });
  const rows: Scored[] = [];
  try {
    rows.push(await score(collection, index, 'sparse', {}, 'BM25 alone (sparse)'));
    rows.push(await score(collection, index, 'dense', {}, 'dense alone'));
    const fusions: Array<[string, Fusion]> = [
      ['rrf k 60', { method: 'rrf' }],
      ...[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9].map((w): [string, Fusion] => [
        `weighted dense ${w}`,
        { method: 'weighted', denseWeight: w },
      ]),
    ];
    for (const [label, fusion] of fusions) rows.push(await score(collection, index, 'hybrid', { fusion }, label));
  } finally {
    await index.dispose();
  }
  return table(rows, best(rows));
}

/** BM25F's title weight (`groupBy.titleWeight`: extra copies of the title), feedback at its default. */
export async function tuneTitleWeight(collection = loadCollection(cisiDirectory())): Promise<string> {
  const index = await indexCollection(collection);
  const rows: Scored[] = [];
  try {
    for (const titleWeight of [0, 1, 2, 3, 5])
      rows.push(
        await score(
          collection,
          index,
          'sparse',
          { groupBy: { by: 'source', titleWeight } },
          `title weight ${1 + titleWeight} (titleWeight ${titleWeight})`,
        ),
      );
  } finally {
    await index.dispose();
  }
  return table(rows, best(rows));
}

/**
 * The ablation: each step of the default lexical ranking added one at a time, on the train and the
 * test queries, over the default splitter's chunks (and whole documents, for reference).
 */
export async function ablation(collection = loadCollection(cisiDirectory())): Promise<string> {
  const rows: Scored[] = [];
  const whole = await indexCollection(collection, { chunking: 'whole' });
  try {
    rows.push(
      await score(collection, whole, 'sparse', { expansion: false }, 'BM25, one chunk per document, no feedback'),
    );
    rows.push(await score(collection, whole, 'sparse', {}, 'BM25, one chunk per document, Bo1 feedback'));
  } finally {
    await whole.dispose();
  }
  const index = await indexCollection(collection);
  const steps: Array<[string, RankingOptions]> = [
    ['chunks (no grouping), no feedback: each source at its best chunk', { groupBy: false, expansion: false }],
    ['chunks (no grouping), Bo1 feedback on chunks', { groupBy: false }],
    ["groupBy score 'max', no feedback", { groupBy: { by: 'source', score: 'max' }, expansion: false }],
    ["groupBy score 'sum' (3 best chunks), no feedback", { groupBy: { by: 'source', score: 'sum' }, expansion: false }],
    ["groupBy score 'document' (sources scored whole), no feedback", { expansion: false }],
    [
      "groupBy 'document', chunk statistics instead of source statistics, no feedback",
      { groupBy: { by: 'source', statistics: 'chunks' }, expansion: false },
    ],
    ["groupBy 'document' + RM3 feedback (10 docs, 10 terms, α 0.5)", { expansion: { method: 'rm3' } }],
    ["**default**: groupBy 'document' + Bo1 feedback (10 docs, 10 terms, α 0.5)", {}],
  ];
  try {
    for (const [label, options] of steps) rows.push(await score(collection, index, 'sparse', options, label));
  } finally {
    await index.dispose();
  }
  const f = (x: number) => x.toFixed(4);
  return [
    '| ranking (default splitter unless said) | train nDCG@10 | train MAP | test nDCG@10 | test MAP |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.label} | ${f(r.trainNdcg)} | ${f(r.trainMap)} | ${f(r.testNdcg)} | ${f(r.testMap)} |`),
  ].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes('--ablation')) console.log(await ablation());
  if (process.argv.includes('--title')) console.log(await tuneTitleWeight());
  if (!process.argv.includes('--fusion-only') && !process.argv.includes('--ablation'))
    console.log(await tuneExpansion());
  if (process.argv.includes('--fusion')) {
    const { gloveEmbedder } = await import('./glove.js');
    console.log(await tuneFusion(gloveEmbedder()));
  }
}
