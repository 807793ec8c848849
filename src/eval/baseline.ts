/** Each row of an evaluation against the baseline row: a paired randomization test per metric. */
import { InvalidArgumentError } from '../core/errors.js';
import type { TestCollection } from './collection.js';
import { METRICS, perQueryMetrics, randomizationTest } from './metrics.js';
import type { EvaluationRow } from './report.js';

/**
 * Tests every other measured row against the `baseline` row, metric by metric, with a paired
 * randomization test over the scored queries, and sets each one's `versus`. Throws
 * InvalidArgumentError when `baseline` is not a measured row.
 */
export function compareWithBaseline(options: {
  collection: TestCollection;
  rows: EvaluationRow[];
  /** Row id → query id → document ids, best first. */
  rankings: ReadonlyMap<string, ReadonlyMap<string, readonly string[]>>;
  scored: ReadonlySet<string> | undefined;
  baseline: string;
  permutations: number | undefined;
}): void {
  const { collection, rows, scored, baseline } = options;
  const base = rows.find((row) => row.id === baseline && row.ndcg10 !== null);
  if (!base) {
    throw new InvalidArgumentError({
      argument: 'evaluateRetrieval options',
      issues: [
        {
          path: 'baseline',
          message: `no measured row "${baseline}"; rows: ${rows
            .filter((row) => row.ndcg10 !== null)
            .map((row) => row.id)
            .join(', ')}`,
        },
      ],
    });
  }
  const basePerQuery = perQueryMetrics(collection, options.rankings.get(baseline) as Map<string, string[]>, scored);
  for (const row of rows) {
    if (row === base || row.ndcg10 === null) continue;
    const perQuery = perQueryMetrics(collection, options.rankings.get(row.id) as Map<string, string[]>, scored);
    const versus = { baseline } as NonNullable<EvaluationRow['versus']>;
    for (const metric of METRICS) {
      const test = randomizationTest(
        perQuery.map((value) => value[metric]),
        basePerQuery.map((value) => value[metric]),
        options.permutations ? { permutations: options.permutations } : {},
      );
      const mean = base[metric] as number;
      versus[metric] = {
        difference: test.difference,
        ratio: mean > 0 ? (row[metric] as number) / mean : null,
        p: test.p,
      };
    }
    row.versus = versus;
  }
}
