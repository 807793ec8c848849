/**
 * The HNSW graph walked and linked inside the WebAssembly kernel (`walk`, `connect` in kernel.wat)
 * against the same steps in JavaScript (hnsw.ts): the JavaScript kernel, and filtered walks.
 */
import { describe, expect, test } from 'vitest';
import { type KernelMetric, VectorArena } from '../src/stores/memory/kernel/arena.js';
import { Hnsw } from '../src/stores/memory/kernel/hnsw.js';
import { MAX_GRAPH_ROWS } from '../src/stores/memory/kernel/hnsw-graph.js';
import { resolveKernel } from '../src/stores/memory/kernel/kernel.js';
import { seededRandom } from '../src/testing/random.js';

const DIMS = 20;

type Built = { arena: VectorArena; graph: Hnsw; queries: number[][] };

/**
 * A graph built row by row on a small arena (so that it grows under the graph), with deletes (swap
 * removes) and updates. `integers`: small whole values, whose scores both kernels compute exactly.
 * `int8Only`: an arena of int8 codes only, whose int8 scores both kernels compute alike for any values.
 */
function build(kernel: 'wasm' | 'js', metric: KernelMetric, integers: boolean, int8Only = false): Built {
  const rand = seededRandom(11);
  const value = () => (integers ? Math.round(rand() * 8 - 4) : rand() * 2 - 1);
  const vector = () => Array.from({ length: DIMS }, value);
  const arena = new VectorArena({
    dimensions: DIMS,
    initialCapacity: 8,
    kernel: resolveKernel(kernel),
    ...(int8Only ? { quantized: true, floats: false } : {}),
  });
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

/** Top 10 of every query, unfiltered and keeping only the rows `accept` marks with 1. */
const answers = (built: Built, accept?: Uint8Array) =>
  built.queries.map((query) => {
    const found = built.graph.search(query, 10, 30, accept);
    return { rows: Array.from(found.rows), scores: Array.from(found.scores) };
  });

/** A third of the rows, by a pattern unrelated to the graph. */
const thirds = (size: number) => Uint8Array.from({ length: size }, (_, row) => ((row * 7) % 3 === 0 ? 1 : 0));

describe('HNSW in the WebAssembly kernel', () => {
  for (const metric of ['dot', 'euclidean'] as const) {
    test(`${metric}: with equal scores, the kernel builds and walks the same graph as the JavaScript steps`, () => {
      const wasm = build('wasm', metric, true);
      const js = build('js', metric, true);
      expect(wasm.arena.walks).toBe(true);
      expect(js.arena.walks).toBe(false);
      expect(wasm.graph.exportState()).toEqual(js.graph.exportState());
      expect(answers(wasm)).toEqual(answers(js));
      // Filtered walks: the kernel's mask against the JavaScript steps, and only accepted rows.
      const accept = thirds(wasm.arena.size);
      const filtered = answers(wasm, accept);
      expect(filtered).toEqual(answers(js, accept));
      for (const found of filtered) {
        expect(found.rows.length).toBe(10);
        for (const row of found.rows) expect(accept[row]).toBe(1);
      }
    });
  }

  for (const metric of ['cosine', 'dot', 'euclidean'] as const) {
    test(`int8-only, ${metric}: the kernel builds and walks on int8 codes the graph the JavaScript steps build`, () => {
      const wasm = build('wasm', metric, false, true);
      const js = build('js', metric, false, true);
      expect(wasm.arena.walks).toBe(true);
      expect(wasm.graph.exportState()).toEqual(js.graph.exportState());
      const found = answers(wasm);
      expect(found).toEqual(answers(js));
      const accept = thirds(wasm.arena.size);
      const filtered = answers(wasm, accept);
      expect(filtered).toEqual(answers(js, accept));
      for (const one of filtered) for (const row of one.rows) expect(accept[row]).toBe(1);
      // The walk's scores are the int8 scores exact search gives, and it finds most of its top 10.
      let hits = 0;
      wasm.queries.forEach((query, i) => {
        const exact = wasm.arena.search(query, { metric, k: 10 });
        const walked = found[i] as { rows: number[]; scores: number[] };
        const scoreOf = new Map(Array.from(exact.rows, (row, j) => [row, exact.scores[j]]));
        walked.rows.forEach((row, j) => {
          if (scoreOf.has(row)) {
            hits++;
            expect(walked.scores[j]).toBe(scoreOf.get(row));
          }
        });
      });
      expect(hits / (10 * wasm.queries.length)).toBeGreaterThanOrEqual(0.8); // uniform random 20-d rows, ef 30
    });
  }

  test('a graph saved by the JavaScript kernel reopens on the WebAssembly one (same arrays)', () => {
    const js = build('js', 'euclidean', true);
    const arena = new VectorArena({ dimensions: DIMS, kernel: resolveKernel('wasm') });
    for (let row = 0; row < js.arena.size; row++) arena.write(row, js.arena.read(row));
    const reopened = Hnsw.fromState(arena, 'euclidean', js.graph.exportState());
    expect(answers({ ...js, arena, graph: reopened })).toEqual(answers(js));
  });

  test('layer-0 links are 24-bit row ids: a saved link no such id can name is dropped, a list longer than 2m refused', () => {
    const built = build('wasm', 'dot', true);
    const state = built.graph.exportState();
    const m0 = state.m * 2;
    // Row 5's first link points past any 24-bit row: it loads as a link to drop, as links past the end are.
    const links0 = state.links0.slice();
    const at = 5 * (m0 + 1);
    expect(links0[at]).toBeGreaterThan(0);
    const dropped = links0[at + 1] as number;
    links0[at + 1] = 0xfffffffe;
    const arena = new VectorArena({ dimensions: DIMS, kernel: resolveKernel('wasm') });
    for (let row = 0; row < built.arena.size; row++) arena.write(row, built.arena.read(row));
    const reopened = Hnsw.fromState(arena, 'dot', { ...state, links0 });
    expect(reopened.exportState().links0[at + 1]).toBe(MAX_GRAPH_ROWS);
    expect(dropped).toBeLessThan(MAX_GRAPH_ROWS);
    for (const query of built.queries) expect(reopened.search(query, 10, 30).rows.length).toBe(10);
    // A list claiming more than 2m links is not a graph this code wrote.
    const long = state.links0.slice();
    long[at] = m0 + 1;
    expect(() => Hnsw.fromState(arena, 'dot', { ...state, links0: long })).toThrow(
      `row 5 has ${m0 + 1} links, more than ${m0}`,
    );
    // Row ids from 0xffffff up cannot be linked.
    expect(() => built.graph.insert(MAX_GRAPH_ROWS)).toThrow(`an HNSW graph holds at most ${MAX_GRAPH_ROWS} rows`);
  });

  for (const kernel of ['wasm', 'js'] as const) {
    test(`${kernel}: a graph rebuilt on the same arena is the graph a fresh arena gets (visit marks start clean)`, () => {
      const rand = seededRandom(5);
      const rows = Array.from({ length: 1200 }, () => Array.from({ length: DIMS }, () => Math.round(rand() * 8 - 4)));
      const graphOn = (arena: VectorArena, count: number) => {
        const graph = new Hnsw(arena, 'euclidean', { m: 6, efConstruction: 40 });
        for (let row = 0; row < count; row++) graph.insert(row);
        return graph;
      };
      const arena = new VectorArena({ dimensions: DIMS, kernel: resolveKernel(kernel) });
      const fresh = new VectorArena({ dimensions: DIMS, kernel: resolveKernel(kernel) });
      rows.forEach((vector, row) => {
        arena.write(row, vector);
        fresh.write(row, vector);
      });
      // A first graph leaves rows marked by its walks; the rebuild numbers its walks from 1 again, so
      // none of those marks may remain (a row marked with a walk's number is skipped by that walk).
      graphOn(arena, 300);
      expect(arena.graphMemory().visited.some((mark) => mark > 0)).toBe(true);
      const rebuilt = new Hnsw(arena, 'euclidean', { m: 6, efConstruction: 40 });
      expect(arena.graphMemory().visited.every((mark) => mark === 0)).toBe(true);
      for (let row = 0; row < rows.length; row++) rebuilt.insert(row);
      const control = graphOn(fresh, rows.length);
      // The slots past a list's count keep whatever an earlier graph left there: compare the links in use.
      const inUse = (state: ReturnType<Hnsw['exportState']>) => {
        const width = 2 * state.m + 1;
        const lists = Array.from({ length: state.size }, (_, row) =>
          Array.from(state.links0.subarray(row * width + 1, row * width + 1 + (state.links0[row * width] as number))),
        );
        return { ...state, links0: lists };
      };
      expect(inUse(rebuilt.exportState())).toEqual(inUse(control.exportState()));
    });
  }
});
