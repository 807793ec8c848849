/**
 * The int8-only arena (`floats: false`, the memory store's `quantization: 'int8-only'`): no float
 * rows, only int8 codes, scales and the norms of the dequantized values. Writes refuse bad values as
 * float arenas do; reads give code × scale; exact search and the graph's scoring use int8 scores, the
 * same in both kernels.
 */
import { describe, expect, test } from 'vitest';
import { type KernelMetric, VectorArena } from '../src/stores/memory/kernel/arena.js';
import { resolveKernel } from '../src/stores/memory/kernel/kernel.js';
import { seededRandom } from '../src/testing/random.js';
import { referenceNorm } from './helpers/reference-norm.js';

type KernelKind = 'wasm' | 'js';

const int8Only = (dims: number, kernel: KernelKind, initialCapacity = 4) =>
  new VectorArena({ dimensions: dims, quantized: true, floats: false, initialCapacity, kernel: resolveKernel(kernel) });

/** Copies of the exported sections (they are views into live memory). */
function sections(arena: VectorArena) {
  const rows = arena.exportRows();
  return {
    floats: rows.floats.slice(),
    norms: rows.norms.slice(),
    codes: rows.codes?.slice(),
    scales: rows.scales?.slice(),
  };
}

/** Vectors of very different magnitudes, some with -0. */
function vectors(count: number, dims: number, seed: number): Float32Array[] {
  const rand = seededRandom(seed);
  return Array.from({ length: count }, (_, row) => {
    const magnitude = 10 ** Math.floor(rand() * 8 - 4);
    const vector = Float32Array.from({ length: dims }, () => (rand() * 2 - 1) * magnitude);
    if (row % 3 === 0) vector[Math.floor(rand() * dims)] = -0;
    return vector;
  });
}

describe.each(['wasm', 'js'] as const)('int8-only arena, %s kernel', (kernel) => {
  test.each([1, 3, 16, 33, 100])(
    '%i dimensions: the codes int8 quantization makes, read back within scale / 2, norms of what is read',
    (dims) => {
      const arena = int8Only(dims, kernel);
      const floats = new VectorArena({ dimensions: dims, quantized: true, kernel: resolveKernel(kernel) });
      const written = vectors(40, dims, dims);
      written.forEach((vector, row) => {
        expect(arena.write(row, vector)).toBe(true);
        expect(floats.write(row, vector)).toBe(true);
      });
      const mine = sections(arena);
      const theirs = sections(floats);
      expect(mine.codes).toEqual(theirs.codes);
      expect(mine.scales).toEqual(theirs.scales);
      const scales = new Float32Array((mine.scales as Uint8Array).buffer);
      const norms = new Float32Array(mine.norms.buffer);
      const exported = new Float32Array(mine.floats.buffer);
      const width = arena.rowBytes / 4;
      for (const [row, vector] of written.entries()) {
        const values = arena.read(row);
        const scale = scales[row] as number;
        for (let i = 0; i < dims; i++) {
          expect(Math.abs((values[i] as number) - (vector[i] as number))).toBeLessThanOrEqual(scale / 2 + 1e-7 * scale);
          expect(exported[row * width + i]).toBe(values[i]);
        }
        expect(norms[row]).toBe(referenceNorm(values));
      }
    },
  );

  test.each([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
    ['a number beyond float32', 1e39],
  ])('a row with %s is refused and the stored rows stay as they were', (_, bad) => {
    for (const dims of [1, 4, 9, 100]) {
      const arena = int8Only(dims, kernel);
      expect(arena.write(0, new Float32Array(dims).fill(0.5))).toBe(true);
      const before = sections(arena);
      for (const at of [0, dims >> 1, dims - 1]) {
        const vector = Array.from({ length: dims }, () => 0.25);
        vector[at] = bad;
        expect(arena.write(1, vector)).toBe(false);
        expect(arena.size).toBe(1);
        expect(arena.write(0, vector)).toBe(false);
        expect(sections(arena)).toEqual(before);
      }
    }
  });

  test('a row read and written back is stored bit for bit as before (an undone write restores it)', () => {
    for (const dims of [5, 100]) {
      const arena = int8Only(dims, kernel);
      for (const [row, vector] of vectors(300, dims, 7 + dims).entries()) arena.write(row, vector);
      const before = sections(arena);
      for (let row = 0; row < arena.size; row++) expect(arena.write(row, arena.read(row))).toBe(true);
      expect(sections(arena)).toEqual(before);
    }
  });

  test('exportRows and importRows: the same codes, scales and norms; float rows alone quantize as writes do', () => {
    const dims = 37;
    const arena = int8Only(dims, kernel);
    for (const [row, vector] of vectors(200, dims, 3).entries()) arena.write(row, vector);
    arena.move(arena.size - 1, 10);
    arena.truncate(arena.size - 1);
    const saved = sections(arena);
    const reopened = int8Only(dims, kernel, 1);
    reopened.importRows(arena.size, saved);
    expect(sections(reopened)).toEqual(saved);
    const fromFloats = int8Only(dims, kernel, 1);
    fromFloats.importRows(arena.size, { floats: saved.floats, norms: new Uint8Array(saved.norms.length) });
    expect(sections(fromFloats)).toEqual(saved);
    // A float arena opens the dequantized values; an int8-only one opens a float arena's rows as writes would store them.
    const float = new VectorArena({ dimensions: dims, kernel: resolveKernel(kernel) });
    float.importRows(arena.size, saved);
    for (let row = 0; row < arena.size; row++) expect(float.read(row)).toEqual(arena.read(row));
    const written = int8Only(dims, kernel);
    const source = new VectorArena({ dimensions: dims, quantized: true, kernel: resolveKernel(kernel) });
    vectors(50, dims, 4).forEach((vector, row) => {
      written.write(row, vector);
      source.write(row, vector);
    });
    const fromSource = int8Only(dims, kernel);
    fromSource.importRows(50, sections(source));
    expect(sections(fromSource)).toEqual(sections(written));
  });

  for (const metric of ['cosine', 'dot', 'euclidean'] as const) {
    test(`${metric}: exact search scores every row with int8 codes, as the graph's scoring does`, () => {
      const dims = 24;
      const arena = int8Only(dims, kernel);
      for (const [row, vector] of vectors(500, dims, 9).entries()) arena.write(row, vector);
      const query = vectors(1, dims, 10)[0] as Float32Array;
      const top = arena.search(query, { metric, k: 20 });
      expect(top.rows.length).toBe(20);
      const scores = new Float32Array(20);
      arena.beginQuery(query, metric);
      arena.scoreRows(top.rows, 20, scores);
      expect(scores).toEqual(top.scores);
      // No float re-scoring: the `quantized` flag changes nothing, and candidates are scored alike.
      expect(arena.search(query, { metric, k: 20, quantized: true, rescore: 2 })).toEqual(top);
      const some = Uint32Array.from(top.rows.slice(0, 10)).reverse();
      const subset = arena.search(query, { metric, k: 5, rows: some });
      expect(Array.from(subset.rows)).toEqual(Array.from(top.rows.slice(0, 5)));
      expect(Array.from(subset.scores)).toEqual(Array.from(top.scores.slice(0, 5)));
    });
  }
});

describe('int8-only scores are the same in both kernels', () => {
  for (const metric of ['cosine', 'dot', 'euclidean'] as KernelMetric[]) {
    test(`${metric}: search and row-against-row scores agree bit for bit`, () => {
      const dims = 50;
      const [wasm, js] = (['wasm', 'js'] as const).map((kernel) => {
        const arena = int8Only(dims, kernel);
        for (const [row, vector] of vectors(400, dims, 21).entries()) arena.write(row, vector);
        return arena;
      }) as [VectorArena, VectorArena];
      for (const query of vectors(10, dims, 22)) {
        expect(wasm.search(query, { metric, k: 400 })).toEqual(js.search(query, { metric, k: 400 }));
      }
      const all = Uint32Array.from({ length: 400 }, (_, i) => i);
      const a = new Float32Array(400);
      const b = new Float32Array(400);
      for (const row of [0, 17, 399]) {
        wasm.beginRowQuery(row, metric);
        wasm.scoreRows(all, 400, a);
        js.beginRowQuery(row, metric);
        js.scoreRows(all, 400, b);
        expect(a).toEqual(b);
      }
    });
  }

  test('a memory of codes only: 100-d rows take about 0.3× their float32 size', () => {
    const arena = int8Only(100, 'wasm', 20_000);
    const floats = new VectorArena({ dimensions: 100, initialCapacity: 20_000, kernel: resolveKernel('wasm') });
    expect(arena.memoryBytes).toBeLessThan(0.4 * floats.memoryBytes);
    expect(() => new VectorArena({ dimensions: 4, floats: false })).toThrow('floats: false needs quantized: true');
  });
});
