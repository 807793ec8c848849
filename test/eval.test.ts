import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { createSparseIndex, runMiniSearch, runWink } from '../bench/bm25.js';
import { cisiDirectory } from '../bench/cisi.js';
import { createBm25Encoder } from '../src/bm25/index.js';
import { AbortedError, InvalidArgumentError, NotFoundError } from '../src/core/errors.js';
import {
  averagePrecision,
  documentText,
  type EvaluationRow,
  evaluateRankings,
  evaluateRetrieval,
  formatEvaluation,
  formatTrecRun,
  indexCollection,
  loadCisi,
  loadCollection,
  ndcgAt,
  parseQrels,
  parseTrecRun,
  randomizationTest,
  rankQueries,
  recallAt,
  splitQueries,
} from '../src/eval/index.js';
import { trigramEmbedder } from './helpers/trigram-embedder.mjs';

const dataDirectory = cisiDirectory();
const round = (value: number | null) => (value === null ? null : Number(value.toFixed(3)));
const figures = (row: { ndcg10: number | null; map: number | null; recall100: number | null }) => [
  round(row.ndcg10),
  round(row.map),
  round(row.recall100),
];

describe('metrics on hand-computed cases', () => {
  const relevant = new Set(['a', 'c']);

  test('nDCG@k with binary gains', () => {
    // Hits at ranks 1 and 3: DCG = 1 + 1/log2(4) = 1.5; ideal = 1 + 1/log2(3).
    expect(ndcgAt(['a', 'b', 'c'], relevant, 10)).toBeCloseTo(1.5 / (1 + 1 / Math.log2(3)), 12);
    expect(ndcgAt(['c', 'a'], relevant, 10)).toBe(1);
    // Cut-off: only rank 1 counts at k = 1, and the ideal has one document.
    expect(ndcgAt(['b', 'a'], relevant, 1)).toBe(0);
    expect(ndcgAt(['a', 'b'], relevant, 1)).toBe(1);
    // Fewer results than k: the ideal still counts every relevant document up to k.
    expect(ndcgAt(['a'], relevant, 10)).toBeCloseTo(1 / (1 + 1 / Math.log2(3)), 12);
    expect(ndcgAt([], relevant, 10)).toBe(0);
    expect(ndcgAt(['a', 'b'], new Set(), 10)).toBe(0);
  });

  test('average precision counts relevant documents never retrieved as misses', () => {
    // Hits at ranks 1 and 3: (1/1 + 2/3) / 2.
    expect(averagePrecision(['a', 'b', 'c'], relevant)).toBeCloseTo((1 + 2 / 3) / 2, 12);
    // Only one of two relevant documents retrieved, at rank 2: (1/2) / 2.
    expect(averagePrecision(['b', 'a'], relevant)).toBeCloseTo(0.25, 12);
    expect(averagePrecision([], relevant)).toBe(0);
    expect(averagePrecision(['a'], new Set())).toBe(0);
  });

  test('recall@k', () => {
    expect(recallAt(['a', 'b', 'c'], relevant, 2)).toBe(0.5);
    expect(recallAt(['a', 'b', 'c'], relevant, 3)).toBe(1);
    // Fewer results than k.
    expect(recallAt(['c'], relevant, 100)).toBe(0.5);
    expect(recallAt(['a'], new Set(), 100)).toBe(0);
  });

  test('means over the judged queries; a query without a ranking scores 0', () => {
    const cisi = {
      documents: [],
      queries: [
        { id: '1', text: 'x' },
        { id: '2', text: 'y' },
      ],
      queryCount: 2,
      relevant: new Map([
        ['1', new Set(['a'])],
        ['2', new Set(['b'])],
      ]),
    };
    expect(evaluateRankings(cisi, new Map([['1', ['a']]]))).toEqual({
      ndcg10: 0.5,
      map: 0.5,
      recall100: 0.5,
      mrr: 0.5,
    });
  });

  test('bad arguments are refused with InvalidArgumentError', () => {
    expect(() => ndcgAt(['a'], relevant, 0)).toThrow(InvalidArgumentError);
    expect(() => recallAt(['a'], relevant, 1.5)).toThrow(InvalidArgumentError);
    expect(() => averagePrecision('a' as unknown as string[], relevant)).toThrow(InvalidArgumentError);
    expect(() => ndcgAt(['a'], ['a'] as unknown as Set<string>)).toThrow(InvalidArgumentError);
  });
});

describe('evaluateRetrieval on CISI', () => {
  test('lexical through ingest + retrieve with defaults beats the best peer by 5% on nDCG@10 and MAP (issue 15)', {
    timeout: 600_000,
  }, async () => {
    const cisi = loadCisi(dataDirectory);
    const phases = new Set<string>();
    let last: [number, number] = [0, 0];
    const result = await evaluateRetrieval({
      dataDirectory,
      modes: ['lexical'],
      permutations: 1000,
      onProgress: (done, total, phase) => {
        expect(done).toBeGreaterThan(last[0]);
        last = [done, total];
        phases.add(phase);
      },
    });
    expect(result.dataset).toEqual({
      name: 'cisi',
      format: 'smart',
      documents: 1460,
      queries: 112,
      judged: 76,
      judgements: 3114,
      split: 'all',
      scored: 76,
    });
    expect(result.limit).toBe(1000);
    expect(last[0]).toBe(last[1]);
    expect(phases.size).toBe(6);

    const byId = (id: string) => result.rows.find((row) => row.id === id) as EvaluationRow;
    const lexical = byId('kumiki:lexical');
    expect(lexical.mode).toBe('lexical (BM25)');
    // wink ranks as bench/bm25.ts ranks it; minisearch gets the Porter2 stemming and stop words the bench's lacks.
    const winkReference = runWink(cisi);
    expect(round(byId('wink-bm25-text-search').ndcg10)).toBe(round(winkReference.ndcg10));
    expect(round(byId('wink-bm25-text-search').recall100)).toBe(round(winkReference.recall100));
    expect(byId('minisearch').note).toContain('Porter2');
    expect(byId('minisearch').ndcg10 as number).toBeGreaterThan(runMiniSearch(cisi).ndcg10);
    // The bar: at least 1.05× the best peer (wink) on both, from the figures in docs/benchmarks.md.
    expect(result.baseline).toBe('wink-bm25-text-search');
    const wink = byId('wink-bm25-text-search');
    expect(figures(lexical)).toEqual([0.431, 0.257, 0.465]);
    expect(lexical.ndcg10 as number).toBeGreaterThanOrEqual(1.05 * (wink.ndcg10 as number));
    expect(lexical.map as number).toBeGreaterThanOrEqual(1.05 * (wink.map as number));
    expect(lexical.versus?.baseline).toBe('wink-bm25-text-search');
    expect(lexical.versus?.map.ratio).toBeCloseTo((lexical.map as number) / (wink.map as number), 12);
    expect(lexical.versus?.map.p).toBeLessThan(0.01);

    const table = formatEvaluation(result);
    expect(table).toContain('| system | mode | nDCG@10 | MAP@1000 | Recall@100 | MRR |');
    expect(table).toContain(`| ${lexical.system} | lexical (BM25) | 0.431 |`);
    expect(table).toContain('76 of its 112 queries');
  });

  test('chunking is free for documents: default splitter + sources scored whole = one BM25 document per source', {
    timeout: 600_000,
  }, async () => {
    const collection = loadCollection(dataDirectory);
    const cisi = loadCisi(dataDirectory);
    // bench/bm25.ts's BM25 over whole documents, first 100.
    const texts = cisi.documents.map(documentText);
    const encoder = createBm25Encoder({ corpus: texts });
    const search = createSparseIndex((await encoder.embed({ values: texts, role: 'document' })).vectors);
    const reference = new Map<string, string[]>();
    for (const query of cisi.queries) {
      const [vector] = (await encoder.embed({ values: [query.text], role: 'query' })).vectors;
      reference.set(
        query.id,
        search(vector as NonNullable<typeof vector>, 100).map((hit) => cisi.documents[hit.doc]?.id as string),
      );
    }
    const index = await indexCollection(collection);
    try {
      expect(index.chunks).toBeGreaterThan(collection.documents.length);
      const { rankings } = await rankQueries(collection, index, {
        mode: 'sparse',
        limit: 100,
        retrieve: { expansion: false },
      });
      expect(figures(evaluateRankings(collection, rankings))).toEqual(figures(evaluateRankings(cisi, reference)));
      // Best chunk per source instead: splitting costs quality, which is what scoring sources whole repairs.
      const max = await rankQueries(collection, index, {
        mode: 'sparse',
        limit: 100,
        retrieve: { expansion: false, groupBy: { by: 'source', score: 'max' } },
      });
      expect(evaluateRankings(collection, max.rankings).ndcg10).toBeLessThan(
        evaluateRankings(collection, rankings).ndcg10,
      );
    } finally {
      await index.dispose();
    }
  });

  test('dense and hybrid run with a real (trigram) embedder; without one they are skipped with the reason', {
    timeout: 600_000,
  }, async () => {
    const embedder = trigramEmbedder(256, 'trigram-256');
    const result = await evaluateRetrieval({ dataDirectory, modes: ['dense', 'hybrid'], embedder, compare: false });
    expect(result.rows.map((row) => row.id)).toEqual(['kumiki:dense', 'kumiki:hybrid', 'kumiki:hybrid-rrf']);
    expect(result.rows.map((row) => row.mode)).toEqual([
      'dense',
      'hybrid (weighted, dense 0.5; default)',
      'hybrid (RRF, k 60)',
    ]);
    for (const row of result.rows) {
      for (const value of [row.ndcg10, row.map, row.recall100, row.mrr]) {
        expect(value).toBeGreaterThan(0);
        expect(value).toBeLessThanOrEqual(1);
      }
      expect(row.note).toContain('test/trigram-256');
    }
    // The corpus was embedded once for all rows, plus one call per query and row.
    const corpusCalls = embedder.calls - 3 * 76;
    expect(corpusCalls).toBeGreaterThan(0);
    expect(corpusCalls).toBeLessThanOrEqual(Math.ceil(3000 / 64));

    const skipped = await evaluateRetrieval({ dataDirectory, modes: ['hybrid'], compare: false });
    expect(skipped.rows).toEqual([
      {
        id: 'kumiki:hybrid',
        system: 'kumiki (ingest + retrieve, memory store)',
        mode: 'hybrid',
        ndcg10: null,
        map: null,
        recall100: null,
        mrr: null,
        indexMs: null,
        queryMs: null,
        note: 'skipped: needs a dense embedder (the embedder option); none given',
      },
    ]);
    expect(formatEvaluation(skipped)).toContain('| — | — | — | — | — | — | skipped: needs a dense embedder');
  });

  test('an aborted signal stops the run with AbortedError', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(
      evaluateRetrieval({ dataDirectory, modes: ['lexical'], abortSignal: controller.signal }),
    ).rejects.toBeInstanceOf(AbortedError);
  });
});

describe('errors', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'kumiki-eval-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  test('a missing data directory is a NotFoundError naming the path', async () => {
    const missing = join(scratch, 'no-such-folder');
    const error = await evaluateRetrieval({ dataDirectory: missing }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as NotFoundError).message).toContain(missing);
    expect((error as NotFoundError).resourceName).toBe(missing);
  });

  test('a missing file is a NotFoundError naming the file', () => {
    writeFileSync(join(scratch, 'CISI.ALL'), '.I 1\n.T A\n.W text\n');
    writeFileSync(join(scratch, 'CISI.REL'), '1 1 0 0.0\n');
    expect(() => loadCisi(scratch)).toThrow(join(scratch, 'CISI.QRY'));
  });

  test('bad options are InvalidArgumentError', async () => {
    await expect(evaluateRetrieval({ dataDirectory: '' })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(evaluateRetrieval({ dataDirectory, limit: 5000 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(evaluateRetrieval({ dataDirectory, modes: ['sparse' as 'lexical'] })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    expect(() => formatEvaluation({} as never)).toThrow(InvalidArgumentError);
  });
});

describe('any collection: BEIR, qrels, TREC runs, the randomization test', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'kumiki-beir-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  test('a BEIR folder is evaluated like CISI, with graded judgements, runs and a chosen baseline', async () => {
    const corpus = [
      { _id: 'd1', title: 'Lighthouses', text: 'A lighthouse warns ships with a lamp and a lens.' },
      { _id: 'd2', title: 'Keepers', text: 'Lighthouse keepers trimmed the lamp wicks every night.' },
      { _id: 'd3', title: 'Bread', text: 'Sourdough bread rises because wild yeast ferments the dough.' },
      { _id: 'd4', title: 'Yeast', text: 'Yeast is a fungus; bakers use it to leaven bread.' },
    ];
    const queries = [
      { _id: 'q1', text: 'lighthouse lamp' },
      { _id: 'q2', text: 'bread yeast' },
      { _id: 'q3', text: 'unjudged query' },
    ];
    writeFileSync(join(scratch, 'corpus.jsonl'), corpus.map((row) => JSON.stringify(row)).join('\n'));
    writeFileSync(join(scratch, 'queries.jsonl'), queries.map((row) => JSON.stringify(row)).join('\n'));
    writeFileSync(
      join(scratch, 'qrels.tsv'),
      'query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t2\nq2\td3\t1\nq2\td4\t1\n',
    );
    const reversed = new Map([
      ['q1', ['d4', 'd3', 'd2', 'd1']],
      ['q2', ['d2', 'd1', 'd4', 'd3']],
    ]);
    const result = await evaluateRetrieval({
      dataDirectory: scratch,
      modes: ['lexical'],
      compare: false,
      runs: [{ name: 'reversed', rankings: reversed }],
      baseline: 'run:reversed',
      permutations: 100,
      keepRankings: true,
    });
    expect(result.dataset).toMatchObject({ format: 'beir', documents: 4, queries: 3, judged: 2, judgements: 4 });
    const kumiki = result.rows.find((row) => row.id === 'kumiki:lexical') as EvaluationRow;
    // Both queries find their judged documents first; q1's grade-2 document (d2) first.
    expect(kumiki.ndcg10).toBe(1);
    expect(kumiki.mrr).toBe(1);
    expect(result.rankings?.['kumiki:lexical']?.q1?.slice(0, 2)).toEqual(['d2', 'd1']);
    expect(kumiki.versus?.baseline).toBe('run:reversed');
    expect(kumiki.versus?.ndcg10.difference).toBeGreaterThan(0);
    await expect(
      evaluateRetrieval({ dataDirectory: scratch, modes: ['lexical'], compare: false, baseline: 'run:none' }),
    ).rejects.toThrow(/no measured row "run:none"/);
  });

  test('qrels in TREC, BEIR and CISI layouts; a malformed line is refused with its number', () => {
    expect(parseQrels('1 0 a 2\n1 0 b 0\n2 Q0 c 1\n')).toEqual(
      new Map([
        [
          '1',
          new Map([
            ['a', 2],
            ['b', 0],
          ]),
        ],
        ['2', new Map([['c', 1]])],
      ]),
    );
    expect(parseQrels('query-id\tcorpus-id\tscore\nq\td\t1\n')).toEqual(new Map([['q', new Map([['d', 1]])]]));
    expect(() => parseQrels('1 0 a 2\nbroken\n', 'my.qrels')).toThrow(/my\.qrels:2/);
  });

  test('TREC runs round-trip; ties in score keep rank order; the split halves the judged queries', () => {
    const rankings = new Map([
      ['1', ['a', 'b', 'c']],
      ['2', ['c']],
    ]);
    expect(parseTrecRun(formatTrecRun(rankings, 'my run'))).toEqual(rankings);
    expect(parseTrecRun('1 Q0 x 2 5 t\n1 Q0 y 1 5 t\n1 Q0 z 3 9 t\n').get('1')).toEqual(['z', 'y', 'x']);
    expect(() => parseTrecRun('1 Q0 x\n', 'r.run')).toThrow(/r\.run:1/);
    const { train, test: held } = splitQueries({ queries: ['3', '1', '10', '2'].map((id) => ({ id, text: '' })) });
    expect([...train].sort()).toEqual(['1', '3']);
    expect([...held].sort()).toEqual(['10', '2']);
  });

  test('the paired randomization test: p 1 for equal samples, about 1/4 for three equal gains', () => {
    expect(randomizationTest([0.5, 0.2], [0.5, 0.2])).toEqual({ difference: 0, p: 1 });
    // Three differences of +1: only all-plus and all-minus reach |sum| 3, 2 of 8 sign patterns.
    const { difference, p } = randomizationTest([1, 1, 1], [0, 0, 0], { permutations: 20_000 });
    expect(difference).toBe(1);
    expect(p).toBeCloseTo(0.25, 1);
    expect(() => randomizationTest([1], [1, 2])).toThrow(InvalidArgumentError);
  });
});
