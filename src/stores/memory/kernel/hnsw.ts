/**
 * An HNSW graph (Malkov & Yashunin) over the rows of a VectorArena, for approximate dense search.
 *
 * The graph is typed arrays indexed by row (kept by hnsw-graph.ts, layer 0 in the arena's memory).
 * With the WebAssembly kernel, layer 0 is walked and linked inside the kernel (`walk`, `connect` in
 * kernel.wat); upper layers and the JavaScript kernel run the same steps here,
 * scoring a neighbour list per kernel call. Both move ties the same way, so they build one graph.
 * Scores are "higher is closer", as everywhere in the store. Inserts and deletes are incremental: a
 * delete unlinks the row from its neighbours, and the swap-remove of the collection renames the moved
 * row in its neighbours' lists. Links that a delete cannot see (one-way edges into the removed row)
 * are dropped lazily, and the graph asks to be rebuilt once deletes reach a fifth of its size.
 */
import type { KernelMetric, VectorArena } from './arena.js';
import { Heap } from './heaps.js';
import { HnswGraph, type HnswState } from './hnsw-graph.js';

export type HnswOptions = {
  /** Links per node on the upper layers (layer 0 keeps up to 2 × m). Default 16. */
  m?: number;
  /** Candidates considered while inserting. Default 200. */
  efConstruction?: number;
};

const MAX_LEVEL = 15;

export class Hnsw extends HnswGraph {
  private readonly levelScale: number;
  private readonly arena: VectorArena;
  private readonly metric: KernelMetric;
  private seed = 0x9e3779b9;
  /** Room for a whole neighbour list (layer 0 is the longest). */
  private batch: Uint32Array;
  private batchScores: Float32Array;
  private readonly candidates = new Heap();
  private readonly results = new Heap();

  constructor(arena: VectorArena, metric: KernelMetric, options: HnswOptions = {}, capacity = 1024) {
    super(arena, options, capacity);
    this.arena = arena;
    this.metric = metric;
    this.levelScale = 1 / Math.log(this.m);
    this.batch = new Uint32Array(this.m0 + 1);
    this.batchScores = new Float32Array(this.m0 + 1);
  }

  private randomLevel(): number {
    // xorshift32: deterministic, so the same inserts build the same graph.
    let x = this.seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.seed = x >>> 0;
    const uniform = (this.seed + 1) / 4294967297;
    return Math.min(MAX_LEVEL, Math.floor(-Math.log(uniform) * this.levelScale));
  }

  /** Scores the loaded query against `count` rows of `this.batch` into `this.batchScores`. */
  private scoreBatch(count: number): void {
    this.arena.scoreRows(this.batch, count, this.batchScores);
  }

  /** Greedy walk towards the loaded query on one layer, from `start` (with score `score`). */
  private greedy(start: number, score: number, level: number): { row: number; score: number } {
    let best = start;
    let bestScore = score;
    for (let moved = true; moved; ) {
      moved = false;
      const degree = this.degree(best, level);
      let count = 0;
      for (let j = 0; j < degree; j++) {
        const next = this.neighbour(best, level, j);
        if (next < this.size) this.batch[count++] = next;
      }
      this.scoreBatch(count);
      for (let j = 0; j < count; j++) {
        const s = this.batchScores[j] as number;
        if (s > bestScore) {
          bestScore = s;
          best = this.batch[j] as number;
          moved = true;
        }
      }
    }
    return { row: best, score: bestScore };
  }

  /**
   * Beam search on one layer for the loaded query: the best `ef` rows (those `accept` keeps, when
   * given) found from the entry rows, left in `this.results` (a min-heap on score).
   */
  private searchLayer(
    entries: Uint32Array,
    entryScores: Float64Array,
    entryCount: number,
    ef: number,
    level: number,
    accept?: (row: number) => boolean,
  ): void {
    const mark = this.nextMark();
    const visited = this.visited;
    const candidates = this.candidates;
    const results = this.results;
    candidates.clear();
    results.clear();
    for (let i = 0; i < entryCount; i++) {
      const row = entries[i] as number;
      const score = entryScores[i] as number;
      visited[row] = mark;
      candidates.push(-score, row);
      if (!accept || accept(row)) results.push(score, row);
    }
    while (candidates.size > 0) {
      const score = -(candidates.keys[0] as number);
      const row = candidates.rows[0] as number;
      if (results.size >= ef && score < (results.keys[0] as number)) break;
      candidates.pop();
      const degree = this.degree(row, level);
      const batch = this.batch;
      const size = this.size;
      let count = 0;
      for (let j = 0; j < degree; j++) {
        const next = this.neighbour(row, level, j);
        if (next >= size || visited[next] === mark) continue;
        visited[next] = mark;
        batch[count++] = next;
      }
      if (count === 0) continue;
      this.scoreBatch(count);
      const batchScores = this.batchScores;
      for (let j = 0; j < count; j++) {
        const s = batchScores[j] as number;
        if (results.size < ef || s > (results.keys[0] as number)) {
          const next = batch[j] as number;
          candidates.push(-s, next);
          if (!accept || accept(next)) {
            results.push(s, next);
            if (results.size > ef) results.pop();
          }
        }
      }
    }
  }

  /** The results heap as arrays, best first. */
  private drainResults(): { rows: Uint32Array; scores: Float64Array } {
    const n = this.results.size;
    const rows = new Uint32Array(n);
    const scores = new Float64Array(n);
    for (let i = n - 1; i >= 0; i--) {
      rows[i] = this.results.rows[0] as number;
      scores[i] = this.results.keys[0] as number;
      this.results.pop();
    }
    return { rows, scores };
  }

  /**
   * Up to `m` of `candidates` (best first, scored against `base`) chosen by the HNSW heuristic: a
   * candidate is kept when it is closer to `base` than to every candidate kept before it.
   */
  private select(rows: Uint32Array, scores: Float64Array, m: number): Uint32Array {
    if (rows.length <= m) return rows;
    const kept: number[] = [];
    const keptRows = new Uint32Array(m);
    const pair = new Float32Array(m);
    for (let i = 0; i < rows.length && kept.length < m; i++) {
      const candidate = rows[i] as number;
      let good = true;
      if (kept.length > 0) {
        this.arena.beginRowQuery(candidate, this.metric);
        this.arena.scoreRows(keptRows, kept.length, pair);
        for (let j = 0; j < kept.length; j++) {
          if ((pair[j] as number) > (scores[i] as number)) {
            good = false;
            break;
          }
        }
      }
      if (good) {
        keptRows[kept.length] = candidate;
        kept.push(candidate);
      }
    }
    return keptRows.slice(0, kept.length);
  }

  /** Adds `row` to the links of `node` at `level`, pruning them with the heuristic when full. */
  private link(node: number, row: number, level: number): void {
    const degree = this.degree(node, level);
    const max = level === 0 ? this.m0 : this.m;
    for (let j = 0; j < degree; j++) if (this.neighbour(node, level, j) === row) return;
    if (degree < max) {
      this.setNeighbour(node, level, degree, row);
      this.setDegree(node, level, degree + 1);
      return;
    }
    // Links to rows past the end (left by deletes the graph could not see) are dropped here.
    const rows = new Uint32Array(degree + 1);
    let count = 0;
    for (let j = 0; j < degree; j++) {
      const linked = this.neighbour(node, level, j);
      if (linked < this.size && linked !== node) rows[count++] = linked;
    }
    rows[count++] = row;
    const scores = new Float32Array(count);
    this.arena.beginRowQuery(node, this.metric);
    this.arena.scoreRows(rows, count, scores);
    const order = Array.from({ length: count }, (_, i) => i).sort(
      (a, b) => (scores[b] as number) - (scores[a] as number),
    );
    const sortedRows = Uint32Array.from(order, (i) => rows[i] as number);
    const sortedScores = Float64Array.from(order, (i) => scores[i] as number);
    this.setLinks(node, level, this.select(sortedRows, sortedScores, max));
  }

  /** Adds `row` (already written to the arena) to the graph. */
  insert(row: number): void {
    const level = this.randomLevel();
    this.addNode(row, level);
    if (this.entry < 0) {
      this.entry = row;
      this.maxLevel = level;
      return;
    }
    this.arena.beginRowQuery(row, this.metric);
    const entryScore = new Float32Array(1);
    this.batch[0] = this.entry;
    this.arena.scoreRows(this.batch, 1, entryScore);
    let current = { row: this.entry, score: entryScore[0] as number };
    for (let l = this.maxLevel; l > level; l--) current = this.greedy(current.row, current.score, l);
    let entries: Uint32Array = Uint32Array.of(current.row);
    let entryScores: Float64Array = Float64Array.of(current.score);
    for (let l = Math.min(level, this.maxLevel); l >= 0; l--) {
      this.arena.beginRowQuery(row, this.metric);
      if (l === 0 && this.arena.walks) {
        const count = this.arena.walk(
          entries,
          entryScores,
          entries.length,
          this.efConstruction,
          row,
          this.nextMark(),
          this.size,
        );
        this.arena.connect(row, count, this.m, this.m0, this.size);
        break;
      }
      this.searchLayer(entries, entryScores, entries.length, this.efConstruction, l, (r) => r !== row);
      const found = this.drainResults();
      const chosen = this.select(found.rows, found.scores, this.m);
      this.setLinks(row, l, chosen);
      for (const node of chosen) this.link(node, row, l);
      entries = found.rows;
      entryScores = found.scores;
    }
    if (level > this.maxLevel) {
      this.entry = row;
      this.maxLevel = level;
    }
  }

  /**
   * The best `k` rows for `query` (exact scores, best first), searching with a beam of `ef`; with
   * `accept`, only rows whose byte there is 1 are returned (the walk still goes through the others).
   */
  search(
    query: ArrayLike<number>,
    k: number,
    ef: number,
    accept?: Uint8Array,
  ): { rows: Uint32Array; scores: Float64Array } {
    if (this.entry < 0 || this.size === 0) return { rows: new Uint32Array(0), scores: new Float64Array(0) };
    const top = (found: { rows: Uint32Array; scores: Float64Array }) =>
      found.rows.length > k ? { rows: found.rows.slice(0, k), scores: found.scores.slice(0, k) } : found;
    this.arena.beginQuery(query, this.metric);
    const entryScore = new Float32Array(1);
    this.batch[0] = this.entry;
    this.arena.scoreRows(this.batch, 1, entryScore);
    let current = { row: this.entry, score: entryScore[0] as number };
    for (let l = this.maxLevel; l > 0; l--) current = this.greedy(current.row, current.score, l);
    const entries = Uint32Array.of(current.row);
    const entryScores = Float64Array.of(current.score);
    const width = Math.max(ef, k);
    if (this.arena.walks) {
      const count = this.arena.walk(entries, entryScores, 1, width, -1, this.nextMark(), this.size, accept);
      return this.arena.found(Math.min(k, count));
    }
    this.searchLayer(entries, entryScores, 1, width, 0, accept && ((row) => accept[row] === 1));
    return top(this.drainResults());
  }

  /** `row` got a new vector: it is unlinked and inserted again. */
  reinsert(row: number): void {
    this.unlink(row);
    this.levels[row] = 0;
    this.upperAt[row] = -1;
    this.setDegree(row, 0, 0);
    if (this.entry === row) this.electEntry(row);
    this.insert(row);
  }

  /** A graph from `exportState` (its arrays are checked against each other first). */
  static fromState(arena: VectorArena, metric: KernelMetric, state: HnswState): Hnsw {
    const graph = new Hnsw(
      arena,
      metric,
      { m: state.m, efConstruction: state.efConstruction },
      Math.max(1, state.size),
    );
    graph.loadState(state);
    return graph;
  }
}
