/** Approximate dense search of one collection: when its HNSW graph applies, building it, saving it. */
import type { KernelMetric, VectorArena } from './kernel/arena.js';
import { Hnsw } from './kernel/hnsw.js';
import { type HnswState, MAX_GRAPH_ROWS } from './kernel/hnsw-graph.js';

/** Approximate dense search settings (`createMemoryStore({ ann })`). */
export type AnnSettings = {
  /** Graph links per node (layer 0 keeps twice as many). */
  m: number;
  /** Candidates weighed while inserting. */
  efConstruction: number;
  /** Beam width of a search: the recall/speed knob. */
  ef: number;
  /** Collections smaller than this are searched exactly. */
  minRecords: number;
  /** A filter selecting less than this share of the records is searched exactly over its matches. */
  exactBelow: number;
};

/** A collection's HNSW graph, built at the first dense search of a large enough collection. */
export class AnnIndex {
  private graph: Hnsw | undefined;

  constructor(
    readonly settings: AnnSettings,
    private readonly arena: VectorArena | undefined,
    private readonly metric: KernelMetric,
  ) {}

  /** Row `row` got a vector (`fresh`: a new row); a built graph follows. */
  written(row: number, fresh: boolean): void {
    if (!this.graph) return;
    if (row >= MAX_GRAPH_ROWS)
      this.graph = undefined; // past what a graph holds: searched exactly
    else if (fresh) this.graph.insert(row);
    else this.graph.reinsert(row);
  }

  /** The collection removed `row` and moved its last row into it (see `Hnsw.remove`). */
  removed(row: number, last: number): void {
    this.graph?.remove(row, last);
  }

  /**
   * The graph's best `limit` rows for `vector` among `size` rows, or `undefined` when the search
   * should be exact instead. Under a filter (`mask`, selecting `matches` rows) the walk goes through
   * every row but only matches are kept, with a wider beam the rarer they are.
   */
  search(
    vector: ArrayLike<number>,
    limit: number,
    size: number,
    mask: Uint8Array | undefined,
    matches: number,
  ): { rows: Uint32Array; scores: Float64Array } | undefined {
    const graph = this.graphFor(size);
    if (!graph || (mask && !this.pays(matches, size, limit))) return undefined;
    const ef = Math.ceil(Math.max(this.settings.ef, limit) / Math.sqrt(matches / size));
    return graph.search(vector, limit, ef, mask);
  }

  /**
   * Whether a filtered search should walk the graph rather than score the `matches` exactly: the
   * walk scores about ef × 2m rows per accepted hit density, so it pays only when the filter keeps
   * many records (and never below `exactBelow`).
   */
  private pays(matches: number, size: number, limit: number): boolean {
    const ann = this.settings;
    const selectivity = matches / size;
    if (selectivity < ann.exactBelow) return false;
    const ef = Math.max(ann.ef, limit) / Math.sqrt(selectivity);
    return matches > ef * 2 * ann.m * 2;
  }

  /**
   * The HNSW graph when approximate search applies (built now if needed, rebuilt when worn); a
   * collection of more rows than a graph holds (MAX_GRAPH_ROWS, 16.7M) is searched exactly.
   */
  private graphFor(size: number): Hnsw | undefined {
    const ann = this.settings;
    if (!this.arena || size < ann.minRecords || size > MAX_GRAPH_ROWS) return undefined;
    if (!this.graph || this.graph.worn || this.graph.size !== size) {
      const graph = new Hnsw(this.arena, this.metric, { m: ann.m, efConstruction: ann.efConstruction }, size);
      for (let row = 0; row < size; row++) graph.insert(row);
      this.graph = graph;
    }
    return this.graph;
  }

  /** The graph's arrays, when it is built, for snapshots. */
  state(): HnswState | undefined {
    return this.graph?.exportState();
  }

  /** Adopts a graph saved with the data (ignored when settings differ: it is rebuilt when needed). */
  importState(state: HnswState, size: number): void {
    const ann = this.settings;
    if (!this.arena || state.m !== ann.m || state.efConstruction !== ann.efConstruction) return;
    if (state.size !== size) throw new Error('the saved graph does not cover every record');
    this.graph = Hnsw.fromState(this.arena, this.metric, state);
  }

  /** What the index holds, for `describe()`. */
  info(): { built: boolean; bytes: number } {
    return { built: this.graph !== undefined, bytes: this.graph?.bytes ?? 0 };
  }
}
