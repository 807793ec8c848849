import * as z from 'zod';
import type { Match, RecordId } from './types.js';
import { recordIdSchema } from './types.js';
import { parseArgument } from './validate.js';

/** Reciprocal-rank-fusion constant from Cormack et al. (2009); also Qdrant's and Milvus's default. */
export const DEFAULT_RRF_K = 60;

const listsSchema = z.array(z.array(z.object({ id: recordIdSchema }).loose()));
const rrfOptionsSchema = z
  .object({ k: z.number().positive('k must be positive').optional(), limit: z.number().int().min(0).optional() })
  .strict();

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
