import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  buildKernelBytes,
  buildKernelModuleText,
  KERNEL_GENERATED_PATH,
  KERNEL_WASM_PATH,
} from '../scripts/build-kernel.js';
import { type KernelMetric, type TopK, VectorArena } from '../src/stores/memory/kernel/arena.js';
import { resolveKernel } from '../src/stores/memory/kernel/kernel.js';
import { seededRandom } from '../src/testing/random.js';

const METRICS: KernelMetric[] = ['cosine', 'dot', 'euclidean'];

function randomVectors(count: number, dims: number, seed: number): number[][] {
  const rand = seededRandom(seed);
  return Array.from({ length: count }, () => Array.from({ length: dims }, () => rand() * 2 - 1));
}

/** Float64 reference score of the float32-rounded vectors. */
function reference(metric: KernelMetric, query: ArrayLike<number>, vector: ArrayLike<number>): number {
  let dot = 0;
  let qq = 0;
  let vv = 0;
  let dd = 0;
  for (let i = 0; i < query.length; i++) {
    const q = Math.fround(query[i]!);
    const v = Math.fround(vector[i]!);
    dot += q * v;
    qq += q * q;
    vv += v * v;
    dd += (q - v) * (q - v);
  }
  if (metric === 'dot') return dot;
  if (metric === 'euclidean') return -Math.sqrt(dd);
  return qq === 0 || vv === 0 ? 0 : dot / Math.sqrt(qq * vv);
}

const tolerance = (expected: number): number => 1e-4 * Math.max(1, Math.abs(expected));

/**
 * Checks a result against brute force over `candidates` (row ids into `vectors`): correct length,
 * best first, scores match the reference, and nothing left out scores clearly better than the last.
 */
function expectMatchesBruteForce(
  result: TopK,
  metric: KernelMetric,
  query: ArrayLike<number>,
  vectors: ArrayLike<number>[],
  candidates: number[],
  k: number,
): void {
  const expected = candidates
    .map((row) => ({ row, score: reference(metric, query, vectors[row]!) }))
    .sort((a, b) => b.score - a.score || a.row - b.row);
  const length = Math.min(k, candidates.length);
  expect(result.rows.length).toBe(length);
  expect(result.scores.length).toBe(length);
  const scoreOf = new Map(expected.map((e) => [e.row, e.score]));
  for (let i = 0; i < length; i++) {
    const row = result.rows[i]!;
    const score = result.scores[i]!;
    expect(Number.isNaN(score)).toBe(false);
    expect(scoreOf.has(row)).toBe(true);
    expect(Math.abs(score - scoreOf.get(row)!)).toBeLessThanOrEqual(tolerance(score));
    if (i > 0) expect(score).toBeLessThanOrEqual(result.scores[i - 1]!);
  }
  if (length > 0) {
    const kth = expected[length - 1]!.score;
    const last = result.scores[length - 1]!;
    expect(Math.abs(last - kth)).toBeLessThanOrEqual(tolerance(kth));
  }
  expect(new Set(result.rows).size).toBe(length);
}

function fill(arena: VectorArena, vectors: ArrayLike<number>[]): void {
  for (const [row, vector] of vectors.entries()) arena.write(row, vector);
}

describe('kernel-wasm.generated.ts', () => {
  it('is up to date with kernel.wat (run: npx tsx scripts/build-kernel.ts)', async () => {
    const expected = await buildKernelModuleText();
    expect(readFileSync(KERNEL_GENERATED_PATH, 'utf8')).toBe(expected);
  });

  it('kernel.wasm (the kumiki/stores/memory/kernel.wasm subpath) holds the same module', async () => {
    expect(new Uint8Array(readFileSync(KERNEL_WASM_PATH))).toEqual(await buildKernelBytes());
  });
});

// Every arena test runs on both kernels: the WebAssembly one and the JavaScript fallback.
for (const kernel of [resolveKernel('wasm'), resolveKernel('js')]) {
  describe(`${kernel.name} kernel`, () => {
    describe('VectorArena search matches float64 brute force', () => {
      for (const dims of [1, 3, 4, 5, 16, 17, 33, 100, 384]) {
        it(`dims ${dims}`, () => {
          const vectors = randomVectors(203, dims, dims);
          const arena = new VectorArena({ kernel, dimensions: dims, initialCapacity: 8 });
          fill(arena, vectors);
          expect(arena.size).toBe(vectors.length);
          const all = vectors.map((_, row) => row);
          for (const [qi, query] of randomVectors(3, dims, 1000 + dims).entries()) {
            for (const metric of METRICS) {
              for (const k of [1, 10, 300]) {
                expectMatchesBruteForce(arena.search(query, { metric, k }), metric, query, vectors, all, k);
              }
            }
            // A stored vector as the query: it is its own best match.
            const self = vectors[qi * 7]!;
            expect(arena.search(self, { metric: 'euclidean', k: 1 }).rows[0]).toBe(qi * 7);
          }
          arena.dispose();
        });
      }

      it('handles sizes 0 and 1', () => {
        const arena = new VectorArena({ kernel, dimensions: 3 });
        for (const metric of METRICS) {
          const empty = arena.search([1, 2, 3], { metric, k: 5 });
          expect(empty.rows.length).toBe(0);
          expect(empty.scores.length).toBe(0);
        }
        arena.write(0, [1, 2, 2]);
        expect(arena.search([1, 2, 2], { metric: 'cosine', k: 5 }).scores[0]).toBeCloseTo(1, 6);
        expect(arena.search([1, 2, 2], { metric: 'dot', k: 5 }).scores[0]).toBe(9);
        const euclid = arena.search([1, 2, 2], { metric: 'euclidean', k: 5 });
        expect(Array.from(euclid.rows)).toEqual([0]);
        expect(Object.is(euclid.scores[0], 0)).toBe(true);
        expect(arena.search([1, 2, 4], { metric: 'euclidean', k: 5 }).scores[0]).toBe(-2);
      });

      it('returns all rows when k > size, and nothing for k <= 0', () => {
        const vectors = randomVectors(7, 5, 3);
        const arena = new VectorArena({ kernel, dimensions: 5 });
        fill(arena, vectors);
        const query = randomVectors(1, 5, 4)[0]!;
        const result = arena.search(query, { metric: 'dot', k: 100 });
        expectMatchesBruteForce(result, 'dot', query, vectors, [0, 1, 2, 3, 4, 5, 6], 100);
        expect(arena.search(query, { metric: 'dot', k: 0 }).rows.length).toBe(0);
      });
    });

    describe('VectorArena storage', () => {
      it('accepts number[], Float32Array and Float64Array and reads back float32 copies', () => {
        const arena = new VectorArena({ kernel, dimensions: 3 });
        arena.write(0, [0.1, 0.2, 0.3]);
        arena.write(1, new Float32Array([1, 2, 3]));
        arena.write(2, new Float64Array([-1, 0.5, 1e-3]));
        expect(Array.from(arena.read(0))).toEqual([0.1, 0.2, 0.3].map(Math.fround));
        expect(Array.from(arena.read(1))).toEqual([1, 2, 3]);
        expect(Array.from(arena.read(2))).toEqual([-1, 0.5, 1e-3].map(Math.fround));
        const copy = arena.read(1);
        copy[0] = 42;
        expect(arena.read(1)[0]).toBe(1);
      });

      it('grows across memory.grow and keeps data and views consistent', () => {
        const dims = 17;
        const vectors = randomVectors(3000, dims, 11);
        const arena = new VectorArena({ kernel, dimensions: dims, initialCapacity: 1, quantized: true });
        const before = arena.memoryBytes;
        let grewAt = -1;
        for (const [row, vector] of vectors.entries()) {
          arena.write(row, vector);
          if (grewAt < 0 && arena.memoryBytes > before) grewAt = row;
          // Read back something written before the growth right after it happens.
          if (row === grewAt) expect(Array.from(arena.read(0))).toEqual(vectors[0]!.map(Math.fround));
        }
        expect(grewAt).toBeGreaterThan(0);
        expect(arena.memoryBytes).toBeGreaterThan(before);
        for (const row of [0, 1, 999, 2999]) {
          expect(Array.from(arena.read(row))).toEqual(vectors[row]!.map(Math.fround));
        }
        const query = randomVectors(1, dims, 12)[0]!;
        const all = vectors.map((_, row) => row);
        for (const metric of METRICS) {
          expectMatchesBruteForce(arena.search(query, { metric, k: 25 }), metric, query, vectors, all, 25);
        }
        // A candidate list longer than anything seen so far grows the scratch space too.
        const many = new Uint32Array(5000).map((_, i) => i % 3000);
        expect(arena.search(query, { metric: 'dot', k: 3, rows: many }).rows.length).toBe(3);
      });

      it('overwrites rows in place', () => {
        const vectors = randomVectors(50, 8, 21);
        const arena = new VectorArena({ kernel, dimensions: 8, quantized: true });
        fill(arena, vectors);
        const replacement = randomVectors(1, 8, 22)[0]!;
        arena.write(13, replacement);
        vectors[13] = replacement;
        expect(arena.size).toBe(50);
        expect(Array.from(arena.read(13))).toEqual(replacement.map(Math.fround));
        const top = arena.search(replacement, { metric: 'cosine', k: 1 });
        expect(top.rows[0]).toBe(13);
        expect(top.scores[0]).toBeCloseTo(1, 5);
        expect(arena.search(replacement, { metric: 'cosine', k: 1, quantized: true }).rows[0]).toBe(13);
        const all = vectors.map((_, row) => row);
        expectMatchesBruteForce(
          arena.search(replacement, { metric: 'dot', k: 10 }),
          'dot',
          replacement,
          vectors,
          all,
          10,
        );
      });

      it('moves and truncates (swap-remove)', () => {
        const vectors = randomVectors(40, 6, 31);
        const arena = new VectorArena({ kernel, dimensions: 6, quantized: true });
        fill(arena, vectors);
        // Remove row 5 by moving the last row over it.
        arena.move(39, 5);
        arena.truncate(39);
        vectors[5] = vectors[39]!;
        vectors.length = 39;
        expect(arena.size).toBe(39);
        expect(Array.from(arena.read(5))).toEqual(vectors[5]!.map(Math.fround));
        const all = vectors.map((_, row) => row);
        const query = randomVectors(1, 6, 32)[0]!;
        for (const metric of METRICS) {
          const result = arena.search(query, { metric, k: 39 });
          expectMatchesBruteForce(result, metric, query, vectors, all, 39);
          expect(Math.max(...result.rows)).toBeLessThan(39);
          const quantized = arena.search(query, { metric, k: 5, quantized: true, rescore: 2 });
          expect(Math.max(...quantized.rows)).toBeLessThan(39);
        }
        // Appending after a truncate reuses the row.
        arena.truncate(10);
        expect(arena.size).toBe(10);
        expect(() => arena.read(10)).toThrow(Error);
        const fresh = [9, 9, 9, 9, 9, 9];
        arena.write(10, fresh);
        expect(arena.size).toBe(11);
        expect(arena.search(fresh, { metric: 'dot', k: 1 }).rows[0]).toBe(10);
        arena.truncate(0);
        expect(arena.search(fresh, { metric: 'dot', k: 1 }).rows.length).toBe(0);
      });

      it('rejects bad rows and mismatched lengths with plain Errors', () => {
        const arena = new VectorArena({ kernel, dimensions: 4 });
        expect(() => arena.write(1, [1, 2, 3, 4])).toThrow(Error);
        expect(() => arena.write(0, [1, 2, 3])).toThrow(Error);
        arena.write(0, [1, 2, 3, 4]);
        expect(() => arena.search([1, 2, 3], { metric: 'dot', k: 1 })).toThrow(Error);
        expect(() => arena.search([1, 2, 3, 4], { metric: 'dot', k: 1, quantized: true })).toThrow(Error);
        expect(() => arena.search([1, 2, 3, 4], { metric: 'dot', k: 1, rows: new Uint32Array([3]) })).toThrow(Error);
        expect(() => arena.move(0, 1)).toThrow(Error);
        expect(() => arena.truncate(2)).toThrow(Error);
        arena.dispose();
        expect(() => arena.search([1, 2, 3, 4], { metric: 'dot', k: 1 })).toThrow(Error);
      });
    });

    describe('VectorArena candidate rows, ties and zero vectors', () => {
      it('scores only the candidate rows (rowCount limits them)', () => {
        const vectors = randomVectors(120, 19, 41);
        const arena = new VectorArena({ kernel, dimensions: 19, quantized: true });
        fill(arena, vectors);
        const subset = [117, 3, 64, 5, 90, 22, 41, 8, 77, 100, 0, 59];
        const rows = new Uint32Array([...subset, 1, 2, 4]);
        const query = randomVectors(1, 19, 42)[0]!;
        for (const metric of METRICS) {
          for (const k of [1, 4, 20]) {
            const result = arena.search(query, { metric, k, rows, rowCount: subset.length });
            expectMatchesBruteForce(result, metric, query, vectors, subset, k);
          }
          const viaRows = arena.search(query, { metric, k: 5, rows: new Uint32Array(subset) });
          expectMatchesBruteForce(viaRows, metric, query, vectors, subset, 5);
        }
        expect(arena.search(query, { metric: 'dot', k: 5, rows, rowCount: 0 }).rows.length).toBe(0);
      });

      it('breaks ties by the lower row number, whatever the candidate order', () => {
        const arena = new VectorArena({ kernel, dimensions: 3 });
        const same = [1, 0, 0];
        for (let row = 0; row < 12; row++) arena.write(row, row % 3 === 0 ? [0, 1, 0] : same);
        const expected = [1, 2, 4, 5, 7];
        for (const metric of METRICS) {
          expect(Array.from(arena.search(same, { metric, k: 5 }).rows)).toEqual(expected);
          const reversed = new Uint32Array(Array.from({ length: 12 }, (_, i) => 11 - i));
          expect(Array.from(arena.search(same, { metric, k: 5, rows: reversed }).rows)).toEqual(expected);
        }
      });

      it('scores zero vectors 0 under cosine, never NaN', () => {
        const arena = new VectorArena({ kernel, dimensions: 5, quantized: true });
        arena.write(0, [0, 0, 0, 0, 0]);
        arena.write(1, [1, 0, 0, 0, 0]);
        arena.write(2, [-1, 0, 0, 0, 0]);
        arena.write(3, [0, 0, 0, 0, 0]);
        const result = arena.search([1, 0, 0, 0, 0], { metric: 'cosine', k: 4 });
        expect(Array.from(result.rows)).toEqual([1, 0, 3, 2]);
        expect(Array.from(result.scores)).toEqual([1, 0, 0, -1]);
        const zeroQuery = arena.search([0, 0, 0, 0, 0], { metric: 'cosine', k: 4 });
        expect(Array.from(zeroQuery.rows)).toEqual([0, 1, 2, 3]);
        expect(Array.from(zeroQuery.scores)).toEqual([0, 0, 0, 0]);
        const quantized = arena.search([0, 0, 0, 0, 0], { metric: 'cosine', k: 1, quantized: true, rescore: 1 });
        expect(Array.from(quantized.scores)).toEqual([0]);
        for (const metric of METRICS) {
          const scores = arena.search([0, 0, 0, 0, 0], { metric, k: 4, quantized: true, rescore: 1 }).scores;
          expect(scores.every((s) => !Number.isNaN(s))).toBe(true);
        }
      });
    });

    describe('VectorArena int8 mode', () => {
      /** Well-separated data: tight clusters around random centers; queries near one center. */
      function clustered(dims: number, clusters: number, perCluster: number, seed: number): number[][] {
        const rand = seededRandom(seed);
        const centers = randomVectors(clusters, dims, seed + 1);
        const out: number[][] = [];
        for (let i = 0; i < perCluster; i++) {
          for (const center of centers) out.push(center.map((c) => c + (rand() - 0.5) * 0.05 * (1 + i)));
        }
        return out;
      }

      for (const dims of [5, 17, 64, 384]) {
        it(`returns the float top-k with exact float scores (dims ${dims})`, () => {
          const vectors = clustered(dims, 40, 20, dims);
          const arena = new VectorArena({ kernel, dimensions: dims, quantized: true });
          fill(arena, vectors);
          const queries = randomVectors(5, dims, 7).map((noise, i) =>
            vectors[i * 13]!.map((v, j) => v + noise[j]! * 0.01),
          );
          for (const query of queries) {
            for (const metric of METRICS) {
              const exact = arena.search(query, { metric, k: 10 });
              const approx = arena.search(query, { metric, k: 10, quantized: true });
              expect(Array.from(approx.rows)).toEqual(Array.from(exact.rows));
              expect(Array.from(approx.scores)).toEqual(Array.from(exact.scores));
              // With candidate rows too.
              const rows = new Uint32Array(Array.from({ length: 400 }, (_, i) => i * 2));
              const exactSubset = arena.search(query, { metric, k: 5, rows });
              const approxSubset = arena.search(query, { metric, k: 5, rows, quantized: true, rescore: 3 });
              expect(Array.from(approxSubset.rows)).toEqual(Array.from(exactSubset.rows));
              expect(Array.from(approxSubset.scores)).toEqual(Array.from(exactSubset.scores));
            }
          }
        });
      }

      it('keeps good recall on unstructured data', () => {
        const dims = 96;
        const vectors = randomVectors(2000, dims, 51);
        const arena = new VectorArena({ kernel, dimensions: dims, quantized: true });
        fill(arena, vectors);
        let hits = 0;
        const queries = randomVectors(20, dims, 52);
        for (const query of queries) {
          const exact = new Set(arena.search(query, { metric: 'cosine', k: 10 }).rows);
          for (const row of arena.search(query, { metric: 'cosine', k: 10, quantized: true }).rows) {
            if (exact.has(row)) hits++;
          }
        }
        expect(hits / (queries.length * 10)).toBeGreaterThanOrEqual(0.95);
      });

      it('falls back to float search when the shortlist covers every candidate', () => {
        const vectors = randomVectors(10, 4, 61);
        const arena = new VectorArena({ kernel, dimensions: 4, quantized: true });
        fill(arena, vectors);
        const query = [0.3, -0.2, 0.9, 0.1];
        const approx = arena.search(query, { metric: 'dot', k: 3, quantized: true });
        const exact = arena.search(query, { metric: 'dot', k: 3 });
        expect(approx).toEqual(exact);
      });
    });
  });
}
