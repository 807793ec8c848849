/**
 * The search semantics every store shares: how many matches each ranking fetches, how a hybrid search
 * fuses its dense and sparse rankings (reciprocal-rank fusion), and `scoreThreshold`. A store runs its
 * native searches in between. Internal: not part of the public surface.
 */
import { DEFAULT_RRF_K, reciprocalRankFusion } from '../../core/fusion.js';
import type { Match } from '../../core/types.js';

/** The parts of parsed search options the plan depends on. */
export type SearchInput = {
  vector?: unknown;
  sparseVector?: unknown;
  limit?: number | undefined;
  includeVectors?: boolean | undefined;
  fusion?: { k?: number | undefined; prefetch?: number | undefined } | undefined;
  scoreThreshold?: number | undefined;
};

export type SearchPlan = {
  /** Matches to return. Default 10. */
  limit: number;
  /** Matches each ranking fetches: `limit`, or for a hybrid search `fusion.prefetch` (default 4 × limit, at least limit). */
  depth: number;
  /** Both a dense and a sparse query. */
  hybrid: boolean;
  includeVectors: boolean;
};

export function planSearch(search: SearchInput): SearchPlan {
  const limit = search.limit ?? 10;
  const hybrid = search.vector !== undefined && search.sparseVector !== undefined;
  return {
    limit,
    depth: hybrid ? Math.max(search.fusion?.prefetch ?? limit * 4, limit) : limit,
    hybrid,
    includeVectors: search.includeVectors ?? false,
  };
}

/**
 * The answer from the rankings a store fetched (each best first, `depth` long at most): a hybrid
 * search fuses them with RRF (`fusion.k`, default 60) and keeps `limit`; otherwise the one ranking
 * asked for. Then matches scoring below `scoreThreshold` are dropped.
 */
export function finishSearch(
  search: SearchInput,
  plan: SearchPlan,
  rankings: { dense?: readonly Match[]; sparse?: readonly Match[] },
): Match[] {
  const matches = plan.hybrid
    ? reciprocalRankFusion([rankings.dense ?? [], rankings.sparse ?? []], {
        k: search.fusion?.k ?? DEFAULT_RRF_K,
        limit: plan.limit,
      })
    : [...((search.vector !== undefined ? rankings.dense : rankings.sparse) ?? [])];
  const threshold = search.scoreThreshold;
  return threshold === undefined ? matches : matches.filter((match) => match.score >= threshold);
}
