/**
 * Ranking metrics (nDCG@k with graded gains, average precision, Recall@k, reciprocal rank) and a
 * paired randomization test. Runtime-neutral. Definitions follow trec_eval: a document is relevant
 * when its grade is above 0, and nDCG's gain is the grade itself.
 */
import * as z from 'zod';
import { parseArgument } from '../core/validate.js';
import { seededRandom } from '../internal/random.js';

/** Document id → grade (relevant when > 0), or the set of relevant ids (grade 1 each). */
export type Judgements = ReadonlySet<string> | ReadonlyMap<string, number>;

const cutoffSchema = z.number().int('k must be an integer').min(1, 'k must be at least 1');
const rankingSchema = z.array(z.string(), { error: 'ranking must be an array of document ids' });
const judgementsSchema = z.custom<Judgements>(
  (value) => value instanceof Set || value instanceof Map,
  'relevant must be a Set of document ids or a Map of document id → grade',
);

function metricArguments(ranking: readonly string[], relevant: Judgements, k: number, name: string) {
  return {
    ranking: parseArgument(rankingSchema, ranking, `${name} ranking`),
    relevant: parseArgument(judgementsSchema, relevant, `${name} relevant`),
    k: parseArgument(cutoffSchema, k, `${name} k`),
  };
}

const graded = (judgements: Judgements): judgements is ReadonlyMap<string, number> => judgements instanceof Map;

const gradeOf = (judgements: Judgements, id: string): number =>
  graded(judgements) ? (judgements.get(id) ?? 0) : judgements.has(id) ? 1 : 0;

const relevantCount = (judgements: Judgements): number => {
  if (!graded(judgements)) return judgements.size;
  let count = 0;
  for (const grade of judgements.values()) if (grade > 0) count++;
  return count;
};

/** nDCG@k: gain = grade, discount log2(rank + 1); 0 when nothing is relevant. */
export function ndcgAt(ranking: readonly string[], relevant: Judgements, k = 10): number {
  const args = metricArguments(ranking, relevant, k, 'ndcgAt');
  let dcg = 0;
  for (let i = 0; i < Math.min(args.k, args.ranking.length); i++) {
    const grade = gradeOf(args.relevant, args.ranking[i] as string);
    if (grade > 0) dcg += grade / Math.log2(i + 2);
  }
  const grades = graded(args.relevant)
    ? [...args.relevant.values()].filter((grade) => grade > 0).sort((a, b) => b - a)
    : Array.from({ length: args.relevant.size }, () => 1);
  let ideal = 0;
  for (let i = 0; i < Math.min(args.k, grades.length); i++) ideal += (grades[i] as number) / Math.log2(i + 2);
  return ideal === 0 ? 0 : dcg / ideal;
}

/**
 * Average precision over the whole ranking given (pass a truncated ranking for AP@k); relevant
 * documents not retrieved count as misses; 0 when nothing is relevant.
 */
export function averagePrecision(ranking: readonly string[], relevant: Judgements): number {
  const args = metricArguments(ranking, relevant, 1, 'averagePrecision');
  const total = relevantCount(args.relevant);
  if (total === 0) return 0;
  let hits = 0;
  let sum = 0;
  for (let i = 0; i < args.ranking.length; i++) {
    if (gradeOf(args.relevant, args.ranking[i] as string) > 0) {
      hits += 1;
      sum += hits / (i + 1);
    }
  }
  return sum / total;
}

/** Share of the relevant documents found in the first k; 0 when nothing is relevant. */
export function recallAt(ranking: readonly string[], relevant: Judgements, k = 100): number {
  const args = metricArguments(ranking, relevant, k, 'recallAt');
  const total = relevantCount(args.relevant);
  if (total === 0) return 0;
  let hits = 0;
  for (let i = 0; i < Math.min(args.k, args.ranking.length); i++)
    if (gradeOf(args.relevant, args.ranking[i] as string) > 0) hits += 1;
  return hits / total;
}

/** 1 / rank of the first relevant document in the ranking; 0 when none is there. */
export function reciprocalRank(ranking: readonly string[], relevant: Judgements): number {
  const args = metricArguments(ranking, relevant, 1, 'reciprocalRank');
  for (let i = 0; i < args.ranking.length; i++)
    if (gradeOf(args.relevant, args.ranking[i] as string) > 0) return 1 / (i + 1);
  return 0;
}

export type Metrics = { ndcg10: number; map: number; recall100: number; mrr: number };
export const METRICS = ['ndcg10', 'map', 'recall100', 'mrr'] as const satisfies readonly (keyof Metrics)[];

/** What metrics need of a test collection: its judged queries and their judgements. */
export type Judged = {
  queries: ReadonlyArray<{ id: string }>;
  /** Query id → relevant document ids. */
  relevant: ReadonlyMap<string, ReadonlySet<string>>;
  /** Query id → document id → grade, for graded collections (nDCG uses the grades). */
  grades?: ReadonlyMap<string, ReadonlyMap<string, number>>;
};

/** Per query (in `collection.queries` order): the four metrics; a query without a ranking scores 0. */
export function perQueryMetrics(
  collection: Judged,
  rankings: ReadonlyMap<string, readonly string[]>,
  queries: ReadonlySet<string> | undefined = undefined,
): Array<{ query: string } & Metrics> {
  return collection.queries
    .filter((query) => queries === undefined || queries.has(query.id))
    .map((query) => {
      const judgements: Judgements =
        collection.grades?.get(query.id) ?? collection.relevant.get(query.id) ?? new Set<string>();
      const ranking = rankings.get(query.id) ?? [];
      return {
        query: query.id,
        ndcg10: ndcgAt(ranking, judgements, 10),
        map: averagePrecision(ranking, judgements),
        recall100: recallAt(ranking, judgements, 100),
        mrr: reciprocalRank(ranking, judgements),
      };
    });
}

/** Means over the judged queries (or over `queries` only); a judged query without a ranking scores 0. */
export function evaluateRankings(
  collection: Judged,
  rankings: ReadonlyMap<string, readonly string[]>,
  queries?: ReadonlySet<string>,
): Metrics {
  const rows = perQueryMetrics(collection, rankings, queries);
  const mean = (key: keyof Metrics) =>
    rows.length === 0 ? 0 : rows.reduce((sum, row) => sum + row[key], 0) / rows.length;
  return { ndcg10: mean('ndcg10'), map: mean('map'), recall100: mean('recall100'), mrr: mean('mrr') };
}

const randomizationSchema = z
  .object({
    permutations: z.number().int().min(100, 'permutations must be at least 100').max(1_000_000).optional(),
    seed: z.number().int().optional(),
  })
  .strict();

/**
 * Two-sided paired randomization (permutation) test of Fisher, as Smucker, Allan and Carterette
 * (2007) recommend for IR: the per-query differences `a[i] − b[i]` get random signs `permutations`
 * times (default 10,000, seed 1); the p-value is the share of those whose mean difference is at least
 * as far from 0 as the observed one (counting the observed one: (hits + 1) / (permutations + 1)).
 */
export function randomizationTest(
  a: readonly number[],
  b: readonly number[],
  options: { permutations?: number; seed?: number } = {},
): { difference: number; p: number } {
  const settings = parseArgument(randomizationSchema, options, 'randomization options');
  const pairs = parseArgument(
    z
      .tuple([z.array(z.number().finite()), z.array(z.number().finite())])
      .refine(([x, y]) => x.length === y.length, 'a and b must hold one value per query each (same length)'),
    [a, b],
    'randomization samples',
  );
  const differences = pairs[0].map((value, i) => value - (pairs[1][i] as number));
  const n = differences.length;
  if (n === 0) return { difference: 0, p: 1 };
  const observed = differences.reduce((sum, d) => sum + d, 0);
  const permutations = settings.permutations ?? 10_000;
  const random = seededRandom(settings.seed ?? 1);
  // Compare sums (same as means for a fixed n), with a little slack for floating-point ties.
  const bound = Math.abs(observed) - 1e-12;
  let hits = 0;
  for (let p = 0; p < permutations; p++) {
    let sum = 0;
    for (const d of differences) sum += random() < 0.5 ? -d : d;
    if (Math.abs(sum) >= bound) hits++;
  }
  return { difference: observed / n, p: (hits + 1) / (permutations + 1) };
}
