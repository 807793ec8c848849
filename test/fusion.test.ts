/**
 * Reciprocal-rank fusion and the server stores' hybrid search on it, checked against expectations
 * written out by hand (never computed with `reciprocalRankFusion` itself).
 */
import { describe, expect, test } from 'vitest';
import { reciprocalRankFusion } from '../src/core/fusion.js';
import type { Match } from '../src/core/types.js';
import { finishSearch, planSearch } from '../src/stores/kernel/search.js';

const m = (id: string | number, score = 1): Match => ({ id, score, payload: {} });
const ids = (matches: readonly Match[]) => matches.map((match) => match.id);

describe('reciprocalRankFusion: ties keep the order of first appearance', () => {
  test('two ids swapped between two lists tie; the one the first list ranks first comes first', () => {
    // z: 1/61 + 1/62, a: 1/62 + 1/61: the same sum. Neither id order nor list order from the end decides.
    const fused = reciprocalRankFusion([
      [m('z'), m('a')],
      [m('a'), m('z')],
    ]);
    expect(ids(fused)).toEqual(['z', 'a']);
    expect(fused[0]?.score).toBe(fused[1]?.score);
    const swapped = reciprocalRankFusion([
      [m('a'), m('z')],
      [m('z'), m('a')],
    ]);
    expect(ids(swapped)).toEqual(['a', 'z']);
  });

  test('the same rank in different lists: the earlier list first, then the later one, for every rank', () => {
    const fused = reciprocalRankFusion(
      [
        [m(9), m('y'), m(3)],
        [m('b'), m(1), m('x')],
      ],
      { k: 10 },
    );
    // 1/11 twice, 1/12 twice, 1/13 twice: within each pair the first list's id first.
    expect(ids(fused)).toEqual([9, 'b', 'y', 1, 3, 'x']);
    expect(fused.map((match) => match.score)).toEqual([1 / 11, 1 / 11, 1 / 12, 1 / 12, 1 / 13, 1 / 13]);
  });

  test('a tie cut by the limit keeps the earlier one', () => {
    const fused = reciprocalRankFusion([[m('zeta')], [m('alpha')]], { limit: 1 });
    expect(ids(fused)).toEqual(['zeta']);
  });
});

describe('reciprocalRankFusion: what a fused match is', () => {
  test('the number 1 and the string "1" are two records', () => {
    const fused = reciprocalRankFusion([[m(1)], [m('1')]], { k: 1 });
    expect(fused.map((match) => [match.id, match.score])).toEqual([
      [1, 1 / 2],
      ['1', 1 / 2],
    ]);
  });

  test('a fused match keeps the fields of its first appearance and takes the fused score', () => {
    const first: Match = { id: 'x', score: 0.9, payload: { from: 'dense' }, vector: new Float32Array([1, 0]) };
    const second: Match = { id: 'x', score: 7, payload: { from: 'sparse' } };
    const [fused] = reciprocalRankFusion([[first], [m('y'), second]], { k: 1 });
    expect(fused).toEqual({
      id: 'x',
      score: 1 / 2 + 1 / 3,
      payload: { from: 'dense' },
      vector: new Float32Array([1, 0]),
    });
    expect(first.score).toBe(0.9);
  });
});

describe('the server stores’ hybrid search (src/stores/kernel/search.ts)', () => {
  test('each ranking fetches fusion.prefetch (default 4 × limit, never under limit); one ranking is not fused', () => {
    expect(planSearch({ vector: [1], sparseVector: {}, limit: 3 })).toMatchObject({ depth: 12, hybrid: true });
    expect(planSearch({ vector: [1], sparseVector: {}, limit: 3, fusion: { prefetch: 2 } })).toMatchObject({
      depth: 3,
    });
    expect(planSearch({ vector: [1], limit: 3, fusion: { prefetch: 50 } })).toMatchObject({ depth: 3, hybrid: false });
    expect(planSearch({ sparseVector: {} })).toMatchObject({ limit: 10, depth: 10, includeVectors: false });
  });

  test('dense first, sparse second: a tie between them goes to the dense ranking, then scoreThreshold applies', () => {
    const search = { vector: [1], sparseVector: {}, limit: 3, fusion: { k: 10 } };
    const plan = planSearch(search);
    const dense = [m(2), m(3), m(4)];
    const sparse = [m(10), m(7), m(4)];
    // 4: 1/13 + 1/13; 2: 1/11 (dense); 10: 1/11 (sparse); 3 and 7: 1/12.
    const fused = finishSearch(search, plan, { dense, sparse });
    expect(ids(fused)).toEqual([4, 2, 10]);
    expect(fused.map((match) => match.score)).toEqual([2 / 13, 1 / 11, 1 / 11]);
    const above = finishSearch({ ...search, scoreThreshold: 0.1 }, plan, { dense, sparse });
    expect(ids(above)).toEqual([4]);
    // The threshold keeps a score equal to it.
    expect(ids(finishSearch({ ...search, scoreThreshold: 1 / 11 }, plan, { dense, sparse }))).toEqual([4, 2, 10]);
    expect(ids(finishSearch({ vector: [1] }, planSearch({ vector: [1] }), { dense, sparse }))).toEqual([2, 3, 4]);
    expect(ids(finishSearch({ sparseVector: {} }, planSearch({ sparseVector: {} }), { dense, sparse }))).toEqual([
      10, 7, 4,
    ]);
  });
});
