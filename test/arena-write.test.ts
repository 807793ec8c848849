/**
 * Writing rows into the arena (`prepare_row` of kernel.wat and of the JavaScript kernel): the one pass
 * that computes a row's norm also refuses values that are not finite and turns -0 into 0. Both kernels
 * must store the same norm, bit for bit, or they would rank ties differently and build different graphs.
 */
import { describe, expect, test } from 'vitest';
import { VectorArena } from '../src/stores/memory/kernel/arena.js';
import { resolveKernel } from '../src/stores/memory/kernel/kernel.js';
import { seededRandom } from '../src/testing/random.js';
import { referenceNorm } from './helpers/reference-norm.js';

const norms = (arena: VectorArena) => new Float32Array(arena.exportRows().norms.slice().buffer);

describe.each(['wasm', 'js'] as const)('arena write, %s kernel', (kernel) => {
  test.each([1, 2, 3, 4, 5, 7, 16, 33, 100, 384])(
    '%i dimensions: the norm as summed in four lanes, -0 stored as 0',
    (dims) => {
      const rand = seededRandom(dims);
      const arena = new VectorArena({ dimensions: dims, initialCapacity: 2, kernel: resolveKernel(kernel) });
      const written: Float32Array[] = [];
      for (let row = 0; row < 24; row++) {
        // Values of very different magnitudes, so that the order of the sum shows in the last bits.
        const vector = Float32Array.from({ length: dims }, () => (rand() * 2 - 1) * 10 ** Math.floor(rand() * 12 - 6));
        if (row % 3 === 0) vector[Math.floor(rand() * dims)] = -0;
        if (row % 4 === 0) vector[dims - 1] = -0;
        expect(arena.write(row, vector)).toBe(true);
        written.push(vector);
      }
      const stored = norms(arena);
      for (const [row, vector] of written.entries()) {
        expect(stored[row]).toBe(referenceNorm(vector));
        const values = arena.read(row);
        for (let i = 0; i < dims; i++) {
          expect(Object.is(values[i], vector[i] === 0 ? 0 : vector[i])).toBe(true);
        }
      }
    },
  );

  test.each([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
  ])('a row with %s is refused, wherever it is; an appended one is not counted', (_, bad) => {
    for (const dims of [1, 3, 4, 9, 384]) {
      for (const at of [0, dims >> 1, dims - 1]) {
        const arena = new VectorArena({ dimensions: dims, kernel: resolveKernel(kernel) });
        expect(arena.write(0, new Float32Array(dims).fill(0.5))).toBe(true);
        const vector = new Float32Array(dims).fill(0.25);
        vector[at] = bad;
        expect(arena.write(1, vector)).toBe(false);
        expect(arena.size).toBe(1);
        expect(arena.write(0, vector)).toBe(false);
        expect(arena.write(0, [...vector].fill(1e39, at, at + 1))).toBe(false);
      }
    }
  });
});
