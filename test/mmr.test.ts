/**
 * Maximal marginal relevance with more than two picks: a candidate's redundancy is its greatest
 * similarity to anything picked so far (not the sum), checked against values worked out by hand.
 */
import { describe, expect, test } from 'vitest';
import type { Match, RecordId } from '../src/core/types.js';
import { maximalMarginalRelevance, type RetrievedChunk } from '../src/pipeline/retrieve.js';

function candidates(list: { id: string; score: number; vector: number[] }[]) {
  const chunks: RetrievedChunk[] = list.map(({ id, score }) => ({
    id,
    score,
    text: id,
    citation: { source: `doc:${id}`, chunk: 0, start: 0, end: id.length },
    payload: {},
  }));
  const matches = new Map<RecordId, Match>(
    list.map(({ id, score, vector }) => [id, { id, score, payload: {}, vector: Float32Array.from(vector) }]),
  );
  return { chunks, matches };
}

describe('maximalMarginalRelevance', () => {
  // a and b are orthogonal. c is similar to both (cosine 0.6 to each: sum 1.2, max 0.6); d is similar
  // to a only (cosine 0.9 to a, 0 to b: sum 0.9, max 0.9). c and d are equally relevant.
  const c = [0.6, 0.6, Math.sqrt(1 - 0.72)];
  const d = [0.9, 0, Math.sqrt(1 - 0.81)];
  const { chunks, matches } = candidates([
    { id: 'a', score: 1, vector: [1, 0, 0] },
    { id: 'b', score: 0.9, vector: [0, 1, 0] },
    { id: 'd', score: 0.8, vector: d },
    { id: 'c', score: 0.8, vector: c },
  ]);

  test('the third pick is the candidate least like its closest picked neighbour (max, not sum)', () => {
    // λ 0.5, relevance scaled to [0, 1]: a 1, b 0.5, c and d 0.
    // Pick 1: a. Pick 2: b 0.25 − 0 = 0.25; c 0 − 0.3; d 0 − 0.45. Pick 3: c −0.5 × 0.6 = −0.3 beats d −0.45
    // (with a sum, c would score −0.6 and d would win).
    const picked = maximalMarginalRelevance(chunks, matches, 3, 0.5);
    expect(picked.map((chunk) => chunk.id)).toEqual(['a', 'b', 'c']);
    expect(maximalMarginalRelevance(chunks, matches, 4, 0.5).map((chunk) => chunk.id)).toEqual(['a', 'b', 'c', 'd']);
  });

  test('λ 1 is relevance order; λ 0 takes the least redundant after the most relevant', () => {
    expect(maximalMarginalRelevance(chunks, matches, 4, 1).map((chunk) => chunk.id)).toEqual(['a', 'b', 'd', 'c']);
    // λ 0: after a, b (0) beats c (0.6) and d (0.9); then c (max 0.6) beats d (max 0.9).
    expect(maximalMarginalRelevance(chunks, matches, 3, 0).map((chunk) => chunk.id)).toEqual(['a', 'b', 'c']);
  });
});
