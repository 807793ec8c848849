/**
 * Fusing ranked lists: reciprocal-rank fusion (ranks only) and, for one dense and one sparse list, a
 * weighted sum of min-max normalised scores (the convex combination of Bruch et al., 2023). See
 * docs/pipeline.md.
 */
import * as z from 'zod/mini';
import type { Match, RecordId } from './types.js';
import { recordIdSchema } from './types.js';
import { parseArgument } from './validate.js';

/** Reciprocal-rank-fusion constant from Cormack et al. (2009); also Qdrant's and Milvus's default. */
export const DEFAULT_RRF_K = 60;

const listsSchema = z.array(z.array(z.looseObject({ id: recordIdSchema })));
const rrfOptionsSchema = z.strictObject({
  k: z.optional(z.number().check(z.positive('k must be positive'))),
  limit: z.optional(z.number().check(z.int(), z.gte(0))),
});

const idKey = (id: RecordId): string => (typeof id === 'number' ? `n${id}` : `s${id}`);

/**
 * Fuses ranked lists: each match scores Σ 1/(k + rank) over the lists it appears in (rank from 1).
 * The fused match keeps the fields of its first appearance and takes the fused score. Ties keep
 * the order of first appearance.
 */
export function reciprocalRankFusion(
  lists: readonly (readonly Match[])[],
  options: { k?: number; limit?: number } = {},
): Match[] {
  parseArgument(listsSchema, lists, 'ranked lists');
  const { k = DEFAULT_RRF_K, limit } = parseArgument(rrfOptionsSchema, options, 'fusion options');
  const fused = new Map<string, Match>();
  for (const list of lists) {
    list.forEach((match, index) => {
      const key = idKey(match.id);
      const contribution = 1 / (k + index + 1);
      const existing = fused.get(key);
      if (existing) existing.score += contribution;
      else fused.set(key, { ...match, score: contribution });
    });
  }
  const ranked = [...fused.values()].sort((a, b) => b.score - a.score);
  return limit === undefined ? ranked : ranked.slice(0, limit);
}

export type Fusion =
  /** Σ 1/(k + rank) over the lists; `k` default 60. Runs in the store when it fuses natively. */
  | { method: 'rrf'; k?: number }
  /** `denseWeight`·dense + (1 − `denseWeight`)·sparse, each score min-max normalised within its list. */
  | { method: 'weighted'; denseWeight?: number };

/**
 * The default hybrid fusion, picked by bench/tune.ts's rule on CISI's training queries with the static
 * GloVe embedder (docs/benchmarks.md): the weighted sum with the best train score. Reciprocal-rank
 * fusion lost a fifth of BM25's quality there; weighted sums from 0.1 to 0.6 stayed within 1% of it.
 */
export const DEFAULT_FUSION = Object.freeze({ method: 'weighted', denseWeight: 0.5 }) satisfies Fusion;

export const fusionSchema = z.discriminatedUnion(
  'method',
  [
    z.strictObject({
      method: z.literal('rrf'),
      k: z.optional(z.number().check(z.positive('fusion.k must be positive'))),
    }),
    z.strictObject({
      method: z.literal('weighted'),
      denseWeight: z.optional(
        z
          .number()
          .check(
            z.gte(0, 'fusion.denseWeight must be between 0 and 1'),
            z.lte(1, 'fusion.denseWeight must be between 0 and 1'),
          ),
      ),
    }),
  ],
  { error: "fusion.method must be 'rrf' or 'weighted'" },
);

/**
 * Weighted fusion: every score is scaled to [0, 1] within its own list (the list's lowest score → 0,
 * its highest → 1; a list whose scores are all equal gives 1), then each match scores
 * `denseWeight`·dense + (1 − `denseWeight`)·sparse, 0 for a list it is missing from. The fused match
 * keeps the fields of its first appearance; ties keep the order of first appearance.
 */
export function weightedFusion(
  dense: readonly Match[],
  sparse: readonly Match[],
  options: { denseWeight: number; limit?: number },
): Match[] {
  const fused = new Map<string, Match>();
  for (const [list, weight] of [
    [dense, options.denseWeight],
    [sparse, 1 - options.denseWeight],
  ] as const) {
    if (list.length === 0) continue;
    let high = Number.NEGATIVE_INFINITY;
    let low = Number.POSITIVE_INFINITY;
    for (const match of list) {
      high = Math.max(high, match.score);
      low = Math.min(low, match.score);
    }
    const span = high - low;
    for (const match of list) {
      const contribution = weight * (span > 0 ? (match.score - low) / span : 1);
      const key = idKey(match.id);
      const existing = fused.get(key);
      if (existing) existing.score += contribution;
      else fused.set(key, { ...match, score: contribution });
    }
  }
  const ranked = [...fused.values()].sort((a, b) => b.score - a.score);
  return options.limit === undefined ? ranked : ranked.slice(0, options.limit);
}

/** Fuses a dense and a sparse ranking with `fusion`, keeping the first `limit`. */
export function fuse(dense: readonly Match[], sparse: readonly Match[], fusion: Fusion, limit?: number): Match[] {
  const bound = limit === undefined ? {} : { limit };
  return fusion.method === 'rrf'
    ? reciprocalRankFusion([dense, sparse], { k: fusion.k ?? DEFAULT_RRF_K, ...bound })
    : weightedFusion(dense, sparse, { denseWeight: fusion.denseWeight ?? DEFAULT_FUSION.denseWeight, ...bound });
}
