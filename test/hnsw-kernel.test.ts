/**
 * The HNSW graph walked and linked inside the WebAssembly kernel (`walk`, `connect` in kernel.wat)
 * against the same steps in JavaScript (hnsw.ts): the JavaScript kernel, and filtered walks.
 */
import { describe, expect, test } from 'vitest';
import { type KernelMetric, VectorArena } from '../src/stores/memory/kernel/arena.js';
import { Hnsw } from '../src/stores/memory/kernel/hnsw.js';
import { resolveKernel } from '../src/stores/memory/kernel/kernel.js';
import { seededRandom } from '../src/testing/random.js';

const DIMS = 20;

type Built = { arena: VectorArena; graph: Hnsw; queries: number[][] };

/**
 * A graph built row by row on a small arena (so that it grows under the graph), with deletes (swap
 * removes) and updates. `integers`: small whole values, whose scores both kernels compute exactly.
 */
function build(kernel: 'wasm' | 'js', metric: KernelMetric, integers: boolean): Built {
  const rand = seededRandom(11);
  const value = () => (integers ? Math.round(rand() * 8 - 4) : rand() * 2 - 1);
  const vector = () => Array.from({ length: DIMS }, value);
  const arena = new VectorArena({ dimensions: DIMS, initialCapacity: 8, kernel: resolveKernel(kernel) });
  const graph = new Hnsw(arena, metric, { m: 6, efConstruction: 40 });
  for (let row = 0; row < 1500; row++) {
    arena.write(row, vector());
    graph.insert(row);
  }
  for (let i = 0; i < 120; i++) {
    const row = (i * 37) % (arena.size - 1);
    const last = arena.size - 1;
    graph.remove(row, last);
    arena.move(last, row);
    arena.truncate(last);
  }
  for (let i = 0; i < 60; i++) {
    const row = (i * 53) % arena.size;
    arena.write(row, vector());
    graph.reinsert(row);
  }
  return { arena, graph, queries: Array.from({ length: 40 }, vector) };
}

const answers = (built: Built, accept?: (row: number) => boolean) =>
  built.queries.map((query) => {
    const found = built.graph.search(query, 10, 30, accept);
    return { rows: Array.from(found.rows), scores: Array.from(found.scores) };
  });

describe('HNSW in the WebAssembly kernel', () => {
  for (const metric of ['dot', 'euclidean'] as const) {
    test(`${metric}: with equal scores, the kernel builds and walks the same graph as the JavaScript steps`, () => {
      const wasm = build('wasm', metric, true);
      const js = build('js', metric, true);
      expect(wasm.arena.walks).toBe(true);
      expect(js.arena.walks).toBe(false);
      expect(wasm.graph.exportState()).toEqual(js.graph.exportState());
      expect(answers(wasm)).toEqual(answers(js));
    });
  }

  test('on one graph, the kernel walk returns what the JavaScript walk returns', () => {
    const built = build('wasm', 'cosine', false);
    const everyRow = () => true; // a filter keeping every row walks in JavaScript
    const kernel = answers(built);
    expect(kernel).toEqual(answers(built, everyRow));
    expect(kernel.every((found) => found.rows.length === 10)).toBe(true);
  });

  test('a graph saved by the JavaScript kernel reopens on the WebAssembly one (same arrays)', () => {
    const js = build('js', 'euclidean', true);
    const arena = new VectorArena({ dimensions: DIMS, kernel: resolveKernel('wasm') });
    for (let row = 0; row < js.arena.size; row++) arena.write(row, js.arena.read(row));
    const reopened = Hnsw.fromState(arena, 'euclidean', js.graph.exportState());
    expect(answers({ ...js, arena, graph: reopened })).toEqual(answers(js));
  });
});
