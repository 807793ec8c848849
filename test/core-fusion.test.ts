/**
 * Weighted fusion, `fuse` and the fusion options, against values worked out by hand.
 * (Tie order and reciprocal-rank fusion itself: test/fusion.test.ts.)
 */
import { describe, expect, test } from 'vitest';
import { InvalidArgumentError } from '../src/core/errors.js';
import {
  DEFAULT_FUSION,
  DEFAULT_RRF_K,
  fuse,
  fusionSchema,
  reciprocalRankFusion,
  weightedFusion,
} from '../src/core/fusion.js';
import type { Match } from '../src/core/types.js';

const m = (id: string | number, score: number, payload = {}): Match => ({ id, score, payload });
const pairs = (matches: readonly Match[]) => matches.map((match) => [match.id, match.score]);

describe('weightedFusion', () => {
  test('scales each list to [0, 1] and sums with the weights; a list a match is missing from adds 0', () => {
    // dense: a 1, b 0.5, c 0; sparse: b 1, d 0.
    const fused = weightedFusion([m('a', 0.9), m('b', 0.5), m('c', 0.1)], [m('b', 10), m('d', 4)], {
      denseWeight: 0.25,
    });
    expect(fused.map((match) => match.id)).toEqual(['b', 'a', 'c', 'd']);
    const scores = Object.fromEntries(pairs(fused));
    expect(scores.b).toBeCloseTo(0.25 * 0.5 + 0.75 * 1, 12);
    expect(scores.a).toBeCloseTo(0.25, 12);
    expect(scores.c).toBe(0);
    expect(scores.d).toBe(0);
  });

  test('negative scores (distances) scale the same way: the highest is 1, the lowest 0', () => {
    const fused = weightedFusion([m('far', -3), m('near', -1), m('mid', -2)], [], { denseWeight: 1 });
    expect(pairs(fused)).toEqual([
      ['near', 1],
      ['mid', 0.5],
      ['far', 0],
    ]);
  });

  test('a list whose scores are all equal gives each of its matches 1', () => {
    expect(pairs(weightedFusion([m('x', 3), m('y', 3)], [m('z', 7)], { denseWeight: 0.5 }))).toEqual([
      ['x', 0.5],
      ['y', 0.5],
      ['z', 0.5],
    ]);
  });

  test('an empty list contributes nothing; the other still counts with its weight', () => {
    expect(pairs(weightedFusion([], [m('a', 1), m('b', 0)], { denseWeight: 0.75 }))).toEqual([
      ['a', 0.25],
      ['b', 0],
    ]);
    expect(weightedFusion([], [], { denseWeight: 0.5 })).toEqual([]);
  });

  test('weights at the ends keep every match, scored by one list only', () => {
    const dense = [m('a', 2), m('b', 1)];
    const sparse = [m('b', 5), m('c', 1)];
    expect(pairs(weightedFusion(dense, sparse, { denseWeight: 1 }))).toEqual([
      ['a', 1],
      ['b', 0],
      ['c', 0],
    ]);
    expect(pairs(weightedFusion(dense, sparse, { denseWeight: 0 }))).toEqual([
      ['b', 1],
      ['a', 0],
      ['c', 0],
    ]);
  });

  test('the limit keeps the best; the fused match keeps its first fields; the inputs are unchanged', () => {
    const first = m('x', 0.2, { from: 'dense' });
    const dense = [m('top', 0.9), first];
    const sparse = [m('x', 8, { from: 'sparse' }), m('y', 1)];
    const fused = weightedFusion(dense, sparse, { denseWeight: 0.4, limit: 2 });
    expect(fused.map((match) => match.id)).toEqual(['x', 'top']);
    expect(fused[0]).toEqual({ id: 'x', score: 0.6, payload: { from: 'dense' } });
    expect(first.score).toBe(0.2);
    expect(weightedFusion(dense, sparse, { denseWeight: 0.5, limit: 0 })).toEqual([]);
  });

  test('the number 1 and the string "1" are different records', () => {
    expect(pairs(weightedFusion([m(1, 1)], [m('1', 1)], { denseWeight: 0.5 }))).toEqual([
      [1, 0.5],
      ['1', 0.5],
    ]);
  });
});

describe('fuse', () => {
  const dense = [m('a', 0.9), m('b', 0.8), m('c', 0.1)];
  const sparse = [m('c', 12), m('d', 3)];

  test('rrf with its k (60 by default), and the limit', () => {
    expect(DEFAULT_RRF_K).toBe(60);
    expect(pairs(fuse(dense, sparse, { method: 'rrf' }))).toEqual(
      pairs(reciprocalRankFusion([dense, sparse], { k: 60 })),
    );
    expect(fuse(dense, sparse, { method: 'rrf' })[0]).toEqual({ id: 'c', score: 1 / 63 + 1 / 61, payload: {} });
    expect(pairs(fuse(dense, sparse, { method: 'rrf', k: 1 }, 2))).toEqual([
      ['c', 1 / 4 + 1 / 2],
      ['a', 1 / 2],
    ]);
  });

  test('weighted with its weight (0.5 by default), and the limit', () => {
    expect(DEFAULT_FUSION).toEqual({ method: 'weighted', denseWeight: 0.5 });
    expect(Object.isFrozen(DEFAULT_FUSION)).toBe(true);
    const byDefault = fuse(dense, sparse, { method: 'weighted' });
    expect(pairs(byDefault)).toEqual(pairs(weightedFusion(dense, sparse, { denseWeight: 0.5 })));
    expect(byDefault.map((match) => match.id)).toEqual(['a', 'c', 'b', 'd']);
    expect(pairs(fuse(dense, sparse, { method: 'weighted', denseWeight: 0.9 }, 1))).toEqual([['a', 0.9]]);
    expect(fuse(dense, sparse, { method: 'weighted' }, undefined)).toHaveLength(4);
  });
});

describe('fusion arguments', () => {
  const invalid = (run: () => unknown) => {
    try {
      run();
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidArgumentError);
      return (error as InvalidArgumentError).message;
    }
    throw new Error('expected InvalidArgumentError');
  };

  test('reciprocalRankFusion refuses a bad k, limit or list, naming it', () => {
    expect(invalid(() => reciprocalRankFusion([], { k: 0 }))).toBe('Invalid fusion options: k: k must be positive');
    expect(invalid(() => reciprocalRankFusion([], { limit: -1 }))).toMatch(/^Invalid fusion options: limit: /);
    expect(invalid(() => reciprocalRankFusion([], { limit: 1.5 }))).toMatch(/^Invalid fusion options: limit: /);
    expect(invalid(() => reciprocalRankFusion([], { top: 3 } as never))).toMatch(/^Invalid fusion options: .*top/);
    expect(invalid(() => reciprocalRankFusion([[{ score: 1 } as never]]))).toMatch(/^Invalid ranked lists: 0\.0\.id: /);
    expect(invalid(() => reciprocalRankFusion([[m('', 1)]]))).toBe(
      'Invalid ranked lists: 0.0.id: string ids must not be empty',
    );
    expect(reciprocalRankFusion([[m('a', 1)]], { limit: 0 })).toEqual([]);
    expect(reciprocalRankFusion([])).toEqual([]);
  });

  test('fusionSchema names the method, weight and k that are out of range', () => {
    const message = (value: unknown) => fusionSchema.safeParse(value).error?.issues[0]?.message;
    expect(fusionSchema.parse({ method: 'weighted', denseWeight: 0 })).toEqual({ method: 'weighted', denseWeight: 0 });
    expect(fusionSchema.parse({ method: 'rrf' })).toEqual({ method: 'rrf' });
    expect(message({ method: 'max' })).toBe("fusion.method must be 'rrf' or 'weighted'");
    expect(message({ method: 'weighted', denseWeight: 1.5 })).toBe('fusion.denseWeight must be between 0 and 1');
    expect(message({ method: 'weighted', denseWeight: -0.1 })).toBe('fusion.denseWeight must be between 0 and 1');
    expect(message({ method: 'rrf', k: 0 })).toBe('fusion.k must be positive');
    expect(fusionSchema.safeParse({ method: 'rrf', denseWeight: 0.5 }).success).toBe(false);
  });
});
