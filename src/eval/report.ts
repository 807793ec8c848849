/** The result of `evaluateRetrieval` and its Markdown form. */
import * as z from 'zod';
import { parseArgument } from '../core/validate.js';
import type { Metrics } from './metrics.js';

export type QuerySet = 'all' | 'train' | 'test';

/** One metric against the baseline: this row's mean minus the baseline's, their ratio, and the p-value. */
export type Comparison = { difference: number; ratio: number | null; p: number };

/** One system in one mode. Metrics and timings are null exactly when the row was skipped (see `note`). */
export type EvaluationRow = {
  /** Stable name of the row: `kumiki:lexical`, `kumiki:hybrid`, `wink-bm25-text-search`, `run:<name>`, … */
  id: string;
  system: string;
  mode: string;
  ndcg10: number | null;
  /** Mean average precision over the first `limit` results. */
  map: number | null;
  recall100: number | null;
  /** Mean reciprocal rank of the first relevant document. */
  mrr: number | null;
  /** Building the index: for kumiki, the whole `ingest()` (splitting, embedding, writing). */
  indexMs: number | null;
  /** Mean time per query: for kumiki, one `retrieve()` (query embedding and search). */
  queryMs: number | null;
  note?: string;
  /** Paired randomization test against the baseline row (absent on the baseline and skipped rows). */
  versus?: { baseline: string } & Record<keyof Metrics, Comparison>;
};

export type EvaluationResult = {
  dataset: {
    name: string;
    format: 'smart' | 'beir';
    documents: number;
    /** Queries in the collection. */
    queries: number;
    /** Queries with relevance judgements. */
    judged: number;
    /** Relevance judgements (query, document pairs). */
    judgements: number;
    /** Which judged queries were scored, and how many. */
    split: QuerySet;
    scored: number;
  };
  limit: number;
  /** The baseline row's id, when there is one. */
  baseline?: string;
  rows: EvaluationRow[];
  /** With `keepRankings`: row id → query id → document ids, best first. */
  rankings?: Record<string, Record<string, string[]>>;
};

const comparisonSchema = z.object({ difference: z.number(), ratio: z.number().nullable(), p: z.number() });
const resultSchema = z.object({
  dataset: z.object({
    name: z.string(),
    format: z.enum(['smart', 'beir']),
    documents: z.number(),
    queries: z.number(),
    judged: z.number(),
    judgements: z.number(),
    split: z.enum(['all', 'train', 'test']),
    scored: z.number(),
  }),
  limit: z.number(),
  baseline: z.string().optional(),
  rows: z.array(
    z.object({
      id: z.string(),
      system: z.string(),
      mode: z.string(),
      ndcg10: z.number().nullable(),
      map: z.number().nullable(),
      recall100: z.number().nullable(),
      mrr: z.number().nullable(),
      indexMs: z.number().nullable(),
      queryMs: z.number().nullable(),
      note: z.string().optional(),
      versus: z
        .object({
          baseline: z.string(),
          ndcg10: comparisonSchema,
          map: comparisonSchema,
          recall100: comparisonSchema,
          mrr: comparisonSchema,
        })
        .optional(),
    }),
  ),
  rankings: z.unknown().optional(),
});

/** Markdown: the metrics table, the comparison with the baseline, and a paragraph stating the setup. */
export function formatEvaluation(result: EvaluationResult): string {
  const { dataset, limit, rows, baseline } = parseArgument(resultSchema, result, 'evaluation result');
  const metric = (value: number | null) => (value === null ? '—' : value.toFixed(3));
  const ms = (value: number | null, digits: number) => (value === null ? '—' : `${value.toFixed(digits)} ms`);
  const lines = rows.map(
    (r) =>
      `| ${r.system} | ${r.mode} | ${metric(r.ndcg10)} | ${metric(r.map)} | ${metric(r.recall100)} | ${metric(r.mrr)} | ${ms(r.indexMs, 0)} | ${ms(r.queryMs, 2)} | ${r.note ?? ''} |`,
  );
  const compared = rows.filter((row) => row.versus);
  const cell = (c: Comparison) =>
    `${c.ratio === null ? '—' : `${c.ratio.toFixed(3)}×`} (${c.difference >= 0 ? '+' : ''}${c.difference.toFixed(3)}, p ${c.p < 0.001 ? '< 0.001' : c.p.toFixed(3)})`;
  const versus =
    baseline === undefined
      ? []
      : [
          `Against the baseline \`${baseline}\`: ratio of the means (difference, two-sided p of a paired randomization test over the ${dataset.scored} queries):`,
          '',
          '| row | nDCG@10 | MAP | Recall@100 | MRR |',
          '| --- | --- | --- | --- | --- |',
          ...compared.map((row) => {
            const v = row.versus as NonNullable<EvaluationRow['versus']>;
            return `| ${row.id} (${row.mode}) | ${cell(v.ndcg10)} | ${cell(v.map)} | ${cell(v.recall100)} | ${cell(v.mrr)} |`;
          }),
          '',
        ];
  const queries =
    dataset.split === 'all'
      ? `${dataset.judged} of its ${dataset.queries} queries have relevance judgements (${dataset.judgements} in all) and only those are scored`
      : `the ${dataset.split} half of its ${dataset.judged} judged queries (${dataset.scored}: every ${dataset.split === 'train' ? 'odd' : 'even'} one in id order) is scored`;
  const setup =
    `${dataset.name} (${dataset.format === 'smart' ? 'SMART' : 'BEIR'} format): ${dataset.documents} documents (title + text), ${queries}. ` +
    `Each system returns its first ${limit} documents per query; nDCG@10 uses the judgement grades as gains, MAP is ` +
    `average precision over those ${limit}, Recall@100 and MRR count documents graded above 0. kumiki's rows go through ` +
    'the product path with its defaults: every document is ingested with `ingest()` into a memory store (default ' +
    'splitter; BM25 with k1 1.2, b 0.75, English stop words, Porter2 stemming) and each query is answered by ' +
    "`retrieve({ groupBy: 'source' })` (sources scored whole, BM25 with Bo1 pseudo-relevance feedback; hybrid fuses " +
    'dense and BM25 as the mode says). Index time is the whole ingest (or index build); query time is the mean per query.';
  return [
    `| system | mode | nDCG@10 | MAP@${limit} | Recall@100 | MRR | index time | query time (mean) | note |`,
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...lines,
    '',
    ...versus,
    setup,
    '',
  ].join('\n');
}
